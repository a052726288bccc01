// ElastiCache backups through the service's snapshot: the ElastiCache API is mocked (no local counterpart) and
// its exact commands asserted; the export lands real RDB files (written by real redis-servers) in a real
// S3-protocol server; the scratch servers, the envelope and the vault are real.
import 'aws-sdk-client-mock-vitest/extend';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CopySnapshotCommand,
  CreateSnapshotCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  ElastiCacheClient,
} from '@aws-sdk/client-elasticache';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runElastiCacheBackup, snapshotNameFor } from '../../../functions/lib/elasticache/export.ts';
import { SnapshotFailedError, TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import { restoreRedisBackup } from '../../../functions/lib/redis/vault.ts';
import { verifyRedisBackup } from '../../../functions/lib/redis/verify.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { startTestRedis, type TestRedis } from '../../harness/redis.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { describeDatabase, seedKeyspace } from '../redis/fixture.ts';

const SOURCE = 'sessions-cache';
const GROUP = 'sessions-prod';
const keyring = testKeyring();

let s3: LocalS3;
let bucket: string;
/** Stand-ins for the cache's shards: their SAVEd RDB files are what ElastiCache would export. */
let shardA: TestRedis;
let shardB: TestRedis;
let target: TestRedis;
let rdbA: Buffer;
let rdbB: Buffer;
let vault: Awaited<ReturnType<typeof tempVault>>;

const elasticache = mockClient(ElastiCacheClient);

beforeAll(async () => {
  [s3, shardA, shardB, target] = await Promise.all([startLocalS3(), startTestRedis(), startTestRedis(), startTestRedis()]);
  bucket = await s3.createBucket();
  const a = await shardA.connect();
  await seedKeyspace(a);
  await a.call('SAVE');
  a.close();
  const b = await shardB.connect();
  for (let i = 0; i < 300; i++) await b.call('SET', `shard-b:${i}`, `value-${i}`);
  await b.call('HSET', 'shard-b:hash', 'f', 'v');
  await b.call('SAVE');
  b.close();
  rdbA = await readFile(join(shardA.dir, 'dump.rdb'));
  rdbB = await readFile(join(shardB.dir, 'dump.rdb'));
}, 120_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), shardA?.stop(), shardB?.stop(), target?.stop()]);
});
beforeEach(async () => {
  await vault?.remove();
  vault = await tempVault();
  await target.flushAll();
  elasticache.reset();
});

/**
 * ElastiCache as the engine sees it: the snapshot is `creating` once, then `available`; CopySnapshot to a bucket
 * puts one `<name>-000N.rdb` per shard there and the snapshot is `exporting` once.
 */
function fakeElastiCache(shards: Buffer[], options: { snapshotStatus?: string; listed?: string[] } = {}) {
  let describes = 0;
  let exporting = false;
  elasticache.on(CreateSnapshotCommand).resolves({});
  elasticache.on(DescribeSnapshotsCommand).callsFake((input: { SnapshotName?: string }) => {
    // The cache's snapshots, listed before a run starts (what earlier runs may have left).
    if (input.SnapshotName === undefined) return { Snapshots: (options.listed ?? []).map((name) => ({ SnapshotName: name, SnapshotStatus: 'available' })) };
    describes++;
    const status = options.snapshotStatus ?? (describes === 1 ? 'creating' : exporting ? 'exporting' : 'available');
    if (exporting && status === 'exporting') exporting = false;
    return { Snapshots: [{ SnapshotStatus: status, Engine: 'redis', EngineVersion: '7.1.0', NumNodeGroups: shards.length, NodeSnapshots: shards.map((_, i) => ({ NodeGroupId: `000${i + 1}` })) }] };
  });
  elasticache.on(CopySnapshotCommand).callsFake(async (input: { TargetSnapshotName: string; TargetBucket: string }) => {
    for (const [i, rdb] of shards.entries()) {
      await s3.client.send(new PutObjectCommand({ Bucket: input.TargetBucket, Key: `${input.TargetSnapshotName}-000${i + 1}.rdb`, Body: rdb }));
    }
    exporting = true;
    return {};
  });
  elasticache.on(DeleteSnapshotCommand).resolves({});
}

