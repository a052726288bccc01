import type { RetentionPolicy } from '../../functions/lib/retention/plan.ts';
import { cliAuditTrail } from '../audit.ts';
import { EVIDENCE_KEY_FLAGS } from '../evidence.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import { booleanFlag, type FlagValues, requiredFlag, stringFlag } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import { ExitCode, PruneIncompleteError, UsageError } from '../errors.ts';
import { assertVaultExists, keyringFromFlags, openVault, sourceFilter } from '../options.ts';
import { originNote } from '../settings.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';
import { KEY_FLAGS } from './backup.ts';

/** The config's retention defaults (infra/config/schema.ts), so a bare `prune` does what a deployment would. */
const DEFAULT_POLICY: RetentionPolicy = { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } };

const COUNT_FLAGS = {
  'keep-last': { type: 'string', value: 'N', description: `Keep the N newest backups that did not fail verification (default ${DEFAULT_POLICY.keepLast}).` },
  days: { type: 'string', value: 'N', description: `Keep every backup that did not fail and is younger than N days (default ${DEFAULT_POLICY.days}).` },
  daily: { type: 'string', value: 'N', description: `Keep one backup for each of the N most recent days that have one (default ${DEFAULT_POLICY.gfs.daily}).` },
  weekly: { type: 'string', value: 'N', description: `… ISO weeks (default ${DEFAULT_POLICY.gfs.weekly}).` },
  monthly: { type: 'string', value: 'N', description: `… calendar months (default ${DEFAULT_POLICY.gfs.monthly}).` },
  yearly: { type: 'string', value: 'N', description: `… calendar years (default ${DEFAULT_POLICY.gfs.yearly}).` },
} as const;

export const prune: Command = {
  name: 'prune',
  summary: "Delete a source's backups that its retention policy no longer keeps (--dry-run to preview).",
  synopsis:
    'lifeboat prune --source ID [--vault LOCATION] [--dry-run] [--keep-last N] [--days N] [--daily N] [--weekly N] [--monthly N] [--yearly N] [--time-zone TZ] [--json]',
  description:
    'Plans retention for one source and deletes what no rule keeps: each backup\'s manifest first, then the\n' +
    'rest of its folder. Never deletes the newest verified backup, a backup under Object Lock or legal hold\n' +
    '(reported as protected), or one still being written; uploads that never completed are removed after\n' +
    '24 hours. Prints what goes and why each kept backup stays (docs/retention.md). 0 turns a rule off.\n' +
    "The policy is the source's retention and schedule time zone in the config (--config / LIFEBOAT_CONFIG);\n" +
    'each flag given overrides its one rule; without a config the defaults below apply.',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'The source whose backups to prune (required).' },
    'dry-run': { type: 'boolean', description: 'Plan and print only; delete nothing.' },
    ...COUNT_FLAGS,
    ...EVIDENCE_KEY_FLAGS,
    ...VERIFICATION_KEY_FLAGS,
    'time-zone': { type: 'string', value: 'TZ', description: 'IANA time zone of the daily/weekly/monthly/yearly periods (default UTC).' },
    json: { type: 'boolean', description: 'Print the report as JSON.' },
    ...KEY_FLAGS,
  },
  notes:
    'On an S3 vault, Object Lock retention and legal hold are read before anything is deleted.\n' +
    'Exit codes: 0 done (protected backups are not an error), 1 some backups could not be read or deleted\n' +
    '(the report lists each; nothing is deleted while any verification status is unreadable), 2 bad flags.\n' +
    'A file-set source (lifeboat backup file:///…) is pruned by snapshot: the policy picks the snapshots, the\n' +
    'newest is always kept, and packs no kept snapshot refers to are deleted; its index is encrypted, so this\n' +
    'needs --key-file or --kms-key.',
  maxPositionals: 0,
  async run({ flags, origins }, { output, env, settings, deps }) {
    const location = requiredFlag(flags, 'vault');
    const sourceId = sourceFilter(flags);
    if (sourceId === undefined) throw new UsageError('--source is required: retention runs per source');
    const configured = await settings.source(sourceId);
    if (configured === undefined && (await settings.config()) !== undefined) {
      const known = (await settings.config())!.sources.map((source) => source.id).join(', ');
      throw new UsageError(`--source ${sourceId} is not a source of ${settings.configPath} (its sources: ${known}); its retention policy is unknown`);
    }
    const policy = policyFromFlags(flags, configured?.retention ?? DEFAULT_POLICY);
    const timeZone = stringFlag(flags, 'time-zone') ?? configured?.schedule.timeZone ?? 'UTC';
    const { assertTimeZone, formatRetentionReport, pruneVault, s3ObjectLockReader } = await import('../../functions/lib/retention/index.ts');
    try {
      assertTimeZone(timeZone);
    } catch (error) {
      throw new UsageError(`--time-zone: ${(error as Error).message}`, { cause: error });
    }
    let store: VaultStore;
    let readProtection: Parameters<typeof pruneVault>[1]['readProtection'];
    if (/^s3:\/\//i.test(location)) {
      // The same client for the store and for the Object Lock reads.
      const [{ createS3Client, s3ClientOptionsFromEnv }, { openStore, parseS3Location }] = await Promise.all([
        import('../../functions/lib/aws/s3Client.ts'),
        import('../../functions/lib/vault/openStore.ts'),
      ]);
      let bucket: string;
      let prefix: string;
      try {
        ({ bucket, prefix } = parseS3Location(location));
      } catch (error) {
        throw new UsageError(`--vault: ${(error as Error).message}`, { cause: error });
      }
      const client = createS3Client(s3ClientOptionsFromEnv(env));
      store = openStore(location, { client, env });
      readProtection = s3ObjectLockReader({ client, bucket, prefix });
    } else {
      store = await openVault(location, env);
    }
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    const { listFileSetSources } = await import('../../functions/lib/fileset/catalog.ts');
    if ((await listFileSetSources(store)).includes(sourceId)) {
      return pruneFileSetCommand({ store, sourceId, policy, timeZone, flags, output, deps });
    }

    const { audited, failureDetails } = await import('../../functions/lib/audit/index.ts');
    const trail = await cliAuditTrail(store, flags, env, output);
    // With the key only authenticated results count, and one that fails to authenticate stops deletions.
    const authenticator = await verificationKeyFrom(flags, env);
    const report = await audited(
      trail,
      () =>
        pruneVault(store, {
          sourceId,
          policy,
          timeZone,
          now: new Date(),
          dryRun: booleanFlag(flags, 'dry-run'),
          ...(readProtection ? { readProtection } : {}),
          ...(authenticator ? { authenticator } : {}),
        }),
      {
        // One event per deleted backup, with the rule that let it go, as the retention function records; a dry run records nothing.
        succeeded: (r) =>
          r.dryRun
            ? undefined
            : [
                ...r.deleted.map((entry) => ({
                  type: 'prune' as const, outcome: 'succeeded' as const, sourceId,
                  ...(/^\d{8}T\d{6}Z-[a-z2-7]{8}$/.test(entry.id) ? { backupId: entry.id } : {}),
                  details: { subject: r.subject, id: entry.id, completedAt: entry.at.toISOString(), status: entry.status, rule: entry.reasons.join('; ') },
                })),
                ...r.errors.map((failure) => ({
                  type: 'prune' as const, outcome: 'failed' as const, sourceId,
                  details: { subject: r.subject, id: failure.id ?? null, step: failure.step, error: failure.error, reason: failure.message },
                })),
              ],
        failed: (error) => ({ type: 'prune', outcome: 'failed', sourceId, details: failureDetails(error) }),
      },
    );
    if (booleanFlag(flags, 'json')) output.json(report);
    else output.out(formatRetentionReport(report));
    // The report's last line (`Summary: 2 deleted, 5 kept, 0 protected, 0 errors`) says what it did.

    if (report.errors.length > 0) {
      throw new PruneIncompleteError(
        `${report.errors.length} error${report.errors.length === 1 ? '' : 's'} while pruning ${sourceId} (listed in the report); ` +
          'what could not be read or deleted was left in place',
      );
    }
    return ExitCode.ok;
  },
};

