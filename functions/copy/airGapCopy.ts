/**
 * Copies one verified dump into the air-gapped vault: another account's Object-Locked bucket, under that account's
 * key (docs/air-gapped-vault.md). The workload account may only add objects there: it cannot read, list or delete
 * them, so nothing here can look at what the bucket holds. Every request carries `ExpectedBucketOwner` = the vault
 * account, so a bucket of that name in any other account is refused, and every copy asks S3 for a SHA-256 of what
 * it stored: the payload is proven against the manifest from S3's answers, never by reading the copy back.
 *
 * - A payload object up to 5 GiB goes by `CopyObject`, whose answer is the SHA-256 of the whole copy.
 * - A larger one goes as a multipart copy. S3 gives SHA-256 only per part, so the source is read once first
 *   (concurrent ranged GETs of the primary vault's object): its whole hash must be the manifest's, and each part's
 *   hash is what S3 must then report for the copy of that part; the upload is completed with those hashes, which S3
 *   checks again. Any failure or stop aborts the upload.
 * - Then the verification results, then the manifest, which makes the copy a backup.
 *
 * A payload object proven in an earlier run is recorded through `progress` (the DR vault keeps the record) and not
 * copied again, so a backup of several large objects completes over several runs. Everything else is copied again
 * on a rerun: the bucket is versioned and locked, so this only adds versions (never replaces one), and the newest
 * version of each object is one a run proved. With a time budget, nothing new starts once it is nearly spent, and
 * the run stops with `CopyInterruptedError` for the state machine to run it again.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ChecksumMismatchError, LifeboatError, ObjectNotFoundError, SizeMismatchError, StoreWriteFailedError } from '../lib/errors.ts';
import { backupPrefix, manifestKey } from '../lib/vault/layout.ts';
import { payloadObjects, type BackupManifest, type PayloadCarrier, type PayloadObject } from '../lib/vault/manifest.ts';
import { mapConcurrent } from '../lib/vault/catalog.ts';
import { CopyInterruptedError } from './interrupted.ts';
import { MAX_SINGLE_COPY_BYTES, copySource, describeError, partRanges } from './parts.ts';
import { sha256OfRanges } from './rangedHash.ts';

const MiB = 1024 * 1024;

export interface AirGapTarget {
  /** A client in the air-gapped vault's region, with the workload account's credentials. */
  readonly client: Pick<S3Client, 'send'>;
  readonly bucket: string;
  readonly region: string;
  /** The vault account: S3 refuses the copy (403) if the bucket belongs to any other. */
  readonly account: string;
  /** That account's key, which the bucket policy requires every object to be stored under. */
  readonly kmsKeyId: string;
}

export interface AirGapCopyResult {
  readonly bucket: string;
  readonly region: string;
  /** Payload objects, verification results and the manifest copied by this run. */
  readonly objectsCopied: number;
  /** SHA-256 of each payload object, as S3 computed it on the copy (per part for a multipart copy), equal to the manifest's. */
  readonly payloadSha256: readonly string[];
  /** Payload objects copied in parts (above 5 GiB). */
  readonly multipartObjects?: number;
  /** Payload objects an earlier run had copied and proven, not copied again. */
  readonly payloadObjectsAlreadyCopied?: number;
}

/** What the air-gapped copy of a file-set snapshot did (fileSetAirGapCopy.ts). */
export interface FileSetAirGapCopyResult {
  readonly bucket: string;
  readonly region: string;
  /** Packs, snapshot objects, chunk-id key, verification results and manifest this run copied. */
  readonly objectsCopied: number;
  readonly packsCopied: number;
  readonly packBytesCopied: number;
  /** Packs of the snapshot an earlier copy (of it or of an earlier snapshot) had proven there. */
  readonly packsAlreadyCopied: number;
}

/** What earlier runs proved in the air-gapped vault: payload key → the SHA-256 S3 reported for its copy. */
export interface AirGapProgress {
  load(): Promise<ReadonlyMap<string, string>>;
  /** Called once a payload object's copy is proven; must be durable before it returns. */
  record(key: string, sha256: string): Promise<void>;
}

export interface AirGapCopyOptions {
  /** Payload objects copied at once. @default 4 */
  readonly concurrency?: number;
  /** Whether the runner's time is nearly up: no copy, part or ranged GET starts then. @default never */
  readonly outOfTime?: () => boolean;
  /** Payload objects above this go as a multipart copy. @default 5 GiB (CopyObject's limit) */
  readonly multipartThresholdBytes?: number | undefined;
  /** @default 512 MiB, grown to stay within 10,000 parts */
  readonly partSizeBytes?: number | undefined;
  /** UploadPartCopy requests in flight at once. @default 8 */
  readonly partConcurrency?: number | undefined;
  /** Bytes per ranged GET of the source's hash pass. @default 16 MiB */
  readonly hashRangeBytes?: number | undefined;
  /** Ranged GETs in flight. @default 4 */
  readonly hashConcurrency?: number | undefined;
  /** @default none: every run copies every payload object */
  readonly progress?: AirGapProgress;
}

