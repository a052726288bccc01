/**
 * Reading a backup that lifecycle moved to Deep Archive or Flexible Retrieval: the store starts one restore from
 * archive (Standard tier), recognises one already running, and says when the object can be read, as a named
 * error that is not a verdict. S3's archive answers come from a mocked client: s3rver has no storage classes.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { GetObjectCommand, HeadObjectCommand, InvalidObjectState, RestoreObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArchiveRestoreInProgressError } from '../../../functions/lib/errors.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';

const BUCKET = 'lifeboat-123456789012-eu-west-1';
const KEY = 'backups/orders-db/20260101T020000.000Z/payload.zst.enc';

function archived(storageClass: 'DEEP_ARCHIVE' | 'GLACIER') {
  return new InvalidObjectState({ message: 'The operation is not valid for the object\'s storage class', $metadata: { httpStatusCode: 403 }, StorageClass: storageClass });
}

async function failureOf(promise: Promise<unknown>): Promise<ArchiveRestoreInProgressError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArchiveRestoreInProgressError);
  return error as ArchiveRestoreInProgressError;
}

describe('S3Store: archived payloads', () => {
  const s3 = mockClient(S3Client);
  const store = new S3Store({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET, prefix: 'vault' });
  beforeEach(() => {
    s3.reset();
  });

  it('Deep Archive, no restore yet: starts exactly one Standard restore for 7 days and says ready in ~12 hours', async () => {
    s3.on(GetObjectCommand).rejects(archived('DEEP_ARCHIVE'));
    s3.on(HeadObjectCommand).resolves({ StorageClass: 'DEEP_ARCHIVE', ContentLength: 1234 });
    s3.on(RestoreObjectCommand).resolves({});

    const error = await failureOf(store.getStream(KEY));

    expect(s3).toHaveReceivedCommandTimes(RestoreObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(RestoreObjectCommand, {
      Bucket: BUCKET,
      Key: `vault/${KEY}`,
      RestoreRequest: { Days: 7, GlacierJobParameters: { Tier: 'Standard' } },
    });
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: BUCKET, Key: `vault/${KEY}` });
    expect(error.name).toBe('ArchiveRestoreInProgressError');
    expect(error.details).toEqual({ key: KEY, storageClass: 'DEEP_ARCHIVE', tier: 'Standard', readyInHours: 12, startedNow: true });
    expect(error.message).toBe(
      `${KEY} in s3://${BUCKET}/vault is in S3 Glacier Deep Archive: being restored from archive now (Standard retrieval), ready in ~12 hours and readable for 7 days after. Nothing was read or judged; run this again then.`,
    );
  });

  it('a restore already running (Restore: ongoing-request="true"): starts no second one and says so', async () => {
    s3.on(GetObjectCommand).rejects(archived('DEEP_ARCHIVE'));
    s3.on(HeadObjectCommand).resolves({ StorageClass: 'DEEP_ARCHIVE', Restore: 'ongoing-request="true"' });

    const error = await failureOf(store.getObject(KEY));

    expect(s3).toHaveReceivedCommandTimes(RestoreObjectCommand, 0);
    expect(error.details.startedNow).toBe(false);
    expect(error.message).toContain('is being restored from archive (a restore started earlier is still running): ready within ~12 hours of its start');
  });

  it('another reader started it between HeadObject and RestoreObject (RestoreAlreadyInProgress): the same outcome, not a failure', async () => {
    s3.on(GetObjectCommand).rejects(archived('DEEP_ARCHIVE'));
    s3.on(HeadObjectCommand).resolves({ StorageClass: 'DEEP_ARCHIVE' });
    s3.on(RestoreObjectCommand).rejects(Object.assign(new Error('Object restore is already in progress'), { name: 'RestoreAlreadyInProgress' }));

    const error = await failureOf(store.getStream(KEY));

    expect(error.details).toMatchObject({ startedNow: false, readyInHours: 12 });
  });

  it('Flexible Retrieval: ~5 hours at Standard; Bulk when configured: ~12 hours', async () => {
    s3.on(GetObjectCommand).rejects(archived('GLACIER'));
    s3.on(HeadObjectCommand).resolves({ StorageClass: 'GLACIER' });
    s3.on(RestoreObjectCommand).resolves({});

    expect((await failureOf(store.getStream(KEY))).details).toMatchObject({ storageClass: 'GLACIER', tier: 'Standard', readyInHours: 5 });
    const bulk = new S3Store({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET, archiveRestore: { tier: 'Bulk', days: 2 } });
    const error = await failureOf(bulk.getStream(KEY));
    expect(error.details).toMatchObject({ tier: 'Bulk', readyInHours: 12 });
    expect(error.message).toContain('S3 Glacier Flexible Retrieval');
    expect(s3).toHaveReceivedCommandWith(RestoreObjectCommand, { Bucket: BUCKET, Key: KEY, RestoreRequest: { Days: 2, GlacierJobParameters: { Tier: 'Bulk' } } });
  });

  it('a role without s3:RestoreObject gets S3\'s own AccessDenied, not a promise of a restore', async () => {
    s3.on(GetObjectCommand).rejects(archived('DEEP_ARCHIVE'));
    s3.on(HeadObjectCommand).resolves({ StorageClass: 'DEEP_ARCHIVE' });
    s3.on(RestoreObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));

    await expect(store.getStream(KEY)).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('refuses an archiveRestore.days that is not a positive whole number', () => {
    expect(() => new S3Store({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET, archiveRestore: { days: 0 } })).toThrow('S3Store archiveRestore.days must be a positive integer, got 0');
  });
});
