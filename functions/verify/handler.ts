// The verify Lambda: a thin middy wrapper over verifySourceBackup(). Clients and configuration are built once per container.
import { KMS } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
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
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { VerifyServersSchema, VerifySourceSchema, type VerifyOutput, verifySourceBackup } from './verify.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';

const env = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'ALERT_TOPIC_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS', 'AWS_REGION']);
// Empty when every source is snapshot-only: deployed with the state machine all the same.
const sources = parseJsonEnv('LIFEBOAT_SOURCES', env.LIFEBOAT_SOURCES, z.array(VerifySourceSchema));
const servers = parseJsonEnv('VERIFY_SERVERS', env.VERIFY_SERVERS, VerifyServersSchema);

const logger = new Logger();
const metrics = new Metrics();
const deps = {
  sources,
  servers,
  secrets: new SecretsManagerClient({}),
  sns: new SNSClient({}),
  alertTopicArn: env.ALERT_TOPIC_ARN,
  ...rdsCaBundleFrom(process.env),
  // Verification only reads payloads and writes small result objects (SSE-KMS with the vault key).
  store: new S3Store({ client: createS3Client(), bucket: env.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: env.VAULT_KEY_ARN } }),
  keyring: kmsKeyring({ keyIds: [env.VAULT_KEY_ARN], clientProvider: (region) => new KMS({ region }) }),
};
for (const source of sources) {
  if (!servers[source.engine]) logger.warn('no verification server for this engine: backups are checked without a restore test', { sourceId: source.id, engine: source.engine });
}

async function verify(event: unknown): Promise<VerifyOutput> {
  const started = Date.now();
  const sourceId = (event as { sourceId?: unknown } | null)?.sourceId;
  if (typeof sourceId === 'string') metrics.addDimension('sourceId', sourceId);
  try {
    const result = await verifySourceBackup(event, deps);
    metrics.addMetric('VerificationPassed', MetricUnit.Count, 1);
    if (result.alerted) metrics.addMetric('BackupSizeAnomaly', MetricUnit.Count, 1);
    logger.info('backup verified', { sourceId: result.sourceId, backupId: result.backupId, checks: result.checks, warnings: result.warnings });
    return result;
  } catch (error) {
    // Reasons are scrubbed of passwords by the core; the error's message is the one-line reason.
    if (error instanceof Error && error.name === 'VerificationFailedError') {
      metrics.addMetric('VerificationFailed', MetricUnit.Count, 1);
      logger.error('backup failed verification (alert published)', { reason: error.message });
    }
    throw error;
  } finally {
    metrics.addMetric('VerificationDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
  }
}

export const handler = middy(verify).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
