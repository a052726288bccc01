import 'aws-sdk-client-mock-vitest/extend';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ObjectNotFoundError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { collect, describeStoreContract, generatedStream } from './storeContract.ts';

const MiB = 1024 * 1024;

/** Commands the client sent, by name, with their input (and UploadId of created uploads). */
interface SentCommand {
  name: string;
  input: Record<string, unknown>;
  uploadId?: string;
}

/** Records every command `client` sends, attempted or not, so tests can see what the store asked S3 to do. */
function recordCommands(client: S3Client): SentCommand[] {
  const sent: SentCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const entry: SentCommand = { name: context.commandName ?? '?', input: args.input as Record<string, unknown> };
      sent.push(entry);
      const result = await next(args);
      const uploadId = (result.output as { UploadId?: string }).UploadId;
      if (uploadId !== undefined) entry.uploadId = uploadId;
      return result;
    },
    { step: 'initialize', name: 'lifeboatTestRecorder' },
  );
  return sent;
}

let s3: LocalS3;
let sent: SentCommand[];
beforeAll(async () => {
  s3 = await startLocalS3();
  sent = recordCommands(s3.client);
});
afterAll(() => s3?.stop());

describeStoreContract('S3Store on s3rver', async () => {
  const bucket = await s3.createBucket();
  const prefix = 'vault';
  // 5 MiB parts: the contract's 20 MiB payload and 12 MiB failures then span several parts.
  const store = new S3Store({ client: s3.client, bucket, prefix, partSize: 5 * MiB, queueSize: 2 });
  return {
    store,
    // s3rver lists by walking its directory tree, so backups/a/x comes before backups/a-b/x; AWS S3 does not.
    listOrder: 'path-segments',
    async pendingWrites(key) {
      const objectKey = `${prefix}/${key}`;
      try {
        const { Uploads } = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: objectKey }));
        return (Uploads ?? []).filter((u) => u.Key === objectKey).map((u) => u.UploadId ?? '?');
      } catch (error) {
        if ((error as Error).name !== 'NotImplemented') throw error;
      }
      // s3rver implements neither ListMultipartUploads nor AbortMultipartUpload: the best it allows is
      // checking that every upload the store started was completed or that the store sent an abort for it.
      const settled = new Set(
        sent
          .filter((c) => c.name === 'CompleteMultipartUploadCommand' || c.name === 'AbortMultipartUploadCommand')
          .map((c) => c.input.UploadId),
      );
      return sent
        .filter((c) => c.name === 'CreateMultipartUploadCommand' && c.input.Bucket === bucket && c.input.Key === objectKey)
        .map((c) => c.uploadId ?? '?')
        .filter((uploadId) => !settled.has(uploadId));
    },
  };
});

describe('S3Store on s3rver', () => {
  it('names its location and keeps every key under its prefix', async () => {
    const bucket = await s3.createBucket();
    const store = new S3Store({ client: s3.client, bucket, prefix: '/team-a/vault/' });

    await store.putObject('backups/x', 'x');

    expect(store.location).toBe(`s3://${bucket}/team-a/vault`);
    const { Contents } = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(Contents?.map((o) => o.Key)).toEqual(['team-a/vault/backups/x']);
    expect(new S3Store({ client: s3.client, bucket }).location).toBe(`s3://${bucket}`);
  });

  it('follows continuation tokens page by page', async () => {
    const bucket = await s3.createBucket();
    const store = new S3Store({ client: s3.client, bucket, pageSize: 2 });
    const keys = ['a', 'b', 'c', 'd', 'e'];
    for (const key of keys) await store.putObject(key, key);
    const before = sent.filter((c) => c.name === 'ListObjectsV2Command').length;

    const listed = await collect(store.list(''));

    expect(listed).toEqual(keys);
    expect(sent.filter((c) => c.name === 'ListObjectsV2Command').length - before).toBe(3);
  });

  it('stops listing when the caller stops reading', async () => {
    const bucket = await s3.createBucket();
    const store = new S3Store({ client: s3.client, bucket, pageSize: 1 });
    for (const key of ['a', 'b', 'c']) await store.putObject(key, key);
    const before = sent.filter((c) => c.name === 'ListObjectsV2Command').length;

    for await (const _key of store.list('')) break;

    expect(sent.filter((c) => c.name === 'ListObjectsV2Command').length - before).toBe(1);
  });

  it('reports a missing bucket as itself, not as a missing object', async () => {
    const store = new S3Store({ client: s3.client, bucket: 'lb-test-no-such-bucket' });

    const readFailure = await store.getObject('k').catch((error: unknown) => error);
    const writeFailure = await store.putObject('k', 'x').catch((error: unknown) => error);

    expect(readFailure).not.toBeInstanceOf(ObjectNotFoundError);
    expect(readFailure).toMatchObject({ name: 'NoSuchBucket' });
    expect(writeFailure).toBeInstanceOf(StoreWriteFailedError);
    expect((writeFailure as StoreWriteFailedError).retryable).toBe(true);
  });

  it('rejects part sizes S3 would refuse', () => {
    expect(() => new S3Store({ client: s3.client, bucket: 'b', partSize: 1 * MiB })).toThrow(/at least 5 MiB/);
    expect(() => new S3Store({ client: s3.client, bucket: 'b', queueSize: 0 })).toThrow(/queueSize/);
  });
});

