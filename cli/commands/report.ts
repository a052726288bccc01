import { writeFile } from 'node:fs/promises';
import type { ReportSourceConfig } from '../../functions/lib/report/build.ts';
import type { ObjectLockState } from '../../functions/lib/report/model.ts';
import type { RetentionPolicy } from '../../functions/lib/retention/plan.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { evidenceSigner, EVIDENCE_KEY_FLAGS, parseDateFlag } from '../evidence.ts';
import { assertVaultExists, openVault } from '../options.ts';
import { originNote } from '../settings.ts';
import { DR_EVIDENCE_KEY_FLAGS, drEvidenceKeyFrom } from '../drEvidenceKey.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';

const FORMATS = ['html', 'json', 'md'] as const;
type Format = (typeof FORMATS)[number];
const DAY = 86_400_000;
/** The config's retention defaults (infra/config/schema.ts), for a vault without a config. */
const DEFAULT_POLICY: RetentionPolicy = { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } };

export const report: Command = {
  name: 'report',
  summary: 'Build the compliance report of a vault over a period: RPO, verification, copies, retention, drills.',
  synopsis:
    'lifeboat report [--vault LOCATION] [--since DATE] [--until DATE] [--format html|json|md] [--out FILE] (--evidence-key-file FILE | --evidence-key ARN) [--rpo-minutes N]',
  description:
    'Builds the same report the deployment writes daily to reports/<date>.json and .html (docs/audit-trail.md):\n' +
    'per source whether the RPO was met and for what share of the period, backups taken, verified and copied,\n' +
    'retention adherence, the last restore test, every failure with its execution; per DR plan the last drill\n' +
    "against its objectives. Sources, RPOs and retention come from the config (--config / LIFEBOAT_CONFIG);\n" +
    'without one every source in the vault is reported against --rpo-minutes and the default retention.',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    since: { type: 'string', value: 'DATE', description: 'Start of the period (2026-11-01 or an ISO time, UTC). Default: one day before --until.' },
    until: { type: 'string', value: 'DATE', description: 'End of the period (exclusive). Default: now.' },
    format: { type: 'string', value: 'FORMAT', description: 'html, json or md. Default: from --out\'s extension, else md (json with --json).' },
    out: { type: 'string', value: 'FILE', description: 'Write the report to FILE instead of stdout.' },
    'rpo-minutes': { type: 'string', value: 'N', description: 'Without a config: the RPO every source is held to (default 1440).' },
    ...EVIDENCE_KEY_FLAGS,
    ...VERIFICATION_KEY_FLAGS,
    ...DR_EVIDENCE_KEY_FLAGS,
    json: { type: 'boolean', description: 'The same as --format json.' },
  },
  notes: 'Exit codes: 0 the report was built (lapses are in it, not an error), 2 bad flags, key or config, 3 no vault.',
  maxPositionals: 0,
  async run({ flags, origins }, { output, env, settings }) {
    const location = requiredFlag(flags, 'vault');
    const until = stringFlag(flags, 'until') === undefined ? new Date() : parseDateFlag('until', stringFlag(flags, 'until')!);
    const since = stringFlag(flags, 'since') === undefined ? new Date(until.getTime() - DAY) : parseDateFlag('since', stringFlag(flags, 'since')!);
    if (since.getTime() >= until.getTime()) throw new UsageError(`--since (${since.toISOString()}) must be before --until (${until.toISOString()})`);
    const out = stringFlag(flags, 'out');
    const format = formatOf(stringFlag(flags, 'format'), out, booleanFlag(flags, 'json'));
    const signer = await evidenceSigner(flags, env);
    const verificationKey = await verificationKeyFrom(flags, env);
    const drEvidenceKey = await drEvidenceKeyFrom(flags, env);

    let store;
    let objectLock: (() => Promise<ObjectLockState>) | undefined;
    if (/^s3:\/\//i.test(location)) {
      const [{ createS3Client, s3ClientOptionsFromEnv }, { openStore, parseS3Location }, { s3ObjectLockState }] = await Promise.all([
        import('../../functions/lib/aws/s3Client.ts'),
        import('../../functions/lib/vault/openStore.ts'),
        import('../../functions/lib/report/objectLock.ts'),
      ]);
      let bucket: string;
      try {
        ({ bucket } = parseS3Location(location));
      } catch (error) {
        throw new UsageError(`--vault: ${(error as Error).message}`, { cause: error });
      }
      const client = createS3Client(s3ClientOptionsFromEnv(env));
      store = openStore(location, { client, env });
      objectLock = () => s3ObjectLockState(client, bucket);
    } else {
      store = await openVault(location, env);
      objectLock = async () => ({ state: 'unknown', mode: null, retentionDays: null, detail: 'a local directory vault has no Object Lock' });
    }
    await assertVaultExists(store, originNote({ origins }, 'vault'));

    const sources = await reportSources(flags, settings, store);
    const { buildReport, renderHtml, renderMarkdown } = await import('../../functions/lib/report/index.ts');
    const built = await buildReport({ store, signer, ...(verificationKey ? { verificationKey } : {}), ...(drEvidenceKey ? { drEvidenceKey } : {}), sources, since, until, objectLock, generatedAt: new Date() });
    const text = format === 'json' ? `${JSON.stringify(built, null, 2)}\n` : format === 'html' ? renderHtml(built) : renderMarkdown(built);
    if (out !== undefined) await writeFile(out, text);
    else output.out(text);
    output.summary(`${built.summary.ok ? 'No lapses' : `${built.summary.lapses} lapse${built.summary.lapses === 1 ? '' : 's'}`} in ${sources.length} source${sources.length === 1 ? '' : 's'}${out === undefined ? '' : `; report written to ${out}`}.`);
    return ExitCode.ok;
  },
};

