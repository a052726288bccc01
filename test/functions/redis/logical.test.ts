import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { TargetNotEmptyError, RestoreFailedError } from '../../../functions/lib/errors.ts';
import { readKeysRecords, type KeysRecord } from '../../../functions/lib/redis/keysFormat.ts';
import { compareKeyCounts, dumpKeyspace, restoreKeyspace } from '../../../functions/lib/redis/logical.ts';
import { readKeyspace, type RedisClient } from '../../../functions/lib/redis/resp.ts';
import { ScratchRedis, keyspaceOfRdb } from '../../../functions/lib/redis/scratch.ts';
import { startTestRedis, type TestRedis } from '../../harness/redis.ts';
import { BINARY_KEY, describeDatabase, seedKeyspace } from './fixture.ts';

let source: TestRedis;
let target: TestRedis;
let src: RedisClient;
let dst: RedisClient;

beforeAll(async () => {
  [source, target] = await Promise.all([startTestRedis(), startTestRedis()]);
  src = await source.connect();
  dst = await target.connect();
});
afterAll(async () => {
  src?.close();
  dst?.close();
  await Promise.all([source?.stop(), target?.stop()]);
});
beforeEach(async () => {
  await source.flushAll();
  await target.flushAll();
  // Fresh connections: a backup leaves its connection on the last database it read.
  src.close();
  dst.close();
  src = await source.connect();
  dst = await target.connect();
});

async function takeDump(client: RedisClient, batchSize?: number) {
  const { payload, summary } = dumpKeyspace(client, batchSize ? { batchSize } : {});
  const chunks: Buffer[] = [];
  for await (const chunk of payload) chunks.push(chunk);
  return { bytes: Buffer.concat(chunks), summary: await summary };
}

const recordsOf = (bytes: Buffer) => () => readKeysRecords(Readable.from([bytes]));

