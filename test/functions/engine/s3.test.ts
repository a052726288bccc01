/** The engine against an S3 vault (s3rver on loopback): multipart payloads, round trips, nothing left by a failure. */
import { Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../functions/lib/engine/backup.ts';
import { runRestore } from '../../../functions/lib/engine/restore.ts';
import { DumpFailedError } from '../../../functions/lib/errors.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import {
  createMariaDbDatabase,
  createPostgresDatabase,
  type LocalS3,
  type MariaDbDatabase,
  type PostgresDatabase,
  startLocalS3,
} from '../../harness/index.ts';
import {
  childPids,
  connectionOf,
  loadMysqlFixture,
  loadPostgresFixture,
  mysqlFingerprint,
  postgresFingerprint,
  testKeyring,
  through,
  wrapStore,
} from './helpers.ts';

const keyring = testKeyring();
let s3: LocalS3;
let store: S3Store;
const scratch: (PostgresDatabase | MariaDbDatabase)[] = [];

async function keysIn(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys;
}

beforeAll(async () => {
  s3 = await startLocalS3();
  // 5 MiB parts: the ~5 MB incompressible row makes every payload a multipart upload.
  store = new S3Store({ client: s3.client, bucket: await s3.createBucket(), prefix: 'vault', partSize: 5 * 1024 * 1024, queueSize: 2 });
});

afterAll(async () => {
  await Promise.all(scratch.map((db) => db.drop()));
  await s3?.stop();
});

describe('engine with an S3 vault', () => {
  it('round-trips PostgreSQL', async () => {
    const source = await createPostgresDatabase('engine-s3');
    scratch.push(source);
    await loadPostgresFixture(source);
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'pg-s3', store, keyring, jobs: 1 });
    expect(manifest.payload.storedBytes).toBeGreaterThan(5 * 1024 * 1024);
    expect((await store.head(`backups/pg-s3/${manifest.backupId}/payload`))?.bytes).toBe(manifest.payload.storedBytes);

    const target = await createPostgresDatabase('engine-s3');
    scratch.push(target);
    await runRestore({ store, backupId: manifest.backupId, keyring, target: connectionOf(target) });
    expect(await postgresFingerprint(connectionOf(target))).toEqual(await postgresFingerprint(connectionOf(source)));
  });

  it('round-trips MariaDB', async () => {
    const source = await createMariaDbDatabase('engine-s3');
    scratch.push(source);
    await loadMysqlFixture(source);
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: 'my-s3', store, keyring });
    const target = await createMariaDbDatabase('engine-s3');
    scratch.push(target);
    await runRestore({ store, sourceId: 'my-s3', backupId: manifest.backupId, keyring, target: connectionOf(target) });
    expect(await mysqlFingerprint(connectionOf(target))).toEqual(await mysqlFingerprint(connectionOf(source)));
  });

  it('leaves no object behind when the dump dies mid-upload', async () => {
    const source = await createPostgresDatabase('engine-s3');
    scratch.push(source);
    await loadPostgresFixture(source);
    await source.query(`CREATE TABLE noise AS
      SELECT r AS id, decode(string_agg(md5(r::text || ':' || k::text || random()::text), ''), 'hex') AS bytes
        FROM generate_series(1, 1000) r, generate_series(1, 1024) k GROUP BY r`);
    let seen = 0;
    let killed = false;
    const killer = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.length;
        // After the first part is uploaded, so there is a multipart upload to abort.
        if (killed || seen < 7 * 1024 * 1024) return callback(null, chunk);
        killed = true;
        void childPids('pg_dump').then((pids) => {
          for (const pid of pids) process.kill(pid, 'SIGKILL');
          callback(null, chunk);
        });
      },
    });
    const failing = wrapStore(store, { putStream: (k, body) => store.putStream(k, through(body, killer)) });
    await expect(runBackup({ source: connectionOf(source), sourceId: 'pg-s3-killed', store: failing, keyring, jobs: 1 })).rejects.toThrow(
      DumpFailedError,
    );
    expect(killed).toBe(true);
    expect(await keysIn('backups/pg-s3-killed/')).toEqual([]);
    expect((await listBackups(store)).map((m) => m.sourceId).sort()).toEqual(['my-s3', 'pg-s3']);
  });
});