/** The policy: each count flag given overrides that one rule of `base` (the config's, else the defaults). */
function policyFromFlags(flags: FlagValues, base: RetentionPolicy): RetentionPolicy {
  const count = (name: keyof typeof COUNT_FLAGS, fallback: number): number => {
    const text = stringFlag(flags, name);
    if (text === undefined) return fallback;
    if (!/^\d{1,6}$/.test(text)) throw new UsageError(`--${name} must be a whole number >= 0`);
    return Number(text);
  };
  return {
    keepLast: count('keep-last', base.keepLast),
    days: count('days', base.days),
    gfs: {
      daily: count('daily', base.gfs.daily),
      weekly: count('weekly', base.gfs.weekly),
      monthly: count('monthly', base.gfs.monthly),
      yearly: count('yearly', base.gfs.yearly),
    },
  };
}

/** `prune --source ID` of a file set: snapshots by policy, then the packs no kept snapshot refers to. */
async function pruneFileSetCommand(options: {
  store: VaultStore; sourceId: string; policy: RetentionPolicy; timeZone: string; flags: FlagValues; output: CommandContext['output']; deps: CommandContext['deps'];
}): Promise<number> {
  const { store, sourceId, policy, timeZone, flags, output } = options;
  if (stringFlag(flags, 'key-file') === undefined && stringFlag(flags, 'kms-key') === undefined) {
    throw new UsageError(`${sourceId} is a file set: pruning reads its encrypted index; give --key-file or --kms-key`);
  }
  const keyring = await keyringFromFlags(flags, options.deps);
  const { pruneFileSet } = await import('../../functions/lib/fileset/prune.ts');
  const dryRun = booleanFlag(flags, 'dry-run');
  const report = await pruneFileSet({ store, keyring, sourceId, policy, timeZone, dryRun });
  if (booleanFlag(flags, 'json')) {
    output.json(report);
    return ExitCode.ok;
  }
  const would = dryRun ? 'would delete' : 'deleted';
  output.out(
    [
      `Retention of file set ${sourceId} in ${store.location}${dryRun ? ' (dry run: nothing was deleted)' : ''}`,
      `Kept (${report.keptSnapshots.length}):`,
      ...report.keptSnapshots.map((s) => `  ${s.backupId}  ${s.reasons.join(', ')}`),
      `Snapshots ${would} (${report.deletedSnapshots.length}):`,
      ...report.deletedSnapshots.map((id) => `  ${id}`),
      `Summary: ${report.deletedSnapshots.length} snapshots and ${report.deletedPacks.length} packs ${would}, ` +
        `${report.keptPacks} packs kept, ${report.inProgressPacks} packs of a backup that may be running left alone, ` +
        `${report.deletedIncomplete.length} incomplete snapshots ${would}`,
    ].join('\n'),
  );
  return ExitCode.ok;
}
