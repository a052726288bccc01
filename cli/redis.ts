/**
 * The CLI's Redis sources and targets: `redis://[USER@]HOST[:PORT]` (`rediss://` for TLS). Backup, restore
 * and verify hand a Redis URL (or a Redis backup) to these instead of the database engines.
 */
import { cliAuditTrail } from './audit.ts';
import type { RedisEndpoint } from '../functions/lib/redis/resp.ts';
import { assertSourceId } from '../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import type { BackupKeyring } from '../functions/lib/crypto/keyring.ts';
import { booleanFlag, stringFlag, type FlagValues } from './args.ts';
import { ExitCode, UsageError } from './errors.ts';
import { formatCount, formatDuration } from './format.ts';
import type { Output } from './io.ts';
import { readPasswordFile } from './password.ts';
import { backupSummary, secondsSince } from './summary.ts';

/** redis-cli's variable for the password, so it stays out of `ps` and the shell history. */
export const REDIS_PASSWORD_ENV = 'REDISCLI_AUTH';

export function isRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url);
}

/**
 * `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]` (DB is ignored: a backup takes every database). The
 * password comes from --password-file, REDISCLI_AUTH or the URL (with a warning); it is scrubbed from output.
 */
export async function redisEndpointFromFlag(
  flag: string,
  url: string,
  flags: FlagValues,
  output: Output,
  env: Readonly<Record<string, string | undefined>>,
): Promise<RedisEndpoint> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${flag}: not a URL; expected redis://[USER@]HOST[:PORT] or rediss://…`);
  }
  const urlPassword = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  output.addSecret(urlPassword);
  if (parsed.hostname === '') throw new UsageError(`${flag}: the Redis URL has no host`);
  if (parsed.search !== '' || parsed.hash !== '') throw new UsageError(`${flag}: the Redis URL takes no parameters`);
  if (!/^\/?\d*$/.test(parsed.pathname)) throw new UsageError(`${flag}: the path of a Redis URL is a database number; a backup takes every database`);
  const passwordFile = stringFlag(flags, 'password-file');
  if (urlPassword !== undefined && passwordFile !== undefined) throw new UsageError(`give the password in ${flag} or with --password-file, not both`);
  let password = urlPassword;
  if (urlPassword !== undefined) {
    output.error(`lifeboat: warning: the password in ${flag} is visible to other users in the process list, and stays in your shell history; use --password-file or ${REDIS_PASSWORD_ENV} instead`);
  } else if (passwordFile !== undefined) {
    password = await readPasswordFile(passwordFile);
  } else {
    password = env[REDIS_PASSWORD_ENV] || undefined;
  }
  output.addSecret(password);
  const user = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  if (user !== undefined && password === undefined) throw new UsageError(`${flag}: a user (${user}) needs a password: --password-file or ${REDIS_PASSWORD_ENV}`);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    tls: parsed.protocol.toLowerCase() === 'rediss:',
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { password }),
  };
}

/** A Redis source needs `--source-id`: there is no database name to derive one from. */
export function redisSourceId(flags: FlagValues): string {
  const given = stringFlag(flags, 'source-id');
  if (given === undefined) throw new UsageError('--source-id is required for a Redis source (there is no database name to derive it from)');
  try {
    assertSourceId(given);
  } catch (error) {
    throw new UsageError(`--source-id: ${(error as Error).message}`, { cause: error });
  }
  return given;
}

