/**
 * What a vault holds, read from the vault alone. A backup folder is complete once its manifest
 * exists; folders without one are incomplete (an upload in progress or one that failed) and are
 * never offered for restore.
 */
import {
  BackupNotFoundError,
  ManifestInvalidError,
  ManifestMissingError,
  ManifestTooLargeError,
  ObjectNotFoundError,
  SizeMismatchError,
} from '../errors.ts';
import {
  MANIFEST_NAME,
  backupPrefix,
  manifestKey,
  parseBackupId,
  parseBackupKey,
  sourcePrefix,
} from './layout.ts';
import { parseManifest, payloadObjects, serializeManifest, type BackupManifest } from './manifest.ts';
import type { VaultStore } from './store.ts';

/** A backup folder without a manifest: what retention may clean up once it is old enough. */
export interface IncompleteBackup {
  readonly sourceId: string;
  readonly backupId: string;
  /** When the backup started (from its id); a recent one may still be uploading. */
  readonly startedAt: Date;
  /** Every key in the folder, in lexicographic order. */
  readonly keys: string[];
}

export interface ListOptions {
  /** Only this source's backups. @default every source */
  readonly sourceId?: string;
}

export interface ListBackupsOptions extends ListOptions {
  /**
   * Called for a manifest that cannot be read (invalid, or a newer major version); that backup is then
   * skipped. @default undefined: the first unreadable manifest fails the whole listing
   */
  readonly onUnreadable?: (error: Error, backup: { sourceId: string; backupId: string }) => void;
}

/** Manifests read in parallel while listing; bounded so a large vault does not open hundreds of requests. */
const READ_CONCURRENCY = 8;

/** Manifests of every complete backup, newest first. */
export async function listBackups(store: VaultStore, options: ListBackupsOptions = {}): Promise<BackupManifest[]> {
  const folders = [...(await scanFolders(store, options.sourceId)).values()].filter((folder) => folder.hasManifest);
  const manifests: BackupManifest[] = [];
  for (let start = 0; start < folders.length; start += READ_CONCURRENCY) {
    const batch = folders.slice(start, start + READ_CONCURRENCY);
    const results = await Promise.allSettled(batch.map((f) => readManifest(store, f.sourceId, f.backupId)));
    results.forEach((result, index) => {
      if (result.status === 'fulfilled') {
        manifests.push(result.value);
        return;
      }
      const folder = batch[index]!;
      const unreadable = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
      if (!options.onUnreadable) throw unreadable;
      options.onUnreadable(unreadable, { sourceId: folder.sourceId, backupId: folder.backupId });
    });
  }
  return manifests.sort((a, b) => newestFirst(a, b));
}

/** Backup folders that hold objects but no manifest, newest first. */
export async function listIncomplete(store: VaultStore, options: ListOptions = {}): Promise<IncompleteBackup[]> {
  const incomplete: IncompleteBackup[] = [];
  for (const folder of (await scanFolders(store, options.sourceId)).values()) {
    if (folder.hasManifest) continue;
    incomplete.push({
      sourceId: folder.sourceId,
      backupId: folder.backupId,
      startedAt: parseBackupId(folder.backupId).time,
      keys: folder.keys,
    });
  }
  return incomplete.sort((a, b) => newestFirst(a, b));
}

/**
 * The manifest of one backup. Throws `BackupNotFoundError` if the folder is empty or absent,
 * `ManifestMissingError` if it holds objects but no manifest (incomplete), `ManifestInvalidError`
 * if the manifest is unreadable or describes another backup.
 */
export async function readManifest(store: VaultStore, sourceId: string, backupId: string): Promise<BackupManifest> {
  const key = manifestKey(sourceId, backupId);
  let bytes: Buffer;
  try {
    bytes = await readManifestBytes(store, key);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
    if (await hasAnyKey(store, backupPrefix(sourceId, backupId))) {
      throw new ManifestMissingError(
        `Backup ${sourceId}/${backupId} in ${store.location} is incomplete: it has no ${MANIFEST_NAME} ` +
          '(the backup failed or is still being written)',
        { cause: error },
      );
    }
    throw new BackupNotFoundError(`No backup ${backupId} of source ${sourceId} in ${store.location}`, { cause: error });
  }
  const manifest = parseManifest(bytes, key);
  // A manifest copied into the wrong folder would otherwise restore someone else's data under this id.
  if (manifest.sourceId !== sourceId || manifest.backupId !== backupId) {
    throw new ManifestInvalidError(
      `Manifest ${key} is invalid: it describes backup ${manifest.sourceId}/${manifest.backupId}, not ${sourceId}/${backupId}`,
    );
  }
  return manifest;
}

