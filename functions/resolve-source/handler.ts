// The resolve-source Lambda: a thin middy wrapper over resolveSource() and dumpResult(). The routes are read once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { SourceRoutesSchema, dumpResult, resolveSource } from './resolve.ts';

const env = requireEnv(['LIFEBOAT_ROUTES', 'VAULT_BUCKET']);
const routes = parseJsonEnv('LIFEBOAT_ROUTES', env.LIFEBOAT_ROUTES, SourceRoutesSchema);
const logger = new Logger();
// Reads only: the listing of a source's backups and manifests (for runner auto and a Fargate dump's or file set's result).
const store = new S3Store({ client: createS3Client(), bucket: env.VAULT_BUCKET });

async function resolve(event: unknown) {
  if ((event as { action?: unknown } | null)?.action === 'dump-result') {
    const result = await dumpResult(event, store, routes);
    logger.info('Fargate dump read back', { ...result });
    return result;
  }
  const source = await resolveSource(event, routes, { store });
  logger.info('source resolved', { sourceId: source.sourceId, method: source.method, runner: source.runner, runnerReason: source.runnerReason });
  return source;
}

export const handler = middy(resolve).use(injectLambdaContext(logger)).use(conciseErrors(logger));
