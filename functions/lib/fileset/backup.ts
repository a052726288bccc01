/**
 * A file-set backup: list the source, read only new or changed files, cut them into content-defined chunks,
 * store each chunk the vault does not hold yet (by keyed hash) in packs, then write the snapshot's index and
 * file list and, last, its manifest. A run that stops anywhere leaves no manifest, so nothing is listed;
 * its packs are under its own backup id and pruned once older than any run could take.
 */
import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { describeEncryption } from '../crypto/envelope.ts';
import type { BackupKeyring, KeyringDescription } from '../crypto/keyring.ts';
import { LIFEBOAT_VERSION } from '../engine/version.ts';
import { SourceUnreachableError } from '../errors.ts';
import { newBackupId, parseBackupId } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import { type ChunkLocation, loadIndex, readFiles, resolveFileSetSnapshot, scanSnapshots } from './catalog.ts';
import { Chunker, DEFAULT_CHUNKING, gearTable, type ChunkerParameters } from './chunker.ts';
import { CHUNK_ZSTD_LEVEL, compressChunk } from './chunkCodec.ts';
import {
  FILESET_FORMAT,
  FILESET_FORMAT_VERSION,
  type FileRecord,
  type FileSetManifest,
  type PackRecord,
  packName,
  serializeFileSetManifest,
  serializePackList,
  snapshotManifestKey,
  snapshotObjectContext,
  snapshotObjectKey,
} from './format.ts';
import { DEFAULT_PACK_BYTES, PackWriter } from './packs.ts';
import { chunkIdKeyFor, loadOrCreateChunkIdKey, putSealedLines } from './sealed.ts';
import type { FileSource, OpenedEntry, SourceEntry } from './sources.ts';

/** Files up to 1 MiB are read ahead, at most 16 at a time: at most 16 MiB held beyond the pack buffer. */
const READ_AHEAD_FILES = 16;
const READ_AHEAD_MAX_FILE_BYTES = 1024 * 1024;

/** A small file's whole content (at most READ_AHEAD_MAX_FILE_BYTES as listed; a file that grew is read as it is). */
async function bufferBody(opened: OpenedEntry): Promise<OpenedEntry> {
  const parts: Buffer[] = [];
  for await (const data of opened.body as AsyncIterable<Buffer>) parts.push(data);
  return { ...opened, body: Readable.from(parts) };
}

export interface FileSetBackupOptions {
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly sourceId: string;
  readonly source: FileSource;
  /** @default new Date() */
  readonly now?: Date;
  /** The id to write the snapshot under (the state machine chooses it for a Fargate run, to read it back). @default a new id from `now` */
  readonly backupId?: string;
  /** @default 16 MiB */
  readonly packBytes?: number;
  /** @default ~1 MiB average chunks (256 KiB – 4 MiB) */
  readonly chunking?: ChunkerParameters;
  /** Called after each pack is stored (progress; tests stop a run here). */
  readonly onPackStored?: (pack: string) => void | Promise<void>;
}

export interface FileSetBackupResult {
  readonly manifest: FileSetManifest;
  readonly skipped: readonly { path: string; why: string }[];
  /** Why the newest snapshot was not the parent (its keyring lacks one of this run's keys), when it was not. */
  readonly parentNotReused?: string;
}

