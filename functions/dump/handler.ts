// The dump Lambda: a thin middy wrapper over dumpSource(). Clients and configuration are built once per container.
import { KMS } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { rdsCaBundleFrom } from '../lib/engine/tls.ts';
import { requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { DumpSourceSchema, dumpSource, type DumpResult } from './dump.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';

const env = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'AWS_REGION']);
const sources = z.array(DumpSourceSchema).min(1).safeParse(JSON.parse(env.LIFEBOAT_SOURCES));
if (!sources.success) throw new ConfigError(`LIFEBOAT_SOURCES: ${sources.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);

const logger = new Logger();
const metrics = new Metrics();
const deps = {
  sources: sources.data,
  secrets: new SecretsManagerClient({}),
  rds: new RDSClient({}),
  // TLS verify-full (the default) against the RDS CA bundle the tools image ships.
  ...rdsCaBundleFrom(process.env),
  store: new S3Store({
    client: createS3Client(),
    bucket: env.VAULT_BUCKET,
    serverSideEncryption: { kmsKeyId: env.VAULT_KEY_ARN },
  }),
  // The aggregated KMS client: the Encryption SDK's keyring calls its methods directly.
  keyring: kmsKeyring({ keyIds: [env.VAULT_KEY_ARN], clientProvider: (region) => new KMS({ region }) }),
};

async function dump(event: unknown): Promise<DumpResult> {
  const started = Date.now();
  const result = await dumpSource(event, deps);
  metrics.addDimension('sourceId', result.sourceId);
  metrics.addMetric('BackupRawBytes', MetricUnit.Bytes, result.rawBytes);
  metrics.addMetric('BackupStoredBytes', MetricUnit.Bytes, result.storedBytes);
  metrics.addMetric('BackupDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
  logger.info('backup stored', { sourceId: result.sourceId, backupId: result.backupId, rawBytes: result.rawBytes, storedBytes: result.storedBytes });
  return result;
}

export const handler = middy(dump).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
