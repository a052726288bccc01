/**
 * The file-set format (vault format "lifeboat-fileset" 1.1): where a file set's objects live and what its
 * snapshot manifest says. See docs/vault-format.md, "File sets".
 *
 * ```
 * filesets/<sourceId>/chunk-id-key                          the HMAC key naming chunks, encrypted (envelope)
 * filesets/<sourceId>/chunk-id-key.<digest>                 1.1: the same key wrapped under a wider keyring (the air-gapped key too)
 * filesets/<sourceId>/packs/<backupId>/<nnnnnn>             packs: zstd-compressed chunks, one envelope message each
 * filesets/<sourceId>/snapshots/<backupId>/index            chunk id → pack, offset, length (encrypted JSON lines)
 * filesets/<sourceId>/snapshots/<backupId>/files            every file with its chunk list (encrypted JSON lines)
 * filesets/<sourceId>/snapshots/<backupId>/packs            1.1: the packs it refers to, size and SHA-256 (plain JSON lines)
 * filesets/<sourceId>/snapshots/<backupId>/manifest.json    written last; makes the snapshot complete
 * ```
 */
import { z } from 'zod';
import { InvalidIdentifierError, ManifestInvalidError, UnsupportedFormatVersionError } from '../errors.ts';
import { BACKUP_ID_PATTERN, SOURCE_ID_PATTERN, isBackupId, parseBackupId, sourcePrefix } from '../vault/layout.ts';

export const FILESETS_PREFIX = 'filesets/';
export const FILESET_FORMAT = 'lifeboat-fileset';
export const FILESET_FORMAT_VERSION = '1.1';
export const FILESET_SUPPORTED_MAJOR = 1;

/** `filesets/<sourceId>/`, or `filesets/` for every source. */
export function fileSetPrefix(sourceId?: string): string {
  if (sourceId === undefined) return FILESETS_PREFIX;
  sourcePrefix(sourceId); // validates the id
  return `${FILESETS_PREFIX}${sourceId}/`;
}
export const chunkIdKeyKey = (sourceId: string): string => `${fileSetPrefix(sourceId)}${CHUNK_ID_KEY_NAME}`;
export const packsPrefix = (sourceId: string): string => `${fileSetPrefix(sourceId)}packs/`;
export const snapshotsPrefix = (sourceId: string): string => `${fileSetPrefix(sourceId)}snapshots/`;
export function snapshotPrefix(sourceId: string, backupId: string): string {
  parseBackupId(backupId);
  return `${snapshotsPrefix(sourceId)}${backupId}/`;
}
export const snapshotManifestKey = (sourceId: string, backupId: string): string => `${snapshotPrefix(sourceId, backupId)}manifest.json`;
export const snapshotObjectKey = (sourceId: string, backupId: string, name: 'index' | 'files' | 'packs'): string => `${snapshotPrefix(sourceId, backupId)}${name}`;

/** The default chunk-id key object's name within `filesets/<sourceId>/`. */
export const CHUNK_ID_KEY_NAME = 'chunk-id-key';
/** A chunk-id key object's name: `chunk-id-key`, or `chunk-id-key.<16 hex>` (the key wrapped under a wider keyring). */
export const CHUNK_ID_KEY_NAME_PATTERN = /^chunk-id-key(\.[0-9a-f]{16})?$/;
/** The key of the chunk-id key object a snapshot names (its manifest's `chunkIdKey`, by default `chunk-id-key`). */
export function chunkIdKeyObjectKey(sourceId: string, name: string = CHUNK_ID_KEY_NAME): string {
  if (!CHUNK_ID_KEY_NAME_PATTERN.test(name)) throw new InvalidIdentifierError(`"${name}" is not a chunk-id key object (chunk-id-key or chunk-id-key.<16 hex>)`);
  return `${fileSetPrefix(sourceId)}${name}`;
}

/** A pack's name, relative to `packs/`: `<backupId>/<6 digits>`, the backup that wrote it and its sequence number. */
export const PACK_NAME_PATTERN = /^(\d{8}T\d{6}Z-[a-z2-7]{8})\/(\d{6})$/;
export function packName(backupId: string, sequence: number): string {
  return `${backupId}/${String(sequence).padStart(6, '0')}`;
}
export function packKey(sourceId: string, name: string): string {
  if (!PACK_NAME_PATTERN.test(name)) throw new InvalidIdentifierError(`"${name}" is not a pack name (<backupId>/<6 digits>)`);
  return `${packsPrefix(sourceId)}${name}`;
}
/** The backup that wrote a pack, from its name. */
export function packOwner(name: string): string | undefined {
  return PACK_NAME_PATTERN.exec(name)?.[1];
}