function formatOf(flag: string | undefined, out: string | undefined, json: boolean): Format {
  if (flag !== undefined) {
    if (!(FORMATS as readonly string[]).includes(flag)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, not "${flag}"`);
    if (json && flag !== 'json') throw new UsageError(`--json and --format ${flag} disagree; give one`);
    return flag as Format;
  }
  if (json) return 'json';
  const extension = /\.(html?|json|md)$/i.exec(out ?? '')?.[1]?.toLowerCase();
  return extension === undefined ? 'md' : extension.startsWith('htm') ? 'html' : (extension as Format);
}

async function reportSources(
  flags: Parameters<Command['run']>[0]['flags'],
  settings: Parameters<Command['run']>[1]['settings'],
  store: import('../../functions/lib/vault/store.ts').VaultStore,
): Promise<ReportSourceConfig[]> {
  const config = await settings.config();
  const rpoText = stringFlag(flags, 'rpo-minutes');
  if (config !== undefined) {
    if (rpoText !== undefined) throw new UsageError(`--rpo-minutes is for a vault without a config; ${settings.configPath} gives each source its RPO`);
    return config.sources.map((source) => ({
      id: source.id,
      rpoMinutes: source.objectives.rpoMinutes,
      rtoMinutes: source.objectives.rtoMinutes,
      retention: source.retention,
      timeZone: source.schedule.timeZone,
    }));
  }
  if (rpoText !== undefined && !/^[1-9]\d{0,6}$/.test(rpoText)) throw new UsageError('--rpo-minutes must be a whole number of minutes >= 1');
  const rpoMinutes = rpoText === undefined ? 1440 : Number(rpoText);
  const { scanBackupFolders } = await import('../../functions/lib/vault/catalog.ts');
  const ids = [...new Set((await scanBackupFolders(store)).map((folder) => folder.sourceId))].sort();
  return ids.map((id) => ({ id, rpoMinutes, rtoMinutes: rpoMinutes, retention: DEFAULT_POLICY, timeZone: 'UTC' }));
}