/** `lifeboat backup --source redis://…`. */
export async function backupRedis(
  options: { endpoint: RedisEndpoint; sourceId: string; store: VaultStore; keyring: BackupKeyring; flags: FlagValues; env: Readonly<Record<string, string | undefined>> },
  output: Output,
): Promise<number> {
  const { runRedisBackup } = await import('../functions/lib/redis/vault.ts');
  const { audited, failureDetails } = await import('../functions/lib/audit/index.ts');
  const trail = await cliAuditTrail(options.store, options.flags, options.env, output);
  const started = performance.now();
  if (output.interactive) output.error(`Backing up Redis at ${options.endpoint.host}:${options.endpoint.port} as ${options.sourceId} into ${options.store.location}`);
  const result = await audited(trail, () => runRedisBackup({ endpoint: options.endpoint, sourceId: options.sourceId, store: options.store, keyring: options.keyring }), {
    succeeded: ({ manifest }) => ({
      type: 'backup', outcome: 'succeeded', sourceId: options.sourceId, backupId: manifest.backupId,
      details: { kind: 'dump', engine: 'redis', startedAt: manifest.startedAt, completedAt: manifest.completedAt, rawBytes: manifest.payload.rawBytes, storedBytes: manifest.payload.storedBytes, sha256: manifest.payload.sha256 },
    }),
    failed: (error) => ({ type: 'backup', outcome: 'failed', sourceId: options.sourceId, details: failureDetails(error) }),
  });
  if (booleanFlag(options.flags, 'json')) {
    output.json({ backupId: result.manifest.backupId, sourceId: options.sourceId, vault: options.store.location, manifest: result.manifest, warnings: result.warnings });
  } else {
    output.out(result.manifest.backupId);
  }
  for (const warning of result.warnings) output.error(`lifeboat: warning: ${warning}`);
  output.summary(backupSummary(result.manifest, secondsSince(started)));
  return ExitCode.ok;
}

/** `lifeboat restore ID --target redis://…` or `--rdb FILE`. */
export async function restoreRedis(
  options: { manifest: BackupManifest; store: VaultStore; keyring: BackupKeyring; flags: FlagValues; env: Readonly<Record<string, string | undefined>>; target?: RedisEndpoint; rdbFile?: string },
  output: Output,
): Promise<number> {
  const { restoreRedisBackup, restoreRedisBackupToRdb } = await import('../functions/lib/redis/vault.ts');
  const { audited, failureDetails } = await import('../functions/lib/audit/index.ts');
  const { manifest, store, keyring } = options;
  const overwrite = booleanFlag(options.flags, 'overwrite');
  const trail = await cliAuditTrail(store, options.flags, options.env, output);
  const started = performance.now();
  const where = options.rdbFile !== undefined ? `RDB file ${options.rdbFile}` : `Redis at ${options.target!.host}:${options.target!.port}`;
  const ids = { sourceId: manifest.sourceId, backupId: manifest.backupId };
  const into = options.rdbFile !== undefined ? `rdb:${options.rdbFile}` : `${options.target!.host ?? options.target!.path}:${options.target!.port ?? ''}`;
  const summary = await audited(
    trail,
    () =>
      options.rdbFile !== undefined
        ? restoreRedisBackupToRdb({ store, manifest, keyring, rdbFile: options.rdbFile, overwrite })
        : restoreRedisBackup({ store, manifest, keyring, target: options.target!, replace: overwrite }),
    {
      succeeded: (s) => ({ type: 'restore-finished', outcome: 'succeeded', ...ids, details: { into, keys: s.keys, restoredDataAt: manifest.startedAt } }),
      failed: (error) => ({ type: 'restore-finished', outcome: 'failed', ...ids, details: { into, ...failureDetails(error) } }),
    },
  );
  const expired = summary.expiredSkipped > 0 ? ` (${formatCount(summary.expiredSkipped)} keys had expired and were left out)` : '';
  if (booleanFlag(options.flags, 'json')) output.json({ ...summary, target: where });
  output.summary(`Restored ${manifest.sourceId}/${manifest.backupId} into ${where}: ${formatCount(summary.keys)} keys in ${summary.databases.length} databases${expired}, in ${formatDuration(secondsSince(started))}`);
  return ExitCode.ok;
}

