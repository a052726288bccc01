/** Reading file-set snapshots: which are complete, and their index and file list. */
import type { BackupKeyring } from '../crypto/keyring.ts';
import { BackupNotFoundError, ObjectNotFoundError } from '../errors.ts';
import { isBackupId, parseBackupId } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import {
  type FileRecord,
  type FileSetManifest,
  type PackRecord,
  fileSetPrefix,
  parseFileRecord,
  parseFileSetManifest,
  parsePackRecord,
  snapshotManifestKey,
  snapshotObjectContext,
  snapshotObjectKey,
  snapshotsPrefix,
  FILESETS_PREFIX,
} from './format.ts';
import { readSealedLines } from './sealed.ts';

/** Source ids that have a file set in the vault. */
export async function listFileSetSources(store: VaultStore): Promise<string[]> {
  const sources = new Set<string>();
  for await (const key of store.list(FILESETS_PREFIX)) {
    const id = key.slice(FILESETS_PREFIX.length).split('/')[0];
    if (id) sources.add(id);
  }
  return [...sources].sort();
}

/** Backup ids with a `manifest.json` (complete snapshots) and without (incomplete: running or failed), oldest first. */
export async function scanSnapshots(store: VaultStore, sourceId: string): Promise<{ complete: string[]; incomplete: string[] }> {
  const prefix = snapshotsPrefix(sourceId);
  const seen = new Map<string, boolean>();
  for await (const key of store.list(prefix)) {
    const [id, name] = key.slice(prefix.length).split('/');
    if (id === undefined || !isBackupId(id)) continue;
    seen.set(id, (seen.get(id) ?? false) || name === 'manifest.json');
  }
  const ids = [...seen.keys()].sort();
  return { complete: ids.filter((id) => seen.get(id)), incomplete: ids.filter((id) => !seen.get(id)) };
}

/** Every complete snapshot's manifest, oldest first. */
export async function listFileSetSnapshots(store: VaultStore, sourceId?: string): Promise<FileSetManifest[]> {
  const sources = sourceId === undefined ? await listFileSetSources(store) : [sourceId];
  const manifests: FileSetManifest[] = [];
  for (const source of sources) {
    const ofSource: FileSetManifest[] = [];
    for (const id of (await scanSnapshots(store, source)).complete) ofSource.push(await readFileSetManifest(store, source, id));
    // Ids name the start to the second: within one second, the one completed first is the older.
    manifests.push(...ofSource.sort((a, b) => parseBackupId(a.backupId).time.getTime() - parseBackupId(b.backupId).time.getTime() || a.completedAt.localeCompare(b.completedAt)));
  }
  return manifests;
}

export async function readFileSetManifest(store: VaultStore, sourceId: string, backupId: string): Promise<FileSetManifest> {
  const key = snapshotManifestKey(sourceId, backupId);
  try {
    return parseFileSetManifest(await store.getObject(key), key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) throw new BackupNotFoundError(`No file-set snapshot ${sourceId}/${backupId} in ${store.location}`, { cause: error });
    throw error;
  }
}

/** `latest`, a full id or a unique prefix of one → the snapshot's manifest. */
export async function resolveFileSetSnapshot(store: VaultStore, sourceId: string, ref: string): Promise<FileSetManifest> {
  const { complete } = await scanSnapshots(store, sourceId);
  if (ref === 'latest' && complete.length > 0) return latestSnapshot(store, sourceId, complete);
  const matches = complete.filter((id) => id.startsWith(ref));
  if (matches.length === 0) throw new BackupNotFoundError(`No file-set snapshot of ${sourceId} matches "${ref}" in ${store.location}`);
  if (matches.length > 1) throw new BackupNotFoundError(`"${ref}" matches ${matches.length} snapshots of ${sourceId}: ${matches.slice(0, 3).join(', ')}…`);
  return readFileSetManifest(store, sourceId, matches[0]!);
}

/**
 * The newest complete snapshot. Ids name their start to the second, so snapshots started within the same
 * second sort by their random suffix: among those, the one completed last is the newest (a backup's parent
 * must be the snapshot before it, or every file is read again).
 */
async function latestSnapshot(store: VaultStore, sourceId: string, complete: readonly string[]): Promise<FileSetManifest> {
  const second = parseBackupId(complete.at(-1)!).time.getTime();
  const sameSecond = complete.filter((id) => parseBackupId(id).time.getTime() === second);
  const manifests = await Promise.all(sameSecond.map((id) => readFileSetManifest(store, sourceId, id)));
  return manifests.reduce((newest, m) => (m.completedAt > newest.completedAt ? m : newest));
}

function objectInfo(manifest: FileSetManifest, name: 'index' | 'files') {
  const info = manifest.objects.find((o) => o.key === name);
  if (!info) throw new BackupNotFoundError(`${manifest.sourceId}/${manifest.backupId} has no ${name}`);
  return info;
}

export async function* readIndex(store: VaultStore, keyring: BackupKeyring, manifest: FileSetManifest): AsyncGenerator<PackRecord> {
  const key = snapshotObjectKey(manifest.sourceId, manifest.backupId, 'index');
  for await (const line of readSealedLines(store, key, keyring, snapshotObjectContext(manifest.sourceId, manifest.backupId, 'index'), objectInfo(manifest, 'index'))) {
    yield parsePackRecord(line, key);
  }
}

export async function* readFiles(store: VaultStore, keyring: BackupKeyring, manifest: FileSetManifest): AsyncGenerator<FileRecord> {
  const key = snapshotObjectKey(manifest.sourceId, manifest.backupId, 'files');
  for await (const line of readSealedLines(store, key, keyring, snapshotObjectContext(manifest.sourceId, manifest.backupId, 'files'), objectInfo(manifest, 'files'))) {
    yield parseFileRecord(line, key);
  }
}

/** Where each chunk is: the snapshot's index as a map. */
export interface ChunkLocation {
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export async function loadIndex(
  store: VaultStore,
  keyring: BackupKeyring,
  manifest: FileSetManifest,
): Promise<{ chunks: Map<string, ChunkLocation>; packs: Map<string, PackRecord> }> {
  const chunks = new Map<string, ChunkLocation>();
  const packs = new Map<string, PackRecord>();
  for await (const record of readIndex(store, keyring, manifest)) {
    packs.set(record.pack, record);
    for (const [id, offset, length, rawLength] of record.chunks) chunks.set(id, { pack: record.pack, offset, length, rawLength });
  }
  return { chunks, packs };
}

export { fileSetPrefix };
