/**
 * MySQL and MariaDB: mysqldump in one consistent InnoDB snapshot (`--single-transaction`), streaming
 * rows (`--quick`), with routines, triggers and events, binary data as hex. Row counts are read from
 * the dump itself as it streams (see mysqlRowCounter.ts), so they are exactly the rows in the backup
 * even under concurrent writes; a COUNT(*) on a second connection could not promise that.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { RestoreFailedError, SourceUnreachableError, TargetNotEmptyError } from '../errors.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { type DumpPlan, messageOf, type RestorePlan, scrubbed } from './driver.ts';
import { MysqlRowCounter } from './mysqlRowCounter.ts';
import { toolVersionLine } from './process.ts';

/** MySQL's own client tools, or MariaDB's (which differ in a few flags). */
export type ClientFlavour = 'mysql' | 'mariadb';

export function mysqlEnv(info: ConnectionInfo): Record<string, string> {
  return info.password === undefined ? {} : { MYSQL_PWD: info.password };
}

/** The connection flags of every MySQL client call (mysqldump, mysql): host, port, user, TCP, TLS. */
export function connectionArgs(info: ConnectionInfo, flavour: ClientFlavour): string[] {
  // TCP even for "localhost", which the clients would otherwise take as the Unix socket.
  return [`--host=${info.host}`, `--port=${info.port}`, `--user=${info.user}`, '--protocol=TCP', ...sslArgs(info.sslMode, flavour, info.sslRootCert)];
}

/**
 * MySQL's clients take `--ssl-mode` (VERIFY_IDENTITY checks the chain and the host name); MariaDB's take
 * `--ssl-verify-server-cert`, which checks both. Either way the CA bundle is `--ssl-ca`.
 */
export function sslArgs(mode: string | undefined, flavour: ClientFlavour, caFile?: string): string[] {
  if (mode === undefined) return [];
  const m = mode.toLowerCase().replace(/_/g, '-');
  const verify = m.startsWith('verify');
  const ca = verify && caFile !== undefined ? [`--ssl-ca=${caFile}`] : [];
  if (flavour === 'mysql') return [`--ssl-mode=${m === 'require' ? 'REQUIRED' : m.toUpperCase().replace(/-/g, '_')}`, ...ca];
  if (m === 'disable' || m === 'disabled') return ['--skip-ssl'];
  if (verify) return ['--ssl', '--ssl-verify-server-cert', ...ca];
  return ['--ssl'];
}

export async function connectMysql(info: ConnectionInfo, database: string | null = info.database): Promise<mysql.Connection> {
  try {
    return await mysql.createConnection({
      host: info.host,
      port: info.port,
      user: info.user,
      ...(info.password === undefined ? {} : { password: info.password }),
      ...(database === null ? {} : { database }),
      connectTimeout: 15_000,
      charset: 'utf8mb4',
      ...(info.sslMode !== undefined && !/^disabled?$/i.test(info.sslMode)
        ? { ssl: { rejectUnauthorized: /^verify/i.test(info.sslMode), ...(/^verify/i.test(info.sslMode) && info.sslRootCert !== undefined ? { ca: readFileSync(info.sslRootCert, 'utf8') } : {}) } }
        : {}),
    });
  } catch (error) {
    throw new SourceUnreachableError(`Cannot connect to ${describeConnection(info)}: ${redact(messageOf(error), info)}`, {
      cause: scrubbed(error, info),
    });
  }
}

async function clientFlavour(tool: 'mysqldump' | 'mysql'): Promise<{ flavour: ClientFlavour; versionLine: string }> {
  const versionLine = await toolVersionLine(tool);
  return { flavour: /mariadb/i.test(versionLine) ? 'mariadb' : 'mysql', versionLine };
}