const run = (overrides: Partial<Parameters<typeof runElastiCacheBackup>[0]> = {}) =>
  runElastiCacheBackup({
    elasticache: new ElastiCacheClient({ region: 'eu-west-1' }),
    staging: { s3: s3.client, bucket },
    target: { replicationGroupId: GROUP },
    sourceId: SOURCE,
    store: vault.store,
    keyring,
    pollIntervalMs: 1,
    sleep: async () => {},
    ...overrides,
  });

async function stagingKeys(): Promise<string[]> {
  const { Contents } = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (Contents ?? []).map((o) => o.Key!);
}

describe('an ElastiCache backup through a snapshot export', () => {
  it('snapshots, exports, seals the keyspace as a Redis backup that verifies and restores exactly, then removes the snapshot and the exported file', async () => {
    fakeElastiCache([rdbA]);
    const result = await run();
    const name = snapshotNameFor(SOURCE, result.manifest.backupId);
    expect(name).toMatch(/^lifeboat-sessions-cache-\d{8}t\d{6}z-[a-z0-9]{8}$/);

    expect(elasticache).toHaveReceivedCommandWith(CreateSnapshotCommand, {
      ReplicationGroupId: GROUP,
      SnapshotName: name,
      Tags: [
        { Key: 'lifeboat:source', Value: SOURCE },
        { Key: 'lifeboat:backup', Value: result.manifest.backupId },
      ],
    });
    expect(elasticache).toHaveReceivedCommandTimes(CreateSnapshotCommand, 1);
    expect(elasticache).toHaveReceivedCommandWith(CopySnapshotCommand, { SourceSnapshotName: name, TargetSnapshotName: `${name}-export`, TargetBucket: bucket });
    expect(elasticache).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotName: name });
    // One listing of the group's own snapshots first; then creating → available, exporting → available.
    expect(elasticache.commandCalls(DescribeSnapshotsCommand).map((c) => c.args[0].input)).toEqual([
      { ReplicationGroupId: GROUP, SnapshotSource: 'user' },
      ...Array.from({ length: 4 }, () => ({ SnapshotName: name })),
    ]);

    expect(result.exportedKeys).toEqual([`${name}-export-0001.rdb`]);
    expect(result.cleaned).toEqual([`s3://${bucket}/${name}-export-0001.rdb`, `snapshot ${name}`]);
    expect(await stagingKeys()).toEqual([]);

    // The manifest records the cache's engine version, not the scratch server's; the counts are exact (one instant).
    expect(result.manifest).toMatchObject({ engine: 'redis', kind: 'dump', source: { database: '*', serverVersion: 'redis 7.1.0' } });
    expect(result.manifest.source.host).toBeUndefined();
    expect(result.manifest.content.keyspace!.map((d) => [d.db, d.keys, d.reportedKeys])).toEqual([
      [0, 10, 10],
      [3, 1202, 1202],
    ]);
    expect(result.warnings).toEqual([]);
    expect((await listBackups(vault.store)).map((m) => m.backupId)).toEqual([result.manifest.backupId]);

    const verification = await verifyRedisBackup({ store: vault.store, manifest: result.manifest, keyring });
    expect(verification.status).toBe('verified');
    await restoreRedisBackup({ store: vault.store, manifest: result.manifest, keyring, target: { host: target.host, port: target.port } });
    const [from, into] = await Promise.all([shardA.connect(), target.connect()]);
    try {
      for (const db of [0, 3]) expect(await describeDatabase(into, db)).toEqual(await describeDatabase(from, db));
    } finally {
      from.close();
      into.close();
    }
  });

  it('first removes the snapshots earlier runs of this source left (more than a day old), says so, and touches no other', async () => {
    const now = new Date('2026-12-04T12:00:00Z');
    const leftover = 'lifeboat-sessions-cache-20261202t030000z-k3x7q2ab';
    const listed = [
      leftover,
      // A run of this source still under way (taken an hour ago): kept.
      'lifeboat-sessions-cache-20261204t110000z-abcdefgh',
      // Another source whose id starts with this one's, and someone's own snapshot.
      'lifeboat-sessions-cache-eu-20261101t030000z-k3x7q2ab',
      'nightly-sessions',
    ];
    fakeElastiCache([rdbA], { listed });

    const result = await run({ now });

    expect(elasticache.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotName)).toEqual([leftover, result.snapshotName]);
    expect(result.cleaned).toEqual([`snapshot ${leftover} (left by an earlier run)`, `s3://${bucket}/${result.snapshotName}-export-0001.rdb`, `snapshot ${result.snapshotName}`]);
    expect(result.warnings).toEqual([]);
  });

  it('backs up all the same when the leftovers cannot be listed or deleted, with a warning naming each', async () => {
    fakeElastiCache([rdbA], { listed: ['lifeboat-sessions-cache-20261101t030000z-k3x7q2ab'] });
    elasticache.on(DeleteSnapshotCommand, { SnapshotName: 'lifeboat-sessions-cache-20261101t030000z-k3x7q2ab' }).rejects(new Error('Snapshot is in use'));
    const deleted = await run({ now: new Date('2026-12-04T12:00:00Z') });
    expect(deleted.warnings).toEqual(['could not delete snapshot lifeboat-sessions-cache-20261101t030000z-k3x7q2ab, left by an earlier run: Snapshot is in use']);
    expect((await listBackups(vault.store)).map((m) => m.backupId)).toContain(deleted.manifest.backupId);

    elasticache.reset();
    fakeElastiCache([rdbA]);
    elasticache.on(DescribeSnapshotsCommand, { ReplicationGroupId: GROUP, SnapshotSource: 'user' }).rejects(new Error('not authorized to describe'));
    const listed = await run();
    expect(listed.warnings).toEqual(['could not look for snapshots earlier runs left: not authorized to describe']);
  });

  it('cluster mode: one RDB per shard, merged into one keyspace', async () => {
    fakeElastiCache([rdbA, rdbB]);
    const result = await run();
    expect(result.exportedKeys).toHaveLength(2);
    expect(result.manifest.content.keyspace!.find((d) => d.db === 0)!.keys).toBe(10 + 301);
    expect((await verifyRedisBackup({ store: vault.store, manifest: result.manifest, keyring })).status).toBe('verified');
    expect(await stagingKeys()).toEqual([]);
  });

  it('a key in two shards is refused by name, not overwritten; nothing is listed and everything staged is removed', async () => {
    fakeElastiCache([rdbB, rdbB]);
    const failed = run();
    await expect(failed).rejects.toBeInstanceOf(TargetNotEmptyError);
    await expect(failed).rejects.toThrow(/shard-b:/);
    expect(await listBackups(vault.store)).toEqual([]);
    expect(await stagingKeys()).toEqual([]);
    expect(elasticache).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 1);
  });

  it('a snapshot ElastiCache reports failed is a SnapshotFailedError; the snapshot is still deleted and nothing is exported or listed', async () => {
    fakeElastiCache([rdbA], { snapshotStatus: 'failed' });
    await expect(run()).rejects.toThrow(SnapshotFailedError);
    expect(elasticache).toHaveReceivedCommandTimes(CopySnapshotCommand, 0);
    expect(elasticache).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 1);
    expect(await listBackups(vault.store)).toEqual([]);
  });

  it('a snapshot that never becomes available stops at the time limit, naming its status', async () => {
    fakeElastiCache([rdbA], { snapshotStatus: 'creating' });
    await expect(run({ waitTimeoutMs: 60_000, pollIntervalMs: 15_000 })).rejects.toThrow(/is still creating after 1 minutes \(snapshot\)/);
    // The listing of leftovers, then 5 polls of the snapshot.
    expect(elasticache.commandCalls(DescribeSnapshotsCommand).filter((c) => c.args[0].input.SnapshotName !== undefined)).toHaveLength(5);
    expect(elasticache).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 1);
  });

  it('a single-node cluster is snapshotted by its cluster id', async () => {
    fakeElastiCache([rdbA]);
    await run({ target: { cacheClusterId: 'sessions-001' } });
    const input = elasticache.commandCalls(CreateSnapshotCommand)[0]!.args[0].input;
    expect(input.CacheClusterId).toBe('sessions-001');
    expect(input.ReplicationGroupId).toBeUndefined();
    // Its leftovers are looked for by its cluster id too.
    expect(elasticache.commandCalls(DescribeSnapshotsCommand)[0]!.args[0].input).toEqual({ CacheClusterId: 'sessions-001', SnapshotSource: 'user' });
  });
});