/**
 * The largest manifest read. A manifest is a few kilobytes (its table list grows it: 16 MiB holds
 * hundreds of thousands of tables); anything larger was not written by a backup.
 */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** A manifest's bytes, streamed and refused with `ManifestTooLargeError` as soon as they pass the cap: never read whole. */
async function readManifestBytes(store: VaultStore, key: string): Promise<Buffer> {
  const stream = await store.getStream(key);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size > MAX_MANIFEST_BYTES) {
        throw new ManifestTooLargeError(
          `Manifest ${key} in ${store.location} is larger than ${MAX_MANIFEST_BYTES} bytes (16 MiB): no backup writes one that large, so it was not read or parsed`,
        );
      }
      chunks.push(buffer);
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, size);
}

/** The manifest of `backupId` in whichever source holds it (found by listing the vault). */
export async function findBackup(store: VaultStore, backupId: string): Promise<BackupManifest> {
  parseBackupId(backupId);
  const sources = new Set<string>();
  for await (const key of store.list(sourcePrefix())) {
    const parsed = parseBackupKey(key);
    if (parsed?.backupId === backupId) sources.add(parsed.sourceId);
  }
  const [sourceId, ...others] = [...sources].sort();
  if (sourceId === undefined) throw new BackupNotFoundError(`No backup ${backupId} in ${store.location}`);
  if (others.length > 0) {
    throw new BackupNotFoundError(
      `Backup id ${backupId} exists under several sources (${[sourceId, ...others].join(', ')}) in ${store.location}; name the source`,
    );
  }
  return readManifest(store, sourceId, backupId);
}

/**
 * Writes the manifest, the step that makes a backup complete, so it must come last: a dump's payload
 * must already be stored with exactly `payload.storedBytes` bytes. Returns the manifest's key.
 */
export async function writeManifest(store: VaultStore, manifest: BackupManifest): Promise<string> {
  const body = serializeManifest(manifest);
  const key = manifestKey(manifest.sourceId, manifest.backupId);
  for (const payload of payloadObjects(manifest)) {
    const payloadKey = `${backupPrefix(manifest.sourceId, manifest.backupId)}${payload.key}`;
    const stored = await store.head(payloadKey);
    if (!stored) {
      throw new ObjectNotFoundError(`Refusing to write ${key}: its payload ${payloadKey} is not in ${store.location}`);
    }
    if (stored.bytes !== payload.storedBytes) {
      throw new SizeMismatchError(
        `Refusing to write ${key}: payload ${payloadKey} holds ${stored.bytes} bytes, the manifest says ${payload.storedBytes}`,
      );
    }
  }
  await store.putObject(key, body);
  return key;
}

interface Folder {
  sourceId: string;
  backupId: string;
  hasManifest: boolean;
  keys: string[];
}

/** Groups every key under `backups/` (or one source) by backup folder; keys outside the layout are ignored. */
async function scanFolders(store: VaultStore, sourceId: string | undefined): Promise<Map<string, Folder>> {
  const folders = new Map<string, Folder>();
  for await (const key of store.list(sourcePrefix(sourceId))) {
    const parsed = parseBackupKey(key);
    if (!parsed) continue;
    const id = `${parsed.sourceId}/${parsed.backupId}`;
    let folder = folders.get(id);
    if (!folder) {
      folder = { sourceId: parsed.sourceId, backupId: parsed.backupId, hasManifest: false, keys: [] };
      folders.set(id, folder);
    }
    folder.keys.push(key);
    if (parsed.name === MANIFEST_NAME) folder.hasManifest = true;
  }
  return folders;
}

async function hasAnyKey(store: VaultStore, prefix: string): Promise<boolean> {
  for await (const _key of store.list(prefix)) return true;
  return false;
}

/** Backup ids start with their UTC start time, so comparing ids orders by time. */
function newestFirst(a: { sourceId: string; backupId: string }, b: { sourceId: string; backupId: string }): number {
  if (a.backupId !== b.backupId) return a.backupId < b.backupId ? 1 : -1;
  return a.sourceId < b.sourceId ? -1 : a.sourceId > b.sourceId ? 1 : 0;
}