/**
 * The client's own version from its `--version` line: `mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for …` →
 * `10.11.19-MariaDB`; MariaDB 11's `mariadb-dump from 11.4.2-MariaDB, client 10.19 …` → `11.4.2-MariaDB`; MySQL 8's
 * `mysqldump  Ver 8.4.3 for Linux …` → `8.4.3`; MySQL 5.7's `Ver 10.13 Distrib 5.7.44, …` → `5.7.44`.
 */
export function parseMysqldumpVersion(line: string): string {
  return /Distrib\s+([^\s,]+)/.exec(line)?.[1] ?? /\bfrom\s+(\d[^\s,]*)/.exec(line)?.[1] ?? /Ver\s+([^\s,]+)/.exec(line)?.[1] ?? line;
}

/** Which mysqldump the image (or the machine) has, from its `--version` line. */
export interface MysqldumpClient {
  readonly flavour: ClientFlavour;
  /** e.g. `8.4.3`, `10.11.19-MariaDB` */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
}

export function mysqldumpClient(versionLine: string): MysqldumpClient {
  const version = parseMysqldumpVersion(versionLine);
  const [major = 0, minor = 0] = (/^(\d+)\.(\d+)/.exec(version)?.slice(1) ?? []).map(Number);
  return { flavour: /mariadb/i.test(versionLine) ? 'mariadb' : 'mysql', version, major, minor };
}

/**
 * The flags that depend on which mysqldump runs against which server (the rest are the same for all), and
 * what a user must know about a pairing that cannot dump faithfully.
 *
 * MySQL's mysqldump (the image's: MySQL 8.4):
 * - `--set-gtid-purged=OFF`: without it a dump of a server with GTIDs (RDS MySQL and Aurora MySQL 3 with
 *   `gtid_mode=ON`) starts with `SET @@GLOBAL.GTID_PURGED`, which fails on a restore into any server that has
 *   executed transactions (every RDS instance), and makes mysqldump take `FLUSH TABLES WITH READ LOCK`, which
 *   RDS's admin user may not.
 * - `--column-statistics=0` (8.0 clients on): no `ANALYZE TABLE … UPDATE HISTOGRAM` statements; they are
 *   optimizer statistics, not data, and reading them queries `information_schema.COLUMN_STATISTICS`, which
 *   MariaDB and MySQL 5.7 servers lack (the dump then fails outright).
 * MariaDB's mysqldump knows neither option (it refuses unknown options), and against a MySQL 8 server it
 * has known gaps: no `caching_sha2_password` login (MySQL 8.4's default), invisible columns dumped as
 * visible, no knowledge of the 8.0 data dictionary; a warning says so.
 */
export function mysqldumpFlavourArgs(client: MysqldumpClient, serverVersion: string): { args: string[]; warnings: string[] } {
  const serverIsMariadb = /mariadb/i.test(serverVersion);
  const serverMajor = Number(/^(\d+)\./.exec(serverVersion)?.[1] ?? 0);
  if (client.flavour === 'mysql') {
    const args = ['--set-gtid-purged=OFF'];
    if (client.major >= 8) args.push('--column-statistics=0');
    const warnings =
      client.major >= 8 || serverIsMariadb || serverMajor < 8
        ? []
        : [`mysqldump ${client.version} is older than the MySQL ${serverVersion} server it dumps; use a MySQL 8.0 or newer client`];
    return { args, warnings };
  }
  const warnings =
    !serverIsMariadb && serverMajor >= 8
      ? [
          `MariaDB's mysqldump ${client.version} does not dump MySQL ${serverVersion} faithfully (invisible columns, ` +
            'caching_sha2_password logins, the 8.0 data dictionary); the tools image carries MySQL 8.4\'s client for this',
        ]
      : [];
  return { args: [], warnings };
}

