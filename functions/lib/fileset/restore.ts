/**
 * Restoring a file set as it was at one snapshot: every file, those under a prefix, or one file, into a
 * directory or an S3 bucket/prefix. Existing files are never overwritten unless asked. Files are restored in
 * pack/offset order, so each pack is read about once; every chunk's keyed hash and every file's SHA-256 are
 * checked before the file appears (directories: a temporary name renamed into place).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { BackupNotFoundError, ChecksumMismatchError, ConfigError, TargetNotEmptyError } from '../errors.ts';
import type { VaultStore } from '../vault/store.ts';
import { type ChunkLocation, loadIndex, readFiles } from './catalog.ts';
import { decompressChunk } from './chunkCodec.ts';
import type { FileRecord, FileSetManifest } from './format.ts';
import { PackCursor } from './packs.ts';
import { loadChunkIdKey } from './sealed.ts';

export interface RestoreTarget {
  readonly location: string;
  exists(file: FileRecord): Promise<boolean>;
  write(file: FileRecord, body: Readable): Promise<void>;
}

export interface FileSetRestoreOptions {
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly manifest: FileSetManifest;
  readonly target: RestoreTarget;
  /** Only this file (exact path) or, ending in `/`, everything under this prefix. @default every file */
  readonly select?: string;
  /** @default false: any file already at the target stops the restore before anything is written */
  readonly overwrite?: boolean;
}

export interface FileSetRestoreResult {
  readonly files: number;
  readonly bytes: number;
}

export async function restoreFileSet(options: FileSetRestoreOptions): Promise<FileSetRestoreResult> {
  const { store, keyring, manifest, target } = options;
  const { sourceId } = manifest;
  const select = options.select;
  const selected: FileRecord[] = [];
  for await (const file of readFiles(store, keyring, manifest)) {
    if (select === undefined || file.path === select || (select.endsWith('/') && file.path.startsWith(select))) selected.push(file);
  }
  if (selected.length === 0) {
    throw new BackupNotFoundError(`Snapshot ${sourceId}/${manifest.backupId} holds no file ${select === undefined ? '' : `matching "${select}"`}`.trimEnd());
  }
  if (!options.overwrite) {
    const existing: string[] = [];
    for (const file of selected) if (await target.exists(file)) existing.push(file.path);
    if (existing.length > 0) {
      throw new TargetNotEmptyError(
        `${existing.length} file(s) already exist at ${target.location} (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); give --overwrite to replace them`,
      );
    }
  }
  const { chunks } = await loadIndex(store, keyring, manifest);
  const chunkIdKey = await loadChunkIdKey(store, keyring, sourceId, manifest.chunkIdKey);
  const locate = (file: FileRecord, id: string): ChunkLocation => {
    const location = chunks.get(id);
    if (!location) throw new ChecksumMismatchError(`${file.path}: chunk ${id.slice(0, 12)}… is not in the snapshot's index`);
    return location;
  };
  // Pack, then offset of the first chunk: small files stored together are read in one pass.
  const order = selected.map((file) => ({ file, first: file.chunks.length > 0 ? locate(file, file.chunks[0]!) : undefined }));
  order.sort((a, b) => (a.first?.pack ?? '').localeCompare(b.first?.pack ?? '') || (a.first?.offset ?? 0) - (b.first?.offset ?? 0));

  const cursor = new PackCursor(store, keyring, sourceId);
  let bytes = 0;
  try {
    for (const { file } of order) {
      await target.write(file, Readable.from(fileContent(file, cursor, chunkIdKey, locate)));
      bytes += file.size;
    }
  } finally {
    await cursor.close();
  }
  return { files: selected.length, bytes };
}

/** A file's bytes, chunk by chunk; fails before the last byte if any chunk or the whole file does not match. */
async function* fileContent(
  file: FileRecord,
  cursor: PackCursor,
  chunkIdKey: Buffer,
  locate: (file: FileRecord, id: string) => ChunkLocation,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  for (const id of file.chunks) {
    const location = locate(file, id);
    const raw = decompressChunk(await cursor.read(location.pack, location.offset, location.length), `${file.path}: chunk in pack ${location.pack}`);
    if (createHmac('sha256', chunkIdKey).update(raw).digest('hex') !== id) {
      throw new ChecksumMismatchError(`${file.path}: a chunk read from pack ${location.pack} does not match its id`);
    }
    hash.update(raw);
    if (held) yield held;
    held = raw;
  }
  // The last chunk is held back until the whole file checks, so a bad file is never completed.
  if (hash.digest('hex') !== file.sha256) throw new ChecksumMismatchError(`${file.path}: restored content does not match its SHA-256`);
  if (held) yield held;
}

/** A relative path that stays inside the target (S3 keys may hold `..` or empty segments; a directory cannot). */
function safeRelative(file: FileRecord): string[] {
  const segments = file.path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..') || file.path.includes('\0')) {
    throw new ConfigError(`"${file.path}" cannot be restored into a directory: it has an empty, "." or ".." path segment (restore it into a bucket)`);
  }
  return segments;
}

export function directoryTarget(root: string): RestoreTarget {
  const absolute = path.resolve(root);
  return {
    location: absolute,
    async exists(file) {
      return lstat(path.join(absolute, ...safeRelative(file))).then(() => true, () => false);
    },
    async write(file, body) {
      const destination = path.join(absolute, ...safeRelative(file));
      await mkdir(path.dirname(destination), { recursive: true });
      const temporary = `${destination}.lifeboat-restore-${randomBytes(6).toString('hex')}`;
      try {
        await pipeline(body, createWriteStream(temporary, { mode: file.mode ?? 0o644 }));
        if (file.mtime) await utimes(temporary, new Date(file.mtime), new Date(file.mtime));
        await rename(temporary, destination);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    },
  };
}

export function s3Target(client: S3Client, bucket: string, prefix = ''): RestoreTarget {
  return {
    location: `s3://${bucket}/${prefix}`,
    async exists(file) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: prefix + file.path }));
        return true;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (error as Error).name === 'NotFound') return false;
        throw error;
      }
    },
    async write(file, body) {
      // The object appears only when the upload completes; a failed file aborts its multipart upload.
      const stream = new PassThrough();
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: prefix + file.path,
          Body: stream,
          ...(file.metadata?.contentType ? { ContentType: file.metadata.contentType } : {}),
          ...(file.metadata?.user ? { Metadata: { ...file.metadata.user } } : {}),
        },
        queueSize: 1,
        partSize: 8 * 1024 * 1024,
      });
      const feeding = pipeline(body, stream);
      try {
        await Promise.all([feeding, upload.done()]);
      } catch (error) {
        await upload.abort().catch(() => undefined);
        throw error;
      }
    },
  };
}
