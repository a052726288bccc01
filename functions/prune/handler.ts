// The retention Lambda: a thin middy wrapper over pruneSource(). Clients and configuration are built once per container.
import { KMSClient } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { kmsClientFor } from '../lib/runtimeEnv.ts';
import { requireEnv } from '../lib/env.ts';
import { ConfigError, PruneIncompleteError } from '../lib/errors.ts';
import { s3ObjectLockReader } from '../lib/retention/index.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { PruneSourceSchema, pruneSource, type PruneSummary } from './prune.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';

const env = requireEnv(['VAULT_BUCKET', 'DR_VAULT_BUCKET', 'DR_REGION', 'LIFEBOAT_RETENTION', 'VERIFICATION_KEY_ARN', 'AWS_REGION']);
const sources = z.array(PruneSourceSchema).min(1).safeParse(JSON.parse(env.LIFEBOAT_RETENTION));
if (!sources.success) throw new ConfigError(`LIFEBOAT_RETENTION: ${sources.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);

const logger = new Logger();
const metrics = new Metrics();
// File sets: each vault's indexes are read with that region's key (decrypt only, for those sources' objects).
const fileSetKeys = sources.data.some((s) => s.kind === 'fileset') ? requireEnv(['VAULT_KEY_ARN', 'DR_VAULT_KEY_ARN']) : undefined;
const vault = (bucket: string, region: string, keyArn: string | undefined) => {
  const client = createS3Client({ region });
  // On a versioned, Object-Locked bucket a delete only adds a marker, so locks are read before deleting.
  return {
    store: new S3Store({ client, bucket }),
    readProtection: s3ObjectLockReader({ client, bucket }),
    ...(keyArn ? { keyring: kmsKeyring({ keyIds: [keyArn], clientProvider: kmsClientFor }) } : {}),
  };
};
const primary = vault(env.VAULT_BUCKET, env.AWS_REGION, fileSetKeys?.VAULT_KEY_ARN);
const deps = {
  sources: sources.data,
  vaults: [primary, vault(env.DR_VAULT_BUCKET, env.DR_REGION, fileSetKeys?.DR_VAULT_KEY_ARN)],
  // Events go to the primary vault, whichever vault the deletion was in (the event names it).
  audit: lambdaAuditTrail({ store: primary.store, step: 'retention', log: (message, fields) => logger.warn(message, fields) }),
  // Only results the verifier signed count; one that fails to authenticate stops deletions for its source.
  authenticator: kmsHmacSigner(new KMSClient({}), env.VERIFICATION_KEY_ARN),
  rds: { [env.AWS_REGION]: new RDSClient({ region: env.AWS_REGION }), [env.DR_REGION]: new RDSClient({ region: env.DR_REGION }) },
};

async function prune(event: unknown): Promise<Omit<PruneSummary, 'reports'>> {
  const { reports, ...summary } = await pruneSource(event, deps);
  metrics.addDimension('sourceId', summary.sourceId);
  metrics.addMetric('RetentionDeleted', MetricUnit.Count, summary.deleted);
  metrics.addMetric('RetentionProtected', MetricUnit.Count, summary.protected);
  logger.info('retention applied', { ...summary, subjects: reports.map((r) => r.subject) });
  if (summary.errors.length > 0) {
    throw new PruneIncompleteError(`${summary.errors.length} retention step(s) failed for ${summary.sourceId}: ${summary.errors[0]}`);
  }
  return summary;
}

export const handler = middy(prune).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics));
