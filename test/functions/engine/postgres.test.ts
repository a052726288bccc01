/** Backup and restore against the real local PostgreSQL, into a local vault. */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../functions/lib/engine/backup.ts';
import { parseConnectionUrl, withDatabase } from '../../../functions/lib/engine/connection.ts';
import { runRestore } from '../../../functions/lib/engine/restore.ts';
import { ConfigError, SourceUnreachableError, TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { createPostgresDatabase, type PostgresDatabase } from '../../harness/index.ts';
import {
  childPids,
  connectionOf,
  loadPostgresFixture,
  manifestCounts,
  postgresFingerprint,
  tempVault,
  testKeyring,
  wrapStore,
} from './helpers.ts';

const keyring = testKeyring();
let vault: Awaited<ReturnType<typeof tempVault>>;
let source: PostgresDatabase;
const scratch: PostgresDatabase[] = [];

async function scratchDb(): Promise<PostgresDatabase> {
  const db = await createPostgresDatabase('engine');
  scratch.push(db);
  return db;
}

beforeAll(async () => {
  vault = await tempVault();
  source = await scratchDb();
  await loadPostgresFixture(source);
});

afterAll(async () => {
  await Promise.all(scratch.map((db) => db.drop()));
  await vault?.remove();
});

describe('PostgreSQL backup and restore', () => {
  it('round-trips every table, row and byte, with views, functions, triggers and sequences', async () => {
    const progress: number[] = [];
    // One stream: the v1.0 payload (parallel.test.ts has the multi-part one).
    const { manifest } = await runBackup({
      source: connectionOf(source),
      sourceId: 'pg-varied',
      store: vault.store,
      keyring,
      jobs: 1,
      onProgress: (p) => progress.push(p.rawBytes),
    });

    expect(manifest).toMatchObject({
      kind: 'dump',
      engine: 'postgresql',
      source: { database: source.name, host: '127.0.0.1:5432' },
      tools: { dump: { name: 'pg_dump' } },
      payload: { key: 'payload', format: 'pg_dump-custom' },
      compression: { codec: 'zstd', level: 1 },
      encryption: {
        scheme: 'aws-encryption-sdk',
        frameLength: 1048576,
        keyring: keyring.description,
        encryptionContext: { 'lifeboat:source': 'pg-varied', 'lifeboat:backup': manifest.backupId },
      },
    });
    expect(manifest.payload.storedBytes).toBeGreaterThan(5_000_000); // the incompressible 5 MB row
    expect(manifest.payload.rawBytes).toBeGreaterThan(manifest.payload.storedBytes * 0.9);
    expect(progress.at(-1)).toBe(manifest.payload.rawBytes);
    expect((await listBackups(vault.store)).map((m) => m.backupId)).toContain(manifest.backupId);

    const before = await postgresFingerprint(connectionOf(source));
    expect(manifestCounts(manifest.content.tables)).toEqual(Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.rows])));
    expect(manifest.content.tables.every((t) => t.rowsExact)).toBe(true);

    const target = await scratchDb();
    const result = await runRestore({
      store: vault.store,
      sourceId: 'pg-varied',
      backupId: manifest.backupId,
      keyring,
      target: connectionOf(target),
    });
    expect(result.rawBytes).toBe(manifest.payload.rawBytes);
    expect(await postgresFingerprint(connectionOf(target))).toEqual(before);

    const [objects] = await target.query<{ views: string; functions: string; triggers: string; seq: string }>(`
      SELECT (SELECT count(*) FROM pg_views WHERE schemaname = 'sales' AND viewname = 'big_customers') AS views,
             (SELECT count(*) FROM pg_proc WHERE proname IN ('order_total', 'log_order')) AS functions,
             (SELECT count(*) FROM pg_trigger WHERE tgname = 'orders_audit') AS triggers,
             (SELECT last_value FROM public.invoice_number) AS seq`);
    expect(objects).toEqual({ views: '1', functions: '2', triggers: '1', seq: '4242' });
    // The trigger works, and the identity column carries on after the restored rows.
    const [inserted] = await target.query<{ id: string }>(
      `INSERT INTO sales.orders (customer, amount) VALUES ('after restore', 1) RETURNING id`,
    );
    expect(inserted!.id).toBe('5001');
    expect(await target.query(`SELECT note FROM public.audit_log WHERE order_id = 5001`)).toEqual([{ note: 'created' }]);
    const [index] = await target.query(`SELECT indexname FROM pg_indexes WHERE indexname = 'orders_customer_idx'`);
    expect(index).toBeDefined();
  });

  it('counts rows in the snapshot pg_dump reads, exactly, while a writer keeps inserting', async () => {
    const db = await scratchDb();
    await db.query(`CREATE TABLE hot (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp(), pad text)`);
    // Enough data that the dump takes a while: the writer is busy the whole time.
    await db.query(`CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 3)::text) AS pad FROM generate_series(1, 400000) g`);
    const writer = new pg.Client(db.connectionOptions);
    await writer.connect();
    let writing = true;
    let inserted = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query(`INSERT INTO hot (pad) SELECT repeat('x', 100) FROM generate_series(1, 20)`);
        inserted += 20;
      }
    })();
    try {
      while (inserted < 200) await new Promise((r) => setTimeout(r, 5));
      const { manifest } = await runBackup({ source: connectionOf(db), sourceId: 'pg-hot', store: vault.store, keyring });
      const committedByEnd = inserted;
      writing = false;
      await writes;
      const counted = manifestCounts(manifest.content.tables)['public.hot']!;
      expect(counted).toBeGreaterThanOrEqual(200);
      // Rows committed after the snapshot but before the backup ended: the writer really ran alongside.
      expect(committedByEnd).toBeGreaterThan(counted);

      const target = await scratchDb();
      await runRestore({ store: vault.store, sourceId: 'pg-hot', backupId: manifest.backupId, keyring, target: connectionOf(target) });
      const restored = await postgresFingerprint(connectionOf(target));
      expect(restored['public.hot']!.rows).toBe(counted);
      expect(restored['public.bulk']!.rows).toBe(400000);
      expect(manifestCounts(manifest.content.tables)['public.bulk']).toBe(400000);
    } finally {
      writing = false;
      await writes.catch(() => {});
      await writer.end();
    }
  });

  it('restores a single table, schema-qualified or not, and refuses a table the backup lacks', async () => {
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'pg-single', store: vault.store, keyring });
    const before = await postgresFingerprint(connectionOf(source));

    const target = await scratchDb();
    const result = await runRestore({
      store: vault.store,
      sourceId: 'pg-single',
      backupId: manifest.backupId,
      keyring,
      target: connectionOf(target),
      table: 'sales.orders',
    });
    expect(result.table).toEqual({ schema: 'sales', name: 'orders' });
    const restored = await postgresFingerprint(connectionOf(target));
    expect(Object.keys(restored)).toEqual(['sales.orders']);
    expect(restored['sales.orders']).toEqual(before['sales.orders']);

    const other = await scratchDb();
    await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(other), table: 'large_row' });
    expect(await postgresFingerprint(connectionOf(other))).toEqual({ 'public.large_row': before['public.large_row'] });

    const unused = await scratchDb();
    await expect(
      runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(unused), table: 'nope' }),
    ).rejects.toThrow(ConfigError);
  });

  it('refuses a non-empty target, replaces it with dropExisting, and creates a missing one', async () => {
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'pg-target', store: vault.store, keyring });
    const before = await postgresFingerprint(connectionOf(source));

    const occupied = await scratchDb();
    // Not through the harness pool: DROP DATABASE ... WITH (FORCE) would kill its idle connection.
    await runSql(occupied, 'CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)');
    const restore = (dropExisting: boolean) =>
      runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(occupied), dropExisting });
    await expect(restore(false)).rejects.toThrow(TargetNotEmptyError);
    expect(await postgresFingerprint(connectionOf(occupied))).toEqual({ 'public.precious': { rows: 1, md5: expect.any(String) } });

    await restore(true);
    expect(await postgresFingerprint(connectionOf(occupied))).toEqual(before);

    const missing = withDatabase(connectionOf(source), `${source.name}_new`);
    try {
      await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: missing });
      expect(await postgresFingerprint(missing)).toEqual(before);
    } finally {
      await dropDatabase(missing.database);
    }
  });

  it('never puts a password in argv, in errors or in their causes', async () => {
    const password = 'Sup3r-s3cret:p@ss/word';
    // Trust authentication accepts any password: the backup succeeds and pg_dump must get it from PGPASSWORD only.
    let argv = '';
    let environ = '';
    const { manifest } = await runBackup({
      source: connectionOf(source, password),
      sourceId: 'pg-password',
      store: wrapStore(vault.store, {
        putStream: async (key, body) => {
          // A parallel backup runs several pg_dumps; one that has already exited has no /proc entry left.
          for (const pid of argv === '' ? await childPids('pg_dump') : []) {
            const [cmdline, env] = await Promise.all([readFile(`/proc/${pid}/cmdline`, 'utf8'), readFile(`/proc/${pid}/environ`, 'utf8')]).catch(() => ['', '']);
            if (cmdline === '' || env === '') continue;
            [argv, environ] = [cmdline, env];
            break;
          }
          return vault.store.putStream(key, body);
        },
      }),
      keyring,
    });
    expect(argv).toContain('pg_dump');
    expect(argv).not.toContain(password);
    expect(environ).toContain(`PGPASSWORD=${password}`);
    expect(JSON.stringify(manifest)).not.toContain(password);

    const failures = [
      parseConnectionUrl(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:5432/lb_test_does_not_exist`),
      parseConnectionUrl(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:1/${source.name}`),
    ];
    for (const failing of failures) {
      const error = await runBackup({ source: failing, sourceId: 'pg-password', store: vault.store, keyring }).then(
        () => expect.fail('backup should have failed'),
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(SourceUnreachableError);
      expect(everything(error)).not.toContain(password);
      expect(everything(error)).not.toContain(encodeURIComponent(password));
    }
  });
});

/** Message, stack and every cause's message and stack, as one string. */
export function everything(error: unknown): string {
  const parts: string[] = [];
  for (let e = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    parts.push(String((e as Error).message), String((e as Error).stack), JSON.stringify(e));
    if (parts.length > 30) break;
  }
  return parts.join('\n');
}

async function runSql(db: PostgresDatabase, sql: string): Promise<void> {
  const client = new pg.Client(db.connectionOptions);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
