/**
 * Retention for the RDS manual snapshots Lifeboat created: the same planner and policy as the vault,
 * applied in each region on its own (the DR region keeps its own newest verified copy even if the
 * primary lost it). Lifeboat's snapshots are the manual ones tagged with both `lifeboat:source` and
 * `lifeboat:backup-id`; nothing else is ever listed for deletion.
 */
import {
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { assertSourceId, isBackupId, parseBackupId } from '../vault/layout.ts';
import { assertTimeZone } from './calendar.ts';
import {
  assertRetentionPolicy,
  planRetention,
  type PlanOptions,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionPolicy,
  type VerificationStatus,
} from './plan.ts';
import { describeError, type RetentionReport, type RetentionReportEntry, type RetentionReportError } from './report.ts';
import type { VerificationState } from './verification.ts';

export const SOURCE_TAG = 'lifeboat:source';
/**
 * The suffix of a share copy (`<snapshot name>-ag`, functions/copy/shareCopy.ts): a transfer copy for the air-gapped
 * account, tagged as its backup but not one. Retention never counts or deletes it; the copy function tidies them.
 */
export const SHARE_COPY_SUFFIX = '-ag';
export const BACKUP_ID_TAG = 'lifeboat:backup-id';

/** A Lifeboat snapshot of an RDS instance or an Aurora cluster, in one region. */
export interface LifeboatSnapshot {
  readonly region: string;
  readonly kind: 'instance' | 'cluster';
  /** `DBSnapshotIdentifier` or `DBClusterSnapshotIdentifier`. */
  readonly identifier: string;
  readonly sourceId: string;
  readonly backupId: string;
  /**
   * When its backup started, from the backup id: the same for a snapshot and its copy in the DR region
   * (a copy's `SnapshotCreateTime` is when it was copied), so both fall into the same GFS periods.
   */
  readonly takenAt: Date;
  /** RDS's status: `available`, `creating`, `copying`, `failed`, … */
  readonly rdsStatus: string;
}

export interface SnapshotDecision extends RetentionDecision {
  readonly snapshot: LifeboatSnapshot;
}

export interface PlanSnapshotOptions extends PlanOptions {
  /** Verification status of a snapshot's backup. @default unverified */
  readonly statusOf?: (snapshot: LifeboatSnapshot) => VerificationStatus;
}

/** `eu-west-1/lifeboat-orders-db-20261122t053327z`: unique across the regions pruned together. */
export function snapshotId(snapshot: Pick<LifeboatSnapshot, 'region' | 'identifier'>): string {
  return `${snapshot.region}/${snapshot.identifier}`;
}

/** A described instance snapshot as Lifeboat's, or `undefined` if it is not a manual snapshot carrying both tags. */
export function fromDBSnapshot(region: string, snapshot: DBSnapshot): LifeboatSnapshot | undefined {
  return lifeboatSnapshot(region, 'instance', snapshot.DBSnapshotIdentifier, snapshot.SnapshotType, snapshot.Status, snapshot.TagList);
}

/** A described cluster snapshot as Lifeboat's, or `undefined` if it is not a manual snapshot carrying both tags. */
export function fromDBClusterSnapshot(region: string, snapshot: DBClusterSnapshot): LifeboatSnapshot | undefined {
  return lifeboatSnapshot(
    region,
    'cluster',
    snapshot.DBClusterSnapshotIdentifier,
    snapshot.SnapshotType,
    snapshot.Status,
    snapshot.TagList,
  );
}

/**
 * One decision per snapshot, planned per region, newest first within each region (regions in name
 * order). `available` snapshots take part in the policy; `failed` ones count as failed backups (kept
 * only within `days`); any other status (creating, copying, deleting, …) is in progress and kept.
 */
export function planSnapshotRetention(
  snapshots: readonly LifeboatSnapshot[],
  policy: RetentionPolicy,
  options: PlanSnapshotOptions,
): SnapshotDecision[] {
  const byRegion = new Map<string, LifeboatSnapshot[]>();
  for (const snapshot of snapshots) byRegion.set(snapshot.region, [...(byRegion.get(snapshot.region) ?? []), snapshot]);
  const decisions: SnapshotDecision[] = [];
  for (const region of [...byRegion.keys()].sort()) {
    const inRegion = new Map(byRegion.get(region)!.map((s) => [snapshotId(s), s]));
    const candidates = [...inRegion.entries()].map(([id, s]): RetentionCandidate => ({
      id,
      completedAt: s.takenAt,
      status: s.rdsStatus === 'failed' ? 'failed' : (options.statusOf?.(s) ?? 'unverified'),
      inProgress: s.rdsStatus !== 'available' && s.rdsStatus !== 'failed',
    }));
    if (candidates.length < byRegion.get(region)!.length) {
      throw new RangeError(`Snapshot identifiers must be unique within a region; ${region} lists one twice`);
    }
    for (const decision of planRetention(candidates, policy, options)) {
      const snapshot = inRegion.get(decision.id)!;
      const reasons = decision.reasons.map((r) => (r === 'in progress' ? `in progress (RDS status ${snapshot.rdsStatus})` : r));
      decisions.push({ ...decision, reasons, snapshot });
    }
  }
  return decisions;
}

export interface PruneSnapshotsOptions {
  /** One RDS client per region to prune, keyed by region: the primary and the DR region. */
  readonly clients: Readonly<Record<string, RDSClient>>;
  readonly sourceId: string;
  readonly policy: RetentionPolicy;
  readonly timeZone: string;
  readonly now: Date;
  /** Plan and report only; delete nothing. */
  readonly dryRun: boolean;
  /**
   * Verification status of a snapshot's backup (one call per backup id, shared by its copies).
   * @default every snapshot is unverified
   */
  readonly readVerification?: (backup: { readonly sourceId: string; readonly backupId: string }) => Promise<VerificationState>;
}

/**
 * Lists the source's Lifeboat snapshots (instance and cluster, manual) in every region of
 * `clients`, plans them, and deletes the ones planned away. A region whose listing fails is left
 * alone; a verification status that cannot be read stops all deletions (a plan from a guess could
 * drop the newest verified one); one failed delete never stops the others.
 */
export async function pruneSnapshots(options: PruneSnapshotsOptions): Promise<RetentionReport> {
  const { clients, sourceId, policy, timeZone, now, dryRun } = options;
  assertSourceId(sourceId);
  assertRetentionPolicy(policy);
  assertTimeZone(timeZone);
  const regions = Object.keys(clients).sort();
  const errors: RetentionReportError[] = [];

  const snapshots: LifeboatSnapshot[] = [];
  for (const region of regions) {
    try {
      snapshots.push(...(await listLifeboatSnapshots(clients[region]!, region, sourceId)));
    } catch (error) {
      errors.push({ id: region, step: 'list', ...describeError(error) });
    }
  }

  const statuses = new Map<string, VerificationStatus>();
  let unknownStatuses = 0;
  if (options.readVerification) {
    const backupIds = [...new Set(snapshots.filter((s) => s.rdsStatus === 'available').map((s) => s.backupId))].sort();
    for (const backupId of backupIds) {
      try {
        const state = await options.readVerification({ sourceId, backupId });
        if (state.problem === undefined) {
          statuses.set(backupId, state.status);
          continue;
        }
        errors.push({ id: backupId, step: 'read-verification', error: 'UnreadableVerificationResult', message: state.problem });
      } catch (error) {
        errors.push({ id: backupId, step: 'read-verification', ...describeError(error) });
      }
      unknownStatuses += 1;
    }
  }

  const plan = planSnapshotRetention(snapshots, policy, {
    now,
    timeZone,
    statusOf: (s) => statuses.get(s.backupId) ?? 'unverified',
  });
  const kept: RetentionReportEntry[] = [];
  const toDelete: { entry: RetentionReportEntry; snapshot: LifeboatSnapshot }[] = [];
  const statusOf = (s: LifeboatSnapshot) => (s.rdsStatus === 'failed' ? 'failed' : (statuses.get(s.backupId) ?? 'unverified'));
  for (const decision of plan) {
    const entry: RetentionReportEntry = { id: decision.id, at: decision.snapshot.takenAt, status: statusOf(decision.snapshot), reasons: decision.reasons };
    if (decision.action === 'keep') kept.push(entry);
    else if (unknownStatuses > 0) {
      const note = `deletion skipped: the verification status of ${unknownStatuses} backup${unknownStatuses === 1 ? '' : 's'} could not be read`;
      kept.push({ ...entry, reasons: [note, ...entry.reasons] });
    } else toDelete.push({ entry, snapshot: decision.snapshot });
  }

  const deleted: RetentionReportEntry[] = [];
  for (const { entry, snapshot } of toDelete) {
    if (dryRun) {
      deleted.push(entry);
      continue;
    }
    try {
      await deleteSnapshot(clients[snapshot.region]!, snapshot);
      deleted.push(entry);
    } catch (error) {
      errors.push({ id: entry.id, step: 'delete', ...describeError(error) });
    }
  }

  return {
    subject: `RDS snapshots of ${sourceId} in ${regions.join(', ')}`,
    sourceId,
    dryRun,
    now,
    timeZone,
    policy,
    kept,
    deleted,
    protected: [],
    errors,
  };
}

/** Every manual instance and cluster snapshot in the region tagged as a backup of `sourceId`. */
export async function listLifeboatSnapshots(client: RDSClient, region: string, sourceId: string): Promise<LifeboatSnapshot[]> {
  const found: LifeboatSnapshot[] = [];
  let marker: string | undefined;
  do {
    const page = await client.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }));
    for (const described of page.DBSnapshots ?? []) {
      const snapshot = fromDBSnapshot(region, described);
      if (snapshot?.sourceId === sourceId) found.push(snapshot);
    }
    marker = page.Marker;
  } while (marker);
  do {
    const page = await client.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }));
    for (const described of page.DBClusterSnapshots ?? []) {
      const snapshot = fromDBClusterSnapshot(region, described);
      if (snapshot?.sourceId === sourceId) found.push(snapshot);
    }
    marker = page.Marker;
  } while (marker);
  return found;
}

