/**
 * Lifeboat's RDS manual snapshots, as the snapshot and copy functions see them: one name and tag scheme for
 * instance and Aurora cluster snapshots, in the primary region and as copies in the DR region.
 *
 * A snapshot of backup `20261122T053327Z-k3x7q2ab` of source `orders-db` is named
 * `lifeboat-orders-db-20261122t053327z-k3x7q2ab` in both regions and carries the tags below (a copy gets
 * them through `CopyTags`). Retention (`functions/lib/retention/snapshots.ts`) recognises it by
 * `lifeboat:source` and `lifeboat:backup-id`.
 */
import {
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { BACKUP_ID_TAG, SHARE_COPY_SUFFIX, SOURCE_TAG } from '../retention/snapshots.ts';
import { ConfigError } from '../errors.ts';
import { SOURCE_ID_PATTERN, parseBackupId } from '../vault/layout.ts';

export { BACKUP_ID_TAG, SHARE_COPY_SUFFIX, SOURCE_TAG };
/** The retention policy in force when the snapshot was taken, for people reading the console. */
export const POLICY_TAG = 'lifeboat:policy';
export const MANAGED_BY_TAG = 'lifeboat:managed-by';
export const MANAGED_BY_VALUE = 'lifeboat';
export const SNAPSHOT_NAME_PREFIX = 'lifeboat-';

export type SnapshotType = 'instance' | 'cluster';

/** What RDS allows in a tag value (its documented pattern), at most 256 characters. */
export const RDS_TAG_VALUE_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$/u;

/** An RDS client as the functions use it: only `send`, so tests can pass a mocked client. */
export type RdsSender = Pick<RDSClient, 'send'>;

/** A snapshot as described by RDS, reduced to what Lifeboat reads. */
export interface DescribedSnapshot {
  readonly type: SnapshotType;
  readonly identifier: string;
  readonly arn: string;
  /** `creating`, `copying`, `available`, `failed`, … */
  readonly status: string;
  readonly percentProgress: number;
  /** The DB instance or cluster it was taken from. */
  readonly sourceDatabaseIdentifier?: string;
  readonly engineVersion?: string;
  readonly createdAt?: Date;
  readonly snapshotType?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * `lifeboat-<sourceId>-<backupId in lowercase>`: a valid RDS snapshot identifier (a letter first, letters,
 * digits and single hyphens, no trailing hyphen), at most 9 + 40 + 1 + 25 = 75 characters.
 */
export function snapshotIdentifierFor(sourceId: string, backupId: string): string {
  const problem = snapshotSourceIdProblem(sourceId);
  if (problem) throw new ConfigError(`sourceId: ${problem}`);
  parseBackupId(backupId);
  return `${SNAPSHOT_NAME_PREFIX}${sourceId}-${backupId.toLowerCase()}`;
}

/**
 * The source and backup a Lifeboat snapshot name stands for, the inverse of {@link snapshotIdentifierFor}
 * (`lifeboat-orders-db-20261122t053327z-k3x7q2ab` → `orders-db`, `20261122T053327Z-k3x7q2ab`); undefined for any
 * other name. A name counts only if it is exactly what `snapshotIdentifierFor` gives for what it reads back.
 */
export function backupOfSnapshotName(identifier: string): { sourceId: string; backupId: string } | undefined {
  // A backup id is 25 characters, after `lifeboat-<source>-`.
  const id = identifier.slice(-25);
  const sourceId = identifier.slice(SNAPSHOT_NAME_PREFIX.length, -26);
  const backupId = `${id.slice(0, 8)}T${id.slice(9, 15)}Z${id.slice(16)}`;
  try {
    return snapshotIdentifierFor(sourceId, backupId) === identifier ? { sourceId, backupId } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Lifeboat snapshot's share copy: `<snapshot name>-ag` (SHARE_COPY_SUFFIX), the copy the copy function makes in the
 * region of an air-gapped vault that is not the DR region, under a key of Lifeboat's the vault account may use, and
 * shares with that account (docs/air-gapped-vault.md, "Snapshot backups").
 */
export function shareCopyIdentifierFor(snapshotIdentifier: string): string {
  return `${snapshotIdentifier}${SHARE_COPY_SUFFIX}`;
}

/**
 * The backup a snapshot shared with the vault account stands for, and the name its copy there takes (the Lifeboat
 * snapshot name, without a share copy's suffix): a DR copy is shared under its own name, a share copy under
 * `<name>-ag`. Undefined for any other name.
 */
export function backupOfSharedSnapshotName(identifier: string): { sourceId: string; backupId: string; name: string } | undefined {
  const name = identifier.endsWith(SHARE_COPY_SUFFIX) ? identifier.slice(0, -SHARE_COPY_SUFFIX.length) : identifier;
  const backup = backupOfSnapshotName(name);
  return backup ? { ...backup, name } : undefined;
}

/** Statuses of a snapshot (or a copy of one) still being made. */
export const SNAPSHOT_IN_FLIGHT_STATUSES: ReadonlySet<string> = new Set(['creating', 'copying', 'pending']);

/** Why `sourceId` cannot name an RDS snapshot, or `undefined` if it can. */
export function snapshotSourceIdProblem(sourceId: string): string | undefined {
  if (!SOURCE_ID_PATTERN.test(sourceId)) return `"${sourceId}" is not a source id (1-40 of a-z, 0-9 and "-", starting with a letter)`;
  if (sourceId.includes('--') || sourceId.endsWith('-')) {
    return `"${sourceId}" cannot be part of an RDS snapshot name: it must not contain "--" or end with "-"`;
  }
  return undefined;
}

/**
 * The `lifeboat:policy` tag value for a retention policy, e.g. `keep-last=7 days=35 gfs=7/4/12/0`
 * (daily/weekly/monthly/yearly). Only characters RDS accepts in a tag value.
 */
export function retentionPolicyTag(retention: {
  readonly days: number;
  readonly keepLast: number;
  readonly gfs: { readonly daily: number; readonly weekly: number; readonly monthly: number; readonly yearly: number };
}): string {
  const { gfs } = retention;
  return `keep-last=${retention.keepLast} days=${retention.days} gfs=${gfs.daily}/${gfs.weekly}/${gfs.monthly}/${gfs.yearly}`;
}

/** The tags every Lifeboat snapshot is created with. */
export function lifeboatSnapshotTags(sourceId: string, backupId: string, policy: string): Tag[] {
  return [
    { Key: SOURCE_TAG, Value: sourceId },
    { Key: BACKUP_ID_TAG, Value: backupId },
    { Key: POLICY_TAG, Value: policy },
    { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
  ];
}

export interface SnapshotArn {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly type: SnapshotType;
  readonly identifier: string;
}

/** `arn:aws:rds:eu-west-1:111122223333:snapshot:NAME` (instance) or `…:cluster-snapshot:NAME` (cluster). */
export function parseSnapshotArn(arn: string): SnapshotArn {
  const match = /^arn:(aws[a-z-]*):rds:([a-z0-9-]+):(\d{12}):(snapshot|cluster-snapshot):([A-Za-z][A-Za-z0-9-]{0,254})$/.exec(arn);
  if (!match) {
    throw new ConfigError(
      `snapshotArn: "${arn.slice(0, 120)}" is not an RDS snapshot ARN (arn:aws:rds:REGION:ACCOUNT:snapshot:NAME or …:cluster-snapshot:NAME)`,
    );
  }
  const [, partition, region, account, resource, identifier] = match as unknown as [string, string, string, string, string, string];
  return { partition, region, account, type: resource === 'snapshot' ? 'instance' : 'cluster', identifier };
}

/**
 * The error code of an RDS error without the SDK's `Fault` suffix: the SDK names modelled errors after
 * their shape (`InvalidDBInstanceStateFault`), RDS's wire code has no suffix (`InvalidDBInstanceState`),
 * and unmodelled ones keep the wire code.
 */
export function rdsErrorCode(error: unknown): string | undefined {
  const e = error as { name?: unknown; Code?: unknown } | undefined;
  const name = typeof e?.Code === 'string' ? e.Code : typeof e?.name === 'string' ? e.name : undefined;
  return name?.replace(/Fault$/, '');
}

export function rdsErrorMessage(error: unknown): string {
  return error instanceof Error ? `${rdsErrorCode(error) ?? error.name}: ${error.message}` : String(error);
}

/** Describes one snapshot by identifier; `undefined` if RDS has none by that name. */
export async function describeSnapshot(rds: RdsSender, type: SnapshotType, identifier: string): Promise<DescribedSnapshot | undefined> {
  try {
    if (type === 'instance') {
      const out = await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: identifier }));
      const snapshot = out.DBSnapshots?.[0];
      return snapshot ? fromInstanceSnapshot(snapshot) : undefined;
    }
    const out = await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: identifier }));
    const snapshot = out.DBClusterSnapshots?.[0];
    return snapshot ? fromClusterSnapshot(snapshot) : undefined;
  } catch (error) {
    const code = rdsErrorCode(error);
    if (code === 'DBSnapshotNotFound' || code === 'DBClusterSnapshotNotFound') return undefined;
    throw error;
  }
}

