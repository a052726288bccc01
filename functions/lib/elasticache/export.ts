/**
 * ElastiCache (Redis OSS / Valkey) backups through the service's own snapshot: one point in time, which the
 * SCAN + DUMP path (lib/redis/logical.ts) cannot give on a live server.
 *
 *   CreateSnapshot ─▶ available ─▶ CopySnapshot to the staging bucket (export: one .rdb per shard)
 *     ─▶ each .rdb loaded into a scratch redis-server ─▶ shards merged into the first ─▶ runRedisBackup
 *     ─▶ the usual `redis-keys` payload and manifest (vault format 1.2), verified like any Redis backup
 *
 * The exported RDB files are plaintext under the staging bucket's own encryption: they are read once and
 * deleted, with the manual snapshot, whatever the outcome (the staging bucket also expires them after a
 * day, for a run that was killed). The vault never sees them: only the sealed payload is stored.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopySnapshotCommand,
  CreateSnapshotCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  type ElastiCacheClient,
  type Snapshot,
} from '@aws-sdk/client-elasticache';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { DumpFailedError, LifeboatError, OutOfTimeError, SnapshotFailedError, SnapshotNotReadyError } from '../errors.ts';
import type { ProgressListener } from '../engine/progress.ts';
import { readKeysRecords } from '../redis/keysFormat.ts';
import { dumpKeyspace, restoreKeyspace } from '../redis/logical.ts';
import { ScratchRedis } from '../redis/scratch.ts';
import { runRedisBackup, type RedisBackupResult } from '../redis/vault.ts';
import { backupOfSnapshotName } from '../aws/rdsSnapshot.ts';
import { assertSourceId, newBackupId, parseBackupId } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';

/** What is backed up: a replication group (cluster mode on or off), or a single-node cluster outside one. */
export type ElastiCacheTarget = { readonly replicationGroupId: string } | { readonly cacheClusterId: string };

export interface ElastiCacheBackupOptions {
  readonly elasticache: Pick<ElastiCacheClient, 'send'>;
  /** Where ElastiCache exports the RDB files: a bucket in the cache's region that grants the service write access. */
  readonly staging: { readonly s3: Pick<S3Client, 'send'>; readonly bucket: string };
  readonly target: ElastiCacheTarget;
  readonly sourceId: string;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly now?: Date;
  /** The id to write the backup under (a Fargate task is told the one the state machine reads back). @default a new id */
  readonly backupId?: string;
  /** How long the snapshot and then the export may take, each. @default 2 hours */
  readonly waitTimeoutMs?: number;
  /**
   * When the run must have stopped waiting (epoch ms): a Lambda's end, less the time loading, sealing and cleaning
   * take. Past it the run cleans up and fails with `OutOfTimeError`, which the state machine retries on Fargate.
   * @default none (only `waitTimeoutMs`)
   */
  readonly waitDeadline?: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /** @default 15 s */
  readonly pollIntervalMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The scratch server's command. @default LIFEBOAT_REDIS_SERVER, else redis-server */
  readonly redisServer?: string;
  readonly onProgress?: ProgressListener;
  /** Told each step as it starts, for the logs. */
  readonly onStep?: (step: string, detail: Record<string, unknown>) => void;
}

export interface ElastiCacheBackupResult extends RedisBackupResult {
  /** The manual snapshot the backup was taken from (deleted afterwards). */
  readonly snapshotName: string;
  /** The exported RDB objects, one per shard (deleted afterwards). */
  readonly exportedKeys: readonly string[];
  /** What the run removed behind itself: the snapshot and the exported files. */
  readonly cleaned: readonly string[];
}

const DEFAULT_WAIT_MS = 2 * 60 * 60 * 1000;
const DEFAULT_POLL_MS = 15_000;

/**
 * ElastiCache snapshot names: letters, digits and hyphens, starting with a letter, no two hyphens in a row
 * and none at the end. Backup ids (`20261202T031415Z-k3x7q2ab`) fit once lower-cased.
 */
export function snapshotNameFor(sourceId: string, backupId: string): string {
  return `lifeboat-${sourceId}-${backupId.toLowerCase()}`.replace(/[^a-z0-9-]/g, '-').replace(/-{2,}/g, '-').replace(/-$/, '');
}

/**
 * Takes an ElastiCache snapshot of `target`, exports it, and stores it in `store` as a Redis backup.
 * The snapshot and the exported files are removed whatever happens; a failure leaves no manifest, so the
 * failed backup is never listed.
 */
