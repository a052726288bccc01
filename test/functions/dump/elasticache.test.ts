// The deployed route of an ElastiCache cache (kind elasticache-redis): the dump function's core and its Fargate
// task's core, given the cache as LIFEBOAT_SOURCES gives it, export the cache's snapshot through the staging bucket
// and seal it; the verify function's core verifies it in a scratch redis-server and signs the result. ElastiCache is
// mocked (no local counterpart) with its exact commands asserted; S3 (s3rver), the redis-servers and the crypto are real.
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CopySnapshotCommand, CreateSnapshotCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CACHE_SEAL_RESERVE_MS, dumpSource, DumpSourceSchema, type BackupSource, type DumpDeps } from '../../../functions/dump/dump.ts';
import { fargateDump } from '../../../functions/runner/roles.ts';
import { verifySourceBackup, VerifySourceSchema } from '../../../functions/verify/verify.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { ConfigError, OutOfTimeError } from '../../../functions/lib/errors.ts';
import { snapshotNameFor } from '../../../functions/lib/elasticache/export.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { readLatestVerification } from '../../../functions/lib/vault/verification.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { startTestRedis, type TestRedis } from '../../harness/redis.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { seedKeyspace } from '../redis/fixture.ts';

const SOURCE = 'sessions-cache';
const GROUP = 'sessions-prod';
const keyring = testKeyring();
const signer = localHmacSigner(randomBytes(32));
const elasticache = mockClient(ElastiCacheClient);
/** What the CDK construct puts in LIFEBOAT_SOURCES for the example's cache (test/infra/backup-functions.test.ts). */
const cache: BackupSource = DumpSourceSchema.parse({ id: SOURCE, engine: 'redis', elasticache: { replicationGroupId: GROUP } });

let s3: LocalS3;
let bucket: string;
let shard: TestRedis;
let rdb: Buffer;
let vault: Awaited<ReturnType<typeof tempVault>>;
/** The run's clock: each poll's sleep moves it on, so waiting takes no real time. */
let clock: number;
let sleeps: number[];
const sleep = async (ms: number) => {
  sleeps.push(ms);
  clock += ms;
};

beforeAll(async () => {
  [s3, shard] = await Promise.all([startLocalS3(), startTestRedis()]);
  bucket = await s3.createBucket();
  const client = await shard.connect();
  await seedKeyspace(client);
  await client.call('SAVE');
  client.close();
  rdb = await readFile(join(shard.dir, 'dump.rdb'));
}, 120_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), shard?.stop()]);
});
beforeEach(async () => {
  await vault?.remove();
  vault = await tempVault();
  elasticache.reset();
  clock = Date.parse('2026-12-03T10:15:00Z');
  sleeps = [];
});

/** ElastiCache: `creating` once (or always, with `stuck`), then `available`; the export puts the RDB in the bucket. */
function fakeElastiCache(options: { stuck?: boolean } = {}) {
  let describes = 0;
  elasticache.on(CreateSnapshotCommand).resolves({});
  elasticache.on(DescribeSnapshotsCommand).callsFake((input: { SnapshotName?: string }) => {
    // The listing of the cache's own snapshots before a run (nothing left by earlier runs here).
    if (input.SnapshotName === undefined) return { Snapshots: [] };
    describes++;
    const status = options.stuck || describes === 1 ? 'creating' : 'available';
    return { Snapshots: [{ SnapshotStatus: status, Engine: 'valkey', EngineVersion: '8.0.1', NumNodeGroups: 1, NodeSnapshots: [{ NodeGroupId: '0001' }] }] };
  });
  elasticache.on(CopySnapshotCommand).callsFake(async (input: { TargetSnapshotName: string; TargetBucket: string }) => {
    await s3.client.send(new PutObjectCommand({ Bucket: input.TargetBucket, Key: `${input.TargetSnapshotName}-0001.rdb`, Body: rdb }));
    return {};
  });
  elasticache.on(DeleteSnapshotCommand).resolves({});
}

const unused = { send: async () => Promise.reject(new Error('a cache needs neither Secrets Manager nor RDS')) };

function deps(overrides: Partial<DumpDeps> = {}): DumpDeps {
  return {
    sources: [cache],
    secrets: unused,
    rds: unused,
    store: vault.store,
    keyring,
    elasticache: { client: new ElastiCacheClient({ region: 'eu-west-1' }), staging: { s3: s3.client, bucket }, poll: { intervalMs: 15_000, sleep } },
    now: () => new Date(clock),
    ...overrides,
  };
}

