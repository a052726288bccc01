// The dump Lambda: a thin middy wrapper over dumpSource(). Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { recordBackupMetrics } from '../lib/middleware/backupMetrics.ts';
import type { Context } from 'aws-lambda';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { dumpSource, type DumpResult } from './dump.ts';
import { dumpDepsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const fromEnv = dumpDepsFromEnv();
const deps = { ...fromEnv, audit: lambdaAuditTrail({ store: fromEnv.store, step: 'dump', log: (message, fields) => logger.warn(message, fields) }) };

async function dump(event: unknown, context: Context): Promise<DumpResult> {
  const started = Date.now();
  // A cache's export gives up (cleaning up) before Lambda stops it, so Fargate can take it over.
  const result = await dumpSource(event, { ...deps, remainingMs: () => context.getRemainingTimeInMillis() });
  recordBackupMetrics(metrics, result, started);
  logger.info('backup stored', { sourceId: result.sourceId, backupId: result.backupId, rawBytes: result.rawBytes, storedBytes: result.storedBytes });
  return result;
}

export const handler = middy(dump).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
