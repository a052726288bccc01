/**
 * One connection to a restored (temporary) database, PostgreSQL or MySQL, with the three questions the
 * restore test asks of it. Connection problems become named errors; every message is scrubbed of the password.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { scrubbed } from './driver.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { RestoreTargetLoginFailedError, RestoreTargetUnreachableError } from '../errors.ts';

export interface RestoredDatabase {
  /** Whether `schema.name` exists as a table (PostgreSQL: ordinary or partitioned; MySQL: base table). */
  tableExists(schema: string, name: string): Promise<boolean>;
  /** `count(*)` of the table's own rows (PostgreSQL `ONLY`, as the manifest counts them). */
  countRows(schema: string, name: string): Promise<number>;
  /** The first column of every row one statement returns, run in a read-only transaction that is rolled back. */
  firstColumn(sql: string): Promise<unknown[]>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** 'verify': TLS with the server certificate checked (RDS CAs via `ca` or NODE_EXTRA_CA_CERTS); 'disable': local tests only. */
  readonly tls: 'verify' | 'disable';
  /** A PEM file of the CAs to check the certificate against (the tools image's RDS CA bundle). @default Node's CAs and NODE_EXTRA_CA_CERTS */
  readonly ca?: string;
  readonly connectTimeoutMs: number;
  /** Server-side limit per statement: a slow check fails on its own instead of hanging the test. */
  readonly statementTimeoutMs: number;
}

/** The database named in the connection does not exist on the restored server. */
export class DatabaseMissing {
  constructor(readonly database: string) {}
}

export type Connect = (info: ConnectionInfo, options: ConnectOptions) => Promise<RestoredDatabase | DatabaseMissing>;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** TLS that checks the chain and the host name, against `options.ca` when given. */
function verifiedTls(options: ConnectOptions): { rejectUnauthorized: true; ca?: string } {
  return options.ca === undefined ? { rejectUnauthorized: true } : { rejectUnauthorized: true, ca: readFileSync(options.ca, 'utf8') };
}

export const connectRestoredDatabase: Connect = (info, options) =>
  info.engine === 'postgresql' ? connectPostgres(info, options) : connectMysql(info, options);

