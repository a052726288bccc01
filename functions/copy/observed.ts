/** The copy core's metrics and log lines for one result: the same for the Lambda (handler.ts) and the Fargate task (functions/runner). */
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { CopyResult } from './copy.ts';

export function reportCopy(result: CopyResult, { logger, metrics }: { readonly logger: Logger; readonly metrics: Metrics }): void {
  metrics.addDimension('sourceId', result.sourceId);
  if ('replicationLagSeconds' in result) {
    if (!result.alreadyCopied) {
      metrics.addMetric('ReplicationLagSeconds', MetricUnit.Seconds, result.replicationLagSeconds);
      if (result.payloadBytes !== undefined) metrics.addMetric('ReplicatedBytes', MetricUnit.Bytes, result.payloadBytes);
      if ('packBytesCopied' in result) metrics.addMetric('ReplicatedBytes', MetricUnit.Bytes, result.packBytesCopied as number);
    }
    logger.info('backup copied to the DR vault', {
      sourceId: result.sourceId,
      backupId: result.backupId,
      kind: result.kind,
      alreadyCopied: result.alreadyCopied,
      replicationLagSeconds: result.replicationLagSeconds,
      verificationsCopied: result.verificationsCopied,
      ...(result.kind === 'dump'
        ? { partsCopied: result.partsCopied, partsResumed: result.partsResumed, payloadObjectsReused: result.payloadObjectsReused }
        : {}),
      ...('packsCopied' in result ? { packsCopied: result.packsCopied } : {}),
      ...(result.warnings === undefined ? {} : { warnings: result.warnings }),
    });
  } else {
    if (result.copiesInFlight !== undefined) metrics.addMetric('SnapshotCopiesInFlight', MetricUnit.Count, result.copiesInFlight);
    logger.info('snapshot copy', {
      sourceId: result.sourceId,
      backupId: result.backupId,
      snapshotIdentifier: result.snapshotIdentifier,
      status: result.status,
      percentProgress: result.percentProgress,
      ...(result.alreadyStarted === undefined ? {} : { alreadyStarted: result.alreadyStarted }),
    });
  }
}
