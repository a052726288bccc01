/**
 * Shared pieces of the step executor's tests (and of the plans' end-to-end test, which runs it): names, events
 * as the compiled plans send them, snapshot manifests as the backup state machine records them, RDS call
 * inspection, and the local PostgreSQL server as the restore steps leave it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { StepKind } from '../../../functions/dr-step/events.ts';
import type { BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { postgresSettings } from '../../harness/databases.ts';
import { sampleManifest } from '../vault/fixtures.ts';

export const REGION = 'eu-west-1';
export const DR_REGION = 'eu-central-1';
export const ACCOUNT = '111122223333';
export const PLAN = 'orders-restore';
export const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:lifeboat-plan-${PLAN}-contacts`;

/** A fresh drill suffix: 8 characters of a-z0-9, as the state machine derives from the execution name. */
export function newSuffix(): string {
  return randomBytes(4).toString('hex');
}

export function executionIdFor(suffix: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-plan-${PLAN}:drill-${suffix}`;
}

/** The `run-step` event a compiled plan sends for one step. */
export function runStep(
  stepId: string,
  kind: StepKind,
  parameters: Record<string, unknown>,
  options: { mode?: 'real' | 'drill'; suffix: string; levels?: Record<string, Record<string, unknown>> },
) {
  return {
    action: 'run-step',
    plan: PLAN,
    stepId,
    kind,
    parameters,
    mode: options.mode ?? 'real',
    suffix: options.suffix,
    executionId: executionIdFor(options.suffix),
    levels: options.levels ?? {},
  };
}

/** Every command a mocked client received, in order, as `[name, input]`: for asserting exact calls and that nothing else was sent. */
export function commandsOf(stub: { calls(): { args: readonly unknown[] }[] }): [string, unknown][] {
  return stub.calls().map((call) => {
    const command = call.args[0] as { constructor: { name: string }; input: unknown };
    return [command.constructor.name.replace(/Command$/, ''), command.input];
  });
}

/** What the backup state machine names a Lifeboat snapshot of `sourceId`. */
export const snapshotName = (sourceId: string, backupId: string) => `lifeboat-${sourceId}-${backupId.toLowerCase()}`;

/** The manifest of a Lifeboat snapshot as the backup state machine records it: started at its backup id's time, done 9 minutes later. */
export function snapshotManifest(sourceId: string, backupId: string, type: 'instance' | 'cluster', region: string, engine: 'postgresql' | 'mysql' | 'docdb'): BackupManifest {
  const identifier = snapshotName(sourceId, backupId);
  const start = `${backupId.slice(0, 4)}-${backupId.slice(4, 6)}-${backupId.slice(6, 8)}T${backupId.slice(9, 11)}:${backupId.slice(11, 13)}:${backupId.slice(13, 15)}.000Z`;
  return sampleManifest({
    sourceId,
    backupId,
    ...(engine === 'docdb' ? { formatVersion: '1.3' } : {}),
    kind: 'snapshot',
    engine,
    startedAt: start,
    completedAt: new Date(Date.parse(start) + 9 * 60_000).toISOString(),
    source: { database: '*', serverVersion: '16.4' },
    tools: { lifeboat: '0.1.0' },
    payload: undefined,
    compression: undefined,
    encryption: undefined,
    content: { tables: [] },
    snapshot: { arn: `arn:aws:rds:${region}:${ACCOUNT}:${type === 'instance' ? 'snapshot' : 'cluster-snapshot'}:${identifier}`, identifier, region },
  });
}

/** Runs `work` connected to `database` on the local PostgreSQL server. */
export async function withPostgres<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const local = postgresSettings();
  const client = new pg.Client({ host: local.host, port: local.port, user: local.user, ...(local.password ? { password: local.password } : {}), database });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function countRows(database: string, table: string): Promise<number> {
  return withPostgres(database, async (client) => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n));
}

export async function createPostgres(name: string): Promise<void> {
  await withPostgres('postgres', (client) => client.query(`CREATE DATABASE "${name}"`));
}

/** Drops `name`, ending any session still connected to it. */
export async function dropPostgres(name: string): Promise<void> {
  await withPostgres('postgres', (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
