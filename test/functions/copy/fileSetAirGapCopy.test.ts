/**
 * The air-gapped copy of a file-set snapshot (docs/air-gapped-vault.md, "File sets"). The primary and DR vaults are
 * real (the local S3 server), and so is the air-gapped vault's content: the stand-in for the other account's S3 API
 * (the workload may only add objects there) performs each CopyObject into a third local bucket and answers, as S3
 * does, with the SHA-256 of what it stored. The snapshot is then restored from that bucket with the air-gapped key
 * alone, as the vault account would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RDSClient } from '@aws-sdk/client-rds';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client, type CopyObjectCommandInput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AirGapTarget } from '../../../functions/copy/airGapCopy.ts';
import { handleCopyEvent } from '../../../functions/copy/copy.ts';
import type { CopyBackupResult, VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { PROGRESS_EVERY_PACKS } from '../../../functions/copy/fileSetAirGapCopy.ts';
import { kmsKeyring, rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { serializeFileSetManifest, snapshotObjectKey } from '../../../functions/lib/fileset/format.ts';
import { readFileSetManifest } from '../../../functions/lib/fileset/catalog.ts';
import { directoryTarget, restoreFileSet, s3Source, runFileSetBackup, verifyFileSet } from '../../../functions/lib/fileset/index.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { verifyFileSetSnapshot } from '../../../functions/lib/verify/fileSet.ts';
import { fakeKms } from '../../harness/kms.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';

const SOURCE = 'uploads';
const VAULT_ACCOUNT = '444455556666';
const VAULT_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const AIR_GAP_KEY = `arn:aws:kms:eu-west-1:${VAULT_ACCOUNT}:key/0a1b2c3d-1111-2222-3333-444455556666`;
const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const clientProvider = fakeKms();
const vaultOnly = kmsKeyring({ keyIds: [VAULT_KEY], clientProvider });
const withAirGap = kmsKeyring({ keyIds: [VAULT_KEY, AIR_GAP_KEY], clientProvider });
const airGapOnly = kmsKeyring({ keyIds: [AIR_GAP_KEY], clientProvider });
const signer = localHmacSigner(randomBytes(32));

let s3: LocalS3;
let sourceBucket: string;
let primaryBucket: string;
let drBucket: string;
let airGapBucket: string;
let primary: S3Store;
const airGapClient = new S3Client({ region: 'eu-west-1' });
const airGap = mockClient(airGapClient);
const clients: S3Client[] = [];
/** PutObject requests the copy sent to the DR vault, by bucket/key. */
const writesTo = new Map<string, number>();
/** What the stand-in did: destination keys, in order. */
let copied: string[];
/** Keys whose copy the stand-in reports with another SHA-256 (S3 storing something else). */
let corrupt: Set<string>;

beforeAll(async () => {
  s3 = await startLocalS3();
}, 60_000);
afterAll(async () => {
  for (const client of clients) client.destroy();
  await s3?.stop();
});
/** New primary, DR and air-gapped buckets (a source's chunk-id key is one per vault). */
async function freshVaults(): Promise<void> {
  [primaryBucket, drBucket, airGapBucket] = await Promise.all([s3.createBucket(), s3.createBucket(), s3.createBucket()]);
  primary = new S3Store({ client: s3.client, bucket: primaryBucket });
  copied = [];
}

beforeEach(async () => {
  sourceBucket = await s3.createBucket();
  await freshVaults();
  copied = [];
  corrupt = new Set();
  airGap.reset();
  airGap.on(CopyObjectCommand).callsFake(intoAirGapBucket);
  for (let i = 0; i < 12; i++) await putSource(`media/f${i}.bin`, randomBytes(48_000 + i));
});

async function putSource(key: string, body: Buffer): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: body }));
}

