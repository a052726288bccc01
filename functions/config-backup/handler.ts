// The config backup Lambda: a thin middy wrapper over backUpConfig(). Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { recordBackupMetrics } from '../lib/middleware/backupMetrics.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { backUpConfig, type ConfigBackupResult } from './backup.ts';
import { configBackupDepsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const fromEnv = configBackupDepsFromEnv();
const deps = { ...fromEnv, audit: lambdaAuditTrail({ store: fromEnv.store, step: 'config-backup', log: (message, fields) => logger.warn(message, fields) }) };

async function backup(event: unknown): Promise<ConfigBackupResult> {
  const started = Date.now();
  const result = await backUpConfig(event, deps);
  recordBackupMetrics(metrics, result, started);
  // Names and counts only: the result carries no value.
  logger.info('configuration stored', { ...result });
  return result;
}

export const handler = middy(backup).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
