/**
 * PostgreSQL in parallel: how a dump is split into streams, and the pg_dump / pg_restore command lines
 * of each part (vault format v1.1, `pg_dump-custom-parts`).
 *
 *   pre-data    pg_dump --section=pre-data    tables, types, functions, sequences (definitions)
 *   data 1..N   pg_dump --section=data        table rows, split by table into N streams, largest first
 *   post-data   pg_dump --section=post-data   indexes, constraints, triggers, rules, matview refreshes
 *
 * Every pg_dump adopts the one snapshot exported by the coordinating transaction (`--snapshot`), which
 * also lists the tables and counts their rows: all parts, and the manifest's counts, are one point in
 * time. A table is never split across streams: pg_dump cannot dump part of a table, and one table's rows
 * in one archive restore with one COPY. Data stream 1 is the catch-all (everything of the data section
 * but the tables given to the other streams: its own tables, sequence values, large objects); streams
 * 2..N name their tables with `--table` (pg_dump adds the sequences those tables own, whose values are
 * the same in every stream: setting them twice is harmless).
 */
import pg from 'pg';
import { SourceUnreachableError } from '../errors.ts';
import type { ManifestTable } from '../vault/manifest.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { messageOf, scrubbed, type TableSelector } from './driver.ts';
import { connectPostgres, parsePgToolVersion, postgresEnv } from './postgres.ts';
import { toolVersionLine } from './process.ts';

/** The arguments every pg_dump of a part shares (the engine's single-stream flags: custom format, no compression). */
const PG_DUMP_BASE = ['--format=custom', '--compress=0', '--no-password'];

export interface SizedTable extends TableSelector {
  /** `pg_table_size` (heap and TOAST, no indexes) in the snapshot: what the data stream has to read. */
  readonly bytes: number;
}

/** One pg_dump of the parallel dump: which part it writes and how it is run. */
export interface PartDump {
  /** Stored object name in the backup folder. */
  readonly key: string;
  readonly section: 'pre-data' | 'data' | 'post-data';
  readonly args: readonly string[];
  /** Data parts: the tables whose rows this part holds. */
  readonly tables?: readonly TableSelector[];
  /** For messages: `data stream 2 of 4`. */
  readonly label: string;
}

export interface ParallelDumpPlan {
  readonly env: Readonly<Record<string, string>>;
  readonly toolVersion: string;
  readonly serverVersion: string;
  readonly parts: readonly PartDump[];
  /** Exact row counts in the snapshot; call once every pg_dump has exited successfully. */
  tables(): Promise<ManifestTable[]>;
  /** Ends the snapshot's transaction; safe to call more than once. */
  close(): Promise<void>;
}

export const PART_KEYS = {
  preData: 'payload.pre-data',
  data: (index: number) => `payload.data-${index}`,
  postData: 'payload.post-data',
} as const;

/**
 * Opens the snapshot, lists the tables with their sizes, starts counting rows in it, and plans the parts
 * for `jobs` data streams. The snapshot stays open until {@link ParallelDumpPlan.close}: every pg_dump must
 * have started before then.
 */
export async function preparePostgresParallelDump(source: ConnectionInfo, jobs: number): Promise<ParallelDumpPlan> {
  const [versionLine, client] = await Promise.all([toolVersionLine('pg_dump'), connectPostgres(source)]);
  let open = true;
  const close = async (): Promise<void> => {
    if (!open) return;
    open = false;
    await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  };
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const version = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    const tables = await listSizedTables(client);
    const counting = countRows(client, tables);
    counting.catch(() => {}); // observed by tables(); never an unhandled rejection
    const common = [...PG_DUMP_BASE, `--snapshot=${snapshot}`];
    const bins = assignTables(tables, jobs);
    const parts: PartDump[] = [
      { key: PART_KEYS.preData, section: 'pre-data', args: [...common, '--section=pre-data'], label: 'schema (pre-data)' },
      ...bins.map((bin, index): PartDump => {
        const others = bins.filter((_, other) => other !== index).flat();
        const selection =
          index === 0
            ? others.map((t) => `--exclude-table-data=${tablePattern(t)}`)
            : ['--strict-names', ...bin.map((t) => `--table=${tablePattern(t)}`)];
        return {
          key: PART_KEYS.data(index + 1),
          section: 'data',
          args: [...common, '--section=data', ...selection],
          tables: bin.map(({ schema, name }) => ({ schema, name })),
          label: `data stream ${index + 1} of ${bins.length}`,
        };
      }),
      { key: PART_KEYS.postData, section: 'post-data', args: [...common, '--section=post-data'], label: 'indexes and constraints (post-data)' },
    ];
    return {
      env: postgresEnv(source),
      toolVersion: parsePgToolVersion(versionLine),
      serverVersion: version.rows[0]!.v,
      parts,
      tables: () => counting,
      close,
    };
  } catch (error) {
    await close();
    throw new SourceUnreachableError(`Cannot open a snapshot on ${describeConnection(source)}: ${redact(messageOf(error), source)}`, {
      cause: scrubbed(error, source),
    });
  }
}

