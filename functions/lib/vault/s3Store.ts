import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  RestoreObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertNotInterrupted, onInterrupt } from '../engine/interrupt.ts';
import { ArchiveRestoreInProgressError, LifeboatError, ObjectExistsError, ObjectNotFoundError, StoreWriteFailedError } from '../errors.ts';
import { assertStoreKey, assertStorePrefix } from './layout.ts';
import type { VaultStore } from './store.ts';

const MIB = 1024 * 1024;

/** Retrieval tiers a read may start, and AWS's stated upper bound in hours per archive storage class. */
export type ArchiveRetrievalTier = 'Standard' | 'Bulk';
const RETRIEVAL_HOURS: Readonly<Record<string, Readonly<Record<ArchiveRetrievalTier, number>>>> = {
  DEEP_ARCHIVE: { Standard: 12, Bulk: 48 },
  GLACIER: { Standard: 5, Bulk: 12 },
};
const STORAGE_CLASS_NAMES: Readonly<Record<string, string>> = { DEEP_ARCHIVE: 'S3 Glacier Deep Archive', GLACIER: 'S3 Glacier Flexible Retrieval' };
/** S3's own lower bound for every part but the last. */
const MIN_PART_SIZE = 5 * MIB;

export interface S3StoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix inside the bucket, e.g. `lifeboat` or `team-a/vault`. @default "" (the bucket root) */
  readonly prefix?: string;
  /** Parts uploaded in parallel by `putStream`; memory use is about `(queueSize + 1) × partSize`. @default 4 */
  readonly queueSize?: number;
  /** Multipart part size in bytes, at least 5 MiB. @default 16 MiB */
  readonly partSize?: number;
  /** Keys asked for per ListObjectsV2 page (S3 caps it at 1000). @default 1000 */
  readonly pageSize?: number;
  /**
   * Write every object with SSE-KMS under this key and an S3 Bucket Key (fewer KMS calls).
   * @default undefined: the bucket's default encryption applies
   */
  readonly serverSideEncryption?: { readonly kmsKeyId: string };
  /**
   * Reading an object that lifecycle moved to Deep Archive or Flexible Retrieval starts a restore from archive
   * at this tier, kept readable for `days`. Standard, because whoever reads a backup needs it now (a restore,
   * a drill, a disaster): within 12 hours from Deep Archive where Bulk takes up to 48, for $0.02 per GB
   * instead of $0.0025 (about $2 instead of 25 cents for a 100 GB backup).
   * @default { tier: 'Standard', days: 7 }
   */
  readonly archiveRestore?: { readonly tier?: ArchiveRetrievalTier; readonly days?: number };
}

/** A vault in an S3 bucket under an optional prefix. Objects appear only when fully written (single PUT or completed multipart upload). */
/** A multipart upload started under the vault and never completed or aborted. */
export interface IncompleteUpload {
  /** The object it would have created, relative to the vault. */
  readonly key: string;
  readonly uploadId: string;
  readonly initiatedAt: Date;
}

