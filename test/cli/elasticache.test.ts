// `lifeboat backup elasticache://GROUP`: the ElastiCache API mocked (exact commands), its export landing a real
// RDB (written by a real redis-server) in s3rver as the staging bucket, the backup sealed into a local vault and
// verified by the CLI like any Redis backup.
import 'aws-sdk-client-mock-vitest/extend';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CopySnapshotCommand, CreateSnapshotCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { startLocalS3, type LocalS3 } from '../harness/s3.ts';
import { startTestRedis, type TestRedis } from '../harness/redis.ts';
import { seedKeyspace } from '../functions/redis/fixture.ts';
import { errorLine, lifeboat, S3RVER_CREDENTIALS, tempDir } from './support.ts';

const elasticache = mockClient(ElastiCacheClient);
let s3: LocalS3;
let bucket: string;
let cache: TestRedis;
let rdb: Buffer;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  [s3, cache, dir] = await Promise.all([startLocalS3(), startTestRedis(), tempDir('elasticache')]);
  bucket = await s3.createBucket();
  const client = await cache.connect();
  await seedKeyspace(client);
  await client.call('SAVE');
  client.close();
  rdb = await readFile(join(cache.dir, 'dump.rdb'));
}, 120_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), cache?.stop(), dir?.remove()]);
});

describe('lifeboat backup elasticache://', () => {
  it('backs up a replication group through its snapshot into the vault, removes what it staged, and the backup verifies', async () => {
    let exporting = false;
    elasticache.on(CreateSnapshotCommand).resolves({});
    elasticache.on(DescribeSnapshotsCommand).callsFake(() => {
      const status = exporting ? 'exporting' : 'available';
      exporting = false;
      return { Snapshots: [{ SnapshotStatus: status, Engine: 'valkey', EngineVersion: '8.0.1', NumNodeGroups: 1 }] };
    });
    elasticache.on(CopySnapshotCommand).callsFake(async (input: { TargetSnapshotName: string; TargetBucket: string }) => {
      await s3.client.send(new PutObjectCommand({ Bucket: input.TargetBucket, Key: `${input.TargetSnapshotName}-0001.rdb`, Body: rdb }));
      exporting = true;
      return {};
    });
    elasticache.on(DeleteSnapshotCommand).resolves({});
    const keyFile = join(dir.path, 'vault.key');
    expect((await lifeboat(['keygen', '--key-file', keyFile])).code).toBe(ExitCode.ok);
    const vault = join(dir.path, 'vault');
    const env = { AWS_REGION: 'eu-west-1', LIFEBOAT_S3_ENDPOINT: s3.endpoint, ...S3RVER_CREDENTIALS };

    const result = await lifeboat(['backup', '--source', 'elasticache://sessions-prod', '--staging-bucket', bucket, '--source-id', 'sessions', '--vault', vault, '--key-file', keyFile, '--json'], { env });

    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const out = JSON.parse(result.stdout) as { backupId: string; snapshot: string; cleaned: string[]; manifest: { engine: string; source: { serverVersion: string } } };
    expect(out.manifest).toMatchObject({ engine: 'redis', source: { serverVersion: 'valkey 8.0.1' } });
    expect(elasticache).toHaveReceivedCommandWith(CreateSnapshotCommand, { ReplicationGroupId: 'sessions-prod', SnapshotName: out.snapshot });
    expect(elasticache).toHaveReceivedCommandWith(CopySnapshotCommand, { SourceSnapshotName: out.snapshot, TargetSnapshotName: `${out.snapshot}-export`, TargetBucket: bucket });
    expect(elasticache).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotName: out.snapshot });
    expect(out.cleaned).toEqual([`s3://${bucket}/${out.snapshot}-export-0001.rdb`, `snapshot ${out.snapshot}`]);
    expect((await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).toEqual([]);
    expect(result.stderr).toContain(`lifeboat: removed snapshot ${out.snapshot}`);

    const verified = await lifeboat(['verify', out.backupId, '--vault', vault, '--key-file', keyFile]);
    expect(verified.code, verified.stderr).toBe(ExitCode.ok);
  });

  it('needs a staging bucket and a source id, and refuses what is not an ElastiCache address, each by name', async () => {
    const base = ['--vault', join(dir.path, 'v2'), '--key-file', join(dir.path, 'vault.key')];
    const noBucket = await lifeboat(['backup', '--source', 'elasticache://sessions-prod', '--source-id', 'sessions', ...base]);
    expect(noBucket.code).toBe(ExitCode.usage);
    expect(errorLine(noBucket.stderr)?.message).toMatch(/^--staging-bucket is required for an ElastiCache source/);
    const noId = await lifeboat(['backup', '--source', 'elasticache://sessions-prod', '--staging-bucket', bucket, ...base]);
    expect(errorLine(noId.stderr)?.message).toMatch(/--source-id is required/);
    const bad = await lifeboat(['backup', '--source', 'elasticache://sessions/prod/x', '--staging-bucket', bucket, '--source-id', 'sessions', ...base]);
    expect(errorLine(bad.stderr)?.message).toMatch(/is not elasticache:\/\/GROUP or elasticache:\/\/cluster\/ID/);
  });
});
