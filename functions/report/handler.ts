// The compliance report Lambda: a thin middy wrapper over runDailyReport(). Clients and configuration are built once per container.
import { KMSClient } from '@aws-sdk/client-kms';
import { SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { s3ObjectLockState } from '../lib/report/objectLock.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { ReportSourceSchema, runDailyReport, type DailyReportResult } from './report.ts';

const env = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'EVIDENCE_KEY_ARN', 'VERIFICATION_KEY_ARN', 'ALERT_TOPIC_ARN', 'LIFEBOAT_REPORT_SOURCES', 'AWS_REGION']);
const sources = z.array(ReportSourceSchema).min(1).safeParse(JSON.parse(env.LIFEBOAT_REPORT_SOURCES));
if (!sources.success) throw new ConfigError(`LIFEBOAT_REPORT_SOURCES: ${sources.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);

const logger = new Logger();
const metrics = new Metrics();
const s3 = createS3Client();
const deps = {
  store: new S3Store({ client: s3, bucket: env.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: env.VAULT_KEY_ARN } }),
  signer: kmsHmacSigner(new KMSClient({}), env.EVIDENCE_KEY_ARN),
  verificationKey: kmsHmacSigner(new KMSClient({}), env.VERIFICATION_KEY_ARN),
  // Given when the deployment has plans: only runs whose evidence the DR step function signed are reported.
  ...(process.env['DR_EVIDENCE_KEY_ARN'] ? { drEvidenceKey: kmsHmacSigner(new KMSClient({}), process.env['DR_EVIDENCE_KEY_ARN']) } : {}),
  sources: sources.data,
  objectLock: () => s3ObjectLockState(s3, env.VAULT_BUCKET),
  sns: new SNSClient({}),
  alertTopicArn: env.ALERT_TOPIC_ARN,
};

async function report(event: unknown): Promise<DailyReportResult> {
  const result = await runDailyReport(event, deps);
  metrics.addMetric('ComplianceLapses', MetricUnit.Count, result.lapses);
  logger.info('compliance report written', { ...result });
  return result;
}

export const handler = middy(report).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics));
