// The air-gapped account's snapshot copier Lambda (run hourly by its schedule): a thin middy wrapper over copySharedSnapshots(). Clients and configuration are built once per container.
import { RDSClient } from '@aws-sdk/client-rds';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { copySharedSnapshots, type AirGapSnapshotRun } from './copyShared.ts';
import { airGapSnapshotDepsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const deps = airGapSnapshotDepsFromEnv(process.env, new RDSClient({}));

async function copyShared(): Promise<AirGapSnapshotRun> {
  const run = await copySharedSnapshots(deps);
  metrics.addMetric('AirGapSnapshotCopiesStarted', MetricUnit.Count, run.copied.length);
  metrics.addMetric('AirGapSnapshotCopiesDeferred', MetricUnit.Count, run.deferred.length);
  metrics.addMetric('AirGapSnapshotCopiesDeleted', MetricUnit.Count, run.deleted.length);
  logger.info('shared snapshots copied', { ...run });
  return run;
}

export const handler = middy(copyShared).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics));
