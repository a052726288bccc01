/**
 * Failures, each with its named error: nothing half-made is ever listed, earlier backups stay intact
 * and restorable, and a failed restore leaves the target as empty as it was.
 */
import { open, readFile, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { withDatabase } from '../../../functions/lib/engine/connection.ts';
import { runRestore } from '../../../functions/lib/engine/restore.ts';
import {
  ChecksumMismatchError,
  DecryptionFailedError,
  DumpFailedError,
  ManifestMissingError,
  StoreWriteFailedError,
  WrongKeyError,
} from '../../../functions/lib/errors.ts';
import { listBackups, listIncomplete } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey } from '../../../functions/lib/vault/layout.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { createMariaDbDatabase, createPostgresDatabase, type MariaDbDatabase, type PostgresDatabase } from '../../harness/index.ts';
import {
  childPids,
  connectionOf,
  failAfter,
  loadMysqlFixture,
  loadPostgresFixture,
  mysqlFingerprint,
  postgresFingerprint,
  tempVault,
  testKey,
  testKeyring,
  through,
  wrapStore,
} from './helpers.ts';

const SOURCE_ID = 'faulty';
const key = testKey();
const keyring = rawAesKeyring(key);
let vault: Awaited<ReturnType<typeof tempVault>>;
let source: PostgresDatabase;
let good: DumpManifest;
let goodFingerprint: Awaited<ReturnType<typeof postgresFingerprint>>;
const scratch: (PostgresDatabase | MariaDbDatabase)[] = [];

async function pgScratch(): Promise<PostgresDatabase> {
  const db = await createPostgresDatabase('faults');
  scratch.push(db);
  return db;
}

/** The single-stream (v1.0) pipeline; parallel.test.ts has the faults of the multi-part one. */
function backup(store: VaultStore = vault.store) {
  return runBackup({ source: connectionOf(source), sourceId: SOURCE_ID, store, keyring, jobs: 1 });
}

/** The earlier good backup is still listed, and still restores to the very same content. */
async function expectGoodBackupIntact(): Promise<void> {
  const listed = (await listBackups(vault.store, { sourceId: SOURCE_ID })).map((m) => m.backupId);
  expect(listed).toContain(good.backupId);
  const target = await pgScratch();
  await runRestore({ store: vault.store, sourceId: SOURCE_ID, backupId: good.backupId, keyring, target: connectionOf(target) });
  expect(await postgresFingerprint(connectionOf(target))).toEqual(goodFingerprint);
}

