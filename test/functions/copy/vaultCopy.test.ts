import 'aws-sdk-client-mock-vitest/extend';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, ModifyDBClusterSnapshotAttributeCommand, ModifyDBSnapshotAttributeCommand, RDSClient, type DBSnapshot } from '@aws-sdk/client-rds';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { handleCopyEvent } from '../../../functions/copy/copy.ts';
import type { CopyBackupResult, VaultCopyDeps } from '../../../functions/copy/vaultCopy.ts';
import {
  BackupConflictError,
  BackupNotFoundError,
  ChecksumMismatchError,
  SizeMismatchError,
  SnapshotNotReadyError,
} from '../../../functions/lib/errors.ts';
import { listBackups, readManifest, writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { sampleManifest } from '../vault/fixtures.ts';

const MiB = 1024 * 1024;
const PRIMARY_REGION = 'eu-west-1';
const DR_REGION = 'eu-central-1';
const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd';
const COMPLETED_AT = '2026-11-22T05:41:02.907Z';
const NOW = new Date('2026-11-22T05:43:02.907Z');

interface SentCommand {
  name: string;
  input: Record<string, unknown>;
}

/** Records every command `client` sends, so tests can see what the copy asked S3 to do, and in which order. */
function recordCommands(client: S3Client): SentCommand[] {
  const sent: SentCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ name: context.commandName ?? '?', input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return sent;
}

/** After S3 reports the payload copied, replaces the DR copy with `damage(bytes)`: S3 storing something else. */
function damageCopiedPayload(client: S3Client, writer: S3Client, damage: (bytes: Buffer) => Buffer): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as { Bucket: string; Key: string; CopySource?: string };
      if (context.commandName === 'CopyObjectCommand' && input.Key.endsWith('/payload')) {
        const original = await writer.send(new GetObjectCommand({ Bucket: input.Bucket, Key: input.Key }));
        const bytes = damage(Buffer.from(await original.Body!.transformToByteArray()));
        await writer.send(new PutObjectCommand({ Bucket: input.Bucket, Key: input.Key, Body: bytes, ContentLength: bytes.length }));
      }
      return result;
    },
    { step: 'initialize', name: 'damageCopiedPayload' },
  );
}

let s3: LocalS3;
let primaryBucket: string;
let drBucket: string;
let primaryStore: S3Store;
let drStore: S3Store;
let clients: S3Client[];
const drRdsClient = new RDSClient({ region: DR_REGION });
const drRds = mockClient(drRdsClient);

beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  for (const client of clients ?? []) client.destroy();
  await s3?.stop();
});
beforeEach(async () => {
  drRds.reset();
  primaryBucket = await s3.createBucket();
  drBucket = await s3.createBucket();
  primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket, partSize: 5 * MiB });
  drStore = new S3Store({ client: s3.client, bucket: drBucket });
});

