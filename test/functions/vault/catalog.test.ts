import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BackupNotFoundError,
  InvalidIdentifierError,
  ManifestInvalidError,
  ManifestMissingError,
  ManifestTooLargeError,
  ObjectNotFoundError,
  SizeMismatchError,
  UnsupportedFormatVersionError,
} from '../../../functions/lib/errors.ts';
import {
  findBackup,
  listBackups,
  listIncomplete,
  MAX_MANIFEST_BYTES,
  readManifest,
  writeManifest,
} from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { serializeManifest, type BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { sampleManifest } from './fixtures.ts';

const PAYLOAD = Buffer.from('encrypted bytes stand-in');

/** Stores a payload and then its manifest, as a backup run does. */
async function completeBackup(store: VaultStore, sourceId: string, backupId: string): Promise<BackupManifest> {
  await store.putObject(payloadKey(sourceId, backupId), PAYLOAD);
  const manifest = sampleManifest({
    sourceId,
    backupId,
    payload: { ...sampleManifest().payload!, storedBytes: PAYLOAD.length },
  });
  await writeManifest(store, manifest);
  return manifest;
}

let root: string;
let store: LocalStore;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'lifeboat-catalog-'));
  store = new LocalStore(root);
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('listBackups', () => {
  it('lists complete backups of every source, newest first', async () => {
    await completeBackup(store, 'orders-db', '20261120T010000Z-aaaaaaaa');
    await completeBackup(store, 'billing', '20261122T010000Z-bbbbbbbb');
    await completeBackup(store, 'orders-db', '20261121T010000Z-cccccccc');
    // Sources whose ids prefix each other must not bleed into one another.
    await completeBackup(store, 'orders-db-eu', '20261119T010000Z-dddddddd');

    const all = await listBackups(store);
    const orders = await listBackups(store, { sourceId: 'orders-db' });

    expect(all.map((m) => `${m.sourceId}/${m.backupId}`)).toEqual([
      'billing/20261122T010000Z-bbbbbbbb',
      'orders-db/20261121T010000Z-cccccccc',
      'orders-db/20261120T010000Z-aaaaaaaa',
      'orders-db-eu/20261119T010000Z-dddddddd',
    ]);
    expect(orders.map((m) => m.backupId)).toEqual(['20261121T010000Z-cccccccc', '20261120T010000Z-aaaaaaaa']);
    expect(all[0]).toEqual(expect.objectContaining({ format: 'lifeboat-backup', kind: 'dump' }));
  });

  it('never lists a backup without a manifest, and lists it as incomplete instead', async () => {
    await completeBackup(store, 'orders-db', '20261120T010000Z-aaaaaaaa');
    await store.putObject(payloadKey('orders-db', '20261121T010000Z-cccccccc'), PAYLOAD);
    await store.putObject(payloadKey('billing', '20261122T010000Z-bbbbbbbb'), PAYLOAD);

    const complete = await listBackups(store);
    const incomplete = await listIncomplete(store);
    const incompleteOrders = await listIncomplete(store, { sourceId: 'orders-db' });

    expect(complete.map((m) => m.backupId)).toEqual(['20261120T010000Z-aaaaaaaa']);
    expect(incomplete).toEqual([
      {
        sourceId: 'billing',
        backupId: '20261122T010000Z-bbbbbbbb',
        startedAt: new Date('2026-11-22T01:00:00Z'),
        keys: [payloadKey('billing', '20261122T010000Z-bbbbbbbb')],
      },
      {
        sourceId: 'orders-db',
        backupId: '20261121T010000Z-cccccccc',
        startedAt: new Date('2026-11-21T01:00:00Z'),
        keys: [payloadKey('orders-db', '20261121T010000Z-cccccccc')],
      },
    ]);
    expect(incompleteOrders.map((b) => b.backupId)).toEqual(['20261121T010000Z-cccccccc']);
  });

  it('ignores verification results and objects outside the layout', async () => {
    const manifest = await completeBackup(store, 'orders-db', '20261120T010000Z-aaaaaaaa');
    await store.putObject(verificationKey('orders-db', manifest.backupId, new Date()), '{}');
    await store.putObject('backups/README', 'not a backup');
    await store.putObject('backups/orders-db/not-a-backup-id/payload', 'x');
    await store.putObject('elsewhere/manifest.json', '{}');

    expect((await listBackups(store)).map((m) => m.backupId)).toEqual([manifest.backupId]);
    expect(await listIncomplete(store)).toEqual([]);
  });

  it('fails on an unreadable manifest unless told to skip it', async () => {
    await completeBackup(store, 'orders-db', '20261120T010000Z-aaaaaaaa');
    const newer = JSON.parse(serializeManifest(sampleManifest({ backupId: '20261121T010000Z-cccccccc' })));
    await store.putObject(manifestKey('orders-db', '20261121T010000Z-cccccccc'), JSON.stringify({ ...newer, formatVersion: '2.0' }));
    const skipped: string[] = [];

    await expect(listBackups(store)).rejects.toBeInstanceOf(UnsupportedFormatVersionError);
    const listed = await listBackups(store, {
      onUnreadable: (error, backup) => skipped.push(`${backup.backupId}: ${error.name}`),
    });

    expect(listed.map((m) => m.backupId)).toEqual(['20261120T010000Z-aaaaaaaa']);
    expect(skipped).toEqual(['20261121T010000Z-cccccccc: UnsupportedFormatVersionError']);
  });

  it('returns nothing for an empty vault', async () => {
    expect(await listBackups(store)).toEqual([]);
    expect(await listIncomplete(store)).toEqual([]);
  });
});

