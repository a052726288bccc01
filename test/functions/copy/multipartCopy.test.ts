// The multipart-copy path (payloads above CopyObject's 5 GiB) against a mocked S3 client: s3rver does not
// implement UploadPartCopy (see vaultCopy.test.ts). The threshold and part size are lowered so a 12 MiB
// payload takes the same path a 12 GiB one does.
import 'aws-sdk-client-mock-vitest/extend';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RDSClient } from '@aws-sdk/client-rds';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { copyBackup, partRanges, type VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import { ChecksumMismatchError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import { manifestKey, payloadKey } from '../../../functions/lib/vault/layout.ts';
import { serializeManifest } from '../../../functions/lib/vault/manifest.ts';
import { sampleManifest } from '../vault/fixtures.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BACKUP = '20261122T053327Z-k3x7q2ab';
const PAYLOAD_KEY = payloadKey('orders-db', BACKUP);
const MANIFEST_KEY = manifestKey('orders-db', BACKUP);
const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd';
const PAYLOAD_ETAG = '"9b2cf535f27731c974343645a3985328-3"';
const MANIFEST_ETAG = '"c4ca4238a0b923820dcc509a6f75849b"';

// 12 MiB + 1 byte: two full 5 MiB parts and a last part of 2 MiB + 1.
const payload = Buffer.alloc(12 * MiB + 1, 7);
const manifest = sampleManifest({
  backupId: BACKUP,
  payload: { ...sampleManifest().payload!, storedBytes: payload.length, sha256: createHash('sha256').update(payload).digest('hex') },
});
const manifestBytes = Buffer.from(serializeManifest(manifest));

/** A GetObject body as the SDK returns it in Node: a stream that can also be read whole. */
function body(bytes: Buffer) {
  return Object.assign(Readable.from([bytes]), { transformToByteArray: async () => new Uint8Array(bytes) }) as never;
}
const notFound = () => Object.assign(new Error('not found'), { name: 'NoSuchKey' });

const primaryClient = new S3Client({ region: 'eu-west-1' });
const drClient = new S3Client({ region: 'eu-central-1' });
const primary = mockClient(primaryClient);
const dr = mockClient(drClient);

const deps: VaultCopyDeps = {
  primary: { client: primaryClient, bucket: 'vault-primary' },
  dr: { client: drClient, bucket: 'vault-dr', region: 'eu-central-1', kmsKeyId: DR_KEY },
  drRds: new RDSClient({ region: 'eu-central-1' }),
  now: () => new Date('2026-11-22T06:00:00.000Z'),
  multipartThresholdBytes: 8 * MiB,
  partSizeBytes: 5 * MiB,
  partConcurrency: 2,
};

beforeEach(() => {
  primary.reset();
  dr.reset();
  primary.on(GetObjectCommand, { Key: MANIFEST_KEY }).resolves({ Body: body(manifestBytes), ETag: MANIFEST_ETAG });
  primary.on(HeadObjectCommand, { Key: PAYLOAD_KEY }).resolves({ ContentLength: payload.length, ETag: PAYLOAD_ETAG, ContentType: 'application/octet-stream' });
  primary.on(ListObjectsV2Command).resolves({ Contents: [] });
  dr.on(GetObjectCommand, { Key: MANIFEST_KEY }).rejects(notFound());
  dr.on(GetObjectCommand, { Key: PAYLOAD_KEY }).callsFake(() => ({ Body: body(payload) }));
  dr.on(ListObjectsV2Command).resolves({ Contents: [] });
  dr.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
  dr.on(UploadPartCopyCommand).callsFake((input: { PartNumber: number }) => ({ CopyPartResult: { ETag: `"part-${input.PartNumber}"` } }));
  dr.on(CompleteMultipartUploadCommand).resolves({});
  dr.on(CopyObjectCommand).resolves({});
  dr.on(AbortMultipartUploadCommand).resolves({});
});

const copySource = `vault-primary/${PAYLOAD_KEY}`;

describe('a payload above the single-copy limit', () => {
  it('is copied in byte ranges under the DR key, completed in part order, hashed, and only then is the manifest copied', async () => {
    const result = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, deps);

    expect(result).toMatchObject({ multipart: true, payloadBytes: payload.length, alreadyCopied: false });
    expect(dr).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Bucket: 'vault-dr',
      Key: PAYLOAD_KEY,
      ContentType: 'application/octet-stream',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: DR_KEY,
      BucketKeyEnabled: true,
    });
    const parts = dr.commandCalls(UploadPartCopyCommand).map((call) => call.args[0].input);
    expect(parts.sort((a, b) => a.PartNumber! - b.PartNumber!)).toEqual([
      { Bucket: 'vault-dr', Key: PAYLOAD_KEY, UploadId: 'upload-1', PartNumber: 1, CopySource: copySource, CopySourceIfMatch: PAYLOAD_ETAG, CopySourceRange: 'bytes=0-5242879' },
      { Bucket: 'vault-dr', Key: PAYLOAD_KEY, UploadId: 'upload-1', PartNumber: 2, CopySource: copySource, CopySourceIfMatch: PAYLOAD_ETAG, CopySourceRange: 'bytes=5242880-10485759' },
      { Bucket: 'vault-dr', Key: PAYLOAD_KEY, UploadId: 'upload-1', PartNumber: 3, CopySource: copySource, CopySourceIfMatch: PAYLOAD_ETAG, CopySourceRange: 'bytes=10485760-12582912' },
    ]);
    expect(dr).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, {
      Bucket: 'vault-dr',
      Key: PAYLOAD_KEY,
      UploadId: 'upload-1',
      MultipartUpload: { Parts: [{ ETag: '"part-1"', PartNumber: 1 }, { ETag: '"part-2"', PartNumber: 2 }, { ETag: '"part-3"', PartNumber: 3 }] },
    });
    expect(dr).toHaveReceivedCommandTimes(AbortMultipartUploadCommand, 0);
    expect(dr).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(dr).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: 'vault-dr',
      Key: MANIFEST_KEY,
      CopySource: `vault-primary/${MANIFEST_KEY}`,
      CopySourceIfMatch: MANIFEST_ETAG,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: DR_KEY,
      BucketKeyEnabled: true,
    });
    const order = dr.calls().map((call) => (call.args[0] as { constructor: { name: string }; input: { Key?: string } }))
      .filter((command) => command.constructor.name !== 'ListObjectsV2Command')
      .map((command) => `${command.constructor.name.replace('Command', '')} ${command.input.Key === MANIFEST_KEY ? 'manifest' : 'payload'}`);
    expect(order).toEqual(expect.arrayContaining(['CompleteMultipartUpload payload', 'GetObject payload', 'CopyObject manifest']));
    expect(order.indexOf('CompleteMultipartUpload payload')).toBeLessThan(order.lastIndexOf('GetObject payload'));
    expect(order.lastIndexOf('GetObject payload')).toBeLessThan(order.indexOf('CopyObject manifest'));
  });

  it('aborts the upload when a part fails, sends no Complete and no manifest, and fails with StoreWriteFailedError', async () => {
    dr.on(UploadPartCopyCommand, { PartNumber: 2 }).rejects(Object.assign(new Error('We encountered an internal error'), { name: 'InternalError' }));

    const error = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect((error as Error).message).toContain('InternalError');
    expect(dr).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { Bucket: 'vault-dr', Key: PAYLOAD_KEY, UploadId: 'upload-1' });
    expect(dr).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 0);
    expect(dr).toHaveReceivedCommandTimes(CopyObjectCommand, 0);
  });

  it('says so when the abort fails too, so the lifecycle rule is known to be the one cleaning up', async () => {
    dr.on(UploadPartCopyCommand, { PartNumber: 3 }).rejects(Object.assign(new Error('PreconditionFailed'), { name: 'PreconditionFailed' }));
    dr.on(AbortMultipartUploadCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));

    const error = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect((error as Error).message).toMatch(/PreconditionFailed.*aborting it also failed \(AccessDenied: denied\).*AbortIncompleteMultipartUpload/s);
    expect(dr).toHaveReceivedCommandTimes(CopyObjectCommand, 0);
  });

  it('does not copy the manifest when the completed copy hashes differently', async () => {
    const other = Buffer.from(payload);
    other[other.length - 1] = 8;
    dr.on(GetObjectCommand, { Key: PAYLOAD_KEY }).callsFake(() => ({ Body: body(other) }));

    await expect(copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, deps)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(dr).toHaveReceivedCommandTimes(CompleteMultipartUploadCommand, 1);
    expect(dr).toHaveReceivedCommandTimes(CopyObjectCommand, 0);
  });

  it('a payload at the threshold goes as one CopyObject', async () => {
    const atThreshold = { ...deps, multipartThresholdBytes: payload.length };

    await expect(copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, atThreshold)).resolves.toMatchObject({ multipart: false });
    expect(dr).toHaveReceivedCommandTimes(CreateMultipartUploadCommand, 0);
    expect(dr).toHaveReceivedCommandWith(CopyObjectCommand, { Key: PAYLOAD_KEY, CopySource: copySource, CopySourceIfMatch: PAYLOAD_ETAG, SSEKMSKeyId: DR_KEY });
  });
});

