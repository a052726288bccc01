import { describeConnection } from '../../functions/lib/engine/connection.ts';
import { booleanFlag, requiredFlag, stringFlag, type FlagValues } from '../args.ts';
import type { Command } from '../command.ts';
import { connectionWithPassword, PASSWORD_FILE_FLAG } from '../password.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { keyringFromFlags, openVault, resolveSourceId } from '../options.ts';
import { createProgressDisplay } from '../progress.ts';

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
  summary: 'Dump a PostgreSQL or MySQL/MariaDB database into a vault; prints the backup id.',
  synopsis: 'lifeboat backup --source URL --vault LOCATION [--source-id ID] (--key-file FILE | --kms-key ARN)',
  description:
    'Streams pg_dump / mysqldump through zstd and the AWS Encryption SDK into the vault, then writes the\n' +
    'manifest. Prints only the backup id on stdout, so `id=$(lifeboat backup ...)` works.',
  flags: {
    source: {
      type: 'string',
      value: 'URL',
      description: 'postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB (postgresql:// and mariadb:// too).',
    },
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory (created if absent), or s3://BUCKET[/PREFIX].' },
    'source-id': {
      type: 'string',
      value: 'ID',
      description: 'Source id in the vault (a-z, 0-9, "-"; starts with a letter). Default: derived from the database name.',
    },
    ...KEY_FLAGS,
    ...PASSWORD_FILE_FLAG,
    jobs: {
      type: 'string',
      value: 'N',
      description: 'PostgreSQL: dump in N parallel streams (vault format 1.1); 1 for one stream. Default: the number of CPUs.',
    },
  },
  notes:
    'Passwords: leave it out of the URL and give --password-file FILE, or set PGPASSWORD (PostgreSQL) or\n' +
    'MYSQL_PWD (MySQL): both keep it out of `ps` output. A password in the URL works, with a warning.\n' +
    'Passwords are never printed.\n' +
    'S3: credentials and Region come from the AWS SDK chain; LIFEBOAT_S3_ENDPOINT points at another S3 server.',
  maxPositionals: 0,
  async run({ flags }, { output, env, deps }) {
    const source = await connectionWithPassword('--source', requiredFlag(flags, 'source'), flags, output, env);
    const jobs = jobsFlag(flags);
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = resolveSourceId(flags, source.database);
    const keyring = await keyringFromFlags(flags, deps);
    const quiet = booleanFlag(flags, 'quiet');
    const progress = createProgressDisplay(output, { quiet });
    if (!quiet && output.stderrIsTTY) output.error(`Backing up ${describeConnection(source)} as ${sourceId} into ${store.location}`);
    // Loaded on use: list, show and --help start without the database drivers and the Encryption SDK.
    const { runBackup } = await import('../../functions/lib/engine/backup.ts');
    try {
      const result = await runBackup({
        source,
        sourceId,
        store,
        keyring,
        ...jobs,
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
      });
      output.out(result.manifest.backupId);
      // What the dump left out (e.g. MySQL events without the EVENT privilege) matters even with --quiet.
      for (const warning of result.warnings) output.error(`lifeboat: warning: ${warning}`);
    } finally {
      progress.clear();
    }
    return ExitCode.ok;
  },
};

/** `--jobs N`: a whole number from 1 to 64, or absent (the engine then uses the number of CPUs). */
export function jobsFlag(flags: FlagValues): { jobs?: number } {
  const text = stringFlag(flags, 'jobs');
  if (text === undefined) return {};
  const jobs = Number(text);
  if (!/^\d+$/.test(text) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs: expected a whole number from 1 to 64, got "${text}"`);
  return { jobs };
}