/** The other account's S3: the copy is made (into the stand-in bucket) and answered with the SHA-256 of what it stored. */
async function intoAirGapBucket(input: CopyObjectCommandInput) {
  expect(input).toMatchObject({ Bucket: 'lifeboat-airgap', ExpectedBucketOwner: VAULT_ACCOUNT, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: AIR_GAP_KEY });
  const from = decodeURIComponent(input.CopySource!.slice(input.CopySource!.indexOf('/') + 1));
  const object = await s3.client.send(new GetObjectCommand({ Bucket: primaryBucket, Key: from }));
  const bytes = Buffer.from(await object.Body!.transformToByteArray());
  await s3.client.send(new PutObjectCommand({ Bucket: airGapBucket, Key: input.Key, Body: bytes }));
  copied.push(input.Key!);
  const sha256 = createHash('sha256').update(corrupt.has(input.Key!) ? Buffer.concat([bytes, Buffer.from('x')]) : bytes).digest('base64');
  return { CopyObjectResult: { ETag: '"etag"', ...(input.ChecksumAlgorithm === 'SHA256' ? { ChecksumSHA256: sha256 } : {}) } };
}

const target: AirGapTarget = { client: airGapClient, bucket: 'lifeboat-airgap', region: 'eu-west-1', account: VAULT_ACCOUNT, kmsKeyId: AIR_GAP_KEY };

function deps(extra: Partial<VaultCopyDeps> = {}): VaultCopyDeps {
  const primaryClient = createS3Client({ endpoint: s3.endpoint });
  const drClient = createS3Client({ endpoint: s3.endpoint });
  clients.push(primaryClient, drClient);
  drClient.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Bucket?: string; Key?: string; Body?: unknown; CopySource?: string };
      if (input.Body !== undefined && input.CopySource === undefined) writesTo.set(`${input.Bucket}/${input.Key}`, (writesTo.get(`${input.Bucket}/${input.Key}`) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
  return {
    primary: { client: primaryClient, bucket: primaryBucket },
    dr: { client: drClient, bucket: drBucket, region: 'eu-central-1', kmsKeyId: DR_KEY },
    drRds: new RDSClient({ region: 'eu-central-1' }),
    now: () => new Date('2026-12-04T06:00:00.000Z'),
    airGap: target,
    ...extra,
  };
}

/** A backup, its verification (results written in the primary vault), as the pipeline runs them before the copy. */
async function backedUp(keyring = withAirGap, at = '2026-12-04T05:00:00Z') {
  const { manifest } = await runFileSetBackup({
    store: primary, keyring, sourceId: SOURCE, source: s3Source(s3.client, sourceBucket, 'media/'), now: new Date(at), packBytes: 96 * 1024,
    chunking: { minBytes: 16 * 1024, avgBytes: 32 * 1024, maxBytes: 64 * 1024 },
  });
  await verifyFileSetSnapshot({ store: primary, keyring, sourceId: SOURCE, backupId: manifest.backupId, signer, readDataPercent: 100 });
  return manifest;
}

const copy = (backupId: string, extra: Partial<VaultCopyDeps> = {}) =>
  handleCopyEvent({ action: 'copy-backup', kind: 'fileset', sourceId: SOURCE, backupId }, deps(extra)) as Promise<CopyBackupResult>;

async function restoredFromAirGap(backupId: string): Promise<Map<string, Buffer>> {
  const store = new S3Store({ client: s3.client, bucket: airGapBucket });
  const manifest = await readFileSetManifest(store, SOURCE, backupId);
  expect((await verifyFileSet({ store, keyring: airGapOnly, manifest })).problems).toEqual([]);
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-airgap-restore-'));
  try {
    await restoreFileSet({ store, keyring: airGapOnly, manifest, target: directoryTarget(dir) });
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 12; i++) files.set(`f${i}.bin`, await readFile(path.join(dir, `f${i}.bin`)));
    return files;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function sourceFiles(): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 12; i++) {
    const object = await s3.client.send(new GetObjectCommand({ Bucket: sourceBucket, Key: `media/f${i}.bin` }));
    files.set(`f${i}.bin`, Buffer.from(await object.Body!.transformToByteArray()));
  }
  return files;
}

