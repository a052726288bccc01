// The multipart path (payloads above CopyObject's 5 GiB) against s3rver, taught UploadPartCopy, ListParts,
// ListMultipartUploads and AbortMultipartUpload by the harness (test/harness/s3MultipartCopy.ts). The
// threshold and part size are lowered so a 32 MiB payload takes the path a 500 GiB one does, in 7 parts.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { RDSClient } from '@aws-sdk/client-rds';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { CopyInterruptedError, copyBackup, partRanges, type VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import { handleCopyEvent } from '../../../functions/copy/copy.ts';
import { CopyOutgrewLambdaError } from '../../../functions/copy/interrupted.ts';
import { ChecksumMismatchError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import { listBackups, writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey } from '../../../functions/lib/vault/layout.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { sampleManifest } from '../vault/fixtures.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BACKUP = '20261122T053327Z-k3x7q2ab';
const PAYLOAD_KEY = payloadKey('orders-db', BACKUP);
const MANIFEST_KEY = manifestKey('orders-db', BACKUP);
const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd';
/** 6 parts of 5 MiB and a last one of 2 MiB + 1. */
const PAYLOAD_BYTES = 32 * MiB + 1;
const PARTS = 7;

interface Sent {
  name: string;
  input: Record<string, unknown>;
}

/** Records commands and counts requests in flight per command (entered, not yet answered). */
function instrument(
  client: S3Client,
  options: { failPart?: number; deny?: string; afterSend?: (name: string, input: Record<string, unknown>) => Promise<void> } = {},
) {
  const sent: Sent[] = [];
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context.commandName ?? '?').replace(/Command$/, '');
      const input = args.input as Record<string, unknown>;
      sent.push({ name, input });
      inFlight.set(name, (inFlight.get(name) ?? 0) + 1);
      maxInFlight.set(name, Math.max(maxInFlight.get(name) ?? 0, inFlight.get(name)!));
      try {
        if (name === options.deny) throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client' });
        if (name === 'UploadPartCopy' && input.PartNumber === options.failPart) {
          throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError', $fault: 'server' });
        }
        const result = await next(args);
        await options.afterSend?.(name, input);
        return result;
      } finally {
        inFlight.set(name, inFlight.get(name)! - 1);
      }
    },
    { step: 'initialize', name: 'instrument' },
  );
  return { sent, maxInFlight, names: () => sent.map((c) => c.name) };
}

let s3: LocalS3;
let primaryBucket: string;
let drBucket: string;
let primaryStore: S3Store;
let drStore: S3Store;
const clients: S3Client[] = [];
let payload: Buffer;

beforeAll(async () => {
  s3 = await startLocalS3();
  payload = randomBytes(PAYLOAD_BYTES);
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await s3?.stop();
});
beforeEach(async () => {
  primaryBucket = await s3.createBucket();
  drBucket = await s3.createBucket();
  primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket, partSize: 8 * MiB });
  drStore = new S3Store({ client: s3.client, bucket: drBucket });
  await primaryStore.putStream(PAYLOAD_KEY, Readable.from([payload]));
  await writeManifest(
    primaryStore,
    sampleManifest({ backupId: BACKUP, payload: { ...sampleManifest().payload!, storedBytes: payload.length, sha256: sha256(payload) } }),
  );
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function deps(options: Parameters<typeof instrument>[1] = {}, overrides: Partial<VaultCopyDeps> = {}) {
  const primaryClient = createS3Client({ endpoint: s3.endpoint });
  const drClient = createS3Client({ endpoint: s3.endpoint });
  clients.push(primaryClient, drClient);
  const dr = instrument(drClient, options);
  const copyDeps: VaultCopyDeps = {
    primary: { client: primaryClient, bucket: primaryBucket },
    dr: { client: drClient, bucket: drBucket, region: 'eu-central-1', kmsKeyId: DR_KEY },
    drRds: new RDSClient({ region: 'eu-central-1' }),
    now: () => new Date('2026-11-22T06:00:00.000Z'),
    multipartThresholdBytes: 8 * MiB,
    partSizeBytes: 5 * MiB,
    partConcurrency: 3,
    hashConcurrency: 3,
    hashRangeBytes: 4 * MiB,
    ...overrides,
  };
  return { copyDeps, dr, drClient };
}

const copySource = () => `${primaryBucket}/${PAYLOAD_KEY}`;
const range = (part: number) => `bytes=${(part - 1) * 5 * MiB}-${Math.min(part * 5 * MiB, PAYLOAD_BYTES) - 1}`;
const partsOf = (sent: Sent[]) => sent.filter((c) => c.name === 'UploadPartCopy').map((c) => c.input.PartNumber as number).sort((a, b) => a - b);
const openUploads = async (client: S3Client) => (await client.send(new ListMultipartUploadsCommand({ Bucket: drBucket }))).Uploads ?? [];

