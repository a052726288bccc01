import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile, readdir, open, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { SourceUnreachableError, TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import {
  directorySource,
  directoryTarget,
  listFileSetSnapshots,
  loadIndex,
  packsPrefix,
  pruneFileSet,
  restoreFileSet,
  resolveFileSetSnapshot,
  runFileSetBackup,
  verifyFileSet,
} from '../../../functions/lib/fileset/index.ts';
import { Chunker, gearTable } from '../../../functions/lib/fileset/chunker.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';

const keyring = rawAesKeyring({ keyNamespace: 'lifeboat', keyName: 'k-fileset', key: randomBytes(32), createdAt: '2026-12-02T00:00:00Z' });
const SOURCE = 'uploads';
/** Buffers compared by digest: vitest's deep equality walks a Buffer byte by byte. */
const digest = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const PACK_BYTES = 1024 * 1024;

let work: string;
let tree: string;
let store: LocalStore;
let vault: string;

async function packKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(packsPrefix(SOURCE))) keys.push(key);
  return keys;
}

async function writeTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) files.set(`docs/d${i % 4}/file-${i}.bin`, randomBytes(10_000 + i * 5_000));
  files.set('big/video.bin', randomBytes(3 * 1024 * 1024 + 12_345));
  files.set('empty.txt', Buffer.alloc(0));
  for (const [name, data] of files) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), data);
  }
  return files;
}

async function backup(now?: Date) {
  return runFileSetBackup({ store, keyring, sourceId: SOURCE, source: directorySource(tree), packBytes: PACK_BYTES, ...(now ? { now } : {}) });
}

