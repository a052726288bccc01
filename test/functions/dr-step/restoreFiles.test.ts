/**
 * The restore-files step on the local S3 server: snapshots of a source bucket made by the engine into an S3 vault,
 * verified and signed as the pipeline does, then the step executor's core restores the latest verified one (drill:
 * into nowhere, every byte checked; real: into the plan's bucket and prefix, refusing one that holds its objects).
 */
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { runFileSetBackup } from '../../../functions/lib/fileset/backup.ts';
import type { FileSetManifest } from '../../../functions/lib/fileset/format.ts';
import { s3Source } from '../../../functions/lib/fileset/sources.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { verifyFileSetSnapshot } from '../../../functions/lib/verify/fileSet.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { testKeyring } from '../engine/helpers.ts';
import { DR_REGION, REGION, newSuffix, runStep } from './support.ts';

const SOURCE = 'uploads';
const NOW = new Date('2026-12-03T09:00:00.000Z');

describe('restore-files on the local S3 server', () => {
  let s3: LocalS3;
  let sourceBucket: string;
  let deps: DrStepDeps;
  const keyring = testKeyring('k-restore-files');
  const signer = localHmacSigner(randomBytes(32));
  const snapshots: FileSetManifest[] = [];
  const before = new Map<string, Buffer>();

  beforeAll(async () => {
    s3 = await startLocalS3();
    sourceBucket = await s3.createBucket();
    for (let i = 0; i < 12; i++) before.set(`media/${i}.jpg`, randomBytes(2000 + i));
    for (const [key, body] of before) await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: body }));
    const store = new S3Store({ client: s3.client, bucket: await s3.createBucket() });
    const source = s3Source(s3.client, sourceBucket, 'media/');
    snapshots.push((await runFileSetBackup({ store, keyring, sourceId: SOURCE, source, now: new Date(Date.now() - 7_200_000) })).manifest);
    await verifyFileSetSnapshot({ store, keyring, sourceId: SOURCE, backupId: snapshots[0]!.backupId, signer });
    // The newest snapshot is unverified: the step passes over it to the verified one.
    await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: 'media/0.jpg', Body: randomBytes(10) }));
    snapshots.push((await runFileSetBackup({ store, keyring, sourceId: SOURCE, source })).manifest);
    deps = {
      sources: [],
      regions: {
        primary: { name: REGION, rds: new RDSClient({ region: REGION }), store, keyring },
        dr: { name: DR_REGION, rds: new RDSClient({ region: DR_REGION }), store: new S3Store({ client: s3.client, bucket: await s3.createBucket() }), keyring },
      },
      verificationKey: signer,
      s3: () => s3.client,
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: {},
      planTopics: {},
      now: () => NOW,
    };
  }, 120_000);
  afterAll(async () => {
    await s3?.stop();
  });

  const objectsIn = async (bucket: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key);

  it('drill: reads and checks every file of the latest verified snapshot, writing nothing anywhere', async () => {
    const target = await s3.createBucket();
    const record = await handleDrStepEvent(runStep('files', 'restore-files', { source: SOURCE, target: { bucket: target, prefix: 'restored/' } }, { mode: 'drill', suffix: newSuffix() }), deps);
    expect(record).toEqual({
      stepId: 'files',
      kind: 'restore-files',
      status: 'succeeded',
      startedAt: NOW.toISOString(),
      endedAt: NOW.toISOString(),
      result: {
        sourceId: SOURCE,
        region: 'primary',
        backupId: snapshots[0]!.backupId,
        backupCompletedAt: snapshots[0]!.completedAt,
        restoredDataAt: snapshots[0]!.startedAt,
        target: { discarded: true },
        files: 12,
        bytes: [...before.values()].reduce((n, b) => n + b.length, 0),
        drill: true,
      },
    });
    expect(await objectsIn(target)).toEqual([]);
  });

  it('real: restores the verified snapshot into the bucket and prefix, then refuses to write over it', async () => {
    const target = await s3.createBucket();
    const event = runStep('files', 'restore-files', { source: SOURCE, target: { bucket: target, prefix: 'restored/' } }, { suffix: newSuffix() });
    const record = await handleDrStepEvent(event, deps);
    expect(record).toMatchObject({ status: 'succeeded', result: { backupId: snapshots[0]!.backupId, target: { bucket: target, prefix: 'restored/' }, files: 12, drill: false } });
    const got = await s3.client.send(new GetObjectCommand({ Bucket: target, Key: 'restored/0.jpg' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(before.get('media/0.jpg')!)).toBe(true);
    await expect(handleDrStepEvent(event, deps)).rejects.toMatchObject({ name: 'TargetNotEmptyError' });
  });

  it('air-gap: restores the latest verified snapshot of the air-gapped vault, read through its own store', async () => {
    // The air-gapped vault holds byte-for-byte copies of the verified snapshot's objects, its packs and chunk-id key.
    const primary = deps.regions.primary;
    const airGapStore = new S3Store({ client: s3.client, bucket: await s3.createBucket() });
    const copied = snapshots[0]!;
    const wanted = (key: string) => !key.includes('/snapshots/') || key.includes(`/snapshots/${copied.backupId}/`);
    for await (const key of primary.store.list(`filesets/${SOURCE}/`)) if (wanted(key)) await airGapStore.putObject(key, await primary.store.getObject(key));
    const withAirGap = { ...deps, regions: { ...deps.regions, 'air-gap': { name: 'eu-west-1', rds: new RDSClient({ region: REGION }), store: airGapStore, keyring } } };
    const target = await s3.createBucket();
    const record = await handleDrStepEvent(runStep('files', 'restore-files', { source: SOURCE, region: 'air-gap', target: { bucket: target, prefix: 'r/' } }, { suffix: newSuffix() }), withAirGap);
    expect(record).toMatchObject({ status: 'succeeded', result: { region: 'air-gap', backupId: copied.backupId, files: 12, drill: false } });
    const got = await s3.client.send(new GetObjectCommand({ Bucket: target, Key: 'r/5.jpg' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(before.get('media/5.jpg')!)).toBe(true);
    // A function deployed without the air-gapped vault says so.
    await expect(handleDrStepEvent(runStep('files', 'restore-files', { source: SOURCE, region: 'air-gap', target: { bucket: target } }, { suffix: newSuffix() }), deps)).rejects.toThrow(
      'This function has no air-gapped vault configured (vaultAccount with its keyArn)',
    );
  });

  it('one path at a point in time; no verified snapshot in the DR vault is NoRecoveryPointError naming it', async () => {
    const target = await s3.createBucket();
    const record = await handleDrStepEvent(
      runStep('files', 'restore-files', { source: SOURCE, path: '3.jpg', pointInTime: new Date().toISOString(), target: { bucket: target } }, { suffix: newSuffix() }),
      deps,
    );
    expect(record).toMatchObject({ result: { path: '3.jpg', files: 1 } });
    expect(await objectsIn(target)).toEqual(['3.jpg']);
    await expect(handleDrStepEvent(runStep('files', 'restore-files', { source: SOURCE, region: 'dr', target: { bucket: target } }, { suffix: newSuffix() }), deps)).rejects.toMatchObject({
      name: 'NoRecoveryPointError',
      message: expect.stringMatching(/^No verified snapshot of file set uploads in the dr vault .*it holds no such snapshot$/),
    });
  });
});
