/**
 * The tools image's cores as the Fargate runner runs them: one role per task definition (dump, verify, copy,
 * dr-step), each built from the same environment variables as its Lambda and reporting the same metrics
 * and log lines. Only what a role needs is built: a task of one role never reads another role's variables.
 */
import { KMS } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { handleCopyEvent } from '../copy/copy.ts';
import { DEFAULT_MAX_COPIES_IN_FLIGHT } from '../copy/snapshotCopy.ts';
import { DrSourceSchema } from '../dr-step/deps.ts';
import { handleDrStepEvent } from '../dr-step/drStep.ts';
import { PlanTopicsSchema } from '../dr-step/planTopic.ts';
import { DumpEventSchema, DumpSourceSchema, resolveConnection, type DumpDeps, type DumpResult } from '../dump/dump.ts';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { runBackup } from '../lib/engine/backup.ts';
import { type DatabaseTls, parseDatabaseTls, rdsCaBundleFrom } from '../lib/engine/tls.ts';
import { requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { BACKUP_ID_PATTERN } from '../lib/vault/layout.ts';
import { parseJsonEnv, parseOrConfigError } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { VerifyServersSchema, VerifySourceSchema, verifySourceBackup } from '../verify/verify.ts';

export const RUNNER_ROLES = ['dump', 'verify', 'copy', 'dr-step'] as const;
export type RunnerRole = (typeof RUNNER_ROLES)[number];

type Env = Readonly<Record<string, string | undefined>>;

/** A role's core bound to its clients: runs one event and records what its Lambda records. */
export interface RoleTask {
  run(event: unknown): Promise<unknown>;
}

interface Observers {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * TLS to the databases: verify-full against the image's RDS CA bundle in AWS (the task definitions never set
 * the variable). A local run against servers without TLS (the tests, a laptop) turns it off explicitly.
 */
function databaseTls(env: Env): DatabaseTls {
  return parseDatabaseTls(env.LIFEBOAT_DATABASE_TLS, 'LIFEBOAT_DATABASE_TLS');
}

/**
 * S3 clients: AWS's own endpoint, or an S3-protocol server given by LIFEBOAT_S3_ENDPOINT (local runs only;
 * the task definitions never set it).
 */
function s3Client(env: Env, region?: string) {
  const endpoint = env.LIFEBOAT_S3_ENDPOINT;
  return endpoint ? createS3Client({ endpoint, ...(region ? { region } : {}) }) : createS3Client(region ? { region } : {});
}

const kmsClients = (region: string) => new KMS({ region });

/** A Fargate dump event: the Lambda's, plus the backup id the state machine reads the manifest back under. */
export const FargateDumpEventSchema = DumpEventSchema.extend({
  backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab').optional(),
});

/**
 * The dump core as the Fargate task runs it: the Lambda's dump (same sources, credentials and engine),
 * written under the backup id the state machine chose so it can read the manifest back.
 */
export async function fargateDump(event: unknown, deps: DumpDeps): Promise<DumpResult> {
  const { sourceId, backupId } = parseOrConfigError(FargateDumpEventSchema, event, 'Invalid dump event');
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) throw new ConfigError(`sourceId: unknown source '${sourceId}'; this task backs up ${deps.sources.map((s) => s.id).join(', ')}`);
  const connection = await resolveConnection(source, deps);
  const { manifest } = await runBackup({ source: connection, sourceId, store: deps.store, keyring: deps.keyring, ...(backupId ? { backupId } : {}), ...(deps.now ? { now: deps.now() } : {}) });
  return {
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    kind: 'dump',
    rawBytes: manifest.payload.rawBytes,
    storedBytes: manifest.payload.storedBytes,
    sha256: manifest.payload.sha256,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
  };
}

function dumpTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const vars = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'AWS_REGION'], env);
  const deps: DumpDeps = {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(DumpSourceSchema).min(1)),
    secrets: new SecretsManagerClient({}),
    rds: new RDSClient({}),
    tls: databaseTls(env),
    ...rdsCaBundleFrom(env),
    store: new S3Store({ client: s3Client(env), bucket: vars.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.VAULT_KEY_ARN } }),
    keyring: kmsKeyring({ keyIds: [vars.VAULT_KEY_ARN], clientProvider: kmsClients }),
  };
  return {
    async run(event) {
      const started = Date.now();
      const result = await fargateDump(event, deps);
      metrics.addDimension('sourceId', result.sourceId);
      metrics.addMetric('BackupRawBytes', MetricUnit.Bytes, result.rawBytes);
      metrics.addMetric('BackupStoredBytes', MetricUnit.Bytes, result.storedBytes);
      metrics.addMetric('BackupDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
      logger.info('backup stored', { sourceId: result.sourceId, backupId: result.backupId, rawBytes: result.rawBytes, storedBytes: result.storedBytes });
      return result;
    },
  };
}

function verifyTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const vars = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'ALERT_TOPIC_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS', 'AWS_REGION'], env);
  const deps = {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(VerifySourceSchema)),
    servers: parseJsonEnv('VERIFY_SERVERS', vars.VERIFY_SERVERS, VerifyServersSchema),
    secrets: new SecretsManagerClient({}),
    sns: new SNSClient({}),
    alertTopicArn: vars.ALERT_TOPIC_ARN,
    tls: databaseTls(env),
    ...rdsCaBundleFrom(env),
    store: new S3Store({ client: s3Client(env), bucket: vars.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.VAULT_KEY_ARN } }),
    keyring: kmsKeyring({ keyIds: [vars.VAULT_KEY_ARN], clientProvider: kmsClients }),
  };
  return {
    async run(event) {
      const started = Date.now();
      const sourceId = (event as { sourceId?: unknown } | null)?.sourceId;
      if (typeof sourceId === 'string') metrics.addDimension('sourceId', sourceId);
      try {
        const result = await verifySourceBackup(event, deps);
        metrics.addMetric('VerificationPassed', MetricUnit.Count, 1);
        if (result.alerted) metrics.addMetric('BackupSizeAnomaly', MetricUnit.Count, 1);
        logger.info('backup verified', { sourceId: result.sourceId, backupId: result.backupId, checks: result.checks, warnings: result.warnings });
        return result;
      } catch (error) {
        if (error instanceof Error && error.name === 'VerificationFailedError') {
          metrics.addMetric('VerificationFailed', MetricUnit.Count, 1);
          logger.error('backup failed verification (alert published)', { reason: error.message });
        }
        throw error;
      } finally {
        metrics.addMetric('VerificationDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
      }
    },
  };
}

function copyTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const vars = requireEnv(['PRIMARY_VAULT_BUCKET', 'DR_VAULT_BUCKET', 'DR_REGION', 'DR_VAULT_KEY_ARN', 'AWS_REGION'], env);
  const maxCopiesInFlight = Number(env.MAX_SNAPSHOT_COPIES_IN_FLIGHT ?? DEFAULT_MAX_COPIES_IN_FLIGHT);
  if (!Number.isInteger(maxCopiesInFlight) || maxCopiesInFlight < 1) {
    throw new ConfigError(`MAX_SNAPSHOT_COPIES_IN_FLIGHT must be a positive integer, got "${env.MAX_SNAPSHOT_COPIES_IN_FLIGHT}"`);
  }
  const deps = {
    primary: { client: s3Client(env), bucket: vars.PRIMARY_VAULT_BUCKET },
    dr: { client: s3Client(env, vars.DR_REGION), bucket: vars.DR_VAULT_BUCKET, region: vars.DR_REGION, kmsKeyId: vars.DR_VAULT_KEY_ARN },
    drRds: new RDSClient({ region: vars.DR_REGION }),
    maxCopiesInFlight,
  };
  return {
    async run(event) {
      const result = await handleCopyEvent(event, deps);
      metrics.addDimension('sourceId', result.sourceId);
      if ('replicationLagSeconds' in result) {
        if (!result.alreadyCopied) {
          metrics.addMetric('ReplicationLagSeconds', MetricUnit.Seconds, result.replicationLagSeconds);
          if (result.payloadBytes !== undefined) metrics.addMetric('ReplicatedBytes', MetricUnit.Bytes, result.payloadBytes);
        }
        logger.info('backup copied to the DR vault', {
          sourceId: result.sourceId,
          backupId: result.backupId,
          kind: result.kind,
          alreadyCopied: result.alreadyCopied,
          replicationLagSeconds: result.replicationLagSeconds,
          verificationsCopied: result.verificationsCopied,
        });
      } else {
        logger.info('snapshot copy', { sourceId: result.sourceId, backupId: result.backupId, snapshotIdentifier: result.snapshotIdentifier, status: result.status });
      }
      return result;
    },
  };
}

function drStepTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const vars = requireEnv(
    ['AWS_REGION', 'PRIMARY_VAULT_BUCKET', 'PRIMARY_VAULT_KEY_ARN', 'DR_REGION', 'DR_VAULT_BUCKET', 'DR_VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS', 'PLAN_TOPICS'],
    env,
  );
  const deps = {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(DrSourceSchema)),
    servers: parseJsonEnv('VERIFY_SERVERS', vars.VERIFY_SERVERS, VerifyServersSchema),
    planTopics: parseJsonEnv('PLAN_TOPICS', vars.PLAN_TOPICS, PlanTopicsSchema),
    secrets: new SecretsManagerClient({}),
    sns: new SNSClient({}),
    tls: databaseTls(env),
    ...rdsCaBundleFrom(env),
    regions: {
      primary: {
        name: vars.AWS_REGION,
        rds: new RDSClient({}),
        store: new S3Store({ client: s3Client(env), bucket: vars.PRIMARY_VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.PRIMARY_VAULT_KEY_ARN } }),
        keyring: kmsKeyring({ keyIds: [vars.PRIMARY_VAULT_KEY_ARN], clientProvider: kmsClients }),
      },
      dr: {
        name: vars.DR_REGION,
        rds: new RDSClient({ region: vars.DR_REGION }),
        store: new S3Store({ client: s3Client(env, vars.DR_REGION), bucket: vars.DR_VAULT_BUCKET }),
        keyring: kmsKeyring({ keyIds: [vars.DR_VAULT_KEY_ARN], clientProvider: kmsClients }),
      },
    },
  };
  return {
    async run(event) {
      const { plan, stepId, kind, action } = (event ?? {}) as Record<string, unknown>;
      if (typeof plan === 'string') metrics.addDimension('plan', plan);
      const started = Date.now();
      const result = await handleDrStepEvent(event, deps);
      metrics.addMetric('DrStepDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
      if ('format' in result) {
        metrics.addMetric(result.outcome === 'passed' ? 'DrPlanPassed' : 'DrPlanFailed', MetricUnit.Count, 1);
        logger.info('evidence recorded', { plan: result.plan, mode: result.mode, outcome: result.outcome, measured: result.measured, met: result.met });
      } else if ('databases' in result) {
        logger.info('drill cleaned up', { plan: result.plan, suffix: result.suffix, databases: result.databases });
      } else {
        logger.info(`${String(action)} ${result.status}`, { stepId: stepId ?? result.stepId, kind: kind ?? result.kind, status: result.status });
      }
      return result;
    },
  };
}

const BUILDERS: Record<RunnerRole, (env: Env, observers: Observers) => RoleTask> = {
  dump: dumpTask,
  verify: verifyTask,
  copy: copyTask,
  'dr-step': drStepTask,
};

/** Builds the role named by LIFEBOAT_RUNNER_ROLE (set by its task definition). */
export function roleTask(role: string | undefined, env: Env, observers: Observers): RoleTask {
  if (!role) throw new ConfigError('Missing environment variable: LIFEBOAT_RUNNER_ROLE');
  if (!(RUNNER_ROLES as readonly string[]).includes(role)) {
    throw new ConfigError(`LIFEBOAT_RUNNER_ROLE: unknown role "${role}"; expected one of ${RUNNER_ROLES.join(', ')}`);
  }
  return BUILDERS[role as RunnerRole](env, observers);
}
