import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** How to reach a database server; read from the environment on every call so tests can stub it. */
export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
}

/** A scratch database that exists only for one test suite. */
export interface ScratchDatabase<TConnectionOptions> {
  /** `lb_test_<prefix>_<random>` */
  readonly name: string;
  /** `postgres://user@host:port/name` or `mysql://user@host:port/name`; never carries the password. */
  readonly url: string;
  /** Options for the driver (`pg.ClientConfig` / mysql2 `ConnectionOptions`), password included when set. */
  readonly connectionOptions: TConnectionOptions;
  /** Runs one statement in this database and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Drops the database even while other sessions are connected to it. Safe to call twice. */
  drop(): Promise<void>;
}

export interface PostgresConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
}

export interface MariaDbConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
}

export type PostgresDatabase = ScratchDatabase<PostgresConnectionOptions>;
export type MariaDbDatabase = ScratchDatabase<MariaDbConnectionOptions>;

/** Every scratch database name starts with this, so leftovers are easy to find. */
export const SCRATCH_DATABASE_PREFIX = 'lb_test_';

const CONNECT_TIMEOUT_MS = 5_000;
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

const POSTGRES_START = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';
const MARIADB_START = 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd';

export function postgresSettings(env: NodeJS.ProcessEnv = process.env): ServerSettings {
  return serverSettings(env, 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', { port: 5432, user: 'postgres' });
}

export function mariaDbSettings(env: NodeJS.ProcessEnv = process.env): ServerSettings {
  return serverSettings(env, 'MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USER', 'MYSQL_PASSWORD', { port: 3306, user: 'root' });
}

/**
 * Creates an empty PostgreSQL database with a unique name on the server named by PGHOST/PGPORT/PGUSER/PGPASSWORD.
 *
 * @example
 * let db: PostgresDatabase;
 * beforeAll(async () => { db = await createPostgresDatabase('dump'); });
 * afterAll(() => db.drop());
 */
export async function createPostgresDatabase(prefix?: string): Promise<PostgresDatabase> {
  const server = postgresSettings();
  const name = scratchName(prefix);
  await withPostgresAdmin(server, (admin) => admin.query(`CREATE DATABASE ${quotePostgres(name)}`));

  const connectionOptions: PostgresConnectionOptions = { ...withoutUndefined(server), database: name };
  let pool: pg.Pool | undefined;
  let dropped = false;
  return {
    name,
    url: `postgres://${encodeURIComponent(server.user)}@${hostForUrl(server.host)}:${server.port}/${name}`,
    connectionOptions,
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      if (!pool) {
        pool = new pg.Pool({ ...connectionOptions, max: 2, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
        // An idle pooled session may be ended by the server (a restore with --drop-existing ends them all);
        // the pool replaces it on the next query, so the error must not crash the test worker.
        pool.on('error', () => {});
      }
      const result = await pool.query(sql, [...params]);
      return result.rows as Row[];
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await pool?.end();
      await withPostgresAdmin(server, (admin) =>
        admin.query(`DROP DATABASE IF EXISTS ${quotePostgres(name)} WITH (FORCE)`),
      );
    },
  };
}

/**
 * Creates an empty MariaDB/MySQL database with a unique name on the server named by MYSQL_HOST/MYSQL_PORT/MYSQL_USER/MYSQL_PASSWORD.
 *
 * @example
 * let db: MariaDbDatabase;
 * beforeAll(async () => { db = await createMariaDbDatabase('dump'); });
 * afterAll(() => db.drop());
 */
export async function createMariaDbDatabase(prefix?: string): Promise<MariaDbDatabase> {
  const server = mariaDbSettings();
  const name = scratchName(prefix);
  await withMariaDbAdmin(server, (admin) => admin.query(`CREATE DATABASE ${quoteMariaDb(name)}`));

  const connectionOptions: MariaDbConnectionOptions = { ...withoutUndefined(server), database: name };
  let pool: mysql.Pool | undefined;
  let dropped = false;
  return {
    name,
    url: `mysql://${encodeURIComponent(server.user)}@${hostForUrl(server.host)}:${server.port}/${name}`,
    connectionOptions,
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      pool ??= mysql.createPool({ ...connectionOptions, connectionLimit: 2, connectTimeout: CONNECT_TIMEOUT_MS });
      const [rows] = await pool.query(sql, [...params]);
      return (Array.isArray(rows) ? rows : []) as Row[];
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await pool?.end();
      await withMariaDbAdmin(server, async (admin) => {
        // MariaDB has no DROP DATABASE ... FORCE: end the other sessions using it first.
        const [sessions] = await admin.query<mysql.RowDataPacket[]>(
          'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
          [name],
        );
        for (const { id } of sessions) {
          await admin.query(`KILL CONNECTION ${Number(id)}`).catch(() => undefined);
        }
        await admin.query(`DROP DATABASE IF EXISTS ${quoteMariaDb(name)}`);
      });
    },
  };
}

/** Names of the PostgreSQL databases starting with `prefix`, sorted; for asserting nothing was left behind. */
export async function listPostgresDatabases(prefix = SCRATCH_DATABASE_PREFIX): Promise<string[]> {
  const rows = await withPostgresAdmin(postgresSettings(), async (admin) => {
    const result = await admin.query<{ datname: string }>('SELECT datname FROM pg_database');
    return result.rows.map((row) => row.datname);
  });
  return rows.filter((name) => name.startsWith(prefix)).sort();
}

/** Names of the MariaDB databases starting with `prefix`, sorted; for asserting nothing was left behind. */
export async function listMariaDbDatabases(prefix = SCRATCH_DATABASE_PREFIX): Promise<string[]> {
  const rows = await withMariaDbAdmin(mariaDbSettings(), async (admin) => {
    const [result] = await admin.query<mysql.RowDataPacket[]>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA');
    return result.map((row) => String(row['name']));
  });
  return rows.filter((name) => name.startsWith(prefix)).sort();
}

async function withPostgresAdmin<T>(server: ServerSettings, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({
    ...withoutUndefined(server),
    database: 'postgres',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // A refused connection also surfaces as an 'error' event; without a listener it would crash the worker.
  admin.on('error', () => undefined);
  try {
    await admin.connect();
  } catch (error) {
    throw connectionError('PostgreSQL', server, POSTGRES_START, error);
  }
  try {
    return await work(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function withMariaDbAdmin<T>(server: ServerSettings, work: (admin: mysql.Connection) => Promise<T>): Promise<T> {
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ ...withoutUndefined(server), connectTimeout: CONNECT_TIMEOUT_MS });
  } catch (error) {
    throw connectionError('MariaDB', server, MARIADB_START, error);
  }
  try {
    return await work(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

function connectionError(product: string, server: ServerSettings, startCommand: string, error: unknown): Error {
  const where = `${server.host}:${server.port}`;
  const reason = error instanceof Error ? error.message || error.name : String(error);
  if (isUnreachable(error)) {
    return new Error(
      `${product} is not reachable at ${where} (${reason}). Start it with: ${startCommand}`,
      { cause: error },
    );
  }
  return new Error(`${product} at ${where} refused the connection as user '${server.user}': ${reason}`, { cause: error });
}

function isUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  // pg reports its own connect timeout without a code; AggregateError wraps one failure per address.
  if (typeof message === 'string' && /timeout/i.test(message)) return true;
  const nested = (error as { errors?: unknown }).errors;
  return Array.isArray(nested) && nested.some(isUnreachable);
}

function serverSettings(
  env: NodeJS.ProcessEnv,
  hostVar: string,
  portVar: string,
  userVar: string,
  passwordVar: string,
  defaults: { port: number; user: string },
): ServerSettings {
  const rawPort = env[portVar];
  const port = rawPort === undefined || rawPort === '' ? defaults.port : Number(rawPort);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`${portVar} must be a TCP port number, got '${rawPort}'`);
  }
  const password = env[passwordVar];
  return {
    host: env[hostVar] || '127.0.0.1',
    port,
    user: env[userVar] || defaults.user,
    ...(password ? { password } : {}),
  };
}

function scratchName(prefix: string | undefined): string {
  const label = (prefix ?? '').toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 30);
  const suffix = randomBytes(5).toString('hex');
  return label ? `${SCRATCH_DATABASE_PREFIX}${label}_${suffix}` : `${SCRATCH_DATABASE_PREFIX}${suffix}`;
}

function quotePostgres(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function quoteMariaDb(identifier: string): string {
  return `\`${identifier.replaceAll('`', '``')}\``;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function withoutUndefined(server: ServerSettings): ServerSettings {
  return server.password === undefined
    ? { host: server.host, port: server.port, user: server.user }
    : { host: server.host, port: server.port, user: server.user, password: server.password };
}
