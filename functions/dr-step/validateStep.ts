/**
 * The `validate` step: connects to what an earlier restore step restored (its record's `result.target`, so
 * a drill's validate checks the drill copy), compares every table's row count with the restored backup's
 * manifest, and runs the plan's SQL checks, with the restore test's own checker (`validateRestore`). Any
 * failed check is a `ValidationFailedError` naming it, which fails the plan.
 */
import { ConfigError, ValidationFailedError } from '../lib/errors.ts';
import { DEFAULT_DATABASE_TLS } from '../lib/engine/tls.ts';
import { isRestoreKind } from '../lib/plans/kinds.ts';
import { readManifest } from '../lib/vault/catalog.ts';
import { validateRestore, type CheckResult, type TableResult } from '../validate-restore/validate.ts';
import type { DrStepDeps } from './deps.ts';
import {
  type Levels,
  type RestoredTarget,
  RestoredTargetSchema,
  type RunStepEvent,
  type StepRecord,
  type ValidateParameters,
} from './events.ts';
import { now, succeededRecord } from './records.ts';
import { regionResources } from './deps.ts';

const MAX_SQL_IN_REASON = 120;

export interface ValidationResult extends Record<string, unknown> {
  readonly validatedStep: string;
  readonly target: { readonly host: string; readonly port: number; readonly database: string };
  readonly tables: { schema: string; name: string; status: 'passed' | 'failed'; expectedRows?: number; actualRows?: number; reason?: string }[];
  readonly sqlChecks: { sql: string; status: 'passed' | 'failed'; reason?: string }[];
}

export async function runValidateStep(event: RunStepEvent, parameters: ValidateParameters, deps: DrStepDeps): Promise<StepRecord> {
  const startedAt = now(deps);
  const restore = findRestoreRecord(event.levels, parameters.target, event.stepId);
  const target = restoredTargetOf(restore, event.stepId);
  const expectedTables = await expectedTablesOf(restore, target, deps);
  const sourceId = typeof restore.result?.['sourceId'] === 'string' ? restore.result['sourceId'] : restore.stepId;

  const validation = await validateRestore(
    {
      request: {
        sourceId,
        engine: target.engine === 'postgresql' ? 'postgres' : 'mysql',
        database: target.database,
        expectedTables,
        checks: parameters.sqlChecks,
      },
      endpoint: { address: target.host, port: target.port },
    },
    {
      sources: [{ id: sourceId, credentialsSecretArn: target.credentialsSecretArn }],
      secrets: deps.secrets,
      tls: (deps.tls ?? DEFAULT_DATABASE_TLS) === 'disable' ? 'disable' : 'verify',
      ...(deps.caBundle === undefined ? {} : { ca: deps.caBundle }),
      ...(deps.connect ? { connect: deps.connect } : {}),
    },
  );

  const result: ValidationResult = {
    validatedStep: restore.stepId,
    target: { host: target.host, port: target.port, database: target.database },
    tables: validation.tables.map(tableStatus),
    sqlChecks: validation.checks.map(checkStatus),
  };
  if (!validation.passed) {
    const failures = [
      ...validation.tables.filter((t) => !t.passed).map((t) => t.reason ?? `table ${t.schema}.${t.name} failed`),
      ...validation.checks.filter((c) => !c.passed).map((c) => `SQL check "${abbreviate(c.sql)}": ${c.reason ?? 'failed'}`),
    ];
    // A database missing altogether fails no single check: its reason is the verdict's own.
    const reasons = failures.length > 0 ? failures : [validation.reason ?? 'the restored database did not validate'];
    throw new ValidationFailedError(
      `Step '${event.stepId}' found the database restored by '${restore.stepId}' (${target.host}:${target.port}/${target.database}) wrong: ${reasons.join('; ')}`,
    );
  }
  return succeededRecord(event.stepId, 'validate', startedAt.toISOString(), result, deps);
}

/** The record of restore step `id` among the earlier levels. */
export function findRestoreRecord(levels: Levels, id: string, from: string): StepRecord {
  for (const level of Object.values(levels)) {
    const record = level?.[id];
    if (record === undefined || record === null) continue;
    const candidate = record as Partial<StepRecord>;
    if (!isRestoreKind(candidate.kind)) {
      throw new ConfigError(`Step '${from}': parameters.target: '${id}' is a ${String(candidate.kind)} step, not a restore step`);
    }
    if (candidate.status !== 'succeeded') {
      throw new ConfigError(`Step '${from}': parameters.target: restore step '${id}' has not succeeded (status ${String(candidate.status)})`);
    }
    return record as unknown as StepRecord;
  }
  throw new ConfigError(`Step '${from}': parameters.target: no record of step '${id}' in the earlier levels (levels.L<n>.${id})`);
}

function restoredTargetOf(record: StepRecord, from: string): RestoredTarget {
  const parsed = RestoredTargetSchema.safeParse(record.result?.['target']);
  if (!parsed.success) {
    throw new ConfigError(`Step '${from}': the record of restore step '${record.stepId}' names no target to validate (result.target)`);
  }
  return parsed.data;
}

/**
 * The tables the restored backup's manifest lists, with their row counts where the manifest counted them
 * exactly (an estimate is only checked for the table's existence). A MySQL dump holds one database, so
 * restored under another name its tables live in the target database. RDS restores have no manifest tables.
 */
async function expectedTablesOf(
  record: StepRecord,
  target: RestoredTarget,
  deps: DrStepDeps,
): Promise<{ schema: string; name: string; rows?: number }[]> {
  if (record.kind !== 'restore-dump') return [];
  const { sourceId, backupId, region } = record.result ?? {};
  if (typeof sourceId !== 'string' || typeof backupId !== 'string') return [];
  const store = regionResources(deps, region === 'dr' ? 'dr' : 'primary').store;
  const manifest = await readManifest(store, sourceId, backupId);
  return manifest.content.tables.map((table) => ({
    schema: target.engine === 'mysql' ? target.database : table.schema,
    name: table.name,
    ...(table.rowsExact ? { rows: table.rows } : {}),
  }));
}

function tableStatus(table: TableResult): ValidationResult['tables'][number] {
  return {
    schema: table.schema,
    name: table.name,
    status: table.passed ? 'passed' : 'failed',
    ...(table.expectedRows === undefined ? {} : { expectedRows: table.expectedRows }),
    ...(table.actualRows === undefined ? {} : { actualRows: table.actualRows }),
    ...(table.reason === undefined ? {} : { reason: table.reason }),
  };
}

function checkStatus(check: CheckResult): ValidationResult['sqlChecks'][number] {
  return { sql: check.sql, status: check.passed ? 'passed' : 'failed', ...(check.reason === undefined ? {} : { reason: check.reason }) };
}

function abbreviate(sql: string): string {
  const line = sql.replace(/\s+/g, ' ').trim();
  return line.length > MAX_SQL_IN_REASON ? `${line.slice(0, MAX_SQL_IN_REASON - 1)}…` : line;
}
