/**
 * PostgreSQL: pg_dump in custom format (so one table can be restored alone), with its compression off
 * because the pipeline compresses with zstd. Row counts are taken in the very snapshot pg_dump reads:
 * a REPEATABLE READ transaction exports its snapshot, pg_dump adopts it with `--snapshot`, and the
 * counts run in that transaction while the dump streams. They are exact under concurrent writes.
 */
import { readFileSync } from 'node:fs';
import type * as tls from 'node:tls';
import pg from 'pg';
import { RestoreFailedError, SourceUnreachableError, TargetNotEmptyError } from '../errors.ts';
import type { ManifestTable } from '../vault/manifest.ts';
import { type ConnectionInfo, describeConnection, redact, withDatabase } from './connection.ts';
import { type DumpPlan, messageOf, type RestorePlan, scrubbed, type TableSelector } from './driver.ts';
import { toolVersionLine } from './process.ts';

const MAINTENANCE_DATABASE = 'postgres';

/** Environment for pg_dump / pg_restore / psql: the only place the password goes. */
export function postgresEnv(info: ConnectionInfo): Record<string, string> {
  return {
    PGHOST: info.host,
    PGPORT: String(info.port),
    PGUSER: info.user,
    PGDATABASE: info.database,
    PGAPPNAME: 'lifeboat',
    PGCONNECT_TIMEOUT: '15',
    ...(info.password === undefined ? {} : { PGPASSWORD: info.password }),
    ...(info.sslMode === undefined ? {} : { PGSSLMODE: info.sslMode }),
    ...(info.sslRootCert === undefined ? {} : { PGSSLROOTCERT: info.sslRootCert }),
  };
}

export async function connectPostgres(info: ConnectionInfo): Promise<pg.Client> {
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.user,
    database: info.database,
    application_name: 'lifeboat',
    connectionTimeoutMillis: 15_000,
    ...(info.password === undefined ? {} : { password: info.password }),
    ...sslOption(info.sslMode, info.sslRootCert),
  });
  // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new SourceUnreachableError(
      `Cannot connect to ${describeConnection(info)}: ${redact(messageOf(error), info)}`,
      { cause: scrubbed(error, info) },
    );
  }
  return client;
}