async function connectPostgres(info: ConnectionInfo, options: ConnectOptions): Promise<RestoredDatabase | DatabaseMissing> {
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.user,
    ...(info.password === undefined ? {} : { password: info.password }),
    database: info.database,
    ssl: options.tls === 'verify' ? verifiedTls(options) : false,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    application_name: 'lifeboat-restore-test',
  });
  // A dropped connection is also emitted as an event; without a listener it would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    const code = codeOf(error);
    if (code === '3D000') return new DatabaseMissing(info.database);
    throw connectFailure(info, error, code === '28P01' || code === '28000');
  }

  const run = async <Row extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
    try {
      return await client.query<Row>(text, values);
    } catch (error) {
      throw lostOr(info, error, !isSqlState(codeOf(error)));
    }
  };
  return {
    async tableExists(schema, name) {
      const result = await run<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')) AS found`,
        [schema, name],
      );
      return result.rows[0]?.found === true;
    },
    async countRows(schema, name) {
      const qualified = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`;
      const result = await run<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${qualified}`);
      return Number(result.rows[0]?.n);
    },
    async firstColumn(sql) {
      await run('BEGIN READ ONLY');
      try {
        // The extended protocol takes exactly one statement, so a check cannot COMMIT its way out of read-only.
        const query: pg.QueryArrayConfig & { queryMode: 'extended' } = { text: sql, rowMode: 'array', queryMode: 'extended' };
        const result = await client.query(query).catch((error: unknown) => {
          throw lostOr(info, error, !isSqlState(codeOf(error)));
        });
        return result.rows.map((row) => row[0] as unknown);
      } finally {
        await run('ROLLBACK').catch(() => undefined);
      }
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

async function connectMysql(info: ConnectionInfo, options: ConnectOptions): Promise<RestoredDatabase | DatabaseMissing> {
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection({
      host: info.host,
      port: info.port,
      user: info.user,
      ...(info.password === undefined ? {} : { password: info.password }),
      database: info.database,
      ...(options.tls === 'verify' ? { ssl: verifiedTls(options) } : {}),
      connectTimeout: options.connectTimeoutMs,
      // One statement per query: a check cannot smuggle a COMMIT or a write after its SELECT.
      multipleStatements: false,
    });
  } catch (error) {
    const code = codeOf(error);
    if (code === 'ER_BAD_DB_ERROR') return new DatabaseMissing(info.database);
    throw connectFailure(info, error, code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR');
  }
  connection.on('error', () => undefined);
  await limitStatementTime(connection, options.statementTimeoutMs);

  // The driver's own timeout destroys the connection: only a backstop behind the server-side limit.
  const clientTimeout = options.statementTimeoutMs + 30_000;
  const run = async (sql: string, values: unknown[] = [], rowsAsArray = false): Promise<unknown> => {
    try {
      const [rows] = await connection.query({ sql, values, rowsAsArray, timeout: clientTimeout });
      return rows;
    } catch (error) {
      throw lostOr(info, error, (error as { fatal?: unknown }).fatal === true);
    }
  };
  return {
    async tableExists(schema, name) {
      const rows = (await run(
        `SELECT COUNT(*) AS n FROM information_schema.TABLES
          WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
        [schema, name],
      )) as { n: number | string }[];
      return Number(rows[0]?.n) > 0;
    },
    async countRows(schema, name) {
      const rows = (await run(`SELECT COUNT(*) AS n FROM ${quoteMysql(schema)}.${quoteMysql(name)}`)) as { n: number | string }[];
      return Number(rows[0]?.n);
    },
    async firstColumn(sql) {
      await run('START TRANSACTION READ ONLY');
      try {
        const rows = await run(sql, [], true);
        // A statement without a result set (an OkPacket) returned no rows.
        return Array.isArray(rows) ? rows.map((row) => (row as unknown[])[0]) : [];
      } finally {
        await run('ROLLBACK').catch(() => undefined);
      }
    },
    async close() {
      await connection.end().catch(() => connection.destroy());
    },
  };
}

/** MySQL calls it max_execution_time (ms, SELECT only); MariaDB max_statement_time (seconds). */
async function limitStatementTime(connection: mysql.Connection, ms: number): Promise<void> {
  try {
    await connection.query(`SET SESSION max_execution_time = ${Math.max(1, Math.round(ms))}`);
  } catch {
    await connection.query(`SET SESSION max_statement_time = ${Math.max(0.001, ms / 1000)}`).catch(() => undefined);
  }
}

function quoteMysql(identifier: string): string {
  return `\`${identifier.replaceAll('`', '``')}\``;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Errors the server sends carry a five-character SQLSTATE; the driver's own (socket closed, timeout) do not. */
function isSqlState(code: string | undefined): boolean {
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code);
}

function connectFailure(info: ConnectionInfo, error: unknown, loginRejected: boolean): Error {
  const where = describeConnection(info);
  const reason = reasonOf(error, info);
  if (loginRejected) {
    return new RestoreTargetLoginFailedError(
      `The restored database ${where} rejected the credentials from the source's secret (${reason}); ` +
        'the secret may have been rotated after the snapshot was taken',
      { cause: scrubbed(error, info) },
    );
  }
  const hint = NETWORK_CODES.has(codeOf(error) ?? '')
    ? '; check that the function runs in the VPC and that the isolated security group admits it'
    : '';
  return new RestoreTargetUnreachableError(`Cannot connect to the restored database ${where}: ${reason}${hint}`, {
    cause: scrubbed(error, info),
  });
}

/** A query error that means the connection is gone becomes a named error; anything else stays a (scrubbed) query error. */
function lostOr(info: ConnectionInfo, error: unknown, lost: boolean): Error {
  if (lost) {
    return new RestoreTargetUnreachableError(
      `Lost the connection to the restored database ${describeConnection(info)}: ${reasonOf(error, info)}`,
      { cause: scrubbed(error, info) },
    );
  }
  return scrubbed(error, info);
}

function reasonOf(error: unknown, info: ConnectionInfo): string {
  if (!(error instanceof Error)) return redact(String(error), info);
  // AggregateError (one failure per address) has an empty message and the details inside.
  const nested = (error as { errors?: unknown }).errors;
  if (error.message === '' && Array.isArray(nested) && nested.length > 0) return nested.map((e) => reasonOf(e, info)).join('; ');
  return redact(error.message || codeOf(error) || error.name, info);
}

/**
 * How a check's first column counts as true: booleans as they are; numbers (and numeric strings, which is
 * how PostgreSQL returns bigint and numeric) when not zero; 't'/'true'/'f'/'false' as booleans; other strings
 * when not empty; bytes (MySQL BIT) when any byte is not zero; NULL never.
 */
export function isTruthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'bigint') return value !== 0n;
  if (Buffer.isBuffer(value)) return value.some((byte) => byte !== 0);
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === '' || text === 'f' || text === 'false') return false;
    if (text === 't' || text === 'true') return true;
    const number = Number(text);
    return Number.isNaN(number) ? true : number !== 0;
  }
  return true;
}