export class S3Store implements VaultStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  /** `""` or `some/prefix/` */
  readonly #prefix: string;
  readonly #queueSize: number;
  readonly #partSize: number;
  readonly #pageSize: number;
  readonly #encryption: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId' | 'BucketKeyEnabled'>;
  readonly #archiveTier: ArchiveRetrievalTier;
  readonly #archiveDays: number;

  constructor(options: S3StoreOptions) {
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix !== '') assertStoreKey(prefix);
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = prefix === '' ? '' : `${prefix}/`;
    this.#queueSize = options.queueSize ?? 4;
    this.#partSize = options.partSize ?? 16 * MIB;
    this.#pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(this.#queueSize) || this.#queueSize < 1) {
      throw new RangeError(`S3Store queueSize must be a positive integer, got ${this.#queueSize}`);
    }
    if (!Number.isInteger(this.#partSize) || this.#partSize < MIN_PART_SIZE) {
      throw new RangeError(`S3Store partSize must be an integer of at least 5 MiB, got ${this.#partSize}`);
    }
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > 1000) {
      throw new RangeError(`S3Store pageSize must be an integer from 1 to 1000, got ${this.#pageSize}`);
    }
    this.#archiveTier = options.archiveRestore?.tier ?? 'Standard';
    this.#archiveDays = options.archiveRestore?.days ?? 7;
    if (!Number.isInteger(this.#archiveDays) || this.#archiveDays < 1) {
      throw new RangeError(`S3Store archiveRestore.days must be a positive integer, got ${this.#archiveDays}`);
    }
    const kmsKeyId = options.serverSideEncryption?.kmsKeyId;
    this.#encryption = kmsKeyId
      ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId, BucketKeyEnabled: true }
      : {};
    this.location = `s3://${this.#bucket}${prefix === '' ? '' : `/${prefix}`}`;
  }

  async putStream(key: string, body: Readable): Promise<{ bytes: number }> {
    let objectKey: string;
    try {
      objectKey = this.#keyOf(key);
      assertNotInterrupted(`${key} in ${this.location}`);
    } catch (error) {
      body.destroy();
      throw error;
    }
    let bytes = 0;
    let sourceError: unknown;
    // Counts what is stored, and remembers a failure of the source itself so it is not masked by
    // whatever the upload fails with afterwards (an abort the server refuses, the AbortError the
    // upload's own teardown throws into this generator).
    async function* counted(): AsyncGenerator<Buffer> {
      const chunks = body[Symbol.asyncIterator]() as AsyncIterator<unknown>;
      try {
        for (;;) {
          let next: IteratorResult<unknown>;
          try {
            next = await chunks.next();
          } catch (error) {
            sourceError = error;
            throw error;
          }
          if (next.done) return;
          const buffer = typeof next.value === 'string' ? Buffer.from(next.value) : (next.value as Buffer);
          bytes += buffer.byteLength;
          yield buffer;
        }
      } finally {
        await chunks.return?.();
      }
    }
    const upload = new Upload({
      client: this.#client,
      // A bucket with Object Lock default retention refuses uploads without an integrity checksum; each part
      // (a buffer, never a stream) gets its SHA-256 as a header.
      params: { Bucket: this.#bucket, Key: objectKey, Body: Readable.from(counted()), ChecksumAlgorithm: 'SHA256', ...this.#encryption },
      queueSize: this.#queueSize,
      partSize: this.#partSize,
      // On any failure Upload sends AbortMultipartUpload before rejecting: no parts are left to bill.
      leavePartsOnError: false,
    });
    // A process interrupted mid-upload aborts it, so no parts are left to bill.
    const release = onInterrupt('aborted', `multipart upload of s3://${this.#bucket}/${objectKey}`, () => upload.abort());
    try {
      await upload.done();
      return { bytes };
    } catch (error) {
      body.destroy();
      if (sourceError === undefined) throw this.#writeFailed(key, error);
      throw this.#writeFailed(key, sourceError, error === sourceError ? undefined : error);
    } finally {
      release();
    }
  }

  async putObject(key: string, data: Uint8Array | string): Promise<void> {
    await this.#put(key, data, false);
  }

  async createObject(key: string, data: Uint8Array | string): Promise<void> {
    await this.#put(key, data, true);
  }

  async #put(key: string, data: Uint8Array | string, createOnly: boolean): Promise<void> {
    const objectKey = this.#keyOf(key);
    // Nothing is recorded by a run being interrupted (cli/signals.ts).
    assertNotInterrupted(`${key} in ${this.location}`);
    try {
      await this.#client.send(
        new PutObjectCommand({
          ...(createOnly ? { IfNoneMatch: '*' } : {}),
          Bucket: this.#bucket,
          Key: objectKey,
          Body: data,
          ContentLength: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength,
          // Object Lock buckets refuse a PUT without an integrity header.
          ContentMD5: createHash('md5').update(data).digest('base64'),
          ...(key.endsWith('.json') ? { ContentType: 'application/json' } : {}),
          ...this.#encryption,
        }),
      );
    } catch (error) {
      // S3 answers a conditional write whose key exists with 412 PreconditionFailed.
      if (createOnly && (error as { name?: unknown }).name === 'PreconditionFailed') {
        throw new ObjectExistsError(`${key} already exists in ${this.location}; it is create-only and was not overwritten`, { cause: error });
      }
      throw this.#writeFailed(key, error);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const objectKey = this.#keyOf(key);
    try {
      const { Body } = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
      if (!(Body instanceof Readable)) throw new TypeError(`GetObject ${objectKey} returned no Node.js stream`);
      return Body;
    } catch (error) {
      if (isArchived(error)) throw await this.#restoreFromArchive(key, objectKey, error);
      throw this.#notFoundOr(error, key);
    }
  }

  async getObject(key: string): Promise<Buffer> {
    const objectKey = this.#keyOf(key);
    try {
      const { Body } = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
      if (!Body) throw new TypeError(`GetObject ${objectKey} returned no body`);
      return Buffer.from(await Body.transformToByteArray());
    } catch (error) {
      if (isArchived(error)) throw await this.#restoreFromArchive(key, objectKey, error);
      throw this.#notFoundOr(error, key);
    }
  }

  async head(key: string): Promise<{ bytes: number } | undefined> {
    const objectKey = this.#keyOf(key);
    try {
      const { ContentLength } = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
      return { bytes: ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    assertStorePrefix(prefix);
    let continuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#prefix + prefix,
          MaxKeys: this.#pageSize,
          ContinuationToken: continuationToken,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield object.Key.slice(this.#prefix.length);
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#keyOf(key) }));
  }

  /**
   * Multipart uploads under the vault's prefix that were started and never completed or aborted (a killed
   * backup or copy): their parts are stored and billed, but invisible to listing. Keys relative to the vault.
   */
  async *incompleteUploads(): AsyncGenerator<IncompleteUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.#client.send(
        new ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: this.#prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        yield { key: upload.Key.slice(this.#prefix.length), uploadId: upload.UploadId, initiatedAt: upload.Initiated ?? new Date(0) };
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  }

  /** Aborts one upload found by {@link incompleteUploads}: S3 removes its stored parts. */
  async abortUpload(upload: Pick<IncompleteUpload, 'key' | 'uploadId'>): Promise<void> {
    await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#keyOf(upload.key), UploadId: upload.uploadId }));
  }

  #keyOf(key: string): string {
    assertStoreKey(key);
    return this.#prefix + key;
  }

  #writeFailed(key: string, error: unknown, abortFailure?: unknown): Error {
    // A named error from upstream (e.g. DumpFailedError) keeps its name for Step Functions Catch.
    if (error instanceof LifeboatError) return error;
    const abortNote =
      abortFailure === undefined
        ? ''
        : `; aborting the multipart upload also failed (${describe(abortFailure)}), ` +
          "so its parts remain until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them";
    return new StoreWriteFailedError(`Writing ${key} to ${this.location} failed: ${describe(error)}${abortNote}`, {
      cause: error,
    });
  }

  /**
   * `key` is archived: finds a restore already running (HeadObject's `Restore: ongoing-request="true"`) or starts
   * one, once, and returns the error that says when the object can be read. Any other failure (no
   * s3:RestoreObject, say) is returned as it is.
   */
  async #restoreFromArchive(key: string, objectKey: string, cause: unknown): Promise<Error> {
    let storageClass = String((cause as { StorageClass?: unknown }).StorageClass ?? '');
    let running = false;
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
      storageClass = head.StorageClass ?? storageClass;
      running = /ongoing-request\s*=\s*"true"/.test(head.Restore ?? '');
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    if (!running) {
      try {
        await this.#client.send(
          new RestoreObjectCommand({ Bucket: this.#bucket, Key: objectKey, RestoreRequest: { Days: this.#archiveDays, GlacierJobParameters: { Tier: this.#archiveTier } } }),
        );
      } catch (error) {
        // Another reader started it between our HeadObject and RestoreObject.
        if ((error as { name?: unknown }).name !== 'RestoreAlreadyInProgress') return error instanceof Error ? error : new Error(String(error));
        running = true;
      }
    }
    const className = storageClass === '' ? 'DEEP_ARCHIVE' : storageClass;
    const hours = (RETRIEVAL_HOURS[className] ?? RETRIEVAL_HOURS.DEEP_ARCHIVE!)[this.#archiveTier];
    const where = STORAGE_CLASS_NAMES[className] ?? className;
    const message = running
      ? `${key} in ${this.location} is in ${where} and is being restored from archive (a restore started earlier is still running): ready within ~${hours} hours of its start. Nothing was read or judged; run this again then.`
      : `${key} in ${this.location} is in ${where}: being restored from archive now (${this.#archiveTier} retrieval), ready in ~${hours} hours and readable for ${this.#archiveDays} days after. Nothing was read or judged; run this again then.`;
    return new ArchiveRestoreInProgressError(message, { key, storageClass: className, tier: this.#archiveTier, readyInHours: hours, startedNow: !running }, { cause });
  }

  #notFoundOr(error: unknown, key: string): unknown {
    if (!isNotFound(error)) return error;
    return new ObjectNotFoundError(`No object ${key} in ${this.location}`, { cause: error });
  }
}

/** GetObject on an object in Deep Archive or Flexible Retrieval that is not restored: 403 InvalidObjectState. */
function isArchived(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'InvalidObjectState';
}

/** GetObject reports a missing key as NoSuchKey; HeadObject (no response body) as NotFound. */
function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
