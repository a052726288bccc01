/**
 * Scratch databases for the restore test: `lb_verify_<source>_<UTC yyyymmddhhmmss>_<random>` on the
 * verification server, created empty before the restore and dropped afterwards whatever happened (on
 * SIGINT/SIGTERM too, through the interrupt registry). The name is unique per run, so concurrent
 * verifications of the same source never meet; its creation time lets {@link sweepStaleScratch} tell a
 * leftover of a run that was killed (a Lambda timeout) from one still in use.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { type ConnectionInfo, describeConnection, redact, withDatabase } from '../engine/connection.ts';
import { messageOf } from '../engine/driver.ts';
import { connectMysql, prepareMysqlTarget } from '../engine/mysql.ts';
import { onInterrupt } from '../engine/interrupt.ts';
import { connectPostgres, preparePostgresTarget } from '../engine/postgres.ts';

export const SCRATCH_PREFIX = 'lb_verify_';
const POSTGRES_MAINTENANCE_DATABASE = 'postgres';

export interface ScratchDatabase {
  /** The server's connection with the scratch database as its database. */
  readonly target: ConnectionInfo;
  /** Drops the database, ending any session still in it. Safe to call twice; tries twice before giving up. */
  drop(): Promise<void>;
}

/** Longest source part of a scratch name, so the whole fits PostgreSQL's 63-byte identifiers (MySQL: 64). */
const MAX_SOURCE_PART = 28;

/** `lb_verify_orders_db_20261202115959_3f9a1c2e`: at most 61 characters for any source id. */
export function scratchDatabaseName(sourceId: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
  return `${SCRATCH_PREFIX}${sourceId.replace(/[^a-z0-9]/g, '_').slice(0, MAX_SOURCE_PART)}_${stamp}_${randomBytes(4).toString('hex')}`;
}

