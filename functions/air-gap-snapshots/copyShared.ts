/**
 * The air-gapped account's snapshot copier (issue 12): RDS and DocumentDB snapshot backups reach the vault account as
 * snapshots the workload account shares with it, and this account keeps copies of its own, under its own key, that
 * nobody in the workload account can delete. It runs on a schedule in the vault account and region:
 *
 *   1. lists the snapshots shared with this account (instance and cluster), keeps those of the workload account that
 *      are named as Lifeboat names them (`lifeboat-<source>-<backup id>`, a DR copy; or that name and `-ag`, a share
 *      copy made in this region when it is not the DR region) and are `available`
 *   2. copies each one it does not hold yet under the Lifeboat name, encrypted under the air-gapped key (a copy of a
 *      shared encrypted snapshot must name a key of this account), tagged with its source, backup and origin; at most
 *      `maxCopiesInFlight` copies run at once, the rest wait for the next run
 *   3. applies this account's own retention: a copy whose backup is older than `retentionDays` is deleted, except the
 *      newest of each source; a copy RDS reports `failed` is deleted so the next run copies it again
 *
 * A failure on one snapshot never stops the others: they are all tried, then `AirGapSnapshotCopyError` names each
 * failure (so the Lambda's error metric and its logs show it). The workload side (the copy function) shares each
 * snapshot backup's DR copy (or share copy) with this account when it records the backup in the DR vault; see
 * docs/air-gapped-vault.md.
 */
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  type Tag,
} from '@aws-sdk/client-rds';
import {
  BACKUP_ID_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  SNAPSHOT_NAME_PREFIX,
  SNAPSHOT_IN_FLIGHT_STATUSES,
  SOURCE_TAG,
  backupOfSharedSnapshotName,
  backupOfSnapshotName,
  fromClusterSnapshot,
  fromInstanceSnapshot,
  isFailedSnapshotStatus,
  parseSnapshotArn,
  rdsErrorCode,
  rdsErrorMessage,
  type DescribedSnapshot,
  type RdsSender,
  type SnapshotType,
} from '../lib/aws/rdsSnapshot.ts';
import { AirGapSnapshotCopyError, ConfigError } from '../lib/errors.ts';
import { parseBackupId } from '../lib/vault/layout.ts';

/** The tag naming the shared snapshot a copy was made from. */
export const COPIED_FROM_TAG = 'lifeboat:copied-from';
/** Copies started per run at most; RDS allows 20 in progress per region, and the workload's DR copies count too. */
export const DEFAULT_MAX_COPIES_IN_FLIGHT = 5;
const DAY_MS = 24 * 3_600_000;

export interface AirGapSnapshotDeps {
  /** RDS of this (the vault) account, in this region: where the shared snapshots are and the copies go. */
  readonly rds: RdsSender;
  /** The only account whose shared snapshots are copied. */
  readonly workloadAccount: string;
  /** The air-gapped key (this account, this region). */
  readonly kmsKeyId: string;
  /** Copies whose backup is older than this are deleted, except the newest of each source. */
  readonly retentionDays: number;
  /** @default 5 */
  readonly maxCopiesInFlight?: number;
  readonly now?: () => Date;
}

export interface AirGapSnapshotRun {
  /** Copies started this run (by name). */
  readonly copied: readonly string[];
  /** Shared snapshots this account already holds a copy of. */
  readonly alreadyHeld: number;
  /** Shared snapshots left for a later run: `maxCopiesInFlight` copies were already running. */
  readonly deferred: readonly string[];
  /** Copies deleted by retention. */
  readonly deleted: readonly string[];
}

