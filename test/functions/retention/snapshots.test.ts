import 'aws-sdk-client-mock-vitest/extend';
import {
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
  type DBClusterSnapshot,
  type DBSnapshot,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../../functions/lib/retention/plan.ts';
import {
  fromDBClusterSnapshot,
  fromDBSnapshot,
  planSnapshotRetention,
  pruneSnapshots,
  type LifeboatSnapshot,
  type PruneSnapshotsOptions,
} from '../../../functions/lib/retention/snapshots.ts';
import type { VerificationState } from '../../../functions/lib/retention/verification.ts';

const PRIMARY = 'eu-west-1';
const DR = 'eu-central-1';
const NOW = new Date('2026-11-22T12:00:00Z');
const POLICY: RetentionPolicy = { days: 0, keepLast: 2, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } };

const OLD = '20261101T010000Z-aaaaaaaa';
const FAILED = '20261105T010000Z-ffffffff';
const VERIFIED = '20261110T010000Z-eeeeeeee';
const SECOND = '20261120T010000Z-bbbbbbbb';
const NEWEST = '20261121T010000Z-cccccccc';
const RUNNING = '20261122T010000Z-dddddddd';

const name = (backupId: string) => `lifeboat-orders-db-${backupId.toLowerCase()}`;

function dbSnapshot(backupId: string, overrides: Partial<DBSnapshot> = {}): DBSnapshot {
  return {
    DBSnapshotIdentifier: name(backupId),
    DBInstanceIdentifier: 'orders-prod',
    SnapshotType: 'manual',
    Status: 'available',
    SnapshotCreateTime: new Date(NOW.getTime() - 1000),
    TagList: [
      { Key: 'lifeboat:source', Value: 'orders-db' },
      { Key: 'lifeboat:backup-id', Value: backupId },
    ],
    ...overrides,
  };
}

function clusterSnapshot(backupId: string, overrides: Partial<DBClusterSnapshot> = {}): DBClusterSnapshot {
  return {
    DBClusterSnapshotIdentifier: name(backupId),
    DBClusterIdentifier: 'orders-aurora',
    SnapshotType: 'manual',
    Status: 'available',
    TagList: [
      { Key: 'lifeboat:source', Value: 'orders-db' },
      { Key: 'lifeboat:backup-id', Value: backupId },
    ],
    ...overrides,
  };
}

const primaryClient = new RDSClient({ region: PRIMARY });
const drClient = new RDSClient({ region: DR });
const primary = mockClient(primaryClient);
const dr = mockClient(drClient);

let verificationCalls: string[];
const readVerification = async ({ backupId }: { backupId: string }): Promise<VerificationState> => {
  verificationCalls.push(backupId);
  return { status: backupId === VERIFIED ? 'verified' : 'unverified' };
};

beforeEach(() => {
  primary.reset();
  dr.reset();
  verificationCalls = [];
  primary
    .on(DescribeDBSnapshotsCommand, { Marker: undefined })
    .resolves({
      Marker: 'page-2',
      DBSnapshots: [
        dbSnapshot(OLD),
        dbSnapshot('20261001T010000Z-gggggggg', { SnapshotType: 'automated', DBSnapshotIdentifier: 'rds:orders-prod-2026-10-01' }),
        dbSnapshot('20261002T010000Z-hhhhhhhh', {
          DBSnapshotIdentifier: 'billing-snapshot',
          TagList: [
            { Key: 'lifeboat:source', Value: 'billing' },
            { Key: 'lifeboat:backup-id', Value: '20261002T010000Z-hhhhhhhh' },
          ],
        }),
        dbSnapshot('20261003T010000Z-iiiiiiii', { DBSnapshotIdentifier: 'hand-made', TagList: [{ Key: 'lifeboat:source', Value: 'orders-db' }] }),
      ],
    })
    .on(DescribeDBSnapshotsCommand, { Marker: 'page-2' })
    .resolves({
      DBSnapshots: [
        dbSnapshot(FAILED, { Status: 'failed' }),
        dbSnapshot(VERIFIED),
        dbSnapshot(SECOND),
        dbSnapshot(NEWEST),
        dbSnapshot(RUNNING, { Status: 'creating' }),
      ],
    })
    .on(DescribeDBClusterSnapshotsCommand)
    .resolves({ DBClusterSnapshots: [] })
    .on(DeleteDBSnapshotCommand)
    .resolves({});
  dr.on(DescribeDBSnapshotsCommand)
    .resolves({
      DBSnapshots: [
        dbSnapshot(OLD),
        dbSnapshot(VERIFIED),
        dbSnapshot(SECOND),
        dbSnapshot(NEWEST),
        dbSnapshot(RUNNING, { Status: 'copying' }),
      ],
    })
    .on(DescribeDBClusterSnapshotsCommand)
    .resolves({})
    .on(DeleteDBSnapshotCommand)
    .resolves({});
});

