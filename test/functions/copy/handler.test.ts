// The copy Lambda as Lambda loads it: environment read once at import, clients at module scope (mocked here
// for every instance of their class), Powertools metrics on stdout.
import 'aws-sdk-client-mock-vitest/extend';
import { CopyDBSnapshotCommand, DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { serializeManifest, type BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { useHandlerEnvironment } from '../handlerHarness.ts';

const ENV = {
  PRIMARY_VAULT_BUCKET: 'vault-primary',
  DR_VAULT_BUCKET: 'vault-dr',
  DR_REGION: 'eu-central-1',
  DR_VAULT_KEY_ARN: 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd',
  AWS_REGION: 'eu-west-1',
  POWERTOOLS_SERVICE_NAME: 'lifeboat-copy',
  POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
};
const BACKUP = '20261122T030000Z-abcdefgh';
const NAME = `lifeboat-orders-db-${BACKUP.toLowerCase()}`;
const PRIMARY_ARN = `arn:aws:rds:eu-west-1:111122223333:snapshot:${NAME}`;
const DR_ARN = `arn:aws:rds:eu-central-1:111122223333:snapshot:${NAME}`;
const TAGS = [{ Key: 'lifeboat:source', Value: 'orders-db' }, { Key: 'lifeboat:backup-id', Value: BACKUP }];
const context = { functionName: 'lifeboat-copy', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:lifeboat-copy' } as Context;

const rds = mockClient(RDSClient);
const s3 = mockClient(S3Client);
const { metrics } = useHandlerEnvironment(ENV);

beforeEach(() => {
  rds.reset();
  s3.reset();
});

const load = async () => (await import('../../../functions/copy/handler.ts')).handler;

describe('the copy handler', () => {
  it('fails at load naming every missing variable', async () => {
    vi.stubEnv('DR_REGION', '');
    vi.stubEnv('DR_VAULT_KEY_ARN', '');

    await expect(load()).rejects.toThrow('Missing environment variables: DR_REGION, DR_VAULT_KEY_ARN');
  });

  it('refuses a copy limit that is not a positive integer', async () => {
    vi.stubEnv('MAX_SNAPSHOT_COPIES_IN_FLIGHT', 'twenty');

    await expect(load()).rejects.toThrow(/MAX_SNAPSHOT_COPIES_IN_FLIGHT must be a positive integer/);
  });

  it('refuses an air-gapped vault described in part, naming what is missing', async () => {
    vi.stubEnv('AIR_GAP_BUCKET', 'lifeboat-airgap-444455556666-eu-west-1');
    vi.stubEnv('AIR_GAP_KEY_ARN', 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666');

    await expect(load()).rejects.toThrow('The air-gapped vault needs AIR_GAP_BUCKET, AIR_GAP_REGION, AIR_GAP_ACCOUNT, AIR_GAP_KEY_ARN; missing AIR_GAP_REGION, AIR_GAP_ACCOUNT');
  });

  it('copies snapshots in the DR region under the DR key, with the configured limit, and emits SnapshotCopiesInFlight', async () => {
    vi.stubEnv('MAX_SNAPSHOT_COPIES_IN_FLIGHT', '5');
    const inFlight = Array.from({ length: 4 }, (_, i) => ({
      DBSnapshotIdentifier: `lifeboat-other-${i}`, SnapshotType: 'manual', Status: 'copying', PercentProgress: 1,
      TagList: [{ Key: 'lifeboat:source', Value: 'other' }, { Key: 'lifeboat:backup-id', Value: `2026112${i}T030000Z-abcdefgh` }],
    }));
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: inFlight });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    rds.on(CopyDBSnapshotCommand).resolves({ DBSnapshot: { DBSnapshotIdentifier: NAME, DBSnapshotArn: DR_ARN, Status: 'creating', PercentProgress: 0 } });
    const handler = await load();

    const result = await handler({ action: 'copy-snapshot', sourceId: 'orders-db', snapshotArn: PRIMARY_ARN, type: 'instance' }, context);

    expect(result).toMatchObject({ snapshotArn: DR_ARN, region: 'eu-central-1', copiesInFlight: 4 });
    expect(rds).toHaveReceivedCommandWith(CopyDBSnapshotCommand, { KmsKeyId: ENV.DR_VAULT_KEY_ARN, TargetDBSnapshotIdentifier: NAME });
    expect(await rds.call(0).thisValue.config.region()).toBe('eu-central-1');
    expect(metrics()).toContainEqual(expect.objectContaining({ sourceId: 'orders-db', SnapshotCopiesInFlight: 4 }));
  });

  it('records a snapshot backup in the DR vault and emits ReplicationLagSeconds', async () => {
    const manifest: BackupManifest = {
      format: 'lifeboat-backup', formatVersion: '1.0', backupId: BACKUP, sourceId: 'orders-db', kind: 'snapshot', engine: 'postgresql',
      startedAt: '2026-11-22T03:00:00.000Z', completedAt: new Date(Date.now() - 90_000).toISOString(),
      source: { database: 'orders', serverVersion: '16.4' }, tools: { lifeboat: '0.1.0' }, content: { tables: [] },
      snapshot: { arn: PRIMARY_ARN, identifier: NAME, region: 'eu-west-1' },
    };
    const bytes = Buffer.from(serializeManifest(manifest));
    s3.on(GetObjectCommand, { Bucket: 'vault-primary' }).resolves({ Body: { transformToByteArray: async () => new Uint8Array(bytes) } as never, ETag: '"m"' });
    s3.on(GetObjectCommand, { Bucket: 'vault-dr' }).rejects(Object.assign(new Error('no such key'), { name: 'NoSuchKey' }));
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(PutObjectCommand).resolves({});
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [{ DBSnapshotIdentifier: NAME, DBSnapshotArn: DR_ARN, Status: 'available', PercentProgress: 100, TagList: TAGS }] });
    const handler = await load();

    const result = await handler({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, context);

    expect(result).toMatchObject({ kind: 'snapshot', snapshotArn: DR_ARN, alreadyCopied: false });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'vault-dr', SSEKMSKeyId: ENV.DR_VAULT_KEY_ARN });
    const lag = metrics().find((m) => 'ReplicationLagSeconds' in m);
    expect(lag).toMatchObject({ sourceId: 'orders-db' });
    expect(lag!.ReplicationLagSeconds).toBeGreaterThanOrEqual(90);
    expect(lag!.ReplicationLagSeconds).toBeLessThan(150);
  });
});