/** One run: see the module comment. */
export async function copySharedSnapshots(deps: AirGapSnapshotDeps): Promise<AirGapSnapshotRun> {
  if (!/^\d{12}$/.test(deps.workloadAccount)) throw new ConfigError(`workloadAccount must be a 12-digit account id, got "${deps.workloadAccount}"`);
  if (!Number.isFinite(deps.retentionDays) || deps.retentionDays < 1) throw new ConfigError(`retentionDays must be at least 1, got ${deps.retentionDays}`);
  const limit = deps.maxCopiesInFlight ?? DEFAULT_MAX_COPIES_IN_FLIGHT;
  const now = deps.now?.() ?? new Date();

  const shared = (await listSnapshots(deps.rds, 'shared')).filter((snapshot) => {
    const arn = safeArn(snapshot.arn);
    return arn !== undefined && arn.account === deps.workloadAccount && snapshot.status === 'available' && backupOfSharedSnapshotName(arn.identifier) !== undefined;
  });
  const own = new Map((await listSnapshots(deps.rds, 'manual')).filter((s) => s.identifier.startsWith(SNAPSHOT_NAME_PREFIX)).map((s) => [s.identifier, s]));
  let inFlight = [...own.values()].filter((s) => SNAPSHOT_IN_FLIGHT_STATUSES.has(s.status)).length;

  const copied: string[] = [];
  const deferred: string[] = [];
  const deleted: string[] = [];
  const failures: string[] = [];
  let alreadyHeld = 0;

  // Oldest backups first: a backlog drains in the order the backups were taken.
  // Its copy takes the Lifeboat snapshot name: a share copy's (`<name>-ag`, made where the DR region is not) without the suffix.
  const byBackup = shared.map((s) => ({ snapshot: s, name: backupOfSharedSnapshotName(parseSnapshotArn(s.arn).identifier)!.name })).sort((a, b) => a.name.localeCompare(b.name));
  for (const { snapshot, name } of byBackup) {
    const held = own.get(name);
    if (held && !isFailedSnapshotStatus(held.status)) {
      alreadyHeld += 1;
      continue;
    }
    if (held) {
      // A copy RDS gave up on: removed, so the next run copies it again.
      await remove(deps.rds, held).then(
        () => failures.push(`${name}: the copy is ${held.status}; it was deleted and the next run copies it again`),
        (error: unknown) => failures.push(`${name}: the copy is ${held.status} and could not be deleted: ${rdsErrorMessage(error)}`),
      );
      continue;
    }
    if (inFlight >= limit) {
      deferred.push(name);
      continue;
    }
    try {
      await copy(deps, snapshot, name);
      copied.push(name);
      inFlight += 1;
    } catch (error) {
      const code = rdsErrorCode(error);
      // Another run got there first (two runs overlapping): the copy exists.
      if (code === 'DBSnapshotAlreadyExists' || code === 'DBClusterSnapshotAlreadyExists') alreadyHeld += 1;
      else failures.push(`${name}: ${rdsErrorMessage(error)}`);
    }
  }

  for (const snapshot of expired([...own.values()], deps.retentionDays, now)) {
    try {
      await remove(deps.rds, snapshot);
      deleted.push(snapshot.identifier);
    } catch (error) {
      failures.push(`${snapshot.identifier}: retention could not delete it: ${rdsErrorMessage(error)}`);
    }
  }

  if (failures.length > 0) {
    throw new AirGapSnapshotCopyError(
      `${failures.length} shared snapshot(s) not copied or tidied (copied ${copied.length}, held ${alreadyHeld}, deferred ${deferred.length}, deleted ${deleted.length}): ${failures.join('; ')}`,
    );
  }
  return { copied, alreadyHeld, deferred, deleted };
}

/**
 * This account's available copies past retention: a backup older than `retentionDays`, judged by the time in its
 * backup id (when the backup was taken), never the newest copy of its source.
 */
export function expired(copies: readonly DescribedSnapshot[], retentionDays: number, now: Date): DescribedSnapshot[] {
  const newest = new Map<string, string>();
  const named = copies.flatMap((snapshot) => {
    const backup = backupOfSnapshotName(snapshot.identifier);
    if (!backup || snapshot.status !== 'available') return [];
    if ((newest.get(backup.sourceId) ?? '') < backup.backupId) newest.set(backup.sourceId, backup.backupId);
    return [{ snapshot, ...backup }];
  });
  const cutoff = now.getTime() - retentionDays * DAY_MS;
  return named
    .filter(({ sourceId, backupId }) => newest.get(sourceId) !== backupId && parseBackupId(backupId).time.getTime() < cutoff)
    .map(({ snapshot }) => snapshot);
}

async function copy(deps: AirGapSnapshotDeps, snapshot: DescribedSnapshot, name: string): Promise<void> {
  const { sourceId, backupId } = backupOfSnapshotName(name)!;
  // A shared snapshot's tags are not visible to this account: the copy is tagged from its name and origin.
  const tags: Tag[] = [
    { Key: SOURCE_TAG, Value: sourceId },
    { Key: BACKUP_ID_TAG, Value: backupId },
    { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
    { Key: COPIED_FROM_TAG, Value: snapshot.arn },
  ];
  if (snapshot.type === 'instance') {
    await deps.rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: snapshot.arn, TargetDBSnapshotIdentifier: name, KmsKeyId: deps.kmsKeyId, Tags: tags }));
  } else {
    await deps.rds.send(new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: snapshot.arn, TargetDBClusterSnapshotIdentifier: name, KmsKeyId: deps.kmsKeyId, Tags: tags }));
  }
}

async function remove(rds: RdsSender, snapshot: DescribedSnapshot): Promise<void> {
  if (snapshot.type === 'instance') await rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshot.identifier }));
  else await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshot.identifier }));
}

/** Every snapshot of this kind (`shared`: shared with this account; `manual`: this account's own), instance and cluster, all pages. */
async function listSnapshots(rds: RdsSender, kind: 'shared' | 'manual'): Promise<DescribedSnapshot[]> {
  const found: DescribedSnapshot[] = [];
  const shared = kind === 'shared' ? { IncludeShared: true } : {};
  for (const type of ['instance', 'cluster'] as SnapshotType[]) {
    let marker: string | undefined;
    do {
      if (type === 'instance') {
        const page = await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: kind, ...shared, ...(marker ? { Marker: marker } : {}) }));
        found.push(...(page.DBSnapshots ?? []).map(fromInstanceSnapshot));
        marker = page.Marker;
      } else {
        const page = await rds.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: kind, ...shared, ...(marker ? { Marker: marker } : {}) }));
        found.push(...(page.DBClusterSnapshots ?? []).map(fromClusterSnapshot));
        marker = page.Marker;
      }
    } while (marker);
  }
  return found;
}

function safeArn(arn: string) {
  try {
    return parseSnapshotArn(arn);
  } catch {
    return undefined;
  }
}