/** Separate clients per vault (as in Lambda, one per region), so middleware on one never touches the other. */
function copyDeps(overrides: Partial<VaultCopyDeps> = {}): VaultCopyDeps & { drSent: SentCommand[]; primaryClient: S3Client; drClient: S3Client } {
  const primaryClient = createS3Client({ endpoint: s3.endpoint });
  const drClient = createS3Client({ endpoint: s3.endpoint });
  clients = [...(clients ?? []), primaryClient, drClient];
  const drSent = recordCommands(drClient);
  return {
    primary: { client: primaryClient, bucket: primaryBucket },
    dr: { client: drClient, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
    drRds: drRdsClient,
    now: () => NOW,
    drSent,
    primaryClient,
    drClient,
    ...overrides,
  };
}

/** A dump-sized backup written as the engine writes one: a streamed multipart payload, then the manifest. */
async function storeDumpBackup(backupId: string, bytes = 6 * MiB + 123): Promise<{ manifest: BackupManifest; payload: Buffer }> {
  const payload = randomBytes(bytes);
  const stored = await primaryStore.putStream(payloadKey('orders-db', backupId), Readable.from([payload.subarray(0, 3 * MiB), payload.subarray(3 * MiB)]));
  const manifest = sampleManifest({
    backupId,
    completedAt: COMPLETED_AT,
    payload: { ...sampleManifest().payload!, storedBytes: stored.bytes, sha256: createHash('sha256').update(payload).digest('hex') },
    encryption: { ...sampleManifest().encryption!, encryptionContext: { 'lifeboat:source': 'orders-db', 'lifeboat:backup': backupId } },
  });
  await writeManifest(primaryStore, manifest);
  return { manifest, payload };
}

const BACKUP = '20261122T053327Z-k3x7q2ab';

describe('copy-backup of a dump', () => {
  it('copies payload, then manifest, then verification results; the DR vault lists the backup with identical bytes', async () => {
    const { manifest, payload } = await storeDumpBackup(BACKUP);
    const verification = verificationKey('orders-db', BACKUP, new Date('2026-11-22T05:42:00.000Z'));
    await primaryStore.putObject(verification, '{"stand-in":"verification result"}');
    const deps = copyDeps();

    const result = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps)) as CopyBackupResult;
    expect(result).toEqual({
      sourceId: 'orders-db',
      backupId: BACKUP,
      kind: 'dump',
      drBucket,
      drRegion: DR_REGION,
      manifestKey: manifestKey('orders-db', BACKUP),
      payloadBytes: payload.length,
      sha256: manifest.payload!.sha256,
      multipart: false,
      partsCopied: 0,
      partsResumed: 0,
      payloadObjectsReused: 0,
      staleUploadsAborted: 0,
      verificationsCopied: 1,
      alreadyCopied: false,
      completedAt: COMPLETED_AT,
      copiedAt: NOW.toISOString(),
      replicationLagSeconds: 120,
    });
    expect(await listBackups(drStore)).toEqual([manifest]);
    // Buffer.equals: vitest's deep equality walks a 6 MiB buffer element by element for most of a minute.
    expect((await drStore.getObject(payloadKey('orders-db', BACKUP))).equals(payload)).toBe(true);
    expect((await drStore.getObject(verification)).toString()).toBe('{"stand-in":"verification result"}');

    // Server-side copies under the DR key, the payload checked by a full read before the manifest is copied.
    const writes = deps.drSent.filter((c) => c.name !== 'ListObjectsV2Command');
    expect(writes.map((c) => [c.name, c.input.Key])).toEqual([
      ['GetObjectCommand', manifestKey('orders-db', BACKUP)],
      ['HeadObjectCommand', payloadKey('orders-db', BACKUP)],
      ['CopyObjectCommand', payloadKey('orders-db', BACKUP)],
      ['HeadObjectCommand', payloadKey('orders-db', BACKUP)],
      ['GetObjectCommand', payloadKey('orders-db', BACKUP)],
      ['CopyObjectCommand', manifestKey('orders-db', BACKUP)],
      ['CopyObjectCommand', verification],
    ]);
    for (const copy of writes.filter((c) => c.name === 'CopyObjectCommand')) {
      expect(copy.input).toMatchObject({
        Bucket: drBucket,
        CopySource: `${primaryBucket}/${copy.input.Key as string}`,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: DR_KEY,
        BucketKeyEnabled: true,
      });
    }
    // The copies are pinned to the objects that were read: a source replaced meanwhile fails the copy.
    const primaryPayload = await s3.client.send(new HeadObjectCommand({ Bucket: primaryBucket, Key: payloadKey('orders-db', BACKUP) }));
    const primaryManifest = await s3.client.send(new HeadObjectCommand({ Bucket: primaryBucket, Key: manifestKey('orders-db', BACKUP) }));
    expect(writes[2]!.input.CopySourceIfMatch).toBe(primaryPayload.ETag);
    expect(writes[5]!.input.CopySourceIfMatch).toBe(primaryManifest.ETag);
  });

  it('is idempotent: a retried copy finds the identical manifest, copies only missing verification results, and reports the lag as first recorded', async () => {
    await storeDumpBackup(BACKUP);
    await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, copyDeps());
    const later = verificationKey('orders-db', BACKUP, new Date('2026-11-23T05:42:00.000Z'));
    await primaryStore.putObject(later, '{}');
    const deps = copyDeps({ now: () => new Date(NOW.getTime() + 3_600_000) });

    const again = (await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps)) as CopyBackupResult;

    expect(again).toMatchObject({ alreadyCopied: true, verificationsCopied: 1 });
    // The DR manifest's LastModified (written moments ago, in real time), not this retry's clock an hour later.
    expect(Date.now() - Date.parse(again.copiedAt)).toBeGreaterThanOrEqual(0);
    expect(Date.now() - Date.parse(again.copiedAt)).toBeLessThan(60_000);
    expect(deps.drSent.filter((c) => c.name === 'CopyObjectCommand').map((c) => c.input.Key)).toEqual([later]);
  });

  it.each([
    ['a flipped byte', (b: Buffer) => Buffer.concat([b.subarray(0, 1000), Buffer.from([b[1000]! ^ 0x01]), b.subarray(1001)]), ChecksumMismatchError],
    ['a truncated copy', (b: Buffer) => b.subarray(0, b.length - 1), SizeMismatchError],
  ])('detects %s in the DR copy and does not copy the manifest; a later healthy retry succeeds', async (_, damage, ErrorClass) => {
    const { manifest } = await storeDumpBackup(BACKUP);
    const deps = copyDeps();
    damageCopiedPayload(deps.drClient, s3.client, damage);

    const error = await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ErrorClass);
    expect((error as Error).message).toContain('the manifest was not copied');
    expect(await drStore.head(manifestKey('orders-db', BACKUP))).toBeUndefined();
    expect(await listBackups(drStore)).toEqual([]);
    expect(deps.drSent.filter((c) => c.name === 'CopyObjectCommand').map((c) => c.input.Key)).toEqual([payloadKey('orders-db', BACKUP)]);

    await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, copyDeps());
    expect(await listBackups(drStore)).toEqual([manifest]);
  });

  it('refuses a primary payload whose size differs from its manifest, before copying anything', async () => {
    await storeDumpBackup(BACKUP);
    await primaryStore.putObject(payloadKey('orders-db', BACKUP), 'short');
    const deps = copyDeps();

    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, deps)).rejects.toBeInstanceOf(SizeMismatchError);
    expect(deps.drSent.filter((c) => c.name === 'CopyObjectCommand')).toEqual([]);
  });

  it('fails with BackupNotFoundError for a backup without a manifest, and BackupConflictError for a different DR manifest', async () => {
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, copyDeps())).rejects.toBeInstanceOf(BackupNotFoundError);

    await storeDumpBackup(BACKUP);
    await drStore.putObject(manifestKey('orders-db', BACKUP), '{"format":"something else"}');
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: BACKUP }, copyDeps())).rejects.toBeInstanceOf(BackupConflictError);
  });

  it('refuses malformed ids before touching S3', async () => {
    const deps = copyDeps();
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'Orders', backupId: 'latest' }, deps)).rejects.toThrow(/sourceId: .*backupId: /s);
    expect(deps.drSent).toEqual([]);
  });
});