/** Every manual snapshot of `type` in the region, page by page. */
export async function* manualSnapshots(rds: RdsSender, type: SnapshotType): AsyncGenerator<DescribedSnapshot> {
  let marker: string | undefined;
  do {
    if (type === 'instance') {
      const page = await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }));
      for (const snapshot of page.DBSnapshots ?? []) yield fromInstanceSnapshot(snapshot);
      marker = page.Marker;
    } else {
      const page = await rds.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }));
      for (const snapshot of page.DBClusterSnapshots ?? []) yield fromClusterSnapshot(snapshot);
      marker = page.Marker;
    }
  } while (marker);
}

export function fromInstanceSnapshot(snapshot: DBSnapshot): DescribedSnapshot {
  return {
    type: 'instance',
    identifier: snapshot.DBSnapshotIdentifier ?? '',
    arn: snapshot.DBSnapshotArn ?? '',
    status: snapshot.Status ?? 'unknown',
    percentProgress: snapshot.PercentProgress ?? 0,
    ...(snapshot.DBInstanceIdentifier === undefined ? {} : { sourceDatabaseIdentifier: snapshot.DBInstanceIdentifier }),
    ...(snapshot.EngineVersion === undefined ? {} : { engineVersion: snapshot.EngineVersion }),
    ...(snapshot.SnapshotCreateTime === undefined ? {} : { createdAt: snapshot.SnapshotCreateTime }),
    ...(snapshot.SnapshotType === undefined ? {} : { snapshotType: snapshot.SnapshotType }),
    tags: tagMap(snapshot.TagList),
  };
}

