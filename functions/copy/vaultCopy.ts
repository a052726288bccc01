/**
 * Copies one backup from the primary vault to the DR vault, server-side, under the DR bucket's KMS key:
 * the payload first (CopyObject, or a multipart copy above 5 GiB), then a streamed SHA-256 of the DR copy
 * compared with the manifest, and only then the manifest (its presence in the DR vault is what records the
 * copy), then the verification results. A snapshot backup's manifest is rewritten to point at the DR copy
 * of the snapshot instead. Contracts: docs/pipeline-functions.md.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  describeSnapshot,
  isFailedSnapshotStatus,
  isSnapshotOfBackup,
  parseSnapshotArn,
  type RdsSender,
} from '../lib/aws/rdsSnapshot.ts';
import {
  BackupConflictError,
  BackupNotFoundError,
  ChecksumMismatchError,
  LifeboatError,
  ObjectNotFoundError,
  SizeMismatchError,
  SnapshotFailedError,
  SnapshotNotReadyError,
  StoreWriteFailedError,
} from '../lib/errors.ts';
import { VERIFICATIONS_DIR, backupPrefix, manifestKey } from '../lib/vault/layout.ts';
import { parseManifest, payloadObjects, serializeManifest, type BackupManifest, type PayloadObject } from '../lib/vault/manifest.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** CopyObject's limit; larger objects need a multipart copy. */
export const MAX_SINGLE_COPY_BYTES = 5 * GiB;
const MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * GiB;
const MAX_PARTS = 10_000;

export type S3Sender = Pick<S3Client, 'send'>;

export interface VaultCopyDeps {
  /** The primary vault bucket (its region's client). */
  readonly primary: { readonly client: S3Sender; readonly bucket: string };
  /** The DR vault bucket, its region's client, and the DR (replica) key every copy is stored under. */
  readonly dr: { readonly client: S3Sender; readonly bucket: string; readonly region: string; readonly kmsKeyId: string };
  /** RDS in the DR region: a snapshot backup is recorded only once its DR copy is available. */
  readonly drRds: RdsSender;
  readonly now?: () => Date;
  /** Objects larger than this are copied in parts. @default 5 GiB (CopyObject's limit) */
  readonly multipartThresholdBytes?: number;
  /** Part size of a multipart copy, grown if needed to stay within 10,000 parts. @default 512 MiB */
  readonly partSizeBytes?: number;
  /** UploadPartCopy requests in flight at once. @default 4 */
  readonly partConcurrency?: number;
}

export interface CopyBackupResult {
  readonly sourceId: string;
  readonly backupId: string;
  readonly kind: BackupManifest['kind'];
  readonly drBucket: string;
  readonly drRegion: string;
  readonly manifestKey: string;
  /** Dumps: the payload's size and SHA-256, confirmed on the DR copy. */
  readonly payloadBytes?: number;
  readonly sha256?: string;
  /** Dumps: whether the payload went as a multipart copy. */
  readonly multipart?: boolean;
  /** Snapshots: the DR copy the DR manifest points at. */
  readonly snapshotArn?: string;
  readonly verificationsCopied: number;
  /** The DR vault already held this manifest (a retried copy); nothing but missing verification results was copied. */
  readonly alreadyCopied: boolean;
  /** When the backup completed (its manifest's `completedAt`). */
  readonly completedAt: string;
  /** When the DR manifest was written. */
  readonly copiedAt: string;
  /** `copiedAt − completedAt`: how far the DR vault trails the primary for this backup. */
  readonly replicationLagSeconds: number;
}

/** Copies backup `sourceId/backupId` from the primary vault into the DR vault (see the module comment). */
export async function copyBackup(request: { readonly sourceId: string; readonly backupId: string }, deps: VaultCopyDeps): Promise<CopyBackupResult> {
  const { sourceId, backupId } = request;
  const key = manifestKey(sourceId, backupId);
  const source = await getObject(deps.primary, key);
  if (!source) throw new BackupNotFoundError(`No complete backup ${sourceId}/${backupId} in s3://${deps.primary.bucket}: ${key} is absent`);
  const manifest = parseManifest(source.bytes, key);
  if (manifest.sourceId !== sourceId || manifest.backupId !== backupId) {
    throw new BackupConflictError(`${key} in s3://${deps.primary.bucket} describes backup ${manifest.sourceId}/${manifest.backupId}, not ${sourceId}/${backupId}`);
  }
  return manifest.kind === 'dump'
    ? copyDumpBackup(manifest, source, deps)
    : copySnapshotManifest(manifest, deps);
}

