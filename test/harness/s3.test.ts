import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../functions/lib/aws/s3Client.ts';
import { startLocalS3, type LocalS3 } from './s3.ts';

const MiB = 1024 * 1024;

/** A deterministic, incompressible stream of `totalBytes`, produced chunk by chunk (never held whole). */
function pseudoRandomStream(totalBytes: number, chunkBytes = 256 * 1024): Readable {
  let produced = 0;
  let counter = 0;
  return new Readable({
    read() {
      if (produced >= totalBytes) {
        this.push(null);
        return;
      }
      const size = Math.min(chunkBytes, totalBytes - produced);
      const chunk = Buffer.alloc(size);
      for (let offset = 0; offset < size; offset += 32) {
        createHash('sha256').update(`block-${counter++}`).digest().copy(chunk, offset);
      }
      produced += size;
      this.push(chunk);
    },
  });
}

async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest('hex'), bytes };
}

describe('createS3Client', () => {
  it('points at a local endpoint with path-style addressing, dummy credentials and checksums only when required', async () => {
    const client = createS3Client({ endpoint: 'http://127.0.0.1:1' });

    expect(client.config.forcePathStyle).toBe(true);
    expect(await client.config.region()).toBe('us-east-1');
    expect(await client.config.credentials()).toMatchObject({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    client.destroy();
  });

  it('leaves AWS defaults alone without an endpoint but still limits checksums', async () => {
    const client = createS3Client({ region: 'eu-west-1' });

    expect(client.config.forcePathStyle).toBeFalsy();
    expect(await client.config.region()).toBe('eu-west-1');
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    client.destroy();
  });
});

describe('startLocalS3', () => {
  let s3: LocalS3;
  let bucket: string;

  beforeAll(async () => {
    s3 = await startLocalS3();
    bucket = await s3.createBucket();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('listens on a random loopback port', () => {
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.endpoint).not.toBe('http://127.0.0.1:4568');
  });

  it('round-trips a small object with its metadata', async () => {
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'small/hello.txt',
        Body: 'hello vault',
        ContentType: 'text/plain',
        Metadata: { 'backup-id': 'b-1' },
      }),
    );

    const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'small/hello.txt' }));

    expect(await got.Body?.transformToString()).toBe('hello vault');
    expect(got.ContentType).toBe('text/plain');
    expect(got.Metadata).toEqual({ 'backup-id': 'b-1' });
  });

  it('stores a streamed PutObject body without aws-chunked framing', async () => {
    // With the SDK's default checksum settings s3rver keeps the chunk signatures: 1 MiB becomes 1 MiB + 46 bytes.
    const payload = Buffer.alloc(MiB, 7);

    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'streamed/put.bin',
        Body: Readable.from([payload.subarray(0, 1000), payload.subarray(1000)]),
        ContentLength: payload.length,
      }),
    );
    const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed/put.bin' }));
    const stored = Buffer.from((await got.Body?.transformToByteArray()) ?? []);

    expect(stored.length).toBe(payload.length);
    expect(stored.equals(payload)).toBe(true);
  });

  it('stores a streamed ~12 MiB multipart upload byte for byte', async () => {
    const totalBytes = 12 * MiB + 12_345;
    const sourceHash = createHash('sha256');
    const body = pseudoRandomStream(totalBytes);
    body.on('data', (chunk: Buffer) => sourceHash.update(chunk));
    const partsSeen = new Set<number>();
    const upload = new Upload({
      client: s3.client,
      params: { Bucket: bucket, Key: 'large/payload.bin', Body: body },
      partSize: 5 * MiB,
      queueSize: 2,
    });
    upload.on('httpUploadProgress', (progress) => {
      if (progress.part !== undefined) partsSeen.add(progress.part);
    });

    await upload.done();
    const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'large/payload.bin' }));
    const readBack = await sha256Of(got.Body as Readable);

    expect([...partsSeen].sort()).toEqual([1, 2, 3]);
    expect(got.ContentLength).toBe(totalBytes);
    expect(readBack.bytes).toBe(totalBytes);
    expect(readBack.hex).toBe(sourceHash.digest('hex'));
  });

  it('lists keys across pages with continuation tokens', async () => {
    const prefix = 'paged/';
    const keys = Array.from({ length: 25 }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
    for (const key of keys) {
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }

    const pages: string[][] = [];
    for await (const page of paginateListObjectsV2(
      { client: s3.client, pageSize: 10 },
      { Bucket: bucket, Prefix: prefix },
    )) {
      pages.push((page.Contents ?? []).map((object) => object.Key ?? ''));
    }

    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
    expect(pages.flat()).toEqual(keys);
  });

  it('returns a continuation token that resumes after the last key', async () => {
    const first = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'paged/', MaxKeys: 3 }));
    const second = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: 'paged/',
        MaxKeys: 3,
        ContinuationToken: first.NextContinuationToken,
      }),
    );

    expect(first.IsTruncated).toBe(true);
    expect(first.NextContinuationToken).toEqual(expect.any(String));
    expect(second.Contents?.map((object) => object.Key)).toEqual(['paged/003', 'paged/004', 'paged/005']);
  });

  it('reports a missing key as NoSuchKey with HTTP 404', async () => {
    const failure = await s3.client
      .send(new GetObjectCommand({ Bucket: bucket, Key: 'no/such/key' }))
      .then(() => undefined, (error: unknown) => error);

    expect(failure).toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
  });
});

describe('LocalS3.stop', () => {
  it('closes the server and removes its storage directory', async () => {
    const s3 = await startLocalS3();
    await s3.createBucket('stop-check');

    await s3.stop();
    await s3.stop();

    await expect(stat(s3.directory)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fetch(`${s3.endpoint}/stop-check`)).rejects.toThrow();
  });
});