async function userTableCount(db: PostgresDatabase): Promise<number> {
  const client = new pg.Client(db.connectionOptions);
  await client.connect();
  try {
    const result = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
    );
    return Number(result.rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function flipByte(file: string, at: (size: number) => number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const position = at(size);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0x01;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

beforeAll(async () => {
  vault = await tempVault();
  source = await pgScratch();
  await loadPostgresFixture(source);
  // ~16 MB that zstd cannot shrink: the dump is still streaming when the faults strike.
  await source.query(`CREATE TABLE noise AS
    SELECT r AS id, decode(string_agg(md5(r::text || ':' || k::text || random()::text), ''), 'hex') AS bytes
      FROM generate_series(1, 1000) r, generate_series(1, 1024) k GROUP BY r`);
  goodFingerprint = await postgresFingerprint(connectionOf(source));
  ({ manifest: good } = await backup());
});

afterAll(async () => {
  await Promise.all(scratch.map((db) => db.drop()));
  await vault?.remove();
});

describe('faults', () => {
  it('a dump killed mid-stream is a DumpFailedError and leaves nothing behind', async () => {
    let killed = 0;
    let seen = 0;
    const killer = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.length;
        if (killed > 0 || seen < 1_000_000) return callback(null, chunk);
        // Holding this chunk keeps pg_dump blocked on a full pipe: it is surely mid-stream.
        void childPids('pg_dump').then((pids) => {
          for (const pid of pids) process.kill(pid, 'SIGKILL');
          killed = pids.length;
          callback(null, chunk);
        });
      },
    });
    const store = wrapStore(vault.store, { putStream: (k, body) => vault.store.putStream(k, through(body, killer)) });

    const error = await backup(store).then(() => expect.fail('backup should fail'), (e: unknown) => e as Error);
    expect(killed).toBe(1);
    expect(error).toBeInstanceOf(DumpFailedError);
    expect(error.message).toMatch(/pg_dump was killed by SIGKILL/);
    expect(await listIncomplete(vault.store, { sourceId: SOURCE_ID })).toEqual([]);
    await expectGoodBackupIntact();
  });

  it('a store failing mid-upload is a StoreWriteFailedError, and the dump tool is stopped', async () => {
    const store = wrapStore(vault.store, {
      putStream: (k, body) => vault.store.putStream(k, through(body, failAfter(2_000_000, new Error('connection reset by peer')))),
    });
    const error = await backup(store).then(() => expect.fail('backup should fail'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect(`${error.message} ${String((error.cause as Error | undefined)?.message)}`).toMatch(/connection reset by peer/);
    expect(await childPids('pg_dump')).toEqual([]);
    expect(await listIncomplete(vault.store, { sourceId: SOURCE_ID })).toEqual([]);
    await expectGoodBackupIntact();
  });

  it('a wrong key is a WrongKeyError (the operator\'s, not the backup\'s), whether its name differs or only its bytes', async () => {
    const target = await pgScratch();
    const restoreWith = (k: typeof keyring) =>
      runRestore({ store: vault.store, sourceId: SOURCE_ID, backupId: good.backupId, keyring: k, target: connectionOf(target) });

    const otherName = await restoreWith(testKeyring()).then(() => expect.fail('restore should fail'), (e: unknown) => e as Error);
    expect(otherName).toBeInstanceOf(WrongKeyError);
    expect(otherName.message).toContain(`lifeboat/${key.keyName}`);

    const sameNameOtherBytes = rawAesKeyring(testKey(key.keyName));
    const error = await restoreWith(sameNameOtherBytes).then(() => expect.fail('restore should fail'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(WrongKeyError);
    expect(error.cause).toBeInstanceOf(DecryptionFailedError);
    expect(await userTableCount(target)).toBe(0);
    await expectGoodBackupIntact();
  });

  it('one flipped byte is a ChecksumMismatchError, and pg_restore commits nothing', async () => {
    const { manifest } = await backup();
    // Near the end: most of the data has reached pg_restore before the damage is found.
    await flipByte(path.join(vault.root, payloadKey(SOURCE_ID, manifest.backupId)), (size) => size - 200);
    const target = await pgScratch();
    const error = await runRestore({
      store: vault.store,
      sourceId: SOURCE_ID,
      backupId: manifest.backupId,
      keyring,
      target: connectionOf(target),
    }).then(() => expect.fail('restore should fail'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(await userTableCount(target)).toBe(0);
    // The same target takes a good restore: it really was left empty.
    await runRestore({ store: vault.store, sourceId: SOURCE_ID, backupId: good.backupId, keyring, target: connectionOf(target) });
    expect(await postgresFingerprint(connectionOf(target))).toEqual(goodFingerprint);
  });

  it('a truncated payload is a ChecksumMismatchError, before the target is touched or at the end of the stream', async () => {
    const { manifest } = await backup();
    const file = path.join(vault.root, payloadKey(SOURCE_ID, manifest.backupId));
    const full = await readFile(file);
    await truncate(file, full.length - 1000);

    const untouched = withDatabase(connectionOf(source), `${source.name}_never`);
    await expect(
      runRestore({ store: vault.store, sourceId: SOURCE_ID, backupId: manifest.backupId, keyring, target: untouched }),
    ).rejects.toThrow(ChecksumMismatchError);
    expect(await databaseExists(untouched.database)).toBe(false);

    // A store whose size check is fooled: the short stream itself fails the restore.
    const lying = wrapStore(vault.store, { head: async () => ({ bytes: manifest.payload.storedBytes }) });
    const target = await pgScratch();
    const error = await runRestore({
      store: lying,
      sourceId: SOURCE_ID,
      backupId: manifest.backupId,
      keyring,
      target: connectionOf(target),
    }).then(() => expect.fail('restore should fail'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(await userTableCount(target)).toBe(0);
    await expectGoodBackupIntact();
  });

  it('a payload moved under another backup is a DecryptionFailedError (its encryption context names the other)', async () => {
    const { manifest } = await backup();
    // Swap in the good backup's payload and make the manifest vouch for its bytes: only the encryption context differs.
    await vault.store.putObject(payloadKey(SOURCE_ID, manifest.backupId), await vault.store.getObject(payloadKey(SOURCE_ID, good.backupId)));
    const forged = { ...manifest, payload: { ...manifest.payload, sha256: good.payload.sha256, storedBytes: good.payload.storedBytes } };
    await vault.store.putObject(manifestKey(SOURCE_ID, manifest.backupId), JSON.stringify(forged));
    const target = await pgScratch();
    const error = await runRestore({
      store: vault.store,
      sourceId: SOURCE_ID,
      backupId: manifest.backupId,
      keyring,
      target: connectionOf(target),
    }).then(() => expect.fail('restore should fail'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(DecryptionFailedError);
    expect(error.message).toContain(`lifeboat:backup="${good.backupId}"`);
    expect(await userTableCount(target)).toBe(0);
  });

  it('a missing manifest is a ManifestMissingError, and that backup is never listed', async () => {
    const { manifest } = await backup();
    await rm(path.join(vault.root, manifestKey(SOURCE_ID, manifest.backupId)));
    const target = await pgScratch();
    await expect(
      runRestore({ store: vault.store, sourceId: SOURCE_ID, backupId: manifest.backupId, keyring, target: connectionOf(target) }),
    ).rejects.toThrow(ManifestMissingError);
    expect((await listBackups(vault.store)).map((m) => m.backupId)).not.toContain(manifest.backupId);
    await expectGoodBackupIntact();
  });

  it('MySQL: damage found mid-restore leaves the target empty again, though statements had already run', async () => {
    const mysqlSource = await createMariaDbDatabase('faults');
    scratch.push(mysqlSource);
    await loadMysqlFixture(mysqlSource);
    const { manifest } = await runBackup({ source: connectionOf(mysqlSource), sourceId: 'faulty-mysql', store: vault.store, keyring });
    expect(manifest.payload.storedBytes).toBeGreaterThan(3 * 1024 * 1024); // several 1 MiB frames
    await flipByte(path.join(vault.root, payloadKey('faulty-mysql', manifest.backupId)), (size) => Math.floor(size * 0.8));

    const target = await createMariaDbDatabase('faults');
    scratch.push(target);
    const tablesIn = async (): Promise<string[]> => {
      const connection = await mysql.createConnection(target.connectionOptions);
      try {
        const [tables] = await connection.query<mysql.RowDataPacket[]>(
          'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
          [target.name],
        );
        return tables.map((t) => String(t.name));
      } finally {
        await connection.end();
      }
    };
    // Just before the damaged frame is read, wait until the mysql client has created tables.
    let midRestore: string[] = [];
    let reads = 0;
    const payload = payloadKey('faulty-mysql', manifest.backupId);
    const store = wrapStore(vault.store, {
      // The payload's first read (the manifest is read through getStream too, for its size cap).
      getStream: async (k) => {
        const body = await vault.store.getStream(k);
        if (k !== payload || reads++ > 0) return body;
        let seen = 0;
        return through(
          body,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              seen += chunk.length;
              if (midRestore.length > 0 || seen < manifest.payload.storedBytes * 0.7) return callback(null, chunk);
              void (async () => {
                for (let i = 0; i < 100 && midRestore.length === 0; i++) {
                  midRestore = await tablesIn();
                  if (midRestore.length === 0) await new Promise((r) => setTimeout(r, 50));
                }
                callback(null, chunk);
              })();
            },
          }),
        );
      },
    });
    const error = await runRestore({
      store,
      sourceId: 'faulty-mysql',
      backupId: manifest.backupId,
      keyring,
      target: connectionOf(target),
    }).then(() => expect.fail('restore should fail'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    // Statements had run: tables existed mid-restore, and are gone again.
    expect(midRestore.length).toBeGreaterThan(0);
    expect(await tablesIn()).toEqual([]);
    expect(await mysqlFingerprint(connectionOf(target))).toEqual({});
  });
});

async function databaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount! > 0;
  } finally {
    await admin.end();
  }
}
