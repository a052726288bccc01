// The snapshot Lambda: a thin middy wrapper over handleSnapshotEvent(). Clients and configuration are built once per container.
import { RDSClient } from '@aws-sdk/client-rds';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { requireEnv } from '../lib/env.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { SnapshotSourceSchema, handleSnapshotEvent, type SnapshotResult } from './snapshot.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';

const env = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'AWS_REGION']);
// Empty when no source is snapshotted: the function is deployed with the state machine all the same, and
// refuses any call as an unknown source.
const sources = parseJsonEnv('LIFEBOAT_SOURCES', env.LIFEBOAT_SOURCES, z.array(SnapshotSourceSchema));

const logger = new Logger();
const metrics = new Metrics();
const store = new S3Store({ client: createS3Client(), bucket: env.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: env.VAULT_KEY_ARN } });
const deps = {
  sources,
  rds: new RDSClient({}),
  store,
  audit: lambdaAuditTrail({ store, step: 'snapshot', log: (message, fields) => logger.warn(message, fields) }),
  region: env.AWS_REGION,
};

async function snapshot(event: unknown): Promise<SnapshotResult> {
  const result = await handleSnapshotEvent(event, deps);
  const action = (event as { action?: unknown }).action;
  metrics.addDimension('sourceId', result.sourceId);
  if (action === 'create') metrics.addMetric('SnapshotStarted', MetricUnit.Count, 1);
  if ('kind' in result && !result.alreadyRecorded) {
    metrics.addMetric('SnapshotRecorded', MetricUnit.Count, 1);
    // From the backup's start to its manifest: how long the snapshot took to become a restorable backup.
    metrics.addMetric('SnapshotDurationSeconds', MetricUnit.Seconds, (Date.parse(result.completedAt) - Date.parse(result.startedAt)) / 1000);
  }
  logger.info(`snapshot ${String(action)}`, {
    sourceId: result.sourceId,
    backupId: result.backupId,
    snapshotIdentifier: result.snapshotIdentifier,
    ...('status' in result ? { status: result.status, percentProgress: result.percentProgress } : { alreadyRecorded: result.alreadyRecorded }),
  });
  return result;
}

export const handler = middy(snapshot).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
