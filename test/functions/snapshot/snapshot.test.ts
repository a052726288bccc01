import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  DBClusterSnapshotAlreadyExistsFault,
  DBSnapshotAlreadyExistsFault,
  DBSnapshotNotFoundFault,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBClusterStateFault,
  InvalidDBInstanceStateFault,
  RDSClient,
  SnapshotQuotaExceededFault,
  type DBClusterSnapshot,
  type DBSnapshot,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { retentionPolicyTag } from '../../../functions/lib/aws/rdsSnapshot.ts';
import {
  BackupConflictError,
  ConfigError,
  SnapshotAlreadyRunningError,
  SnapshotFailedError,
  SnapshotNotReadyError,
  SnapshotQuotaExceededError,
} from '../../../functions/lib/errors.ts';
import { fromDBSnapshot } from '../../../functions/lib/retention/snapshots.ts';
import { listBackups, writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import {
  SnapshotSourceSchema,
  derivedBackupId,
  handleSnapshotEvent,
  type SnapshotDeps,
  type SnapshotRef,
  type SnapshotSource,
  type SnapshotStatus,
} from '../../../functions/snapshot/snapshot.ts';
import { sampleManifest } from '../vault/fixtures.ts';

const REGION = 'eu-west-1';
const ACCOUNT = '111122223333';
const EXECUTION = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:orders-db-20261122T053327Z`;
const START = '2026-11-22T05:33:27.120Z';
const NOW = new Date('2026-11-22T05:51:02.000Z');
const POLICY = retentionPolicyTag({ days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } });

const orders: SnapshotSource = {
  id: 'orders-db',
  engine: 'postgresql',
  database: 'orders',
  rds: { type: 'instance', identifier: 'orders-prod' },
  policy: POLICY,
};
const ledger: SnapshotSource = { id: 'ledger', engine: 'mysql', rds: { type: 'cluster', identifier: 'ledger-aurora' } };

const BACKUP_ID = derivedBackupId(EXECUTION, 'orders-db', new Date(START));
const NAME = `lifeboat-orders-db-${BACKUP_ID.toLowerCase()}`;
const ARN = `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${NAME}`;

const rdsClient = new RDSClient({ region: REGION });
const rds = mockClient(rdsClient);

function ordersTags(backupId = BACKUP_ID) {
  return [
    { Key: 'lifeboat:source', Value: 'orders-db' },
    { Key: 'lifeboat:backup-id', Value: backupId },
    { Key: 'lifeboat:policy', Value: POLICY },
    { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
  ];
}

function instanceSnapshot(overrides: Partial<DBSnapshot> = {}): DBSnapshot {
  return {
    DBSnapshotIdentifier: NAME,
    DBSnapshotArn: ARN,
    DBInstanceIdentifier: 'orders-prod',
    SnapshotType: 'manual',
    Status: 'creating',
    PercentProgress: 0,
    EngineVersion: '16.4',
    SnapshotCreateTime: new Date('2026-11-22T05:33:29Z'),
    TagList: ordersTags(),
    ...overrides,
  };
}

const rdsFault = <T>(Fault: new (opts: { message: string; $metadata: object }) => T, message: string): T =>
  new Fault({ message, $metadata: {} });

let root: string;
let store: LocalStore;
let deps: SnapshotDeps;
beforeEach(async () => {
  rds.reset();
  root = await mkdtemp(path.join(tmpdir(), 'lifeboat-snapshot-'));
  store = new LocalStore(root);
  deps = { sources: [orders, ledger], rds: rdsClient, store, region: REGION, now: () => NOW };
});
afterEach(() => rm(root, { recursive: true, force: true }));

const create = (extra: Record<string, unknown> = {}) =>
  handleSnapshotEvent({ action: 'create', sourceId: 'orders-db', executionId: EXECUTION, executionStartTime: START, ...extra }, deps) as Promise<SnapshotStatus>;
const ref = (): SnapshotRef => ({
  sourceId: 'orders-db',
  backupId: BACKUP_ID,
  type: 'instance',
  snapshotIdentifier: NAME,
  snapshotArn: ARN,
  region: REGION,
  startedAt: START,
});

describe('create', () => {
  it('starts an instance snapshot named after the backup, with the four Lifeboat tags, and returns where it is', async () => {
    rds.on(CreateDBSnapshotCommand).resolves({ DBSnapshot: instanceSnapshot() });

    const result = await create();

    expect(rds).toHaveReceivedCommandTimes(CreateDBSnapshotCommand, 1);
    expect(rds).toHaveReceivedCommandWith(CreateDBSnapshotCommand, {
      DBSnapshotIdentifier: NAME,
      DBInstanceIdentifier: 'orders-prod',
      Tags: [
        { Key: 'lifeboat:source', Value: 'orders-db' },
        { Key: 'lifeboat:backup-id', Value: BACKUP_ID },
        { Key: 'lifeboat:policy', Value: 'keep-last=7 days=35 gfs=7/4/12/0' },
        { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
      ],
    });
    expect(result).toEqual({ ...ref(), status: 'creating', percentProgress: 0 });
    // The name is a valid RDS identifier, and retention recognises the snapshot as Lifeboat's.
    expect(NAME).toMatch(/^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$/);
    expect(fromDBSnapshot(REGION, instanceSnapshot())).toMatchObject({ sourceId: 'orders-db', backupId: BACKUP_ID });
  });

  it('starts an Aurora cluster snapshot for a cluster source, tagged with the default policy', async () => {
    const backupId = derivedBackupId(EXECUTION, 'ledger', new Date(START));
    const name = `lifeboat-ledger-${backupId.toLowerCase()}`;
    const arn = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${name}`;
    rds.on(CreateDBClusterSnapshotCommand).resolves({
      DBClusterSnapshot: { DBClusterSnapshotIdentifier: name, DBClusterSnapshotArn: arn, Status: 'creating', PercentProgress: 0 } satisfies DBClusterSnapshot,
    });

    const result = await create({ sourceId: 'ledger' });

    expect(rds).toHaveReceivedCommandWith(CreateDBClusterSnapshotCommand, {
      DBClusterSnapshotIdentifier: name,
      DBClusterIdentifier: 'ledger-aurora',
      Tags: [
        { Key: 'lifeboat:source', Value: 'ledger' },
        { Key: 'lifeboat:backup-id', Value: backupId },
        { Key: 'lifeboat:policy', Value: 'default' },
        { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
      ],
    });
    expect(rds).toHaveReceivedCommandTimes(CreateDBSnapshotCommand, 0);
    expect(result).toMatchObject({ type: 'cluster', snapshotIdentifier: name, snapshotArn: arn, backupId });
  });

  it('derives one backup id per execution, so a retried create asks for the same name; another execution gets another', () => {
    expect(BACKUP_ID).toMatch(/^20261122T053327Z-[a-z2-7]{8}$/);
    expect(derivedBackupId(EXECUTION, 'orders-db', new Date(START))).toBe(BACKUP_ID);
    expect(derivedBackupId(`${EXECUTION}-2`, 'orders-db', new Date(START))).not.toBe(BACKUP_ID);
    expect(derivedBackupId(EXECUTION, 'ledger', new Date(START))).not.toBe(BACKUP_ID);
  });

  it('uses a given backup id, and mints a fresh one without execution details', async () => {
    rds.on(CreateDBSnapshotCommand).callsFake((input: { DBSnapshotIdentifier: string }) => ({
      DBSnapshot: instanceSnapshot({ DBSnapshotIdentifier: input.DBSnapshotIdentifier, DBSnapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${input.DBSnapshotIdentifier}` }),
    }));

    const given = await handleSnapshotEvent({ action: 'create', sourceId: 'orders-db', backupId: '20261101T010000Z-aaaaaaaa' }, deps);
    const fresh = await handleSnapshotEvent({ action: 'create', sourceId: 'orders-db' }, deps);

    expect(given).toMatchObject({ backupId: '20261101T010000Z-aaaaaaaa', snapshotIdentifier: 'lifeboat-orders-db-20261101t010000z-aaaaaaaa', startedAt: '2026-11-01T01:00:00.000Z' });
    expect(fresh).toMatchObject({ startedAt: NOW.toISOString() });
    expect(fresh.backupId).toMatch(/^20261122T055102Z-[a-z2-7]{8}$/);
  });

  it('treats "already exists" as the snapshot an earlier attempt started: describes it and returns it', async () => {
    rds.on(CreateDBSnapshotCommand).rejects(rdsFault(DBSnapshotAlreadyExistsFault, `Cannot create the snapshot because a snapshot with the identifier ${NAME} already exists.`));
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [instanceSnapshot({ Status: 'creating', PercentProgress: 35 })] });

    const result = await create();

    expect(rds).toHaveReceivedCommandWith(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME });
    expect(result).toEqual({ ...ref(), status: 'creating', percentProgress: 35 });
  });

  it('refuses a same-named snapshot that is not this backup (other tags or another instance)', async () => {
    rds.on(CreateDBSnapshotCommand).rejects(rdsFault(DBSnapshotAlreadyExistsFault, 'exists'));
    rds.on(DescribeDBSnapshotsCommand).resolvesOnce({ DBSnapshots: [instanceSnapshot({ TagList: [] })] })
      .resolvesOnce({ DBSnapshots: [instanceSnapshot({ DBInstanceIdentifier: 'someone-else' })] });

    await expect(create()).rejects.toBeInstanceOf(BackupConflictError);
    await expect(create()).rejects.toBeInstanceOf(BackupConflictError);
  });

  it('also finds an existing Aurora cluster snapshot on a retry', async () => {
    const backupId = derivedBackupId(EXECUTION, 'ledger', new Date(START));
    const name = `lifeboat-ledger-${backupId.toLowerCase()}`;
    rds.on(CreateDBClusterSnapshotCommand).rejects(rdsFault(DBClusterSnapshotAlreadyExistsFault, 'exists'));
    rds.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: name }).resolves({
      DBClusterSnapshots: [{
        DBClusterSnapshotIdentifier: name,
        DBClusterSnapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${name}`,
        DBClusterIdentifier: 'ledger-aurora',
        Status: 'available',
        PercentProgress: 100,
        TagList: [{ Key: 'lifeboat:source', Value: 'ledger' }, { Key: 'lifeboat:backup-id', Value: backupId }],
      }],
    });

    await expect(create({ sourceId: 'ledger' })).resolves.toMatchObject({ status: 'available', percentProgress: 100, type: 'cluster' });
  });

  it.each([
    ['InvalidDBInstanceState', () => rdsFault(InvalidDBInstanceStateFault, 'Cannot create a snapshot because the database instance orders-prod is not currently in the available state.')],
    ['InvalidDBClusterStateFault', () => rdsFault(InvalidDBClusterStateFault, 'Cluster is currently backing up')],
  ])('maps %s (a snapshot already running) to the retryable SnapshotAlreadyRunningError', async (_, fault) => {
    rds.on(CreateDBSnapshotCommand).rejects(fault());
    rds.on(CreateDBClusterSnapshotCommand).rejects(fault());

    const error = await create({ sourceId: _ === 'InvalidDBInstanceState' ? 'orders-db' : 'ledger' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SnapshotAlreadyRunningError);
    expect(error).toMatchObject({ name: 'SnapshotAlreadyRunningError', retryable: true });
    expect((error as Error).cause).toBeDefined();
  });

  it('maps SnapshotQuotaExceeded to SnapshotQuotaExceededError, which is not retryable', async () => {
    rds.on(CreateDBSnapshotCommand).rejects(rdsFault(SnapshotQuotaExceededFault, 'Cannot create more than 100 manual snapshots'));

    const error = await create().catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'SnapshotQuotaExceededError', retryable: false });
    expect((error as Error).message).toContain('eu-west-1');
  });

  it('passes any other RDS error through unchanged', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDenied' });
    rds.on(CreateDBSnapshotCommand).rejects(denied);

    await expect(create()).rejects.toBe(denied);
  });

  it('refuses a malformed event and an unknown source, naming the field, before calling RDS', async () => {
    await expect(handleSnapshotEvent({ action: 'create' }, deps)).rejects.toThrow(/sourceId/);
    await expect(handleSnapshotEvent({ action: 'snooze', sourceId: 'orders-db' }, deps)).rejects.toThrow(/action/);
    await expect(handleSnapshotEvent({ action: 'create', sourceId: 'nope' }, deps)).rejects.toThrow(/unknown source 'nope'/);
    await expect(handleSnapshotEvent({ action: 'create', sourceId: 'orders-db', executionStartTime: 'yesterday' }, deps)).rejects.toBeInstanceOf(ConfigError);
    expect(rds.calls()).toHaveLength(0);
  });
});

