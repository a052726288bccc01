/**
 * Copies one backup from the primary vault to the DR vault, server-side, under the DR bucket's KMS key:
 * the payload first (CopyObject, or a parallel, resumable multipart copy above 5 GiB), then a SHA-256 of the
 * DR copy from concurrent ranged GETs, compared with the manifest, and only then the manifest (its presence in the DR vault is what records the
 * copy), then the verification results. A snapshot backup's manifest is rewritten to point at the DR copy
 * of the snapshot instead. Nothing here is Lambda-specific: the same core runs in a Fargate task, and a
 * remaining-time budget is optional. Contracts: docs/pipeline-functions.md.
 */
import { createHash } from 'node:crypto';
import { ModifyDBClusterSnapshotAttributeCommand, ModifyDBSnapshotAttributeCommand } from '@aws-sdk/client-rds';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
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
import { AIR_GAP_PROGRESS_NAME, VERIFICATIONS_DIR, backupPrefix, manifestKey } from '../lib/vault/layout.ts';
import { sha256OfRanges } from './rangedHash.ts';
import { copyToAirGap, type AirGapCopyResult, type AirGapProgress, type AirGapTarget, type FileSetAirGapCopyResult } from './airGapCopy.ts';
import { CopyInterruptedError } from './interrupted.ts';
import { shareAndTidy, type ShareCopyTarget } from './shareCopy.ts';
import { MAX_SINGLE_COPY_BYTES, copySource, describeError, partRanges } from './parts.ts';
import { parseAnyManifest, type CatalogManifest } from '../lib/vault/catalog.ts';
import { parseManifest, payloadObjects, serializeManifest, type BackupManifest, type PayloadObject } from '../lib/vault/manifest.ts';

const MiB = 1024 * 1024;
/** Time kept in hand when a remaining-time budget is given: parts in flight finish, nothing new starts. */
export const DEFAULT_STOP_MARGIN_MS = 120_000;

export { CopyInterruptedError } from './interrupted.ts';
export { MAX_SINGLE_COPY_BYTES, partRanges } from './parts.ts';

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
  /** UploadPartCopy requests in flight at once. @default 8 */
  readonly partConcurrency?: number;
  /** Ranged GETs in flight while re-hashing the DR copy; memory is about `(hashConcurrency + 1) × hashRangeBytes`. @default 4 */
  readonly hashConcurrency?: number;
  /** Bytes per ranged GET of the re-hash. @default 16 MiB */
  readonly hashRangeBytes?: number;
  /**
   * Milliseconds the runner has left (a Lambda's `context.getRemainingTimeInMillis`). When given, no new part
   * copy or ranged GET starts once less than `stopMarginMs` is left, and the copy fails with
   * `CopyInterruptedError`, leaving its multipart upload for a rerun to resume.
   * @default undefined: no limit (a Fargate task runs to the end)
   */
  readonly remainingTimeMs?: () => number;
  /** @default 120 s */
  readonly stopMarginMs?: number;
  /** The air-gapped vault (another account's): each copied dump goes there too, after the DR vault. @default none */
  readonly airGap?: AirGapTarget;
  /** With the air-gapped vault in the primary region: snapshot backups reach it as share copies made there (shareCopy.ts). @default none */
  readonly shareCopy?: ShareCopyTarget;
}