describe('a payload above the single-copy limit', () => {
  it('is copied in 7 parts, 3 in flight at most, completed in order, re-hashed from 3 concurrent ranged GETs, then the manifest', async () => {
    const { copyDeps, dr, drClient } = deps();

    const result = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, copyDeps);

    expect(result).toMatchObject({ multipart: true, payloadBytes: PAYLOAD_BYTES, partsCopied: PARTS, partsResumed: 0, payloadObjectsReused: 0, alreadyCopied: false });
    expect((await drStore.getObject(PAYLOAD_KEY)).equals(payload)).toBe(true);
    expect((await listBackups(drStore)).map((m) => m.backupId)).toEqual([BACKUP]);
    expect(dr.maxInFlight.get('UploadPartCopy')).toBe(3);
    expect(dr.maxInFlight.get('GetObject')).toBe(3);

    const create = dr.sent.find((c) => c.name === 'CreateMultipartUpload')!;
    expect(create.input).toMatchObject({ Bucket: drBucket, Key: PAYLOAD_KEY, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: DR_KEY, BucketKeyEnabled: true });
    const uploadId = dr.sent.find((c) => c.name === 'UploadPartCopy')!.input.UploadId;
    const copies = dr.sent.filter((c) => c.name === 'UploadPartCopy').map((c) => c.input).sort((a, b) => (a.PartNumber as number) - (b.PartNumber as number));
    expect(copies).toEqual(
      Array.from({ length: PARTS }, (_, i) => ({
        Bucket: drBucket,
        Key: PAYLOAD_KEY,
        UploadId: uploadId,
        PartNumber: i + 1,
        CopySource: copySource(),
        CopySourceIfMatch: expect.stringMatching(/^"[0-9a-f]{32}(-\d+)?"$/),
        CopySourceRange: range(i + 1),
      })),
    );
    const complete = dr.sent.find((c) => c.name === 'CompleteMultipartUpload')!;
    expect((complete.input.MultipartUpload as { Parts: { PartNumber: number }[] }).Parts.map((p) => p.PartNumber)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The re-hash: 9 ranges of 4 MiB (the last 1 byte), every one asked for, of the completed object.
    const ranges = dr.sent.filter((c) => c.name === 'GetObject' && c.input.Key === PAYLOAD_KEY).map((c) => c.input.Range);
    expect(ranges).toEqual(Array.from({ length: 9 }, (_, i) => `bytes=${i * 4 * MiB}-${Math.min((i + 1) * 4 * MiB, PAYLOAD_BYTES) - 1}`));
    const order = dr.names();
    expect(order.indexOf('CompleteMultipartUpload')).toBeLessThan(order.findIndex((n, i) => n === 'GetObject' && dr.sent[i]!.input.Range !== undefined));
    expect(order.lastIndexOf('GetObject')).toBeLessThan(order.findIndex((n, i) => n === 'CopyObject' && dr.sent[i]!.input.Key === MANIFEST_KEY));
    expect(await openUploads(drClient)).toEqual([]);
  });

  it('aborts the upload when a part fails mid-way: no Complete, no manifest, no upload left, StoreWriteFailedError', async () => {
    const { copyDeps, dr, drClient } = deps({ failPart: 4 });

    const error = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, copyDeps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect((error as Error).message).toContain('InternalError');
    const uploadId = dr.sent.find((c) => c.name === 'UploadPartCopy')!.input.UploadId;
    expect(dr.sent.filter((c) => c.name === 'AbortMultipartUpload').map((c) => c.input)).toEqual([{ Bucket: drBucket, Key: PAYLOAD_KEY, UploadId: uploadId }]);
    expect(dr.names()).not.toContain('CompleteMultipartUpload');
    // Workers stop taking parts after the failure: never all 7 asked for.
    expect(partsOf(dr.sent).length).toBeLessThan(PARTS);
    expect(await openUploads(drClient)).toEqual([]);
    expect(await listBackups(drStore)).toEqual([]);
  });

  it('stops in time when given a remaining-time budget, leaves the upload, and a rerun copies only the missing parts', async () => {
    let partsDone = 0;
    const first = deps(
      { afterSend: async (name) => void (name === 'UploadPartCopy' && (partsDone += 1)) },
      // Plenty of time until 3 parts are in; then less than the margin.
      { partConcurrency: 1, remainingTimeMs: () => (partsDone >= 3 ? 60_000 : 600_000) },
    );
    const error = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, first.copyDeps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CopyInterruptedError);
    expect((error as Error).name).toBe('CopyInterruptedError');
    expect((error as Error).message).toMatch(/at 3 of 7 parts.*a rerun continues it/);
    expect(first.dr.names()).not.toContain('AbortMultipartUpload');
    const [upload] = await openUploads(first.drClient);
    expect(upload).toMatchObject({ Key: PAYLOAD_KEY });

    // The rerun, as on Fargate: no budget.
    const second = deps();
    const result = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, second.copyDeps);

    expect(result).toMatchObject({ multipart: true, partsCopied: 4, partsResumed: 3, staleUploadsAborted: 0 });
    const payloadCommands = second.dr.sent.filter((c) => c.input.Key === PAYLOAD_KEY || c.name === 'ListMultipartUploads');
    expect(payloadCommands.slice(0, 3).map((c) => [c.name, c.input])).toEqual([
      ['HeadObject', { Bucket: drBucket, Key: PAYLOAD_KEY }],
      ['ListMultipartUploads', { Bucket: drBucket, Prefix: PAYLOAD_KEY }],
      ['ListParts', { Bucket: drBucket, Key: PAYLOAD_KEY, UploadId: upload!.UploadId }],
    ]);
    expect(second.dr.names()).not.toContain('CreateMultipartUpload');
    expect(partsOf(second.dr.sent)).toEqual([4, 5, 6, 7]);
    expect(second.dr.sent.filter((c) => c.name === 'UploadPartCopy').every((c) => c.input.UploadId === upload!.UploadId)).toBe(true);
    const complete = second.dr.sent.find((c) => c.name === 'CompleteMultipartUpload')!;
    expect(complete.input.UploadId).toBe(upload!.UploadId);
    expect((complete.input.MultipartUpload as { Parts: { PartNumber: number }[] }).Parts.map((p) => p.PartNumber)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect((await drStore.getObject(PAYLOAD_KEY)).equals(payload)).toBe(true);
    expect((await listBackups(drStore)).map((m) => m.backupId)).toEqual([BACKUP]);
  });

  it('after a killed run, keeps the parts of the right size, re-copies a part of the wrong size, and aborts a second stale upload', async () => {
    // What two killed runs left: an empty upload, and one with parts 1, 2 (5 MiB each) and 3 (a different size).
    const raw = createS3Client({ endpoint: s3.endpoint });
    clients.push(raw);
    const stale = await raw.send(new CreateMultipartUploadCommand({ Bucket: drBucket, Key: PAYLOAD_KEY }));
    const killed = await raw.send(new CreateMultipartUploadCommand({ Bucket: drBucket, Key: PAYLOAD_KEY }));
    for (const [part, copyRange] of [[1, range(1)], [2, range(2)], [3, 'bytes=0-1048575']] as const) {
      await raw.send(new UploadPartCopyCommand({ Bucket: drBucket, Key: PAYLOAD_KEY, UploadId: killed.UploadId, PartNumber: part, CopySource: copySource(), CopySourceRange: copyRange }));
    }
    const { copyDeps, dr, drClient } = deps();

    const result = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, copyDeps);

    expect(result).toMatchObject({ partsResumed: 2, partsCopied: 5, staleUploadsAborted: 1 });
    expect(dr.sent.filter((c) => c.name === 'ListParts').map((c) => c.input.UploadId).sort()).toEqual([stale.UploadId, killed.UploadId].sort());
    expect(dr.sent.filter((c) => c.name === 'AbortMultipartUpload').map((c) => c.input)).toEqual([{ Bucket: drBucket, Key: PAYLOAD_KEY, UploadId: stale.UploadId }]);
    expect(partsOf(dr.sent)).toEqual([3, 4, 5, 6, 7]);
    expect((await drStore.getObject(PAYLOAD_KEY)).equals(payload)).toBe(true);
    expect(await openUploads(drClient)).toEqual([]);
  });

  it('refuses the manifest when the completed copy hashes differently; a rerun copies again and succeeds', async () => {
    const writer = createS3Client({ endpoint: s3.endpoint });
    clients.push(writer);
    const damaged = Buffer.from(payload);
    damaged[damaged.length - 2] = damaged[damaged.length - 2]! ^ 1;
    let damage = true;
    const first = deps({
      afterSend: async (name) => {
        if (name !== 'CompleteMultipartUpload' || !damage) return;
        damage = false;
        await writer.send(new PutObjectCommand({ Bucket: drBucket, Key: PAYLOAD_KEY, Body: damaged, ContentLength: damaged.length }));
      },
    });

    await expect(copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, first.copyDeps)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(first.dr.names()).not.toContain('CopyObject');
    expect(await listBackups(drStore)).toEqual([]);

    // The damaged object is there with the right size: hashed, found wrong, and copied again.
    const second = deps();
    await expect(copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, second.copyDeps)).resolves.toMatchObject({ payloadObjectsReused: 0, partsCopied: PARTS });
    expect((await drStore.getObject(PAYLOAD_KEY)).equals(payload)).toBe(true);
    expect((await listBackups(drStore)).map((m) => m.backupId)).toEqual([BACKUP]);
  });

  it('a run whose time runs out while re-hashing leaves a complete copy that the rerun proves by hash and does not copy again', async () => {
    let completed = false;
    const first = deps(
      { afterSend: async (name) => void (name === 'CompleteMultipartUpload' && (completed = true)) },
      { remainingTimeMs: () => (completed ? 1_000 : 600_000) },
    );
    const error = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, first.copyDeps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CopyInterruptedError);
    expect((error as Error).message).toMatch(/re-hashing the DR copy/);
    expect(await listBackups(drStore)).toEqual([]);

    const second = deps();
    const result = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, second.copyDeps);

    expect(result).toMatchObject({ payloadObjectsReused: 1, partsCopied: 0, multipart: false });
    expect(second.dr.names().filter((n) => ['CreateMultipartUpload', 'UploadPartCopy', 'ListMultipartUploads'].includes(n))).toEqual([]);
    expect(second.dr.sent.filter((c) => c.name === 'CopyObject').map((c) => c.input.Key)).toEqual([MANIFEST_KEY]);
    expect((await listBackups(drStore)).map((m) => m.backupId)).toEqual([BACKUP]);
  });

  it('through the copy core, a run that stored something says it was interrupted; one that stored nothing says it outgrew Lambda', async () => {
    let completed = false;
    const first = deps(
      { afterSend: async (name) => void (name === 'CompleteMultipartUpload' && (completed = true)) },
      { remainingTimeMs: () => (completed ? 1_000 : 600_000) },
    );
    const event = { action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP };
    // The parts were copied and the upload completed, then the time ran out while re-hashing: a rerun goes on.
    await expect(handleCopyEvent(event, first.copyDeps)).rejects.toMatchObject({ name: 'CopyInterruptedError', message: expect.stringMatching(/re-hashing the DR copy/) });

    // A rerun with as little time stores nothing before it stops at the same place: no Lambda run can finish it.
    const second = deps({}, { remainingTimeMs: () => 1_000, hashRangeBytes: MiB, hashConcurrency: 1 });
    const error = await handleCopyEvent(event, second.copyDeps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CopyOutgrewLambdaError);
    expect((error as Error).message).toMatch(/^Stopped re-hashing the DR copy of .* This run stored nothing before its time ran out, so another run as long would stop at the same place: it needs a runner without Lambda's deadline \(the copy task on Fargate\)\.$/);
    expect(((error as Error).cause as Error).name).toBe('CopyInterruptedError');
    expect(await listBackups(drStore)).toEqual([]);

    // Without a deadline (the Fargate task) it proves the copy and records the backup.
    await expect(handleCopyEvent(event, deps().copyDeps)).resolves.toMatchObject({ payloadObjectsReused: 1, partsCopied: 0 });
    expect((await listBackups(drStore)).map((m) => m.backupId)).toEqual([BACKUP]);
  });

  it('without permission to list uploads, copies from the start and says so', async () => {
    const { copyDeps, dr } = deps({ deny: 'ListMultipartUploads' });

    const result = await copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, copyDeps);

    expect(result).toMatchObject({ partsCopied: PARTS, partsResumed: 0 });
    expect(result.warnings).toEqual([expect.stringMatching(/could not look for an unfinished upload .*AccessDenied.*copied from the start/)]);
    expect(dr.names()).toContain('CreateMultipartUpload');
    expect((await listBackups(drStore)).map((m) => m.backupId)).toEqual([BACKUP]);
  });

  it('a payload at the threshold goes as one CopyObject', async () => {
    const { copyDeps, dr } = deps({}, { multipartThresholdBytes: PAYLOAD_BYTES });

    await expect(copyBackup({ sourceId: 'orders-db', backupId: BACKUP }, copyDeps)).resolves.toMatchObject({ multipart: false, partsCopied: 0 });
    expect(dr.names()).not.toContain('CreateMultipartUpload');
    expect(dr.sent.find((c) => c.name === 'CopyObject' && c.input.Key === PAYLOAD_KEY)?.input).toMatchObject({ CopySource: copySource(), SSEKMSKeyId: DR_KEY });
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
