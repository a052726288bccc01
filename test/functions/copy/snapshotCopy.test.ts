import 'aws-sdk-client-mock-vitest/extend';
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  DBSnapshotAlreadyExistsFault,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
  SnapshotQuotaExceededFault,
  type DBClusterSnapshot,
  type DBSnapshot,
} from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../../functions/copy/copy.ts';
import { backupIdOfSnapshotName, copySnapshot, type SnapshotCopyStatus } from '../../../functions/copy/snapshotCopy.ts';
import {
  BackupConflictError,
  ConfigError,
  SnapshotCopyQuotaError,
  SnapshotFailedError,
} from '../../../functions/lib/errors.ts';

const PRIMARY = 'eu-west-1';
const DR = 'eu-central-1';
const ACCOUNT = '111122223333';
const DR_KEY = `arn:aws:kms:${DR}:${ACCOUNT}:key/mrk-1234abcd`;
const BACKUP = '20261122T053327Z-k3x7q2ab';
const NAME = `lifeboat-orders-db-${BACKUP.toLowerCase()}`;
const SOURCE_ARN = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:snapshot:${NAME}`;
const DR_ARN = `arn:aws:rds:${DR}:${ACCOUNT}:snapshot:${NAME}`;
const TAGS = [
  { Key: 'lifeboat:source', Value: 'orders-db' },
  { Key: 'lifeboat:backup-id', Value: BACKUP },
  { Key: 'lifeboat:policy', Value: 'default' },
  { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
];

const drClient = new RDSClient({ region: DR });
const rds = mockClient(drClient);
// The S3 half of the copy function is unused by these actions; it gets clients that are never called.
const deps: CopyDeps = {
  drRds: drClient,
  primary: { client: new S3Client({ region: PRIMARY }), bucket: 'unused-primary' },
  dr: { client: new S3Client({ region: DR }), bucket: 'unused-dr', region: DR, kmsKeyId: DR_KEY },
  maxCopiesInFlight: 3,
};

/** A Lifeboat snapshot in the DR region (another backup's, unless overridden). */
function lifeboatSnapshot(n: number, overrides: Partial<DBSnapshot> = {}): DBSnapshot {
  const backupId = `20261121T0${String(n).padStart(5, '0')}Z-aaaaaaaa`;
  return {
    DBSnapshotIdentifier: `lifeboat-other-${backupId.toLowerCase()}`,
    DBSnapshotArn: `arn:aws:rds:${DR}:${ACCOUNT}:snapshot:lifeboat-other-${backupId.toLowerCase()}`,
    SnapshotType: 'manual',
    Status: 'copying',
    PercentProgress: 10,
    TagList: [{ Key: 'lifeboat:source', Value: 'other' }, { Key: 'lifeboat:backup-id', Value: backupId }],
    ...overrides,
  };
}

const theCopy = (overrides: Partial<DBSnapshot> = {}): DBSnapshot => ({
  DBSnapshotIdentifier: NAME,
  DBSnapshotArn: DR_ARN,
  SnapshotType: 'manual',
  Status: 'creating',
  PercentProgress: 0,
  SourceRegion: PRIMARY,
  TagList: TAGS,
  ...overrides,
});

beforeEach(() => {
  rds.reset();
  rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
  rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
  rds.on(CopyDBSnapshotCommand).resolves({ DBSnapshot: theCopy() });
});

const copyEvent = (extra: Record<string, unknown> = {}) => ({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: SOURCE_ARN, type: 'instance', ...extra });

describe('copy-snapshot', () => {
  it('asks RDS in the DR region for a copy with the same name, under the DR key, with the tags copied', async () => {
    const result = await handleCopyEvent(copyEvent(), deps);

    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 1);
    const input = rds.commandCalls(CopyDBSnapshotCommand)[0]!.args[0].input;
    // Exactly these members: the SDK adds the PreSignedUrl for the source region itself (next test).
    expect(input).toEqual({
      SourceDBSnapshotIdentifier: SOURCE_ARN,
      TargetDBSnapshotIdentifier: NAME,
      KmsKeyId: DR_KEY,
      CopyTags: true,
    });
    expect(result).toEqual({
      sourceId: 'orders-db',
      backupId: BACKUP,
      type: 'instance',
      sourceSnapshotArn: SOURCE_ARN,
      snapshotIdentifier: NAME,
      snapshotArn: DR_ARN,
      region: DR,
      status: 'creating',
      percentProgress: 0,
      copiesInFlight: 0,
      alreadyStarted: false,
    });
  });

  it('gets its PreSignedUrl from the SDK: signed for the source region, naming the DR key and destination', async () => {
    // A real client: only the network is cut, after the SDK's own middleware has run.
    const client = new RDSClient({ region: DR, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });
    let sent: Record<string, unknown> | undefined;
    client.middlewareStack.add(
      () => async (args) => {
        sent = args.input as Record<string, unknown>;
        throw Object.assign(new Error('stop before the network'), { name: 'StopForTest' });
      },
      { step: 'finalizeRequest', name: 'captureInput' },
    );
    const scanOnly = mockClient(new RDSClient({ region: DR }));
    scanOnly.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] }).on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    // The scan goes through the mock; the copy through the real client.
    const split = { send: (command: never) => ((command as object) instanceof CopyDBSnapshotCommand ? client.send(command) : scanOnly.send(command)) };

    await expect(copySnapshot({ sourceId: 'orders-db', snapshotArn: SOURCE_ARN, type: 'instance' }, { ...deps, drRds: split as never })).rejects.toMatchObject({ name: 'StopForTest' });

    const url = new URL(String(sent?.PreSignedUrl));
    expect(url.hostname).toBe(`rds.${PRIMARY}.amazonaws.com`);
    expect(url.searchParams.get('Action')).toBe('CopyDBSnapshot');
    expect(url.searchParams.get('SourceDBSnapshotIdentifier')).toBe(SOURCE_ARN);
    expect(url.searchParams.get('KmsKeyId')).toBe(DR_KEY);
    expect(url.searchParams.get('DestinationRegion')).toBe(DR);
    expect(url.searchParams.get('X-Amz-Credential')).toContain(`/${PRIMARY}/rds/aws4_request`);
    scanOnly.restore();
  });

  it('copies an Aurora cluster snapshot with CopyDBClusterSnapshot', async () => {
    const clusterArn = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:cluster-snapshot:${NAME}`;
    rds.on(CopyDBClusterSnapshotCommand).resolves({
      DBClusterSnapshot: { DBClusterSnapshotIdentifier: NAME, DBClusterSnapshotArn: `arn:aws:rds:${DR}:${ACCOUNT}:cluster-snapshot:${NAME}`, Status: 'copying', PercentProgress: 0 },
    });

    const result = await handleCopyEvent(copyEvent({ snapshotArn: clusterArn, type: 'cluster' }), deps);

    expect(rds).toHaveReceivedCommandWith(CopyDBClusterSnapshotCommand, {
      SourceDBClusterSnapshotIdentifier: clusterArn,
      TargetDBClusterSnapshotIdentifier: NAME,
      KmsKeyId: DR_KEY,
      CopyTags: true,
    });
    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 0);
    expect(result).toMatchObject({ type: 'cluster', status: 'copying' });
  });

  it('throws SnapshotCopyQuotaError and copies nothing when the limit of Lifeboat copies is in flight (counted over every page, both kinds)', async () => {
    rds.on(DescribeDBSnapshotsCommand)
      .resolvesOnce({
        DBSnapshots: [
          lifeboatSnapshot(1),
          lifeboatSnapshot(2, { Status: 'creating', PercentProgress: 100 }), // finishing: no longer holds a copy slot
          lifeboatSnapshot(3, { Status: 'available', PercentProgress: 100 }),
          lifeboatSnapshot(4, { TagList: [] }), // not Lifeboat's
        ],
        Marker: 'page-2',
      })
      .resolvesOnce({ DBSnapshots: [lifeboatSnapshot(5, { Status: 'creating', PercentProgress: 99 })] });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: 'lifeboat-ledger-x', Status: 'copying', PercentProgress: 50, SnapshotType: 'manual', TagList: lifeboatSnapshot(6).TagList } satisfies DBClusterSnapshot],
    });

    const error = await handleCopyEvent(copyEvent(), deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SnapshotCopyQuotaError);
    expect(error).toMatchObject({ name: 'SnapshotCopyQuotaError', retryable: true, message: expect.stringContaining('3 Lifeboat snapshot copies are in flight to eu-central-1 (limit 3)') });
    expect(rds).toHaveReceivedCommandWith(DescribeDBSnapshotsCommand, { SnapshotType: 'manual', Marker: 'page-2' });
    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 0);
    expect(rds).toHaveReceivedCommandTimes(CopyDBClusterSnapshotCommand, 0);
  });

  it('copies when one slot is left, and reports how many were in flight', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [lifeboatSnapshot(1), lifeboatSnapshot(2)] });

    await expect(handleCopyEvent(copyEvent(), deps)).resolves.toMatchObject({ copiesInFlight: 2, alreadyStarted: false });
    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 1);
  });

  it('defaults to RDS limit of 20', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: Array.from({ length: 19 }, (_, i) => lifeboatSnapshot(i)) });
    const noLimit = { ...deps, maxCopiesInFlight: undefined };
    await expect(copySnapshot({ sourceId: 'orders-db', snapshotArn: SOURCE_ARN, type: 'instance' }, noLimit)).resolves.toMatchObject({ copiesInFlight: 19 });

    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: Array.from({ length: 20 }, (_, i) => lifeboatSnapshot(i)) });
    await expect(copySnapshot({ sourceId: 'orders-db', snapshotArn: SOURCE_ARN, type: 'instance' }, noLimit)).rejects.toBeInstanceOf(SnapshotCopyQuotaError);
    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 1);
  });

  it.each([
    ['SnapshotQuotaExceeded', () => new SnapshotQuotaExceededFault({ message: 'Cannot copy more snapshots', $metadata: {} })],
    ['a copy-limit message', () => Object.assign(new Error('You have reached the maximum number of concurrent snapshot copies in progress to this region'), { name: 'InvalidParameterCombination' })],
  ])('maps RDS refusing the copy with %s to SnapshotCopyQuotaError', async (_, fault) => {
    rds.on(CopyDBSnapshotCommand).rejects(fault());

    await expect(handleCopyEvent(copyEvent(), deps)).rejects.toMatchObject({ name: 'SnapshotCopyQuotaError' });
  });

  it('passes other RDS errors through unchanged', async () => {
    const kms = Object.assign(new Error('KMS key not accessible'), { name: 'KMSKeyNotAccessibleFault' });
    rds.on(CopyDBSnapshotCommand).rejects(kms);

    await expect(handleCopyEvent(copyEvent(), deps)).rejects.toBe(kms);
  });

  it('returns a copy that already exists (a retried request) without asking again, found in the scan or on "already exists"', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [theCopy({ Status: 'copying', PercentProgress: 30 })] });

    await expect(handleCopyEvent(copyEvent(), deps)).resolves.toMatchObject({ alreadyStarted: true, status: 'copying', percentProgress: 30, snapshotArn: DR_ARN });
    expect(rds).toHaveReceivedCommandTimes(CopyDBSnapshotCommand, 0);

    rds.reset();
    rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' }).resolves({ DBSnapshots: [] });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    rds.on(CopyDBSnapshotCommand).rejects(new DBSnapshotAlreadyExistsFault({ message: 'exists', $metadata: {} }));
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [theCopy({ Status: 'copying', PercentProgress: 5 })] });

    await expect(handleCopyEvent(copyEvent(), deps)).resolves.toMatchObject({ alreadyStarted: true, percentProgress: 5 });
  });

  it('refuses a same-named DR snapshot that is not this backup', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [theCopy({ TagList: [] })] });

    await expect(handleCopyEvent(copyEvent(), deps)).rejects.toBeInstanceOf(BackupConflictError);
  });

  it('refuses, before calling RDS, snapshots that are not Lifeboat snapshots of the source, a wrong type and a copy into its own region', async () => {
    const other = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:snapshot:rds:orders-prod-2026-11-22-05-00`;
    await expect(handleCopyEvent(copyEvent({ snapshotArn: other }), deps)).rejects.toBeInstanceOf(ConfigError);
    await expect(handleCopyEvent(copyEvent({ snapshotArn: SOURCE_ARN.replace('orders-db', 'billing') }), deps)).rejects.toThrow(/not a Lifeboat snapshot of source orders-db/);
    await expect(handleCopyEvent(copyEvent({ type: 'cluster' }), deps)).rejects.toThrow(/type/);
    await expect(handleCopyEvent(copyEvent({ snapshotArn: DR_ARN }), deps)).rejects.toThrow(/already in the DR region/);
    expect(rds.calls()).toHaveLength(0);
  });

  it('reads the backup id back from a Lifeboat snapshot name', () => {
    expect(backupIdOfSnapshotName('orders-db', NAME)).toBe(BACKUP);
    expect(() => backupIdOfSnapshotName('orders-db', `${NAME}x`)).toThrow(ConfigError);
    expect(() => backupIdOfSnapshotName('orders', NAME)).toThrow(ConfigError);
  });
});

describe('describe-snapshot-copy', () => {
  const copyRef = { sourceId: 'orders-db', backupId: BACKUP, type: 'instance', sourceSnapshotArn: SOURCE_ARN, snapshotIdentifier: NAME };

  it('returns the copy status for the wait loop, taking back what copy-snapshot returned', async () => {
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [theCopy({ Status: 'available', PercentProgress: 100 })] });
    const previous: SnapshotCopyStatus = { ...copyRef, type: 'instance', snapshotArn: DR_ARN, region: DR, status: 'copying', percentProgress: 50, copiesInFlight: 0, alreadyStarted: false };

    const result = await handleCopyEvent({ action: 'describe-snapshot-copy', copy: previous }, deps);

    expect(result).toEqual({ ...copyRef, snapshotArn: DR_ARN, region: DR, status: 'available', percentProgress: 100 });
  });

  it('throws SnapshotFailedError for a failed or vanished copy', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolvesOnce({ DBSnapshots: [theCopy({ Status: 'failed' })] }).resolvesOnce({ DBSnapshots: [] });

    await expect(handleCopyEvent({ action: 'describe-snapshot-copy', copy: copyRef }, deps)).rejects.toBeInstanceOf(SnapshotFailedError);
    await expect(handleCopyEvent({ action: 'describe-snapshot-copy', copy: copyRef }, deps)).rejects.toBeInstanceOf(SnapshotFailedError);
  });
});