function prune(overrides: Partial<PruneSnapshotsOptions> = {}) {
  return pruneSnapshots({
    clients: { [PRIMARY]: primaryClient, [DR]: drClient },
    sourceId: 'orders-db',
    policy: POLICY,
    timeZone: 'Europe/Berlin',
    now: NOW,
    dryRun: false,
    readVerification,
    ...overrides,
  });
}

describe('pruneSnapshots', () => {
  it('lists manual snapshots of both kinds page by page in both regions', async () => {
    await prune({ dryRun: true });

    expect(primary).toHaveReceivedCommandWith(DescribeDBSnapshotsCommand, { SnapshotType: 'manual', Marker: undefined });
    expect(primary).toHaveReceivedCommandWith(DescribeDBSnapshotsCommand, { SnapshotType: 'manual', Marker: 'page-2' });
    expect(primary).toHaveReceivedCommandWith(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'manual' });
    expect(dr).toHaveReceivedCommandTimes(DescribeDBSnapshotsCommand, 1);
    expect(dr).toHaveReceivedCommandWith(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'manual' });
    // One status per backup, shared by its copies; never for a snapshot still being made.
    expect(verificationCalls.sort()).toEqual([OLD, VERIFIED, SECOND, NEWEST].sort());
  });

  it('deletes exactly the snapshots planned away, in each region, with the exact commands', async () => {
    const report = await prune();

    expect(primary).toHaveReceivedCommandTimes(DeleteDBSnapshotCommand, 2);
    expect(primary).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: name(OLD) });
    expect(primary).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: name(FAILED) });
    expect(dr).toHaveReceivedCommandTimes(DeleteDBSnapshotCommand, 1);
    expect(dr).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: name(OLD) });
    expect(primary).not.toHaveReceivedCommand(DeleteDBClusterSnapshotCommand);
    expect(report.deleted.map((e) => [e.id, e.reasons])).toEqual([
      [`${DR}/${name(OLD)}`, ['no rule keeps it']],
      [`${PRIMARY}/${name(FAILED)}`, ['failed verification']],
      [`${PRIMARY}/${name(OLD)}`, ['no rule keeps it']],
    ]);
    expect(report.kept.filter((e) => e.id.startsWith(PRIMARY)).map((e) => [e.id, e.status, e.reasons])).toEqual([
      [`${PRIMARY}/${name(RUNNING)}`, 'unverified', ['in progress (RDS status creating)']],
      [`${PRIMARY}/${name(NEWEST)}`, 'unverified', ['keep-last 1/2']],
      [`${PRIMARY}/${name(SECOND)}`, 'unverified', ['keep-last 2/2']],
      [`${PRIMARY}/${name(VERIFIED)}`, 'verified', ['newest verified']],
    ]);
    expect(report.errors).toEqual([]);
    expect(report.subject).toBe(`RDS snapshots of orders-db in ${DR}, ${PRIMARY}`);
  });

  it('deletes nothing in a dry run and reports the same plan', async () => {
    const report = await prune({ dryRun: true });

    expect(primary).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(dr).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(report.dryRun).toBe(true);
    expect(report.deleted.map((e) => e.id)).toEqual([`${DR}/${name(OLD)}`, `${PRIMARY}/${name(FAILED)}`, `${PRIMARY}/${name(OLD)}`]);
  });

  it('reports a snapshot it cannot delete and still deletes the others', async () => {
    primary
      .on(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: name(OLD) })
      .rejects(Object.assign(new Error('Snapshot is being copied'), { name: 'InvalidDBSnapshotStateFault' }));

    const report = await prune();

    expect(report.errors).toEqual([
      { id: `${PRIMARY}/${name(OLD)}`, step: 'delete', error: 'InvalidDBSnapshotStateFault', message: 'Snapshot is being copied' },
    ]);
    expect(report.deleted.map((e) => e.id)).toEqual([`${DR}/${name(OLD)}`, `${PRIMARY}/${name(FAILED)}`]);
    expect(primary).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: name(FAILED) });
    expect(dr).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: name(OLD) });
  });

  it('leaves a region alone when its listing fails, and prunes the other', async () => {
    dr.on(DescribeDBClusterSnapshotsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const report = await prune();

    expect(report.errors).toEqual([{ id: DR, step: 'list', error: 'ThrottlingException', message: 'Rate exceeded' }]);
    expect(dr).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(primary).toHaveReceivedCommandTimes(DeleteDBSnapshotCommand, 2);
  });

  it('deletes nothing when a verification status cannot be read', async () => {
    const report = await prune({
      readVerification: async ({ backupId }) => {
        if (backupId === SECOND) throw Object.assign(new Error('Slow Down'), { name: 'SlowDown' });
        return { status: 'unverified' };
      },
    });

    expect(primary).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(dr).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(report.errors).toEqual([{ id: SECOND, step: 'read-verification', error: 'SlowDown', message: 'Slow Down' }]);
    expect(report.kept.find((e) => e.id === `${PRIMARY}/${name(OLD)}`)?.reasons).toEqual([
      'deletion skipped: the verification status of 1 backup could not be read',
      'no rule keeps it',
    ]);
  });

  it('deletes Aurora cluster snapshots with DeleteDBClusterSnapshot', async () => {
    primary.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
    primary.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [clusterSnapshot(OLD), clusterSnapshot(SECOND), clusterSnapshot(NEWEST)],
    });
    primary.on(DeleteDBClusterSnapshotCommand).resolves({});

    const report = await prune({ clients: { [PRIMARY]: primaryClient } });

    expect(primary).toHaveReceivedCommandTimes(DeleteDBClusterSnapshotCommand, 1);
    expect(primary).toHaveReceivedCommandWith(DeleteDBClusterSnapshotCommand, { DBClusterSnapshotIdentifier: name(OLD) });
    expect(primary).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(report.deleted.map((e) => e.id)).toEqual([`${PRIMARY}/${name(OLD)}`]);
  });
});

