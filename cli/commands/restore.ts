import { describeConnection } from '../../functions/lib/engine/connection.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { connectionWithPassword, PASSWORD_FILE_FLAG } from '../password.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { assertVaultExists, backupIdArgument, keyringFromFlags, openVault, sourceFilter } from '../options.ts';
import { createProgressDisplay } from '../progress.ts';
import { originNote } from '../settings.ts';
import { restoreSummary, secondsSince } from '../summary.ts';
import { jobsFlag, KEY_FLAGS } from './backup.ts';
import { locateBackup } from './show.ts';

export const restore: Command = {
  name: 'restore',
  summary: 'Restore a backup into a database (all of it, or one PostgreSQL table).',
  synopsis:
    'lifeboat restore ID --vault LOCATION (--key-file FILE | --kms-key ARN) --target URL [--drop-existing] [--table NAME]',
  description:
    'Reads the payload, checking its SHA-256 and size against the manifest while it streams, decrypts,\n' +
    'decompresses and feeds pg_restore / mysql. Refuses a target that already holds tables unless\n' +
    '--drop-existing is given. The target URL must use the backup\'s engine.',
  positionals: [{ name: 'ID', description: 'The backup id as printed by backup and list, a unique prefix of it, or "latest".' }],
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'The source id, when the backup id exists under several sources.' },
    ...KEY_FLAGS,
    ...PASSWORD_FILE_FLAG,
    target: { type: 'string', value: 'URL', description: 'The database to restore into: postgres://… or mysql://…' },
    'drop-existing': { type: 'boolean', description: "Drop what the target holds first (the target's own objects are lost)." },
    table: { type: 'string', value: 'NAME', description: 'Restore only this table, as NAME or SCHEMA.NAME (PostgreSQL backups).' },
    jobs: {
      type: 'string',
      value: 'N',
      description: 'Backups made with --jobs: load data and build indexes over N connections. Default: the number of CPUs.',
    },
  },
  notes: 'The target password comes from --password-file, PGPASSWORD / MYSQL_PWD or the URL (with a warning), as for backup. It is never printed.',
  maxPositionals: 1,
  async run({ flags, positionals, origins }, { output, env, deps }) {
    const backupId = backupIdArgument('restore', positionals);
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const target = await connectionWithPassword('--target', requiredFlag(flags, 'target'), flags, output, env);
    const table = stringFlag(flags, 'table');
    const jobs = jobsFlag(flags);
    const keyring = await keyringFromFlags(flags, deps);
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    // Checked here rather than left to the engine so that the error names the flag to fix.
    const manifest = await locateBackup(store, backupId, sourceId);
    if (manifest.engine !== target.engine) {
      throw new UsageError(`--target: backup ${manifest.backupId} is a ${manifest.engine} backup; give a ${manifest.engine === 'postgresql' ? 'postgres' : 'mysql'}:// URL`);
    }
    const { runRestore, resolveTable } = await import('../../functions/lib/engine/restore.ts');
    if (table !== undefined) {
      try {
        resolveTable(manifest, table);
      } catch (error) {
        throw new UsageError(`--table: ${(error as Error).message}`, { cause: error });
      }
    }
    const quiet = booleanFlag(flags, 'quiet');
    const progress = createProgressDisplay(output, { quiet, total: manifest.payload ? { bytes: manifest.payload.rawBytes, measure: 'raw' } : undefined });
    if (!quiet && output.stderrIsTTY) output.error(`Restoring ${manifest.sourceId}/${manifest.backupId} from ${store.location} into ${describeConnection(target)}`);
    const started = performance.now();
    let result: Awaited<ReturnType<typeof runRestore>>;
    try {
      result = await runRestore({
        store,
        backupId: manifest.backupId,
        keyring,
        target,
        dropExisting: booleanFlag(flags, 'drop-existing'),
        sourceId: manifest.sourceId,
        ...jobs,
        ...(table === undefined ? {} : { table }),
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
      });
    } finally {
      progress.clear();
    }
    const summary = restoreSummary({ manifest, target, seconds: secondsSince(started), table, created: (result as { created?: boolean }).created });
    if (booleanFlag(flags, 'json')) output.json({ ...result, target: describeConnection(target), summary });
    output.summary(summary);
    return ExitCode.ok;
  },
};
