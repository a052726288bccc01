// The snapshot Lambda as Lambda loads it: environment read once at import, clients at module scope (mocked
// here for every instance of their class), Powertools metrics and logs on stdout.
import 'aws-sdk-client-mock-vitest/extend';
import { CreateDBSnapshotCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { useHandlerEnvironment } from '../handlerHarness.ts';

const SOURCES = [{ id: 'orders-db', engine: 'postgresql', database: 'orders', rds: { type: 'instance', identifier: 'orders-prod' }, policy: 'keep-last=7 days=35 gfs=7/4/12/0' }];
const ENV = {
  VAULT_BUCKET: 'vault-primary',
  VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd',
  LIFEBOAT_SOURCES: JSON.stringify(SOURCES),
  AWS_REGION: 'eu-west-1',
  POWERTOOLS_SERVICE_NAME: 'lifeboat-snapshot',
  POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
};
const BACKUP = '20261122T053327Z-k3x7q2ab';
const NAME = `lifeboat-orders-db-${BACKUP.toLowerCase()}`;
const ARN = `arn:aws:rds:eu-west-1:111122223333:snapshot:${NAME}`;
const context = { functionName: 'lifeboat-snapshot', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:lifeboat-snapshot' } as Context;

const rds = mockClient(RDSClient);
const s3 = mockClient(S3Client);
const { metrics } = useHandlerEnvironment(ENV);

beforeEach(() => {
  rds.reset();
  s3.reset();
});

const load = async () => (await import('../../../functions/snapshot/handler.ts')).handler;

describe('the snapshot handler', () => {
  it('fails at load naming every missing variable', async () => {
    vi.stubEnv('VAULT_BUCKET', '');
    vi.stubEnv('LIFEBOAT_SOURCES', '');

    await expect(load()).rejects.toThrow('Missing environment variables: VAULT_BUCKET, LIFEBOAT_SOURCES');
  });

  it('fails at load on a source whose id cannot name a snapshot', async () => {
    vi.stubEnv('LIFEBOAT_SOURCES', JSON.stringify([{ ...SOURCES[0], id: 'orders--db' }]));

    await expect(load()).rejects.toThrow(/LIFEBOAT_SOURCES: 0\.id: .*"--"/);
  });

  it('creates a snapshot and emits SnapshotStarted for the source', async () => {
    rds.on(CreateDBSnapshotCommand).resolves({ DBSnapshot: { DBSnapshotIdentifier: NAME, DBSnapshotArn: ARN, Status: 'creating', PercentProgress: 0 } });
    const handler = await load();

    const result = await handler({ action: 'create', sourceId: 'orders-db', backupId: BACKUP }, context);

    expect(result).toMatchObject({ snapshotIdentifier: NAME, snapshotArn: ARN, region: 'eu-west-1', status: 'creating' });
    expect(rds).toHaveReceivedCommandWith(CreateDBSnapshotCommand, { DBSnapshotIdentifier: NAME, DBInstanceIdentifier: 'orders-prod' });
    expect(metrics()).toContainEqual(expect.objectContaining({ sourceId: 'orders-db', SnapshotStarted: 1 }));
  });

  it('records an available snapshot in the vault bucket under the vault key and emits SnapshotRecorded', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [{
        DBSnapshotIdentifier: NAME, DBSnapshotArn: ARN, Status: 'available', PercentProgress: 100, EngineVersion: '16.4',
        TagList: [{ Key: 'lifeboat:source', Value: 'orders-db' }, { Key: 'lifeboat:backup-id', Value: BACKUP }],
      }],
    });
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('no such key'), { name: 'NoSuchKey' }));
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(PutObjectCommand).resolves({});
    const handler = await load();
    const snapshot = { sourceId: 'orders-db', backupId: BACKUP, type: 'instance', snapshotIdentifier: NAME, snapshotArn: ARN, region: 'eu-west-1', startedAt: '2026-11-22T05:33:27.000Z' };

    const result = await handler({ action: 'record', snapshot }, context);

    expect(result).toMatchObject({ kind: 'snapshot', alreadyRecorded: false });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'vault-primary',
      Key: `backups/orders-db/${BACKUP}/manifest.json`,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: ENV.VAULT_KEY_ARN,
    });
    expect(metrics()).toContainEqual(expect.objectContaining({ sourceId: 'orders-db', SnapshotRecorded: 1 }));
  });

  it('lets named errors out with their name, for the state machine to match', async () => {
    const handler = await load();

    await expect(handler({ action: 'create', sourceId: 'nope' }, context)).rejects.toMatchObject({ name: 'ConfigError' });
  });
});