async function copyDumpBackup(manifest: BackupManifest, source: StoredObject, deps: VaultCopyDeps): Promise<CopyBackupResult> {
  const { sourceId, backupId } = manifest;
  const key = manifestKey(sourceId, backupId);
  const payload = manifest.payload!;
  const base = { sourceId, backupId, kind: manifest.kind, drBucket: deps.dr.bucket, drRegion: deps.dr.region, manifestKey: key, payloadBytes: payload.storedBytes, sha256: payload.sha256 };

  const existing = await getObject(deps.dr, key);
  if (existing) {
    if (!existing.bytes.equals(source.bytes)) {
      throw new BackupConflictError(`The DR vault s3://${deps.dr.bucket} already holds a different ${key}; refusing to overwrite it`);
    }
    const verificationsCopied = await copyVerifications(manifest, deps);
    return { ...base, verificationsCopied, alreadyCopied: true, ...lag(manifest, existing.lastModified ?? now(deps)) };
  }

  let multipart = false;
  for (const object of payloadObjects(manifest)) multipart = (await copyPayloadObject(manifest, object, deps)) || multipart;

  // Last: the manifest makes the DR copy a backup. Only the manifest read above, byte for byte.
  await wrapWrite(key, deps, () => serverSideCopy(key, source.etag, deps));
  const copiedAt = now(deps);
  const verificationsCopied = await copyVerifications(manifest, deps);
  return { ...base, multipart, verificationsCopied, alreadyCopied: false, ...lag(manifest, copiedAt) };
}

/**
 * Copies one stored payload object to the DR vault and proves the copy, from the DR object itself, against the
 * hash taken when the backup was made. Returns whether it took a multipart copy.
 */
async function copyPayloadObject(manifest: BackupManifest, payload: PayloadObject, deps: VaultCopyDeps): Promise<boolean> {
  const { sourceId, backupId } = manifest;
  const payloadKey = `${backupPrefix(sourceId, backupId)}${payload.key}`;
  const head = await headObject(deps.primary, payloadKey);
  if (!head) throw new ObjectNotFoundError(`Backup ${sourceId}/${backupId} has a manifest but no payload ${payloadKey} in s3://${deps.primary.bucket}`);
  if (head.bytes !== payload.storedBytes) {
    throw new SizeMismatchError(`Payload ${payloadKey} in s3://${deps.primary.bucket} holds ${head.bytes} bytes, its manifest says ${payload.storedBytes}; not copied`);
  }

  const multipart = head.bytes > (deps.multipartThresholdBytes ?? MAX_SINGLE_COPY_BYTES);
  await wrapWrite(payloadKey, deps, () =>
    multipart ? multipartCopy(payloadKey, head, deps) : serverSideCopy(payloadKey, head.etag, deps),
  );

  const copy = await hashObject(deps.dr, payloadKey);
  if (copy.bytes !== payload.storedBytes) {
    throw new SizeMismatchError(
      `The DR copy of ${payloadKey} in s3://${deps.dr.bucket} holds ${copy.bytes} bytes, the manifest says ${payload.storedBytes}; the manifest was not copied`,
    );
  }
  if (copy.sha256 !== payload.sha256) {
    throw new ChecksumMismatchError(
      `The DR copy of ${payloadKey} in s3://${deps.dr.bucket} has SHA-256 ${copy.sha256}, the manifest records ${payload.sha256}; the manifest was not copied`,
    );
  }
  return multipart;
}

/**
 * A snapshot backup's DR manifest: the primary's, pointing at the DR copy of the snapshot, written once that
 * copy is `available` and carries this backup's tags.
 */
