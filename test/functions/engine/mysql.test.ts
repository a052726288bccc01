/** Backup and restore against the real local MariaDB, into a local vault. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../functions/lib/engine/backup.ts';
import { withDatabase } from '../../../functions/lib/engine/connection.ts';
import { runRestore } from '../../../functions/lib/engine/restore.ts';
import { ConfigError, SourceUnreachableError, TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import { createMariaDbDatabase, type MariaDbDatabase } from '../../harness/index.ts';
import {
  childPids,
  connectionOf,
  loadMysqlFixture,
  mysqlFingerprint,
  tempVault,
  testKeyring,
  wrapStore,
} from './helpers.ts';

const keyring = testKeyring();
let vault: Awaited<ReturnType<typeof tempVault>>;
let source: MariaDbDatabase;
const scratch: MariaDbDatabase[] = [];

async function scratchDb(): Promise<MariaDbDatabase> {
  const db = await createMariaDbDatabase('engine');
  scratch.push(db);
  return db;
}

/** A connection of our own (the harness pool would be cut by DROP DATABASE in dropExisting). */
async function withConnection<T>(db: MariaDbDatabase, use: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const connection = await mysql.createConnection({ ...db.connectionOptions, charset: 'utf8mb4' });
  try {
    return await use(connection);
  } finally {
    await connection.end();
  }
}

function countsByName(tables: readonly { name: string; rows: number }[]): Record<string, number> {
  return Object.fromEntries(tables.map((t) => [t.name, t.rows]));
}

beforeAll(async () => {
  vault = await tempVault();
  source = await scratchDb();
  await loadMysqlFixture(source);
  await withConnection(source, (c) =>
    c.query(`CREATE EVENT nightly_cleanup ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit_log WHERE id < 0`),
  );
});

afterAll(async () => {
  await Promise.all(scratch.map((db) => db.drop()));
  await vault?.remove();
});