export interface CopyBackupResult {
  readonly sourceId: string;
  readonly backupId: string;
  readonly kind: BackupManifest['kind'] | 'config' | 'fileset';
  readonly drBucket: string;
  readonly drRegion: string;
  readonly manifestKey: string;
  /** Dumps: the payload's size and SHA-256, confirmed on the DR copy. */
  readonly payloadBytes?: number;
  readonly sha256?: string;
  /** Dumps: whether the payload went as a multipart copy. */
  readonly multipart?: boolean;
  /** Dumps: UploadPartCopy requests this run made (0 without a multipart copy). */
  readonly partsCopied?: number;
  /** Dumps: parts an earlier, interrupted run had copied, taken over from its multipart upload instead of copied again. */
  readonly partsResumed?: number;
  /** Dumps: payload objects the DR vault already held whole (an earlier run copied them), proven by their hash and not copied again. */
  readonly payloadObjectsReused?: number;
  /** Dumps: other unfinished multipart uploads of the same payload key, aborted (debris of earlier runs). */
  readonly staleUploadsAborted?: number;
  /** What the copy could not do but worked around, e.g. looking for an upload to resume without the permission to. */
  readonly warnings?: readonly string[];
  /** Snapshots: the DR copy the DR manifest points at. */
  readonly snapshotArn?: string;
  /** Snapshots, with an air-gapped vault: the account the DR copy (or, in the primary region, the share copy) is shared with, whose copier copies it. */
  readonly snapshotSharedWith?: string;
  /** Snapshots, with share copies: the one shared, and older ones deleted. */
  readonly shareCopy?: { readonly snapshotIdentifier: string; readonly deleted: readonly string[] };
  readonly verificationsCopied: number;
  /** The DR vault already held this manifest (a retried copy); nothing but missing verification results was copied. */
  readonly alreadyCopied: boolean;
  /** With an air-gapped vault: what went there (again on a retried copy: the bucket keeps every version). */
  readonly airGap?: AirGapCopyResult | FileSetAirGapCopyResult;
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
  // A configuration backup is copied like a dump: one payload object, then its manifest.
  const manifest = parseAnyManifest(source.bytes, key);
  if (manifest.sourceId !== sourceId || manifest.backupId !== backupId) {
    throw new BackupConflictError(`${key} in s3://${deps.primary.bucket} describes backup ${manifest.sourceId}/${manifest.backupId}, not ${sourceId}/${backupId}`);
  }
  return manifest.kind === 'snapshot'
    ? copySnapshotManifest(manifest, deps)
    : copyDumpBackup(manifest, source, deps);
}

/** A backup whose payload is in the vault: a dump or a configuration backup. */
type PayloadManifest = Exclude<CatalogManifest, { kind: 'snapshot' }>;

async function copyDumpBackup(manifest: PayloadManifest, source: StoredObject, deps: VaultCopyDeps): Promise<CopyBackupResult> {
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
    const airGap = await airGapCopy(manifest, deps);
    return { ...base, verificationsCopied, alreadyCopied: true, ...airGap, ...lag(manifest, existing.lastModified ?? now(deps)) };
  }

  const totals = { multipart: false, partsCopied: 0, partsResumed: 0, payloadObjectsReused: 0, staleUploadsAborted: 0 };
  const warnings: string[] = [];
  for (const object of payloadObjects(manifest)) {
    const stats = await copyPayloadObject(manifest, object, deps, warnings);
    totals.multipart ||= stats.multipart;
    totals.partsCopied += stats.partsCopied;
    totals.partsResumed += stats.partsResumed;
    totals.payloadObjectsReused += stats.reused ? 1 : 0;
    totals.staleUploadsAborted += stats.staleUploadsAborted;
  }

  // Last: the manifest makes the DR copy a backup. Only the manifest read above, byte for byte.
  await wrapWrite(key, deps, () => serverSideCopy(key, source.etag, deps));
  const copiedAt = now(deps);
  const verificationsCopied = await copyVerifications(manifest, deps);
  const airGap = await airGapCopy(manifest, deps);
  return { ...base, ...totals, ...(warnings.length === 0 ? {} : { warnings }), verificationsCopied, alreadyCopied: false, ...airGap, ...lag(manifest, copiedAt) };
}

/** The air-gapped copy of a dump already in the DR vault, when the deployment has an air-gapped vault. */
async function airGapCopy(manifest: PayloadManifest, deps: VaultCopyDeps): Promise<{ airGap?: AirGapCopyResult }> {
  if (!deps.airGap) return {};
  const prefix = `${backupPrefix(manifest.sourceId, manifest.backupId)}${VERIFICATIONS_DIR}/`;
  const primary = { ...deps.primary, verifications: await listKeys(deps.primary, prefix) };
  return {
    airGap: await copyToAirGap(manifest, primary, deps.airGap, {
      outOfTime: () => outOfTime(deps),
      progress: airGapProgress(manifest, deps.airGap, deps),
      // The same part sizes, concurrency and hashing as the DR copy.
      multipartThresholdBytes: deps.multipartThresholdBytes,
      partSizeBytes: deps.partSizeBytes,
      partConcurrency: deps.partConcurrency,
      hashRangeBytes: deps.hashRangeBytes,
      hashConcurrency: deps.hashConcurrency,
    }),
  };
}

/**
 * The record of what is proven in the air-gapped vault, kept beside the backup in the DR vault (which this function
 * alone writes, and retention removes with the backup): `{ version, bucket, account, objects: { key: sha256 } }`.
 * The air-gapped vault cannot be read from here, so this is how a rerun knows which payload objects are done. A
 * record for another bucket or account, or one that does not parse, counts as none: the objects are copied again.
 */
