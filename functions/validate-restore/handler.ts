// The restore-test validation Lambda: a thin middy wrapper over validateRestore(). Runs in the VPC, next to the
// temporary instance's isolated security group. Clients and configuration are built once per container.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { RestoreTestSourceSchema, validateRestore, type RestoreValidation } from './validate.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';

const env = requireEnv(['LIFEBOAT_SOURCES']);
const sources = z.array(RestoreTestSourceSchema).min(1).safeParse(JSON.parse(env.LIFEBOAT_SOURCES));
if (!sources.success) throw new ConfigError(`LIFEBOAT_SOURCES: ${sources.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);

const logger = new Logger();
const metrics = new Metrics();
const deps = { sources: sources.data, secrets: new SecretsManagerClient({}) };

async function validate(event: unknown): Promise<RestoreValidation> {
  const started = Date.now();
  const result = await validateRestore(event, deps);
  metrics.addDimension('sourceId', result.sourceId);
  metrics.addMetric(result.passed ? 'RestoreValidationPassed' : 'RestoreValidationFailed', MetricUnit.Count, 1);
  metrics.addMetric('RestoreValidationDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
  // Reasons are scrubbed of the password by the core; no SQL results are logged.
  logger.info('restore validated', {
    sourceId: result.sourceId,
    passed: result.passed,
    tables: result.tables.length,
    checks: result.checks.length,
    ...(result.reason === undefined ? {} : { reason: result.reason }),
  });
  return result;
}

export const handler = middy(validate).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