describe('MySQL/MariaDB backup and restore', () => {
  it('round-trips every table, row and byte, with views, routines, triggers and events', async () => {
    const { manifest, warnings } = await runBackup({ source: connectionOf(source), sourceId: 'my-varied', store: vault.store, keyring });
    expect(warnings).toEqual([]);
    expect(manifest).toMatchObject({
      kind: 'dump',
      engine: 'mysql',
      source: { database: source.name },
      tools: { dump: { name: 'mysqldump' } },
      payload: { format: 'mysqldump-sql' },
      compression: { codec: 'zstd', level: 1 },
      encryption: { keyring: keyring.description },
    });
    expect(manifest.source.serverVersion).toMatch(/MariaDB/);

    const before = await mysqlFingerprint(connectionOf(source));
    expect(countsByName(manifest.content.tables)).toEqual(Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.rows])));
    expect(manifest.content.tables.every((t) => t.rowsExact)).toBe(true);

    const target = await scratchDb();
    await runRestore({ store: vault.store, sourceId: 'my-varied', backupId: manifest.backupId, keyring, target: connectionOf(target) });
    expect(await mysqlFingerprint(connectionOf(target))).toEqual(before);

    const objects = await withConnection(target, async (c) => {
      const [[counts]] = await c.query<mysql.RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()) AS views,
                (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()) AS routines,
                (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()) AS triggers,
                (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()) AS events`,
      );
      // The routine and trigger work, and AUTO_INCREMENT carries on after the restored rows.
      await c.query(`CALL add_order('after restore', 1)`);
      const [[order]] = await c.query<mysql.RowDataPacket[]>(`SELECT MAX(id) AS id FROM orders`);
      const [audit] = await c.query<mysql.RowDataPacket[]>(`SELECT note FROM audit_log WHERE order_id = ?`, [order?.id]);
      const [[total]] = await c.query<mysql.RowDataPacket[]>(`SELECT order_total('after restore') AS t`);
      return { ...counts, orderIdAfterRestored: Number(order?.id) > 5000, audit, total: String(total?.t) };
    });
    expect(objects).toEqual({
      views: 1,
      routines: 2,
      triggers: 1,
      events: 1,
      orderIdAfterRestored: true,
      audit: [{ note: 'created' }],
      total: '1.00',
    });
  });

  it('counts exactly the rows in the dump while a writer keeps inserting', async () => {
    const db = await scratchDb();
    await withConnection(db, async (c) => {
      await c.query(`CREATE TABLE hot (id bigint AUTO_INCREMENT PRIMARY KEY, pad varchar(200))`);
      await c.query(`CREATE TABLE bulk (id int PRIMARY KEY, pad varchar(100))`);
      await c.query(`INSERT INTO bulk SELECT seq, CONCAT(MD5(seq), MD5(seq * 3)) FROM seq_1_to_300000`);
    });
    const writer = await mysql.createConnection(db.connectionOptions);
    let writing = true;
    let inserted = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query(`INSERT INTO hot (pad) SELECT REPEAT('x', 100) FROM seq_1_to_20`);
        inserted += 20;
      }
    })();
    try {
      while (inserted < 200) await new Promise((r) => setTimeout(r, 5));
      const { manifest } = await runBackup({ source: connectionOf(db), sourceId: 'my-hot', store: vault.store, keyring });
      const committedByEnd = inserted;
      writing = false;
      await writes;
      const counted = countsByName(manifest.content.tables).hot!;
      expect(counted).toBeGreaterThanOrEqual(200);
      // Rows committed after mysqldump's snapshot but before the backup ended: the writer really ran alongside.
      expect(committedByEnd).toBeGreaterThan(counted);

      const target = await scratchDb();
      await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(target) });
      const restored = await mysqlFingerprint(connectionOf(target));
      expect(restored.hot!.rows).toBe(counted);
      expect(restored.bulk!.rows).toBe(300000);
      expect(manifest.content.tables.find((t) => t.name === 'bulk')).toEqual({ schema: db.name, name: 'bulk', rows: 300000, rowsExact: true });
    } finally {
      writing = false;
      await writes.catch(() => {});
      await writer.end();
    }
  });

  it('refuses a non-empty target, replaces it with dropExisting, creates a missing one, and restores a single table alone', async () => {
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'my-target', store: vault.store, keyring });
    const before = await mysqlFingerprint(connectionOf(source));

    const occupied = await scratchDb();
    await withConnection(occupied, (c) => c.query('CREATE TABLE precious (id int)'));
    const restore = (dropExisting: boolean) =>
      runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(occupied), dropExisting });
    await expect(restore(false)).rejects.toThrow(TargetNotEmptyError);
    expect(Object.keys(await mysqlFingerprint(connectionOf(occupied)))).toEqual(['precious']);
    await restore(true);
    expect(await mysqlFingerprint(connectionOf(occupied))).toEqual(before);

    const missing = withDatabase(connectionOf(source), `${source.name}_new`);
    try {
      await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: missing });
      expect(await mysqlFingerprint(missing)).toEqual(before);
    } finally {
      await withConnection(source, (c) => c.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(missing.database)}`));
    }

    const unused = await scratchDb();
    // A single table comes back alone (tableRestore.test.ts covers its keys, indexes and triggers).
    await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(unused), table: 'orders' });
    expect(Object.keys(await mysqlFingerprint(connectionOf(unused)))).toEqual(['orders']);
  });

  it('passes the password only as MYSQL_PWD, never in argv or errors, and leaves out events it may not read', async () => {
    const user = `lb_${randomBytes(4).toString('hex')}`;
    const password = `Pw-${randomBytes(6).toString('hex')}:@/`;
    await withConnection(source, async (c) => {
      await c.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, password]);
      // Everything mysqldump needs except EVENT.
      await c.query(`GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES ON ${mysql.escapeId(source.name)}.* TO ?@'%'`, [user]);
      await c.query(`GRANT SELECT ON mysql.proc TO ?@'%'`, [user]).catch(() => {});
    });
    try {
      const restricted = { ...connectionOf(source), user, password };
      let argv = '';
      let environ = '';
      const { manifest, warnings } = await runBackup({
        source: restricted,
        sourceId: 'my-password',
        store: wrapStore(vault.store, {
          putStream: async (key, body) => {
            const [pid] = await childPids('mysqldump');
            if (pid !== undefined) {
              argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
              environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
            }
            return vault.store.putStream(key, body);
          },
        }),
        keyring,
      });
      expect(argv).toContain('mysqldump');
      expect(argv).not.toContain(password);
      expect(environ).toContain(`MYSQL_PWD=${password}`);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^events not backed up: .*denied/i);
      expect(JSON.stringify(manifest)).not.toContain(password);
      expect(manifest.content.tables.length).toBeGreaterThan(0);

      const error = await runBackup({
        source: { ...restricted, password: `${password}-wrong` },
        sourceId: 'my-password',
        store: vault.store,
        keyring,
      }).then(
        () => expect.fail('backup should have failed'),
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(SourceUnreachableError);
      expect(error.message).toMatch(/Access denied/);
      for (let e: unknown = error; e; e = (e as Error).cause) {
        expect(`${(e as Error).message}\n${(e as Error).stack}\n${JSON.stringify(e)}`).not.toContain(password);
      }
    } finally {
      await withConnection(source, (c) => c.query(`DROP USER IF EXISTS ?@'%'`, [user]));
    }
  });
});
