import { describeConnection } from '../../functions/lib/engine/connection.ts';
import { cliAuditTrail } from '../audit.ts';
import { EVIDENCE_KEY_FLAGS } from '../evidence.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import { booleanFlag, requiredFlag, stringFlag, type FlagValues } from '../args.ts';
import type { Command } from '../command.ts';
import { connectionWithPassword, PASSWORD_FILE_FLAG } from '../password.ts';
import { asDatabaseNotFound, ExitCode, UsageError } from '../errors.ts';
import { backUpConfig, CONFIG_BACKUP_FLAGS, configSelectionFromFlags } from '../configCommands.ts';
import { keyringFromFlags, openVault, prepareVaultForBackup, resolveBackup, resolveSourceId } from '../options.ts';
import { createProgressDisplay } from '../progress.ts';
import { originNote } from '../settings.ts';
import { backupSummary, secondsSince } from '../summary.ts';
import { backupElastiCache, backupRedis, isRedisUrl, REDIS_PASSWORD_ENV, redisEndpointFromFlag, redisSourceId } from '../redis.ts';
import { fileSetBackupCommand, isFileSetLocation } from '../fileSets.ts';
import { assertSourceId } from '../../functions/lib/vault/layout.ts';

export const KEY_FLAGS = {
  'key-file': { type: 'string', value: 'FILE', description: 'Local key file (from lifeboat keygen): a raw AES-256 keyring.' },
  'kms-key': {
    type: 'string',
    value: 'ARN',
    description: 'KMS key ARN (not an alias); KMS is called in the Region the ARN names. A multi-Region replica opens backups made with its primary.',
  },
} as const;