/** The primary vault's bucket (its region's client), and the keys of the backup's verification results there. */
export interface AirGapSource {
  readonly client: Pick<S3Client, 'send'>;
  readonly bucket: string;
  readonly verifications: readonly string[];
}

/** Copies the dump `manifest` describes from the primary vault into the air-gapped vault. */
export async function copyToAirGap(manifest: Pick<BackupManifest, 'sourceId' | 'backupId'> & PayloadCarrier, primary: AirGapSource, target: AirGapTarget, options: AirGapCopyOptions = {}): Promise<AirGapCopyResult> {
  const folder = backupPrefix(manifest.sourceId, manifest.backupId);
  const payloads = payloadObjects(manifest);
  const outOfTime = options.outOfTime ?? (() => false);
  const threshold = options.multipartThresholdBytes ?? MAX_SINGLE_COPY_BYTES;
  const done = (await options.progress?.load()) ?? new Map<string, string>();
  let multipartObjects = 0;
  let alreadyCopied = 0;
  const payloadSha256 = await mapConcurrent(payloads, options.concurrency ?? 4, async (payload) => {
    const key = `${folder}${payload.key}`;
    if (done.get(key) === payload.sha256) {
      alreadyCopied += 1;
      return payload.sha256;
    }
    if (outOfTime()) {
      throw new CopyInterruptedError(
        `Stopped the air-gapped copy of ${manifest.sourceId}/${manifest.backupId} before ${key}: the runner's time is nearly up. ` +
          'The DR copy is complete; a rerun continues the air-gapped copy with the payload objects not yet proven there.',
      );
    }
    let sha256: string;
    if (payload.storedBytes > threshold) {
      multipartObjects += 1;
      sha256 = await copyInParts(key, payload, primary, target, { ...options, outOfTime });
    } else {
      const checksum = await copyObjectToAirGap(key, primary.bucket, target, true);
      sha256 = checksumHex(checksum);
      if (sha256 !== payload.sha256) {
        throw new ChecksumMismatchError(
          `The air-gapped copy of ${key} in s3://${target.bucket} has SHA-256 ${sha256}, the manifest records ${payload.sha256}; the manifest was not copied`,
        );
      }
    }
    await options.progress?.record(key, sha256);
    return sha256;
  });
  for (const key of primary.verifications) await copyObjectToAirGap(key, primary.bucket, target, false);
  // Last: the manifest makes the air-gapped copy a backup.
  await copyObjectToAirGap(manifestKey(manifest.sourceId, manifest.backupId), primary.bucket, target, false);
  return {
    bucket: target.bucket,
    region: target.region,
    objectsCopied: payloads.length - alreadyCopied + primary.verifications.length + 1,
    payloadSha256,
    ...(multipartObjects > 0 ? { multipartObjects } : {}),
    ...(alreadyCopied > 0 ? { payloadObjectsAlreadyCopied: alreadyCopied } : {}),
  };
}

/**
 * A payload object above CopyObject's limit: its source hashed whole and per part in one pass, then
 * CreateMultipartUpload (SHA-256 checksums) ▸ UploadPartCopy per part, each answer's SHA-256 compared with the
 * source part's ▸ Complete with those checksums. Returns the manifest's SHA-256, now proven for the copy.
 */