describe('planSnapshotRetention', () => {
  const snapshot = (region: string, backupId: string, rdsStatus = 'available'): LifeboatSnapshot =>
    fromDBSnapshot(region, dbSnapshot(backupId, { Status: rdsStatus }))!;

  it('plans each region on its own: each keeps its own newest verified copy', () => {
    const verified = new Set([`${PRIMARY}:${VERIFIED}`, `${DR}:${OLD}`]);
    const decisions = planSnapshotRetention(
      [snapshot(PRIMARY, OLD), snapshot(PRIMARY, VERIFIED), snapshot(PRIMARY, NEWEST), snapshot(DR, OLD), snapshot(DR, NEWEST)],
      { ...POLICY, keepLast: 1 },
      { now: NOW, timeZone: 'UTC', statusOf: (s) => (verified.has(`${s.region}:${s.backupId}`) ? 'verified' : 'unverified') },
    );

    expect(decisions.map((d) => [d.id, d.action, d.reasons])).toEqual([
      [`${DR}/${name(NEWEST)}`, 'keep', ['keep-last 1/1']],
      [`${DR}/${name(OLD)}`, 'keep', ['newest verified']],
      [`${PRIMARY}/${name(NEWEST)}`, 'keep', ['keep-last 1/1']],
      [`${PRIMARY}/${name(VERIFIED)}`, 'keep', ['newest verified']],
      [`${PRIMARY}/${name(OLD)}`, 'delete', ['no rule keeps it']],
    ]);
    expect(decisions[0]!.snapshot).toEqual(snapshot(DR, NEWEST));
  });

  it('places a snapshot and its copy in the same period by the backup id, not the copy time', () => {
    const copy = fromDBSnapshot(DR, dbSnapshot(OLD, { SnapshotCreateTime: new Date('2026-11-03T00:00:00Z') }))!;
    expect(copy.takenAt).toEqual(new Date('2026-11-01T01:00:00Z'));
    const decisions = planSnapshotRetention([copy], { ...POLICY, keepLast: 0, gfs: { ...POLICY.gfs, daily: 1 } }, { now: NOW, timeZone: 'UTC' });
    expect(decisions[0]!.reasons).toEqual(['daily 2026-11-01']);
  });

  it('treats failed snapshots as failed backups and every other status as in progress', () => {
    const decisions = planSnapshotRetention(
      [snapshot(PRIMARY, OLD, 'failed'), snapshot(PRIMARY, SECOND, 'deleting'), snapshot(PRIMARY, NEWEST, 'available')],
      { ...POLICY, days: 30 },
      { now: NOW, timeZone: 'UTC' },
    );
    expect(decisions.map((d) => [d.snapshot.backupId, d.action, d.reasons])).toEqual([
      [NEWEST, 'keep', ['keep-last 1/2', 'within 30 days']],
      [SECOND, 'keep', ['in progress (RDS status deleting)']],
      [OLD, 'keep', ['within 30 days (failed, kept for diagnosis)']],
    ]);
  });

  it('recognises only manual snapshots carrying both Lifeboat tags and a real backup id', () => {
    expect(fromDBSnapshot(PRIMARY, dbSnapshot(OLD))).toEqual({
      region: PRIMARY,
      kind: 'instance',
      identifier: name(OLD),
      sourceId: 'orders-db',
      backupId: OLD,
      takenAt: new Date('2026-11-01T01:00:00Z'),
      rdsStatus: 'available',
    });
    expect(fromDBClusterSnapshot(PRIMARY, clusterSnapshot(OLD))?.kind).toBe('cluster');
    expect(fromDBSnapshot(PRIMARY, dbSnapshot(OLD, { SnapshotType: 'automated' }))).toBeUndefined();
    // A share copy for the air-gapped account carries its backup's tags but is not a copy of the backup to count.
    expect(fromDBSnapshot(PRIMARY, dbSnapshot(OLD, { DBSnapshotIdentifier: `${name(OLD)}-ag` }))).toBeUndefined();
    expect(fromDBClusterSnapshot(PRIMARY, clusterSnapshot(OLD, { DBClusterSnapshotIdentifier: `${name(OLD)}-ag` }))).toBeUndefined();
    expect(fromDBSnapshot(PRIMARY, dbSnapshot(OLD, { TagList: [{ Key: 'lifeboat:source', Value: 'orders-db' }] }))).toBeUndefined();
    expect(
      fromDBSnapshot(
        PRIMARY,
        dbSnapshot(OLD, {
          TagList: [
            { Key: 'lifeboat:source', Value: 'orders-db' },
            { Key: 'lifeboat:backup-id', Value: 'yesterday' },
          ],
        }),
      ),
    ).toBeUndefined();
  });
});
