// The verify Lambda: a thin middy wrapper over verifySourceBackup(). Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { verifyDepsFromEnv } from './env.ts';
import { observedVerify } from './observed.ts';
import { isConfigSource, isFileSetSource, type VerifyOutput } from './verify.ts';

const logger = new Logger();
const metrics = new Metrics();
const fromEnv = verifyDepsFromEnv();
const deps = { ...fromEnv, audit: lambdaAuditTrail({ store: fromEnv.store, sns: fromEnv.sns, step: 'verify', log: (message, fields) => logger.warn(message, fields) }) };
const { sources, servers } = deps;
for (const source of sources) {
  if (!isFileSetSource(source) && !isConfigSource(source) && source.engine !== 'redis' && !servers[source.engine]) logger.warn('no verification server for this engine: backups are checked without a restore test', { sourceId: source.id, engine: source.engine });
}

async function verify(event: unknown): Promise<VerifyOutput> {
  return observedVerify(event, deps, { logger, metrics });
}

export const handler = middy(verify).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