describe('a SCAN + DUMP backup restored with RESTORE into another redis-server', () => {
  it('brings back strings, hashes, lists, sets, sorted sets, streams, expiries, binary keys and several databases', async () => {
    await seedKeyspace(src);
    const before = { db0: await describeDatabase(src, 0), db3: await describeDatabase(src, 3) };

    const { bytes, summary } = await takeDump(src, 100);
    const restored = await restoreKeyspace(recordsOf(bytes), dst);

    expect(summary.databases).toEqual([
      { db: 0, keys: 10, expiring: 2, reportedKeys: 10 },
      { db: 3, keys: 1202, expiring: 1, reportedKeys: 1202 },
    ]);
    expect(summary.serverVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(restored).toEqual({
      databases: [
        { db: 0, keys: 10, expiredSkipped: 0 },
        { db: 3, keys: 1202, expiredSkipped: 0 },
      ],
      keys: 1212,
      expiredSkipped: 0,
    });
    expect({ db0: await describeDatabase(dst, 0), db3: await describeDatabase(dst, 3) }).toEqual(before);
    expect(compareKeyCounts(summary.databases, await readKeyspace(dst))).toEqual([
      { db: 0, expected: 10, actual: 10 },
      { db: 3, expected: 1202, actual: 1202 },
    ]);
    // The binary key made it byte for byte.
    expect(await dst.call('GET', BINARY_KEY)).toEqual(Buffer.from([1, 2, 3, 0, 255]));
  });

  it('keeps each expiry as an absolute time, and leaves out keys expired by the time of the restore', async () => {
    await src.call('SET', 'short', 'x', 'PX', 60_000);
    await src.call('SET', 'long', 'y', 'PX', 3_600_000);
    await src.call('SET', 'forever', 'z');
    const { bytes } = await takeDump(src);

    const later = Date.now() + 120_000;
    const restored = await restoreKeyspace(recordsOf(bytes), dst, { now: () => later });

    expect(restored.expiredSkipped).toBe(1);
    expect(await dst.call('EXISTS', 'short')).toBe(0);
    expect(await dst.call('PTTL', 'forever')).toBe(-1);
    const ttl = (await dst.call('PTTL', 'long')) as number;
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('restores with ttl none every key without expiry (what verification counts)', async () => {
    await src.call('SET', 'short', 'x', 'PX', 60_000);
    const { bytes } = await takeDump(src);
    const restored = await restoreKeyspace(recordsOf(bytes), dst, { ttl: 'none', now: () => Date.now() + 120_000 });
    expect(restored.keys).toBe(1);
    expect(await dst.call('PTTL', 'short')).toBe(-1);
  });

  it('refuses, before writing anything, a target that holds a key of the backup; --overwrite replaces it', async () => {
    await src.call('SET', 'a', 'from-backup');
    await src.call('SET', 'b', 'from-backup');
    const { bytes } = await takeDump(src);
    await dst.call('SET', 'b', 'precious');

    const refused = restoreKeyspace(recordsOf(bytes), dst);
    await expect(refused).rejects.toBeInstanceOf(TargetNotEmptyError);
    await expect(refused).rejects.toThrow(/1 key of this backup \(db0:b\)/);
    expect(await dst.call('EXISTS', 'a')).toBe(0);
    expect(String(await dst.call('GET', 'b'))).toBe('precious');

    await restoreKeyspace(recordsOf(bytes), dst, { replace: true });
    expect(String(await dst.call('GET', 'b'))).toBe('from-backup');
    expect(String(await dst.call('GET', 'a'))).toBe('from-backup');
  });

  it('names the key whose DUMP payload a server rejects (a damaged value)', async () => {
    await src.call('SET', 'k', 'value');
    const { bytes } = await takeDump(src);
    const records: KeysRecord[] = [];
    for await (const r of readKeysRecords(Readable.from([bytes]))) records.push(r);
    const damaged = records.map((r) => (r.type === 'key' ? { ...r, value: Buffer.from(r.value.map((b, i) => (i === 2 ? b ^ 0xff : b))) } : r));
    async function* open() {
      yield* damaged;
    }
    await expect(restoreKeyspace(open, dst)).rejects.toSatisfy(
      (e: unknown) => e instanceof RestoreFailedError && /RESTORE of key db0:k failed: .*checksum/i.test((e as Error).message),
    );
  });

  it('says how many keys a failed restore already wrote, and that --overwrite finishes it', async () => {
    for (const key of ['a', 'b', 'c']) await src.call('SET', key, key);
    const { bytes } = await takeDump(src);
    const records: KeysRecord[] = [];
    for await (const r of readKeysRecords(Readable.from([bytes]))) records.push(r);
    let seen = 0;
    const damaged = records.map((r) => (r.type === 'key' && ++seen === 3 ? { ...r, value: Buffer.from(r.value.map((b, i) => (i === 2 ? b ^ 0xff : b))) } : r));
    async function* open() {
      yield* damaged;
    }
    const failed = restoreKeyspace(open, dst, { batchSize: 1 });
    await expect(failed).rejects.toBeInstanceOf(RestoreFailedError);
    await expect(restoreKeyspace(open, dst, { batchSize: 1 })).rejects.toThrow(TargetNotEmptyError);
    await dst.call('FLUSHALL');
    await expect(restoreKeyspace(open, dst, { batchSize: 1 })).rejects.toThrow(
      /^RESTORE of key db0:\w failed: ERR DUMP payload version or checksum are wrong\. 2 keys were already restored into the target \(it held none of them before\): rerun with --overwrite to finish, or delete them$/,
    );
    expect(await dst.call('DBSIZE')).toBe(2);
  });

  it('backs up an empty server as a payload with no keys', async () => {
    const { bytes, summary } = await takeDump(src);
    expect(summary).toMatchObject({ databases: [], keys: 0 });
    const restored = await restoreKeyspace(recordsOf(bytes), dst);
    expect(restored.keys).toBe(0);
  });
});

describe('a scratch redis-server', () => {
  it('loads an RDB a real server saved and counts its keys per database', async () => {
    await seedKeyspace(src);
    const reported = await readKeyspace(src);
    await src.call('SAVE');
    const counted = await keyspaceOfRdb(`${source.dir}/dump.rdb`);
    expect(counted.map(({ db, keys }) => ({ db, keys }))).toEqual(reported.map(({ db, keys }) => ({ db, keys })));
    expect(counted).toEqual([
      { db: 0, keys: 10, expires: 2 },
      { db: 3, keys: 1202, expires: 1 },
    ]);
  });

  it('refuses a damaged RDB with the server\'s own words, and leaves no directory behind', async () => {
    await src.call('SET', 'k', 'v');
    await src.call('SAVE');
    const { readFile, writeFile, readdir } = await import('node:fs/promises');
    const rdb = await readFile(`${source.dir}/dump.rdb`);
    rdb[rdb.length - 3] = rdb[rdb.length - 3]! ^ 0xff;
    const damaged = `${target.dir}/damaged.rdb`;
    await writeFile(damaged, rdb);
    const { tmpdir } = await import('node:os');
    const before = (await readdir(tmpdir())).filter((n) => n.startsWith('lifeboat-redis-')).length;
    await expect(keyspaceOfRdb(damaged)).rejects.toThrow(/scratch redis-server stopped \(exit 1\): .*RDB CRC error/);
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('lifeboat-redis-')).length).toBe(before);
  });

  it('turns a restored backup into an RDB file another server loads', async () => {
    await seedKeyspace(src);
    const { bytes, summary } = await takeDump(src);
    const scratch = await ScratchRedis.start();
    let rdbCopy: string;
    try {
      const client = await scratch.connect();
      await restoreKeyspace(recordsOf(bytes), client);
      client.close();
      await scratch.save();
      rdbCopy = `${target.dir}/from-backup.rdb`;
      const { copyFile } = await import('node:fs/promises');
      await copyFile(scratch.rdbPath, rdbCopy);
    } finally {
      await scratch.stop();
    }
    expect(compareKeyCounts(summary.databases, await keyspaceOfRdb(rdbCopy))).toEqual([
      { db: 0, expected: 10, actual: 10 },
      { db: 3, expected: 1202, actual: 1202 },
    ]);
  });
});
