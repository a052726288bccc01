/** What every backup writer reports once a backup is stored, as a Lambda or a Fargate task: the same three metrics per source. */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';

export function recordBackupMetrics(metrics: Metrics, result: { readonly sourceId: string; readonly rawBytes: number; readonly storedBytes: number }, startedAtMs: number): void {
  metrics.addDimension('sourceId', result.sourceId);
  metrics.addMetric('BackupRawBytes', MetricUnit.Bytes, result.rawBytes);
  metrics.addMetric('BackupStoredBytes', MetricUnit.Bytes, result.storedBytes);
  metrics.addMetric('BackupDurationSeconds', MetricUnit.Seconds, (Date.now() - startedAtMs) / 1000);
}
