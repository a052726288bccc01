/**
 * Share copies (functions/copy/shareCopy.ts): with the air-gapped vault in the primary region, a snapshot backup
 * reaches it as a copy made in that region under the vault key, waited for with the DR copy, shared with the vault
 * account when the backup is recorded, and deleted after 3 days. RDS has no local counterpart: it is mocked in both
 * regions and the exact commands are asserted; the vaults are the local S3 server.
 */
import 'aws-sdk-client-mock-vitest/extend';
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  DBSnapshotAlreadyExistsFault,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
  type DBClusterSnapshot,
  type DBSnapshot,
} from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../../functions/copy/copy.ts';
import { SHARE_COPY_DAYS, describeShareCopy, requestShareCopy, shareAndTidy, type ShareCopyTarget } from '../../../functions/copy/shareCopy.ts';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { backupOfSharedSnapshotName, shareCopyIdentifierFor } from '../../../functions/lib/aws/rdsSnapshot.ts';
import { readManifest, writeManifest } from '../../../functions/lib/vault/catalog.ts';
import type { BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';

const PRIMARY = 'eu-west-1';
const DR = 'eu-central-1';
const ACCOUNT = '111122223333';
const VAULT_ACCOUNT = '444455556666';
const VAULT_KEY = `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/mrk-1234abcd`;
const DR_KEY = `arn:aws:kms:${DR}:${ACCOUNT}:key/mrk-1234abcd`;
const BACKUP = '20261122T030000Z-abcdefgh';
const NAME = `lifeboat-orders-db-${BACKUP.toLowerCase()}`;
const SHARE = `${NAME}-ag`;
const PRIMARY_ARN = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:snapshot:${NAME}`;
const DR_ARN = `arn:aws:rds:${DR}:${ACCOUNT}:snapshot:${NAME}`;
const SHARE_ARN = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:snapshot:${SHARE}`;
const NOW = new Date('2026-11-22T05:00:00.000Z');
const tags = (backupId = BACKUP, source = 'orders-db') => [{ Key: 'lifeboat:source', Value: source }, { Key: 'lifeboat:backup-id', Value: backupId }];

const drClient = new RDSClient({ region: DR });
const drRds = mockClient(drClient);
const primaryClient = new RDSClient({ region: PRIMARY });
const primaryRds = mockClient(primaryClient);
const shareCopy: ShareCopyTarget = { rds: primaryClient, region: PRIMARY, kmsKeyId: VAULT_KEY, account: VAULT_ACCOUNT };

const snapshot = (identifier: string, arn: string, overrides: Partial<DBSnapshot> = {}): DBSnapshot => ({
  DBSnapshotIdentifier: identifier, DBSnapshotArn: arn, SnapshotType: 'manual', Status: 'available', PercentProgress: 100, TagList: tags(), ...overrides,
});
const drCopy = (overrides: Partial<DBSnapshot> = {}) => snapshot(NAME, DR_ARN, overrides);
const theShare = (overrides: Partial<DBSnapshot> = {}) => snapshot(SHARE, SHARE_ARN, overrides);

let s3: LocalS3;
let primaryBucket: string;
let drBucket: string;
const s3Clients: S3Client[] = [];

beforeAll(async () => {
  s3 = await startLocalS3();
}, 60_000);
afterAll(async () => {
  for (const client of s3Clients) client.destroy();
  await s3?.stop();
});
beforeEach(async () => {
  drRds.reset();
  primaryRds.reset();
  primaryBucket = await s3.createBucket();
  drBucket = await s3.createBucket();
  drRds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
  drRds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
  drRds.on(CopyDBSnapshotCommand).resolves({ DBSnapshot: drCopy({ Status: 'creating', PercentProgress: 0 }) });
  primaryRds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
});

function deps(overrides: Partial<CopyDeps> = {}): CopyDeps {
  const primary = createS3Client({ endpoint: s3.endpoint });
  const dr = createS3Client({ endpoint: s3.endpoint });
  s3Clients.push(primary, dr);
  return {
    primary: { client: primary, bucket: primaryBucket },
    dr: { client: dr, bucket: drBucket, region: DR, kmsKeyId: DR_KEY },
    drRds: drClient,
    now: () => NOW,
    shareCopy,
    ...overrides,
  };
}

describe('copy-snapshot with share copies', () => {
  it('asks for the DR copy and the share copy in the primary region, under the vault key, with the tags copied', async () => {
    primaryRds.on(CopyDBSnapshotCommand).resolves({ DBSnapshot: theShare({ Status: 'creating', PercentProgress: 0 }) });
    const result = await handleCopyEvent({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: PRIMARY_ARN, type: 'instance' }, deps());
    expect(drRds).toHaveReceivedCommandWith(CopyDBSnapshotCommand, { SourceDBSnapshotIdentifier: PRIMARY_ARN, TargetDBSnapshotIdentifier: NAME, KmsKeyId: DR_KEY, CopyTags: true });
    expect(primaryRds).toHaveReceivedCommandExactlyOnceWith(CopyDBSnapshotCommand, { SourceDBSnapshotIdentifier: PRIMARY_ARN, TargetDBSnapshotIdentifier: SHARE, KmsKeyId: VAULT_KEY, CopyTags: true });
    expect(result).toMatchObject({ snapshotArn: DR_ARN, status: 'creating', shareCopy: { snapshotIdentifier: SHARE, snapshotArn: SHARE_ARN, status: 'creating', percentProgress: 0 } });
  });

  it('a retried request finds the share copy (or RDS says it exists) and does not ask again', async () => {
    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare({ Status: 'copying', PercentProgress: 30 })] });
    await expect(handleCopyEvent({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: PRIMARY_ARN, type: 'instance' }, deps())).resolves.toMatchObject({ shareCopy: { status: 'copying' } });
    expect(primaryRds).not.toHaveReceivedCommand(CopyDBSnapshotCommand);

    primaryRds.reset();
    primaryRds.on(DescribeDBSnapshotsCommand).resolvesOnce({ DBSnapshots: [] }).resolves({ DBSnapshots: [theShare({ Status: 'copying', PercentProgress: 50 })] });
    primaryRds.on(CopyDBSnapshotCommand).rejects(new DBSnapshotAlreadyExistsFault({ message: 'exists', $metadata: {} }));
    await expect(handleCopyEvent({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: PRIMARY_ARN, type: 'instance' }, deps())).resolves.toMatchObject({ shareCopy: { status: 'copying', percentProgress: 50 } });
  });

  it('refuses a snapshot by the share copy\'s name that is not this backup\'s, and a failed share copy', async () => {
    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare({ TagList: tags('20261121T030000Z-zzzzzzzz') })] });
    await expect(handleCopyEvent({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: PRIMARY_ARN, type: 'instance' }, deps())).rejects.toMatchObject({
      name: 'BackupConflictError',
      message: `A snapshot named ${SHARE} exists in ${PRIMARY} and is not backup orders-db/${BACKUP}'s share copy`,
    });
    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare({ Status: 'failed' })] });
    await expect(handleCopyEvent({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: PRIMARY_ARN, type: 'instance' }, deps())).rejects.toMatchObject({ name: 'SnapshotFailedError' });
  });

  it('copies an Aurora or DocumentDB cluster snapshot with CopyDBClusterSnapshot', async () => {
    const clusterArn = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:cluster-snapshot:${NAME}`;
    const cluster = (identifier: string, arn: string, status: string): DBClusterSnapshot => ({ DBClusterSnapshotIdentifier: identifier, DBClusterSnapshotArn: arn, Status: status, PercentProgress: 0, SnapshotType: 'manual', TagList: tags() });
    drRds.on(CopyDBClusterSnapshotCommand).resolves({ DBClusterSnapshot: cluster(NAME, `arn:aws:rds:${DR}:${ACCOUNT}:cluster-snapshot:${NAME}`, 'creating') });
    primaryRds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    primaryRds.on(CopyDBClusterSnapshotCommand).resolves({ DBClusterSnapshot: cluster(SHARE, `arn:aws:rds:${PRIMARY}:${ACCOUNT}:cluster-snapshot:${SHARE}`, 'creating') });
    await handleCopyEvent({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: clusterArn, type: 'cluster' }, deps());
    expect(primaryRds).toHaveReceivedCommandExactlyOnceWith(CopyDBClusterSnapshotCommand, { SourceDBClusterSnapshotIdentifier: clusterArn, TargetDBClusterSnapshotIdentifier: SHARE, KmsKeyId: VAULT_KEY, CopyTags: true });
  });
});

describe('describe-snapshot-copy with share copies', () => {
  const copy = { sourceId: 'orders-db', backupId: BACKUP, type: 'instance' as const, sourceSnapshotArn: PRIMARY_ARN, snapshotIdentifier: NAME };

  it('is available only once both copies are: the DR copy ready first waits for the share copy, at its progress', async () => {
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare({ Status: 'copying', PercentProgress: 60 })] });
    await expect(handleCopyEvent({ action: 'describe-snapshot-copy', copy }, deps())).resolves.toMatchObject({ status: 'copying', percentProgress: 60, shareCopy: { status: 'copying' } });

    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare()] });
    await expect(handleCopyEvent({ action: 'describe-snapshot-copy', copy }, deps())).resolves.toMatchObject({ status: 'available', percentProgress: 100 });

    // The share copy ready first: the DR copy's status stands.
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy({ Status: 'copying', PercentProgress: 20 })] });
    await expect(handleCopyEvent({ action: 'describe-snapshot-copy', copy }, deps())).resolves.toMatchObject({ status: 'copying', percentProgress: 20 });
  });

  it('a share copy that vanished or failed fails the wait, naming it', async () => {
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    await expect(handleCopyEvent({ action: 'describe-snapshot-copy', copy }, deps())).rejects.toMatchObject({
      name: 'SnapshotFailedError',
      message: `The share copy ${SHARE} of source orders-db is not in ${PRIMARY} (deleted while copying?)`,
    });
  });

  it('without share copies, reports the DR copy alone', async () => {
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    const { shareCopy: _none, ...without } = deps();
    const result = await handleCopyEvent({ action: 'describe-snapshot-copy', copy }, without);
    expect(result).toMatchObject({ status: 'available' });
    expect(result).not.toHaveProperty('shareCopy');
    expect(primaryRds).not.toHaveReceivedAnyCommand();
  });
});

describe('copy-backup of a snapshot backup with share copies', () => {
  async function storeSnapshotBackup(): Promise<BackupManifest> {
    const manifest: BackupManifest = {
      format: 'lifeboat-backup', formatVersion: '1.0', backupId: BACKUP, sourceId: 'orders-db', kind: 'snapshot', engine: 'postgresql',
      startedAt: '2026-11-22T03:00:00.000Z', completedAt: '2026-11-22T04:58:00.000Z',
      source: { database: 'orders', serverVersion: '16.4' }, tools: { lifeboat: '0.1.0' }, content: { tables: [] },
      snapshot: { arn: PRIMARY_ARN, identifier: NAME, region: PRIMARY },
    };
    await writeManifest(new S3Store({ client: s3.client, bucket: primaryBucket }), manifest);
    return manifest;
  }
  const old = (days: number, source = 'orders-db', status = 'available') => {
    const time = new Date(NOW.getTime() - days * 86_400_000);
    const backupId = `${time.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z-oldoldol`;
    const identifier = `${shareCopyIdentifierFor(`lifeboat-${source}-${backupId.toLowerCase()}`)}`;
    return snapshot(identifier, `arn:aws:rds:${PRIMARY}:${ACCOUNT}:snapshot:${identifier}`, { TagList: tags(backupId, source), Status: status });
  };

  it('shares the share copy with the vault account before the DR manifest, then deletes share copies older than 3 days (this source\'s only)', async () => {
    const manifest = await storeSnapshotBackup();
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare()] });
    const listed = [theShare(), old(SHARE_COPY_DAYS + 1), old(SHARE_COPY_DAYS - 1), old(SHARE_COPY_DAYS + 2, 'billing-db'), old(SHARE_COPY_DAYS + 3, 'orders-db', 'copying'), snapshot(NAME, PRIMARY_ARN)];
    primaryRds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' }).resolvesOnce({ DBSnapshots: listed.slice(0, 3), Marker: 'm' }).resolves({ DBSnapshots: listed.slice(3) });
    primaryRds.on(ModifyDBSnapshotAttributeCommand).resolves({});
    primaryRds.on(DeleteDBSnapshotCommand).resolves({});

    const result = await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps());

    expect(primaryRds).toHaveReceivedCommandExactlyOnceWith(ModifyDBSnapshotAttributeCommand, { DBSnapshotIdentifier: SHARE, AttributeName: 'restore', ValuesToAdd: [VAULT_ACCOUNT] });
    expect(drRds).not.toHaveReceivedCommand(ModifyDBSnapshotAttributeCommand);
    const deleted = listed[1]!.DBSnapshotIdentifier!;
    expect(primaryRds).toHaveReceivedCommandTimes(DeleteDBSnapshotCommand, 1);
    expect(primaryRds).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: deleted });
    expect(result).toMatchObject({ snapshotSharedWith: VAULT_ACCOUNT, shareCopy: { snapshotIdentifier: SHARE, deleted: [deleted] }, alreadyCopied: false });
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    expect(await readManifest(drStore, 'orders-db', BACKUP)).toEqual({ ...manifest, snapshot: { arn: DR_ARN, identifier: NAME, region: DR } });
  });

  it('waits (SnapshotNotReadyError) while the share copy is not available, sharing nothing and writing no DR manifest', async () => {
    await storeSnapshotBackup();
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    primaryRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: SHARE }).resolves({ DBSnapshots: [theShare({ Status: 'copying', PercentProgress: 70 })] });
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps())).rejects.toMatchObject({
      name: 'SnapshotNotReadyError',
      message: `The share copy ${SHARE} in ${PRIMARY} is copying (70%)`,
    });
    expect(primaryRds).not.toHaveReceivedCommand(ModifyDBSnapshotAttributeCommand);
    expect((await s3.client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: drBucket }))).KeyCount).toBe(0);
  });

  it('shares a cluster share copy with the cluster form', async () => {
    const clusterArn = `arn:aws:rds:${PRIMARY}:${ACCOUNT}:cluster-snapshot:${NAME}`;
    const manifest = await storeSnapshotBackup();
    await writeManifest(new S3Store({ client: s3.client, bucket: primaryBucket }), { ...manifest, snapshot: { arn: clusterArn, identifier: NAME, region: PRIMARY } });
    const cluster = (identifier: string, region: string): DBClusterSnapshot => ({
      DBClusterSnapshotIdentifier: identifier, DBClusterSnapshotArn: `arn:aws:rds:${region}:${ACCOUNT}:cluster-snapshot:${identifier}`, Status: 'available', PercentProgress: 100, SnapshotType: 'manual', TagList: tags(),
    });
    drRds.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: NAME }).resolves({ DBClusterSnapshots: [cluster(NAME, DR)] });
    primaryRds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [cluster(SHARE, PRIMARY)] });
    primaryRds.on(ModifyDBClusterSnapshotAttributeCommand).resolves({});
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps())).resolves.toMatchObject({ snapshotSharedWith: VAULT_ACCOUNT });
    expect(primaryRds).toHaveReceivedCommandExactlyOnceWith(ModifyDBClusterSnapshotAttributeCommand, { DBClusterSnapshotIdentifier: SHARE, AttributeName: 'restore', ValuesToAdd: [VAULT_ACCOUNT] });
  });
});

describe('share copy names', () => {
  it('are the snapshot name and -ag; the vault account\'s copier reads the backup and its own copy\'s name back', () => {
    expect(shareCopyIdentifierFor(NAME)).toBe(SHARE);
    expect(backupOfSharedSnapshotName(SHARE)).toEqual({ sourceId: 'orders-db', backupId: BACKUP, name: NAME });
    expect(backupOfSharedSnapshotName(NAME)).toEqual({ sourceId: 'orders-db', backupId: BACKUP, name: NAME });
    expect(backupOfSharedSnapshotName(`${NAME}-xy`)).toBeUndefined();
    expect(backupOfSharedSnapshotName(`${SHARE}-ag`)).toBeUndefined();
    expect(backupOfSharedSnapshotName('rds:orders-db-2026-11-22-03-00')).toBeUndefined();
  });
});

describe('share copies: the edges', () => {
  const clusterShare = (identifier: string, backupId: string, status = 'available', source = 'orders-db'): DBClusterSnapshot => ({
    DBClusterSnapshotIdentifier: identifier, DBClusterSnapshotArn: `arn:aws:rds:${PRIMARY}:${ACCOUNT}:cluster-snapshot:${identifier}`, Status: status, PercentProgress: 100, SnapshotType: 'manual', TagList: tags(backupId, source),
  });
  const ref = { sourceId: 'orders-db', backupId: BACKUP, type: 'cluster' as const, snapshotIdentifier: NAME };

  it('takes a cluster share copy RDS says exists as the one asked for; passes any other RDS error through; a copy RDS does not describe is a failure', async () => {
    primaryRds.on(DescribeDBClusterSnapshotsCommand).resolvesOnce({ DBClusterSnapshots: [] }).resolves({ DBClusterSnapshots: [clusterShare(SHARE, BACKUP, 'copying')] });
    primaryRds.on(CopyDBClusterSnapshotCommand).rejects(Object.assign(new Error('exists'), { name: 'DBClusterSnapshotAlreadyExistsFault', Code: 'DBClusterSnapshotAlreadyExists' }));
    await expect(requestShareCopy({ ...ref, snapshotArn: PRIMARY_ARN }, shareCopy)).resolves.toMatchObject({ snapshotIdentifier: SHARE, status: 'copying' });

    primaryRds.reset();
    primaryRds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    const refused = Object.assign(new Error('KMS key not accessible'), { name: 'KMSKeyNotAccessibleFault', Code: 'KMSKeyNotAccessibleFault' });
    primaryRds.on(CopyDBClusterSnapshotCommand).rejects(refused);
    await expect(requestShareCopy({ ...ref, snapshotArn: PRIMARY_ARN }, shareCopy)).rejects.toBe(refused);

    primaryRds.on(CopyDBClusterSnapshotCommand).resolves({});
    await expect(requestShareCopy({ ...ref, snapshotArn: PRIMARY_ARN }, shareCopy)).rejects.toMatchObject({
      name: 'SnapshotFailedError',
      message: `RDS accepted the share copy ${SHARE} in ${PRIMARY} but does not describe it`,
    });
  });

  it('names a failed share copy and says it will never be available', async () => {
    primaryRds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [clusterShare(SHARE, BACKUP, 'failed')] });
    await expect(describeShareCopy(ref, shareCopy)).rejects.toMatchObject({
      name: 'SnapshotFailedError',
      message: `The share copy ${SHARE} of source orders-db in ${PRIMARY} is failed; it will never be available`,
    });
  });

  it('tidies cluster share copies over every page, keeping this backup\'s, one exactly at the cut-off, others\' and non-Lifeboat snapshots', async () => {
    const now = new Date(NOW.getTime() + 10 * 86_400_000); // the backup being recorded is itself 10 days old
    const at = (days: number) => new Date(now.getTime() - days * 86_400_000);
    const idAt = (time: Date) => `${time.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z-oldoldol`;
    const shareOf = (backupId: string, source = 'orders-db') => shareCopyIdentifierFor(`lifeboat-${source}-${backupId.toLowerCase()}`);
    const exactly = idAt(at(SHARE_COPY_DAYS));
    const older = idAt(at(SHARE_COPY_DAYS + 1));
    const failedOld = idAt(at(SHARE_COPY_DAYS + 2)).replace('oldoldol', 'failedxx');
    const pages: DBClusterSnapshot[][] = [
      [clusterShare(SHARE, BACKUP), clusterShare(shareOf(exactly), exactly)],
      [clusterShare(shareOf(older), older), clusterShare(shareOf(older, 'billing-db'), older, 'available', 'billing-db'), clusterShare('manual-orders-ag', older)],
      [clusterShare(shareOf(failedOld), failedOld, 'failed')],
    ];
    primaryRds
      .on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: SHARE }).resolves({ DBClusterSnapshots: [clusterShare(SHARE, BACKUP)] })
      .on(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'manual' })
      .resolvesOnce({ DBClusterSnapshots: pages[0], Marker: 'p2' })
      .resolvesOnce({ DBClusterSnapshots: pages[1], Marker: 'p3' })
      .resolves({ DBClusterSnapshots: pages[2] });
    primaryRds.on(ModifyDBClusterSnapshotAttributeCommand).resolves({});
    primaryRds.on(DeleteDBClusterSnapshotCommand).resolves({});

    const result = await shareAndTidy(ref, shareCopy, now);

    expect(result).toEqual({ shared: SHARE, deleted: [shareOf(older), shareOf(failedOld)] });
    expect(primaryRds).toHaveReceivedCommandTimes(DeleteDBClusterSnapshotCommand, 2);
    expect(primaryRds).toHaveReceivedCommandWith(DeleteDBClusterSnapshotCommand, { DBClusterSnapshotIdentifier: shareOf(older) });
    expect(primaryRds).toHaveReceivedCommandWith(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'manual', Marker: 'p3' });
    expect(primaryRds).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
  });
});
