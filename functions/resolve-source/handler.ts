// The resolve-source Lambda: a thin middy wrapper over resolveSource(). The routes are read once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { SourceRoutesSchema, resolveSource, type ResolvedSource } from './resolve.ts';

const env = requireEnv(['LIFEBOAT_ROUTES']);
const routes = parseJsonEnv('LIFEBOAT_ROUTES', env.LIFEBOAT_ROUTES, SourceRoutesSchema);
const logger = new Logger();

async function resolve(event: unknown): Promise<ResolvedSource> {
  const source = resolveSource(event, routes);
  logger.info('source resolved', { ...source });
  return source;
}

export const handler = middy(resolve).use(injectLambdaContext(logger)).use(conciseErrors(logger));
