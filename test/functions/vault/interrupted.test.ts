// Once an interrupt's cleanup has begun, the vault stores write nothing: a verification whose restore tool was
// just stopped cannot record what it saw as a verdict, and no temporary file appears after the cleanup removed it.
// (Its own file: the interrupt flag is process-wide and never reset.)
import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpAfterInterrupt, isInterrupted } from '../../../functions/lib/engine/interrupt.ts';
import { InterruptedError } from '../../../functions/lib/errors.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';

describe('vault writes after an interrupt', () => {
  let root: string;
  let store: LocalStore;
  const s3 = mockClient(S3Client);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lifeboat-interrupted-'));
    store = new LocalStore(root);
    // Written before the interrupt: stays.
    await store.putObject('backups/orders-db/20261202T100000Z-aaaaaaaa/manifest.json', '{}');
    expect(isInterrupted()).toBe(false);
    await cleanUpAfterInterrupt();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a directory vault refuses every kind of write and leaves no file, temporary or not', async () => {
    const key = 'backups/orders-db/20261202T100000Z-aaaaaaaa/verifications/20261202T100500.000Z.json';
    await expect(store.putObject(key, '{"verdict":"failed"}')).rejects.toThrow(InterruptedError);
    await expect(store.createObject('audit/2026/12/02/event.json', '{}')).rejects.toThrow(InterruptedError);
    await expect(store.putStream('backups/orders-db/20261202T100000Z-bbbbbbbb/payload', Readable.from([Buffer.alloc(10)]))).rejects.toThrow(
      /^Interrupted: backups\/orders-db\/20261202T100000Z-bbbbbbbb\/payload in \S+ was not written$/,
    );
    const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    expect(files).toEqual(['manifest.json']);
  });

  it('an S3 vault sends nothing', async () => {
    const s3Store = new S3Store({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'vault-bucket' });
    await expect(s3Store.putObject('backups/orders-db/20261202T100000Z-aaaaaaaa/manifest.json', '{}')).rejects.toThrow(InterruptedError);
    await expect(s3Store.putStream('backups/orders-db/20261202T100000Z-aaaaaaaa/payload', Readable.from([Buffer.alloc(10)]))).rejects.toThrow(InterruptedError);
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
    expect(s3.calls()).toHaveLength(0);
  });
});