export async function runFileSetBackup(options: FileSetBackupOptions): Promise<FileSetBackupResult> {
  const { store, keyring, sourceId, source } = options;
  const startedAt = options.now ?? new Date();
  const backupId = options.backupId ?? newBackupId(startedAt);
  parseBackupId(backupId);
  const chunking = options.chunking ?? DEFAULT_CHUNKING;
  const packBytes = options.packBytes ?? DEFAULT_PACK_BYTES;

  const sealedChunkIdKey = await loadOrCreateChunkIdKey(store, keyring, sourceId);
  const chunkIdKey = sealedChunkIdKey.secret;
  const chunkIdKeyObject = await chunkIdKeyFor(store, keyring, sourceId, sealedChunkIdKey);
  const chunker = new Chunker(gearTable(chunkIdKey), chunking);

  // The parent: the newest complete snapshot. Its index is what this run dedupes against; its file list
  // says which files are unchanged. Only a parent written under every key of this run's keyring: a snapshot
  // refers to its parent's packs, and each of its keys (the air-gapped vault's, once set) must open all of them.
  const { complete } = await scanSnapshots(store, sourceId);
  const newest = complete.length > 0 ? await resolveFileSetSnapshot(store, sourceId, 'latest') : undefined;
  const parentRefused = newest && !keyringCovers(newest.encryption.keyring, keyring.description) ? newest : undefined;
  const parent = parentRefused ? undefined : newest;
  const known = new Map<string, ChunkLocation>();
  const packRecords = new Map<string, Omit<PackRecord, 'chunks'>>();
  const parentFiles = new Map<string, FileRecord>();
  if (parent) {
    const index = await loadIndex(store, keyring, parent);
    for (const [id, location] of index.chunks) known.set(id, location);
    for (const [name, record] of index.packs) packRecords.set(name, { pack: name, storedBytes: record.storedBytes, sha256: record.sha256 });
    for await (const file of readFiles(store, keyring, parent)) parentFiles.set(file.path, file);
  }

  const files: FileRecord[] = [];
  const skipped: { path: string; why: string }[] = [];
  const referenced = new Set<string>();
  let bytes = 0;
  let filesRead = 0;
  let filesReused = 0;
  let newPacks = 0;
  let newStoredBytes = 0;
  let writer: PackWriter | undefined;
  let sequence = 0;

  const closePack = async () => {
    if (!writer) return;
    const done = await writer.finish();
    writer = undefined;
    packRecords.set(done.pack, done);
    newPacks++;
    newStoredBytes += done.storedBytes;
    await options.onPackStored?.(done.pack);
  };

  const storeChunk = async (raw: Buffer): Promise<string> => {
    const id = createHmac('sha256', chunkIdKey).update(raw).digest('hex');
    referenced.add(id);
    if (known.has(id)) return id;
    const compressed = compressChunk(raw);
    writer ??= new PackWriter(store, keyring, sourceId, packName(backupId, ++sequence));
    const offset = await writer.add(compressed);
    known.set(id, { pack: writer.name, offset, length: compressed.byteLength, rawLength: raw.byteLength });
    if (writer.bytes >= packBytes) await closePack();
    return id;
  };

  const openEntry = (entry: SourceEntry): Promise<OpenedEntry> =>
    source.open(entry).catch((cause: Error) => {
      throw new SourceUnreachableError(`Cannot read ${entry.path}: ${cause.name}: ${cause.message}`, { cause });
    });

  const readEntry = async (entry: SourceEntry, prefetched?: Promise<OpenedEntry>): Promise<FileRecord> => {
    const opened = await (prefetched ?? openEntry(entry));
    chunker.reset();
    const hash = createHash('sha256');
    const chunks: string[] = [];
    let size = 0;
    for await (const data of opened.body as AsyncIterable<Buffer>) {
      hash.update(data);
      size += data.byteLength;
      for (const chunk of chunker.push(data)) chunks.push(await storeChunk(chunk));
    }
    for (const chunk of chunker.finish()) chunks.push(await storeChunk(chunk));
    const { body: _body, ...rest } = opened;
    // The size read is the truth (a file that grew while being read is stored as read).
    return {
      path: entry.path,
      size,
      ...(entry.mtime !== undefined && entry.etag === undefined ? { mtime: entry.mtime } : {}),
      ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
      ...(entry.etag !== undefined ? { etag: entry.etag } : {}),
      ...(rest.versionId !== undefined ? { versionId: rest.versionId } : {}),
      sha256: hash.digest('hex'),
      ...(rest.metadata && Object.keys(rest.metadata).length > 0 ? { metadata: rest.metadata } : {}),
      chunks,
    };
  };

  // Small files are read ahead, several at once (a bounded window), and chunked in listing order: one file
  // at a time would wait on every open and read (a GetObject round trip on S3) in turn.
  const queue: { entry: SourceEntry; reuse?: FileRecord; prefetched?: Promise<OpenedEntry> }[] = [];
  const settle = async (item: (typeof queue)[number]) => {
    let record: FileRecord;
    if (item.reuse) {
      record = item.reuse;
      filesReused++;
    } else {
      record = await readEntry(item.entry, item.prefetched);
      filesRead++;
    }
    for (const id of record.chunks) referenced.add(id);
    bytes += record.size;
    files.push(record);
  };
  try {
    for await (const entry of source.list((path, why) => skipped.push({ path, why }))) {
      const previous = parentFiles.get(entry.path);
      if (previous && unchanged(previous, entry) && previous.chunks.every((id) => known.has(id))) {
        queue.push({ entry, reuse: { ...previous, ...(entry.mode !== undefined ? { mode: entry.mode } : {}) } });
      } else if (entry.size <= READ_AHEAD_MAX_FILE_BYTES) {
        const prefetched = openEntry(entry).then(bufferBody);
        prefetched.catch(() => undefined); // handled when its turn comes; not an unhandled rejection meanwhile
        queue.push({ entry, prefetched });
      } else {
        queue.push({ entry });
      }
      while (queue.length > READ_AHEAD_FILES || (queue.length > 0 && queue.at(-1)!.prefetched === undefined && queue.at(-1)!.reuse === undefined)) {
        await settle(queue.shift()!);
      }
    }
    while (queue.length > 0) await settle(queue.shift()!);
    await closePack();
  } catch (error) {
    await writer?.abort();
    throw error;
  }

  // The index lists every pack the snapshot needs and, per pack, the chunks it uses, by offset.
  const byPack = new Map<string, [string, number, number, number][]>();
  for (const id of referenced) {
    const location = known.get(id)!;
    let list = byPack.get(location.pack);
    if (!list) byPack.set(location.pack, (list = []));
    list.push([id, location.offset, location.length, location.rawLength]);
  }
  const index: PackRecord[] = [...byPack.keys()].sort().map((name) => ({
    ...packRecords.get(name)!,
    chunks: byPack.get(name)!.sort((a, b) => a[1] - b[1]),
  }));

  const packList = serializePackList(index);
  const packListKey = snapshotObjectKey(sourceId, backupId, 'packs');
  await store.putObject(packListKey, packList);
  const indexObject = await putSealedLines(
    store, snapshotObjectKey(sourceId, backupId, 'index'), keyring, snapshotObjectContext(sourceId, backupId, 'index'),
    index.map((record) => JSON.stringify(record)),
  );
  const filesObject = await putSealedLines(
    store, snapshotObjectKey(sourceId, backupId, 'files'), keyring, snapshotObjectContext(sourceId, backupId, 'files'),
    files.map((record) => JSON.stringify(record)),
  );

  const encryption = describeEncryption(keyring, {});
  const manifest: FileSetManifest = {
    format: FILESET_FORMAT,
    formatVersion: FILESET_FORMAT_VERSION,
    backupId,
    sourceId,
    kind: 'fileset',
    startedAt: startedAt.toISOString(),
    completedAt: new Date(Math.max(Date.now(), startedAt.getTime())).toISOString(),
    source: source.description,
    tools: { lifeboat: LIFEBOAT_VERSION },
    ...(parent ? { parent: parent.backupId } : {}),
    chunking: { algorithm: 'fastcdc', ...chunking, chunkId: 'hmac-sha256' },
    compression: { codec: 'zstd', level: CHUNK_ZSTD_LEVEL, unit: 'chunk' },
    encryption: { scheme: encryption.scheme, algorithmSuite: encryption.algorithmSuite, frameLength: encryption.frameLength, keyring: encryption.keyring },
    totals: {
      files: files.length,
      bytes,
      chunks: referenced.size,
      packs: index.length,
      storedBytes: index.reduce((sum, p) => sum + p.storedBytes, 0),
      filesRead,
      filesReused,
      newPacks,
      newStoredBytes,
      skipped: skipped.length,
    },
    objects: [{ key: 'index', ...indexObject }, { key: 'files', ...filesObject }],
    packList: { storedBytes: packList.byteLength, sha256: createHash('sha256').update(packList).digest('hex'), entries: index.length },
    ...(chunkIdKeyObject ? { chunkIdKey: chunkIdKeyObject } : {}),
  };
  // Last: its presence is what makes the snapshot complete.
  await store.putObject(snapshotManifestKey(sourceId, backupId), serializeFileSetManifest(manifest));
  return {
    manifest,
    skipped,
    ...(parentRefused
      ? { parentNotReused: `${parentRefused.backupId} was written under ${describeKeyring(parentRefused.encryption.keyring)}, not every key of ${describeKeyring(keyring.description)}: every file was read again` }
      : {}),
  };
}

/** Whether every object written under `parent` opens with each key of `keyring` (the same raw key, or a superset of KMS keys). */
export function keyringCovers(parent: KeyringDescription, keyring: KeyringDescription): boolean {
  if (parent.type === 'raw-aes' || keyring.type === 'raw-aes') {
    return parent.type === 'raw-aes' && keyring.type === 'raw-aes' && parent.keyNamespace === keyring.keyNamespace && parent.keyName === keyring.keyName;
  }
  return keyring.keyIds.every((id) => parent.keyIds.includes(id));
}

function describeKeyring(keyring: KeyringDescription): string {
  return keyring.type === 'raw-aes' ? `the local key ${keyring.keyNamespace}/${keyring.keyName}` : `KMS key(s) ${keyring.keyIds.join(', ')}`;
}

/** Same path, same size, and the same ETag (S3) or modification time (directories). */
function unchanged(previous: FileRecord, entry: SourceEntry): boolean {
  if (previous.size !== entry.size) return false;
  if (entry.etag !== undefined) return previous.etag === entry.etag;
  return entry.mtime !== undefined && previous.mtime === entry.mtime;
}