function sslOption(mode: string | undefined, rootCert: string | undefined): { ssl?: boolean | tls.ConnectionOptions } {
  if (mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer') return {};
  if (mode === 'verify-full' || mode === 'verify-ca') {
    // verify-ca checks the chain only, as libpq does; verify-full also checks the host name (Node's default).
    const identity = mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {};
    return { ssl: rootCert === undefined ? { rejectUnauthorized: true, ...identity } : { rejectUnauthorized: true, ca: readFileSync(rootCert, 'utf8'), ...identity } };
  }
  return { ssl: { rejectUnauthorized: false } };
}

/**
 * Opens the snapshot, starts counting rows in it, and says how to run pg_dump on it. The snapshot stays
 * open (and the counts run) until {@link DumpPlan.close}; pg_dump must have started before then.
 */
export async function preparePostgresDump(source: ConnectionInfo): Promise<DumpPlan> {
  const [versionLine, client] = await Promise.all([toolVersionLine('pg_dump'), connectPostgres(source)]);
  let open = true;
  const close = async (): Promise<void> => {
    if (!open) return;
    open = false;
    // Read-only: commit and rollback are the same; rollback also works after an error.
    await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  };
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    const version = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    const tables = await listUserTables(client);
    // Counted while pg_dump streams; each count is a scan, so doing it alongside the dump overlaps the I/O.
    const counting = countRows(client, tables);
    counting.catch(() => {}); // observed by tables(); never an unhandled rejection
    return {
      command: 'pg_dump',
      args: ['--format=custom', '--compress=0', `--snapshot=${snapshot.rows[0]!.id}`, '--no-password'],
      env: postgresEnv(source),
      payloadFormat: 'pg_dump-custom',
      toolName: 'pg_dump',
      toolVersion: parsePgToolVersion(versionLine),
      serverVersion: version.rows[0]!.v,
      warnings: [],
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

/** `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → `15.20`. */
export function parsePgToolVersion(line: string): string {
  return /\)\s+(\d+(?:\.\d+)*\S*)/.exec(line)?.[1] ?? line;
}

interface UserTable {
  schema: string;
  name: string;
}

/**
 * Tables whose rows pg_dump writes: ordinary tables and partitions (a partitioned parent holds no rows
 * itself), outside the system schemas, not belonging to an extension.
 */
async function listUserTables(client: pg.Client): Promise<UserTable[]> {
  const result = await client.query<UserTable>(`
    SELECT n.nspname AS schema, c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 1, 2`);
  return result.rows;
}

async function countRows(client: pg.Client, tables: UserTable[]): Promise<ManifestTable[]> {
  const counted: ManifestTable[] = [];
  for (const table of tables) {
    const qualified = `${client.escapeIdentifier(table.schema)}.${client.escapeIdentifier(table.name)}`;
    // ONLY: an inheritance parent's own rows; its children are counted (and dumped) as tables of their own.
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${qualified}`);
    counted.push({ schema: table.schema, name: table.name, rows: Number(result.rows[0]!.n), rowsExact: true });
  }
  return counted;
}

/**
 * Makes `target` an empty database: created if missing; refused with `TargetNotEmptyError` if it holds
 * any user table, view, sequence or function, unless `dropExisting`, which drops and recreates it.
 */
export async function preparePostgresTarget(target: ConnectionInfo, options: { dropExisting: boolean }): Promise<{ created: boolean }> {
  const admin = await connectPostgres(withDatabase(target, MAINTENANCE_DATABASE));
  try {
    const name = admin.escapeIdentifier(target.database);
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database])).rowCount! > 0;
    if (exists && options.dropExisting) {
      // FORCE (PostgreSQL 13+) ends other sessions, which would otherwise make DROP fail.
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    } else if (exists) {
      const objects = await countUserObjects(target);
      if (objects > 0) {
        throw new TargetNotEmptyError(
          `Target database ${describeConnection(target)} is not empty (${objects} user objects); ` +
            'restore into an empty or new database, or replace it with --drop-existing',
        );
      }
      return { created: false };
    }
    await admin.query(`CREATE DATABASE ${name}`);
    return { created: true };
  } catch (error) {
    if (error instanceof TargetNotEmptyError || error instanceof SourceUnreachableError) throw error;
    throw new RestoreFailedError(`Cannot prepare target ${describeConnection(target)}: ${redact(messageOf(error), target)}`, {
      cause: scrubbed(error, target),
    });
  } finally {
    await admin.end().catch(() => {});
  }
}

async function countUserObjects(target: ConnectionInfo): Promise<number> {
  const client = await connectPostgres(target);
  try {
    const result = await client.query<{ n: string }>(`
      SELECT count(*) AS n
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
         AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`);
    return Number(result.rows[0]!.n);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * pg_restore from stdin in one transaction: any error (or the stream being cut) rolls everything back.
 * For one table, `-n SCHEMA -t NAME` (its definition and rows; pg_restore leaves out its indexes,
 * constraints and defaults), after creating the schema in the fresh target if it is not `public`.
 */
export async function postgresRestorePlan(target: ConnectionInfo, table: TableSelector | undefined): Promise<RestorePlan> {
  const args = ['--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '--no-password'];
  if (table) {
    if (table.schema !== 'public') {
      const client = await connectPostgres(target);
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(table.schema)}`);
      } finally {
        await client.end().catch(() => {});
      }
    }
    args.push(`--schema=${table.schema}`, `--table=${table.name}`);
  }
  // --dbname takes a connection string; quoting keeps any database name literal. Host, user and password come from the environment.
  args.push(`--dbname=dbname=${conninfoQuote(target.database)}`);
  return { command: 'pg_restore', args, env: postgresEnv(target) };
}

function conninfoQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
