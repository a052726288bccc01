// The DR step executor Lambda: a thin middy wrapper over handleDrStepEvent(). Runs in the tools image
// (pg_restore / mysql) in the verification servers' VPC. Clients and configuration are built once per container.
import { KMS } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { rdsCaBundleFrom } from '../lib/engine/tls.ts';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { VerifyServersSchema } from '../verify/verify.ts';
import { DrSourceSchema } from './deps.ts';
import { type DrStepResult, handleDrStepEvent } from './drStep.ts';
import { PlanTopicsSchema } from './planTopic.ts';

const env = requireEnv([
  'AWS_REGION',
  'PRIMARY_VAULT_BUCKET',
  'PRIMARY_VAULT_KEY_ARN',
  'DR_REGION',
  'DR_VAULT_BUCKET',
  'DR_VAULT_KEY_ARN',
  'LIFEBOAT_SOURCES',
  'VERIFY_SERVERS',
  'PLAN_TOPICS',
]);
const sources = parseJsonEnv('LIFEBOAT_SOURCES', env.LIFEBOAT_SOURCES, z.array(DrSourceSchema));
const servers = parseJsonEnv('VERIFY_SERVERS', env.VERIFY_SERVERS, VerifyServersSchema);
const planTopics = parseJsonEnv('PLAN_TOPICS', env.PLAN_TOPICS, PlanTopicsSchema);

const logger = new Logger();
const metrics = new Metrics();
const kmsClients = (region: string) => new KMS({ region });
const deps = {
  sources,
  servers,
  planTopics,
  secrets: new SecretsManagerClient({}),
  sns: new SNSClient({}),
  ...rdsCaBundleFrom(process.env),
  regions: {
    // Evidence is the only write: SSE-KMS under the primary vault key.
    primary: {
      name: env.AWS_REGION,
      rds: new RDSClient({}),
      store: new S3Store({ client: createS3Client(), bucket: env.PRIMARY_VAULT_BUCKET, serverSideEncryption: { kmsKeyId: env.PRIMARY_VAULT_KEY_ARN } }),
      keyring: kmsKeyring({ keyIds: [env.PRIMARY_VAULT_KEY_ARN], clientProvider: kmsClients }),
    },
    // Read only: the DR vault's copies decrypt under the replica of the multi-Region key, in its own region.
    dr: {
      name: env.DR_REGION,
      rds: new RDSClient({ region: env.DR_REGION }),
      store: new S3Store({ client: createS3Client({ region: env.DR_REGION }), bucket: env.DR_VAULT_BUCKET }),
      keyring: kmsKeyring({ keyIds: [env.DR_VAULT_KEY_ARN], clientProvider: kmsClients }),
    },
  },
};

async function runDrStep(event: unknown): Promise<DrStepResult> {
  const { action, plan, stepId, kind } = (event ?? {}) as Record<string, unknown>;
  if (typeof plan === 'string') metrics.addDimension('plan', plan);
  const started = Date.now();
  const result = await handleDrStepEvent(event, deps);
  metrics.addMetric('DrStepDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
  if ('format' in result) {
    metrics.addMetric(result.outcome === 'passed' ? 'DrPlanPassed' : 'DrPlanFailed', MetricUnit.Count, 1);
    if (result.measured.rtoMinutes !== null) metrics.addMetric('DrPlanRtoSeconds', MetricUnit.Seconds, result.measured.rtoMinutes * 60);
    if (result.measured.rpoMinutes !== null) metrics.addMetric('DrPlanRpoSeconds', MetricUnit.Seconds, result.measured.rpoMinutes * 60);
    logger.info('evidence recorded', { plan: result.plan, mode: result.mode, outcome: result.outcome, measured: result.measured, met: result.met });
  } else if ('databases' in result) {
    logger.info('drill cleaned up', { plan: result.plan, suffix: result.suffix, databases: result.databases, instances: result.instances, clusters: result.clusters });
  } else {
    // Records carry hosts and identifiers, never credentials (secrets are named by ARN only).
    logger.info(`${String(action)} ${result.status}`, { stepId: stepId ?? result.stepId, kind: kind ?? result.kind, status: result.status, ...('step' in result ? { progress: result.step.status } : {}) });
  }
  return result;
}

export const handler = middy(runDrStep).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