describe('the source config', () => {
  it('refuses ids that cannot be part of an RDS snapshot name, and policies RDS would refuse as a tag', () => {
    const base = { engine: 'postgresql', rds: { type: 'instance', identifier: 'x' } };
    expect(SnapshotSourceSchema.safeParse({ ...base, id: 'orders--db' }).error?.issues[0]?.message).toMatch(/"--"/);
    expect(SnapshotSourceSchema.safeParse({ ...base, id: 'orders-' }).success).toBe(false);
    expect(SnapshotSourceSchema.safeParse({ ...base, id: 'orders', policy: 'keep-last 7, days 35' }).success).toBe(false);
    // The dump function's entries carry credentials too; they are accepted and the extra field dropped.
    expect(SnapshotSourceSchema.parse({ ...base, id: 'orders', credentialsSecretArn: 'arn:aws:secretsmanager:x' })).not.toHaveProperty('credentialsSecretArn');
  });
});

describe('describe', () => {
  it('returns the reference with RDS status and progress, for the Wait ▸ describe ▸ Choice loop', async () => {
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [instanceSnapshot({ Status: 'creating', PercentProgress: 60 })] });

    // What create returned, status fields included, goes straight back in.
    const result = await handleSnapshotEvent({ action: 'describe', snapshot: { ...ref(), status: 'creating', percentProgress: 10 } }, deps);

    expect(result).toEqual({ ...ref(), status: 'creating', percentProgress: 60 });
  });

  it('throws SnapshotFailedError for a failed snapshot and for one that vanished', async () => {
    rds.on(DescribeDBSnapshotsCommand)
      .resolvesOnce({ DBSnapshots: [instanceSnapshot({ Status: 'failed' })] })
      .rejectsOnce(rdsFault(DBSnapshotNotFoundFault, `DBSnapshot ${NAME} not found.`));

    await expect(handleSnapshotEvent({ action: 'describe', snapshot: ref() }, deps)).rejects.toMatchObject({ name: 'SnapshotFailedError', message: expect.stringContaining('failed') });
    await expect(handleSnapshotEvent({ action: 'describe', snapshot: ref() }, deps)).rejects.toBeInstanceOf(SnapshotFailedError);
  });
});

