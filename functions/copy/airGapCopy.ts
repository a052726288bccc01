/**
 * Copies one verified dump into the air-gapped vault: another account's Object-Locked bucket, under that account's
 * key (docs/air-gapped-vault.md). The workload account may only add objects there: it cannot read, list or delete
 * them, so nothing here can look at what the bucket holds. Each object goes server-side (`CopyObject`) with
 * `ExpectedBucketOwner` set to the vault account, so a bucket of that name in any other account is refused, and
 * with a SHA-256 checksum S3 computes on the copy: the payload is proven against the manifest's hash from S3's
 * answer alone. The payload first, then the verification results, then the manifest, which makes the copy a backup.
 *
 * A retried copy copies again: the bucket is versioned and locked, so this only adds versions (never replaces one),
 * and the newest version of each payload object is always one this run proved. Payload objects go `concurrency` at
 * a time; with a time budget, no copy starts once it is nearly spent, and the run stops with `CopyInterruptedError`
 * for the state machine to run it again (from the start: nothing here can see what an earlier run copied).
 */
import { CopyObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { AirGapCopyUnsupportedError, ChecksumMismatchError, StoreWriteFailedError } from '../lib/errors.ts';
import { backupPrefix, manifestKey } from '../lib/vault/layout.ts';
import { payloadObjects, type BackupManifest } from '../lib/vault/manifest.ts';
import { mapConcurrent } from '../lib/vault/catalog.ts';
import { CopyInterruptedError } from './interrupted.ts';

/** CopyObject's limit. A larger payload object would need a multipart copy, whose SHA-256 S3 gives only per part. */
export const MAX_AIR_GAP_OBJECT_BYTES = 5 * 1024 ** 3;

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
  /** Payload objects, verification results and the manifest copied. */
  readonly objectsCopied: number;
  /** SHA-256 of each payload object as S3 computed it on the copy, equal to the manifest's. */
  readonly payloadSha256: readonly string[];
}

export interface AirGapCopyOptions {
  /** Payload objects copied at once. @default 4 */
  readonly concurrency?: number;
  /** Whether the runner's time is nearly up: no copy starts then. @default never */
  readonly outOfTime?: () => boolean;
}

/** Copies the dump `manifest` describes from the primary vault into the air-gapped vault. */
export async function copyToAirGap(
  manifest: BackupManifest,
  /** The primary vault's bucket, and the keys of the backup's verification results there. */
  primary: { readonly bucket: string; readonly verifications: readonly string[] },
  target: AirGapTarget,
  options: AirGapCopyOptions = {},
): Promise<AirGapCopyResult> {
  const folder = backupPrefix(manifest.sourceId, manifest.backupId);
  const payloads = payloadObjects(manifest);
  const tooLarge = payloads.filter((p) => p.storedBytes > MAX_AIR_GAP_OBJECT_BYTES);
  if (tooLarge.length > 0) {
    throw new AirGapCopyUnsupportedError(
      `Backup ${manifest.sourceId}/${manifest.backupId} has payload objects above 5 GiB (${tooLarge.map((p) => `${p.key}: ${p.storedBytes} bytes`).join(', ')}), ` +
        'which the air-gapped copy does not take yet; the backup is in both region vaults. Dump with more --jobs (smaller parts) to keep each under 5 GiB.',
    );
  }
  const outOfTime = options.outOfTime ?? (() => false);
  const payloadSha256 = await mapConcurrent(payloads, options.concurrency ?? 4, async (payload) => {
    const key = `${folder}${payload.key}`;
    if (outOfTime()) {
      throw new CopyInterruptedError(
        `Stopped the air-gapped copy of ${manifest.sourceId}/${manifest.backupId} before ${key}: the runner's time is nearly up. The DR copy is complete; a rerun copies to the air-gapped vault again.`,
      );
    }
    const checksum = await copy(key, primary.bucket, target, true);
    const copied = checksum === undefined ? undefined : Buffer.from(checksum, 'base64').toString('hex');
    if (copied !== payload.sha256) {
      throw new ChecksumMismatchError(
        `The air-gapped copy of ${key} in s3://${target.bucket} has SHA-256 ${copied ?? '(none returned)'}, the manifest records ${payload.sha256}; the manifest was not copied`,
      );
    }
    return copied;
  });
  for (const key of primary.verifications) await copy(key, primary.bucket, target, false);
  // Last: the manifest makes the air-gapped copy a backup.
  await copy(manifestKey(manifest.sourceId, manifest.backupId), primary.bucket, target, false);
  return { bucket: target.bucket, region: target.region, objectsCopied: payloads.length + primary.verifications.length + 1, payloadSha256 };
}

/** One server-side copy into the air-gapped vault; with `checksum`, S3's SHA-256 of the copy (base64). */
async function copy(key: string, sourceBucket: string, target: AirGapTarget, checksum: boolean): Promise<string | undefined> {
  try {
    const output = await target.client.send(
      new CopyObjectCommand({
        Bucket: target.bucket,
        Key: key,
        CopySource: `${sourceBucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
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
    const name = (error as { name?: string }).name ?? 'Error';
    throw new StoreWriteFailedError(
      `Copying ${key} from s3://${sourceBucket} to the air-gapped vault s3://${target.bucket} (account ${target.account}, ${target.region}) failed: ${name}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
