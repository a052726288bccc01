import { describeConnection } from '../../functions/lib/engine/connection.ts';
import { cliAuditTrail } from '../audit.ts';
import { EVIDENCE_KEY_FLAGS } from '../evidence.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { connectionWithPassword, PASSWORD_FILE_FLAG } from '../password.ts';
import { ExitCode, UsageError } from '../errors.ts';
import type { Output } from '../io.ts';
import { assertVaultExists, backupIdArgument, keyringFromFlags, openVault, sourceFilter } from '../options.ts';
import { createProgressDisplay } from '../progress.ts';
import { originNote } from '../settings.ts';
import { restoreSummary, secondsSince } from '../summary.ts';
import { jobsFlag, KEY_FLAGS } from './backup.ts';
import { locateBackup } from './show.ts';
import { isRedisUrl, redisEndpointFromFlag, redisRestoreFlagProblem, restoreRedis } from '../redis.ts';
import { fileSetRestoreCommand, isFileSetLocation } from '../fileSets.ts';
import { CONFIG_RESTORE_FLAGS, findConfigBackup, restoreConfig } from '../configCommands.ts';

export const restore: Command = {
  name: 'restore',
  summary: 'Restore a backup into a database (all of it, or one table).',
  synopsis:
    'lifeboat restore ID --vault LOCATION (--key-file FILE | --kms-key ARN) --target URL [--table NAME [--replace-table]] [--drop-existing [--yes]]',
  description:
    'Reads the payload, checking its SHA-256 and size against the manifest while it streams, decrypts,\n' +
    'decompresses and feeds pg_restore / mysql. Refuses a target that already holds tables unless\n' +
    '--drop-existing is given. The target URL must use the backup\'s engine.\n' +
    'With --table, restores that table with its sequences, defaults, indexes, constraints, triggers (and\n' +
    'partitions) into a new database, or an existing one that lacks it; --replace-table replaces the table\n' +
    'the target has, leaving every other object alone. A database this run created is dropped again if the\n' +
    'restore fails or is interrupted.\n' +
    'A file-set snapshot restores into --target file:///DIR or s3://BUCKET/PREFIX: every file, those under\n' +
    '--path PREFIX/ or the one file --path names, as it was at that snapshot; existing files are never\n' +
    'replaced unless --overwrite is given.',
  positionals: [{ name: 'ID', description: 'The backup id as printed by backup and list, a unique prefix of it, or "latest".' }],
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'The source id, when the backup id exists under several sources.' },
    ...KEY_FLAGS,
    ...EVIDENCE_KEY_FLAGS,
    ...PASSWORD_FILE_FLAG,
    target: { type: 'string', value: 'URL', description: 'Where to restore: postgres://… or mysql://…; a Redis backup: redis://HOST:PORT; a file set: file:///DIR or s3://BUCKET/PREFIX.' },
    rdb: { type: 'string', value: 'FILE', description: 'A Redis backup: write it as an RDB file instead of into a server (needs redis-server).' },
    path: { type: 'string', value: 'PATH', description: 'File sets: restore only this file, or (ending in /) everything under this prefix.' },
    'drop-existing': {
      type: 'boolean',
      description: "Drop the whole target database first (every object in it is lost); asks on a terminal, needs --yes otherwise.",
    },
    yes: { type: 'boolean', description: 'Confirm --drop-existing without asking.' },
    table: { type: 'string', value: 'NAME', description: 'Restore only this table, as NAME or SCHEMA.NAME.' },
    'replace-table': { type: 'boolean', description: 'With --table: replace that table in an existing target (only that table).' },
    jobs: {
      type: 'string',
      value: 'N',
      description: 'Backups made with --jobs: load data and build indexes over N connections. Default: the number of CPUs.',
    },
    ...CONFIG_RESTORE_FLAGS,
    overwrite: {
      type: 'boolean',
      description: 'Replace what the target already holds: files of a file set, keys of a Redis backup (or the --rdb file), items of a configuration backup.',
    },
  },
  notes: 'The target password comes from --password-file, PGPASSWORD / MYSQL_PWD or the URL (with a warning), as for backup. It is never printed.',
  maxPositionals: 1,
  async run({ flags, positionals, origins }, { output, env, deps }) {
    const backupId = backupIdArgument('restore', positionals);
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const configBackup = await findConfigBackup(store, backupId, sourceId);
    if (configBackup) {
      const keyring = await keyringFromFlags(flags, deps);
      return restoreConfig({ manifest: configBackup, store, keyring, flags, env, output, clients: deps.configClients });
    }
    for (const flag of Object.keys(CONFIG_RESTORE_FLAGS)) {
      // --overwrite also serves file sets and Redis backups.
      if (flag !== 'overwrite' && flags[flag] !== undefined) throw new UsageError(`--${flag} is for configuration backups; ${backupId} is a database backup`);
    }
    const targetUrl = stringFlag(flags, 'target');
    if (stringFlag(flags, 'rdb') !== undefined || (targetUrl !== undefined && isRedisUrl(targetUrl))) {
      const redisKeyring = await keyringFromFlags(flags, deps);
      await assertVaultExists(store, originNote({ origins }, 'vault'));
      const found = await locateBackup(store, backupId, sourceId);
      const problem = redisRestoreFlagProblem(found, flags, targetUrl);
      if (problem) throw new UsageError(problem);
      const rdbFile = stringFlag(flags, 'rdb');
      const redisTarget = targetUrl === undefined ? undefined : await redisEndpointFromFlag('--target', targetUrl, flags, output, env);
      return restoreRedis({ manifest: found, store, keyring: redisKeyring, flags, env, ...(redisTarget ? { target: redisTarget } : {}), ...(rdbFile ? { rdbFile } : {}) }, output);
    }
    if (targetUrl !== undefined && isFileSetLocation(targetUrl)) {
      const keyring = await keyringFromFlags(flags, deps);
      await assertVaultExists(store, originNote({ origins }, 'vault'));
      return fileSetRestoreCommand({ ref: backupId, target: targetUrl, store, keyring, sourceId, flags, output, env });
    }
    if (stringFlag(flags, 'path') !== undefined) throw new UsageError('--path is for file sets (a file:// or s3:// --target)');
    const target = await connectionWithPassword('--target', requiredFlag(flags, 'target'), flags, output, env);
    const table = stringFlag(flags, 'table');
    const replaceTable = booleanFlag(flags, 'replace-table');
    const dropExisting = booleanFlag(flags, 'drop-existing');
    if (replaceTable && table === undefined) throw new UsageError('--replace-table needs --table: it replaces that one table');
    if (replaceTable && dropExisting) throw new UsageError('give either --replace-table (that table alone) or --drop-existing (the whole database), not both');
    const jobs = jobsFlag(flags);
    const keyring = await keyringFromFlags(flags, deps);
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    // Checked here rather than left to the engine so that the error names the flag to fix.
    const manifest = await locateBackup(store, backupId, sourceId);
    const redisProblem = redisRestoreFlagProblem(manifest, flags, targetUrl);
    if (redisProblem) throw new UsageError(redisProblem);
    if (manifest.kind === 'snapshot') {
      const where = manifest.snapshot ? ` ${manifest.snapshot.identifier} in ${manifest.snapshot.region}` : '';
      throw new UsageError(
        `backup ${manifest.backupId} is a ${manifest.engine === 'docdb' ? 'DocumentDB cluster' : 'RDS'} snapshot${where}, not a dump: restore it with a DR plan's restore-snapshot step (or from the RDS console); lifeboat restore restores dumps`,
      );
    }
    if (manifest.engine !== target.engine) {
      throw new UsageError(`--target: backup ${manifest.backupId} is a ${manifest.engine} backup; give a ${manifest.engine === 'postgresql' ? 'postgres' : 'mysql'}:// URL`);
    }
    const { runRestore, resolveTable, targetContents } = await import('../../functions/lib/engine/restore.ts');
    if (table !== undefined) {
      try {
        resolveTable(manifest, table);
      } catch (error) {
        throw new UsageError(`--table: ${(error as Error).message}`, { cause: error });
      }
    }
    if (dropExisting) {
      const contents = await targetContents(target);
      if (contents !== undefined) {
        const what = `database ${describeConnection(target)} with ${describeObjects(contents)}`;
        if (!booleanFlag(flags, 'yes')) {
          if (!(output.stderrIsTTY && process.stdin.isTTY)) {
            throw new UsageError(`--drop-existing drops ${what}; confirm with --yes`);
          }
          if (!(await confirm(output, `Drop ${what}? Type the database name (${target.database}) to confirm: `, target.database))) {
            output.error('lifeboat: nothing was dropped or restored');
            return ExitCode.usage;
          }
        }
        output.error(`Dropping ${what}`);
      }
    }
    const quiet = booleanFlag(flags, 'quiet');
    const progress = createProgressDisplay(output, { quiet, total: manifest.payload ? { bytes: manifest.payload.rawBytes, measure: 'raw' } : undefined });
    if (!quiet && output.stderrIsTTY) output.error(`Restoring ${manifest.sourceId}/${manifest.backupId} from ${store.location} into ${describeConnection(target)}`);
    const started = performance.now();
    const { audited, failureDetails } = await import('../../functions/lib/audit/index.ts');
    const trail = await cliAuditTrail(store, flags, env, output);
    // Where the data went, never the credentials: host:port/database (and the one table, when only it was restored).
    const restoreDetails = { into: `${target.host}:${target.port}/${target.database}`, ...(table === undefined ? {} : { table }), restoredDataAt: manifest.startedAt };
    const ids = { sourceId: manifest.sourceId, backupId: manifest.backupId };
    let result: Awaited<ReturnType<typeof runRestore>>;
    try {
      result = await audited(
        trail,
        () =>
          runRestore({
            store,
            backupId: manifest.backupId,
            keyring,
            target,
            dropExisting,
            sourceId: manifest.sourceId,
            ...jobs,
            ...(table === undefined ? {} : { table, replaceTable }),
            ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
          }),
        {
          succeeded: () => ({ type: 'restore-finished', outcome: 'succeeded', ...ids, details: restoreDetails }),
          failed: (error) => ({ type: 'restore-finished', outcome: 'failed', ...ids, details: { ...restoreDetails, ...failureDetails(error) } }),
        },
      );
    } finally {
      progress.clear();
    }
    for (const warning of result.warnings) output.error(`lifeboat: warning: ${warning}`);
    const summary = restoreSummary({ manifest, target, seconds: secondsSince(started), table, created: result.createdDatabase });
    if (booleanFlag(flags, 'json')) output.json({ ...result, target: describeConnection(target), summary });
    output.summary(summary);
    return ExitCode.ok;
  },
};

/** `3 objects: public.actor, public.film, public.payment` (at most ten named). */
function describeObjects(names: readonly string[]): string {
  if (names.length === 0) return 'no objects';
  const shown = names.slice(0, 10).join(', ');
  return `${names.length} object${names.length === 1 ? '' : 's'}: ${shown}${names.length > 10 ? ', …' : ''}`;
}

/** Asks on the terminal; true only when the answer is exactly `expected`. */
async function confirm(output: Output, question: string, expected: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question(output.scrub(question))).trim() === expected;
  } finally {
    prompt.close();
  }
}