async function stagingKeys(): Promise<string[]> {
  const { Contents } = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (Contents ?? []).map((o) => o.Key!);
}

describe('an ElastiCache cache through the dump and verify functions', () => {
  it('the dump core exports the replication group\'s snapshot and answers the state machine like a dump; the verify core verifies it in a scratch redis-server and signs the result', async () => {
    fakeElastiCache();
    const result = await dumpSource({ sourceId: SOURCE, trigger: 'schedule' }, deps());

    expect(result).toMatchObject({ sourceId: SOURCE, kind: 'dump', rawBytes: expect.any(Number), storedBytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const name = snapshotNameFor(SOURCE, result.backupId);
    expect(elasticache).toHaveReceivedCommandWith(CreateSnapshotCommand, { ReplicationGroupId: GROUP, SnapshotName: name });
    expect(elasticache).toHaveReceivedCommandWith(CopySnapshotCommand, { SourceSnapshotName: name, TargetSnapshotName: `${name}-export`, TargetBucket: bucket });
    expect(elasticache).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotName: name });
    expect(await stagingKeys()).toEqual([]);
    const [manifest] = await listBackups(vault.store);
    expect(manifest).toMatchObject({ backupId: result.backupId, engine: 'redis', source: { serverVersion: 'valkey 8.0.1' } });

    const verified = await verifySourceBackup(
      { sourceId: SOURCE, backupId: result.backupId },
      {
        sources: [VerifySourceSchema.parse({ id: SOURCE, engine: 'redis', elasticache: { replicationGroupId: GROUP } })],
        servers: {},
        secrets: unused,
        sns: { send: async () => Promise.reject(new Error('a verified backup publishes nothing')) },
        alertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
        store: vault.store,
        keyring,
        verificationKey: signer,
      },
    );
    expect(verified).toMatchObject({ sourceId: SOURCE, backupId: result.backupId, status: 'verified', sweptScratch: [] });
    const recorded = await readLatestVerification(vault.store, SOURCE, result.backupId, { authenticator: signer, manifest: manifest! });
    expect(recorded).toMatchObject({ status: 'verified', authenticated: true });
  });

  it('a Lambda whose time would run out while the snapshot is still being made gives up with OutOfTimeError, deletes the snapshot and lists nothing', async () => {
    fakeElastiCache({ stuck: true });
    // Five minutes left: one minute past the reserve for loading, sealing and cleaning up, so the wait is cut short.
    const failed = dumpSource({ sourceId: SOURCE }, deps({ remainingMs: () => CACHE_SEAL_RESERVE_MS + 60_000 }));

    await expect(failed).rejects.toBeInstanceOf(OutOfTimeError);
    await expect(failed).rejects.toThrow(/is still creating \(snapshot\) and this run's time is nearly up: it removed its snapshot and exported files/);
    // Polls every 15 s while the next one still ends before the reserve: 4 sleeps (60 s), then it stops.
    expect(sleeps).toEqual([15_000, 15_000, 15_000, 15_000]);
    expect(elasticache).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 1);
    expect(elasticache).toHaveReceivedCommandTimes(CopySnapshotCommand, 0);
    expect(await listBackups(vault.store)).toEqual([]);
  });

  it('a Fargate task (no remaining time) waits out a slow snapshot', async () => {
    fakeElastiCache();
    await fargateDump({ sourceId: SOURCE }, deps());
    expect(sleeps).toEqual([15_000]);
  });

  it('the Fargate task writes the export under the backup id the state machine chose', async () => {
    fakeElastiCache();
    const backupId = '20261203T101500Z-abcd2345';
    const result = await fargateDump({ sourceId: SOURCE, backupId }, deps());
    expect(result.backupId).toBe(backupId);
    expect(elasticache).toHaveReceivedCommandWith(CreateSnapshotCommand, { SnapshotName: snapshotNameFor(SOURCE, backupId) });
    expect((await listBackups(vault.store)).map((m) => m.backupId)).toEqual([backupId]);
  });

  it('a function told of a cache but not of a staging bucket refuses with a ConfigError naming the variable, before any snapshot', async () => {
    fakeElastiCache();
    await expect(dumpSource({ sourceId: SOURCE }, deps({ elasticache: undefined }))).rejects.toThrow(ConfigError);
    await expect(dumpSource({ sourceId: SOURCE }, deps({ elasticache: undefined }))).rejects.toThrow(/STAGING_BUCKET/);
    expect(elasticache).toHaveReceivedCommandTimes(CreateSnapshotCommand, 0);
  });
});
