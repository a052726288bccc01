// The air-gapped account's snapshot copier on a mocked RDS (no local RDS exists): the exact commands it sends for
// shared snapshots of the workload account, what it leaves alone, its cap on copies in flight, and its retention.
import 'aws-sdk-client-mock-vitest/extend';
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
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
import { copySharedSnapshots, expired, type AirGapSnapshotDeps } from '../../../functions/air-gap-snapshots/copyShared.ts';
import { airGapSnapshotDepsFromEnv } from '../../../functions/air-gap-snapshots/env.ts';
import { AirGapSnapshotCopyError, ConfigError } from '../../../functions/lib/errors.ts';
import { backupOfSnapshotName, fromInstanceSnapshot } from '../../../functions/lib/aws/rdsSnapshot.ts';

const WORKLOAD = '111122223333';
const VAULT = '444455556666';
const REGION = 'eu-central-1';
const KEY = `arn:aws:kms:${REGION}:${VAULT}:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9`;
const NOW = new Date('2026-12-04T12:00:00Z');
const rds = mockClient(RDSClient);

const sharedInstance = (name: string, account = WORKLOAD, status = 'available'): DBSnapshot => ({
  DBSnapshotIdentifier: `arn:aws:rds:${REGION}:${account}:snapshot:${name}`,
  DBSnapshotArn: `arn:aws:rds:${REGION}:${account}:snapshot:${name}`,
  Status: status,
  SnapshotType: 'shared',
});
const sharedCluster = (name: string): DBClusterSnapshot => ({
  DBClusterSnapshotIdentifier: `arn:aws:rds:${REGION}:${WORKLOAD}:cluster-snapshot:${name}`,
  DBClusterSnapshotArn: `arn:aws:rds:${REGION}:${WORKLOAD}:cluster-snapshot:${name}`,
  Status: 'available',
  SnapshotType: 'shared',
});
const ownInstance = (name: string, status = 'available'): DBSnapshot => ({ DBSnapshotIdentifier: name, DBSnapshotArn: `arn:aws:rds:${REGION}:${VAULT}:snapshot:${name}`, Status: status, SnapshotType: 'manual' });
const ownCluster = (name: string, status = 'available'): DBClusterSnapshot => ({ DBClusterSnapshotIdentifier: name, DBClusterSnapshotArn: `arn:aws:rds:${REGION}:${VAULT}:cluster-snapshot:${name}`, Status: status, SnapshotType: 'manual' });

/** What RDS lists, by kind. */
function lists(listed: { shared?: DBSnapshot[]; sharedClusters?: DBClusterSnapshot[]; own?: DBSnapshot[]; ownClusters?: DBClusterSnapshot[] }) {
  rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'shared', IncludeShared: true }).resolves({ DBSnapshots: listed.shared ?? [] });
  rds.on(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'shared', IncludeShared: true }).resolves({ DBClusterSnapshots: listed.sharedClusters ?? [] });
  rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' }).resolves({ DBSnapshots: listed.own ?? [] });
  rds.on(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'manual' }).resolves({ DBClusterSnapshots: listed.ownClusters ?? [] });
}

