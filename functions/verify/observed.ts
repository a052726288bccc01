/** The verify core with its metrics and log lines: the same for the Lambda (handler.ts) and the Fargate task (functions/runner). */
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { type VerifyDeps, type VerifyOutput, verifySourceBackup } from './verify.ts';

export async function observedVerify(event: unknown, deps: VerifyDeps, { logger, metrics }: { readonly logger: Logger; readonly metrics: Metrics }): Promise<VerifyOutput> {
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