export function fromClusterSnapshot(snapshot: DBClusterSnapshot): DescribedSnapshot {
  return {
    type: 'cluster',
    identifier: snapshot.DBClusterSnapshotIdentifier ?? '',
    arn: snapshot.DBClusterSnapshotArn ?? '',
    status: snapshot.Status ?? 'unknown',
    percentProgress: snapshot.PercentProgress ?? 0,
    ...(snapshot.DBClusterIdentifier === undefined ? {} : { sourceDatabaseIdentifier: snapshot.DBClusterIdentifier }),
    ...(snapshot.EngineVersion === undefined ? {} : { engineVersion: snapshot.EngineVersion }),
    ...(snapshot.SnapshotCreateTime === undefined ? {} : { createdAt: snapshot.SnapshotCreateTime }),
    ...(snapshot.SnapshotType === undefined ? {} : { snapshotType: snapshot.SnapshotType }),
    tags: tagMap(snapshot.TagList),
  };
}

/** Whether the snapshot carries this backup's tags: the test for "this name is ours" on a retried create or copy. */
export function isSnapshotOfBackup(snapshot: DescribedSnapshot, sourceId: string, backupId: string | undefined): boolean {
  if (snapshot.tags[SOURCE_TAG] !== sourceId) return false;
  return backupId === undefined ? snapshot.tags[BACKUP_ID_TAG] !== undefined : snapshot.tags[BACKUP_ID_TAG] === backupId;
}

/** Statuses from which a snapshot never becomes `available`. */
export function isFailedSnapshotStatus(status: string): boolean {
  return status === 'failed' || status === 'deleting' || status === 'deleted' || status.startsWith('incompatible');
}

function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) map[tag.Key] = tag.Value ?? '';
  return map;
}