const deps = (extra: Partial<AirGapSnapshotDeps> = {}): AirGapSnapshotDeps => ({ rds: new RDSClient({ region: REGION }), workloadAccount: WORKLOAD, kmsKeyId: KEY, retentionDays: 90, now: () => NOW, ...extra });
const tags = (sourceId: string, backupId: string, from: string) => [
  { Key: 'lifeboat:source', Value: sourceId },
  { Key: 'lifeboat:backup-id', Value: backupId },
  { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
  { Key: 'lifeboat:copied-from', Value: from },
];

describe('copySharedSnapshots', () => {
  beforeEach(() => {
    rds.reset();
    rds.on(CopyDBSnapshotCommand).resolves({});
    rds.on(CopyDBClusterSnapshotCommand).resolves({});
    rds.on(DeleteDBSnapshotCommand).resolves({});
    rds.on(DeleteDBClusterSnapshotCommand).resolves({});
  });

  it('copies each shared Lifeboat snapshot of the workload account it lacks, under the air-gapped key, tagged from its name and origin', async () => {
    const instance = sharedInstance('lifeboat-orders-db-20261204t050000z-k3x7q2ab');
    const cluster = sharedCluster('lifeboat-catalog-docdb-20261204t040000z-abcdefgh');
    lists({ shared: [instance], sharedClusters: [cluster] });

    const run = await copySharedSnapshots(deps());

    expect(run).toEqual({ copied: ['lifeboat-catalog-docdb-20261204t040000z-abcdefgh', 'lifeboat-orders-db-20261204t050000z-k3x7q2ab'], alreadyHeld: 0, deferred: [], deleted: [] });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(CopyDBSnapshotCommand, {
      SourceDBSnapshotIdentifier: instance.DBSnapshotArn,
      TargetDBSnapshotIdentifier: 'lifeboat-orders-db-20261204t050000z-k3x7q2ab',
      KmsKeyId: KEY,
      Tags: tags('orders-db', '20261204T050000Z-k3x7q2ab', instance.DBSnapshotArn!),
    });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(CopyDBClusterSnapshotCommand, {
      SourceDBClusterSnapshotIdentifier: cluster.DBClusterSnapshotArn,
      TargetDBClusterSnapshotIdentifier: 'lifeboat-catalog-docdb-20261204t040000z-abcdefgh',
      KmsKeyId: KEY,
      Tags: tags('catalog-docdb', '20261204T040000Z-abcdefgh', cluster.DBClusterSnapshotArn!),
    });
  });

  it('copies a share copy (`<name>-ag`, made in a primary region that is not the DR region) under the Lifeboat name, and holds it once copied', async () => {
    const share = sharedInstance('lifeboat-orders-db-20261204t050000z-k3x7q2ab-ag');
    lists({ shared: [share, sharedInstance('lifeboat-orders-db-20261204t050000z-k3x7q2ab-xy')] });

    const run = await copySharedSnapshots(deps());

    expect(run).toEqual({ copied: ['lifeboat-orders-db-20261204t050000z-k3x7q2ab'], alreadyHeld: 0, deferred: [], deleted: [] });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(CopyDBSnapshotCommand, {
      SourceDBSnapshotIdentifier: share.DBSnapshotArn,
      TargetDBSnapshotIdentifier: 'lifeboat-orders-db-20261204t050000z-k3x7q2ab',
      KmsKeyId: KEY,
      Tags: tags('orders-db', '20261204T050000Z-k3x7q2ab', share.DBSnapshotArn!),
    });
    rds.resetHistory();
    lists({ shared: [share], own: [ownInstance('lifeboat-orders-db-20261204t050000z-k3x7q2ab')] });
    await expect(copySharedSnapshots(deps())).resolves.toMatchObject({ copied: [], alreadyHeld: 1 });
  });

  it('leaves alone what is not the workload\'s Lifeboat backup, what is not available yet, and what it already holds', async () => {
    lists({
      shared: [
        sharedInstance('lifeboat-orders-db-20261204t050000z-k3x7q2ab', '999988887777'),
        sharedInstance('nightly-orders-20261204'),
        sharedInstance('lifeboat-orders-db-20261204t060000z-k3x7q2ab', WORKLOAD, 'copying'),
        sharedInstance('lifeboat-orders-db-20261203t050000z-k3x7q2ab'),
      ],
      own: [ownInstance('lifeboat-orders-db-20261203t050000z-k3x7q2ab')],
    });

    const run = await copySharedSnapshots(deps());

    expect(run).toEqual({ copied: [], alreadyHeld: 1, deferred: [], deleted: [] });
    expect(rds).not.toHaveReceivedCommand(CopyDBSnapshotCommand);
  });

  it('starts no more than maxCopiesInFlight copies, counting those already running, oldest backup first; the rest wait for the next run', async () => {
    lists({
      shared: ['01', '02', '03', '04'].map((d) => sharedInstance(`lifeboat-orders-db-202612${d}t050000z-k3x7q2ab`)),
      own: [ownInstance('lifeboat-billing-db-20261201t050000z-k3x7q2ab', 'copying')],
    });

    const run = await copySharedSnapshots(deps({ maxCopiesInFlight: 3 }));

    expect(run.copied).toEqual(['lifeboat-orders-db-20261201t050000z-k3x7q2ab', 'lifeboat-orders-db-20261202t050000z-k3x7q2ab']);
    expect(run.deferred).toEqual(['lifeboat-orders-db-20261203t050000z-k3x7q2ab', 'lifeboat-orders-db-20261204t050000z-k3x7q2ab']);
    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 2);
  });

  it('deletes this account\'s copies past its retention, never the newest of a source, never one still copying', async () => {
    lists({
      own: [
        ownInstance('lifeboat-orders-db-20260801t050000z-k3x7q2ab'),
        ownInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab'),
        ownInstance('lifeboat-orders-db-20260701t050000z-k3x7q2ab', 'copying'),
        // The only copy of its source: kept however old.
        ownInstance('lifeboat-billing-db-20250101t050000z-k3x7q2ab'),
        ownInstance('someone-elses-snapshot'),
      ],
      ownClusters: [ownCluster('lifeboat-catalog-docdb-20260601t050000z-abcdefgh'), ownCluster('lifeboat-catalog-docdb-20261203t050000z-abcdefgh')],
    });

    const run = await copySharedSnapshots(deps({ retentionDays: 90 }));

    expect(run.deleted).toEqual(['lifeboat-orders-db-20260801t050000z-k3x7q2ab', 'lifeboat-catalog-docdb-20260601t050000z-abcdefgh']);
    expect(rds).toHaveReceivedCommandExactlyOnceWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: 'lifeboat-orders-db-20260801t050000z-k3x7q2ab' });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(DeleteDBClusterSnapshotCommand, { DBClusterSnapshotIdentifier: 'lifeboat-catalog-docdb-20260601t050000z-abcdefgh' });
  });

  it('keeps going past a snapshot it cannot copy, then fails naming it; a failed copy is deleted so the next run copies it again', async () => {
    lists({
      shared: [
        sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab'),
        sharedInstance('lifeboat-orders-db-20261202t050000z-k3x7q2ab'),
        sharedInstance('lifeboat-orders-db-20261203t050000z-k3x7q2ab'),
      ],
      own: [ownInstance('lifeboat-orders-db-20261202t050000z-k3x7q2ab', 'failed')],
    });
    rds
      .on(CopyDBSnapshotCommand, { TargetDBSnapshotIdentifier: 'lifeboat-orders-db-20261201t050000z-k3x7q2ab' })
      .rejects(Object.assign(new Error('The source snapshot KMS key does not exist, is not enabled or you do not have permissions to access it.'), { name: 'KMSKeyNotAccessibleFault' }));

    const error = await copySharedSnapshots(deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AirGapSnapshotCopyError);
    expect((error as Error).message).toBe(
      '2 shared snapshot(s) not copied or tidied (copied 1, held 0, deferred 0, deleted 0): ' +
        'lifeboat-orders-db-20261201t050000z-k3x7q2ab: KMSKeyNotAccessible: The source snapshot KMS key does not exist, is not enabled or you do not have permissions to access it.; ' +
        'lifeboat-orders-db-20261202t050000z-k3x7q2ab: the copy is failed; it was deleted and the next run copies it again',
    );
    expect(rds).toHaveReceivedCommandWith(CopyDBSnapshotCommand, { TargetDBSnapshotIdentifier: 'lifeboat-orders-db-20261203t050000z-k3x7q2ab' });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: 'lifeboat-orders-db-20261202t050000z-k3x7q2ab' });
  });

  it('counts a copy another run started meanwhile as held', async () => {
    lists({ shared: [sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab')] });
    rds.on(CopyDBSnapshotCommand).rejects(Object.assign(new Error('Cannot create the snapshot because a snapshot with the identifier already exists.'), { name: 'DBSnapshotAlreadyExistsFault' }));
    await expect(copySharedSnapshots(deps())).resolves.toEqual({ copied: [], alreadyHeld: 1, deferred: [], deleted: [] });
  });

  it('reads every page of every list', async () => {
    rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'shared', IncludeShared: true }).resolves({ DBSnapshots: [sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab')], Marker: 'page-2' });
    rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'shared', IncludeShared: true, Marker: 'page-2' }).resolves({ DBSnapshots: [sharedInstance('lifeboat-orders-db-20261202t050000z-k3x7q2ab')] });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' }).resolves({ DBSnapshots: [], Marker: 'own-2' });
    rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'manual', Marker: 'own-2' }).resolves({ DBSnapshots: [ownInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab')] });

    const run = await copySharedSnapshots(deps());

    expect(run).toMatchObject({ copied: ['lifeboat-orders-db-20261202t050000z-k3x7q2ab'], alreadyHeld: 1 });
  });

  it('counts only its own Lifeboat copies under way (creating, copying, pending) against the cap', async () => {
    lists({
      shared: [sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab'), sharedInstance('lifeboat-orders-db-20261202t050000z-k3x7q2ab')],
      own: [
        ownInstance('lifeboat-billing-db-20261130t050000z-k3x7q2ab', 'available'),
        ownInstance('someone-elses-restore-test', 'copying'),
        ownInstance('lifeboat-billing-db-20261129t050000z-k3x7q2ab', 'creating'),
      ],
    });
    await expect(copySharedSnapshots(deps({ maxCopiesInFlight: 2 }))).resolves.toMatchObject({ copied: ['lifeboat-orders-db-20261201t050000z-k3x7q2ab'], deferred: ['lifeboat-orders-db-20261202t050000z-k3x7q2ab'] });
    rds.reset();
    rds.on(CopyDBSnapshotCommand).resolves({});
    lists({ shared: [sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab')], own: [ownInstance('lifeboat-billing-db-20261129t050000z-k3x7q2ab', 'pending')] });
    await expect(copySharedSnapshots(deps({ maxCopiesInFlight: 1 }))).resolves.toMatchObject({ copied: [], deferred: ['lifeboat-orders-db-20261201t050000z-k3x7q2ab'] });
  });

  it('lists the shared snapshots with IncludeShared and its own without', async () => {
    lists({});
    await copySharedSnapshots(deps());
    expect(rds.commandCalls(DescribeDBSnapshotsCommand).map((c) => c.args[0].input)).toEqual([{ SnapshotType: 'shared', IncludeShared: true }, { SnapshotType: 'manual' }]);
    expect(rds.commandCalls(DescribeDBClusterSnapshotsCommand).map((c) => c.args[0].input)).toEqual([{ SnapshotType: 'shared', IncludeShared: true }, { SnapshotType: 'manual' }]);
  });

  it('ignores a shared snapshot whose ARN is not an RDS snapshot ARN', async () => {
    lists({ shared: [{ ...sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab'), DBSnapshotArn: 'not-an-arn' }] });
    await expect(copySharedSnapshots(deps())).resolves.toEqual({ copied: [], alreadyHeld: 0, deferred: [], deleted: [] });
  });

  it('names a failed copy it could not delete either', async () => {
    lists({ shared: [sharedInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab')], own: [ownInstance('lifeboat-orders-db-20261201t050000z-k3x7q2ab', 'failed')] });
    rds.on(DeleteDBSnapshotCommand).rejects(Object.assign(new Error('snapshot is busy'), { name: 'InvalidDBSnapshotStateFault' }));
    await expect(copySharedSnapshots(deps())).rejects.toThrow(
      'lifeboat-orders-db-20261201t050000z-k3x7q2ab: the copy is failed and could not be deleted: InvalidDBSnapshotState: snapshot is busy',
    );
  });

  it('counts a cluster copy another run started meanwhile as held', async () => {
    lists({ sharedClusters: [sharedCluster('lifeboat-catalog-docdb-20261201t050000z-abcdefgh')] });
    rds.on(CopyDBClusterSnapshotCommand).rejects(Object.assign(new Error('already exists'), { name: 'DBClusterSnapshotAlreadyExistsFault' }));
    await expect(copySharedSnapshots(deps())).resolves.toEqual({ copied: [], alreadyHeld: 1, deferred: [], deleted: [] });
  });

  it('refuses an account id with anything around its 12 digits, and takes a retention of one day', async () => {
    lists({});
    for (const account of ['1111222233334', 'x111122223333', '111122223333x']) {
      await expect(copySharedSnapshots(deps({ workloadAccount: account }))).rejects.toThrow(`workloadAccount must be a 12-digit account id, got "${account}"`);
    }
    await expect(copySharedSnapshots(deps({ retentionDays: 1 }))).resolves.toBeDefined();
  });

  it('refuses a malformed account or retention before calling RDS', async () => {
    await expect(copySharedSnapshots(deps({ workloadAccount: '1111' }))).rejects.toThrow(ConfigError);
    await expect(copySharedSnapshots(deps({ retentionDays: 0 }))).rejects.toThrow('retentionDays must be at least 1, got 0');
    expect(rds.calls()).toHaveLength(0);
  });
});

describe('backupOfSnapshotName', () => {
  it('reads the source and backup id back from a Lifeboat snapshot name, and nothing from any other', () => {
    expect(backupOfSnapshotName('lifeboat-orders-db-20261122t053327z-k3x7q2ab')).toEqual({ sourceId: 'orders-db', backupId: '20261122T053327Z-k3x7q2ab' });
    expect(backupOfSnapshotName('lifeboat-a-20261122t053327z-k3x7q2ab')).toEqual({ sourceId: 'a', backupId: '20261122T053327Z-k3x7q2ab' });
    for (const name of ['lifeboat-orders-db-20261122t053327z-k3x7q2a', 'xlifeboat-orders-db-20261122t053327z-k3x7q2ab', 'lifeboat-orders-db-20261122t053327z-k3x7q2ab-x', 'lifeboat-orders--db-20261122t053327z-k3x7q2ab', 'lifeboat-orders-db-20261322t053327z-k3x7q2ab', 'lifeboat-Orders-20261122t053327z-k3x7q2ab']) {
      expect(backupOfSnapshotName(name), name).toBeUndefined();
    }
  });

  it('keeps the newest copy of a source whatever order RDS lists them in', () => {
    const at = (id: string) => fromInstanceSnapshot(ownInstance(id));
    const copies = [at('lifeboat-orders-db-20250301t000000z-k3x7q2ab'), at('lifeboat-orders-db-20250101t000000z-k3x7q2ab'), at('lifeboat-orders-db-20250201t000000z-k3x7q2ab')];
    expect(expired(copies, 90, NOW).map((s) => s.identifier)).toEqual(['lifeboat-orders-db-20250101t000000z-k3x7q2ab', 'lifeboat-orders-db-20250201t000000z-k3x7q2ab']);
  });

  it('expires by the backup\'s own time: a copy exactly at the cut-off stays', () => {
    const at = (id: string) => fromInstanceSnapshot(ownInstance(id));
    const copies = [at('lifeboat-orders-db-20260905t120000z-k3x7q2ab'), at('lifeboat-orders-db-20260905t115959z-k3x7q2ab'), at('lifeboat-orders-db-20261204t000000z-k3x7q2ab')];
    expect(expired(copies, 90, NOW).map((s) => s.identifier)).toEqual(['lifeboat-orders-db-20260905t115959z-k3x7q2ab']);
  });
});

describe('airGapSnapshotDepsFromEnv', () => {
  const env = { WORKLOAD_ACCOUNT: WORKLOAD, AIR_GAP_KEY_ARN: KEY, SNAPSHOT_RETENTION_DAYS: '90' };
  it('takes the account, key and retention its construct sets, and names what is wrong', () => {
    const client = new RDSClient({ region: REGION });
    expect(airGapSnapshotDepsFromEnv(env, client)).toEqual({ rds: client, workloadAccount: WORKLOAD, kmsKeyId: KEY, retentionDays: 90 });
    expect(() => airGapSnapshotDepsFromEnv({ ...env, SNAPSHOT_RETENTION_DAYS: '1.5' }, client)).toThrow('SNAPSHOT_RETENTION_DAYS must be a whole number of days, at least 1, got "1.5"');
    expect(() => airGapSnapshotDepsFromEnv({ ...env, WORKLOAD_ACCOUNT: 'x' }, client)).toThrow('WORKLOAD_ACCOUNT must be a 12-digit account id, got "x"');
    expect(() => airGapSnapshotDepsFromEnv({ AIR_GAP_KEY_ARN: KEY, SNAPSHOT_RETENTION_DAYS: '90' }, client)).toThrow(/WORKLOAD_ACCOUNT/);
  });
});