/** Encryption contexts: each object is bound to its name, so a pack or list moved elsewhere does not decrypt. */
export const CONTEXT_SOURCE = 'lifeboat:source';
export function packContext(sourceId: string, name: string): Record<string, string> {
  return { [CONTEXT_SOURCE]: sourceId, 'lifeboat:pack': name };
}
export function snapshotObjectContext(sourceId: string, backupId: string, object: 'index' | 'files'): Record<string, string> {
  return { [CONTEXT_SOURCE]: sourceId, 'lifeboat:backup': backupId, 'lifeboat:object': object };
}
export function chunkIdKeyContext(sourceId: string): Record<string, string> {
  return { [CONTEXT_SOURCE]: sourceId, 'lifeboat:object': 'chunk-id-key' };
}

/** One line of `index`: a pack and the chunks in it that the snapshot refers to. */
export interface PackRecord {
  readonly pack: string;
  readonly storedBytes: number;
  /** SHA-256 of the pack's stored (encrypted) bytes. */
  readonly sha256: string;
  /** `[chunk id, offset in the decrypted pack, compressed length, raw length]`, by offset. */
  readonly chunks: readonly (readonly [string, number, number, number])[];
}

/** One line of `packs` (1.1): a pack the snapshot refers to, as its index records it, without the chunks. */
export type PackListEntry = Omit<PackRecord, 'chunks'>;

/** The `packs` object's bytes: one JSON line per pack, by name. */
export function serializePackList(packs: readonly PackListEntry[]): Buffer {
  const sorted = [...packs].sort((a, b) => (a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : 0));
  return Buffer.from(sorted.map((p) => `${JSON.stringify({ pack: p.pack, storedBytes: p.storedBytes, sha256: p.sha256 })}\n`).join(''));
}

export function parsePackList(bytes: Uint8Array, where: string): PackListEntry[] {
  const entries: PackListEntry[] = [];
  for (const line of Buffer.from(bytes).toString('utf8').split('\n')) {
    if (line === '') continue;
    let entry: PackListEntry;
    try {
      entry = JSON.parse(line) as PackListEntry;
    } catch (cause) {
      throw new ManifestInvalidError(`${where}: a line is not JSON`, { cause });
    }
    if (typeof entry.pack !== 'string' || !PACK_NAME_PATTERN.test(entry.pack) || !Number.isInteger(entry.storedBytes) || entry.storedBytes < 0 || typeof entry.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(entry.sha256)) {
      throw new ManifestInvalidError(`${where}: a line is not a pack (pack, storedBytes, sha256)`);
    }
    entries.push({ pack: entry.pack, storedBytes: entry.storedBytes, sha256: entry.sha256 });
  }
  return entries;
}

/** One line of `files`. */
export interface FileRecord {
  /** `/`-separated, relative to the source root (the directory, or the bucket prefix). */
  readonly path: string;
  readonly size: number;
  /** Directories: modification time, ISO 8601 with milliseconds. */
  readonly mtime?: string;
  /** Directories: permission bits. */
  readonly mode?: number;
  /** S3: the object's ETag (quoted, as S3 gives it). */
  readonly etag?: string;
  /** S3: the object's version id, when the bucket is versioned. */
  readonly versionId?: string;
  /** SHA-256 of the file's content. */
  readonly sha256: string;
  /** S3: content type and user metadata, restored with the object. */
  readonly metadata?: { readonly contentType?: string; readonly user?: Readonly<Record<string, string>> };
  /** Chunk ids in content order. */
  readonly chunks: readonly string[];
}

const CHUNK_ID = /^[0-9a-f]{64}$/;

export function parsePackRecord(line: string, where: string): PackRecord {
  const record = JSON.parse(line) as PackRecord;
  if (typeof record.pack !== 'string' || !PACK_NAME_PATTERN.test(record.pack) || !Array.isArray(record.chunks) || !/^[0-9a-f]{64}$/.test(record.sha256)) {
    throw new ManifestInvalidError(`${where}: an index line is not a pack record`);
  }
  for (const chunk of record.chunks) {
    if (!Array.isArray(chunk) || !CHUNK_ID.test(String(chunk[0])) || !chunk.slice(1).every((n) => Number.isInteger(n) && n >= 0)) {
      throw new ManifestInvalidError(`${where}: pack ${record.pack} has a malformed chunk entry`);
    }
  }
  return record;
}

export function parseFileRecord(line: string, where: string): FileRecord {
  const record = JSON.parse(line) as FileRecord;
  if (typeof record.path !== 'string' || record.path === '' || !Number.isInteger(record.size) || !Array.isArray(record.chunks)) {
    throw new ManifestInvalidError(`${where}: a files line is not a file record`);
  }
  if (!record.chunks.every((id) => CHUNK_ID.test(id))) throw new ManifestInvalidError(`${where}: file ${record.path} has a malformed chunk id`);
  return record;
}

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const count = z.int().nonnegative();
const storedObject = z.object({ key: z.enum(['index', 'files']), storedBytes: count, sha256, entries: count });

