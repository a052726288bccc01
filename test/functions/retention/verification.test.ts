import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectLegalHoldCommand, GetObjectRetentionCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isObjectLockRefusal, s3ObjectLockReader } from '../../../functions/lib/retention/objectLock.ts';
import { readLatestVerification } from '../../../functions/lib/retention/verification.ts';
import { verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { sampleVerification } from '../vault/fixtures.ts';
import { storeBackup } from './vault.ts';

const SOURCE = 'orders-db';
const BACKUP = '20261120T010000Z-aaaaaaaa';

describe('readLatestVerification', () => {
  let root: string;
  let store: LocalStore;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lifeboat-verification-'));
    store = new LocalStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const write = (at: string, body: string) => store.putObject(verificationKey(SOURCE, BACKUP, new Date(at)), body);
  const result = (at: string, status: 'verified' | 'failed', reason?: string) =>
    sampleVerification({ sourceId: SOURCE, backupId: BACKUP, status, at: new Date(at), ...(reason ? { reason } : {}) });

  it('is unverified when the backup has no verification result', async () => {
    await storeBackup(store, SOURCE, BACKUP);
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({ status: 'unverified' });
  });

  it('takes the newest result: a later failure overrides an earlier success, and the other way round', async () => {
    await write('2026-11-20T02:00:00.000Z', JSON.stringify(result('2026-11-20T02:00:00.000Z', 'verified')));
    const failure = result('2026-11-20T02:00:00.001Z', 'failed', 'row count differs');
    await write('2026-11-20T02:00:00.001Z', JSON.stringify(failure));
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({
      status: 'failed',
      key: verificationKey(SOURCE, BACKUP, new Date('2026-11-20T02:00:00.001Z')),
      result: failure,
      authenticated: false,
    });

    await write('2026-11-21T00:00:00.000Z', JSON.stringify(result('2026-11-21T00:00:00.000Z', 'verified')));
    expect((await readLatestVerification(store, SOURCE, BACKUP)).status).toBe('verified');
  });

  it('ranks a pass completed at the same moment as a failure above it, whichever record name sorts last', async () => {
    const pass = result('2026-11-20T02:00:00.000Z', 'verified');
    const failure = result('2026-11-20T02:00:00.000Z', 'failed', 'row count differs');
    // Written in the same millisecond, the second record is named a millisecond later.
    await write('2026-11-20T02:00:00.000Z', JSON.stringify(pass));
    await write('2026-11-20T02:00:00.001Z', JSON.stringify(failure));
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({
      status: 'verified',
      key: verificationKey(SOURCE, BACKUP, new Date('2026-11-20T02:00:00.000Z')),
      result: pass,
      authenticated: false,
    });
  });

  it("does not take an earlier Lifeboat's failure for the operator's input (wrong key, a check that could not run) as a verdict", async () => {
    const at = (iso: string, status: 'verified' | 'failed') => sampleVerification({ sourceId: SOURCE, backupId: BACKUP, status, at: new Date(iso) });
    await write('2026-11-20T02:00:00.000Z', JSON.stringify(at('2026-11-20T02:00:00.000Z', 'verified')));
    const wrongKey = {
      ...at('2026-11-20T03:00:00.000Z', 'failed'),
      checks: [
        { name: 'checksum', status: 'passed', durationMs: 5 },
        { name: 'decrypt', status: 'failed', reason: "the key given cannot unwrap this backup's data key: it is not the key the backup was encrypted with (Decryption failed: unencryptedDataKey has not been set)", durationMs: 5 },
      ],
      reason: "decrypt: the key given cannot unwrap this backup's data key",
    };
    await write('2026-11-20T03:00:00.000Z', JSON.stringify(wrongKey));
    const erroredCheck = {
      ...at('2026-11-20T04:00:00.000Z', 'failed'),
      checks: [
        { name: 'checksum', status: 'passed', durationMs: 5 },
        { name: 'decrypt', status: 'passed', durationMs: 5 },
        { name: 'sql-checks', status: 'failed', reason: 'check 1 (SELEC 1) failed: syntax error at or near "SELEC"', durationMs: 5 },
      ],
      sqlChecks: [{ sql: 'SELEC 1', status: 'failed', reason: 'check 1 (SELEC 1) failed: syntax error at or near "SELEC"' }],
      reason: 'sql-checks: check 1 (SELEC 1) failed: syntax error at or near "SELEC"',
    };
    await write('2026-11-20T04:00:00.000Z', JSON.stringify(erroredCheck));
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toMatchObject({
      status: 'verified',
      key: verificationKey(SOURCE, BACKUP, new Date('2026-11-20T02:00:00.000Z')),
    });

    // A check that ran and returned false is the backup's verdict.
    const falseCheck = {
      ...erroredCheck,
      completedAt: '2026-11-20T05:00:00.000Z',
      checks: [...erroredCheck.checks.slice(0, 2), { name: 'sql-checks', status: 'failed', reason: 'check 1 (SELECT false) returned 1 row(s) and no first column is true', durationMs: 5 }],
      sqlChecks: [{ sql: 'SELECT false', status: 'failed', reason: 'check 1 (SELECT false) returned 1 row(s) and no first column is true' }],
      reason: 'sql-checks: check 1 (SELECT false) returned 1 row(s) and no first column is true',
    };
    await write('2026-11-20T05:00:00.000Z', JSON.stringify(falseCheck));
    expect((await readLatestVerification(store, SOURCE, BACKUP)).status).toBe('failed');
  });

  it('reports an unknown status or an unreadable record as a problem, never as a silent unverified', async () => {
    await write('2026-11-20T02:00:00Z', JSON.stringify({ ...result('2026-11-20T02:00:00Z', 'verified'), status: 'in-progress' }));
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({
      status: 'unverified',
      key: verificationKey(SOURCE, BACKUP, new Date('2026-11-20T02:00:00Z')),
      problem: expect.stringMatching(/is invalid: status: /) as unknown,
    });

    await write('2026-11-20T03:00:00Z', '{"status":');
    expect((await readLatestVerification(store, SOURCE, BACKUP)).problem).toMatch(/is not valid JSON$/);

    await write('2026-11-20T04:00:00Z', '["verified"]');
    expect((await readLatestVerification(store, SOURCE, BACKUP)).problem).toMatch(/is not a JSON object$/);
  });
});

describe('s3ObjectLockReader', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  const s3Error = (name: string, message: string) =>
    new S3ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: name === 'AccessDenied' ? 403 : 404 } });
  const keys = ['backups/orders-db/x/manifest.json', 'backups/orders-db/x/payload'];

  it('asks for retention and legal hold of every object under the vault prefix, and keeps the latest lock', async () => {
    s3.on(GetObjectRetentionCommand, { Key: 'team/vault/backups/orders-db/x/manifest.json' })
      .resolves({ Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date('2026-12-27T05:41:00Z') } })
      .on(GetObjectRetentionCommand, { Key: 'team/vault/backups/orders-db/x/payload' })
      .resolves({ Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date('2026-12-27T05:33:00Z') } })
      .on(GetObjectLegalHoldCommand, { Key: 'team/vault/backups/orders-db/x/manifest.json' })
      .resolves({ LegalHold: { Status: 'OFF' } })
      .on(GetObjectLegalHoldCommand, { Key: 'team/vault/backups/orders-db/x/payload' })
      .resolves({ LegalHold: { Status: 'ON' } });

    const read = s3ObjectLockReader({ client: new S3Client({}), bucket: 'vault-bucket', prefix: '/team/vault/' });

    expect(await read({ sourceId: 'orders-db', backupId: 'x', keys })).toEqual({
      objectLockUntil: new Date('2026-12-27T05:41:00Z'),
      legalHold: true,
    });
    expect(s3).toHaveReceivedCommandWith(GetObjectRetentionCommand, { Bucket: 'vault-bucket', Key: 'team/vault/backups/orders-db/x/payload' });
    expect(s3).toHaveReceivedCommandWith(GetObjectLegalHoldCommand, { Bucket: 'vault-bucket', Key: 'team/vault/backups/orders-db/x/manifest.json' });
    expect(s3).toHaveReceivedCommandTimes(GetObjectRetentionCommand, 2);
    expect(s3).toHaveReceivedCommandTimes(GetObjectLegalHoldCommand, 2);
  });

  it('counts objects and buckets without Object Lock as unprotected', async () => {
    s3.on(GetObjectRetentionCommand)
      .rejects(s3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration'))
      .on(GetObjectLegalHoldCommand)
      .rejects(s3Error('InvalidRequest', 'Bucket is missing Object Lock Configuration'));

    const read = s3ObjectLockReader({ client: new S3Client({}), bucket: 'vault-bucket' });

    expect(await read({ sourceId: 'orders-db', backupId: 'x', keys })).toEqual({});
    expect(s3).toHaveReceivedCommandWith(GetObjectRetentionCommand, { Bucket: 'vault-bucket', Key: 'backups/orders-db/x/manifest.json' });
  });

  it('lets any other error through, so the backup is left alone rather than assumed free', async () => {
    s3.on(GetObjectRetentionCommand).rejects(s3Error('AccessDenied', 'Access Denied'));
    const read = s3ObjectLockReader({ client: new S3Client({}), bucket: 'vault-bucket' });
    await expect(read({ sourceId: 'orders-db', backupId: 'x', keys })).rejects.toThrow('Access Denied');
  });
});

describe('isObjectLockRefusal', () => {
  const error = (name: string, message: string) => Object.assign(new Error(message), { name });

  it.each([
    [error('AccessDenied', 'Access Denied because object protected by object lock.'), true],
    [error('InvalidRequest', 'Object is WORM protected and cannot be overwritten'), true],
    [Object.assign(new Error('x'), { name: 'S3ServiceException', Code: 'AccessDenied', message: 'protected by Object Lock retention' }), true],
    [error('AccessDenied', 'User is not authorized to perform: s3:DeleteObject'), false],
    [error('StoreWriteFailedError', 'object lock wording but not an S3 refusal'), false],
    ['AccessDenied: object lock', false],
  ])('%s → %s', (candidate, expected) => {
    expect(isObjectLockRefusal(candidate)).toBe(expected);
  });
});