const same = (a: Map<string, Buffer>, b: Map<string, Buffer>) => a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v));

describe('the air-gapped copy of a file-set snapshot', () => {
  it('after the DR copy: packs, chunk-id key, index, files, pack list, results, manifest last; restorable there with the air-gapped key alone', async () => {
    const manifest = await backedUp();
    const result = await copy(manifest.backupId);
    const packs = manifest.totals.packs;
    expect(result).toMatchObject({ kind: 'fileset', alreadyCopied: false, packsCopied: packs });
    expect(result.airGap).toEqual({ bucket: 'lifeboat-airgap', region: 'eu-west-1', objectsCopied: packs + 6, packsCopied: packs, packBytesCopied: manifest.totals.storedBytes, packsAlreadyCopied: 0 });
    const prefix = `filesets/${SOURCE}/`;
    expect(copied.slice(0, packs).every((key) => key.startsWith(`${prefix}packs/${manifest.backupId}/`))).toBe(true);
    expect(copied.slice(packs)).toEqual([
      `${prefix}chunk-id-key`,
      snapshotObjectKey(SOURCE, manifest.backupId, 'index'),
      snapshotObjectKey(SOURCE, manifest.backupId, 'files'),
      snapshotObjectKey(SOURCE, manifest.backupId, 'packs'),
      expect.stringMatching(new RegExp(`^${prefix}snapshots/${manifest.backupId}/verifications/.+\\.json$`)),
      `${prefix}snapshots/${manifest.backupId}/manifest.json`,
    ]);
    expect(same(await restoredFromAirGap(manifest.backupId), await sourceFiles())).toBe(true);
    // What is proven there is recorded in the DR vault, per source.
    const record = JSON.parse((await new S3Store({ client: s3.client, bucket: drBucket }).getObject(`${prefix}air-gap.json`)).toString('utf8'));
    expect(record).toMatchObject({ version: 1, bucket: 'lifeboat-airgap', account: VAULT_ACCOUNT });
    expect(Object.keys(record.packs)).toHaveLength(packs);
  });

  it('the next snapshot copies only its new packs; a retried copy copies no pack again', async () => {
    const first = await backedUp();
    await copy(first.backupId);
    await putSource('media/f0.bin', randomBytes(48_000));
    const second = await backedUp(withAirGap, '2026-12-04T06:00:00Z');
    expect(second.parent).toBe(first.backupId);
    copied = [];
    const result = await copy(second.backupId);
    expect(result.airGap).toMatchObject({ packsCopied: second.totals.newPacks, packsAlreadyCopied: second.totals.packs - second.totals.newPacks });
    expect(copied.filter((key) => key.includes('/packs/')).every((key) => key.includes(`/packs/${second.backupId}/`))).toBe(true);
    const files = await sourceFiles();
    expect(same(await restoredFromAirGap(second.backupId), files)).toBe(true);

    copied = [];
    const retried = await copy(second.backupId);
    expect(retried).toMatchObject({ alreadyCopied: true, airGap: { packsCopied: 0, packsAlreadyCopied: second.totals.packs } });
    expect(copied.some((key) => key.includes('/packs/'))).toBe(false);
    expect(copied.at(-1)).toBe(`filesets/${SOURCE}/snapshots/${second.backupId}/manifest.json`);
  });

  it('skips, with a warning, a snapshot sealed before the air-gapped key was set; the next one, sealed under it, goes whole', async () => {
    const before = await backedUp(vaultOnly);
    const result = await copy(before.backupId);
    expect(result.airGap).toBeUndefined();
    expect(result.warnings).toEqual([
      `File-set snapshot ${SOURCE}/${before.backupId} was not copied to the air-gapped vault: it is sealed under KMS key(s) ${VAULT_KEY}, not the air-gapped key ${AIR_GAP_KEY}, ` +
        'so it would not open there (written before vaultAccount.keyArn was set). The next backup is sealed under it and reads every file again.',
    ]);
    expect(copied).toEqual([]);
    expect(airGap.calls()).toHaveLength(0);

    const after = await backedUp(withAirGap, '2026-12-04T06:00:00Z');
    expect(after.parent).toBeUndefined();
    const next = await copy(after.backupId);
    expect(next.airGap).toMatchObject({ packsCopied: after.totals.packs, packsAlreadyCopied: 0 });
    expect(after.chunkIdKey).toMatch(/^chunk-id-key\./);
    expect(copied).toContain(`filesets/${SOURCE}/${after.chunkIdKey}`);
    expect(same(await restoredFromAirGap(after.backupId), await sourceFiles())).toBe(true);
    // The DR vault got that chunk-id key object too: the snapshot restores there under the DR key replica.
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    const drManifest = await readFileSetManifest(drStore, SOURCE, after.backupId);
    expect((await verifyFileSet({ store: drStore, keyring: kmsKeyring({ keyIds: [DR_KEY], clientProvider }), manifest: drManifest })).problems).toEqual([]);
  });

  it('refuses a pack list that is not the manifest\'s, before anything goes there', async () => {
    const manifest = await backedUp();
    const key = snapshotObjectKey(SOURCE, manifest.backupId, 'packs');
    const list = await primary.getObject(key);
    await primary.putObject(key, Buffer.from(list.toString('utf8').replace(/"sha256":"(.)/, (_m, c: string) => `"sha256":"${c === '0' ? '1' : '0'}`)));
    await expect(copy(manifest.backupId)).rejects.toMatchObject({ name: 'ChecksumMismatchError', message: expect.stringContaining(`${key} in s3://${primaryBucket} has SHA-256`) });
    expect(copied).toEqual([]);
    await primary.putObject(key, Buffer.from('{}\n'));
    await expect(copy(manifest.backupId)).rejects.toMatchObject({ name: 'SizeMismatchError', message: expect.stringContaining('nothing was copied to the air-gapped vault') });
  });

  it('never copies the manifest when S3 reports another SHA-256 for a pack, and keeps what it proved for the rerun', async () => {
    const manifest = await backedUp();
    const list = (await primary.getObject(snapshotObjectKey(SOURCE, manifest.backupId, 'packs'))).toString('utf8').trim().split('\n');
    const bad = `filesets/${SOURCE}/packs/${(JSON.parse(list.at(-1)!) as { pack: string }).pack}`;
    corrupt.add(bad);
    await expect(copy(manifest.backupId)).rejects.toMatchObject({ name: 'ChecksumMismatchError', message: expect.stringContaining(`The copy of ${bad} in the air-gapped vault s3://lifeboat-airgap has SHA-256`) });
    expect(copied.some((key) => key.endsWith('manifest.json'))).toBe(false);

    corrupt.clear();
    copied = [];
    const rerun = await copy(manifest.backupId);
    expect(rerun.airGap).toMatchObject({ packsCopied: 1, packsAlreadyCopied: manifest.totals.packs - 1 });
    expect(copied.filter((key) => key.includes('/packs/'))).toEqual([bad]);
  });

  it('stops between packs once the time is nearly up, records what it proved, and the next run goes on', async () => {
    const manifest = await backedUp();
    let calls = 0;
    // Time runs out after the DR copy and 3 pack copies to the air-gapped vault.
    airGap.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
      calls += 1;
      return intoAirGapBucket(input);
    });
    const remainingTimeMs = () => (calls >= 3 ? 60_000 : 600_000);
    await expect(copy(manifest.backupId, { remainingTimeMs })).rejects.toMatchObject({
      name: 'CopyInterruptedError',
      message: expect.stringContaining(`Stopped the air-gapped copy of file-set snapshot ${SOURCE}/${manifest.backupId} with`),
    });
    const proven = copied.filter((key) => key.includes('/packs/')).length;
    expect(proven).toBeGreaterThanOrEqual(3);
    const record = JSON.parse((await new S3Store({ client: s3.client, bucket: drBucket }).getObject(`filesets/${SOURCE}/air-gap.json`)).toString('utf8'));
    expect(Object.keys(record.packs)).toHaveLength(proven);

    copied = [];
    const rerun = await copy(manifest.backupId);
    expect(rerun.airGap).toMatchObject({ packsCopied: manifest.totals.packs - proven, packsAlreadyCopied: proven });
    expect(same(await restoredFromAirGap(manifest.backupId), await sourceFiles())).toBe(true);
  });

  it('copies everything again when the record is for another air-gapped vault, or does not parse', async () => {
    const manifest = await backedUp();
    const dr = new S3Store({ client: s3.client, bucket: drBucket });
    for (const body of ['{"version":1,"bucket":"other","account":"444455556666","packs":{}}', 'not json']) {
      await copy(manifest.backupId);
      const record = JSON.parse((await dr.getObject(`filesets/${SOURCE}/air-gap.json`)).toString('utf8')) as { packs: Record<string, string> };
      const forged = body.startsWith('{') ? JSON.stringify({ ...JSON.parse(body), packs: record.packs }) : body;
      await dr.putObject(`filesets/${SOURCE}/air-gap.json`, Buffer.from(forged));
      copied = [];
      const retried = await copy(manifest.backupId);
      expect(retried.airGap).toMatchObject({ packsCopied: manifest.totals.packs, packsAlreadyCopied: 0 });
    }
  });
});

describe('the air-gapped copy of a file-set snapshot: what it refuses, skips and records', () => {
  const recordKey = `filesets/${SOURCE}/air-gap.json`;
  const dr = () => new S3Store({ client: s3.client, bucket: drBucket });
  const readRecord = async () => JSON.parse((await dr().getObject(recordKey)).toString('utf8')) as { version: number; bucket: string; account: string; packs: Record<string, string> };

  it('skips a snapshot sealed with a local key, or under KMS keys without the air-gapped one, naming them; and a 1.0 snapshot without a pack list', async () => {
    const local = await backedUp(rawAesKeyring({ keyNamespace: 'lifeboat', keyName: 'k-local', key: randomBytes(32), createdAt: '2026-12-04T00:00:00Z' }));
    await expect(copy(local.backupId)).resolves.toMatchObject({ warnings: [expect.stringContaining('it is sealed under the local key k-local, not the air-gapped key')] });

    await freshVaults();
    const other = 'arn:aws:kms:eu-west-1:111122223333:key/0bb2c0de-1111-2222-3333-444455556666';
    const twoKeys = await backedUp(kmsKeyring({ keyIds: [VAULT_KEY, other], clientProvider }), '2026-12-04T06:00:00Z');
    await expect(copy(twoKeys.backupId)).resolves.toMatchObject({ warnings: [expect.stringContaining(`it is sealed under KMS key(s) ${VAULT_KEY}, ${other}, not the air-gapped key`)] });

    await freshVaults();
    const old = await backedUp(withAirGap, '2026-12-04T07:00:00Z');
    const { packList: _list, chunkIdKey: _key, ...v10 } = { ...old, formatVersion: '1.0' };
    await primary.putObject(`filesets/${SOURCE}/snapshots/${old.backupId}/manifest.json`, serializeFileSetManifest(v10));
    await expect(copy(old.backupId)).resolves.toMatchObject({
      warnings: [`File-set snapshot ${SOURCE}/${old.backupId} was not copied to the air-gapped vault: format 1.0 has no pack list, which the copy needs (1.1)`],
    });
    expect(copied).toEqual([]);
  });

  it('says how many packs are left when it stops, and that the DR copy is complete', async () => {
    const manifest = await backedUp();
    let calls = 0;
    airGap.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
      calls += 1;
      return intoAirGapBucket(input);
    });
    // The DR copy first (it stops out of time too), then the air-gapped copy stops at its first check.
    await copy(manifest.backupId, { airGap: undefined });
    // Having stored nothing, it outgrew Lambda: the state machine goes on with the copy task.
    await expect(copy(manifest.backupId, { remainingTimeMs: () => 60_000 })).rejects.toMatchObject({
      name: 'CopyOutgrewLambdaError',
      message: expect.stringMatching(
        new RegExp(`^${escape(`Stopped the air-gapped copy of file-set snapshot ${SOURCE}/${manifest.backupId} with ${manifest.totals.packs} of ${manifest.totals.packs} pack(s) to go: the runner's time is nearly up. The DR copy is complete; a rerun copies only the packs not yet proven there.`)}`),
      ),
    });
    expect(calls).toBe(0);
    // Out of time after every pack: it stops before the snapshot's own objects, saying the packs are there.
    await expect(copy(manifest.backupId, { remainingTimeMs: () => (calls >= manifest.totals.packs ? 60_000 : 600_000) })).rejects.toMatchObject({
      name: 'CopyInterruptedError',
      message: `Stopped the air-gapped copy of ${SOURCE}/${manifest.backupId} before filesets/${SOURCE}/chunk-id-key: the runner's time is nearly up. Every pack is there; a rerun copies the rest.`,
    });
    expect(copied.some((key) => key.endsWith('manifest.json'))).toBe(false);
  });

  it('proves the chunk-id key, index, files and pack list, and the manifest against what it read; none returned is no proof', async () => {
    for (const object of ['index', 'files', 'packs', 'chunk-id-key', 'manifest.json']) {
      await freshVaults();
      const manifest = await backedUp();
      const key = object === 'chunk-id-key' ? `filesets/${SOURCE}/chunk-id-key` : `filesets/${SOURCE}/snapshots/${manifest.backupId}/${object}`;
      corrupt = new Set([key]);
      copied = [];
      await expect(copy(manifest.backupId)).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: expect.stringContaining(object === 'manifest.json' ? `The copy of ${key} in the air-gapped vault s3://lifeboat-airgap has SHA-256` : `The copy of ${key} in the air-gapped vault s3://lifeboat-airgap has SHA-256`),
      });
      if (object === 'manifest.json') await expect(copy(manifest.backupId)).rejects.toThrow(/the primary's changed meanwhile$/);
      else expect(copied.some((k) => k.endsWith('manifest.json'))).toBe(false);
    }
    corrupt = new Set();
    await freshVaults();
    const manifest = await backedUp(withAirGap, '2026-12-04T09:00:00Z');
    airGap.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"etag"' } });
    await expect(copy(manifest.backupId)).rejects.toMatchObject({ message: expect.stringContaining('has SHA-256 (none returned), the snapshot\'s pack list records') });
  });

  it('refuses a snapshot whose pack list or chunk-id key object is gone, before copying what needs it', async () => {
    const manifest = await backedUp();
    // After the DR copy (which copies the pack list too).
    await copy(manifest.backupId, { airGap: undefined });
    await s3.client.send(new DeleteObjectCommand({ Bucket: primaryBucket, Key: snapshotObjectKey(SOURCE, manifest.backupId, 'packs') }));
    await expect(copy(manifest.backupId)).rejects.toMatchObject({ name: 'ObjectNotFoundError', message: expect.stringContaining('No pack list') });
    expect(copied).toEqual([]);

    await freshVaults();
    await backedUp(vaultOnly, '2026-12-04T06:00:00Z');
    const widened = await backedUp(withAirGap, '2026-12-04T07:00:00Z');
    await copy(widened.backupId, { airGap: undefined });
    await s3.client.send(new DeleteObjectCommand({ Bucket: primaryBucket, Key: `filesets/${SOURCE}/${widened.chunkIdKey}` }));
    await expect(copy(widened.backupId)).rejects.toMatchObject({ name: 'ObjectNotFoundError', message: expect.stringContaining(`No chunk-id key filesets/${SOURCE}/${widened.chunkIdKey}`) });
    expect(copied.some((key) => key.endsWith('manifest.json'))).toBe(false);
  });

  it('keeps in its record this snapshot\'s packs and later backups\' only, sorted, and writes it only when it proved something', async () => {
    const first = await backedUp();
    const later = `${'20261205T000000Z-zzzzzzzz'}/000001`;
    const earlier = `${'20261201T000000Z-aaaaaaaa'}/000001`;
    await dr().putObject(recordKey, Buffer.from(JSON.stringify({ version: 1, bucket: 'lifeboat-airgap', account: VAULT_ACCOUNT, packs: { [later]: 'a'.repeat(64), [earlier]: 'b'.repeat(64), 'not-a-pack': 'c'.repeat(64) } })));
    await copy(first.backupId);
    const record = await readRecord();
    const listed = (await primary.getObject(snapshotObjectKey(SOURCE, first.backupId, 'packs'))).toString('utf8').trim().split('\n').map((l) => (JSON.parse(l) as { pack: string }).pack);
    expect(Object.keys(record.packs)).toEqual([...listed, later].sort());
    expect(record.packs[later]).toBe('a'.repeat(64));

    const writes = await versionsOf(drBucket, recordKey);
    await copy(first.backupId);
    expect(await versionsOf(drBucket, recordKey)).toBe(writes);
  });

  it('copies everything again for a record of another version, account or shape, and ignores entries that are not hashes', async () => {
    const manifest = await backedUp();
    await copy(manifest.backupId);
    const { packs } = await readRecord();
    const names = Object.keys(packs);
    const forged = [
      { version: 2, bucket: 'lifeboat-airgap', account: VAULT_ACCOUNT, packs },
      { version: 1, bucket: 'lifeboat-airgap', account: '999988887777', packs },
      { version: 1, bucket: 'lifeboat-airgap', account: VAULT_ACCOUNT, packs: null },
      { version: 1, bucket: 'lifeboat-airgap', account: VAULT_ACCOUNT, packs: { ...packs, [names[0]!]: 7 } },
    ];
    const expected = [names.length, names.length, names.length, 1];
    for (const [i, record] of forged.entries()) {
      await dr().putObject(recordKey, Buffer.from(JSON.stringify(record)));
      const retried = await copy(manifest.backupId);
      expect(retried.airGap).toMatchObject({ packsCopied: expected[i], packsAlreadyCopied: names.length - expected[i]! });
    }
  });

  it(`writes its record every ${PROGRESS_EVERY_PACKS} packs and when it stops, not after each`, async () => {
    for (let i = 12; i < 40; i++) await putSource(`media/f${i}.bin`, randomBytes(80_000));
    const { manifest } = await runFileSetBackup({
      store: primary, keyring: withAirGap, sourceId: SOURCE, source: s3Source(s3.client, sourceBucket, 'media/'), now: new Date('2026-12-04T05:00:00Z'), packBytes: 1,
      chunking: { minBytes: 2048, avgBytes: 4096, maxBytes: 8192 },
    });
    expect(manifest.totals.packs).toBeGreaterThan(PROGRESS_EVERY_PACKS);
    const bad = `filesets/${SOURCE}/packs/${(JSON.parse((await primary.getObject(snapshotObjectKey(SOURCE, manifest.backupId, 'packs'))).toString('utf8').trim().split('\n').at(-1)!) as { pack: string }).pack}`;
    corrupt.add(bad);
    await expect(copy(manifest.backupId)).rejects.toMatchObject({ name: 'ChecksumMismatchError' });
    // One write after each 256 proven packs, one when the run stopped.
    const proven = manifest.totals.packs - 1;
    expect(await versionsOf(drBucket, recordKey)).toBe(Math.floor(proven / PROGRESS_EVERY_PACKS) + (proven % PROGRESS_EVERY_PACKS > 0 ? 1 : 0));
    expect(Object.keys((await readRecord()).packs)).toHaveLength(manifest.totals.packs - 1);
  }, 60_000);
});

/** How many times the copy wrote `key` into `bucket` (the local server keeps no versions: counted on the DR client). */
async function versionsOf(bucket: string, key: string): Promise<number> {
  return writesTo.get(`${bucket}/${key}`) ?? 0;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
