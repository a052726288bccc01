/**
 * Copies a Lifeboat RDS snapshot to the DR region under the DR key, keeping at most a configured number of
 * Lifeboat copies in flight to that region (RDS allows 20 per destination region), and describes the copy
 * while the state machine waits. Contracts: docs/pipeline-functions.md.
 */
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import {
  BACKUP_ID_TAG,
  SNAPSHOT_IN_FLIGHT_STATUSES,
  backupOfSnapshotName,
  SNAPSHOT_NAME_PREFIX,
  SOURCE_TAG,
  describeSnapshot,
  fromClusterSnapshot,
  fromInstanceSnapshot,
  isFailedSnapshotStatus,
  isSnapshotOfBackup,
  manualSnapshots,
  parseSnapshotArn,
  rdsErrorCode,
  rdsErrorMessage,
  type DescribedSnapshot,
  type RdsSender,
  type SnapshotType,
} from '../lib/aws/rdsSnapshot.ts';
import { BackupConflictError, ConfigError, SnapshotCopyQuotaError, SnapshotFailedError } from '../lib/errors.ts';
import { isBackupId } from '../lib/vault/layout.ts';
import { describeShareCopy, requestShareCopy, type ShareCopyStatus, type ShareCopyTarget } from './shareCopy.ts';

/** RDS's own limit of snapshot copies in progress to one destination region. */
export const DEFAULT_MAX_COPIES_IN_FLIGHT = 20;

export interface SnapshotCopyDeps {
  /** RDS in the DR region: copies are requested there (cross-region copies are pulled by the destination). */
  readonly drRds: RdsSender;
  /** The DR region, and the DR replica of the vault key that every copy is encrypted under. */
  readonly dr: { readonly region: string; readonly kmsKeyId: string };
  /** @default 20 */
  readonly maxCopiesInFlight?: number;
  /** With an air-gapped vault in the primary region (not the DR region): where share copies are made. @default none */
  readonly shareCopy?: ShareCopyTarget;
}

/** Where a snapshot copy is: what `copy-snapshot` returns and `describe-snapshot-copy` takes back. */
export interface SnapshotCopyRef {
  readonly sourceId: string;
  readonly backupId: string;
  readonly type: SnapshotType;
  /** The primary-region snapshot being copied. */
  readonly sourceSnapshotArn: string;
  /** Same name in both regions. */
  readonly snapshotIdentifier: string;
  /** The copy's ARN in the DR region. */
  readonly snapshotArn: string;
  readonly region: string;
}

export interface SnapshotCopyStatus extends SnapshotCopyRef {
  readonly status: string;
  readonly percentProgress: number;
  /** `copy-snapshot` only: Lifeboat copies in flight to the DR region before this one was requested. */
  readonly copiesInFlight?: number;
  /** `copy-snapshot` only: the copy already existed (a retried request) and was not requested again. */
  readonly alreadyStarted?: boolean;
  /** With share copies: this backup's, in the primary region. `status` is `available` only once both copies are. */
  readonly shareCopy?: ShareCopyStatus;
}

/**
 * Requests the copy of `snapshotArn` into the DR region (same name, DR key, tags copied). A copy by that
 * name that is this backup's is returned as is. With `maxCopiesInFlight` Lifeboat copies already under
 * way there, nothing is requested and `SnapshotCopyQuotaError` tells the state machine to back off.
 */
export async function copySnapshot(
  request: { readonly sourceId: string; readonly snapshotArn: string; readonly type: SnapshotType },
  deps: SnapshotCopyDeps,
): Promise<SnapshotCopyStatus> {
  const copy = await copyToDr(request, deps);
  // With an air-gapped vault in the primary region, the share copy there too (shareCopy.ts), once the DR copy is asked for.
  return deps.shareCopy ? withShareCopy(copy, await requestShareCopy({ ...copy, snapshotArn: request.snapshotArn }, deps.shareCopy)) : copy;
}

/** The DR copy's status, unless the share copy is still being made: the backup is recorded once both are available. */
function withShareCopy(copy: SnapshotCopyStatus, share: ShareCopyStatus): SnapshotCopyStatus {
  const both = copy.status === 'available' && share.status !== 'available' ? { status: share.status } : {};
  return { ...copy, ...both, percentProgress: Math.min(copy.percentProgress, share.percentProgress), shareCopy: share };
}