export const backup: Command = {
  name: 'backup',
  summary: 'Back up a PostgreSQL or MySQL/MariaDB database, a Redis server, or a file set (directory or S3 prefix) into a vault; prints the backup id.',
  synopsis: 'lifeboat backup (--source URL | file:///DIR | s3://BUCKET/PREFIX) [--vault LOCATION] [--source-id ID] [--key-file FILE | --kms-key ARN [--air-gap-key ARN]] [--json]',
  description:
    'Streams pg_dump / mysqldump through zstd and the AWS Encryption SDK into the vault, then writes the\n' +
    'manifest. Prints only the backup id on stdout, so `id=$(lifeboat backup ...)` works; --json prints the\n' +
    'manifest instead. Ends with one line on stderr saying what was backed up (tables, rows, sizes, time).\n' +
    'A file:///DIR or s3://BUCKET/PREFIX source makes a file-set snapshot instead: content-defined chunks,\n' +
    'deduplicated and packed, reading only files whose size and mtime (ETag) changed (docs/vault-format.md).',
  positionals: [{ name: 'SOURCE', description: 'A file set to back up: file:///DIR or s3://BUCKET[/PREFIX] (or give --source).' }],
  flags: {
    source: {
      type: 'string',
      value: 'URL',
      description:
        'postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB (postgresql:// and mariadb:// too), redis://[USER@]HOST:PORT (rediss:// for TLS), ' +
        'or elasticache://GROUP (elasticache://cluster/ID for a single-node cluster) through an ElastiCache snapshot.',
    },
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory (created if absent), or s3://BUCKET[/PREFIX].' },
    'source-id': {
      type: 'string',
      value: 'ID',
      description:
        'Source id in the vault (a-z, 0-9, "-"; starts with a letter). Default: the id the config gives this database, ' +
        'else the database name made lowercase with runs of other characters as "-" (ux_pagila → ux-pagila).',
    },
    ...KEY_FLAGS,
    'air-gap-key': {
      type: 'string',
      value: 'ARN',
      description:
        "With --kms-key: wrap each data key under the air-gapped vault's key too (vaultAccount.keyArn; KMS Encrypt only), as the deployed backups do, so this backup's copy opens there and a file set's scheduled runs build on it.",
    },
    ...EVIDENCE_KEY_FLAGS,
    ...PASSWORD_FILE_FLAG,
    jobs: {
      type: 'string',
      value: 'N',
      description: 'PostgreSQL: dump in N parallel streams (vault format 1.1); 1 for one stream. Default: the number of CPUs.',
    },
    'staging-bucket': {
      type: 'string',
      value: 'BUCKET',
      description: "ElastiCache: the bucket in the cache's Region that ElastiCache exports the snapshot to (docs/redis.md); the export is deleted once sealed.",
    },
    ...CONFIG_BACKUP_FLAGS,
  },
  notes:
    'Passwords: leave it out of the URL and give --password-file FILE, or set PGPASSWORD (PostgreSQL) or\n' +
    `MYSQL_PWD (MySQL) or ${REDIS_PASSWORD_ENV} (Redis): all keep it out of \`ps\` output. A password in the URL works, with a warning.\n` +
    'Redis: every database is read with SCAN + DUMP (README, "Redis"); --source-id is required.\n' +
    'ElastiCache: one point in time through a snapshot, exported to --staging-bucket and sealed; --source-id is required.\n' +
    'Passwords are never printed.\n' +
    'S3: credentials and Region come from the AWS SDK chain; AWS_ENDPOINT_URL points at an S3-compatible server.\n' +
    'Progress (a terminal only) shows a percentage and ETA estimated from the last backup of the source.',
  maxPositionals: 1,
  async run({ flags, positionals, origins }, { output, env, deps, settings }) {
    const configSelection = configSelectionFromFlags(flags);
    if (configSelection) return backUpConfigFromFlags(configSelection, flags, origins, { output, env, deps });
    if (positionals[0] !== undefined && stringFlag(flags, 'source') !== undefined) throw new UsageError('give the source once: as --source URL or as the argument');
    const sourceUrl = positionals[0] ?? stringFlag(flags, 'source');
    if (sourceUrl !== undefined && isFileSetLocation(sourceUrl)) {
      const store = await openVault(requiredFlag(flags, 'vault'), env);
      const keyring = await keyringFromFlags(flags, deps);
      const sourceId = fileSetSourceIdFlag(flags);
      await prepareVaultForBackup(store, originNote({ origins }, 'vault'));
      return fileSetBackupCommand({ url: sourceUrl, store, keyring, sourceId, flags, output, env });
    }
    if (positionals[0] !== undefined) {
      const shown = positionals[0].length > 60 ? `${positionals[0].slice(0, 57)}...` : positionals[0];
      throw new UsageError(`unexpected argument "${shown}" for "lifeboat backup": only a file set (file:///DIR or s3://BUCKET/PREFIX) is an argument; give a database as --source URL`);
    }
    if (requiredFlag(flags, 'source').startsWith('elasticache://')) {
      const cacheStore = await openVault(requiredFlag(flags, 'vault'), env);
      const sourceId = redisSourceId(flags);
      const cacheKeyring = await keyringFromFlags(flags, deps);
      await prepareVaultForBackup(cacheStore, originNote({ origins }, 'vault'));
      return backupElastiCache({ url: requiredFlag(flags, 'source'), sourceId, store: cacheStore, keyring: cacheKeyring, flags, env }, output);
    }
    if (isRedisUrl(requiredFlag(flags, 'source'))) {
      const endpoint = await redisEndpointFromFlag('--source', requiredFlag(flags, 'source'), flags, output, env);
      const redisStore = await openVault(requiredFlag(flags, 'vault'), env);
      const sourceId = redisSourceId(flags);
      const redisKeyring = await keyringFromFlags(flags, deps);
      await prepareVaultForBackup(redisStore, originNote({ origins }, 'vault'));
      return backupRedis({ endpoint, sourceId, store: redisStore, keyring: redisKeyring, flags, env }, output);
    }
    const source = await connectionWithPassword('--source', requiredFlag(flags, 'source'), flags, output, env);
    const jobs = jobsFlag(flags);
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const { sourceId } = await resolveSourceId(flags, source, settings);
    const keyring = await keyringFromFlags(flags, deps);
    await prepareVaultForBackup(store, originNote({ origins }, 'vault'));
    const quiet = booleanFlag(flags, 'quiet');
    const previous = output.interactive ? await lastBackupSize(store, sourceId) : undefined;
    const progress = createProgressDisplay(output, {
      quiet,
      total: previous === undefined ? undefined : { bytes: previous, measure: 'raw', estimated: true },
    });
    if (output.interactive) output.error(`Backing up ${describeConnection(source)} as ${sourceId} into ${store.location}`);
    // Loaded on use: list, show and --help start without the database drivers and the Encryption SDK.
    const { runBackup } = await import('../../functions/lib/engine/backup.ts');
    const { audited, failureDetails } = await import('../../functions/lib/audit/index.ts');
    const trail = await cliAuditTrail(store, flags, env, output);
    const started = performance.now();
    let result: Awaited<ReturnType<typeof runBackup>>;
    try {
      result = await audited(trail, () => runBackup({ source, sourceId, store, keyring, ...jobs, ...(progress.onProgress ? { onProgress: progress.onProgress } : {}) }), {
        succeeded: ({ manifest }) => ({
          type: 'backup',
          outcome: 'succeeded',
          sourceId,
          backupId: manifest.backupId,
          details: { kind: 'dump', startedAt: manifest.startedAt, completedAt: manifest.completedAt, rawBytes: manifest.payload.rawBytes, storedBytes: manifest.payload.storedBytes, sha256: manifest.payload.sha256 },
        }),
        failed: (error) => ({ type: 'backup', outcome: 'failed', sourceId, details: failureDetails(error) }),
      });
    } catch (error) {
      throw asDatabaseNotFound(error);
    } finally {
      progress.clear();
    }
    if (booleanFlag(flags, 'json')) output.json({ backupId: result.manifest.backupId, sourceId, vault: store.location, manifest: result.manifest, warnings: result.warnings });
    else output.out(result.manifest.backupId);
    // What the dump left out (e.g. MySQL events without the EVENT privilege) matters even with --quiet.
    for (const warning of result.warnings) output.error(`lifeboat: warning: ${warning}`);
    output.summary(backupSummary(result.manifest, secondsSince(started)));
    return ExitCode.ok;
  },
};