describe('S3Store requests (mocked S3)', () => {
  const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  const s3Mock = mockClient(client);
  afterEach(() => s3Mock.reset());
  const kms = { kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234' };
  const sse = {
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: kms.kmsKeyId,
    BucketKeyEnabled: true,
  } as const;

  it('writes small objects and streams with SSE-KMS and a bucket key when configured', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3Mock.on(CompleteMultipartUploadCommand).resolves({});
    const store = new S3Store({ client, bucket: 'vault', serverSideEncryption: kms, partSize: 5 * MiB });

    // Act
    await store.putObject('backups/s/manifest.json', '{}');
    const written = await store.putStream('backups/s/payload', generatedStream(11 * MiB).stream);

    // Assess
    expect(written).toEqual({ bytes: 11 * MiB });
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'vault',
      Key: 'backups/s/manifest.json',
      ContentType: 'application/json',
      ...sse,
    });
    expect(s3Mock).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Bucket: 'vault',
      Key: 'backups/s/payload',
      ...sse,
    });
    expect(s3Mock).toHaveReceivedCommandTimes(UploadPartCommand, 3);
  });

  it('leaves encryption to the bucket default when not configured', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    const store = new S3Store({ client, bucket: 'vault' });

    await store.putObject('k', 'x');

    const input = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toBeDefined();
    expect(input).not.toHaveProperty('ServerSideEncryption');
    expect(input).not.toHaveProperty('SSEKMSKeyId');
  });

  it('aborts the multipart upload it started when the source fails, and reports the source error', async () => {
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-2' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3Mock.on(AbortMultipartUploadCommand).resolves({});
    const store = new S3Store({ client, bucket: 'vault', partSize: 5 * MiB, queueSize: 2 });

    const failure = await store
      .putStream('payload', generatedStream(40 * MiB, { failAfterBytes: 12 * MiB }).stream)
      .catch((error: unknown) => error);

    expect(s3Mock).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { Bucket: 'vault', Key: 'payload', UploadId: 'u-2' });
    expect(s3Mock).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect(failure).toBeInstanceOf(StoreWriteFailedError);
    expect((failure as Error).cause).toMatchObject({ message: 'source failed mid-way' });
    expect((failure as Error).message).not.toMatch(/aborting/);
  });

  it('keeps the source error first when the abort itself fails, and says parts remain', async () => {
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-3' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3Mock.on(AbortMultipartUploadCommand).rejects(Object.assign(new Error('not allowed'), { name: 'MethodNotAllowed' }));
    const store = new S3Store({ client, bucket: 'vault', partSize: 5 * MiB });

    const failure = await store
      .putStream('payload', generatedStream(40 * MiB, { failAfterBytes: 12 * MiB }).stream)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(StoreWriteFailedError);
    expect((failure as Error).cause).toMatchObject({ message: 'source failed mid-way' });
    expect((failure as Error).message).toMatch(/source failed mid-way; aborting the multipart upload also failed \(MethodNotAllowed/);
  });

  it('wraps an S3 failure during upload and releases the source stream', async () => {
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-4' });
    s3Mock.on(UploadPartCommand).rejects(Object.assign(new Error('slow down'), { name: 'SlowDown' }));
    s3Mock.on(AbortMultipartUploadCommand).resolves({});
    const store = new S3Store({ client, bucket: 'vault', partSize: 5 * MiB });
    const source = generatedStream(40 * MiB);

    const failure = await store.putStream('payload', source.stream).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(StoreWriteFailedError);
    expect((failure as Error).cause).toMatchObject({ name: 'SlowDown' });
    expect(s3Mock).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'u-4' });
    expect(source.stream.destroyed).toBe(true);
  });

  it('maps NoSuchKey and NotFound to a missing object', async () => {
    s3Mock.rejects(Object.assign(new Error('gone'), { name: 'NoSuchKey' }));
    const store = new S3Store({ client, bucket: 'vault' });

    await expect(store.getStream('k')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getObject('k')).rejects.toBeInstanceOf(ObjectNotFoundError);
    s3Mock.reset();
    s3Mock.rejects(Object.assign(new Error(''), { name: 'NotFound' }));
    expect(await store.head('k')).toBeUndefined();
  });

  it('reads a GetObject body as a Node stream', async () => {
    s3Mock.resolves({ Body: Readable.from([Buffer.from('hello')]) } as never);
    const store = new S3Store({ client, bucket: 'vault' });

    const stream = await store.getStream('k');

    expect(Buffer.concat(await stream.toArray()).toString()).toBe('hello');
  });
});