async function copyToDr(
  request: { readonly sourceId: string; readonly snapshotArn: string; readonly type: SnapshotType },
  deps: SnapshotCopyDeps,
): Promise<SnapshotCopyStatus> {
  const arn = parseSnapshotArn(request.snapshotArn);
  if (arn.type !== request.type) {
    throw new ConfigError(`type: "${request.type}" does not match snapshotArn, which names a ${arn.type} snapshot`);
  }
  if (arn.region === deps.dr.region) {
    throw new ConfigError(`snapshotArn: the snapshot is already in the DR region ${deps.dr.region}`);
  }
  const backupId = backupIdOfSnapshotName(request.sourceId, arn.identifier);
  const identifier = arn.identifier;
  const ref = { sourceId: request.sourceId, backupId, type: request.type, sourceSnapshotArn: request.snapshotArn, snapshotIdentifier: identifier, region: deps.dr.region };

  const scan = await scanDrSnapshots(deps.drRds, request.type, identifier);
  if (scan.target) {
    return { ...ref, ...statusOf(checkedCopy(scan.target, request.sourceId, backupId)), copiesInFlight: scan.inFlight, alreadyStarted: true };
  }
  const limit = deps.maxCopiesInFlight ?? DEFAULT_MAX_COPIES_IN_FLIGHT;
  if (scan.inFlight >= limit) {
    throw new SnapshotCopyQuotaError(
      `${scan.inFlight} Lifeboat snapshot copies are in flight to ${deps.dr.region} (limit ${limit}); ${identifier} was not copied yet`,
    );
  }

  // The SDK has no SourceRegion member: its RDS middleware reads the source region from the ARN and adds the
  // PreSignedUrl (signed for that region with this function's credentials) that RDS needs to pull the copy.
  let copy: DescribedSnapshot | undefined;
  try {
    if (request.type === 'instance') {
      const out = await deps.drRds.send(
        new CopyDBSnapshotCommand({
          SourceDBSnapshotIdentifier: request.snapshotArn,
          TargetDBSnapshotIdentifier: identifier,
          KmsKeyId: deps.dr.kmsKeyId,
          CopyTags: true,
        }),
      );
      copy = out.DBSnapshot ? fromInstanceSnapshot(out.DBSnapshot) : undefined;
    } else {
      const out = await deps.drRds.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: request.snapshotArn,
          TargetDBClusterSnapshotIdentifier: identifier,
          KmsKeyId: deps.dr.kmsKeyId,
          CopyTags: true,
        }),
      );
      copy = out.DBClusterSnapshot ? fromClusterSnapshot(out.DBClusterSnapshot) : undefined;
    }
  } catch (error) {
    const code = rdsErrorCode(error);
    if (code === 'DBSnapshotAlreadyExists' || code === 'DBClusterSnapshotAlreadyExists') {
      // Requested meanwhile by a concurrent or timed-out attempt: the copy RDS already has is this one.
      const existing = await describeSnapshot(deps.drRds, request.type, identifier);
      if (!existing) throw new SnapshotFailedError(`RDS says ${identifier} exists in ${deps.dr.region} but does not describe it`, { cause: error });
      return { ...ref, ...statusOf(checkedCopy(existing, request.sourceId, backupId)), copiesInFlight: scan.inFlight, alreadyStarted: true };
    }
    if (isCopyQuotaError(code, error)) {
      throw new SnapshotCopyQuotaError(`RDS refused to copy ${identifier} to ${deps.dr.region}: ${rdsErrorMessage(error)}`, { cause: error });
    }
    throw error;
  }
  const described = copy?.arn ? copy : await describeSnapshot(deps.drRds, request.type, identifier);
  if (!described) throw new SnapshotFailedError(`RDS accepted the copy of ${identifier} to ${deps.dr.region} but does not describe it`);
  return { ...ref, ...statusOf(described), copiesInFlight: scan.inFlight, alreadyStarted: false };
}

