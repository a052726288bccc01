/**
 * Parallel PostgreSQL backup and restore (vault format v1.1) against the real local server: round trips
 * that keep every row, index, constraint, sequence and trigger; exact counts under a concurrent writer;
 * a stream killed mid-way; a damaged part; and a v1.0 backup made before parts existed.
 */
import { chmod, copyFile, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringFromKeyFile } from '../../../functions/lib/crypto/keyring.ts';
import { runBackup } from '../../../functions/lib/engine/backup.ts';
import { withDatabase } from '../../../functions/lib/engine/connection.ts';
import { assignTables, tablePattern } from '../../../functions/lib/engine/postgresParallel.ts';
import { runRestore } from '../../../functions/lib/engine/restore.ts';
import { ChecksumMismatchError, DecompressionFailedError, DumpFailedError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import { listBackups, listIncomplete } from '../../../functions/lib/vault/catalog.ts';
import { pruneVault } from '../../../functions/lib/retention/prune.ts';
import { backupPrefix, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { type DumpManifest, payloadObjects } from '../../../functions/lib/vault/manifest.ts';
import { ensureBenchDatabase } from '../../../bench/generate.ts';
import { dropDatabase as dropBenchDatabase } from '../../../bench/server.ts';
import { createPostgresDatabase, type PostgresDatabase } from '../../harness/index.ts';
import { sampleVerification } from '../vault/fixtures.ts';
import {
  childPids,
  connectionOf,
  failAfter,
  loadPostgresFixture,
  manifestCounts,
  postgresFingerprint,
  tempVault,
  testKeyring,
  through,
  wrapStore,
} from './helpers.ts';

const FIXTURE_VAULT = fileURLToPath(new URL('../../fixtures/engine/v1-vault/', import.meta.url));
const keyring = testKeyring();
let vault: Awaited<ReturnType<typeof tempVault>>;
let varied: PostgresDatabase;
const scratch: PostgresDatabase[] = [];

async function scratchDb(): Promise<PostgresDatabase> {
  const db = await createPostgresDatabase('parallel');
  scratch.push(db);
  return db;
}

beforeAll(async () => {
  vault = await tempVault();
  varied = await scratchDb();
  await loadPostgresFixture(varied);
  // A foreign key, so that post-data has a constraint that needs another table's index.
  await varied.query(`CREATE TABLE public.order_notes (order_id bigint NOT NULL REFERENCES sales.orders (id), note text NOT NULL);
    INSERT INTO public.order_notes SELECT id, 'note ' || id FROM sales.orders WHERE id % 3 = 0`);
});

afterAll(async () => {
  await Promise.all(scratch.map((db) => db.drop()));
  await vault?.remove();
});

/** What a restore must carry besides rows: index and constraint definitions, triggers, sequence positions. */
async function schemaFacts(db: PostgresDatabase): Promise<Record<string, unknown>> {
  const client = new pg.Client(db.connectionOptions);
  await client.connect();
  try {
    const rows = async (sql: string) => (await client.query(sql)).rows;
    return {
      indexes: await rows(`SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname IN ('public', 'sales') ORDER BY 1, 2`),
      constraints: await rows(`SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
                                WHERE connamespace IN ('public'::regnamespace, 'sales'::regnamespace) ORDER BY 1, 2`),
      triggers: await rows(`SELECT tgrelid::regclass::text AS rel, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`),
      sequences: await rows(`SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE schemaname IN ('public', 'sales') ORDER BY 1, 2`),
      views: await rows(`SELECT schemaname, viewname FROM pg_views WHERE schemaname IN ('public', 'sales') ORDER BY 1, 2`),
    };
  } finally {
    await client.end();
  }
}

async function userTableCount(db: { connectionOptions: pg.ClientConfig }): Promise<number> {
  const client = new pg.Client(db.connectionOptions);
  await client.connect();
  try {
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`);
    return Number(result.rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** SIGKILL, as the out-of-memory killer sends it; false when the process had already gone (pgrep and kill race). */
function killProcess(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

async function databaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount! > 0;
  } finally {
    await admin.end();
  }
}

describe('parallel plan', () => {
  it('puts the largest tables first into the lightest stream, never more streams than tables', () => {
    const t = (name: string, bytes: number) => ({ schema: 'public', name, bytes });
    const bins = assignTables([t('customers', 5), t('orders', 30), t('events', 47), t('attachments', 18)], 2);
    expect(bins.map((bin) => bin.map((x) => x.name))).toEqual([['events', 'customers'], ['orders', 'attachments']]);
    expect(assignTables([t('only', 1)], 8)).toHaveLength(1);
    expect(assignTables([], 4)).toEqual([[]]);
  });

  it('quotes table patterns so that nothing in a name is a wildcard', () => {
    expect(tablePattern({ schema: 'Sales.EU', name: 'a*b?"c"' })).toBe('"Sales.EU"."a*b?""c"""');
  });
});

describe('parallel PostgreSQL backup and restore', () => {
  it('round-trips varied types with 3 jobs: rows, indexes, constraints, sequences, triggers and views', async () => {
    const { manifest } = await runBackup({ source: connectionOf(varied), sourceId: 'pg-parallel', store: vault.store, keyring, jobs: 3 });

    expect(manifest.formatVersion).toBe('1.1');
    expect(manifest.payload.format).toBe('pg_dump-custom-parts');
    const objects = payloadObjects(manifest);
    expect(objects.map((o) => o.section)).toEqual(['pre-data', 'data', 'data', 'data', 'post-data']);
    expect(objects.map((o) => o.key)).toEqual(['payload.pre-data', 'payload.data-1', 'payload.data-2', 'payload.data-3', 'payload.post-data']);
    // Every table's rows are in exactly one data part.
    const inParts = (manifest.payload.parts ?? []).flatMap((p) => (p.tables ?? []).map((t) => `${t.schema}.${t.name}`)).sort();
    expect(inParts).toEqual(manifest.content.tables.map((t) => `${t.schema}.${t.name}`).sort());
    for (const object of objects) {
      expect((await vault.store.head(`${backupPrefix('pg-parallel', manifest.backupId)}${object.key}`))?.bytes).toBe(object.storedBytes);
    }

    const before = await postgresFingerprint(connectionOf(varied));
    expect(manifestCounts(manifest.content.tables)).toEqual(Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.rows])));

    const target = await scratchDb();
    const result = await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(target), jobs: 2 });
    expect(result.rawBytes).toBe(manifest.payload.rawBytes);
    expect(await postgresFingerprint(connectionOf(target))).toEqual(before);
    expect(await schemaFacts(target)).toEqual(await schemaFacts(varied));
    // The trigger fires and the identity column carries on after the restored rows.
    const [inserted] = await target.query<{ id: string }>(`INSERT INTO sales.orders (customer, amount) VALUES ('after restore', 1) RETURNING id`);
    expect(inserted!.id).toBe('5001');
    expect(await target.query(`SELECT note FROM public.audit_log WHERE order_id = 5001`)).toEqual([{ note: 'created' }]);
    // The foreign key holds.
    await expect(target.query(`INSERT INTO public.order_notes VALUES (999999, 'dangling')`)).rejects.toThrow(/foreign key/);
  });

  it('round-trips with zstd in a process and in this process alike, each restoring what the other wrote', async () => {
    const before = await postgresFingerprint(connectionOf(varied));
    const written: Record<string, DumpManifest> = {};
    for (const [zstd, jobs] of [['process', 2], ['in-process', 2], ['process', 1], ['in-process', 1]] as const) {
      const { manifest } = await runBackup({ source: connectionOf(varied), sourceId: `pg-zstd-${zstd}-${jobs}`, store: vault.store, keyring, jobs, zstd });
      written[`${zstd} ${jobs}`] = manifest;
    }
    // The same dump whichever way zstd ran: the raw sizes the zstd process reports match the bytes counted in this process.
    expect(written['process 2']!.payload.parts!.map((p) => p.rawBytes)).toEqual(written['in-process 2']!.payload.parts!.map((p) => p.rawBytes));
    expect(written['process 1']!.payload.rawBytes).toBe(written['in-process 1']!.payload.rawBytes);
    expect(written['process 1']!.payload.rawBytes).toBeGreaterThan(100_000);

    for (const [backup, zstd] of [['process 2', 'in-process'], ['in-process 2', 'process']] as const) {
      const target = await scratchDb();
      const result = await runRestore({ store: vault.store, backupId: written[backup]!.backupId, keyring, target: connectionOf(target), jobs: 2, zstd });
      expect(result.rawBytes).toBe(written[backup]!.payload.rawBytes);
      expect(await postgresFingerprint(connectionOf(target))).toEqual(before);
      expect(await schemaFacts(target)).toEqual(await schemaFacts(varied));
    }
    // A single-stream backup compressed by the zstd process restores (and is checked) in this process.
    const single = await scratchDb();
    await runRestore({ store: vault.store, backupId: written['process 1']!.backupId, keyring, target: connectionOf(single) });
    expect(await postgresFingerprint(connectionOf(single))).toEqual(before);
  });

  it('restores one table of a multi-part backup from its schema and data parts only', async () => {
    const { manifest } = await runBackup({ source: connectionOf(varied), sourceId: 'pg-parallel-table', store: vault.store, keyring, jobs: 2 });
    const before = await postgresFingerprint(connectionOf(varied));
    const target = await scratchDb();
    const result = await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(target), table: 'sales.orders' });
    expect(result.table).toEqual({ schema: 'sales', name: 'orders' });
    expect(await postgresFingerprint(connectionOf(target))).toEqual({ 'sales.orders': before['sales.orders'] });
  });

  it('round-trips the generated bench database (small scale) with 2 jobs', async () => {
    const server = { host: '127.0.0.1', port: 5432, user: 'postgres' };
    const bench = await ensureBenchDatabase(server, 16 * 1024 ** 2, { regenerate: false, log: () => {} });
    try {
      const source = withDatabase(connectionOf(varied), bench.name);
      const { manifest } = await runBackup({ source, sourceId: 'pg-bench', store: vault.store, keyring, jobs: 2 });
      expect(manifestCounts(manifest.content.tables)).toEqual(Object.fromEntries(Object.entries(bench.rows).map(([name, rows]) => [`public.${name}`, rows])));
      const target = await scratchDb();
      await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(target), jobs: 2 });
      expect(await postgresFingerprint(connectionOf(target))).toEqual(await postgresFingerprint(source));
      const indexes = async (database: string) => {
        const client = new pg.Client({ ...server, database });
        await client.connect();
        try {
          return (await client.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)).rows;
        } finally {
          await client.end();
        }
      };
      expect(await indexes(target.name)).toEqual(await indexes(bench.name));
    } finally {
      if (!bench.reused) await dropBenchDatabase(server, bench.name);
    }
  }, 180_000);

  it('counts rows exactly in the shared snapshot while a writer keeps inserting into every stream (4 jobs)', async () => {
    const db = await scratchDb();
    const tables = ['hot_a', 'hot_b', 'hot_c', 'hot_d'];
    for (const [i, name] of tables.entries()) {
      await db.query(`CREATE TABLE ${name} (id bigserial PRIMARY KEY, pad text)`);
      // Different sizes, so each lands in a stream of its own, and enough rows that the dump takes a while.
      await db.query(`INSERT INTO ${name} (pad) SELECT md5(g::text) || repeat('x', ${100 * (i + 1)}) FROM generate_series(1, ${50_000 * (4 - i)}) g`);
    }
    const writer = new pg.Client(db.connectionOptions);
    await writer.connect();
    let writing = true;
    let inserted = 0;
    const writes = (async () => {
      while (writing) {
        // One transaction across every table: a consistent backup holds all of a transaction or none of it.
        await writer.query(`BEGIN; ${tables.map((t) => `INSERT INTO ${t} (pad) SELECT 'w' FROM generate_series(1, 10);`).join(' ')} COMMIT`);
        inserted += 10;
      }
    })();
    try {
      while (inserted < 100) await new Promise((r) => setTimeout(r, 5));
      const { manifest } = await runBackup({ source: connectionOf(db), sourceId: 'pg-hot', store: vault.store, keyring, jobs: 4 });
      const committedByEnd = inserted;
      writing = false;
      await writes;
      expect(manifest.payload.parts?.filter((p) => p.section === 'data')).toHaveLength(4);
      const counted = manifestCounts(manifest.content.tables);
      const added = tables.map((t, i) => counted[`public.${t}`]! - 50_000 * (4 - i));
      // The same number of writer rows in every table: all four streams saw one point in time.
      expect(new Set(added).size).toBe(1);
      expect(added[0]).toBeGreaterThanOrEqual(100);
      expect(committedByEnd).toBeGreaterThan(added[0]!);

      const target = await scratchDb();
      await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(target), jobs: 4 });
      const restored = await postgresFingerprint(connectionOf(target));
      expect(Object.fromEntries(Object.entries(restored).map(([k, v]) => [k, v.rows]))).toEqual(counted);
    } finally {
      writing = false;
      await writes.catch(() => {});
      await writer.end();
    }
  }, 180_000);

  it('retention deletes every part of a multi-part backup it prunes, and no part of the one it keeps', async () => {
    const own = await tempVault();
    try {
      const now = new Date();
      const old = new Date(now.getTime() - 10 * 86_400_000);
      const backups = [];
      for (const at of [old, now]) {
        const { manifest } = await runBackup({ source: connectionOf(varied), sourceId: 'pg-prune', store: own.store, keyring, jobs: 2, now: at });
        const verifiedAt = new Date(at.getTime() + 60_000);
        await own.store.putObject(
          verificationKey('pg-prune', manifest.backupId, verifiedAt),
          JSON.stringify(sampleVerification({ sourceId: 'pg-prune', backupId: manifest.backupId, status: 'verified', at: verifiedAt, manifest })),
        );
        backups.push(manifest);
      }
      const keys = async (backupId: string) => {
        const found: string[] = [];
        for await (const key of own.store.list(backupPrefix('pg-prune', backupId))) found.push(key.slice(key.lastIndexOf('/') + 1));
        return found.filter((name) => name.startsWith('payload')).sort();
      };
      expect(await keys(backups[0]!.backupId)).toHaveLength(4);

      const report = await pruneVault(own.store, {
        sourceId: 'pg-prune',
        policy: { days: 1, keepLast: 1, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
        timeZone: 'UTC',
        now: new Date(now.getTime() + 3_600_000),
        dryRun: false,
      });
      expect(report.deleted.map((entry) => entry.id)).toEqual([backups[0]!.backupId]);
      expect(await keys(backups[0]!.backupId)).toEqual([]);
      expect(await keys(backups[1]!.backupId)).toEqual(['payload.data-1', 'payload.data-2', 'payload.post-data', 'payload.pre-data']);
    } finally {
      await own.remove();
    }
  }, 120_000);

  it('restores a v1.0 backup written before multi-part payloads existed, with its own key', async () => {
    const store = new LocalStore(path.join(FIXTURE_VAULT, 'vault'));
    // git checks files out 0644; a key file must be private to its owner, so the test uses a private copy.
    const keyDir = await mkdtemp(path.join(tmpdir(), 'lb-v1-key-'));
    const keyFile = path.join(keyDir, 'fixture.key');
    await copyFile(path.join(FIXTURE_VAULT, 'fixture.key'), keyFile);
    await chmod(keyFile, 0o600);
    const fixtureKeyring = await keyringFromKeyFile(keyFile);
    await rm(keyDir, { recursive: true, force: true });
    const [manifest] = await listBackups(store);
    expect(manifest).toMatchObject({ formatVersion: '1.0', payload: { key: 'payload', format: 'pg_dump-custom' } });
    expect(manifest!.payload!.parts).toBeUndefined();

    const original = await scratchDb();
    const client = new pg.Client(original.connectionOptions);
    await client.connect();
    await client.query(await readFile(path.join(FIXTURE_VAULT, 'source.sql'), 'utf8')).finally(() => client.end());

    const target = await scratchDb();
    await runRestore({ store, backupId: manifest!.backupId, keyring: fixtureKeyring, target: connectionOf(target), jobs: 4 });
    expect(await postgresFingerprint(connectionOf(target))).toEqual(await postgresFingerprint(connectionOf(original)));
    expect(await target.query(`SELECT last_value FROM public.ticket`)).toEqual([{ last_value: '777' }]);
    await target.query(`INSERT INTO shop.orders (customer_id, amount) VALUES (1, 1)`);
    expect(await target.query(`SELECT count(*) AS n FROM public.audit`)).toEqual([{ n: '1' }]);
  });
});

describe('parallel faults', () => {
  let source: PostgresDatabase;
  beforeAll(async () => {
    source = await scratchDb();
    // Two tables of incompressible bytes (~8 MB each): both data streams are still running when a fault strikes.
    for (const name of ['noise_a', 'noise_b']) {
      await source.query(`CREATE TABLE ${name} AS
        SELECT r AS id, decode(string_agg(md5(r::text || ':' || k::text || random()::text), ''), 'hex') AS bytes
          FROM generate_series(1, 500) r, generate_series(1, 1024) k GROUP BY r`);
    }
  });

  it('a data stream killed mid-way fails the backup with DumpFailedError naming it, and lists nothing', async () => {
    let killed: number | undefined;
    const store = wrapStore(vault.store, {
      putStream: (key, body) => {
        if (!key.endsWith('/payload.data-2')) return vault.store.putStream(key, body);
        let seen = 0;
        const killer = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            seen += chunk.length;
            if (killed !== undefined || seen < 1_000_000) return callback(null, chunk);
            // This stream's pg_dump is the one blocked on its full pipe: the one with a --table argument for noise_b.
            void childPids('pg_dump').then(async (pids) => {
              for (const pid of pids) {
                const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
                if (argv.includes('--section=data') && argv.includes('--table=')) {
                  process.kill(pid, 'SIGKILL');
                  killed = pid;
                }
              }
              callback(null, chunk);
            });
          },
        });
        return vault.store.putStream(key, through(body, killer));
      },
    });

    const error = await runBackup({ source: connectionOf(source), sourceId: 'pg-killed', store, keyring, jobs: 2 }).then(
      () => expect.fail('backup should fail'),
      (e: unknown) => e as Error,
    );
    expect(killed).toBeDefined();
    expect(error).toBeInstanceOf(DumpFailedError);
    expect(error.message).toMatch(/in its data stream 2 of 2: pg_dump was killed by SIGKILL/);
    expect(await listBackups(vault.store, { sourceId: 'pg-killed' })).toEqual([]);
    expect(await listIncomplete(vault.store, { sourceId: 'pg-killed' })).toEqual([]);
    expect(await childPids('pg_dump')).toEqual([]);
  });

  for (const jobs of [1, 2]) {
    it(`a zstd process killed mid-way fails the backup as the compression's failure, not pg_dump's, and lists nothing (${jobs} job${jobs > 1 ? 's' : ''})`, async () => {
      let killed: number | undefined;
      const sourceId = `pg-zstd-killed-${jobs}`;
      const store = wrapStore(vault.store, {
        putStream: (key, body) => {
          let seen = 0;
          const killer = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              seen += chunk.length;
              if (killed !== undefined || seen < 500_000 || !key.endsWith(jobs === 1 ? '/payload' : '/payload.data-2')) return callback(null, chunk);
              void childPids('zstd').then((pids) => {
                // The zstd fed by the stream being stored: the newest one still running will do, any of them ends the backup.
                for (const pid of pids.reverse()) {
                  if (killProcess(pid)) {
                    killed = pid;
                    break;
                  }
                }
                callback(null, chunk);
              });
            },
          });
          return vault.store.putStream(key, through(body, killer));
        },
      });
      const error = await runBackup({ source: connectionOf(source), sourceId, store, keyring, jobs, zstd: 'process' }).then(
        () => expect.fail('backup should fail'),
        (e: unknown) => e as Error,
      );
      expect(killed).toBeDefined();
      expect(error).toBeInstanceOf(DumpFailedError);
      expect(error.message).toMatch(/^Compressing the dump failed: zstd was killed by SIGKILL/);
      expect(await listBackups(vault.store, { sourceId })).toEqual([]);
      expect(await listIncomplete(vault.store, { sourceId })).toEqual([]);
      expect(await childPids('pg_dump')).toEqual([]);
      expect(await childPids('zstd')).toEqual([]);
    });
  }

  it('a zstd process killed mid-restore fails the restore by name, and the database the restore created is dropped', async () => {
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'pg-zstd-restore-killed', store: vault.store, keyring, jobs: 2 });
    let killed: number | undefined;
    const store = wrapStore(vault.store, {
      getStream: async (key) => {
        const body = await vault.store.getStream(key);
        if (!key.endsWith('/payload.data-1')) return body;
        let seen = 0;
        return through(
          body,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              seen += chunk.length;
              // The second read (the restore's, after the check) kills its zstd half-way.
              if (killed !== undefined || seen < 1_000_000) return callback(null, chunk);
              void childPids('zstd').then((pids) => {
                for (const pid of pids) if (killProcess(pid)) killed = pid;
                callback(null, chunk);
              });
            },
          }),
        );
      },
    });
    const target = withDatabase(connectionOf(source), `${source.name}_zstd_killed`);
    const error = await runRestore({ store, backupId: manifest.backupId, keyring, target, jobs: 2, zstd: 'process' }).then(
      () => expect.fail('restore should fail'),
      (e: unknown) => e as Error,
    );
    expect(killed).toBeDefined();
    expect(error).toBeInstanceOf(DecompressionFailedError);
    expect(error.message).toMatch(/^zstd decompression failed: zstd was killed by SIGKILL/);
    expect(error.message).toContain(`the database ${target.database}, created by this restore, was dropped`);
    expect(await databaseExists(target.database)).toBe(false);
    expect(await childPids('pg_restore')).toEqual([]);
  });

  it('a store failing under one part is a StoreWriteFailedError, every pg_dump is stopped and every part removed', async () => {
    const store = wrapStore(vault.store, {
      putStream: (key, body) =>
        key.endsWith('/payload.data-1') ? vault.store.putStream(key, through(body, failAfter(2_000_000, new Error('connection reset by peer')))) : vault.store.putStream(key, body),
    });
    const error = await runBackup({ source: connectionOf(source), sourceId: 'pg-store-fails', store, keyring, jobs: 2 }).then(
      () => expect.fail('backup should fail'),
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect(`${error.message} ${String((error.cause as Error | undefined)?.message)}`).toMatch(/connection reset by peer/);
    expect(await childPids('pg_dump')).toEqual([]);
    expect(await listIncomplete(vault.store, { sourceId: 'pg-store-fails' })).toEqual([]);
  });

  it('a damaged part fails the restore before anything is committed: an existing target stays empty, a missing one is never created', async () => {
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'pg-damaged', store: vault.store, keyring, jobs: 2 });
    const part = manifest.payload.parts!.find((p) => p.key === 'payload.data-2')!;
    const file = path.join(vault.root, ...`${backupPrefix('pg-damaged', manifest.backupId)}${part.key}`.split('/'));
    const handle = await open(file, 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, part.storedBytes - 100);
      byte[0] = byte[0]! ^ 0x01;
      await handle.write(byte, 0, 1, part.storedBytes - 100);
    } finally {
      await handle.close();
    }

    const existing = await scratchDb();
    const error = await runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: connectionOf(existing), jobs: 2 }).then(
      () => expect.fail('restore should fail'),
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toContain('payload.data-2');
    expect(await userTableCount(existing)).toBe(0);

    const missing = withDatabase(connectionOf(source), `${source.name}_never`);
    await expect(runRestore({ store: vault.store, backupId: manifest.backupId, keyring, target: missing, jobs: 2 })).rejects.toThrow(ChecksumMismatchError);
    expect(await databaseExists(missing.database)).toBe(false);
  });

  it('a part cut short after the check fails its stream, and the database the restore created is dropped', async () => {
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'pg-late-damage', store: vault.store, keyring, jobs: 2 });
    const damagedKey = `${backupPrefix('pg-late-damage', manifest.backupId)}payload.data-1`;
    let reads = 0;
    // The first read of the part (the check) is whole; the second (the restore) loses its last 50 bytes.
    const store = wrapStore(vault.store, {
      getStream: async (key) => {
        const body = await vault.store.getStream(key);
        if (key !== damagedKey || reads++ === 0) return body;
        const keep = manifest.payload.parts!.find((p) => p.key === 'payload.data-1')!.storedBytes - 50;
        let seen = 0;
        return through(
          body,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              const room = Math.max(0, keep - seen);
              seen += chunk.length;
              callback(null, chunk.subarray(0, room));
            },
          }),
        );
      },
    });
    const target = withDatabase(connectionOf(source), `${source.name}_late`);
    const error = await runRestore({ store, backupId: manifest.backupId, keyring, target, jobs: 2 }).then(
      () => expect.fail('restore should fail'),
      (e: unknown) => e as Error,
    );
    expect(reads).toBe(2);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toContain(`the database ${target.database}, created by this restore, was dropped`);
    expect(await databaseExists(target.database)).toBe(false);
  });
});