export async function runElastiCacheBackup(options: ElastiCacheBackupOptions): Promise<ElastiCacheBackupResult> {
  const { elasticache, staging, sourceId } = options;
  assertSourceId(sourceId);
  const startedAt = options.now ?? new Date();
  const backupId = options.backupId ?? newBackupId(startedAt);
  const snapshotName = snapshotNameFor(sourceId, backupId);
  const exportName = `${snapshotName}-export`;
  const step = options.onStep ?? (() => {});
  const wait: Wait = {
    timeoutMs: options.waitTimeoutMs ?? DEFAULT_WAIT_MS,
    pollMs: options.pollIntervalMs ?? DEFAULT_POLL_MS,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))),
    ...(options.waitDeadline === undefined ? {} : { deadline: options.waitDeadline }),
    clock: options.clock ?? Date.now,
  };
  const cleaned: string[] = [];
  const leftoverWarnings: string[] = [];
  let created = false;
  let exportedKeys: string[] = [];
  let work: string | undefined;
  const scratches: ScratchRedis[] = [];

  try {
    // An earlier run stopped by force (a Lambda at its timeout, a task killed) could not delete its snapshot.
    const leftovers = await removeLeftoverSnapshots(elasticache, options.target, sourceId, startedAt);
    cleaned.push(...leftovers.removed);
    leftoverWarnings.push(...leftovers.warnings);
    step('create-snapshot', { snapshotName });
    await elasticache.send(
      new CreateSnapshotCommand({
        ...('replicationGroupId' in options.target ? { ReplicationGroupId: options.target.replicationGroupId } : { CacheClusterId: options.target.cacheClusterId }),
        SnapshotName: snapshotName,
        Tags: [
          { Key: 'lifeboat:source', Value: sourceId },
          { Key: 'lifeboat:backup', Value: backupId },
        ],
      }),
    );
    created = true;
    const snapshot = await waitForSnapshot(elasticache, snapshotName, 'snapshot', wait);

    step('export-snapshot', { snapshotName, bucket: staging.bucket, exportName });
    await elasticache.send(new CopySnapshotCommand({ SourceSnapshotName: snapshotName, TargetSnapshotName: exportName, TargetBucket: staging.bucket }));
    // The source snapshot is `exporting` until the files are in the bucket, then `available` again.
    await waitForSnapshot(elasticache, snapshotName, 'export', wait);
    exportedKeys = await listExported(staging, exportName);
    const shards = snapshot.NodeSnapshots?.length ?? 0;
    if (exportedKeys.length === 0) throw new SnapshotFailedError(`The export of ElastiCache snapshot ${snapshotName} finished but left no .rdb file under s3://${staging.bucket}/${exportName}`);
    if ((snapshot.NumNodeGroups ?? 0) > 1 && exportedKeys.length !== snapshot.NumNodeGroups) {
      throw new SnapshotFailedError(`ElastiCache snapshot ${snapshotName} has ${snapshot.NumNodeGroups} shards but its export holds ${exportedKeys.length} .rdb files: ${exportedKeys.join(', ')}`);
    }

    step('load-rdb', { files: exportedKeys.length, nodeSnapshots: shards });
    work = await mkdtemp(join(tmpdir(), 'lifeboat-elasticache-'));
    const files: string[] = [];
    for (const [i, key] of exportedKeys.entries()) {
      const file = join(work, `shard-${i + 1}.rdb`);
      await download(staging, key, file);
      files.push(file);
    }
    const serverOptions = options.redisServer === undefined ? {} : { command: options.redisServer };
    const merged = await ScratchRedis.start({ ...serverOptions, rdbFile: files[0]! });
    scratches.push(merged);
    // Cluster mode: one RDB per shard, each holding its own hash slots. Merged into one server, so the payload
    // is one keyspace; a key in two shards (which a healthy cluster never has) is refused, not overwritten.
    for (const file of files.slice(1)) {
      const shard = await ScratchRedis.start({ ...serverOptions, rdbFile: file });
      scratches.push(shard);
      const from = await shard.connect();
      const into = await merged.connect();
      try {
        await restoreKeyspace(() => readKeysRecords(dumpKeyspace(from).payload), into, { ttl: 'keep' });
      } finally {
        from.close();
        into.close();
      }
    }

    step('seal', { backupId });
    const sealed = await runRedisBackup({
      endpoint: { path: merged.socketPath },
      sourceId,
      store: options.store,
      keyring: options.keyring,
      backupId,
      now: startedAt,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(snapshot.EngineVersion ? { serverVersion: `${snapshot.Engine ?? 'redis'} ${snapshot.EngineVersion}` } : {}),
    });
    return { ...sealed, warnings: [...sealed.warnings, ...leftoverWarnings], snapshotName, exportedKeys, cleaned };
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new DumpFailedError(`ElastiCache backup of ${describeTarget(options.target)} failed: ${(error as Error).message}`, { cause: error });
  } finally {
    for (const scratch of scratches) await scratch.stop().catch(() => {});
    if (work) await rm(work, { recursive: true, force: true });
    for (const key of exportedKeys.length > 0 ? exportedKeys : await listExported(staging, exportName).catch(() => [])) {
      await staging.s3.send(new DeleteObjectCommand({ Bucket: staging.bucket, Key: key })).then(
        () => cleaned.push(`s3://${staging.bucket}/${key}`),
        () => {},
      );
    }
    if (created) {
      await elasticache.send(new DeleteSnapshotCommand({ SnapshotName: snapshotName })).then(
        () => cleaned.push(`snapshot ${snapshotName}`),
        () => {},
      );
    }
  }
}