/** The copy's progress in the DR region; a failed (or vanished) copy is a `SnapshotFailedError`. */
export async function describeSnapshotCopy(
  ref: Pick<SnapshotCopyRef, 'sourceId' | 'backupId' | 'type' | 'sourceSnapshotArn' | 'snapshotIdentifier'>,
  deps: SnapshotCopyDeps,
): Promise<SnapshotCopyStatus> {
  const copy = await describeSnapshot(deps.drRds, ref.type, ref.snapshotIdentifier);
  if (!copy) throw new SnapshotFailedError(`The copy ${ref.snapshotIdentifier} of source ${ref.sourceId} is not in ${deps.dr.region} (deleted while copying?)`);
  const checked = checkedCopy(copy, ref.sourceId, ref.backupId);
  const status: SnapshotCopyStatus = {
    sourceId: ref.sourceId,
    backupId: ref.backupId,
    type: ref.type,
    sourceSnapshotArn: ref.sourceSnapshotArn,
    snapshotIdentifier: ref.snapshotIdentifier,
    region: deps.dr.region,
    ...statusOf(checked),
  };
  return deps.shareCopy ? withShareCopy(status, await describeShareCopy(ref, deps.shareCopy)) : status;
}

/**
 * The backup id in a Lifeboat snapshot name: `lifeboat-orders-db-20261122t053327z-k3x7q2ab` →
 * `20261122T053327Z-k3x7q2ab`. Anything else is refused, so this function copies only Lifeboat's snapshots.
 */
export function backupIdOfSnapshotName(sourceId: string, identifier: string): string {
  const backup = backupOfSnapshotName(identifier);
  if (backup?.sourceId !== sourceId) {
    throw new ConfigError(`snapshotArn: ${identifier} is not a Lifeboat snapshot of source ${sourceId} (expected ${SNAPSHOT_NAME_PREFIX}${sourceId}-<backup id in lowercase>)`);
  }
  return backup.backupId;
}

/**
 * One pass over the DR region's manual snapshots (instance and cluster, since both draw on the region's
 * copy capacity): the Lifeboat copies still in flight, and the target if it already exists.
 */
async function scanDrSnapshots(rds: RdsSender, type: SnapshotType, identifier: string): Promise<{ inFlight: number; target?: DescribedSnapshot }> {
  let inFlight = 0;
  let target: DescribedSnapshot | undefined;
  const consider = (snapshot: DescribedSnapshot) => {
    if (snapshot.type === type && snapshot.identifier === identifier) target = snapshot;
    const isLifeboat = snapshot.tags[SOURCE_TAG] !== undefined && isBackupId(snapshot.tags[BACKUP_ID_TAG] ?? '');
    if (isLifeboat && SNAPSHOT_IN_FLIGHT_STATUSES.has(snapshot.status) && snapshot.percentProgress < 100) inFlight += 1;
  };
  for await (const snapshot of manualSnapshots(rds, 'instance')) consider(snapshot);
  for await (const snapshot of manualSnapshots(rds, 'cluster')) consider(snapshot);
  return target ? { inFlight, target } : { inFlight };
}

function checkedCopy(copy: DescribedSnapshot, sourceId: string, backupId: string): DescribedSnapshot {
  if (!isSnapshotOfBackup(copy, sourceId, backupId)) {
    throw new BackupConflictError(`A snapshot named ${copy.identifier} exists in the DR region and is not backup ${sourceId}/${backupId}`);
  }
  if (isFailedSnapshotStatus(copy.status)) {
    throw new SnapshotFailedError(`The copy ${copy.identifier} of source ${sourceId} is ${copy.status}; it will never be available`);
  }
  return copy;
}

function statusOf(snapshot: DescribedSnapshot): { snapshotArn: string; status: string; percentProgress: number } {
  return { snapshotArn: snapshot.arn, status: snapshot.status, percentProgress: snapshot.percentProgress };
}

/**
 * RDS's own refusals for a full copy queue: the snapshot quota fault, or a message about too many copies
 * in progress (RDS words this limit differently across engines and APIs).
 */
function isCopyQuotaError(code: string | undefined, error: unknown): boolean {
  if (code === 'SnapshotQuotaExceeded') return true;
  const message = error instanceof Error ? error.message : '';
  return /cop(y|ies)/i.test(message) && /(limit|quota|maximum|too many|in progress)/i.test(message);
}