/** When a scratch database was created, from its name; undefined for a name this code did not make (never swept). */
export function scratchCreatedAt(name: string): Date | undefined {
  const match = /^lb_verify_[a-z0-9_]*_(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_[0-9a-f]{8}$/.exec(name);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, sec] = match;
  const at = new Date(`${y}-${mo}-${d}T${h}:${mi}:${sec}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/**
 * Creates an empty scratch database on `server` (its `database` is ignored). Connection or permission
 * failures propagate as the engine's named errors (`SourceUnreachableError`, `RestoreFailedError`): they
 * say nothing about the backup, so they must not become a failed verification.
 */
export async function createScratchDatabase(server: ConnectionInfo, sourceId: string): Promise<ScratchDatabase> {
  const target = withDatabase(server, scratchDatabaseName(sourceId));
  let dropped = false;
  let release = () => {};
  const scratch: ScratchDatabase = {
    target,
    async drop() {
      if (dropped) return;
      try {
        await dropDatabase(target);
      } catch {
        // A session that was still closing can make the first attempt fail; the second one is decisive.
        await dropDatabase(target);
      }
      dropped = true;
      release();
    },
  };
  release = onInterrupt('dropped', `scratch database ${describeConnection(target)}`, () => scratch.drop());
  try {
    if (server.engine === 'postgresql') await preparePostgresTarget(target, { dropExisting: false });
    else await prepareMysqlTarget(target, { dropExisting: false });
  } catch (error) {
    // CREATE may have succeeded before a later step failed.
    await scratch.drop().catch(() => {});
    throw error;
  }
  return scratch;
}

/** Drops `target.database` on its server (PostgreSQL: ending its sessions with FORCE; MySQL: killing them first). Absent is not an error. */
export async function dropDatabase(target: ConnectionInfo): Promise<void> {
  if (target.engine === 'postgresql') {
    const admin = await connectPostgres(withDatabase(target, POSTGRES_MAINTENANCE_DATABASE));
    try {
      // FORCE ends sessions still connected (a killed pg_restore's backend may linger for a moment).
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(target.database)} WITH (FORCE)`);
    } finally {
      await admin.end().catch(() => {});
    }
    return;
  }
  const admin = await connectMysql(target, null);
  try {
    // MariaDB and MySQL have no DROP DATABASE ... FORCE: end the sessions using it first.
    const [sessions] = await admin.query<mysql.RowDataPacket[]>(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [target.database],
    );
    for (const { id } of sessions) await admin.query(`KILL CONNECTION ${Number(id)}`).catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(target.database)}`);
  } finally {
    await admin.end().catch(() => {});
  }
}

/** A drop failure, for the result: which database is left behind, and why. */
export function describeDropFailure(scratch: ScratchDatabase, error: unknown): string {
  return `the scratch database ${describeConnection(scratch.target)} could not be dropped and is left behind: ${redact(messageOf(error), scratch.target)}`;
}

/**
 * Throws the engine's `SourceUnreachableError` if `server` cannot be reached now. Asked after a restore
 * failed: a restore cut off by the server going away is not a verdict on the backup.
 */
export async function assertServerReachable(server: ConnectionInfo): Promise<void> {
  if (server.engine === 'postgresql') {
    const client = await connectPostgres(withDatabase(server, POSTGRES_MAINTENANCE_DATABASE));
    await client.end().catch(() => {});
  } else {
    const connection = await connectMysql(server, null);
    await connection.end().catch(() => {});
  }
}

/** A scratch database found on a server, with what the sweeper made of it. */
export interface ScratchFound {
  readonly database: string;
  /** From the name; absent for names without a timestamp (made by an older Lifeboat: never dropped automatically). */
  readonly createdAt?: Date;
  /** Sessions connected to it now: a restore test still running. */
  readonly sessions: number;
}

/** Every `lb_verify_*` database on `server`, with its age and connected sessions. */
export async function listScratchDatabases(server: ConnectionInfo): Promise<ScratchFound[]> {
  return listDatabases(server, (name) => name.startsWith(SCRATCH_PREFIX)).then((found) =>
    found.map((db) => {
      const createdAt = scratchCreatedAt(db.database);
      return { ...db, ...(createdAt ? { createdAt } : {}) };
    }),
  );
}

/** Databases on `server` whose names `match`, with the number of sessions connected to each. */
export async function listDatabases(server: ConnectionInfo, match: (name: string) => boolean): Promise<{ database: string; sessions: number }[]> {
  if (server.engine === 'postgresql') {
    const admin = await connectPostgres(withDatabase(server, POSTGRES_MAINTENANCE_DATABASE));
    try {
      const result = await admin.query<{ name: string; sessions: string }>(
        `SELECT d.datname AS name, (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) AS sessions
           FROM pg_database d WHERE NOT d.datistemplate ORDER BY 1`,
      );
      return result.rows.filter((row) => match(row.name)).map((row) => ({ database: row.name, sessions: Number(row.sessions) }));
    } finally {
      await admin.end().catch(() => {});
    }
  }
  const admin = await connectMysql(server, null);
  try {
    const [rows] = await admin.query<mysql.RowDataPacket[]>(
      `SELECT s.SCHEMA_NAME AS name, (SELECT COUNT(*) FROM information_schema.PROCESSLIST p WHERE p.DB = s.SCHEMA_NAME) AS sessions
         FROM information_schema.SCHEMATA s ORDER BY 1`,
    );
    return rows.filter((row) => match(String(row.name))).map((row) => ({ database: String(row.name), sessions: Number(row.sessions) }));
  } finally {
    await admin.end().catch(() => {});
  }
}

export interface SweepOptions {
  /** A scratch database younger than this may belong to a verification still running. */
  readonly olderThanMs: number;
  /** @default the system clock */
  readonly now?: Date;
}

/**
 * Drops the scratch databases a killed verification left on `server` (a Lambda that timed out never
 * reaches its `finally`): those created more than `olderThanMs` ago with no session connected. Younger
 * ones, ones in use and names without a timestamp are left alone. Returns the names dropped.
 */
export async function sweepStaleScratch(server: ConnectionInfo, options: SweepOptions): Promise<string[]> {
  const now = (options.now ?? new Date()).getTime();
  const stale = (await listScratchDatabases(server)).filter(
    (db) => db.createdAt !== undefined && now - db.createdAt.getTime() > options.olderThanMs && db.sessions === 0,
  );
  const dropped: string[] = [];
  for (const db of stale) {
    // One that cannot be dropped now is tried again by the next run; it must not stop this verification.
    const gone = await dropDatabase(withDatabase(server, db.database)).then(() => true, () => false);
    if (gone) dropped.push(db.database);
  }
  return dropped;
}
