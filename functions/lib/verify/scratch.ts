/**
 * Scratch databases for the restore test: `lb_verify_<source>_<random>` on the verification server,
 * created empty before the restore and dropped afterwards whatever happened. The name is unique per
 * run, so concurrent verifications of the same source never meet, and leftovers are easy to spot.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { type ConnectionInfo, describeConnection, redact, withDatabase } from '../engine/connection.ts';
import { messageOf } from '../engine/driver.ts';
import { connectMysql, prepareMysqlTarget } from '../engine/mysql.ts';
import { connectPostgres, preparePostgresTarget } from '../engine/postgres.ts';

export const SCRATCH_PREFIX = 'lb_verify_';
const POSTGRES_MAINTENANCE_DATABASE = 'postgres';

export interface ScratchDatabase {
  /** The server's connection with the scratch database as its database. */
  readonly target: ConnectionInfo;
  /** Drops the database, ending any session still in it. Safe to call twice; tries twice before giving up. */
  drop(): Promise<void>;
}

/** `lb_verify_orders_db_3f9a1c2e`: fits both engines' 63/64-character identifier limits for any source id. */
export function scratchDatabaseName(sourceId: string): string {
  return `${SCRATCH_PREFIX}${sourceId.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
}

/**
 * Creates an empty scratch database on `server` (its `database` is ignored). Connection or permission
 * failures propagate as the engine's named errors (`SourceUnreachableError`, `RestoreFailedError`): they
 * say nothing about the backup, so they must not become a failed verification.
 */
export async function createScratchDatabase(server: ConnectionInfo, sourceId: string): Promise<ScratchDatabase> {
  const target = withDatabase(server, scratchDatabaseName(sourceId));
  let dropped = false;
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
    },
  };
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