function airGapProgress(manifest: PayloadManifest, target: AirGapTarget, deps: VaultCopyDeps): AirGapProgress {
  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${AIR_GAP_PROGRESS_NAME}`;
  const objects = new Map<string, string>();
  let writes: Promise<void> = Promise.resolve();
  return {
    async load() {
      for (const [k, v] of await readAirGapRecord(key, 'objects', target, deps)) objects.set(k, v);
      return objects;
    },
    record(proven, sha256) {
      objects.set(proven, sha256);
      // One write at a time, each of the whole record: concurrent copies never lose each other's entries.
      writes = writes.then(() => {
        const body = `${JSON.stringify({ version: 1, bucket: target.bucket, account: target.account, objects: Object.fromEntries([...objects].sort()) }, null, 2)}\n`;
        return putDrJson(key, body, deps);
      });
      return writes;
    },
  };
}

/**
 * A record of what is proven in the air-gapped vault, kept in the DR vault (`{ version: 1, bucket, account, <field>:
 * { name: sha256 } }`): its entries, or none for a record that is absent, does not parse, or is for another bucket or
 * account (what it lists is then copied again; the next record replaces it).
 */
export async function readAirGapRecord(key: string, field: 'objects' | 'packs', target: AirGapTarget, deps: VaultCopyDeps): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  const stored = await getObject(deps.dr, key);
  if (!stored) return entries;
  try {
    const record = JSON.parse(stored.bytes.toString('utf8')) as Record<string, unknown>;
    const listed = record[field];
    if (record['version'] === 1 && record['bucket'] === target.bucket && record['account'] === target.account && typeof listed === 'object' && listed !== null) {
      for (const [name, sha256] of Object.entries(listed)) if (typeof sha256 === 'string') entries.set(name, sha256);
    }
  } catch {
    // Unreadable: counts as none.
  }
  return entries;
}

interface PayloadCopyStats {
  readonly multipart: boolean;
  readonly reused: boolean;
  readonly partsCopied: number;
  readonly partsResumed: number;
  readonly staleUploadsAborted: number;
}

/**
 * Copies one stored payload object to the DR vault and proves the copy, from the DR object itself, against the
 * hash taken when the backup was made. A DR object already there with the right size (an earlier run copied it
 * and then ran out of time) is hashed first and, if it proves, not copied again.
 */
async function copyPayloadObject(manifest: PayloadManifest, payload: PayloadObject, deps: VaultCopyDeps, warnings: string[]): Promise<PayloadCopyStats> {
  const { sourceId, backupId } = manifest;
  const payloadKey = `${backupPrefix(sourceId, backupId)}${payload.key}`;
  const head = await headObject(deps.primary, payloadKey);
  if (!head) throw new ObjectNotFoundError(`Backup ${sourceId}/${backupId} has a manifest but no payload ${payloadKey} in s3://${deps.primary.bucket}`);
  if (head.bytes !== payload.storedBytes) {
    throw new SizeMismatchError(`Payload ${payloadKey} in s3://${deps.primary.bucket} holds ${head.bytes} bytes, its manifest says ${payload.storedBytes}; not copied`);
  }

  const present = await headObject(deps.dr, payloadKey);
  if (present && present.bytes === payload.storedBytes) {
    const proof = await hashDrCopy(payloadKey, present, deps);
    if (proof.sha256 === payload.sha256) return { multipart: false, reused: true, partsCopied: 0, partsResumed: 0, staleUploadsAborted: 0 };
  }

  const multipart = head.bytes > (deps.multipartThresholdBytes ?? MAX_SINGLE_COPY_BYTES);
  const parts = multipart
    ? await wrapWrite(payloadKey, deps, () => multipartCopy(payloadKey, head, deps, warnings))
    : await wrapWrite(payloadKey, deps, () => serverSideCopy(payloadKey, head.etag, deps)).then(() => ({ copied: 0, resumed: 0, staleAborted: 0 }));

  const copy = await headObject(deps.dr, payloadKey);
  if (!copy || copy.bytes !== payload.storedBytes) {
    throw new SizeMismatchError(
      `The DR copy of ${payloadKey} in s3://${deps.dr.bucket} holds ${copy?.bytes ?? 0} bytes, the manifest says ${payload.storedBytes}; the manifest was not copied`,
    );
  }
  const { sha256 } = await hashDrCopy(payloadKey, copy, deps);
  if (sha256 !== payload.sha256) {
    throw new ChecksumMismatchError(
      `The DR copy of ${payloadKey} in s3://${deps.dr.bucket} has SHA-256 ${sha256}, the manifest records ${payload.sha256}; the manifest was not copied`,
    );
  }
  return { multipart, reused: false, partsCopied: parts.copied, partsResumed: parts.resumed, staleUploadsAborted: parts.staleAborted };
}