describe('record', () => {
  it('writes a kind "snapshot" manifest that listBackups returns beside the dumps, newest first', async () => {
    // A dump of the same source, made the day before.
    const dumpId = '20261121T010000Z-aaaaaaaa';
    await store.putObject(payloadKey('orders-db', dumpId), 'payload');
    await writeManifest(store, sampleManifest({ backupId: dumpId, payload: { ...sampleManifest().payload!, storedBytes: 7 } }));
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: NAME }).resolves({ DBSnapshots: [instanceSnapshot({ Status: 'available', PercentProgress: 100 })] });

    const result = await handleSnapshotEvent({ action: 'record', snapshot: ref() }, deps);

    expect(result).toEqual({
      ...ref(),
      kind: 'snapshot',
      completedAt: NOW.toISOString(),
      manifestKey: manifestKey('orders-db', BACKUP_ID),
      alreadyRecorded: false,
    });
    const listed = await listBackups(store, { sourceId: 'orders-db' });
    expect(listed.map((m) => [m.backupId, m.kind])).toEqual([[BACKUP_ID, 'snapshot'], [dumpId, 'dump']]);
    expect(listed[0]).toEqual({
      format: 'lifeboat-backup',
      formatVersion: '1.0',
      backupId: BACKUP_ID,
      sourceId: 'orders-db',
      kind: 'snapshot',
      engine: 'postgresql',
      startedAt: START,
      completedAt: NOW.toISOString(),
      source: { database: 'orders', serverVersion: '16.4' },
      tools: { lifeboat: expect.any(String) },
      content: { tables: [] },
      snapshot: { arn: ARN, identifier: NAME, region: REGION },
    });
  });

  it('is idempotent: a retried record finds its manifest and writes nothing', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [instanceSnapshot({ Status: 'available', PercentProgress: 100 })] });
    await handleSnapshotEvent({ action: 'record', snapshot: ref() }, deps);
    const later = { ...deps, now: () => new Date(NOW.getTime() + 60_000) };

    const again = await handleSnapshotEvent({ action: 'record', snapshot: ref() }, later);

    expect(again).toMatchObject({ alreadyRecorded: true, completedAt: NOW.toISOString() });
  });

  it('refuses to record a snapshot that is not available yet, or not tagged as this backup, and writes nothing', async () => {
    rds.on(DescribeDBSnapshotsCommand)
      .resolvesOnce({ DBSnapshots: [instanceSnapshot({ Status: 'creating', PercentProgress: 90 })] })
      .resolvesOnce({ DBSnapshots: [instanceSnapshot({ Status: 'available', TagList: ordersTags('20261101T010000Z-bbbbbbbb') })] });

    await expect(handleSnapshotEvent({ action: 'record', snapshot: ref() }, deps)).rejects.toBeInstanceOf(SnapshotNotReadyError);
    await expect(handleSnapshotEvent({ action: 'record', snapshot: ref() }, deps)).rejects.toBeInstanceOf(BackupConflictError);
    expect(await listBackups(store)).toEqual([]);
  });

  it('refuses to overwrite a manifest that records something else under the same backup id', async () => {
    await store.putObject(payloadKey('orders-db', BACKUP_ID), 'payload');
    await writeManifest(store, sampleManifest({ backupId: BACKUP_ID, payload: { ...sampleManifest().payload!, storedBytes: 7 } }));
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [instanceSnapshot({ Status: 'available' })] });

    await expect(handleSnapshotEvent({ action: 'record', snapshot: ref() }, deps)).rejects.toBeInstanceOf(BackupConflictError);
    expect((await listBackups(store))[0]?.kind).toBe('dump');
  });

  it('records `*` as the database when the source names none (a snapshot holds them all)', async () => {
    const backupId = '20261122T053327Z-cccccccc';
    const name = `lifeboat-ledger-${backupId.toLowerCase()}`;
    const arn = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${name}`;
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [{
        DBClusterSnapshotIdentifier: name, DBClusterSnapshotArn: arn, Status: 'available', EngineVersion: '8.0.mysql_aurora.3.05.2',
        TagList: [{ Key: 'lifeboat:source', Value: 'ledger' }, { Key: 'lifeboat:backup-id', Value: backupId }],
      }],
    });

    await handleSnapshotEvent({
      action: 'record',
      snapshot: { sourceId: 'ledger', backupId, type: 'cluster', snapshotIdentifier: name, snapshotArn: arn, region: REGION, startedAt: START },
    }, deps);

    expect((await listBackups(store, { sourceId: 'ledger' }))[0]).toMatchObject({
      engine: 'mysql',
      source: { database: '*', serverVersion: '8.0.mysql_aurora.3.05.2' },
      snapshot: { arn, identifier: name, region: REGION },
    });
  });

  it('snapshots a DocumentDB cluster through the cluster API and records it as format 1.3, engine docdb', async () => {
    const catalog: SnapshotSource = { id: 'catalog', engine: 'docdb', rds: { type: 'cluster', identifier: 'catalog-docdb' } };
    const withCatalog = { ...deps, sources: [orders, ledger, catalog] };
    const backupId = derivedBackupId(EXECUTION, 'catalog', new Date(START));
    const name = `lifeboat-catalog-${backupId.toLowerCase()}`;
    const arn = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${name}`;
    const tags = [
      { Key: 'lifeboat:source', Value: 'catalog' },
      { Key: 'lifeboat:backup-id', Value: backupId },
      { Key: 'lifeboat:policy', Value: 'default' },
      { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
    ];
    rds.on(CreateDBClusterSnapshotCommand).resolves({ DBClusterSnapshot: { DBClusterSnapshotIdentifier: name, DBClusterSnapshotArn: arn, Status: 'creating', PercentProgress: 0 } });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: name, DBClusterSnapshotArn: arn, Status: 'available', Engine: 'docdb', EngineVersion: '5.0.0', TagList: tags }],
    });

    const created = (await handleSnapshotEvent({ action: 'create', sourceId: 'catalog', executionId: EXECUTION, executionStartTime: START }, withCatalog)) as SnapshotStatus;
    await handleSnapshotEvent({ action: 'record', snapshot: created }, withCatalog);

    expect(rds).toHaveReceivedCommandWith(CreateDBClusterSnapshotCommand, { DBClusterSnapshotIdentifier: name, DBClusterIdentifier: 'catalog-docdb', Tags: tags });
    const [recorded] = await listBackups(store, { sourceId: 'catalog' });
    expect(recorded).toMatchObject({ formatVersion: '1.3', kind: 'snapshot', engine: 'docdb', source: { database: '*', serverVersion: '5.0.0' }, snapshot: { arn, identifier: name } });
  });
});