function describeTarget(target: ElastiCacheTarget): string {
  return 'replicationGroupId' in target ? `replication group ${target.replicationGroupId}` : `cache cluster ${target.cacheClusterId}`;
}

interface Wait {
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly deadline?: number;
  readonly clock: () => number;
}

/** How old a snapshot of this source must be (by its backup id) before a later run removes it as left behind: longer than any run (12 h on Fargate). */
export const LEFTOVER_SNAPSHOT_AGE_MS = 24 * 3_600_000;

/**
 * Deletes the cache's manual snapshots that this source's earlier runs left (named `lifeboat-<source>-<backup id>`,
 * taken more than a day ago): a run always deletes its own, unless it was stopped by force. Another source's
 * snapshots, or anyone else's, never match the name. A failure to list or delete is a warning, never the backup's
 * failure: the snapshot costs storage, not correctness.
 */
export async function removeLeftoverSnapshots(
  elasticache: Pick<ElastiCacheClient, 'send'>,
  target: ElastiCacheTarget,
  sourceId: string,
  now: Date,
): Promise<{ removed: string[]; warnings: string[] }> {
  const removed: string[] = [];
  const warnings: string[] = [];
  const filter = 'replicationGroupId' in target ? { ReplicationGroupId: target.replicationGroupId } : { CacheClusterId: target.cacheClusterId };
  let marker: string | undefined;
  try {
    do {
      const page = await elasticache.send(new DescribeSnapshotsCommand({ ...filter, SnapshotSource: 'user', ...(marker ? { Marker: marker } : {}) }));
      for (const snapshot of page.Snapshots ?? []) {
        const backup = backupOfSnapshotName(snapshot.SnapshotName ?? '');
        if (backup?.sourceId !== sourceId) continue;
        if (!(now.getTime() - parseBackupId(backup.backupId).time.getTime() > LEFTOVER_SNAPSHOT_AGE_MS)) continue;
        await elasticache.send(new DeleteSnapshotCommand({ SnapshotName: snapshot.SnapshotName })).then(
          () => removed.push(`snapshot ${snapshot.SnapshotName} (left by an earlier run)`),
          (error: unknown) => warnings.push(`could not delete snapshot ${snapshot.SnapshotName}, left by an earlier run: ${(error as Error).message}`),
        );
      }
      marker = page.Marker;
    } while (marker);
  } catch (error) {
    warnings.push(`could not look for snapshots earlier runs left: ${(error as Error).message}`);
  }
  return { removed, warnings };
}

/** Polls until the snapshot is `available` (after creating, or after exporting); `failed` or too long is an error. */
async function waitForSnapshot(elasticache: Pick<ElastiCacheClient, 'send'>, name: string, phase: 'snapshot' | 'export', wait: Wait): Promise<Snapshot> {
  let waited = 0;
  for (;;) {
    const { Snapshots } = await elasticache.send(new DescribeSnapshotsCommand({ SnapshotName: name }));
    const snapshot = Snapshots?.[0];
    const status = snapshot?.SnapshotStatus;
    if (snapshot && status === 'available') return snapshot;
    if (status === 'failed' || (snapshot === undefined && phase === 'export')) {
      throw new SnapshotFailedError(`ElastiCache snapshot ${name} ${phase === 'export' ? 'export ' : ''}failed (status ${status ?? 'gone'})`);
    }
    if (wait.deadline !== undefined && wait.clock() + wait.pollMs > wait.deadline) {
      throw new OutOfTimeError(`ElastiCache snapshot ${name} is still ${status ?? 'not listed'} (${phase}) and this run's time is nearly up: it removed its snapshot and exported files; a runner without Lambda's 15 minutes (Fargate) takes the backup over`);
    }
    if (waited >= wait.timeoutMs) {
      throw new SnapshotNotReadyError(`ElastiCache snapshot ${name} is still ${status ?? 'not listed'} after ${Math.round(waited / 60_000)} minutes (${phase})`);
    }
    await wait.sleep(wait.pollMs);
    waited += wait.pollMs;
  }
}

/** The .rdb objects an export of `exportName` wrote (`<name>-0001.rdb`, one per shard), in name order. */
async function listExported(staging: ElastiCacheBackupOptions['staging'], exportName: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await staging.s3.send(new ListObjectsV2Command({ Bucket: staging.bucket, Prefix: exportName, ...(token ? { ContinuationToken: token } : {}) }));
    for (const object of page.Contents ?? []) if (object.Key?.endsWith('.rdb')) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function download(staging: ElastiCacheBackupOptions['staging'], key: string, file: string): Promise<void> {
  const { Body } = await staging.s3.send(new GetObjectCommand({ Bucket: staging.bucket, Key: key }));
  if (!Body) throw new SnapshotFailedError(`s3://${staging.bucket}/${key} has no body`);
  await pipeline(Body as Readable, createWriteStream(file, { mode: 0o600 }));
}
