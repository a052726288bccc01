// The cross-region copy Lambda: a thin middy wrapper over handleCopyEvent(). Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { handleCopyEvent, type CopyResult } from './copy.ts';
import { reportCopy } from './observed.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { copyDepsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const fromEnv = copyDepsFromEnv();
const deps = {
  ...fromEnv,
  // The trail lives in the primary vault, beside what was copied.
  audit: lambdaAuditTrail({ store: new S3Store({ client: createS3Client(), bucket: fromEnv.primary.bucket }), step: 'copy', log: (message, fields) => logger.warn(message, fields) }),
};

async function copy(event: unknown, context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>): Promise<CopyResult> {
  // Lambda's clock is the only Lambda-specific input: the core stops in time and a rerun (or Fargate) resumes.
  const remaining = context?.getRemainingTimeInMillis?.bind(context);
  const result = await handleCopyEvent(event, remaining ? { ...deps, remainingTimeMs: remaining } : deps);
  reportCopy(result, { logger, metrics });
  return result;
}

export const handler = middy(copy).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
