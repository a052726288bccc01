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
  VERIFICATIONS_DIR,
  backupPrefix,
  manifestKey,
  parseBackupId,
  parseBackupKey,
  sourcePrefix,
} from './layout.ts';
import { parseConfigManifest, type ConfigManifest } from './configManifest.ts';
import { parseManifest, payloadObjects, serializeManifest, type BackupManifest } from './manifest.ts';
import type { VaultStore } from './store.ts';
import { isVerificationName, newestVerification, type LatestVerification, type VerificationReadOptions } from './verification.ts';

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
  /**
   * Only the newest `limit` backups: ids start with their start time, so the listing alone orders them and
   * only these manifests are read. @default every backup
   */
  readonly limit?: number;
}

/** A backup folder as one listing of the vault shows it: no object read. */
export interface BackupFolder {
  readonly sourceId: string;
  readonly backupId: string;
  readonly hasManifest: boolean;
  /** Every key in the folder, in lexicographic order. */
  readonly keys: readonly string[];
  /** Every verification result's key, oldest first (names are UTC timestamps). */
  readonly verificationKeys: readonly string[];
}

/** Every backup folder of the vault (or of one source), newest first, from one paged listing. */
export async function scanBackupFolders(store: VaultStore, options: ListOptions = {}): Promise<BackupFolder[]> {
  return [...(await scanFolders(store, options.sourceId)).values()].sort(newestFirst);
}

/**
 * Manifests and reads of a vault at scale run this many at once: enough to hide a store's latency (S3
 * answers a GET in tens of milliseconds), bounded so a vault of thousands of backups does not open
 * thousands of requests (the SDK's socket pool is 50).
 */
export const READ_CONCURRENCY = 32;

/** Manifests of every complete backup, newest first: one paged listing, then the manifests read `READ_CONCURRENCY` at a time. */
export async function listBackups(store: VaultStore, options: ListBackupsOptions = {}): Promise<BackupManifest[]> {
  const folders = (await scanBackupFolders(store, options)).filter((folder) => folder.hasManifest);
  return (await readManifests(store, folders, options)).map((entry) => entry.manifest);
}

/**
 * The manifests of `folders` (complete ones, newest first), read `READ_CONCURRENCY` at a time, each with its
 * folder. With `limit`, reading stops once that many manifests were read.
 */
export async function readManifests(
  store: VaultStore,
  folders: readonly BackupFolder[],
  options: Pick<ListBackupsOptions, 'onUnreadable' | 'limit'> = {},
): Promise<{ manifest: BackupManifest; folder: BackupFolder }[]> {
  return readEach(store, folders, options, readManifest);
}

/**
 * `readManifests` for the readers that need only what every backup under `backups/` records (ids, times, the
 * payload, verification results): dumps, snapshots and configuration backups alike (`readAnyManifest`).
 */
export async function readAnyManifests(
  store: VaultStore,
  folders: readonly BackupFolder[],
  options: Pick<ListBackupsOptions, 'onUnreadable' | 'limit'> = {},
): Promise<{ manifest: CatalogManifest; folder: BackupFolder }[]> {
  return readEach(store, folders, options, readAnyManifest);
}

async function readEach<M extends CatalogManifest>(
  store: VaultStore,
  folders: readonly BackupFolder[],
  options: Pick<ListBackupsOptions, 'onUnreadable' | 'limit'>,
  readOne: (store: VaultStore, sourceId: string, backupId: string) => Promise<M>,
): Promise<{ manifest: M; folder: BackupFolder }[]> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 0)) throw new RangeError(`limit must be a number >= 0, got ${options.limit}`);
  const read: { manifest: M; folder: BackupFolder }[] = [];
  // Chunks of the pool's size keep `limit` cheap: at most one chunk is read beyond it.
  const chunk = Number.isFinite(limit) ? Math.min(READ_CONCURRENCY, Math.max(1, limit)) : folders.length;
  for (let start = 0; start < folders.length && read.length < limit; start += chunk) {
    const batch = folders.slice(start, start + chunk);
    const results = await mapConcurrent(batch, READ_CONCURRENCY, (f) => readOne(store, f.sourceId, f.backupId).then(
      (manifest) => ({ ok: true as const, manifest }),
      (error: unknown) => ({ ok: false as const, error }),
    ));
    results.forEach((result, index) => {
      const folder = batch[index]!;
      if (result.ok) {
        if (read.length < limit) read.push({ manifest: result.manifest, folder });
        return;
      }
      const unreadable = result.error instanceof Error ? result.error : new Error(String(result.error));
      if (!options.onUnreadable) throw unreadable;
      options.onUnreadable(unreadable, { sourceId: folder.sourceId, backupId: folder.backupId });
    });
  }
  return read.sort((a, b) => newestFirst(a.manifest, b.manifest));
}