/** Raw bytes of the newest complete backup of `sourceId`: what the progress of the next one is measured against. */
async function lastBackupSize(store: VaultStore, sourceId: string): Promise<number | undefined> {
  try {
    const manifest = await resolveBackup(store, 'latest', sourceId);
    return manifest.payload?.rawBytes;
  } catch {
    // No earlier backup (or an unreadable one): progress without a percentage.
    return undefined;
  }
}

/** `--jobs N`: a whole number from 1 to 64, or absent (the engine then uses the number of CPUs). */
export function jobsFlag(flags: FlagValues): { jobs?: number } {
  const text = stringFlag(flags, 'jobs');
  if (text === undefined) return {};
  const jobs = Number(text);
  if (!/^\d+$/.test(text) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs: expected a whole number from 1 to 64, got "${text}"`);
  return { jobs };
}

/** `--source-id` for a file set: checked here; absent, the directory's or bucket's name is used. */
function fileSetSourceIdFlag(flags: FlagValues): string | undefined {
  const given = stringFlag(flags, 'source-id');
  if (given === undefined) return undefined;
  try {
    assertSourceId(given);
  } catch (error) {
    throw new UsageError(`--source-id: ${(error as Error).message}`, { cause: error });
  }
  return given;
}

/** `backup --ssm-path … --secret-prefix … --secret-tag … --stack …`: a configuration backup (vault format 1.2, kind config). */
async function backUpConfigFromFlags(
  selection: NonNullable<ReturnType<typeof configSelectionFromFlags>>,
  flags: FlagValues,
  origins: Readonly<Record<string, string>> | undefined,
  { output, env, deps }: Pick<Parameters<Command['run']>[1], 'output' | 'env' | 'deps'>,
): Promise<number> {
  if (stringFlag(flags, 'source') !== undefined) {
    throw new UsageError('give either --source (a database) or the configuration flags (--ssm-path, --secret-prefix, --secret-tag, --stack), not both');
  }
  const sourceId = stringFlag(flags, 'source-id');
  if (sourceId === undefined) throw new UsageError('--source-id is required for a configuration backup');
  const { assertSourceId } = await import('../../functions/lib/vault/layout.ts');
  try {
    assertSourceId(sourceId);
  } catch (error) {
    throw new UsageError(`--source-id: ${(error as Error).message}`, { cause: error });
  }
  const store = await openVault(requiredFlag(flags, 'vault'), env);
  const keyring = await keyringFromFlags(flags, deps);
  await prepareVaultForBackup(store, originNote({ origins }, 'vault'));
  return backUpConfig({ selection, sourceId, store, keyring, flags, env, output, clients: deps.configClients });
}
