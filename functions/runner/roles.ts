/**
 * The tools image's cores as the Fargate runner runs them: one role per task definition (dump, verify, copy,
 * dr-step, fileset-backup), each built by its capability's own `*DepsFromEnv` (the one its Lambda uses) and reporting the
 * same metrics and log lines. Only what a role needs is built: a task of one role never reads another
 * role's variables. A dr-step task also leaves a `run-step` event's outcome in the vault (dr-step/taskStep.ts).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { recordBackupMetrics } from '../lib/middleware/backupMetrics.ts';
import { handleCopyEvent } from '../copy/copy.ts';
import { reportCopy } from '../copy/observed.ts';
import { copyDepsFromEnv } from '../copy/env.ts';
import { drStepDepsFromEnv } from '../dr-step/env.ts';
import { runDrStepTask } from '../dr-step/taskStep.ts';
import { drStepAuditEvents } from '../dr-step/audit.ts';
import { backupAuditEvents, backUpSource, DumpEventSchema, type DumpDeps, type DumpResult } from '../dump/dump.ts';
import { dumpDepsFromEnv } from '../dump/env.ts';
import { backUpFileSet } from '../fileset-backup/backup.ts';
import { fileSetBackupDepsFromEnv } from '../fileset-backup/env.ts';
import { ConfigError } from '../lib/errors.ts';
import type { Env } from '../lib/runtimeEnv.ts';
import { BACKUP_ID_PATTERN } from '../lib/vault/layout.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { verifyDepsFromEnv } from '../verify/env.ts';
import { observedVerify } from '../verify/observed.ts';
import { audited } from '../lib/audit/audited.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';

export const RUNNER_ROLES = ['dump', 'verify', 'copy', 'dr-step', 'fileset-backup'] as const;
export type RunnerRole = (typeof RUNNER_ROLES)[number];


/** A role's core bound to its clients: runs one event and records what its Lambda records. */
export interface RoleTask {
  run(event: unknown): Promise<unknown>;
}

interface Observers {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

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
  return backUpSource(source, deps, backupId);
}

function dumpTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const deps = dumpDepsFromEnv(env);
  const audit = lambdaAuditTrail({ store: deps.store, step: 'dump', env, log: (message, fields) => logger.warn(message, fields) });
  return {
    async run(event) {
      const started = Date.now();
      const result = await audited(audit, () => fargateDump(event, deps), backupAuditEvents(event));
      recordBackupMetrics(metrics, result, started);
      logger.info('backup stored', { sourceId: result.sourceId, backupId: result.backupId, rawBytes: result.rawBytes, storedBytes: result.storedBytes });
      return result;
    },
  };
}

/**
 * The file-set backup core as the Fargate task runs it: the Lambda's (same sources, grants and engine), without a
 * deadline, under the backup id the state machine chose so it can read the snapshot back. It takes over a file set
 * whose Lambda run gave up before its 15 minutes (a large first backup).
 */
function fileSetBackupTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const fromEnv = fileSetBackupDepsFromEnv(env);
  const deps = { ...fromEnv, audit: lambdaAuditTrail({ store: fromEnv.store, step: 'fileset-backup', env, log: (message, fields) => logger.warn(message, fields) }) };
  return {
    async run(event) {
      const started = Date.now();
      const result = await backUpFileSet(event, deps);
      recordBackupMetrics(metrics, result, started);
      logger.info('file set stored', { ...result });
      return result;
    },
  };
}

function verifyTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const deps = verifyDepsFromEnv(env);
  const auditedDeps = { ...deps, audit: lambdaAuditTrail({ store: deps.store, sns: deps.sns, step: 'verify', env, log: (message, fields) => logger.warn(message, fields) }) };
  return {
    async run(event) {
      return observedVerify(event, auditedDeps, { logger, metrics });
    },
  };
}

function copyTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const deps = copyDepsFromEnv(env);

  return {
    async run(event) {
      const result = await handleCopyEvent(event, deps);
      reportCopy(result, { logger, metrics });
      return result;
    },
  };
}

function drStepTask(env: Env, { logger, metrics }: Observers): RoleTask {
  const deps = drStepDepsFromEnv(env);
  const audit = lambdaAuditTrail({ store: deps.regions.primary.store, sns: deps.sns, step: 'dr-step', env, log: (message, fields) => logger.warn(message, fields) });
  return {
    async run(event) {
      const { plan, stepId, kind, action } = (event ?? {}) as Record<string, unknown>;
      if (typeof plan === 'string') metrics.addDimension('plan', plan);
      const started = Date.now();
      const result = await audited(audit, () => runDrStepTask(event, deps), drStepAuditEvents(event));
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
  'fileset-backup': fileSetBackupTask,
};

/** Builds the role named by LIFEBOAT_RUNNER_ROLE (set by its task definition). */
export function roleTask(role: string | undefined, env: Env, observers: Observers): RoleTask {
  if (!role) throw new ConfigError('Missing environment variable: LIFEBOAT_RUNNER_ROLE');
  if (!(RUNNER_ROLES as readonly string[]).includes(role)) {
    throw new ConfigError(`LIFEBOAT_RUNNER_ROLE: unknown role "${role}"; expected one of ${RUNNER_ROLES.join(', ')}`);
  }
  return BUILDERS[role as RunnerRole](env, observers);
}