export async function prepareMysqlDump(source: ConnectionInfo): Promise<DumpPlan> {
  const [{ flavour, versionLine }, connection] = await Promise.all([clientFlavour('mysqldump'), connectMysql(source)]);
  const client = mysqldumpClient(versionLine);
  const warnings: string[] = [];
  let serverVersion: string;
  let withEvents = true;
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    serverVersion = String(rows[0]?.v);
    try {
      // mysqldump --events fails outright without the EVENT privilege; leave events out and say so instead.
      await connection.query(`SHOW EVENTS FROM ${mysql.escapeId(source.database)}`);
    } catch (error) {
      withEvents = false;
      warnings.push(`events not backed up: ${redact(messageOf(error), source)}`);
    }
  } finally {
    await connection.end().catch(() => {});
  }
  const byFlavour = mysqldumpFlavourArgs(client, serverVersion);
  warnings.push(...byFlavour.warnings);
  const args = [
    ...connectionArgs(source, flavour),
    '--single-transaction',
    '--quick',
    '--routines',
    '--triggers',
    ...(withEvents ? ['--events'] : []),
    '--hex-blob',
    // Tablespace statements need the PROCESS privilege and would not apply on another server anyway.
    '--no-tablespaces',
    // --single-transaction already gives consistency; LOCK TABLES would only block writers.
    '--skip-lock-tables',
    '--default-character-set=utf8mb4',
    ...byFlavour.args,
    source.database,
  ];
  const counter = new MysqlRowCounter();
  return {
    command: 'mysqldump',
    args,
    env: mysqlEnv(source),
    payloadFormat: 'mysqldump-sql',
    toolName: 'mysqldump',
    toolVersion: client.version,
    serverVersion,
    warnings,
    inspector: counter,
    tables: async () =>
      counter.tables.map((table) => ({ schema: source.database, name: table.name, rows: table.rows, rowsExact: true })),
    close: async () => {},
  };
}

/** Same contract as the PostgreSQL one: an empty database named `target.database`, created if missing. */
export async function prepareMysqlTarget(target: ConnectionInfo, options: { dropExisting: boolean }): Promise<{ created: boolean }> {
  const connection = await connectMysql(target, null);
  try {
    const name = mysql.escapeId(target.database);
    const [schemas] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [target.database],
    );
    if (schemas.length > 0 && options.dropExisting) {
      await connection.query(`DROP DATABASE ${name}`);
    } else if (schemas.length > 0) {
      const [objects] = await connection.query<mysql.RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?)
              + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) AS n`,
        [target.database, target.database],
      );
      const count = Number(objects[0]?.n ?? 0);
      if (count > 0) {
        throw new TargetNotEmptyError(
          `Target database ${describeConnection(target)} is not empty (${count} user objects); ` +
            'restore into an empty or new database, or replace it with --drop-existing',
        );
      }
      return { created: false };
    }
    await connection.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    return { created: true };
  } catch (error) {
    if (error instanceof TargetNotEmptyError) throw error;
    throw new RestoreFailedError(`Cannot prepare target ${describeConnection(target)}: ${redact(messageOf(error), target)}`, {
      cause: scrubbed(error, target),
    });
  } finally {
    await connection.end().catch(() => {});
  }
}

/**
 * Puts the target back to empty after a failed restore. The mysql client runs statements as they
 * arrive and DDL commits implicitly, so unlike pg_restore --single-transaction a cut-off restore would
 * leave part of the backup behind; the target was empty before (that is checked), so emptying it is safe.
 */
export async function resetMysqlTarget(target: ConnectionInfo): Promise<void> {
  const connection = await connectMysql(target, null);
  try {
    const name = mysql.escapeId(target.database);
    await connection.query(`DROP DATABASE IF EXISTS ${name}`);
    await connection.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  } finally {
    await connection.end().catch(() => {});
  }
}

export async function mysqlRestorePlan(target: ConnectionInfo): Promise<RestorePlan> {
  const { flavour } = await clientFlavour('mysql');
  return {
    command: 'mysql',
    args: [...connectionArgs(target, flavour), '--default-character-set=utf8mb4', '--batch', target.database],
    env: mysqlEnv(target),
  };
}
