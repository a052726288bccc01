/**
 * Share copies: how a snapshot backup reaches an air-gapped vault that is in the primary region rather than the DR
 * region (docs/air-gapped-vault.md, "Snapshot backups"). RDS lets another account copy a shared encrypted snapshot
 * only within the snapshot's region, and only under a customer managed key that account may use. The primary
 * snapshot is under its database's key, which Lifeboat does not control; so the copy function copies it within the
 * region under the vault key (`<snapshot name>-ag`, tagged as the backup), waits for it with the DR copy, shares it
 * with the vault account when it records the backup, and deletes share copies older than {@link SHARE_COPY_DAYS}:
 * by then the vault account's hourly copier has made its own copy (or alerted there that it could not).
 */
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
} from '@aws-sdk/client-rds';
import {
  SHARE_COPY_SUFFIX,
  backupOfSharedSnapshotName,
  describeSnapshot,
  fromClusterSnapshot,
  fromInstanceSnapshot,
  isFailedSnapshotStatus,
  isSnapshotOfBackup,
  manualSnapshots,
  rdsErrorCode,
  shareCopyIdentifierFor,
  type DescribedSnapshot,
  type RdsSender,
  type SnapshotType,
} from '../lib/aws/rdsSnapshot.ts';
import { BackupConflictError, SnapshotFailedError, SnapshotNotReadyError } from '../lib/errors.ts';
import { parseBackupId } from '../lib/vault/layout.ts';

/** Share copies are kept this long after their backup was taken, then deleted (the vault account holds its own copy). */
export const SHARE_COPY_DAYS = 3;
const DAY_MS = 86_400_000;

export interface ShareCopyTarget {
  /** RDS in the primary region, where the snapshot backups are and the air-gapped vault is. */
  readonly rds: RdsSender;
  readonly region: string;
  /** The vault key there, which the vault account may use through RDS in that region to copy a shared snapshot. */
  readonly kmsKeyId: string;
  /** The vault account the share copies are shared with. */
  readonly account: string;
}

/** A share copy's state, as `copy-snapshot` and `describe-snapshot-copy` report it. */
export interface ShareCopyStatus {
  readonly snapshotIdentifier: string;
  readonly snapshotArn: string;
  readonly status: string;
  readonly percentProgress: number;
}

/**
 * Requests the share copy of the primary snapshot `snapshotArn` (same region, the vault key, its tags copied), or
 * reports the one a retried request already made. A snapshot by that name that is not this backup's is refused.
 */
export async function requestShareCopy(
  request: { readonly sourceId: string; readonly backupId: string; readonly type: SnapshotType; readonly snapshotArn: string; readonly snapshotIdentifier: string },
  target: ShareCopyTarget,
): Promise<ShareCopyStatus> {
  const identifier = shareCopyIdentifierFor(request.snapshotIdentifier);
  const existing = await describeSnapshot(target.rds, request.type, identifier);
  if (existing) return statusOf(checked(existing, request.sourceId, request.backupId, target));
  let made: DescribedSnapshot | undefined;
  try {
    if (request.type === 'instance') {
      const out = await target.rds.send(
        new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: request.snapshotArn, TargetDBSnapshotIdentifier: identifier, KmsKeyId: target.kmsKeyId, CopyTags: true }),
      );
      made = out.DBSnapshot ? fromInstanceSnapshot(out.DBSnapshot) : undefined;
    } else {
      const out = await target.rds.send(
        new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: request.snapshotArn, TargetDBClusterSnapshotIdentifier: identifier, KmsKeyId: target.kmsKeyId, CopyTags: true }),
      );
      made = out.DBClusterSnapshot ? fromClusterSnapshot(out.DBClusterSnapshot) : undefined;
    }
  } catch (error) {
    const code = rdsErrorCode(error);
    if (code !== 'DBSnapshotAlreadyExists' && code !== 'DBClusterSnapshotAlreadyExists') throw error;
    // Requested meanwhile by an attempt that timed out: that copy is this one.
  }
  const described = made?.arn ? made : await describeSnapshot(target.rds, request.type, identifier);
  if (!described) throw new SnapshotFailedError(`RDS accepted the share copy ${identifier} in ${target.region} but does not describe it`);
  return statusOf(checked(described, request.sourceId, request.backupId, target));
}