describe('readManifest and findBackup', () => {
  it('read a complete backup', async () => {
    const manifest = await completeBackup(store, 'orders-db', '20261120T010000Z-aaaaaaaa');

    expect(await readManifest(store, 'orders-db', manifest.backupId)).toEqual(manifest);
    expect(await findBackup(store, manifest.backupId)).toEqual(manifest);
  });

  it('tell a missing backup from an incomplete one', async () => {
    await store.putObject(payloadKey('orders-db', '20261121T010000Z-cccccccc'), PAYLOAD);

    await expect(readManifest(store, 'orders-db', '20261120T010000Z-aaaaaaaa')).rejects.toBeInstanceOf(BackupNotFoundError);
    await expect(readManifest(store, 'orders-db', '20261121T010000Z-cccccccc')).rejects.toBeInstanceOf(ManifestMissingError);
    await expect(findBackup(store, '20261120T010000Z-aaaaaaaa')).rejects.toBeInstanceOf(BackupNotFoundError);
    await expect(findBackup(store, '20261121T010000Z-cccccccc')).rejects.toBeInstanceOf(ManifestMissingError);
  });

  it('refuse a manifest that describes another backup than its folder', async () => {
    const other = sampleManifest({ backupId: '20261120T010000Z-aaaaaaaa' });
    await store.putObject(manifestKey('orders-db', '20261121T010000Z-cccccccc'), serializeManifest(other));

    await expect(readManifest(store, 'orders-db', '20261121T010000Z-cccccccc')).rejects.toThrow(ManifestInvalidError);
    await expect(readManifest(store, 'orders-db', '20261121T010000Z-cccccccc')).rejects.toThrow(/describes backup/);
  });

  it('refuse malformed ids before touching the store', async () => {
    await expect(findBackup(store, 'latest')).rejects.toBeInstanceOf(InvalidIdentifierError);
    await expect(readManifest(store, '../x', '20261120T010000Z-aaaaaaaa')).rejects.toBeInstanceOf(InvalidIdentifierError);
  });

  it('findBackup refuses to guess when two sources share a backup id', async () => {
    await completeBackup(store, 'orders-db', '20261120T010000Z-aaaaaaaa');
    await completeBackup(store, 'billing', '20261120T010000Z-aaaaaaaa');

    await expect(findBackup(store, '20261120T010000Z-aaaaaaaa')).rejects.toThrow(/several sources \(billing, orders-db\)/);
  });
});

describe('writeManifest', () => {
  it('writes the manifest last, beside a payload of exactly the recorded size', async () => {
    const manifest = sampleManifest({ payload: { ...sampleManifest().payload!, storedBytes: PAYLOAD.length } });
    await store.putObject(payloadKey(manifest.sourceId, manifest.backupId), PAYLOAD);

    const key = await writeManifest(store, manifest);

    expect(key).toBe(manifestKey(manifest.sourceId, manifest.backupId));
    expect((await store.getObject(key)).toString()).toBe(serializeManifest(manifest));
  });

  it('refuses when the payload is missing or of another size, writing nothing', async () => {
    const manifest = sampleManifest({ payload: { ...sampleManifest().payload!, storedBytes: PAYLOAD.length + 1 } });

    await expect(writeManifest(store, manifest)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await store.putObject(payloadKey(manifest.sourceId, manifest.backupId), PAYLOAD);
    await expect(writeManifest(store, manifest)).rejects.toBeInstanceOf(SizeMismatchError);

    expect(await store.head(manifestKey(manifest.sourceId, manifest.backupId))).toBeUndefined();
  });

  it('refuses an invalid manifest', async () => {
    await expect(writeManifest(store, sampleManifest({ sourceId: 'Not Valid' }))).rejects.toBeInstanceOf(ManifestInvalidError);
  });
});

describe('manifest size cap', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lifeboat-cap-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a manifest over 16 MiB with ManifestTooLargeError after reading just past the cap, never the whole object', async () => {
    const local = new LocalStore(root);
    const backupId = '20261122T053327Z-k3x7q2ab';
    const key = manifestKey('orders-db', backupId);
    // 64 MiB: what a writer could drop to make every `list` read and parse it.
    await local.putObject(key, Buffer.alloc(64 * 1024 * 1024, 0x20));
    let streamed = 0;
    let readWhole = false;
    const watched: VaultStore = Object.assign(Object.create(local) as VaultStore, {
      getObject: async (k: string) => {
        readWhole = true;
        return local.getObject(k);
      },
      getStream: async (k: string) => {
        const stream = await local.getStream(k);
        stream.on('data', (chunk: Buffer) => (streamed += chunk.length));
        return stream;
      },
    });

    const error = await readManifest(watched, 'orders-db', backupId).catch((e: unknown) => e as Error);

    expect(error).toBeInstanceOf(ManifestTooLargeError);
    expect((error as Error).message).toBe(
      `Manifest ${key} in ${local.location} is larger than ${MAX_MANIFEST_BYTES} bytes (16 MiB): no backup writes one that large, so it was not read or parsed`,
    );
    expect(readWhole).toBe(false);
    expect(streamed).toBeLessThan(MAX_MANIFEST_BYTES + 2 * 1024 * 1024);
  });

  it('reads a manifest of ordinary size as before', async () => {
    const local = new LocalStore(root);
    const manifest = await completeBackup(local, 'orders-db', '20261122T053327Z-k3x7q2ab');

    await expect(readManifest(local, 'orders-db', '20261122T053327Z-k3x7q2ab')).resolves.toEqual(manifest);
  });
});