/** Why a restore's flags do not fit a Redis backup (or a Redis target a database backup), or undefined. */
export function redisRestoreFlagProblem(manifest: BackupManifest, flags: FlagValues, target: string | undefined): string | undefined {
  const redisBackup = manifest.engine === 'redis';
  const rdb = stringFlag(flags, 'rdb');
  if (!redisBackup) {
    if (rdb !== undefined || (target !== undefined && isRedisUrl(target))) return `backup ${manifest.backupId} is a ${manifest.engine} backup; --rdb and redis:// targets take Redis backups`;
    return undefined;
  }
  if ((rdb === undefined) === (target === undefined)) return `backup ${manifest.backupId} is a Redis backup: give --target redis://HOST:PORT or --rdb FILE (one of them)`;
  if (target !== undefined && !isRedisUrl(target)) return `--target: backup ${manifest.backupId} is a Redis backup; give a redis:// URL`;
  for (const flag of ['table', 'jobs']) if (stringFlag(flags, flag) !== undefined) return `--${flag} does not apply to a Redis backup`;
  for (const flag of ['replace-table', 'drop-existing']) if (booleanFlag(flags, flag)) return `--${flag} does not apply to a Redis backup`;
  return undefined;
}

/** `elasticache://GROUP` (a replication group) or `elasticache://cluster/ID` (a single-node cache cluster). */
export function parseElastiCacheUrl(url: string): { replicationGroupId: string } | { cacheClusterId: string } | undefined {
  const match = /^elasticache:\/\/(?:(cluster)\/)?([A-Za-z][A-Za-z0-9-]{0,39})\/?$/.exec(url);
  if (!match) return undefined;
  return match[1] ? { cacheClusterId: match[2]! } : { replicationGroupId: match[2]! };
}

/**
 * `lifeboat backup elasticache://GROUP --staging-bucket BUCKET --source-id ID`: one point in time through an
 * ElastiCache snapshot, exported to the staging bucket (in the cache's Region, granting ElastiCache write
 * access; docs/redis.md), sealed into the vault as a Redis backup; the snapshot and the export are removed.
 */
export async function backupElastiCache(
  options: { url: string; sourceId: string; store: VaultStore; keyring: BackupKeyring; flags: FlagValues; env: Readonly<Record<string, string | undefined>> },
  output: Output,
): Promise<number> {
  const target = parseElastiCacheUrl(options.url);
  if (!target) throw new UsageError(`--source: "${options.url.slice(0, 80)}" is not elasticache://GROUP or elasticache://cluster/ID`);
  const bucket = stringFlag(options.flags, 'staging-bucket');
  if (bucket === undefined) throw new UsageError('--staging-bucket is required for an ElastiCache source: the bucket in the cache\'s Region that ElastiCache exports the snapshot to');
  const [{ ElastiCacheClient }, { createS3Client, s3ClientOptionsFromEnv }, { runElastiCacheBackup }] = await Promise.all([
    import('@aws-sdk/client-elasticache'),
    import('../functions/lib/aws/s3Client.ts'),
    import('../functions/lib/elasticache/export.ts'),
  ]);
  const started = performance.now();
  const result = await runElastiCacheBackup({
    elasticache: new ElastiCacheClient(options.env['AWS_REGION'] ? { region: options.env['AWS_REGION'] } : {}),
    // The staging bucket is reached like an S3 vault: the Region, endpoint and credentials of the environment.
    staging: { s3: createS3Client(s3ClientOptionsFromEnv(options.env)), bucket },
    target,
    sourceId: options.sourceId,
    store: options.store,
    keyring: options.keyring,
    onStep: (step, detail) => {
      if (output.interactive) output.error(`${step}: ${Object.entries(detail).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
    },
  });
  if (booleanFlag(options.flags, 'json')) {
    output.json({ backupId: result.manifest.backupId, sourceId: options.sourceId, vault: options.store.location, snapshot: result.snapshotName, cleaned: result.cleaned, manifest: result.manifest });
  } else {
    output.out(result.manifest.backupId);
  }
  for (const item of result.cleaned) output.error(`lifeboat: removed ${item}`);
  output.summary(backupSummary(result.manifest, secondsSince(started)));
  return ExitCode.ok;
}