/**
 * Largest table first into the stream with the fewest bytes so far (longest-processing-time first): the
 * streams end close together unless one table outweighs the rest. At most `jobs` streams, never an empty
 * one but the first (the catch-all, which also carries sequence values and large objects).
 */
export function assignTables(tables: readonly SizedTable[], jobs: number): SizedTable[][] {
  const count = Math.max(1, Math.min(jobs, tables.length));
  const bins: { bytes: number; tables: SizedTable[] }[] = Array.from({ length: count }, () => ({ bytes: 0, tables: [] }));
  const largestFirst = [...tables].sort((a, b) => b.bytes - a.bytes || a.schema.localeCompare(b.schema) || a.name.localeCompare(b.name));
  for (const table of largestFirst) {
    // Ties go to the lowest index, so the assignment is the same for the same sizes.
    const lightest = bins.reduce((best, bin) => (bin.bytes < best.bytes ? bin : best), bins[0]!);
    lightest.tables.push(table);
    lightest.bytes += table.bytes;
  }
  return bins.map((bin) => bin.tables);
}

/**
 * A pg_dump pattern that matches exactly this table: both parts double-quoted, so case, dots and the
 * pattern characters `* ? + ( ) [ ] $ |` are taken literally; a double quote inside is doubled.
 */
export function tablePattern(table: TableSelector): string {
  const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
  return `${quote(table.schema)}.${quote(table.name)}`;
}

/**
 * Tables whose rows pg_dump writes (as in postgres.ts: ordinary tables and partitions, outside the system
 * schemas, not an extension's), with their size in the snapshot.
 */
async function listSizedTables(client: pg.Client): Promise<SizedTable[]> {
  const result = await client.query<{ schema: string; name: string; bytes: string }>(`
    SELECT n.nspname AS schema, c.relname AS name, pg_table_size(c.oid) AS bytes
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 1, 2`);
  return result.rows.map((row) => ({ schema: row.schema, name: row.name, bytes: Number(row.bytes) }));
}

async function countRows(client: pg.Client, tables: readonly SizedTable[]): Promise<ManifestTable[]> {
  const counted: ManifestTable[] = [];
  for (const table of tables) {
    const qualified = `${client.escapeIdentifier(table.schema)}.${client.escapeIdentifier(table.name)}`;
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${qualified}`);
    counted.push({ schema: table.schema, name: table.name, rows: Number(result.rows[0]!.n), rowsExact: true });
  }
  return counted;
}

/** Common pg_restore flags of every part, as the single-stream restore runs it. */
const PG_RESTORE_BASE = ['--no-owner', '--no-privileges', '--exit-on-error', '--no-password'];

/** pg_restore of one streamed part (schema or data) from stdin, in one transaction. */
export function partRestoreArgs(target: ConnectionInfo, table?: TableSelector): string[] {
  const selection = table ? [`--schema=${table.schema}`, `--table=${table.name}`] : [];
  return [...PG_RESTORE_BASE, '--single-transaction', ...selection, dbnameArg(target)];
}

/**
 * pg_restore of the post-data archive with `jobs` connections: indexes and constraints are built in
 * parallel, in dependency order (a foreign key after the index it needs). Parallel restore needs a
 * seekable file, so the archive is given as one.
 */
export function postDataRestoreArgs(target: ConnectionInfo, jobs: number, file: string): string[] {
  return [...PG_RESTORE_BASE, `--jobs=${jobs}`, dbnameArg(target), file];
}

/** Does the database exist? (Asked before preparing a target, so a failed restore knows whether it may drop it.) */
export async function postgresDatabaseExists(target: ConnectionInfo): Promise<boolean> {
  const admin = await connectPostgres({ ...target, database: 'postgres' });
  try {
    return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database])).rowCount! > 0;
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Drops a database this run created, ending any session still in it; absent is not an error. */
export async function dropPostgresDatabase(target: ConnectionInfo): Promise<void> {
  const admin = await connectPostgres({ ...target, database: 'postgres' });
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(target.database)} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => {});
  }
}

/** --dbname takes a connection string; quoting keeps any database name literal. Host, user and password come from the environment. */
function dbnameArg(target: ConnectionInfo): string {
  return `--dbname=dbname='${target.database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
