/**
 * The real statemachines/backup.asl.json run locally for an ElastiCache source (replication group `sessions-prod`,
 * source `sessions-cache`), every Task bound to a real core: resolve-source with the route the CDK construct writes,
 * the dump function's core exporting the cache's snapshot (ElastiCache mocked with its exact commands; the export is
 * a real redis-server's RDB put into a staging bucket on the local S3 server), the verify core (a scratch
 * redis-server, the result signed), the copy core into the DR vault and the prune core over both vaults.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CopySnapshotCommand, CreateSnapshotCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../functions/copy/copy.ts';
import { dumpSource, DumpSourceSchema, type DumpDeps } from '../../functions/dump/dump.ts';
import { localHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { listBackups } from '../../functions/lib/vault/catalog.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../functions/lib/vault/verification.ts';
import { pruneSource, type PruneDeps } from '../../functions/prune/prune.ts';
import { resolveSource, type SourceRoute } from '../../functions/resolve-source/resolve.ts';
import { verifySourceBackup, VerifySourceSchema, type VerifyDeps } from '../../functions/verify/verify.ts';
import { testKeyring } from '../functions/engine/helpers.ts';
import { loadStateMachine, runStateMachine, startLocalS3, type LocalS3, type StateMachineDefinition, type TaskHandler } from '../harness/index.ts';
import { startTestRedis } from '../harness/redis.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS, lambdaArn } from './support.ts';

const SOURCE = 'sessions-cache';
const GROUP = 'sessions-prod';
const DUMP_FUNCTION = lambdaArn('dump-2');
const DR_KEY = `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-5678efgh`;
const CONTEXT = { Execution: { Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:sessions-cache-e2e`, Name: 'sessions-cache-e2e' } };
/** The route and the source entries as the CDK construct writes them for the example's cache (runner lambda: no Fargate here). */
const ROUTES: SourceRoute[] = [{ id: SOURCE, method: 'dump', dumpFunctionArn: DUMP_FUNCTION }];
const ENTRY = { id: SOURCE, engine: 'redis', elasticache: { replicationGroupId: GROUP } };

let s3: LocalS3;
let definition: StateMachineDefinition;
let rdb: Buffer;

beforeAll(async () => {
  definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
  s3 = await startLocalS3();
  const cache = await startTestRedis();
  const client = await cache.connect();
  for (let i = 0; i < 40; i++) await client.call('SET', `session:${i}`, `user-${i}`, 'EX', '86400');
  await client.call('HSET', 'rate:limits', 'login', '5');
  await client.call('SAVE');
  client.close();
  rdb = await readFile(join(cache.dir, 'dump.rdb'));
  await cache.stop();
}, 60_000);
afterAll(async () => {
  await s3?.stop();
});

