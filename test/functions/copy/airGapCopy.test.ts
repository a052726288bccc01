/**
 * The air-gapped copy (docs/air-gapped-vault.md): the primary and DR vaults are real (the local S3 server); the
 * air-gapped vault is another account's bucket, whose policy lets this account only add objects, so it is the one
 * mocked S3 API here. The stand-in answers CopyObject the way S3 does: with the SHA-256 of the bytes it copied,
 * read from the real primary vault.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { createHash, randomBytes } from 'node:crypto';
import { RDSClient } from '@aws-sdk/client-rds';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  type CopyObjectCommandInput,
  type UploadPartCopyCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { copyToAirGap, type AirGapTarget } from '../../../functions/copy/airGapCopy.ts';
import { handleCopyEvent } from '../../../functions/copy/copy.ts';
import type { CopyBackupResult, VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { ChecksumMismatchError, ObjectNotFoundError, SizeMismatchError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
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
  airGap.on(CopyObjectCommand).callsFake(s3Copy);
});

/** S3's answer to a copy: the SHA-256 of the object it copied (from the real primary vault), when asked for one. */
async function s3Copy(input: CopyObjectCommandInput) {
  if (input.ChecksumAlgorithm !== 'SHA256') return { CopyObjectResult: { ETag: '"etag"' } };
  const key = decodeURIComponent(input.CopySource!.slice(input.CopySource!.indexOf('/') + 1));
  const object = await s3.client.send(new GetObjectCommand({ Bucket: primaryBucket, Key: key }));
  const bytes = Buffer.from(await object.Body!.transformToByteArray());
  return { CopyObjectResult: { ETag: '"etag"', ChecksumSHA256: createHash('sha256').update(bytes).digest('base64') } };
}

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
    // The payload was proven there by the first run (its record is in the DR vault): only results and manifest again.
    expect(retried.airGap).toMatchObject({ objectsCopied: 2, payloadObjectsAlreadyCopied: 1 });
    expect(airGap.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      verificationKey('orders-db', BACKUP, new Date('2026-11-22T05:42:00.000Z')),
      manifestKey('orders-db', BACKUP),
    ]);
  });

  it('keeps the record of what is proven in the air-gapped vault beside the backup in the DR vault', async () => {
    const manifest = await storeDump();
    await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps());
    const record = await s3.client.send(new GetObjectCommand({ Bucket: drBucket, Key: `backups/orders-db/${BACKUP}/air-gap.json` }));
    expect(JSON.parse(await record.Body!.transformToString())).toEqual({
      version: 1,
      bucket: AIR_GAP_BUCKET,
      account: VAULT_ACCOUNT,
      objects: { [payloadKey('orders-db', BACKUP)]: manifest.payload!.sha256 },
    });
  });

  it('copies everything again when the record is for another air-gapped vault, or does not parse', async () => {
    await storeDump();
    for (const body of [JSON.stringify({ version: 1, bucket: 'another-bucket', account: VAULT_ACCOUNT, objects: { [payloadKey('orders-db', BACKUP)]: 'x' } }), '{not json']) {
      await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps());
      await new S3Store({ client: s3.client, bucket: drBucket }).putObject(`backups/orders-db/${BACKUP}/air-gap.json`, body);
      airGap.resetHistory();
      const retried = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps())) as CopyBackupResult;
      expect(retried.airGap?.objectsCopied).toBe(3);
      expect(retried.airGap).not.toHaveProperty('payloadObjectsAlreadyCopied');
    }
  });

  it('after a run that failed on the manifest, a rerun copies only what is not yet proven', async () => {
    await storeDump();
    // The first run's manifest copy fails (S3 unavailable); everything else as S3 does it.
    let manifestCopies = 0;
    airGap.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
      if (input.Key === manifestKey('orders-db', BACKUP) && manifestCopies++ === 0) throw Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable' });
      return s3Copy(input);
    });
    const failed = await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps()).then(() => new Error('no error'), (e: unknown) => e as Error);
    expect(failed).toBeInstanceOf(StoreWriteFailedError);
    airGap.resetHistory();
    const retried = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps())) as CopyBackupResult;
    expect(retried.airGap).toMatchObject({ objectsCopied: 2, payloadObjectsAlreadyCopied: 1 });
  });

  it('refuses a copy whose SHA-256 is not the manifest\'s, and never copies the manifest', async () => {
    const manifest = await storeDump();
    airGap.on(CopyObjectCommand).resolves({ CopyObjectResult: { ChecksumSHA256: createHash('sha256').update('something else').digest('base64') } });
    const error = await copyToAirGap(manifest, { client: s3.client, bucket: primaryBucket, verifications: [] }, target).then(() => new Error("no error"), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toMatch(new RegExp(`records ${manifest.payload!.sha256}; the manifest was not copied`));
    expect(airGap.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.Key)).toEqual([payloadKey('orders-db', BACKUP)]);
  });

  it('names the vault account and region when S3 refuses (a bucket of that name owned by another account is a 403)', async () => {
    const manifest = await storeDump();
    airGap.on(CopyObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    const error = await copyToAirGap(manifest, { client: s3.client, bucket: primaryBucket, verifications: [] }, target).then(() => new Error("no error"), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect(error.message).toBe(
      `Copying ${payloadKey('orders-db', BACKUP)} from s3://${primaryBucket} to the air-gapped vault s3://${AIR_GAP_BUCKET} (account ${VAULT_ACCOUNT}, eu-west-1) failed: AccessDenied: Access Denied`,
    );
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
    const result = await copyToAirGap(withParts, { client: s3.client, bucket: primaryBucket, verifications: [] }, target, { concurrency: 2 });
    expect(result.objectsCopied).toBe(5);
    expect(most).toBe(2);
  });

  it('starts no copy once the time is nearly up, and stops with CopyInterruptedError before the manifest', async () => {
    const manifest = await storeDump();
    const error = await copyToAirGap(manifest, { client: s3.client, bucket: primaryBucket, verifications: [] }, target, { outOfTime: () => true }).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    expect(error.name).toBe('CopyInterruptedError');
    expect(error.message).toMatch(/the runner's time is nearly up\. The DR copy is complete; a rerun continues the air-gapped copy with the payload objects not yet proven there\./);
    expect(airGap.calls()).toHaveLength(0);
  });
});

describe('a payload object above 5 GiB: a multipart copy proven part by part', () => {
  const MiB = 1024 * 1024;
  // Scaled down: parts of 5 MiB (S3's least) above a 5 MiB threshold; ranged GETs of 3 MiB, which parts do not align with.
  const scaled = { multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, hashRangeBytes: 3 * MiB, partConcurrency: 2 } as const;
  const UPLOAD = 'upload-1';
  let bytes: Buffer;
  let etag: string;

  async function storeLargeDump(): Promise<BackupManifest> {
    bytes = randomBytes(12 * MiB + 7);
    await primaryStore.putObject(payloadKey('orders-db', BACKUP), bytes);
    etag = (await s3.client.send(new HeadObjectCommand({ Bucket: primaryBucket, Key: payloadKey('orders-db', BACKUP) }))).ETag!;
    const manifest = sampleManifest({
      backupId: BACKUP,
      payload: { ...sampleManifest().payload!, storedBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    });
    await writeManifest(primaryStore, manifest);
    return manifest;
  }

  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('base64');
  /** The range a part copy names, `bytes=start-end`, of the real primary object. */
  const rangeOf = (range: string) => {
    const [start, end] = range.slice('bytes='.length).split('-').map(Number) as [number, number];
    return bytes.subarray(start, end + 1);
  };

  beforeEach(() => {
    airGap.on(CreateMultipartUploadCommand).resolves({ UploadId: UPLOAD });
    // S3's answer to a part copy of an upload created with SHA-256 checksums: that part's SHA-256.
    airGap.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => ({
      CopyPartResult: { ETag: `"part-${input.PartNumber}"`, ChecksumSHA256: sha256(rangeOf(input.CopySourceRange!)) },
    }));
    airGap.on(CompleteMultipartUploadCommand).resolves({});
    airGap.on(AbortMultipartUploadCommand).resolves({});
  });

  it('hashes the source whole and per part, copies each part proven by its SHA-256, completes with those checksums, then the manifest', async () => {
    const manifest = await storeLargeDump();
    const result = await copyToAirGap(manifest, { client: s3.client, bucket: primaryBucket, verifications: [] }, target, scaled);

    expect(result).toEqual({ bucket: AIR_GAP_BUCKET, region: 'eu-west-1', objectsCopied: 2, payloadSha256: [manifest.payload!.sha256], multipartObjects: 1 });
    const key = payloadKey('orders-db', BACKUP);
    // Exactly: no metadata the primary object does not have, nothing but these.
    expect(airGap.commandCalls(CreateMultipartUploadCommand).map((c) => c.args[0].input)).toEqual([
      {
        Bucket: AIR_GAP_BUCKET,
        Key: key,
        ExpectedBucketOwner: VAULT_ACCOUNT,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: AIR_GAP_KEY,
        BucketKeyEnabled: true,
        ChecksumAlgorithm: 'SHA256',
        ContentType: 'application/octet-stream',
      },
    ]);
    const ranges = ['bytes=0-5242879', 'bytes=5242880-10485759', `bytes=10485760-${bytes.length - 1}`];
    expect(airGap.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input).sort((a, b) => a.PartNumber! - b.PartNumber!)).toEqual(
      ranges.map((range, index) => ({
        Bucket: AIR_GAP_BUCKET,
        Key: key,
        UploadId: UPLOAD,
        PartNumber: index + 1,
        CopySource: `${primaryBucket}/${key}`,
        CopySourceIfMatch: etag,
        CopySourceRange: range,
        ExpectedBucketOwner: VAULT_ACCOUNT,
      })),
    );
    expect(airGap.commandCalls(CompleteMultipartUploadCommand).map((c) => c.args[0].input)).toEqual([
      {
        Bucket: AIR_GAP_BUCKET,
        Key: key,
        UploadId: UPLOAD,
        ExpectedBucketOwner: VAULT_ACCOUNT,
        MultipartUpload: { Parts: ranges.map((range, index) => ({ PartNumber: index + 1, ETag: `"part-${index + 1}"`, ChecksumSHA256: sha256(rangeOf(range)) })) },
      },
    ]);
    expect(airGap.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.Key)).toEqual([manifestKey('orders-db', BACKUP)]);
    expect(airGap).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });

  it('aborts the upload when S3 reports another SHA-256 for a part, and copies no manifest', async () => {
    const manifest = await storeLargeDump();
    airGap.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => ({
      CopyPartResult: { ETag: '"p"', ChecksumSHA256: input.PartNumber === 2 ? sha256(Buffer.from('other bytes')) : sha256(rangeOf(input.CopySourceRange!)) },
    }));
    const error = await copyToAirGap(manifest, { client: s3.client, bucket: primaryBucket, verifications: [] }, target, scaled).then(() => new Error('no error'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toMatch(/^Part 2 of the air-gapped copy of .*payload \(bytes 5242880-10485759\) has SHA-256 [0-9a-f]{64}, the source's is [0-9a-f]{64}; the upload was aborted/);
    expect(airGap).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { Bucket: AIR_GAP_BUCKET, Key: payloadKey('orders-db', BACKUP), UploadId: UPLOAD, ExpectedBucketOwner: VAULT_ACCOUNT });
    expect(airGap).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect(airGap).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('copies nothing when the primary vault\'s object is not what the manifest records', async () => {
    const manifest = await storeLargeDump();
    const tampered = { ...manifest, payload: { ...manifest.payload!, sha256: createHash('sha256').update('another dump').digest('hex') } };
    const error = await copyToAirGap(tampered, { client: s3.client, bucket: primaryBucket, verifications: [] }, target, scaled).then(() => new Error('no error'), (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toMatch(/in the primary vault s3:\/\/.* has SHA-256 [0-9a-f]{64}, the manifest records [0-9a-f]{64}; nothing of it was copied/);
    expect(airGap.calls()).toHaveLength(0);
  });

  it('stops when the time is nearly up mid-copy: aborts the upload, lets the parts in flight settle first, says what it cleaned', async () => {
    const manifest = await storeLargeDump();
    let partsStarted = 0;
    let inFlight = 0;
    let abortedWhileInFlight = false;
    airGap.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => {
      partsStarted += 1;
      inFlight += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight -= 1;
      return { CopyPartResult: { ETag: '"p"', ChecksumSHA256: sha256(rangeOf(input.CopySourceRange!)) } };
    });
    airGap.on(AbortMultipartUploadCommand).callsFake(async () => {
      abortedWhileInFlight = inFlight > 0;
      return {};
    });
    const error = await copyToAirGap(manifest, { client: s3.client, bucket: primaryBucket, verifications: [] }, target, { ...scaled, outOfTime: () => partsStarted >= 2 }).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    expect(error.name).toBe('CopyInterruptedError');
    expect(error.message).toMatch(/before part 3 of 3: the runner's time is nearly up\. The upload was aborted; a rerun copies this object again\./);
    expect(partsStarted).toBe(2);
    expect(airGap).toHaveReceivedCommandTimes(AbortMultipartUploadCommand, 1);
    expect(abortedWhileInFlight).toBe(false);
    expect(airGap).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
  });

  const source = () => ({ client: s3.client, bucket: primaryBucket, verifications: [] });
  const failure = (promise: Promise<unknown>) => promise.then(() => new Error('no error'), (e: unknown) => e as Error);

  it('goes in one 512 MiB part by default, and an object exactly at the threshold by one CopyObject', async () => {
    const manifest = await storeLargeDump();
    const defaults = await copyToAirGap(manifest, source(), target, { multipartThresholdBytes: 5 * MiB });
    expect(defaults).toMatchObject({ multipartObjects: 1, payloadSha256: [manifest.payload!.sha256] });
    expect(airGap.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.CopySourceRange)).toEqual([`bytes=0-${bytes.length - 1}`]);
    airGap.resetHistory();
    const atThreshold = await copyToAirGap(manifest, source(), target, { multipartThresholdBytes: bytes.length });
    expect(atThreshold.multipartObjects).toBeUndefined();
    expect(airGap).not.toHaveReceivedCommand(CreateMultipartUploadCommand);
  });

  it('refuses a primary object whose size is not the manifest\'s, or that is gone, before anything is sent there', async () => {
    const manifest = await storeLargeDump();
    const bigger = { ...manifest, payload: { ...manifest.payload!, storedBytes: bytes.length + 1 } };
    const size = await failure(copyToAirGap(bigger, source(), target, scaled));
    expect(size).toBeInstanceOf(SizeMismatchError);
    expect(size.message).toBe(`Payload ${payloadKey('orders-db', BACKUP)} in s3://${primaryBucket} holds ${bytes.length} bytes, its manifest says ${bytes.length + 1}; not copied to the air-gapped vault`);
    await s3.client.send(new DeleteObjectCommand({ Bucket: primaryBucket, Key: payloadKey('orders-db', BACKUP) }));
    const gone = await failure(copyToAirGap(manifest, source(), target, scaled));
    expect(gone).toBeInstanceOf(ObjectNotFoundError);
    expect(gone.message).toBe(`No payload ${payloadKey('orders-db', BACKUP)} in s3://${primaryBucket} to copy to the air-gapped vault`);
    expect(airGap.calls()).toHaveLength(0);
  });

  it('names the request S3 refused, the vault account and region, and keeps the cause', async () => {
    const manifest = await storeLargeDump();
    const refused = Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    airGap.on(CreateMultipartUploadCommand).rejects(refused);
    const create = await failure(copyToAirGap(manifest, source(), target, scaled));
    expect(create).toBeInstanceOf(StoreWriteFailedError);
    expect(create.message).toBe(
      `CreateMultipartUpload for ${payloadKey('orders-db', BACKUP)} from s3://${primaryBucket} to the air-gapped vault s3://${AIR_GAP_BUCKET} (account ${VAULT_ACCOUNT}, eu-west-1) failed: AccessDenied: Access Denied`,
    );
    expect(create.cause).toBe(refused);

    airGap.on(CreateMultipartUploadCommand).resolves({ UploadId: UPLOAD });
    airGap.on(UploadPartCopyCommand).rejects(refused);
    const part = await failure(copyToAirGap(manifest, source(), target, { ...scaled, partConcurrency: 1 }));
    expect(part.message).toMatch(/^UploadPartCopy of part 1 for .* failed: AccessDenied: Access Denied$/);
    expect(airGap).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: UPLOAD });
  });

  it('treats a missing UploadId, part checksum or part ETag as a failed copy, aborting what it started', async () => {
    const manifest = await storeLargeDump();
    airGap.on(CreateMultipartUploadCommand).resolves({});
    const noUpload = await failure(copyToAirGap(manifest, source(), target, scaled));
    expect(noUpload).toBeInstanceOf(StoreWriteFailedError);
    expect(noUpload.message).toBe(`CreateMultipartUpload for ${payloadKey('orders-db', BACKUP)} in the air-gapped vault s3://${AIR_GAP_BUCKET} (account ${VAULT_ACCOUNT}, eu-west-1) returned no UploadId`);

    airGap.on(CreateMultipartUploadCommand).resolves({ UploadId: UPLOAD });
    airGap.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p"' } });
    const noChecksum = await failure(copyToAirGap(manifest, source(), target, { ...scaled, partConcurrency: 1 }));
    expect(noChecksum).toBeInstanceOf(ChecksumMismatchError);
    expect(noChecksum.message).toMatch(/^Part 1 of the air-gapped copy of .* has SHA-256 \(none returned\), the source's is [0-9a-f]{64}/);

    airGap.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => ({ CopyPartResult: { ChecksumSHA256: sha256(rangeOf(input.CopySourceRange!)) } }));
    const noEtag = await failure(copyToAirGap(manifest, source(), target, { ...scaled, partConcurrency: 1 }));
    expect(noEtag).toBeInstanceOf(StoreWriteFailedError);
    expect(noEtag.message).toBe(`UploadPartCopy of part 1 of ${payloadKey('orders-db', BACKUP)} in the air-gapped vault s3://${AIR_GAP_BUCKET} (account ${VAULT_ACCOUNT}, eu-west-1) returned no ETag`);
    expect(airGap).toHaveReceivedCommandTimes(AbortMultipartUploadCommand, 2);
  });

  it('says which parts stay behind, and till when, when even the abort fails', async () => {
    const manifest = await storeLargeDump();
    airGap.on(UploadPartCopyCommand).rejects(Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable' }));
    airGap.on(AbortMultipartUploadCommand).rejects(Object.assign(new Error('Slow Down'), { name: 'SlowDown' }));
    const error = await failure(copyToAirGap(manifest, source(), target, scaled));
    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect(error.message).toMatch(
      new RegExp(`failed \\(StoreWriteFailedError: UploadPartCopy of part \\d .*ServiceUnavailable: Service Unavailable\\); aborting upload ${UPLOAD} also failed \\(SlowDown: Slow Down\\), so its parts stay in the air-gapped vault s3://${AIR_GAP_BUCKET} \\(account ${VAULT_ACCOUNT}, eu-west-1\\) until its AbortIncompleteMultipartUpload lifecycle rule removes them$`),
    );
    expect((error.cause as Error).name).toBe('StoreWriteFailedError');
  });

  it('hashes and copies only the version it looked at: every ranged GET and part copy names its ETag (If-Match)', async () => {
    // The local S3 server ignores If-Match, so the requests are what is asserted: S3 answers 412 to one that does not match.
    const manifest = await storeLargeDump();
    const reads: { Range?: string; IfMatch?: string }[] = [];
    const watched = {
      send: (command: unknown, options?: unknown) => {
        if (command instanceof GetObjectCommand) reads.push({ Range: command.input.Range, IfMatch: command.input.IfMatch });
        return (s3.client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
      },
    } as unknown as S3Client;
    await copyToAirGap(manifest, { client: watched, bucket: primaryBucket, verifications: [] }, target, scaled);
    expect(reads.length).toBe(5); // 12 MiB + 7 in 3 MiB ranges
    expect(reads.every((read) => read.IfMatch === etag)).toBe(true);
    expect(airGap.commandCalls(UploadPartCopyCommand).every((c) => c.args[0].input.CopySourceIfMatch === etag)).toBe(true);
  });

  it('a whole-object copy without a checksum in S3\'s answer is not proven', async () => {
    const manifest = await storeDump();
    airGap.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"etag"' } });
    const error = await failure(copyToAirGap(manifest, source(), target));
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error.message).toMatch(/has SHA-256 \(none returned\), the manifest records/);
  });

  it('through copy-backup: the DR copy and the air-gapped copy both go in parts, and a rerun does not copy the proven object again', async () => {
    await storeLargeDump();
    const first = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, { ...deps(), ...scaled })) as CopyBackupResult;
    expect(first.multipart).toBe(true);
    expect(first.airGap).toMatchObject({ multipartObjects: 1, objectsCopied: 2 });
    airGap.resetHistory();
    const retried = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, { ...deps(), ...scaled })) as CopyBackupResult;
    expect(retried.airGap).toMatchObject({ objectsCopied: 1, payloadObjectsAlreadyCopied: 1 });
    expect(airGap).not.toHaveReceivedCommand(UploadPartCopyCommand);
  });
});
