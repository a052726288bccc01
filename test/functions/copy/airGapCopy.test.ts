/**
 * The air-gapped copy (docs/air-gapped-vault.md): the primary and DR vaults are real (the local S3 server); the
 * air-gapped vault is another account's bucket, whose policy lets this account only add objects, so it is the one
 * mocked S3 API here. The stand-in answers CopyObject the way S3 does: with the SHA-256 of the bytes it copied,
 * read from the real primary vault.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { createHash, randomBytes } from 'node:crypto';
import { RDSClient } from '@aws-sdk/client-rds';
import { CopyObjectCommand, GetObjectCommand, S3Client, type CopyObjectCommandInput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { copyToAirGap, type AirGapTarget } from '../../../functions/copy/airGapCopy.ts';
import { handleCopyEvent } from '../../../functions/copy/copy.ts';
import type { CopyBackupResult, VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { AirGapCopyUnsupportedError, ChecksumMismatchError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { sampleManifest } from '../vault/fixtures.ts';

const BACKUP = '20261122T053327Z-k3x7q2ab';
const VAULT_ACCOUNT = '444455556666';
const AIR_GAP_KEY = `arn:aws:kms:eu-west-1:${VAULT_ACCOUNT}:key/0a1b2c3d-1111-2222-3333-444455556666`;
const AIR_GAP_BUCKET = `lifeboat-airgap-${VAULT_ACCOUNT}-eu-west-1`;
const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd';

let s3: LocalS3;
let primaryBucket: string;
let drBucket: string;
let primaryStore: S3Store;
const clients: S3Client[] = [];
const airGapClient = new S3Client({ region: 'eu-west-1' });
const airGap = mockClient(airGapClient);

beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await s3?.stop();
});
beforeEach(async () => {
  airGap.reset();
  primaryBucket = await s3.createBucket();
  drBucket = await s3.createBucket();
  primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
  // S3's answer to a copy: the SHA-256 of the object it copied (from the real primary vault), when asked for one.
  airGap.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
    if (input.ChecksumAlgorithm !== 'SHA256') return { CopyObjectResult: { ETag: '"etag"' } };
    const key = decodeURIComponent(input.CopySource!.slice(input.CopySource!.indexOf('/') + 1));
    const object = await s3.client.send(new GetObjectCommand({ Bucket: primaryBucket, Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    return { CopyObjectResult: { ETag: '"etag"', ChecksumSHA256: createHash('sha256').update(bytes).digest('base64') } };
  });
});

const target: AirGapTarget = { client: airGapClient, bucket: AIR_GAP_BUCKET, region: 'eu-west-1', account: VAULT_ACCOUNT, kmsKeyId: AIR_GAP_KEY };

async function storeDump(): Promise<BackupManifest> {
  const payload = randomBytes(64 * 1024);
  await primaryStore.putObject(payloadKey('orders-db', BACKUP), payload);
  const manifest = sampleManifest({
    backupId: BACKUP,
    payload: { ...sampleManifest().payload!, storedBytes: payload.length, sha256: createHash('sha256').update(payload).digest('hex') },
  });
  await writeManifest(primaryStore, manifest);
  await primaryStore.putObject(verificationKey('orders-db', BACKUP, new Date('2026-11-22T05:42:00.000Z')), '{"stand-in":"signed verification result"}');
  return manifest;
}

function deps(): VaultCopyDeps {
  const primaryClient = createS3Client({ endpoint: s3.endpoint });
  const drClient = createS3Client({ endpoint: s3.endpoint });
  clients.push(primaryClient, drClient);
  return {
    primary: { client: primaryClient, bucket: primaryBucket },
    dr: { client: drClient, bucket: drBucket, region: 'eu-central-1', kmsKeyId: DR_KEY },
    drRds: new RDSClient({ region: 'eu-central-1' }),
    now: () => new Date('2026-11-22T05:50:00.000Z'),
    airGap: target,
  };
}

const expectedCopy = (key: string, checksum: boolean) => ({
  Bucket: AIR_GAP_BUCKET,
  Key: key,
  CopySource: `${primaryBucket}/${key}`,
  ExpectedBucketOwner: VAULT_ACCOUNT,
  ServerSideEncryption: 'aws:kms',
  SSEKMSKeyId: AIR_GAP_KEY,
  BucketKeyEnabled: true,
  MetadataDirective: 'COPY',
  ...(checksum ? { ChecksumAlgorithm: 'SHA256' } : {}),
});

describe('copy-backup with an air-gapped vault', () => {
  it('after the DR copy, copies payload, verification results and manifest there, in that order, proving the payload by S3\'s own SHA-256', async () => {
    const manifest = await storeDump();
    const result = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps())) as CopyBackupResult;

    expect(result.alreadyCopied).toBe(false);
    expect(result.airGap).toEqual({ bucket: AIR_GAP_BUCKET, region: 'eu-west-1', objectsCopied: 3, payloadSha256: [manifest.payload!.sha256] });
    const sent = airGap.commandCalls(CopyObjectCommand).map((call) => call.args[0].input);
    expect(sent).toEqual([
      expectedCopy(payloadKey('orders-db', BACKUP), true),
      expectedCopy(verificationKey('orders-db', BACKUP, new Date('2026-11-22T05:42:00.000Z')), false),
      expectedCopy(manifestKey('orders-db', BACKUP), false),
    ]);
    // Only adds: nothing else is asked of the vault account's bucket (its policy would deny it anyway).
    expect(airGap.calls()).toHaveLength(3);
  });

  it('copies to the air-gapped vault again when a retried copy finds the DR copy already made', async () => {
    await storeDump();
    await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps());
    airGap.resetHistory();
    const retried = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps())) as CopyBackupResult;
    expect(retried.alreadyCopied).toBe(true);
    expect(retried.airGap?.objectsCopied).toBe(3);
    expect(airGap.commandCalls(CopyObjectCommand)).toHaveLength(3);
  });

  it('refuses a copy whose SHA-256 is not the manifest\'s, and never copies the manifest', async () => {
    const manifest = await storeDump();
    airGap.on(CopyObjectCommand).resolves({ CopyObjectResult: { ChecksumSHA256: createHash('sha256').update('something else').digest('base64') } });
    const error = await copyToAirGap(manifest, { bucket: primaryBucket, verifications: [] }, target).then(() => new Error("no error"), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toMatch(new RegExp(`records ${manifest.payload!.sha256}; the manifest was not copied`));
    expect(airGap.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.Key)).toEqual([payloadKey('orders-db', BACKUP)]);
  });

  it('names the vault account and region when S3 refuses (a bucket of that name owned by another account is a 403)', async () => {
    const manifest = await storeDump();
    airGap.on(CopyObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    const error = await copyToAirGap(manifest, { bucket: primaryBucket, verifications: [] }, target).then(() => new Error("no error"), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect(error.message).toBe(
      `Copying ${payloadKey('orders-db', BACKUP)} from s3://${primaryBucket} to the air-gapped vault s3://${AIR_GAP_BUCKET} (account ${VAULT_ACCOUNT}, eu-west-1) failed: AccessDenied: Access Denied`,
    );
  });

  it('does not take a payload object above 5 GiB, and says what to do, before copying anything', async () => {
    const manifest = sampleManifest({ backupId: BACKUP, payload: { ...sampleManifest().payload!, storedBytes: 6 * 1024 ** 3 } });
    const error = await copyToAirGap(manifest, { bucket: primaryBucket, verifications: [] }, target).then(() => new Error("no error"), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(AirGapCopyUnsupportedError);
    expect(error.message).toMatch(/payload: 6442450944 bytes.*Dump with more --jobs/);
    expect(airGap.calls()).toHaveLength(0);
  });
});

describe('the air-gapped copy against the clock', () => {
  it('copies payload objects several at a time', async () => {
    const parts = ['payload.pre-data', 'payload.data-1', 'payload.data-2', 'payload.post-data'];
    let inFlight = 0;
    let most = 0;
    airGap.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight -= 1;
      const part = parts.find((p) => input.Key!.endsWith(`/${p}`));
      return { CopyObjectResult: { ChecksumSHA256: part ? createHash('sha256').update(part).digest('base64') : undefined } };
    });
    const manifest = { ...sampleManifest({ backupId: BACKUP }), payload: undefined } as unknown as BackupManifest;
    const withParts = {
      ...manifest,
      payload: {
        key: 'payload',
        format: 'pg_dump-custom-parts',
        rawBytes: 4,
        storedBytes: 4,
        sha256: 'unused',
        parts: parts.map((key) => ({ key, section: key.includes('data-') ? 'data' : key.slice('payload.'.length), rawBytes: 1, storedBytes: 1, sha256: createHash('sha256').update(key).digest('hex') })),
      },
    } as unknown as BackupManifest;
    const result = await copyToAirGap(withParts, { bucket: primaryBucket, verifications: [] }, target, { concurrency: 2 });
    expect(result.objectsCopied).toBe(5);
    expect(most).toBe(2);
  });

  it('starts no copy once the time is nearly up, and stops with CopyInterruptedError before the manifest', async () => {
    const manifest = await storeDump();
    const error = await copyToAirGap(manifest, { bucket: primaryBucket, verifications: [] }, target, { outOfTime: () => true }).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    expect(error.name).toBe('CopyInterruptedError');
    expect(error.message).toMatch(/the runner's time is nearly up\. The DR copy is complete; a rerun copies to the air-gapped vault again\./);
    expect(airGap.calls()).toHaveLength(0);
  });
});
