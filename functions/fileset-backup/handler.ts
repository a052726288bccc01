// The file-set backup Lambda: a thin middy wrapper over backUpFileSet(). Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { recordBackupMetrics } from '../lib/middleware/backupMetrics.ts';
import type { Context } from 'aws-lambda';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { backUpFileSet, type FileSetBackupResult } from './backup.ts';
import { fileSetBackupDepsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const fromEnv = fileSetBackupDepsFromEnv();
const deps = { ...fromEnv, audit: lambdaAuditTrail({ store: fromEnv.store, step: 'fileset-backup', log: (message, fields) => logger.warn(message, fields) }) };

async function backup(event: unknown, context: Context): Promise<FileSetBackupResult> {
  const started = Date.now();
  // The run stops before Lambda does, so its failure is named (OutOfTimeError), not a timeout.
  const result = await backUpFileSet(event, { ...deps, remainingMs: () => context.getRemainingTimeInMillis() });
  recordBackupMetrics(metrics, result, started);
  logger.info('file set stored', { ...result });
  return result;
}

export const handler = middy(backup).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