describe('backup.asl.json end to end: an ElastiCache source with the real resolve, dump, verify, copy and prune cores', () => {
  it('exports the snapshot, seals and verifies it, copies it to the DR vault with its signed result, applies retention, and leaves nothing staged', async () => {
    const [primaryBucket, drBucket, stagingBucket] = [await s3.createBucket(), await s3.createBucket(), await s3.createBucket()];
    const primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    const keyring = testKeyring();
    const signer = localHmacSigner(randomBytes(32));
    const elasticache = mockClient(ElastiCacheClient);
    elasticache.on(CreateSnapshotCommand).resolves({});
    elasticache.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotStatus: 'available', Engine: 'redis', EngineVersion: '7.1.0', NumNodeGroups: 1, NodeSnapshots: [{ NodeGroupId: '0001' }] }] });
    elasticache.on(CopySnapshotCommand).callsFake(async (input: { TargetSnapshotName: string; TargetBucket: string }) => {
      await s3.client.send(new PutObjectCommand({ Bucket: input.TargetBucket, Key: `${input.TargetSnapshotName}-0001.rdb`, Body: rdb }));
      return {};
    });
    elasticache.on(DeleteSnapshotCommand).resolves({});

    const unused = { send: async () => Promise.reject(new Error('a cache needs neither Secrets Manager nor RDS')) };
    const dumpDeps: DumpDeps = {
      sources: [DumpSourceSchema.parse(ENTRY)],
      secrets: unused,
      rds: unused,
      store: primaryStore,
      keyring,
      elasticache: { client: new ElastiCacheClient({ region: REGION }), staging: { s3: s3.client, bucket: stagingBucket } },
    };
    const verifyDeps: VerifyDeps = {
      sources: [VerifySourceSchema.parse(ENTRY)],
      servers: {},
      secrets: unused,
      sns: { send: async () => Promise.reject(new Error('a verified backup publishes nothing')) },
      alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
      store: primaryStore,
      keyring,
      verificationKey: signer,
    };
    const copyDeps: CopyDeps = {
      primary: { client: s3.client, bucket: primaryBucket },
      dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
      drRds: new RDSClient({ region: DR_REGION }),
    };
    const pruneDeps: PruneDeps = {
      sources: [{ id: SOURCE, timeZone: 'UTC', retention: { days: 7, keepLast: 24, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: primaryStore }, { store: drStore }],
      rds: {},
    };
    const states: string[] = [];
    const never = (why: string): TaskHandler => async () => {
      throw new Error(why);
    };
    const handlers: Record<string, TaskHandler> = {
      DescribeSource: (input) => resolveSource(input, ROUTES, { store: primaryStore }),
      Dump: (input) => dumpSource(input, dumpDeps),
      Verify: (input) => verifySourceBackup(input, verifyDeps),
      CopyToDr: (input) => handleCopyEvent(input, copyDeps),
      ApplyRetention: async (input) => {
        const { reports: _reports, ...summary } = await pruneSource(input, pruneDeps);
        return summary;
      },
      RecordSuccess: async () => ({}),
      ...Object.fromEntries(
        ['CreateSnapshot', 'DescribeSnapshot', 'RecordSnapshot', 'CopySnapshotToDr', 'DescribeSnapshotCopy', 'RecordSnapshotCopy'].map((state) => [state, never('a cache is not an RDS snapshot source')]),
      ),
      ...Object.fromEntries(['DumpOnFargate', 'ReadFargateDump', 'VerifyOnFargate', 'CopyOnFargate'].map((state) => [state, never('this route has no Fargate task')])),
      PublishAlert: async (input) => {
        throw new Error(`unexpected alert: ${JSON.stringify(input)}`);
      },
    };
    const logged = Object.fromEntries(Object.entries(handlers).map(([state, handler]): [string, TaskHandler] => [state, async (input) => (states.push(state), handler(input))]));

    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers: logged, context: CONTEXT });

    expect(run.error === undefined ? run.status : `${run.status} ${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    expect(states).toEqual(['DescribeSource', 'Dump', 'Verify', 'CopyToDr', 'ApplyRetention', 'RecordSuccess']);
    const [primary] = await listBackups(primaryStore, { sourceId: SOURCE });
    expect(primary).toMatchObject({ engine: 'redis', formatVersion: '1.2', source: { serverVersion: 'redis 7.1.0' }, content: { keyspace: [expect.objectContaining({ db: 0, keys: 41 })] } });
    const name = `lifeboat-${SOURCE}-${primary!.backupId.toLowerCase()}`;
    expect(elasticache).toHaveReceivedCommandWith(CreateSnapshotCommand, { ReplicationGroupId: GROUP, SnapshotName: name });
    expect(elasticache).toHaveReceivedCommandWith(CopySnapshotCommand, { SourceSnapshotName: name, TargetSnapshotName: `${name}-export`, TargetBucket: stagingBucket });
    expect(elasticache).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotName: name });
    expect((await s3.client.send(new ListObjectsV2Command({ Bucket: stagingBucket }))).Contents ?? []).toEqual([]);
    // Verified and signed in the primary vault; the DR copy holds the same manifest and the same signed result.
    expect(await readLatestVerification(primaryStore, SOURCE, primary!.backupId, { authenticator: signer, manifest: primary! })).toMatchObject({ status: 'verified', authenticated: true });
    expect(await listBackups(drStore, { sourceId: SOURCE })).toEqual([primary]);
    expect(await readLatestVerification(drStore, SOURCE, primary!.backupId, { authenticator: signer, manifest: primary! })).toMatchObject({ status: 'verified', authenticated: true });
    elasticache.restore();
  }, 120_000);
});
