/**
 * The `VaultStore` contract, one suite run against every store so a vault behaves the same in a
 * directory and in a bucket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DumpFailedError,
  InvalidStoreKeyError,
  ObjectNotFoundError,
  StoreWriteFailedError,
} from '../../../functions/lib/errors.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';

const MiB = 1024 * 1024;

export interface StoreFixture {
  readonly store: VaultStore;
  /**
   * What a failed write may have left behind for `key` outside the store's visible keys
   * (temporary files, unfinished multipart uploads). The contract requires none.
   */
  pendingWrites(key: string): Promise<string[]>;
  /**
   * How `list` orders keys. `path-segments` (compare `/`-separated segments one by one) is a known
   * deviation of s3rver, which walks its directory tree; AWS S3 and LocalStore are lexicographic.
   * @default 'lexicographic'
   */
  readonly listOrder?: 'lexicographic' | 'path-segments';
}

function lexicographic(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bySegments(a: string, b: string): number {
  const left = a.split('/');
  const right = b.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = lexicographic(left[i]!, right[i]!);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

/** A stream of random bytes produced chunk by chunk (never held whole), hashed as it is produced. */
export function generatedStream(
  totalBytes: number,
  options: { chunkBytes?: number; failAfterBytes?: number; failWith?: Error } = {},
): { stream: Readable; sha256(): string } {
  const chunkBytes = options.chunkBytes ?? 256 * 1024;
  const hash = createHash('sha256');
  let produced = 0;
  const stream = new Readable({
    read() {
      if (options.failAfterBytes !== undefined && produced >= options.failAfterBytes) {
        this.destroy(options.failWith ?? new Error('source failed mid-way'));
        return;
      }
      if (produced >= totalBytes) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(chunkBytes, totalBytes - produced));
      hash.update(chunk);
      produced += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

export async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of keys) out.push(key);
  return out;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += limit) {
    await Promise.all(items.slice(start, start + limit).map(work));
  }
}

export function describeStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`${name} honours the VaultStore contract`, () => {
    let fixture: StoreFixture;
    let store: VaultStore;
    let testNumber = 0;
    /** Each test writes under its own folder so tests never see each other's keys. */
    const folder = () => `t${String(++testNumber).padStart(3, '0')}-${randomBytes(3).toString('hex')}/`;

    beforeAll(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });

    it('streams ~20 MiB in and out unchanged (SHA-256 compared, chunked both ways)', async () => {
      // Prepare
      const key = `${folder()}payload`;
      const size = 20 * MiB + 12_345;
      const source = generatedStream(size);

      // Act
      const written = await store.putStream(key, source.stream);
      const readBack = await sha256Of(await store.getStream(key));

      // Assess
      expect(written).toEqual({ bytes: size });
      expect(readBack).toEqual({ sha256: source.sha256(), bytes: size });
      expect(await store.head(key)).toEqual({ bytes: size });
    });

    it('stores an empty stream as an empty object', async () => {
      const key = `${folder()}empty`;

      const written = await store.putStream(key, Readable.from([]));

      expect(written).toEqual({ bytes: 0 });
      expect((await store.getObject(key)).length).toBe(0);
    });

    it('round-trips small objects from strings and bytes, and overwrites whole', async () => {
      const base = folder();
      const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);

      await store.putObject(`${base}manifest.json`, '{"format":"lifeboat-backup"}\n');
      await store.putObject(`${base}blob`, bytes);
      await store.putObject(`${base}blob`, new Uint8Array([7]));

      expect((await store.getObject(`${base}manifest.json`)).toString('utf8')).toBe('{"format":"lifeboat-backup"}\n');
      expect([...(await store.getObject(`${base}blob`))]).toEqual([7]);
      expect(await store.head(`${base}blob`)).toEqual({ bytes: 1 });
    });

    it('heads an object by size and a missing one as undefined', async () => {
      const base = folder();
      await store.putObject(`${base}three`, 'abc');

      expect(await store.head(`${base}three`)).toEqual({ bytes: 3 });
      expect(await store.head(`${base}absent`)).toBeUndefined();
      // A "folder" is not an object.
      expect(await store.head(base.slice(0, -1))).toBeUndefined();
    });

    it('lists keys in lexicographic order and filters by prefix', async () => {
      const base = folder();
      // "-" (0x2d) sorts before "/" (0x2f): a naive directory walk would list a/… before a-c.
      const keys = ['b', 'a/b', 'a-c', 'a/a/z', 'a0', 'ab/c', 'a/b2', 'A'];
      for (const key of keys) await store.putObject(`${base}${key}`, key);

      const all = await collect(store.list(base));
      const underA = await collect(store.list(`${base}a/`));
      const startingWithA = await collect(store.list(`${base}a`));
      const exact = await collect(store.list(`${base}a-c`));
      const none = await collect(store.list(`${base}zz`));

      const order = fixture.listOrder === 'path-segments' ? bySegments : lexicographic;
      const sorted = keys.map((key) => `${base}${key}`).sort(order);
      expect(all).toEqual(sorted);
      expect(underA).toEqual([`${base}a/a/z`, `${base}a/b`, `${base}a/b2`]);
      expect(startingWithA).toEqual(sorted.filter((key) => key.startsWith(`${base}a`)));
      expect(exact).toEqual([`${base}a-c`]);
      expect(none).toEqual([]);
    });

    it('lists more than one page (1001 keys) completely and in order', async () => {
      const base = folder();
      const keys = Array.from({ length: 1001 }, (_, i) => `${base}k/${String(i).padStart(4, '0')}`);
      await inBatches(keys, 50, (key) => store.putObject(key, 'x'));

      const listed = await collect(store.list(`${base}k/`));

      expect(listed).toHaveLength(1001);
      expect(listed).toEqual(keys);
    });

    it('deletes an object, and deleting a missing key is not an error', async () => {
      const base = folder();
      await store.putObject(`${base}doomed`, 'x');
      await store.putObject(`${base}kept`, 'y');

      await store.delete(`${base}doomed`);
      await store.delete(`${base}doomed`);
      await store.delete(`${base}never-existed`);

      expect(await store.head(`${base}doomed`)).toBeUndefined();
      expect(await collect(store.list(base))).toEqual([`${base}kept`]);
      await expect(store.getObject(`${base}doomed`)).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('throws ObjectNotFoundError for a missing key', async () => {
      const key = `${folder()}missing`;

      await expect(store.getObject(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.getStream(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.getObject(key)).rejects.toMatchObject({ name: 'ObjectNotFoundError' });
    });

    it('leaves nothing under the key when the source stream fails mid-way', async () => {
      // Prepare: 12 MiB before the failure, more than one multipart part for S3.
      const key = `${folder()}payload`;
      const source = generatedStream(40 * MiB, { failAfterBytes: 12 * MiB });

      // Act
      const failure = await store.putStream(key, source.stream).catch((error: unknown) => error);

      // Assess
      expect(failure).toBeInstanceOf(StoreWriteFailedError);
      expect((failure as Error).cause).toMatchObject({ message: 'source failed mid-way' });
      expect(await store.head(key)).toBeUndefined();
      expect(await collect(store.list(key))).toEqual([]);
      expect(await fixture.pendingWrites(key)).toEqual([]);
    });

    it('rethrows a named Lifeboat error from the source as it is', async () => {
      const key = `${folder()}payload`;
      const dumpFailure = new DumpFailedError('pg_dump exited with code 1');
      const source = generatedStream(8 * MiB, { failAfterBytes: 1 * MiB, failWith: dumpFailure });

      await expect(store.putStream(key, source.stream)).rejects.toBe(dumpFailure);
      expect(await store.head(key)).toBeUndefined();
    });

    it('keeps the existing object when an overwrite fails', async () => {
      // Prepare
      const key = `${folder()}payload`;
      const good = generatedStream(6 * MiB);
      await store.putStream(key, good.stream);
      const failing = generatedStream(30 * MiB, { failAfterBytes: 12 * MiB });

      // Act
      await expect(store.putStream(key, failing.stream)).rejects.toBeInstanceOf(StoreWriteFailedError);

      // Assess
      expect(await sha256Of(await store.getStream(key))).toEqual({ sha256: good.sha256(), bytes: 6 * MiB });
      expect(await fixture.pendingWrites(key)).toEqual([]);
    });

    it('refuses keys that could escape the root or are malformed', async () => {
      const base = folder();
      const bad = [
        '',
        '/etc/passwd',
        '../outside',
        `${base}../../outside`,
        `${base}./x`,
        `${base}a\\b`,
        `${base}a//b`,
        `${base}trailing/`,
        `${base}nul\u0000`,
      ];

      for (const key of bad) {
        await expect(store.putObject(key, 'x'), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
        await expect(store.getObject(key), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
        await expect(store.head(key), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
        await expect(store.delete(key), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
      }
      const body = generatedStream(1024).stream;
      await expect(store.putStream('../outside', body)).rejects.toBeInstanceOf(InvalidStoreKeyError);
      // The caller's stream is released, not left paused with its producer blocked.
      expect(body.destroyed).toBe(true);
      await expect(collect(store.list('../'))).rejects.toBeInstanceOf(InvalidStoreKeyError);
    });
  });
}