const schema = z.object({
  format: z.literal(FILESET_FORMAT),
  formatVersion: z.string().regex(/^\d+\.\d+$/),
  backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id'),
  sourceId: z.string().regex(SOURCE_ID_PATTERN, 'must be a source id'),
  kind: z.literal('fileset'),
  startedAt: z.iso.datetime(),
  completedAt: z.iso.datetime(),
  source: z.discriminatedUnion('type', [
    z.object({ type: z.literal('directory'), path: z.string().min(1) }),
    z.object({ type: z.literal('s3'), bucket: z.string().min(1), prefix: z.string() }),
  ]),
  tools: z.object({ lifeboat: z.string().min(1) }),
  /** The snapshot whose file list this one reused unchanged files from. */
  parent: z.string().regex(BACKUP_ID_PATTERN).optional(),
  chunking: z.object({ algorithm: z.literal('fastcdc'), minBytes: count, avgBytes: count, maxBytes: count, chunkId: z.literal('hmac-sha256') }),
  compression: z.object({ codec: z.literal('zstd'), level: z.int(), unit: z.literal('chunk') }),
  encryption: z.object({
    scheme: z.literal('aws-encryption-sdk'),
    algorithmSuite: z.string().min(1),
    frameLength: z.int().positive(),
    keyring: z.discriminatedUnion('type', [
      z.object({ type: z.literal('raw-aes'), keyNamespace: z.string().min(1), keyName: z.string().min(1) }),
      z.object({ type: z.literal('kms'), keyIds: z.array(z.string().min(1)).min(1) }),
    ]),
  }),
  totals: z.object({
    files: count,
    /** Bytes of file content. */
    bytes: count,
    chunks: count,
    packs: count,
    /** Stored bytes of every pack the snapshot refers to. */
    storedBytes: count,
    /** Files read this run (new or changed) and files whose chunk list was reused from the parent. */
    filesRead: count,
    filesReused: count,
    newPacks: count,
    newStoredBytes: count,
    /** Entries the source holds that are not files (symlinks, sockets, folder markers): not backed up. */
    skipped: count,
  }),
  objects: z.tuple([storedObject, storedObject]),
  /** 1.1: the `packs` object (what the copy, which never decrypts, reads to know which packs the snapshot needs). */
  packList: z.object({ storedBytes: count, sha256, entries: count }).optional(),
  /** 1.1: the chunk-id key object wrapped under every key of `encryption.keyring`, when not `chunk-id-key`. */
  chunkIdKey: z.string().regex(CHUNK_ID_KEY_NAME_PATTERN, 'must be chunk-id-key or chunk-id-key.<16 hex>').optional(),
});

/**
 * `manifest.json` of a file-set snapshot. Example (abridged):
 *
 * ```json
 * { "format": "lifeboat-fileset", "formatVersion": "1.0", "kind": "fileset",
 *   "backupId": "20261202T153000Z-k3x7q2ab", "sourceId": "uploads",
 *   "source": { "type": "s3", "bucket": "app-uploads", "prefix": "media/" },
 *   "totals": { "files": 10000, "bytes": 52428800, "packs": 4, "storedBytes": 31000000, "filesRead": 100, "filesReused": 9900, … },
 *   "objects": [{ "key": "index", "storedBytes": 1200, "sha256": "…", "entries": 4 }, { "key": "files", … }] }
 * ```
 */
export type FileSetManifest = z.output<typeof schema>;

export function serializeFileSetManifest(manifest: FileSetManifest): string {
  const result = schema.safeParse(manifest);
  if (!result.success) {
    throw new ManifestInvalidError(`File-set manifest ${manifest.sourceId}/${manifest.backupId} is invalid: ${issues(result.error.issues)}`);
  }
  return `${JSON.stringify(result.data, null, 2)}\n`;
}

export function parseFileSetManifest(bytes: Uint8Array | string, key: string): FileSetManifest {
  let document: unknown;
  try {
    document = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ManifestInvalidError(`File-set manifest ${key} is not JSON`, { cause });
  }
  const version = (document as { formatVersion?: unknown } | null)?.formatVersion;
  const major = typeof version === 'string' ? Number(version.split('.')[0]) : NaN;
  if (Number.isInteger(major) && major !== FILESET_SUPPORTED_MAJOR) {
    throw new UnsupportedFormatVersionError(
      `File-set manifest ${key} has format version ${String(version)}, not one this Lifeboat reads (highest supported: ${FILESET_SUPPORTED_MAJOR}.x)`,
    );
  }
  // A newer minor may add fields: keep reading what 1.0 defines.
  const result = schema.safeParse(document);
  if (!result.success) throw new ManifestInvalidError(`File-set manifest ${key} is invalid: ${issues(result.error.issues)}`);
  if (!isBackupId(result.data.backupId)) throw new ManifestInvalidError(`File-set manifest ${key} is invalid: backupId: not a real time`);
  return result.data;
}

function issues(list: readonly z.core.$ZodIssue[]): string {
  return list.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ');
}