async function copySnapshotManifest(manifest: BackupManifest, deps: VaultCopyDeps): Promise<CopyBackupResult> {
  const { sourceId, backupId } = manifest;
  const key = manifestKey(sourceId, backupId);
  const primarySnapshot = manifest.snapshot!;
  const { type } = parseSnapshotArn(primarySnapshot.arn);
  const drSnapshot = await describeSnapshot(deps.drRds, type, primarySnapshot.identifier);
  if (!drSnapshot) {
    throw new SnapshotNotReadyError(`No copy of snapshot ${primarySnapshot.identifier} in ${deps.dr.region} yet: copy-snapshot must run (and finish) first`);
  }
  if (isFailedSnapshotStatus(drSnapshot.status)) {
    throw new SnapshotFailedError(`The copy of snapshot ${primarySnapshot.identifier} in ${deps.dr.region} is ${drSnapshot.status}`);
  }
  if (drSnapshot.status !== 'available') {
    throw new SnapshotNotReadyError(`The copy of snapshot ${primarySnapshot.identifier} in ${deps.dr.region} is ${drSnapshot.status} (${drSnapshot.percentProgress}%)`);
  }
  if (!isSnapshotOfBackup(drSnapshot, sourceId, backupId)) {
    throw new BackupConflictError(`Snapshot ${primarySnapshot.identifier} in ${deps.dr.region} is not tagged as backup ${sourceId}/${backupId}`);
  }
  const drManifest: BackupManifest = {
    ...manifest,
    snapshot: { arn: drSnapshot.arn, identifier: drSnapshot.identifier, region: deps.dr.region },
  };
  const base = { sourceId, backupId, kind: manifest.kind, drBucket: deps.dr.bucket, drRegion: deps.dr.region, manifestKey: key, snapshotArn: drSnapshot.arn };

  const existing = await getObject(deps.dr, key);
  if (existing) {
    const recorded = parseManifest(existing.bytes, key);
    if (recorded.kind !== 'snapshot' || recorded.snapshot?.arn !== drSnapshot.arn) {
      throw new BackupConflictError(`The DR vault s3://${deps.dr.bucket} already holds a different ${key}; refusing to overwrite it`);
    }
    const verificationsCopied = await copyVerifications(manifest, deps);
    return { ...base, verificationsCopied, alreadyCopied: true, ...lag(manifest, existing.lastModified ?? now(deps)) };
  }
  const body = serializeManifest(drManifest);
  await wrapWrite(key, deps, () =>
    deps.dr.client.send(
      new PutObjectCommand({
        Bucket: deps.dr.bucket,
        Key: key,
        Body: body,
        ContentLength: Buffer.byteLength(body),
        ContentType: 'application/json',
        // A bucket with Object Lock default retention refuses uploads without an integrity header.
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ...drEncryption(deps),
      }),
    ),
  );
  const copiedAt = now(deps);
  const verificationsCopied = await copyVerifications(manifest, deps);
  return { ...base, verificationsCopied, alreadyCopied: false, ...lag(manifest, copiedAt) };
}

/**
 * Verification results of the backup that the DR vault lacks, copied after the manifest: the DR region's
 * retention then knows which of its copies are verified (the bytes are the same, proven by the hash).
 */
async function copyVerifications(manifest: BackupManifest, deps: VaultCopyDeps): Promise<number> {
  const prefix = `${backupPrefix(manifest.sourceId, manifest.backupId)}${VERIFICATIONS_DIR}/`;
  const present = new Set(await listKeys(deps.dr, prefix));
  let copied = 0;
  for (const key of await listKeys(deps.primary, prefix)) {
    if (present.has(key)) continue;
    await wrapWrite(key, deps, () => serverSideCopy(key, undefined, deps));
    copied += 1;
  }
  return copied;
}

function serverSideCopy(key: string, etag: string | undefined, deps: VaultCopyDeps): Promise<unknown> {
  return deps.dr.client.send(
    new CopyObjectCommand({
      Bucket: deps.dr.bucket,
      Key: key,
      CopySource: copySource(deps.primary.bucket, key),
      // The object copied is the one checked: a replaced source fails the copy instead of slipping through.
      ...(etag === undefined ? {} : { CopySourceIfMatch: etag }),
      ...drEncryption(deps),
    }),
  );
}

