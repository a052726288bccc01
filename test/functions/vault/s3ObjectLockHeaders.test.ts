import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';

/**
 * S3 refuses PutObject and UploadPart without an integrity header on a bucket with Object Lock default
 * retention (the vault), and s3rver does not enforce that: assert the headers on the wire instead.
 */
describe('S3Store sends the integrity headers an Object-Locked vault requires', () => {
  let s3: LocalS3;
  let store: S3Store;
  const requests: { operation: string; headers: Record<string, string> }[] = [];

  beforeAll(async () => {
    s3 = await startLocalS3();
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        requests.push({ operation: String(context.commandName), headers: { ...request.headers } });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureHeaders', priority: 'low' },
    );
    store = new S3Store({ client: s3.client, bucket: await s3.createBucket(), partSize: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('puts small objects with Content-MD5', async () => {
    requests.length = 0;
    await store.putObject('backups/orders-db/x/manifest.json', '{"a":1}');
    const put = requests.find((r) => r.operation === 'PutObjectCommand');
    expect(put?.headers['content-md5']).toBe(createHash('md5').update('{"a":1}').digest('base64'));
  });

  it('uploads every part of a streamed payload with a SHA-256 checksum header', async () => {
    requests.length = 0;
    const part = Buffer.alloc(5 * 1024 * 1024, 7);
    await store.putStream('backups/orders-db/x/payload', Readable.from([part, part, Buffer.from('tail')]));
    const parts = requests.filter((r) => r.operation === 'UploadPartCommand');
    expect(parts).toHaveLength(3);
    for (const p of parts) expect(p.headers['x-amz-checksum-sha256']).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(requests.find((r) => r.operation === 'CreateMultipartUploadCommand')?.headers['x-amz-checksum-algorithm']).toBe('SHA256');
  });
});