/**
 * The newest verification result that counts of a folder from a listing (see `vault/verification.ts`): no
 * listing of its own, and no read at all for a backup that has none (it is `unverified`). With an
 * authenticator and no manifest, the manifest is read to check the results' binding.
 */
export async function latestVerificationOf(store: VaultStore, folder: BackupFolder, options: VerificationReadOptions = {}): Promise<LatestVerification> {
  if (folder.verificationKeys.length === 0) return { status: 'unverified' };
  const manifest = options.authenticator && !options.manifest ? await readManifest(store, folder.sourceId, folder.backupId) : options.manifest;
  return newestVerification(store, folder.verificationKeys, folder, { ...options, ...(manifest ? { manifest } : {}) });
}

/**
 * `map` over `items` with at most `concurrency` calls pending; results in input order. The first rejection stops
 * new calls and rejects once the calls already pending have settled, so nothing still runs after it.
 */
export async function mapConcurrent<T, R>(items: readonly T[], concurrency: number, map: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await map(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** Backup folders that hold objects but no manifest, newest first. */
export async function listIncomplete(store: VaultStore, options: ListOptions = {}): Promise<IncompleteBackup[]> {
  return incompleteOf(await scanBackupFolders(store, options));
}

/** The folders of a listing that have no manifest, as incomplete backups, newest first. */
export function incompleteOf(folders: readonly BackupFolder[]): IncompleteBackup[] {
  return folders
    .filter((folder) => !folder.hasManifest)
    .map((folder) => ({ sourceId: folder.sourceId, backupId: folder.backupId, startedAt: parseBackupId(folder.backupId).time, keys: [...folder.keys] }))
    .sort((a, b) => newestFirst(a, b));
}

/**
 * The manifest of one backup. Throws `BackupNotFoundError` if the folder is empty or absent,
 * `ManifestMissingError` if it holds objects but no manifest (incomplete), `ManifestInvalidError`
 * if the manifest is unreadable or describes another backup.
 */
export async function readManifest(store: VaultStore, sourceId: string, backupId: string): Promise<BackupManifest> {
  return readManifestWith(store, sourceId, backupId, parseManifest);
}

/** A backup under `backups/` as the catalog, the DR copy, retention and freshness see it: a dump, a snapshot or a configuration backup. */
export type CatalogManifest = BackupManifest | ConfigManifest;

/** `readManifest` that also reads a configuration backup's manifest (kind `config`, vault/configManifest.ts). */
export async function readAnyManifest(store: VaultStore, sourceId: string, backupId: string): Promise<CatalogManifest> {
  return readManifestWith(store, sourceId, backupId, parseAnyManifest);
}

/** A manifest of any kind: `kind: "config"` by the configuration schema, every other by the dump and snapshot one. */
export function parseAnyManifest(bytes: Uint8Array, key: string): CatalogManifest {
  let kind: unknown;
  try {
    kind = (JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as { kind?: unknown } | null)?.kind;
  } catch {
    // Not JSON: parseManifest names the problem.
  }
  return kind === 'config' ? parseConfigManifest(bytes, key) : parseManifest(bytes, key);
}

async function readManifestWith<M extends CatalogManifest>(store: VaultStore, sourceId: string, backupId: string, parse: (bytes: Uint8Array, key: string) => M): Promise<M> {
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
  const manifest = parse(bytes, key);
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
  verificationKeys: string[];
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
      folder = { sourceId: parsed.sourceId, backupId: parsed.backupId, hasManifest: false, keys: [], verificationKeys: [] };
      folders.set(id, folder);
    }
    folder.keys.push(key);
    if (parsed.name === MANIFEST_NAME) folder.hasManifest = true;
    else if (parsed.name.startsWith(`${VERIFICATIONS_DIR}/`) && isVerificationName(parsed.name.slice(VERIFICATIONS_DIR.length + 1))) {
      folder.verificationKeys.push(key);
    }
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
