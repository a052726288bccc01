import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import { directoryTarget, restoreFileSet, runFileSetBackup, s3Source, s3Target, verifyFileSet } from '../../../functions/lib/fileset/index.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { type LocalS3, startLocalS3 } from '../../harness/s3.ts';

const keyring = rawAesKeyring({ keyNamespace: 'lifeboat', keyName: 'k-fileset-s3', key: randomBytes(32), createdAt: '2026-12-02T00:00:00Z' });
const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('file sets from an S3 bucket (local S3 server), into an S3 vault', { timeout: 240_000 }, () => {
  let s3: LocalS3;
  let sourceBucket: string;
  let store: S3Store;
  let work: string;
  const objects = new Map<string, Buffer>();

  beforeAll(async () => {
    s3 = await startLocalS3();
    sourceBucket = await s3.createBucket();
    const vaultBucket = await s3.createBucket();
    store = new S3Store({ client: s3.client, bucket: vaultBucket, prefix: 'vault' });
    work = await mkdtemp(path.join(tmpdir(), 'lifeboat-fileset-s3-'));
    // More than one ListObjectsV2 page (1000 keys), so paging is exercised.
    for (let i = 0; i < 1005; i++) objects.set(`media/img-${String(i).padStart(4, '0')}.jpg`, randomBytes(200 + (i % 50)));
    objects.set('media/video/clip.mp4', randomBytes(1_500_000));
    for (const [key, body] of objects) {
      await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: body, ContentType: key.endsWith('.mp4') ? 'video/mp4' : 'image/jpeg', Metadata: { owner: 'app' } }));
    }
    await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: 'other/outside.txt', Body: 'not under the prefix' }));
  }, 240_000);
  afterAll(async () => {
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('backs up every object under the prefix, pages through the listing, and reads nothing again when ETags match', async () => {
    const source = s3Source(s3.client, sourceBucket, 'media/');
    const first = await runFileSetBackup({ store, keyring, sourceId: 'uploads', source });
    expect(first.manifest.source).toEqual({ type: 's3', bucket: sourceBucket, prefix: 'media/' });
    expect(first.manifest.totals).toMatchObject({ files: objects.size, filesRead: objects.size, bytes: [...objects.values()].reduce((s, b) => s + b.byteLength, 0) });

    const second = await runFileSetBackup({ store, keyring, sourceId: 'uploads', source });
    expect(second.manifest.totals).toMatchObject({ files: objects.size, filesRead: 0, filesReused: objects.size, newPacks: 0, newStoredBytes: 0 });

    // One object rewritten: a new ETag, read again, about its own size stored.
    const changed = randomBytes(250);
    await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: 'media/img-0007.jpg', Body: changed, ContentType: 'image/jpeg' }));
    objects.set('media/img-0007.jpg', changed);
    const third = await runFileSetBackup({ store, keyring, sourceId: 'uploads', source });
    expect(third.manifest.totals).toMatchObject({ filesRead: 1, newPacks: 1 });
    expect(third.manifest.totals.newStoredBytes).toBeLessThan(2048);
    expect(await verifyFileSet({ store, keyring, manifest: third.manifest })).toMatchObject({ ok: true, problems: [] });

    // Restore into another bucket and prefix, with content type and user metadata; then refuse to overwrite.
    const target = await s3.createBucket();
    const restored = await restoreFileSet({ store, keyring, manifest: first.manifest, target: s3Target(s3.client, target, 'restored/'), select: 'video/' });
    expect(restored).toEqual({ files: 1, bytes: 1_500_000 });
    const object = await s3.client.send(new GetObjectCommand({ Bucket: target, Key: 'restored/video/clip.mp4' }));
    expect(digest(await object.Body!.transformToByteArray())).toBe(digest(objects.get('media/video/clip.mp4')!));
    expect(object.ContentType).toBe('video/mp4');
    expect(object.Metadata).toEqual({ owner: 'app' });
    await expect(restoreFileSet({ store, keyring, manifest: first.manifest, target: s3Target(s3.client, target, 'restored/'), select: 'video/clip.mp4' })).rejects.toBeInstanceOf(TargetNotEmptyError);
    await expect(s3.client.send(new HeadObjectCommand({ Bucket: target, Key: 'restored/img-0000.jpg' }))).rejects.toThrow();

    // The whole latest snapshot into a directory.
    const dir = path.join(work, 'all');
    const all = await restoreFileSet({ store, keyring, manifest: third.manifest, target: directoryTarget(dir) });
    expect(all.files).toBe(objects.size);
    for (const [key, body] of objects) expect(digest(await readFile(path.join(dir, key.slice('media/'.length)))), key).toBe(digest(body));
  });
});
