/**
 * A file set whose keyring widens (the air-gapped vault's key added to the vault key, docs/air-gapped-vault.md):
 * every object of a snapshot must open with each key of its keyring alone, so a snapshot never refers to packs
 * sealed under less, and the plain pack list (format 1.1) says exactly what the index says. Real envelope
 * encryption, over a stand-in KMS (test/harness/kms.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kmsKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { DecryptionFailedError } from '../../../functions/lib/errors.ts';
import { chunkIdKeyKey, parsePackList, serializeFileSetManifest, snapshotManifestKey, snapshotObjectKey } from '../../../functions/lib/fileset/format.ts';
import { directorySource, directoryTarget, loadIndex, restoreFileSet, runFileSetBackup, verifyFileSet } from '../../../functions/lib/fileset/index.ts';
import { keyringCovers } from '../../../functions/lib/fileset/backup.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { fakeKms } from '../../harness/kms.ts';

const VAULT_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const AIR_GAP_KEY = 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666';
const SOURCE = 'uploads';
const clientProvider = fakeKms();
const vaultOnly = kmsKeyring({ keyIds: [VAULT_KEY], clientProvider });
const withAirGap = kmsKeyring({ keyIds: [VAULT_KEY, AIR_GAP_KEY], clientProvider });
const airGapOnly = kmsKeyring({ keyIds: [AIR_GAP_KEY], clientProvider });

let dir: string;
let tree: string;
let store: LocalStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-keyrings-'));
  tree = path.join(dir, 'tree');
  await mkdir(path.join(tree, 'docs'), { recursive: true });
  for (let i = 0; i < 6; i++) await writeFile(path.join(tree, 'docs', `f${i}.bin`), randomBytes(200_000 + i));
  store = new LocalStore(path.join(dir, 'vault'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const backup = (keyring: typeof vaultOnly, at: string) =>
  runFileSetBackup({ store, keyring, sourceId: SOURCE, source: directorySource(tree), now: new Date(at), packBytes: 256 * 1024, chunking: { minBytes: 16 * 1024, avgBytes: 64 * 1024, maxBytes: 256 * 1024 } });

async function restoresWith(keyring: typeof vaultOnly, manifest: Awaited<ReturnType<typeof backup>>['manifest']): Promise<boolean> {
  const target = await mkdtemp(path.join(dir, 'restore-'));
  await restoreFileSet({ store, keyring, manifest, target: directoryTarget(target) });
  for (let i = 0; i < 6; i++) {
    const name = path.join('docs', `f${i}.bin`);
    if (!(await readFile(path.join(target, name))).equals(await readFile(path.join(tree, name)))) return false;
  }
  return true;
}

describe('a file-set snapshot under a wider keyring', () => {
  it('does not reuse a parent sealed under fewer keys: it reads every file again, says why, and opens with the new key alone', async () => {
    const first = await backup(vaultOnly, '2026-12-04T01:00:00Z');
    const second = await backup(withAirGap, '2026-12-04T02:00:00Z');
    expect(second.manifest.parent).toBeUndefined();
    expect(second.manifest.totals).toMatchObject({ filesRead: 6, filesReused: 0 });
    expect(second.parentNotReused).toBe(
      `${first.manifest.backupId} was written under KMS key(s) ${VAULT_KEY}, not every key of KMS key(s) ${VAULT_KEY}, ${AIR_GAP_KEY}: every file was read again`,
    );
    expect(second.manifest.encryption.keyring).toEqual({ type: 'kms', keyIds: [VAULT_KEY, AIR_GAP_KEY] });
    // Its own copy of the chunk-id key, sealed under both keys; the first one is untouched.
    expect(second.manifest.chunkIdKey).toMatch(/^chunk-id-key\.[0-9a-f]{16}$/);
    expect(await store.head(`filesets/${SOURCE}/${second.manifest.chunkIdKey}`)).toBeDefined();

    expect(await restoresWith(airGapOnly, second.manifest)).toBe(true);
    expect(await restoresWith(vaultOnly, second.manifest)).toBe(true);
    await expect(restoresWith(airGapOnly, first.manifest)).rejects.toBeInstanceOf(DecryptionFailedError);
    expect(await verifyFileSet({ store, keyring: airGapOnly, manifest: second.manifest })).toMatchObject({ ok: true, problems: [] });
  });

  it('reuses a parent sealed under the same keys, and the child still opens with the air-gapped key alone', async () => {
    await backup(vaultOnly, '2026-12-04T01:00:00Z');
    const second = await backup(withAirGap, '2026-12-04T02:00:00Z');
    await writeFile(path.join(tree, 'docs', 'f0.bin'), randomBytes(200_000));
    const third = await backup(withAirGap, '2026-12-04T03:00:00Z');
    expect(third.manifest.parent).toBe(second.manifest.backupId);
    expect(third.parentNotReused).toBeUndefined();
    expect(third.manifest.totals).toMatchObject({ filesRead: 1, filesReused: 5 });
    expect(third.manifest.chunkIdKey).toBe(second.manifest.chunkIdKey);
    expect(await restoresWith(airGapOnly, third.manifest)).toBe(true);
    // And back to the vault key alone: a parent under more keys is still one this run may use.
    const fourth = await backup(vaultOnly, '2026-12-04T04:00:00Z');
    expect(fourth.manifest.parent).toBe(third.manifest.backupId);
    expect(fourth.manifest.chunkIdKey).toBeUndefined();
  });

  it('seals a new source\'s chunk-id key under every key at once, with no second copy', async () => {
    const first = await backup(withAirGap, '2026-12-04T01:00:00Z');
    expect(first.manifest.chunkIdKey).toBeUndefined();
    expect(await restoresWith(airGapOnly, first.manifest)).toBe(true);
  });
});

describe('keyringCovers', () => {
  it('holds for the same raw key or a superset of KMS keys, never across kinds', () => {
    const raw = { type: 'raw-aes' as const, keyNamespace: 'lifeboat', keyName: 'k1' };
    expect(keyringCovers(raw, raw)).toBe(true);
    expect(keyringCovers(raw, { ...raw, keyName: 'k2' })).toBe(false);
    expect(keyringCovers(raw, { ...raw, keyNamespace: 'other' })).toBe(false);
    expect(keyringCovers({ type: 'kms', keyIds: [VAULT_KEY, AIR_GAP_KEY] }, { type: 'kms', keyIds: [AIR_GAP_KEY] })).toBe(true);
    expect(keyringCovers({ type: 'kms', keyIds: [VAULT_KEY] }, { type: 'kms', keyIds: [VAULT_KEY, AIR_GAP_KEY] })).toBe(false);
    expect(keyringCovers({ type: 'kms', keyIds: [VAULT_KEY] }, raw)).toBe(false);
    expect(keyringCovers(raw, { type: 'kms', keyIds: [VAULT_KEY] })).toBe(false);
  });
});

describe('the pack list (format 1.1)', () => {
  it('lists exactly the packs of the index, their sizes and SHA-256s, bound to the manifest', async () => {
    const { manifest } = await backup(vaultOnly, '2026-12-04T01:00:00Z');
    expect(manifest.formatVersion).toBe('1.1');
    const bytes = await store.getObject(snapshotObjectKey(SOURCE, manifest.backupId, 'packs'));
    expect(manifest.packList).toEqual({ storedBytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), entries: manifest.totals.packs });
    const { packs } = await loadIndex(store, vaultOnly, manifest);
    expect(parsePackList(bytes, 'packs')).toEqual([...packs.values()].map(({ pack, storedBytes, sha256 }) => ({ pack, storedBytes, sha256 })));
    for (const pack of packs.keys()) expect((await store.head(`filesets/${SOURCE}/packs/${pack}`))!.bytes).toBe(packs.get(pack)!.storedBytes);
  });

  it('fails verification when the list is not the one the manifest names, or not what the index says', async () => {
    const { manifest } = await backup(vaultOnly, '2026-12-04T01:00:00Z');
    const key = snapshotObjectKey(SOURCE, manifest.backupId, 'packs');
    const original = await store.getObject(key);
    const lines = original.toString('utf8').trimEnd().split('\n');

    // Changed without the manifest: caught by its size, or (same size) its SHA-256.
    await store.putObject(key, Buffer.from(`${lines.slice(1).join('\n')}\n`));
    const shorter = await verifyFileSet({ store, keyring: vaultOnly, manifest, readDataPercent: 0 });
    expect(shorter.ok).toBe(false);
    expect(shorter.problems).toEqual([expect.objectContaining({ object: 'packs', error: 'SizeMismatchError' })]);
    const flipped = original.toString('utf8').replace(/"sha256":"(.)/, (_m, c: string) => `"sha256":"${c === '0' ? '1' : '0'}`);
    await store.putObject(key, Buffer.from(flipped));
    const tampered = await verifyFileSet({ store, keyring: vaultOnly, manifest, readDataPercent: 0 });
    expect(tampered.problems).toEqual([expect.objectContaining({ object: 'packs', error: 'ChecksumMismatchError' })]);

    // Changed with the manifest (a writer forging both): the list no longer says what the index says.
    const forge = async (list: string) => {
      const bytes = Buffer.from(list);
      const forged = { ...manifest, packList: { storedBytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), entries: 0 } };
      await store.putObject(key, bytes);
      await store.putObject(snapshotManifestKey(SOURCE, manifest.backupId), serializeFileSetManifest(forged));
      return verifyFileSet({ store, keyring: vaultOnly, manifest: forged, readDataPercent: 0 });
    };
    expect((await forge(`${lines.slice(1).join('\n')}\n`)).problems).toEqual([
      expect.objectContaining({ object: 'packs', error: 'ManifestInvalidError', message: expect.stringContaining(`lists ${lines.length - 1} pack(s), the index ${lines.length}`) }),
    ]);
    const first = JSON.parse(lines[0]!) as { pack: string; storedBytes: number; sha256: string };
    const wrongHash = JSON.stringify({ ...first, sha256: 'f'.repeat(64) });
    expect((await forge(`${[wrongHash, ...lines.slice(1)].join('\n')}\n`)).problems).toEqual([
      expect.objectContaining({ object: 'packs', message: expect.stringContaining(`pack ${first.pack} is not in the index as listed`) }),
    ]);
    const wrongSize = JSON.stringify({ ...first, storedBytes: first.storedBytes + 1 });
    expect((await forge(`${[wrongSize, ...lines.slice(1)].join('\n')}\n`)).problems).toEqual([expect.objectContaining({ object: 'packs' })]);
    expect((await forge(`${[...lines, lines[0]].join('\n')}\n`)).problems).toEqual([expect.objectContaining({ object: 'packs', message: expect.stringContaining('the index') })]);

    // Restored: verified again.
    await store.putObject(key, original);
    expect((await verifyFileSet({ store, keyring: vaultOnly, manifest, readDataPercent: 0 })).ok).toBe(true);
  });

  it('refuses a line that is not a pack, naming the object', () => {
    expect(() => parsePackList(Buffer.from('{"pack":"x","storedBytes":1,"sha256":"00"}\n'), 'filesets/u/snapshots/s/packs')).toThrow(/filesets\/u\/snapshots\/s\/packs: a line is not a pack/);
    expect(() => parsePackList(Buffer.from('not json\n'), 'packs')).toThrow(/packs: a line is not JSON/);
    expect(parsePackList(Buffer.from(''), 'packs')).toEqual([]);
  });

  it('a snapshot whose chunk-id key object does not hold the key it was cut with fails its chunk checks', async () => {
    await backup(vaultOnly, '2026-12-04T01:00:00Z');
    const { manifest } = await backup(withAirGap, '2026-12-04T02:00:00Z');
    // Replace the wider copy with another key sealed for this source: it opens, but names chunks differently.
    await store.putObject(`filesets/${SOURCE}/${manifest.chunkIdKey}`, await sealedOtherKey());
    const result = await verifyFileSet({ store, keyring: vaultOnly, manifest });
    expect(result.ok).toBe(false);
    expect(result.problems.some((p) => /does not match its id/.test(p.message))).toBe(true);
  });
});

/** A chunk-id key object for this source holding another 32-byte key (what a writer swapping it would store). */
async function sealedOtherKey(): Promise<Buffer> {
  const scratch = new LocalStore(path.join(dir, 'scratch'));
  const sub = path.join(dir, 'scratch-tree');
  await mkdir(sub, { recursive: true });
  await writeFile(path.join(sub, 'x'), 'x');
  await runFileSetBackup({ store: scratch, keyring: withAirGap, sourceId: SOURCE, source: directorySource(sub), now: new Date('2026-12-04T05:00:00Z') });
  return scratch.getObject(chunkIdKeyKey(SOURCE));
}