// Real files, real zstd and real AES-GCM on a shared two-core machine: generous time.
describe('file sets in a directory vault', { timeout: 240_000 }, () => {
  let original: Map<string, Buffer>;
  let first: Awaited<ReturnType<typeof backup>>;
  let second: Awaited<ReturnType<typeof backup>>;
  let third: Awaited<ReturnType<typeof backup>>;
  const changed = 'docs/d1/file-5.bin';

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'lifeboat-fileset-'));
    tree = path.join(work, 'tree');
    vault = path.join(work, 'vault');
    store = new LocalStore(vault);
    original = await writeTree(tree);
    first = await backup(new Date(Date.now() - 3000));
  }, 240_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('stores every file, in packs of about the pack size, and lists the snapshot', async () => {
    const totalBytes = [...original.values()].reduce((sum, b) => sum + b.byteLength, 0);
    expect(first.manifest.totals).toMatchObject({ files: original.size, bytes: totalBytes, filesRead: original.size, filesReused: 0 });
    // A pack closes once it holds PACK_BYTES, so 7 MB make several packs (a chunk may take one past the mark).
    expect(first.manifest.totals.newPacks).toBeGreaterThanOrEqual(3);
    expect(first.manifest.totals.newPacks).toBeLessThanOrEqual(Math.ceil(totalBytes / PACK_BYTES));
    // Random data does not compress: stored ≈ content plus envelope and framing overhead.
    expect(first.manifest.totals.newStoredBytes).toBeGreaterThan(totalBytes);
    expect(first.manifest.totals.newStoredBytes).toBeLessThan(totalBytes * 1.02 + 64 * 1024);
    expect((await packKeys()).length).toBe(first.manifest.totals.newPacks);
    const listed = await listFileSetSnapshots(store, SOURCE);
    expect(listed.map((m) => m.backupId)).toEqual([first.manifest.backupId]);
  });

  it('a second backup of the unchanged tree reads nothing and stores no new pack', async () => {
    const before = await packKeys();
    second = await backup(new Date(Date.now() - 2000));
    expect(second.manifest.totals).toMatchObject({ filesRead: 0, filesReused: original.size, newPacks: 0, newStoredBytes: 0, files: original.size });
    expect(second.manifest.parent).toBe(first.manifest.backupId);
    expect(await packKeys()).toEqual(before);
  });

  it('one changed file stores about its own size', async () => {
    const replacement = randomBytes(original.get(changed)!.byteLength);
    await writeFile(path.join(tree, changed), replacement);
    third = await backup(new Date(Date.now() - 1000));
    expect(third.manifest.totals.filesRead).toBe(1);
    expect(third.manifest.totals.filesReused).toBe(original.size - 1);
    expect(third.manifest.totals.newPacks).toBe(1);
    expect(third.manifest.totals.newStoredBytes).toBeGreaterThanOrEqual(replacement.byteLength);
    expect(third.manifest.totals.newStoredBytes).toBeLessThan(replacement.byteLength + 2048);
  });

  it('restores one file as it was at an older snapshot, and refuses to overwrite unless told', async () => {
    const target = path.join(work, 'restore-one');
    await restoreFileSet({ store, keyring, manifest: first.manifest, target: directoryTarget(target), select: changed });
    expect(digest(await readFile(path.join(target, changed)))).toBe(digest(original.get(changed)!));
    expect(await readdir(target)).toEqual(['docs']);

    const refused = restoreFileSet({ store, keyring, manifest: third.manifest, target: directoryTarget(target), select: changed });
    await expect(refused).rejects.toBeInstanceOf(TargetNotEmptyError);
    await expect(refused).rejects.toThrow(/docs\/d1\/file-5\.bin.*--overwrite/);
    expect(digest(await readFile(path.join(target, changed)))).toBe(digest(original.get(changed)!));

    await restoreFileSet({ store, keyring, manifest: third.manifest, target: directoryTarget(target), select: changed, overwrite: true });
    expect(digest(await readFile(path.join(target, changed)))).toBe(digest(await readFile(path.join(tree, changed))));
  });

  it('restores a whole snapshot and a prefix byte for byte', async () => {
    const whole = path.join(work, 'restore-all');
    const result = await restoreFileSet({ store, keyring, manifest: first.manifest, target: directoryTarget(whole) });
    expect(result.files).toBe(original.size);
    for (const [name, data] of original) expect(digest(await readFile(path.join(whole, name))), name).toBe(digest(data));

    const some = path.join(work, 'restore-prefix');
    const prefix = await restoreFileSet({ store, keyring, manifest: first.manifest, target: directoryTarget(some), select: 'docs/d2/' });
    expect(prefix.files).toBe(10);
    expect((await readdir(path.join(some, 'docs'))).sort()).toEqual(['d2']);
  });

  it('verify reads every pack and checks every chunk; a corrupted pack is found and named', async () => {
    const clean = await verifyFileSet({ store, keyring, manifest: first.manifest });
    expect(clean).toMatchObject({ ok: true, problems: [], packsRead: first.manifest.totals.packs });
    expect(clean.chunksChecked).toBe(first.manifest.totals.chunks);

    const victim = (await packKeys())[1]!;
    const name = victim.slice(packsPrefix(SOURCE).length);
    const file = path.join(vault, victim);
    const handle = await open(file, 'r+');
    const size = (await handle.stat()).size;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, Math.floor(size / 2));
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, Math.floor(size / 2));
    await handle.close();
    try {
      const damaged = await verifyFileSet({ store, keyring, manifest: first.manifest });
      expect(damaged.ok).toBe(false);
      expect(damaged.problems.map((p) => p.object)).toEqual([name]);
      expect(damaged.problems[0]!.message).toMatch(/ecrypt|SHA-256|match/);
      // Reading no data only checks presence and sizes: a flipped byte keeps the size.
      const light = await verifyFileSet({ store, keyring, manifest: first.manifest, readDataPercent: 0 });
      expect(light).toMatchObject({ ok: true, packsRead: 0 });
    } finally {
      const repair = await open(file, 'r+');
      byte[0] = byte[0]! ^ 0xff;
      await repair.write(byte, 0, 1, Math.floor(size / 2));
      await repair.close();
    }
    expect((await verifyFileSet({ store, keyring, manifest: first.manifest, readDataPercent: 50 })).packsRead).toBe(Math.max(1, Math.round(first.manifest.totals.packs / 2)));
  });

  it('an interrupted backup leaves nothing listed, and a rerun and prune clean up after it', async () => {
    await writeFile(path.join(tree, 'new/a.bin'.replace('/', '-')), randomBytes(2 * PACK_BYTES));
    const packsBefore = await packKeys();
    const stopped = runFileSetBackup({
      store, keyring, sourceId: SOURCE, source: directorySource(tree), packBytes: PACK_BYTES,
      onPackStored: () => { throw new Error('power cut'); },
    });
    await expect(stopped).rejects.toThrow('power cut');
    const listed = await listFileSetSnapshots(store, SOURCE);
    expect(listed.map((m) => m.backupId)).toEqual([first, second, third].map((r) => r.manifest.backupId));
    const orphans = (await packKeys()).filter((k) => !packsBefore.includes(k));
    expect(orphans.length).toBe(1);

    // A prune within the grace period leaves the packs of what may be a running backup alone.
    const early = await pruneFileSet({ store, keyring, sourceId: SOURCE, policy: { days: 0, keepLast: 10, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } } });
    expect(early.inProgressPacks).toBe(1);
    expect(early.deletedPacks).toEqual([]);
    const late = await pruneFileSet({ store, keyring, sourceId: SOURCE, incompleteGraceMs: 0, policy: { days: 0, keepLast: 10, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } } });
    expect(late.deletedPacks.map((n) => `${packsPrefix(SOURCE)}${n}`)).toEqual(orphans);
    expect(await packKeys()).toEqual(packsBefore);
    await rm(path.join(tree, 'new-a.bin'));
  });

  it('prune deletes only packs no kept snapshot refers to', async () => {
    // A new big file's chunks fill packs of their own: once no kept snapshot has the old one, those packs go.
    const oldVideo = original.get('big/video.bin')!;
    await writeFile(path.join(tree, 'big/video.bin'), randomBytes(oldVideo.byteLength));
    const fourth = await backup();
    const packsBefore = await packKeys();
    const report = await pruneFileSet({ store, keyring, sourceId: SOURCE, policy: { days: 0, keepLast: 1, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } } });
    expect(report.deletedSnapshots).toEqual([first, second, third].map((r) => r.manifest.backupId));
    expect(report.keptSnapshots.map((s) => s.backupId)).toEqual([fourth.manifest.backupId]);
    const { packs: referenced } = await loadIndex(store, keyring, fourth.manifest);
    expect(report.deletedPacks.length).toBeGreaterThanOrEqual(1);
    expect(report.deletedPacks.filter((name) => referenced.has(name))).toEqual([]);
    const after = await packKeys();
    expect(after.length).toBe(packsBefore.length - report.deletedPacks.length);
    expect(after.map((k) => k.slice(packsPrefix(SOURCE).length)).sort()).toEqual([...referenced.keys()].sort());
    expect(await listFileSetSnapshots(store, SOURCE)).toHaveLength(1);

    const latest = await resolveFileSetSnapshot(store, SOURCE, 'latest');
    expect(await verifyFileSet({ store, keyring, manifest: latest })).toMatchObject({ ok: true, problems: [] });
    const again = path.join(work, 'restore-after-prune');
    await restoreFileSet({ store, keyring, manifest: latest, target: directoryTarget(again) });
    for (const name of original.keys()) expect(digest(await readFile(path.join(again, name))), name).toBe(digest(await readFile(path.join(tree, name))));
  });

  it('a file that cannot be read fails the backup with its name, and nothing new is listed', async () => {
    const before = (await listFileSetSnapshots(store, SOURCE)).map((m) => m.backupId);
    const real = directorySource(tree);
    const source = { ...real, open: (entry: Parameters<typeof real.open>[0]) => (entry.path === 'docs/d3/file-3.bin' ? Promise.reject(new Error('EACCES')) : real.open(entry)) };
    // Every file is read: a new mtime on all of them.
    for (const name of original.keys()) await utimes(path.join(tree, name), new Date(), new Date(Date.now() + 60_000));
    const failed = runFileSetBackup({ store, keyring, sourceId: SOURCE, source, packBytes: PACK_BYTES });
    await expect(failed).rejects.toBeInstanceOf(SourceUnreachableError);
    await expect(failed).rejects.toThrow('Cannot read docs/d3/file-3.bin: Error: EACCES');
    expect((await listFileSetSnapshots(store, SOURCE)).map((m) => m.backupId)).toEqual(before);
  });

  it('a changed mtime alone rereads the file but stores nothing new', async () => {
    await backup();
    const file = path.join(tree, 'docs/d0/file-0.bin');
    await utimes(file, new Date(), new Date(Date.now() + 120_000));
    const result = await backup();
    expect(result.manifest.totals).toMatchObject({ filesRead: 1, newPacks: 0, newStoredBytes: 0 });
  });
});

