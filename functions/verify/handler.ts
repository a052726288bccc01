// The verify Lambda: a thin middy wrapper over verifySourceBackup(). Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { verifyDepsFromEnv } from './env.ts';
import { type VerifyOutput, verifySourceBackup } from './verify.ts';

const logger = new Logger();
const metrics = new Metrics();
const fromEnv = verifyDepsFromEnv();
const deps = { ...fromEnv, audit: lambdaAuditTrail({ store: fromEnv.store, sns: fromEnv.sns, step: 'verify', log: (message, fields) => logger.warn(message, fields) }) };
const { sources, servers } = deps;
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