describe('partRanges', () => {
  it('covers every byte once, in parts of the given size and a shorter last part', () => {
    expect(partRanges(12 * MiB + 1, 5 * MiB)).toEqual([
      { start: 0, end: 5 * MiB - 1 },
      { start: 5 * MiB, end: 10 * MiB - 1 },
      { start: 10 * MiB, end: 12 * MiB },
    ]);
    expect(partRanges(10 * MiB, 5 * MiB)).toHaveLength(2);
  });

  it('grows the part size to stay within 10,000 parts (a 5 TiB object at 512 MiB would need 10,240)', () => {
    const size = 5 * 1024 * GiB;
    const ranges = partRanges(size, 512 * MiB);
    expect(ranges.length).toBeLessThanOrEqual(10_000);
    expect(ranges[0]!.start).toBe(0);
    expect(ranges.at(-1)!.end).toBe(size - 1);
    ranges.slice(1).forEach((range, i) => expect(range.start).toBe(ranges[i]!.end + 1));
    expect(ranges[0]!.end + 1).toBeLessThanOrEqual(5 * GiB);
  });

  it('refuses part sizes S3 does not accept', () => {
    expect(() => partRanges(GiB, 4 * MiB)).toThrow(RangeError);
    expect(() => partRanges(GiB, 6 * GiB)).toThrow(RangeError);
  });
});
