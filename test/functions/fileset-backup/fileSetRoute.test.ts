/**
 * The file-set route's cores on their own, against the local S3 server: the backup function giving up before its
 * runner's end, the verification refusing to make a verdict of a wrong key, the DR copy's order, refusal and
 * resumption, and retention over both vaults (newest verified kept, a locked snapshot kept with its packs).
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSet } from '../../../functions/copy/fileSetCopy.ts';
import type { VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import { backUpFileSet, FileSetSourceSchema, type FileSetBackupDeps } from '../../../functions/fileset-backup/backup.ts';
import { kmsKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { listFileSetSnapshots, scanSnapshots } from '../../../functions/lib/fileset/catalog.ts';
import { chunkIdKeyKey, packsPrefix, snapshotPrefix } from '../../../functions/lib/fileset/format.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../../functions/lib/vault/verification.ts';
import { verifyFileSetSnapshot } from '../../../functions/lib/verify/fileSet.ts';
import { pruneSource, type PruneDeps } from '../../../functions/prune/prune.ts';
import { testKeyring } from '../engine/helpers.ts';
import { fakeKms } from '../../harness/kms.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';

const SOURCE = 'uploads';
const DAY = 24 * 3_600_000;
let s3: LocalS3;

beforeAll(async () => {
  s3 = await startLocalS3();
}, 60_000);
afterAll(async () => {
  await s3?.stop();
});

async function sourceBucket(count: number): Promise<string> {
  const bucket = await s3.createBucket();
  for (let i = 0; i < count; i++) await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `media/file-${i}.bin`, Body: randomBytes(40_000) }));
  return bucket;
}

function backupDeps(bucket: string, store: S3Store, keyring = testKeyring('k-route'), extra: Partial<FileSetBackupDeps> = {}): FileSetBackupDeps {
  return { sources: [FileSetSourceSchema.parse({ id: SOURCE, kind: 'fileset', s3: { bucket, prefix: 'media/' } })], s3: s3.client, store, keyring, packBytes: 64 * 1024, ...extra };
}

async function keys(store: S3Store, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const key of store.list(prefix)) found.push(key);
  return found;
}

describe('the file-set backup function', () => {
  it('returns the snapshot as the state machine keeps a backup, and refuses a source it does not back up', async () => {
    const store = new S3Store({ client: s3.client, bucket: await s3.createBucket() });
    const deps = backupDeps(await sourceBucket(5), store);
    const result = await backUpFileSet({ sourceId: SOURCE, trigger: 'schedule' }, deps);
    expect(result).toMatchObject({ sourceId: SOURCE, kind: 'fileset', rawBytes: 200_000, files: 5, filesRead: 5, filesReused: 0, skipped: 0 });
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.newPacks).toBeGreaterThan(1);
    await expect(backUpFileSet({ sourceId: 'orders-db' }, deps)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining("unknown source 'orders-db'; this function backs up uploads") });
  });

  it('says when it did not build on the newest snapshot because that one is sealed under fewer keys (the air-gapped key was added)', async () => {
    const store = new S3Store({ client: s3.client, bucket: await s3.createBucket() });
    const bucket = await sourceBucket(3);
    const vaultKey = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    const airGapKey = 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666';
    const clientProvider = fakeKms();
    const first = await backUpFileSet({ sourceId: SOURCE }, backupDeps(bucket, store, kmsKeyring({ keyIds: [vaultKey], clientProvider })));
    expect(first.parentNotReused).toBeUndefined();
    const widened = backupDeps(bucket, store, kmsKeyring({ keyIds: [vaultKey, airGapKey], clientProvider }), { now: () => new Date(Date.now() + 60_000) });
    const second = await backUpFileSet({ sourceId: SOURCE }, widened);
    expect(second).toMatchObject({ filesRead: 3, filesReused: 0, parentNotReused: expect.stringMatching(new RegExp(`^${first.backupId} was written under KMS key\\(s\\) ${vaultKey}, not every key of`)) });
    const third = await backUpFileSet({ sourceId: SOURCE }, { ...widened, now: () => new Date(Date.now() + 120_000) });
    expect(third).toMatchObject({ filesRead: 0, filesReused: 3 });
    expect(third.parentNotReused).toBeUndefined();
  });

  it('gives up with OutOfTimeError after a pack once too little time is left: no snapshot, and the next run completes on its own', async () => {
    const store = new S3Store({ client: s3.client, bucket: await s3.createBucket() });
    const bucket = await sourceBucket(8);
    let left = 600_000;
    const deps = backupDeps(bucket, store, testKeyring('k-route'), { remainingMs: () => left, stopMarginMs: 90_000 });
    left = 30_000;
    await expect(backUpFileSet({ sourceId: SOURCE }, deps)).rejects.toMatchObject({
      name: 'OutOfTimeError',
      message: expect.stringMatching(/^File set uploads stopped with 30 s left of the runner's time, after storing 1 new pack\(s\): no snapshot was written/),
    });
    expect(await scanSnapshots(store, SOURCE)).toMatchObject({ complete: [] });
    left = 600_000;
    const done = await backUpFileSet({ sourceId: SOURCE }, deps);
    expect(done).toMatchObject({ files: 8, filesRead: 8 });
  });
});

describe('the verification of a file-set snapshot', () => {
  it('writes a signed result in the snapshot folder, and makes no verdict of a key that cannot unwrap an intact pack', async () => {
    const store = new S3Store({ client: s3.client, bucket: await s3.createBucket() });
    const keyring = testKeyring('k-verify');
    const { backupId } = await backUpFileSet({ sourceId: SOURCE }, backupDeps(await sourceBucket(3), store, keyring));
    const signer = localHmacSigner(randomBytes(32));
    const verified = await verifyFileSetSnapshot({ store, keyring, sourceId: SOURCE, backupId, signer, readDataPercent: 0 });
    expect(verified.key.startsWith(`${snapshotPrefix(SOURCE, backupId)}verifications/`)).toBe(true);
    expect(verified.result).toMatchObject({ status: 'verified', checks: [{ name: 'checksum', status: 'passed' }, { name: 'decrypt', status: 'passed' }, { name: 'structure', status: 'passed', reason: expect.stringMatching(/^\d+ of \d+ packs? read in full/) }] });
    expect(verified.verification.packsRead).toBe(verified.verification.packs);

    await expect(verifyFileSetSnapshot({ store, keyring: testKeyring('k-another'), sourceId: SOURCE, backupId, signer })).rejects.toMatchObject({ name: 'WrongKeyError' });
    // Nothing was recorded by the refused run: still the one verified result.
    expect(await keys(store, `${snapshotPrefix(SOURCE, backupId)}verifications/`)).toEqual([verified.key]);
    await expect(verifyFileSetSnapshot({ store, keyring, sourceId: SOURCE, backupId: '20990101T000000Z-aaaaaaaa' })).rejects.toMatchObject({ name: 'BackupNotFoundError' });
  });
});

describe('the DR copy of a file-set snapshot', () => {
  async function setUp() {
    const [primaryBucket, drBucket] = [await s3.createBucket(), await s3.createBucket()];
    const primary = new S3Store({ client: s3.client, bucket: primaryBucket });
    const dr = new S3Store({ client: s3.client, bucket: drBucket });
    const deps: VaultCopyDeps = {
      primary: { client: s3.client, bucket: primaryBucket },
      dr: { client: s3.client, bucket: drBucket, region: 'eu-central-1', kmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/mrk-5678efgh' },
      drRds: new RDSClient({ region: 'eu-central-1' }),
    };
    return { primary, dr, deps, keyring: testKeyring('k-copy') };
  }

  it('copies the chunk-id key, the packs, then the snapshot; resumes where an interrupted run stopped; a rerun copies nothing', async () => {
    const { primary, dr, deps, keyring } = await setUp();
    const { backupId } = await backUpFileSet({ sourceId: SOURCE }, backupDeps(await sourceBucket(6), primary, keyring));
    const packs = await keys(primary, packsPrefix(SOURCE));
    expect(packs.length).toBeGreaterThan(2);

    // Out of time before the first pack: nothing of the snapshot itself is in the DR vault, only the key.
    await expect(copyFileSet({ sourceId: SOURCE, backupId }, { ...deps, remainingTimeMs: () => 10_000 })).rejects.toMatchObject({ name: 'CopyInterruptedError' });
    expect(await listFileSetSnapshots(dr, SOURCE)).toEqual([]);
    expect(await keys(dr, snapshotPrefix(SOURCE, backupId))).toEqual([]);

    const copied = await copyFileSet({ sourceId: SOURCE, backupId }, deps);
    expect(copied).toMatchObject({ kind: 'fileset', alreadyCopied: false, packsCopied: packs.length, verificationsCopied: 0 });
    expect(await keys(dr, packsPrefix(SOURCE))).toEqual(packs);
    expect(await listFileSetSnapshots(dr, SOURCE)).toEqual(await listFileSetSnapshots(primary, SOURCE));
    expect(await copyFileSet({ sourceId: SOURCE, backupId }, deps)).toMatchObject({ alreadyCopied: true, packsCopied: 0 });
  });

  it('refuses a DR vault holding another chunk-id key for the source, and a snapshot that is not complete', async () => {
    const { primary, deps, keyring } = await setUp();
    const { backupId } = await backUpFileSet({ sourceId: SOURCE }, backupDeps(await sourceBucket(2), primary, keyring));
    await s3.client.send(new PutObjectCommand({ Bucket: deps.dr.bucket, Key: chunkIdKeyKey(SOURCE), Body: randomBytes(200) }));
    await expect(copyFileSet({ sourceId: SOURCE, backupId }, deps)).rejects.toMatchObject({ name: 'BackupConflictError', message: expect.stringContaining('another chunk-id key for file set uploads') });
    await s3.client.send(new DeleteObjectCommand({ Bucket: deps.primary.bucket, Key: `${snapshotPrefix(SOURCE, backupId)}manifest.json` }));
    await expect(copyFileSet({ sourceId: SOURCE, backupId }, deps)).rejects.toMatchObject({ name: 'BackupNotFoundError' });
  });
});

describe('retention of a file set over both vaults', () => {
  it('deletes snapshots outside the policy and the packs only they referred to, keeps the newest verified one and a locked one with its packs', async () => {
    const primaryBucket = await s3.createBucket();
    const primary = new S3Store({ client: s3.client, bucket: primaryBucket });
    const keyring = testKeyring('k-prune');
    const signer = localHmacSigner(randomBytes(32));
    const bucket = await sourceBucket(3);
    const t0 = Date.parse('2026-11-01T03:00:00Z');
    const ids: string[] = [];
    for (let day = 0; day < 4; day++) {
      // Each backup rewrites one object, so each snapshot has a pack of its own.
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'media/file-0.bin', Body: randomBytes(40_000) }));
      const result = await backUpFileSet({ sourceId: SOURCE }, backupDeps(bucket, primary, keyring, { now: () => new Date(t0 + day * DAY) }));
      ids.push(result.backupId);
    }
    // Only the oldest snapshot was verified; the second is under Object Lock.
    await verifyFileSetSnapshot({ store: primary, keyring, sourceId: SOURCE, backupId: ids[0]!, signer, now: () => new Date(t0 + DAY / 2) });
    const deps: PruneDeps = {
      sources: [{ id: SOURCE, kind: 'fileset', timeZone: 'UTC', retention: { days: 1, keepLast: 1, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: primary, keyring, readProtection: async ({ backupId }) => (backupId === ids[1] ? { objectLockUntil: new Date(Date.now() + 400 * DAY) } : undefined) }],
      rds: {},
      authenticator: signer,
      // Snapshots complete at the real time (their ids carry t0 + day): ten days after they all did.
      now: () => new Date(Date.now() + 10 * DAY),
    };
    const summary = await pruneSource({ sourceId: SOURCE }, deps);
    expect(summary).toMatchObject({ sourceId: SOURCE, deleted: 1, protected: 1, kept: 2, errors: [] });
    const [report] = summary.reports;
    expect(report!.deleted.map((d) => d.id)).toEqual([ids[2]]);
    expect(report!.kept.map((k) => [k.id, k.reasons[0]])).toEqual([[ids[3], 'keep-last 1/1'], [ids[0], 'newest verified']]);
    expect(report!.protected.map((p) => p.id)).toEqual([ids[1]]);
    expect((await listFileSetSnapshots(primary, SOURCE)).map((m) => m.backupId)).toEqual([ids[0], ids[1], ids[3]]);
    // Every remaining snapshot still verifies in full: no pack it needs was deleted.
    for (const id of [ids[0]!, ids[1]!, ids[3]!]) {
      expect((await verifyFileSetSnapshot({ store: primary, keyring, sourceId: SOURCE, backupId: id, readDataPercent: 100 })).result.status).toBe('verified');
    }
    expect((await keys(primary, packsPrefix(SOURCE))).some((key) => key.includes(ids[2]!))).toBe(false);

    // A forged result stops deletions for the source instead of counting.
    await s3.client.send(new PutObjectCommand({ Bucket: primaryBucket, Key: `${snapshotPrefix(SOURCE, ids[3]!)}verifications/20991231T235959.999Z.json`, Body: '{"format":"lifeboat-verification"}' }));
    const blocked = await pruneSource({ sourceId: SOURCE }, deps);
    expect(blocked.deleted).toBe(0);
    expect(blocked.errors[0]).toMatch(/read-verification: VerificationResultInvalidError/);
    expect(await readLatestVerification(primary, SOURCE, ids[0]!, { folder: snapshotPrefix(SOURCE, ids[0]!) })).toMatchObject({ status: 'verified' });
  });
});