/** SHA-256 of the DR object, from concurrent ranged GETs of that one version (`If-Match` its ETag). */
function hashDrCopy(key: string, head: ObjectHead, deps: VaultCopyDeps): Promise<{ bytes: number; sha256: string }> {
  return sha256OfRanges(deps.dr.client, deps.dr.bucket, key, head.bytes, {
    rangeBytes: deps.hashRangeBytes ?? 16 * MiB,
    concurrency: deps.hashConcurrency ?? 4,
    ...(head.etag === undefined ? {} : { etag: head.etag }),
    shouldStop: () => outOfTime(deps),
    onStop: (hashed) =>
      new CopyInterruptedError(
        `Stopped re-hashing the DR copy of ${key} after ${hashed} of ${head.bytes} bytes: the runner's time is nearly up. ` +
          'The copy is complete; a rerun proves it by its hash without copying it again.',
      ),
  });
}

export function outOfTime(deps: VaultCopyDeps): boolean {
  return deps.remainingTimeMs !== undefined && deps.remainingTimeMs() < (deps.stopMarginMs ?? DEFAULT_STOP_MARGIN_MS);
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
  // Before the DR manifest: a backup the DR vault lists is one the air-gapped account can copy (and a rerun shares again).
  const sharedWith = await shareWithAirGap(drSnapshot, deps);
  const shared = deps.shareCopy ? await shareAndTidy({ sourceId, backupId, type, snapshotIdentifier: primarySnapshot.identifier }, deps.shareCopy, now(deps)) : undefined;
  const base = {
    sourceId, backupId, kind: manifest.kind, drBucket: deps.dr.bucket, drRegion: deps.dr.region, manifestKey: key, snapshotArn: drSnapshot.arn,
    ...(sharedWith === undefined ? {} : { snapshotSharedWith: sharedWith }),
    ...(shared ? { snapshotSharedWith: deps.shareCopy!.account, shareCopy: { snapshotIdentifier: shared.shared, deleted: shared.deleted } } : {}),
  };

  const existing = await getObject(deps.dr, key);
  if (existing) {
    const recorded = parseManifest(existing.bytes, key);
    if (recorded.kind !== 'snapshot' || recorded.snapshot?.arn !== drSnapshot.arn) {
      throw new BackupConflictError(`The DR vault s3://${deps.dr.bucket} already holds a different ${key}; refusing to overwrite it`);
    }
    const verificationsCopied = await copyVerifications(manifest, deps);
    return { ...base, verificationsCopied, alreadyCopied: true, ...lag(manifest, existing.lastModified ?? now(deps)) };
  }
  await putDrJson(key, serializeManifest(drManifest), deps);
  const copiedAt = now(deps);
  const verificationsCopied = await copyVerifications(manifest, deps);
  return { ...base, verificationsCopied, alreadyCopied: false, ...lag(manifest, copiedAt) };
}

/**
 * Shares the DR copy of a snapshot with the air-gapped vault's account when that vault is in the DR region, where
 * the account's snapshot copier (functions/air-gap-snapshots) copies it under its own key: a shared encrypted
 * snapshot can be copied only within its region, and the DR copy is already under a key of Lifeboat's (the DR
 * replica of the vault key, whose policy lets that account use it through RDS there). Adding an account that is
 * already there changes nothing, so a rerun may share again. Returns the account, or undefined when there is none.
 */
async function shareWithAirGap(snapshot: { readonly type: 'instance' | 'cluster'; readonly identifier: string }, deps: VaultCopyDeps): Promise<string | undefined> {
  const airGap = deps.airGap;
  if (!airGap || airGap.region !== deps.dr.region) return undefined;
  const share = { AttributeName: 'restore', ValuesToAdd: [airGap.account] };
  if (snapshot.type === 'instance') await deps.drRds.send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: snapshot.identifier, ...share }));
  else await deps.drRds.send(new ModifyDBClusterSnapshotAttributeCommand({ DBClusterSnapshotIdentifier: snapshot.identifier, ...share }));
  return airGap.account;
}

