/**
 * Reads a configuration backup back: the stored bytes hashed against the manifest while they stream,
 * decrypted, decompressed, split into lines; each item's salted hash, type and name checked against the
 * manifest entry at the same position, and the count at the end. `verifyConfigBackup` is this read with
 * nothing kept; a restore runs it in full before it writes anything.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressStream } from '../codec/zstd.ts';
import { createDecryptStream } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { HashingCounter } from '../engine/progress.ts';
import { ChecksumMismatchError, ManifestInvalidError, SizeMismatchError } from '../errors.ts';
import { readAnyManifest } from '../vault/catalog.ts';
import { backupPrefix, manifestKey } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import { ConfigPayloadMismatchError } from './errors.ts';
import { CONFIG_PAYLOAD_FORMAT, itemHash, type ConfigItem, type PayloadHeader } from './items.ts';
import { type ConfigCounts, type ConfigItemEntry, type ConfigManifest } from './manifest.ts';

/**
 * The manifest of configuration backup `sourceId/backupId`, read as the catalog reads every manifest (size cap, the
 * folder it is in checked): `BackupNotFoundError` or `ManifestMissingError` when there is none, `ManifestInvalidError`
 * when it is another kind of backup.
 */
export async function readConfigManifest(store: VaultStore, sourceId: string, backupId: string): Promise<ConfigManifest> {
  const manifest = await readAnyManifest(store, sourceId, backupId);
  if (manifest.kind !== 'config') {
    throw new ManifestInvalidError(`Manifest ${manifestKey(sourceId, backupId)} is a ${manifest.kind} backup, not a configuration backup (kind "config")`);
  }
  return manifest;
}

/** Every item of the backup with its manifest entry, in payload order; throws on the first mismatch. */
export async function* readConfigItems(store: VaultStore, manifest: ConfigManifest, keyring: BackupKeyring): AsyncGenerator<{ item: ConfigItem; entry: ConfigItemEntry }> {
  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${manifest.payload.key}`;
  const label = `${manifest.sourceId}/${manifest.backupId}`;
  const stored = new HashingCounter();
  const body: Readable = await store.getStream(key);
  const plain = new PassThrough();
  // A failing stage destroys `plain` with its error, which ends the loop below with that error.
  const pumped = pipeline(body, stored, createDecryptStream(keyring, manifest.encryption.encryptionContext), createDecompressStream(), plain);
  pumped.catch(() => {});
  let header: PayloadHeader | undefined;
  let index = 0;
  let rest = '';
  const decoder = new TextDecoder('utf-8', { fatal: true });

  const take = (line: string): { item: ConfigItem; entry: ConfigItemEntry } | undefined => {
    if (!header) {
      const parsed = parseLine(line, label, 'header') as Partial<PayloadHeader>;
      if (parsed.record !== 'header' || parsed.format !== CONFIG_PAYLOAD_FORMAT || typeof parsed.salt !== 'string') {
        throw new ConfigPayloadMismatchError(`Backup ${label}: the payload does not start with a ${CONFIG_PAYLOAD_FORMAT} header`);
      }
      header = parsed as PayloadHeader;
      return undefined;
    }
    const entry = manifest.content.items[index];
    if (!entry) throw new ConfigPayloadMismatchError(`Backup ${label}: the payload holds more items than the manifest's ${manifest.content.items.length}`);
    const item = parseLine(line, label, `item ${index + 1}`) as ConfigItem;
    if (item.record !== entry.type || item.name !== entry.name) {
      throw new ConfigPayloadMismatchError(`Backup ${label}: item ${index + 1} is ${item.record} ${String(item.name)}, the manifest lists ${entry.type} ${entry.name}`);
    }
    if (itemHash(header.salt, line) !== entry.sha256) {
      throw new ConfigPayloadMismatchError(`Backup ${label}: ${entry.type} ${entry.name} does not match its hash in the manifest`);
    }
    index += 1;
    return { item, entry };
  };

  try {
    for await (const chunk of plain) {
      rest += decoder.decode(chunk as Buffer, { stream: true });
      let newline = rest.indexOf('\n');
      while (newline >= 0) {
        const found = take(rest.slice(0, newline));
        rest = rest.slice(newline + 1);
        if (found) yield found;
        newline = rest.indexOf('\n');
      }
    }
    await pumped;
  } finally {
    // A reader that stops early (or a mismatch) must not leave the object open.
    if (!plain.readableEnded) {
      body.destroy();
      plain.destroy();
    }
  }
  rest += decoder.decode();
  if (rest !== '') throw new ConfigPayloadMismatchError(`Backup ${label}: the payload ends in the middle of a line`);
  if (stored.bytes !== manifest.payload.storedBytes) throw new SizeMismatchError(`Backup ${label}: ${key} holds ${stored.bytes} bytes, the manifest says ${manifest.payload.storedBytes}`);
  if (stored.digest() !== manifest.payload.sha256) throw new ChecksumMismatchError(`Backup ${label}: ${key} does not match the manifest's SHA-256`);
  if (!header) throw new ConfigPayloadMismatchError(`Backup ${label}: the payload is empty`);
  if (index !== manifest.content.items.length) {
    throw new ConfigPayloadMismatchError(`Backup ${label}: the payload holds ${index} items, the manifest lists ${manifest.content.items.length}`);
  }
}

function parseLine(line: string, label: string, what: string): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    // The line itself may hold a value: never quoted in the error.
    throw new ConfigPayloadMismatchError(`Backup ${label}: ${what} of the payload is not JSON`, { cause: error });
  }
}

export interface ConfigVerification {
  readonly sourceId: string;
  readonly backupId: string;
  readonly items: number;
  readonly counts: ConfigCounts;
  readonly storedBytes: number;
}

/** Decrypts the whole payload and checks every item's hash, the item count, the size and the SHA-256. */
export async function verifyConfigBackup(store: VaultStore, manifest: ConfigManifest, keyring: BackupKeyring): Promise<ConfigVerification> {
  let items = 0;
  for await (const _found of readConfigItems(store, manifest, keyring)) items += 1;
  return { sourceId: manifest.sourceId, backupId: manifest.backupId, items, counts: manifest.content.counts, storedBytes: manifest.payload.storedBytes };
}