async function copyInParts(
  key: string,
  payload: PayloadObject,
  primary: AirGapSource,
  target: AirGapTarget,
  options: AirGapCopyOptions & { readonly outOfTime: () => boolean },
): Promise<string> {
  const head = await primary.client.send(new HeadObjectCommand({ Bucket: primary.bucket, Key: key })).catch((error: unknown) => {
    const name = (error as { name?: unknown }).name;
    if (name === 'NotFound' || name === 'NoSuchKey') throw new ObjectNotFoundError(`No payload ${key} in s3://${primary.bucket} to copy to the air-gapped vault`, { cause: error });
    throw error;
  });
  if (head.ContentLength !== payload.storedBytes) {
    throw new SizeMismatchError(`Payload ${key} in s3://${primary.bucket} holds ${head.ContentLength} bytes, its manifest says ${payload.storedBytes}; not copied to the air-gapped vault`);
  }
  const ranges = partRanges(payload.storedBytes, options.partSizeBytes ?? 512 * MiB);
  const source = await sha256OfRanges(primary.client, primary.bucket, key, payload.storedBytes, {
    rangeBytes: options.hashRangeBytes ?? 16 * MiB,
    concurrency: options.hashConcurrency ?? 4,
    parts: ranges,
    ...(head.ETag === undefined ? {} : { etag: head.ETag }),
    shouldStop: options.outOfTime,
    onStop: (hashed) =>
      new CopyInterruptedError(
        `Stopped reading ${key} for its air-gapped copy after ${hashed} of ${payload.storedBytes} bytes: the runner's time is nearly up. Nothing of it was copied; a rerun starts it again.`,
      ),
  });
  if (source.sha256 !== payload.sha256) {
    throw new ChecksumMismatchError(
      `${key} in the primary vault s3://${primary.bucket} has SHA-256 ${source.sha256}, the manifest records ${payload.sha256}; nothing of it was copied to the air-gapped vault`,
    );
  }
  const partSha256 = source.partSha256!;
  const where = `the air-gapped vault s3://${target.bucket} (account ${target.account}, ${target.region})`;
  const created = await send(target, key, primary.bucket, 'CreateMultipartUpload', () =>
    target.client.send(
      new CreateMultipartUploadCommand({
        Bucket: target.bucket,
        Key: key,
        ExpectedBucketOwner: target.account,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: target.kmsKeyId,
        BucketKeyEnabled: true,
        ChecksumAlgorithm: 'SHA256',
        ...(head.ContentType === undefined ? {} : { ContentType: head.ContentType }),
        ...(head.Metadata === undefined || Object.keys(head.Metadata).length === 0 ? {} : { Metadata: head.Metadata }),
      }),
    ),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new StoreWriteFailedError(`CreateMultipartUpload for ${key} in ${where} returned no UploadId`);
  try {
    const parts: CompletedPart[] = await mapConcurrent(ranges, options.partConcurrency ?? 8, async (range, index) => {
      if (options.outOfTime()) {
        throw new CopyInterruptedError(
          `Stopped the air-gapped multipart copy of ${key} before part ${index + 1} of ${ranges.length}: the runner's time is nearly up. ` +
            'The upload was aborted; a rerun copies this object again.',
        );
      }
      const out = await send(target, key, primary.bucket, `UploadPartCopy of part ${index + 1}`, () =>
        target.client.send(
          new UploadPartCopyCommand({
            Bucket: target.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: index + 1,
            CopySource: copySource(primary.bucket, key),
            ...(head.ETag === undefined ? {} : { CopySourceIfMatch: head.ETag }),
            CopySourceRange: `bytes=${range.start}-${range.end}`,
            ExpectedBucketOwner: target.account,
          }),
        ),
      );
      const checksum = out.CopyPartResult?.ChecksumSHA256;
      const copied = checksumHex(checksum);
      if (copied !== partSha256[index]) {
        throw new ChecksumMismatchError(
          `Part ${index + 1} of the air-gapped copy of ${key} (bytes ${range.start}-${range.end}) has SHA-256 ${copied}, the source's is ${partSha256[index]}; the upload was aborted and the manifest not copied`,
        );
      }
      if (!out.CopyPartResult?.ETag) throw new StoreWriteFailedError(`UploadPartCopy of part ${index + 1} of ${key} in ${where} returned no ETag`);
      return { PartNumber: index + 1, ETag: out.CopyPartResult.ETag, ChecksumSHA256: checksum };
    });
    await send(target, key, primary.bucket, 'CompleteMultipartUpload', () =>
      target.client.send(
        new CompleteMultipartUploadCommand({ Bucket: target.bucket, Key: key, UploadId: uploadId, ExpectedBucketOwner: target.account, MultipartUpload: { Parts: parts } }),
      ),
    );
  } catch (error) {
    try {
      await target.client.send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: key, UploadId: uploadId, ExpectedBucketOwner: target.account }));
    } catch (abortError) {
      throw new StoreWriteFailedError(
        `The air-gapped multipart copy of ${key} failed (${describeError(error)}); aborting upload ${uploadId} also failed (${describeError(abortError)}), ` +
          `so its parts stay in ${where} until its AbortIncompleteMultipartUpload lifecycle rule removes them`,
        { cause: error },
      );
    }
    throw error;
  }
  return payload.sha256;
}

/** Runs one request to the air-gapped vault; what S3 refuses becomes a StoreWriteFailedError naming the vault. */
async function send<T>(target: AirGapTarget, key: string, sourceBucket: string, what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new StoreWriteFailedError(
      `${what} for ${key} from s3://${sourceBucket} to the air-gapped vault s3://${target.bucket} (account ${target.account}, ${target.region}) failed: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/** S3's base64 SHA-256 of a copy as hex; a copy answered without one is `(none returned)`, which proves nothing. */
export function checksumHex(checksum: string | undefined): string {
  return checksum === undefined ? '(none returned)' : Buffer.from(checksum, 'base64').toString('hex');
}

/** One server-side copy into the air-gapped vault; with `checksum`, S3's SHA-256 of the copy (base64). */
export async function copyObjectToAirGap(key: string, sourceBucket: string, target: AirGapTarget, checksum: boolean): Promise<string | undefined> {
  try {
    const output = await target.client.send(
      new CopyObjectCommand({
        Bucket: target.bucket,
        Key: key,
        CopySource: copySource(sourceBucket, key),
        ExpectedBucketOwner: target.account,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: target.kmsKeyId,
        BucketKeyEnabled: true,
        MetadataDirective: 'COPY',
        ...(checksum ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
      }),
    );
    return output.CopyObjectResult?.ChecksumSHA256;
  } catch (error) {
    throw new StoreWriteFailedError(
      `Copying ${key} from s3://${sourceBucket} to the air-gapped vault s3://${target.bucket} (account ${target.account}, ${target.region}) failed: ${describeError(error)}`,
      { cause: error },
    );
  }
}