/**
 * Verification results of the backup that the DR vault lacks, copied after the manifest: the DR region's
 * retention then knows which of its copies are verified (the bytes are the same, proven by the hash).
 */
async function copyVerifications(manifest: PayloadManifest, deps: VaultCopyDeps): Promise<number> {
  return copyMissingResults(`${backupPrefix(manifest.sourceId, manifest.backupId)}${VERIFICATIONS_DIR}/`, deps);
}

/** The objects under `prefix` (a backup's or a file-set snapshot's `verifications/`) the DR vault lacks, copied; how many. */
export async function copyMissingResults(prefix: string, deps: VaultCopyDeps): Promise<number> {
  const present = new Set(await listKeys(deps.dr, prefix));
  let copied = 0;
  for (const key of await listKeys(deps.primary, prefix)) {
    if (present.has(key)) continue;
    await wrapWrite(key, deps, () => serverSideCopy(key, undefined, deps));
    copied += 1;
  }
  return copied;
}

export function serverSideCopy(key: string, etag: string | undefined, deps: VaultCopyDeps): Promise<unknown> {
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

interface UploadState {
  readonly uploadId: string;
  /** Parts already in the upload whose size fits this copy's plan, by part number. */
  readonly done: Map<number, string>;
}

/**
 * CreateMultipartUpload ▸ UploadPartCopy over byte ranges, `partConcurrency` at a time ▸ Complete with the
 * parts in order. An unfinished upload of the same key (a run that timed out) is continued instead: its parts
 * of the right size are kept (ListParts) and only the rest copied. Any failure aborts the upload; a stop for
 * lack of time (`remainingTimeMs`) leaves it for the rerun and throws `CopyInterruptedError`.
 */
async function multipartCopy(
  key: string,
  head: ObjectHead,
  deps: VaultCopyDeps,
  warnings: string[],
): Promise<{ copied: number; resumed: number; staleAborted: number }> {
  const ranges = partRanges(head.bytes, deps.partSizeBytes ?? 512 * MiB);
  const { resume, staleAborted } = await findResumableUpload(key, ranges, deps).catch((error: unknown) => {
    // A role without s3:ListBucketMultipartUploads / s3:ListMultipartUploadParts can still copy, from the start.
    if ((error as { name?: unknown }).name !== 'AccessDenied') throw error;
    warnings.push(`could not look for an unfinished upload of ${key} to continue (${describeError(error)}); copied from the start`);
    return { resume: undefined, staleAborted: 0 };
  });
  let uploadId = resume?.uploadId;
  if (!uploadId) {
    const created = await deps.dr.client.send(
      new CreateMultipartUploadCommand({
        Bucket: deps.dr.bucket,
        Key: key,
        ...(head.contentType === undefined ? {} : { ContentType: head.contentType }),
        ...drEncryption(deps),
      }),
    );
    uploadId = created.UploadId;
    if (!uploadId) throw new StoreWriteFailedError(`CreateMultipartUpload for ${key} in s3://${deps.dr.bucket} returned no UploadId`);
  }
  const parts: CompletedPart[] = ranges.map((_, index) => ({ PartNumber: index + 1, ETag: resume?.done.get(index + 1) }));
  const todo = parts.filter((part) => part.ETag === undefined).map((part) => part.PartNumber! - 1);
  let copied = 0;
  try {
    let next = 0;
    let failed = false;
    let stopped = false;
    const worker = async () => {
      while (!failed && !stopped && next < todo.length) {
        if (outOfTime(deps)) {
          stopped = true;
          break;
        }
        const index = todo[next++]!;
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
          copied += 1;
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const concurrency = Math.max(1, Math.min(deps.partConcurrency ?? 8, todo.length));
    const results = await Promise.allSettled(Array.from({ length: concurrency }, worker));
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    if (stopped) {
      const done = parts.filter((part) => part.ETag !== undefined).length;
      throw new CopyInterruptedError(
        `Stopped the multipart copy of ${key} to s3://${deps.dr.bucket} at ${done} of ${parts.length} parts: the runner's time is nearly up. ` +
          `Upload ${uploadId} is left in place; a rerun continues it.`,
      );
    }
    await deps.dr.client.send(
      new CompleteMultipartUploadCommand({ Bucket: deps.dr.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (error) {
    if (error instanceof CopyInterruptedError) throw error;
    try {
      await deps.dr.client.send(new AbortMultipartUploadCommand({ Bucket: deps.dr.bucket, Key: key, UploadId: uploadId }));
    } catch (abortError) {
      throw new StoreWriteFailedError(
        `Multipart copy of ${key} to s3://${deps.dr.bucket} failed (${describeError(error)}); aborting it also failed (${describeError(abortError)}), ` +
          "so its parts remain until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
        { cause: error },
      );
    }
    throw error;
  }
  return { copied, resumed: ranges.length - todo.length, staleAborted };
}

/**
 * The unfinished multipart upload of `key` with the most parts this copy can keep (a part is kept when its
 * size is exactly its planned range's; the hash of the whole copy proves the bytes afterwards). Any other
 * unfinished upload of the key is aborted: only this function writes payload keys in the DR vault.
 */
async function findResumableUpload(
  key: string,
  ranges: readonly { start: number; end: number }[],
  deps: VaultCopyDeps,
): Promise<{ resume: UploadState | undefined; staleAborted: number }> {
  const uploads: { uploadId: string; initiated: number }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await deps.dr.client.send(
      new ListMultipartUploadsCommand({ Bucket: deps.dr.bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
    );
    for (const upload of page.Uploads ?? []) {
      if (upload.Key === key && upload.UploadId) uploads.push({ uploadId: upload.UploadId, initiated: upload.Initiated?.getTime() ?? 0 });
    }
    [keyMarker, uploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
  } while (keyMarker !== undefined || uploadIdMarker !== undefined);
  if (uploads.length === 0) return { resume: undefined, staleAborted: 0 };

  let best: UploadState | undefined;
  let bestInitiated = -1;
  for (const upload of uploads) {
    const done = new Map<number, string>();
    let marker: string | undefined;
    do {
      const page = await deps.dr.client.send(
        new ListPartsCommand({ Bucket: deps.dr.bucket, Key: key, UploadId: upload.uploadId, PartNumberMarker: marker }),
      );
      for (const part of page.Parts ?? []) {
        const range = part.PartNumber === undefined ? undefined : ranges[part.PartNumber - 1];
        if (range && part.ETag && part.Size === range.end - range.start + 1) done.set(part.PartNumber!, part.ETag);
      }
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
    if (!best || done.size > best.done.size || (done.size === best.done.size && upload.initiated > bestInitiated)) {
      best = { uploadId: upload.uploadId, done };
      bestInitiated = upload.initiated;
    }
  }
  let staleAborted = 0;
  for (const upload of uploads) {
    if (upload.uploadId === best!.uploadId) continue;
    // Best effort: the bucket's AbortIncompleteMultipartUpload lifecycle rule removes whatever this misses.
    const aborted = await deps.dr.client
      .send(new AbortMultipartUploadCommand({ Bucket: deps.dr.bucket, Key: key, UploadId: upload.uploadId }))
      .then(() => true, () => false);
    if (aborted) staleAborted += 1;
  }
  return { resume: best, staleAborted };
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

export async function getObject(vault: { client: S3Sender; bucket: string }, key: string): Promise<StoredObject | undefined> {
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

export async function listKeys(vault: { client: S3Sender; bucket: string }, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await vault.client.send(new ListObjectsV2Command({ Bucket: vault.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

/** A JSON object written to the DR vault under the DR key. */
export async function putDrJson(key: string, body: string, deps: VaultCopyDeps): Promise<void> {
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
}

function drEncryption(deps: VaultCopyDeps) {
  return { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: deps.dr.kmsKeyId, BucketKeyEnabled: true };
}


export async function wrapWrite<T>(key: string, deps: VaultCopyDeps, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new StoreWriteFailedError(`Copying ${key} from s3://${deps.primary.bucket} to s3://${deps.dr.bucket} failed: ${describeError(error)}`, { cause: error });
  }
}

export function lag(manifest: Pick<BackupManifest, 'completedAt'>, copiedAt: Date): { completedAt: string; copiedAt: string; replicationLagSeconds: number } {
  const seconds = (copiedAt.getTime() - Date.parse(manifest.completedAt)) / 1000;
  return { completedAt: manifest.completedAt, copiedAt: copiedAt.toISOString(), replicationLagSeconds: Math.max(0, Math.round(seconds * 1000) / 1000) };
}

export function now(deps: VaultCopyDeps): Date {
  return deps.now?.() ?? new Date();
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}