describe('copy-backup of a snapshot', () => {
  const SNAPSHOT_BACKUP = '20261122T030000Z-abcdefgh';
  const NAME = `lifeboat-orders-db-${SNAPSHOT_BACKUP.toLowerCase()}`;
  const PRIMARY_ARN = `arn:aws:rds:${PRIMARY_REGION}:111122223333:snapshot:${NAME}`;
  const DR_ARN = `arn:aws:rds:${DR_REGION}:111122223333:snapshot:${NAME}`;

  async function storeSnapshotBackup(arn = PRIMARY_ARN): Promise<BackupManifest> {
    const manifest: BackupManifest = {
      format: 'lifeboat-backup',
      formatVersion: '1.0',
      backupId: SNAPSHOT_BACKUP,
      sourceId: 'orders-db',
      kind: 'snapshot',
      engine: 'postgresql',
      startedAt: '2026-11-22T03:00:00.000Z',
      completedAt: COMPLETED_AT,
      source: { database: 'orders', serverVersion: '16.4' },
      tools: { lifeboat: '0.1.0' },
      content: { tables: [] },
      snapshot: { arn, identifier: NAME, region: PRIMARY_REGION },
    };
    await writeManifest(primaryStore, manifest);
    return manifest;
  }

  const drCopy = (overrides: Partial<DBSnapshot> = {}): DBSnapshot => ({
    DBSnapshotIdentifier: NAME,
    DBSnapshotArn: DR_ARN,
    Status: 'available',
    PercentProgress: 100,
    SnapshotType: 'manual',
    TagList: [{ Key: 'lifeboat:source', Value: 'orders-db' }, { Key: 'lifeboat:backup-id', Value: SNAPSHOT_BACKUP }],
    ...overrides,
  });

  it('writes the DR manifest pointing at the DR copy once it is available, under the DR key', async () => {
    const manifest = await storeSnapshotBackup();
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    const deps = copyDeps();

    const result = await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, deps);

    expect(result).toMatchObject({ kind: 'snapshot', snapshotArn: DR_ARN, alreadyCopied: false, replicationLagSeconds: 120 });
    expect(await readManifest(drStore, 'orders-db', SNAPSHOT_BACKUP)).toEqual({
      ...manifest,
      snapshot: { arn: DR_ARN, identifier: NAME, region: DR_REGION },
    });
    expect(deps.drSent.find((c) => c.name === 'PutObjectCommand')?.input).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: DR_KEY,
      BucketKeyEnabled: true,
      ContentMD5: expect.any(String),
    });

    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps())).resolves.toMatchObject({ alreadyCopied: true });
  });

  const airGap = (region: string) => ({ client: createS3Client({ endpoint: s3.endpoint }), bucket: 'lifeboat-airgap-444455556666-x', region, account: '444455556666', kmsKeyId: `arn:aws:kms:${region}:444455556666:key/k` });

  it('with an air-gapped vault in the DR region, shares the DR copy with the vault account (again on a rerun) before the DR manifest names it', async () => {
    await storeSnapshotBackup();
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });
    drRds.on(ModifyDBSnapshotAttributeCommand).resolves({});

    const result = await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps({ airGap: airGap(DR_REGION) }));

    expect(result).toMatchObject({ kind: 'snapshot', snapshotArn: DR_ARN, snapshotSharedWith: '444455556666', alreadyCopied: false });
    expect(drRds).toHaveReceivedCommandExactlyOnceWith(ModifyDBSnapshotAttributeCommand, { DBSnapshotIdentifier: NAME, AttributeName: 'restore', ValuesToAdd: ['444455556666'] });
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps({ airGap: airGap(DR_REGION) }))).resolves.toMatchObject({ alreadyCopied: true, snapshotSharedWith: '444455556666' });
    expect(drRds).toHaveReceivedCommandTimes(ModifyDBSnapshotAttributeCommand, 2);
  });

  it('shares an Aurora or DocumentDB cluster snapshot\'s DR copy the same way; a share RDS refuses fails the copy and no DR manifest is written', async () => {
    await storeSnapshotBackup(`arn:aws:rds:${PRIMARY_REGION}:111122223333:cluster-snapshot:${NAME}`);
    drRds.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: NAME }).resolves({
      DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: NAME, DBClusterSnapshotArn: DR_ARN.replace(':snapshot:', ':cluster-snapshot:'), Status: 'available', PercentProgress: 100, TagList: drCopy().TagList }],
    });
    drRds.on(ModifyDBClusterSnapshotAttributeCommand).rejectsOnce(Object.assign(new Error('not authorized to share'), { name: 'AccessDenied' })).resolves({});

    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps({ airGap: airGap(DR_REGION) }))).rejects.toThrow('not authorized to share');
    expect(await drStore.head(manifestKey('orders-db', SNAPSHOT_BACKUP))).toBeUndefined();

    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps({ airGap: airGap(DR_REGION) }))).resolves.toMatchObject({ snapshotSharedWith: '444455556666' });
    expect(drRds).toHaveReceivedCommandWith(ModifyDBClusterSnapshotAttributeCommand, { DBClusterSnapshotIdentifier: NAME, AttributeName: 'restore', ValuesToAdd: ['444455556666'] });
  });

  it('shares nothing when the air-gapped vault is in another region than the DR copy (a shared encrypted snapshot is copied only within its region)', async () => {
    await storeSnapshotBackup();
    drRds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [drCopy()] });

    const result = await handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps({ airGap: airGap(PRIMARY_REGION) }));

    expect(result).not.toHaveProperty('snapshotSharedWith');
    expect(drRds).not.toHaveReceivedCommand(ModifyDBSnapshotAttributeCommand);
  });

  it('waits (SnapshotNotReadyError) while the DR copy is still copying or not there yet, writing nothing', async () => {
    await storeSnapshotBackup();
    drRds.on(DescribeDBSnapshotsCommand).resolvesOnce({ DBSnapshots: [drCopy({ Status: 'copying', PercentProgress: 40 })] }).resolvesOnce({ DBSnapshots: [] });

    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps())).rejects.toBeInstanceOf(SnapshotNotReadyError);
    await expect(handleCopyEvent({ action: 'copy-backup', sourceId: 'orders-db', backupId: SNAPSHOT_BACKUP }, copyDeps())).rejects.toBeInstanceOf(SnapshotNotReadyError);
    expect(await drStore.head(manifestKey('orders-db', SNAPSHOT_BACKUP))).toBeUndefined();
  });
});