describe('the latest file-set snapshot', () => {
  it('is the one completed last, even among snapshots started within the same second', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-fileset-latest-'));
    try {
      const local = new LocalStore(path.join(dir, 'vault'));
      const files = path.join(dir, 'files');
      await mkdir(files);
      await writeFile(path.join(files, 'a.txt'), 'a');
      const sameSecond = new Date('2026-12-02T10:00:00.000Z');
      // Ids are named to the second with a random suffix: four in one second sort by chance, not by age.
      for (let i = 0; i < 4; i++) {
        const run = await runFileSetBackup({ store: local, keyring, sourceId: 'one', source: directorySource(files), now: sameSecond });
        expect((await resolveFileSetSnapshot(local, 'one', 'latest')).backupId).toBe(run.manifest.backupId);
        expect((await listFileSetSnapshots(local, 'one')).at(-1)!.backupId).toBe(run.manifest.backupId);
        if (i > 0) expect(run.manifest.totals).toMatchObject({ filesRead: 0, filesReused: 1 });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the chunker', () => {
  it('cuts by content: an insertion near the start leaves later chunks unchanged', () => {
    // Fixed bytes: with random ones, about 1 run in 1,300 (9 of 12,000 measured) has 3 chunks differ, not 2: the
    // 8 inserted bytes move a position across the minimum or the average size, where the mask changes, so the
    // insertion adds a cut and the chunks resync one cut later. The bound below is for the common case.
    const gear = gearTable(seededBytes('gear', 32));
    const params = { minBytes: 4096, avgBytes: 16384, maxBytes: 65536 };
    const data = seededBytes('data', 1024 * 1024);
    const cut = (input: Buffer) => {
      const chunker = new Chunker(gear, params);
      const out: Buffer[] = [];
      for (let i = 0; i < input.byteLength; i += 7000) out.push(...chunker.push(input.subarray(i, i + 7000)));
      return [...out, ...chunker.finish()];
    };
    const a = cut(data);
    const b = cut(Buffer.concat([data.subarray(0, 1000), Buffer.from('inserted'), data.subarray(1000)]));
    expect(digest(Buffer.concat(a))).toBe(digest(data));
    expect(a.every((c, i) => c.byteLength <= params.maxBytes && (i === a.length - 1 || c.byteLength >= params.minBytes))).toBe(true);
    const hashes = (list: Buffer[]) => new Set(list.map((c) => createHash('sha256').update(c).digest('hex')));
    const shared = [...hashes(a)].filter((h) => hashes(b).has(h)).length;
    expect(a.length).toBeGreaterThan(30);
    expect(shared).toBeGreaterThanOrEqual(a.length - 2);
  });
});

/** Deterministic pseudo-random bytes: SHA-256 of a label and a counter, block after block. */
function seededBytes(label: string, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) blocks.push(createHash('sha256').update(`${label}:${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}