/** CreateMultipartUpload ▸ UploadPartCopy over byte ranges ▸ Complete; any failure aborts the upload. */
async function multipartCopy(key: string, head: ObjectHead, deps: VaultCopyDeps): Promise<void> {
  const ranges = partRanges(head.bytes, deps.partSizeBytes ?? 512 * MiB);
  const created = await deps.dr.client.send(
    new CreateMultipartUploadCommand({
      Bucket: deps.dr.bucket,
      Key: key,
      ...(head.contentType === undefined ? {} : { ContentType: head.contentType }),
      ...drEncryption(deps),
    }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new StoreWriteFailedError(`CreateMultipartUpload for ${key} in s3://${deps.dr.bucket} returned no UploadId`);
  try {
    const parts: CompletedPart[] = new Array(ranges.length);
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < ranges.length) {
        const index = next++;
        const range = ranges[index]!;
        try {
          const out = await deps.dr.client.send(
            new UploadPartCopyCommand({
              Bucket: deps.dr.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: copySource(deps.primary.bucket, key),
              CopySourceIfMatch: head.etag,
              CopySourceRange: `bytes=${range.start}-${range.end}`,
            }),
          );
          const etag = out.CopyPartResult?.ETag;
          if (!etag) throw new StoreWriteFailedError(`UploadPartCopy of part ${index + 1} of ${key} returned no ETag`);
          parts[index] = { ETag: etag, PartNumber: index + 1 };
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const concurrency = Math.max(1, Math.min(deps.partConcurrency ?? 4, ranges.length));
    const results = await Promise.allSettled(Array.from({ length: concurrency }, worker));
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    await deps.dr.client.send(
      new CompleteMultipartUploadCommand({ Bucket: deps.dr.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (error) {
    try {
      await deps.dr.client.send(new AbortMultipartUploadCommand({ Bucket: deps.dr.bucket, Key: key, UploadId: uploadId }));
    } catch (abortError) {
      throw new StoreWriteFailedError(
        `Multipart copy of ${key} to s3://${deps.dr.bucket} failed (${describe(error)}); aborting it also failed (${describe(abortError)}), ` +
          "so its parts remain until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
        { cause: error },
      );
    }
    throw error;
  }
}

/** Inclusive byte ranges of at least `partSize` bytes (the last may be smaller), never more than 10,000. */
export function partRanges(size: number, partSize: number): { start: number; end: number }[] {
  if (!Number.isInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) {
    throw new RangeError(`partSize must be an integer from 5 MiB to 5 GiB, got ${partSize}`);
  }
  // Grown in whole MiB so the ranges stay readable in logs.
  const size_ = Math.max(partSize, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < size; start += size_) ranges.push({ start, end: Math.min(start + size_, size) - 1 });
  return ranges;
}

interface StoredObject {
  readonly bytes: Buffer;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

interface ObjectHead {
  readonly bytes: number;
  readonly etag: string | undefined;
  readonly contentType: string | undefined;
}

async function getObject(vault: { client: S3Sender; bucket: string }, key: string): Promise<StoredObject | undefined> {
  try {
    const out = await vault.client.send(new GetObjectCommand({ Bucket: vault.bucket, Key: key }));
    if (!out.Body) throw new TypeError(`GetObject ${key} returned no body`);
    return { bytes: Buffer.from(await out.Body.transformToByteArray()), etag: out.ETag, lastModified: out.LastModified };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function headObject(vault: { client: S3Sender; bucket: string }, key: string): Promise<ObjectHead | undefined> {
  try {
    const out = await vault.client.send(new HeadObjectCommand({ Bucket: vault.bucket, Key: key }));
    return { bytes: out.ContentLength ?? 0, etag: out.ETag, contentType: out.ContentType };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** SHA-256 and size of an object, streamed: memory stays at one chunk however large the payload. */
async function hashObject(vault: { client: S3Sender; bucket: string }, key: string): Promise<{ bytes: number; sha256: string }> {
  const out = await vault.client.send(new GetObjectCommand({ Bucket: vault.bucket, Key: key }));
  const body = out.Body as Readable | undefined;
  if (!body || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
    throw new TypeError(`GetObject ${key} returned no stream`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function listKeys(vault: { client: S3Sender; bucket: string }, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await vault.client.send(new ListObjectsV2Command({ Bucket: vault.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

function drEncryption(deps: VaultCopyDeps) {
  return { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: deps.dr.kmsKeyId, BucketKeyEnabled: true };
}

/** `bucket/key`, each key segment URL-encoded as CopySource requires. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

async function wrapWrite<T>(key: string, deps: VaultCopyDeps, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new StoreWriteFailedError(`Copying ${key} from s3://${deps.primary.bucket} to s3://${deps.dr.bucket} failed: ${describe(error)}`, { cause: error });
  }
}

function lag(manifest: BackupManifest, copiedAt: Date): { completedAt: string; copiedAt: string; replicationLagSeconds: number } {
  const seconds = (copiedAt.getTime() - Date.parse(manifest.completedAt)) / 1000;
  return { completedAt: manifest.completedAt, copiedAt: copiedAt.toISOString(), replicationLagSeconds: Math.max(0, Math.round(seconds * 1000) / 1000) };
}

function now(deps: VaultCopyDeps): Date {
  return deps.now?.() ?? new Date();
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