/** The share copy's progress; a failed or vanished one is a `SnapshotFailedError`. */
export async function describeShareCopy(
  ref: { readonly sourceId: string; readonly backupId: string; readonly type: SnapshotType; readonly snapshotIdentifier: string },
  target: ShareCopyTarget,
): Promise<ShareCopyStatus> {
  const identifier = shareCopyIdentifierFor(ref.snapshotIdentifier);
  const copy = await describeSnapshot(target.rds, ref.type, identifier);
  if (!copy) throw new SnapshotFailedError(`The share copy ${identifier} of source ${ref.sourceId} is not in ${target.region} (deleted while copying?)`);
  return statusOf(checked(copy, ref.sourceId, ref.backupId, target));
}

/**
 * Shares the backup's share copy (which must be `available`) with the vault account, whose copier copies it, then
 * deletes this source's share copies of backups older than {@link SHARE_COPY_DAYS}. Adding an account already there
 * changes nothing, so a rerun shares again. Returns what it deleted.
 */
export async function shareAndTidy(
  ref: { readonly sourceId: string; readonly backupId: string; readonly type: SnapshotType; readonly snapshotIdentifier: string },
  target: ShareCopyTarget,
  now: Date,
): Promise<{ shared: string; deleted: string[] }> {
  const copy = await describeShareCopy(ref, target);
  if (copy.status !== 'available') {
    throw new SnapshotNotReadyError(`The share copy ${copy.snapshotIdentifier} in ${target.region} is ${copy.status} (${copy.percentProgress}%)`);
  }
  const share = { AttributeName: 'restore', ValuesToAdd: [target.account] };
  if (ref.type === 'instance') await target.rds.send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: copy.snapshotIdentifier, ...share }));
  else await target.rds.send(new ModifyDBClusterSnapshotAttributeCommand({ DBClusterSnapshotIdentifier: copy.snapshotIdentifier, ...share }));

  const cutoff = now.getTime() - SHARE_COPY_DAYS * DAY_MS;
  const deleted: string[] = [];
  for (const old of await shareCopiesOf(ref.sourceId, ref.type, target.rds)) {
    const backup = backupOfSharedSnapshotName(old.identifier)!;
    if (backup.backupId === ref.backupId || parseBackupId(backup.backupId).time.getTime() >= cutoff) continue;
    if (old.status !== 'available' && !isFailedSnapshotStatus(old.status)) continue;
    if (ref.type === 'instance') await target.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: old.identifier }));
    else await target.rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: old.identifier }));
    deleted.push(old.identifier);
  }
  return { shared: copy.snapshotIdentifier, deleted };
}

/** This source's share copies in the region (manual snapshots named `lifeboat-<source>-<backup id>-ag`, tagged as its backups). */
async function shareCopiesOf(sourceId: string, type: SnapshotType, rds: RdsSender): Promise<DescribedSnapshot[]> {
  const found: DescribedSnapshot[] = [];
  for await (const snapshot of manualSnapshots(rds, type)) {
    const backup = snapshot.identifier.endsWith(SHARE_COPY_SUFFIX) ? backupOfSharedSnapshotName(snapshot.identifier) : undefined;
    if (backup?.sourceId === sourceId && isSnapshotOfBackup(snapshot, sourceId, backup.backupId)) found.push(snapshot);
  }
  return found;
}

function checked(copy: DescribedSnapshot, sourceId: string, backupId: string, target: ShareCopyTarget): DescribedSnapshot {
  if (!isSnapshotOfBackup(copy, sourceId, backupId)) {
    throw new BackupConflictError(`A snapshot named ${copy.identifier} exists in ${target.region} and is not backup ${sourceId}/${backupId}'s share copy`);
  }
  if (isFailedSnapshotStatus(copy.status)) {
    throw new SnapshotFailedError(`The share copy ${copy.identifier} of source ${sourceId} in ${target.region} is ${copy.status}; it will never be available`);
  }
  return copy;
}

function statusOf(snapshot: DescribedSnapshot): ShareCopyStatus {
  return { snapshotIdentifier: snapshot.identifier, snapshotArn: snapshot.arn, status: snapshot.status, percentProgress: snapshot.percentProgress };
}