async function deleteSnapshot(client: RDSClient, snapshot: LifeboatSnapshot): Promise<void> {
  if (snapshot.kind === 'instance') {
    await client.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshot.identifier }));
  } else {
    await client.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshot.identifier }));
  }
}

function lifeboatSnapshot(
  region: string,
  kind: LifeboatSnapshot['kind'],
  identifier: string | undefined,
  snapshotType: string | undefined,
  status: string | undefined,
  tags: readonly Tag[] | undefined,
): LifeboatSnapshot | undefined {
  const tag = (key: string) => tags?.find((t) => t.Key === key)?.Value;
  const sourceId = tag(SOURCE_TAG);
  const backupId = tag(BACKUP_ID_TAG);
  // A snapshot without both tags (or with a malformed id) was not made by Lifeboat: never ours to delete.
  if (identifier === undefined || snapshotType !== 'manual' || sourceId === undefined || backupId === undefined) return undefined;
  // A share copy carries its backup's tags (CopyTags) but is not another copy of the backup to keep or count.
  if (identifier.endsWith(SHARE_COPY_SUFFIX)) return undefined;
  if (!isBackupId(backupId)) return undefined;
  return { region, kind, identifier, sourceId, backupId, takenAt: parseBackupId(backupId).time, rdsStatus: status ?? 'unknown' };
}
