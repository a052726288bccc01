import type { RdsSender } from '../../functions/lib/aws/rdsSnapshot.ts';
import type { SourceFreshness } from '../../functions/lib/monitoring/freshness.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import type { LifeboatConfig } from '../../infra/config/index.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode } from '../errors.ts';
import { formatTable, formatTimestamp } from '../format.ts';
import { nextRun } from '../nextRun.ts';
import { assertVaultExists, openVault, sourceFilter } from '../options.ts';
import { originNote } from '../settings.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';
import type { MacSigner } from '../../functions/lib/crypto/mac.ts';

/** One source in `status --json`. */
export interface SourceStatus {
  readonly sourceId: string;
  /** From the config; `null` without one. */
  readonly rpoMinutes: number | null;
  readonly lastBackup: { readonly backupId: string; readonly kind: 'dump' | 'snapshot' | 'config' | 'fileset'; readonly startedAt: string; readonly completedAt: string; readonly state: string } | null;
  readonly lastVerified: { readonly backupId: string; readonly startedAt: string } | null;
  readonly lastDrCopy: { readonly backupId: string; readonly startedAt: string } | null;
  readonly minutesSinceLastBackup: number | null;
  readonly minutesSinceLastVerified: number | null;
  readonly drCopyLagMinutes: number | null;
  /** `null` when the RPO is unknown (no config). */
  readonly withinRpo: boolean | null;
  readonly drWithinRpo: boolean | null;
  /** The schedule's next run, when the config gives the schedule and it can be computed. */
  readonly nextDue: string | null;
  readonly problems: readonly string[];
}

export const status: Command = {
  name: 'status',
  summary: 'Is everything protected? Per source: last backup, verified, age against the RPO, next run, DR copy.',
  synopsis: 'lifeboat status [--vault LOCATION] [--dr-vault LOCATION] [--source ID] [--config FILE] [--verification-key ARN|FILE] [--json]',
  description:
    'Shows each source\'s protection at a glance, read from the vault (and the DR vault): its newest backup, whether\n' +
    'it is verified, how old the newest verified backup is against the RPO, when the schedule runs next, and how\n' +
    'old the newest copy in the DR vault is. With --config the sources, RPOs and schedules come from the\n' +
    'deployment\'s config (and the deployed DR vault, and RDS for snapshots of an S3 vault); without it, every\n' +
    'source found in the vault is shown without an RPO. The same figures the freshness alarms watch\n' +
    '(functions/lib/monitoring/freshness.ts).',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    'dr-vault': { type: 'string', value: 'LOCATION', description: 'The DR vault, for the DR copy lag. Default: the deployed DR vault of --config.' },
    source: { type: 'string', value: 'ID', description: 'Only this source id.' },
    json: { type: 'boolean', description: 'Print JSON: { vault, drVault, at, sources: [...] }.' },
    ...VERIFICATION_KEY_FLAGS,
  },
  notes: 'Exit status: 0 every source shown is within its RPO (or no RPO is known), 1 some source is outside it.',
  maxPositionals: 0,
  async run({ flags, origins }, { output, env, deps, settings }) {
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    const config = await settings.config();
    const drLocation = stringFlag(flags, 'dr-vault') ?? deployedDrVault(config);
    const drEnv = stringFlag(flags, 'dr-vault') === undefined && config ? { ...env, AWS_REGION: config.regions.dr } : env;
    const dr = drLocation === undefined ? undefined : await openVault(drLocation, drEnv);
    if (dr) await assertVaultExists(dr, stringFlag(flags, 'dr-vault') === undefined ? ` (from ${settings.configOrigin})` : '');
    const only = sourceFilter(flags);
    const now = (deps.now ?? (() => new Date()))();

    const authenticator = await verificationKeyFrom(flags, env);
    const sources = await statusOf(store, dr, config, only, now, authenticator);
    if (booleanFlag(flags, 'json')) {
      output.json({ vault: store.location, drVault: dr?.location ?? null, at: now.toISOString(), sources });
    } else {
      output.out(sources.length === 0 ? `No backups in ${store.location}${only ? ` for ${only}` : ''}` : renderStatus(sources, now, output.colour, dr !== undefined));
      for (const source of sources) for (const problem of source.problems) output.error(`lifeboat: warning: ${source.sourceId}: ${problem}`);
    }
    return sources.some((s) => s.withinRpo === false) ? ExitCode.failed : ExitCode.ok;
  },
};

/** The deployed DR vault of a config: `s3://<name>-<account>-<dr region>` (infra/constructs/vault.ts). */
function deployedDrVault(config: LifeboatConfig | undefined): string | undefined {
  return config?.account === undefined ? undefined : `s3://${config.name}-${config.account}-${config.regions.dr}`;
}

async function statusOf(
  store: VaultStore,
  dr: VaultStore | undefined,
  config: LifeboatConfig | undefined,
  only: string | undefined,
  now: Date,
  authenticator: Pick<MacSigner, 'verify'> | undefined,
): Promise<SourceStatus[]> {
  const { sourceFreshness } = await import('../../functions/lib/monitoring/freshness.ts');
  const configured = config?.sources.filter((s) => only === undefined || s.id === only);
  let ids: { id: string; rpoMinutes: number | null; kind?: 'fileset' }[];
  if (configured) {
    ids = configured.map((s) => ({ id: s.id, rpoMinutes: s.objectives.rpoMinutes, ...(s.kind === 's3' ? { kind: 'fileset' as const } : {}) }));
  } else {
    const { scanBackupFolders } = await import('../../functions/lib/vault/catalog.ts');
    const found = new Set((await scanBackupFolders(store, only === undefined ? {} : { sourceId: only })).filter((f) => f.hasManifest).map((f) => f.sourceId));
    ids = [...found].sort().map((id) => ({ id, rpoMinutes: null }));
  }
  const snapshots = config && store.location.startsWith('s3://') ? await rdsCheck(config) : undefined;
  const measured = await sourceFreshness(
    ids.map((s) => ({ id: s.id, rpoMinutes: s.rpoMinutes ?? Number.POSITIVE_INFINITY, ...(s.kind ? { kind: s.kind } : {}) })),
    { primary: store, ...(dr ? { dr } : {}), ...(snapshots ? { snapshots } : {}), ...(authenticator ? { authenticator } : {}), now: () => now },
  );
  return measured.map((m, index) => {
    const rpo = ids[index]!.rpoMinutes;
    const schedule = config?.sources.find((s) => s.id === m.sourceId)?.schedule;
    const next = schedule ? nextRun(schedule.cron, schedule.timeZone, now) : undefined;
    return toStatus(m, rpo, next, dr !== undefined);
  });
}

async function rdsCheck(config: LifeboatConfig) {
  const [{ RDSClient }, { rdsSnapshotCheck }] = await Promise.all([import('@aws-sdk/client-rds'), import('../../functions/lib/monitoring/snapshots.ts')]);
  const client = (region: string): RdsSender => new RDSClient({ region });
  return rdsSnapshotCheck({ primary: client(config.regions.primary), dr: client(config.regions.dr) });
}

function toStatus(m: SourceFreshness, rpo: number | null, next: Date | undefined, hasDr: boolean): SourceStatus {
  const point = (p: { backupId: string; startedAt: string } | undefined) => (p ? { backupId: p.backupId, startedAt: p.startedAt } : null);
  return {
    sourceId: m.sourceId,
    rpoMinutes: rpo,
    lastBackup: m.lastBackup ? { backupId: m.lastBackup.backupId, kind: m.lastBackup.kind, startedAt: m.lastBackup.startedAt, completedAt: m.lastBackup.completedAt, state: m.lastBackup.state } : null,
    lastVerified: point(m.lastVerified),
    lastDrCopy: point(m.lastDrCopy),
    minutesSinceLastBackup: m.minutesSinceLastBackup,
    minutesSinceLastVerified: m.minutesSinceLastVerified,
    drCopyLagMinutes: m.drCopyLagMinutes,
    withinRpo: rpo === null ? null : m.withinRpo,
    drWithinRpo: rpo === null || !hasDr ? null : m.drWithinRpo,
    nextDue: next ? next.toISOString() : null,
    problems: m.problems,
  };
}

/** `95` → `1h 35m`; `3000` → `2d 02h`. */
export function formatAge(minutes: number): string {
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 1440) return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(minutes / 1440)}d ${String(Math.floor((minutes % 1440) / 60)).padStart(2, '0')}h`;
}

const COLOURS = { red: '\u001b[31m', green: '\u001b[32m', yellow: '\u001b[33m', reset: '\u001b[0m' } as const;

function renderStatus(sources: readonly SourceStatus[], now: Date, colour: boolean, hasDr: boolean): string {
  const paint = (text: string, tone: 'red' | 'green' | 'yellow') => (colour ? `${COLOURS[tone]}${text}${COLOURS.reset}` : text);
  const rows = sources.map((s) => {
    const verified = s.lastBackup === null ? '-' : verifiedText(s.lastBackup.kind, s.lastBackup.state);
    const age = s.minutesSinceLastVerified === null ? 'never' : formatAge(s.minutesSinceLastVerified);
    const rpo = s.rpoMinutes === null ? '?' : formatAge(s.rpoMinutes);
    const drCopy = !hasDr ? 'not checked' : s.drCopyLagMinutes === null ? 'none' : `${formatAge(s.drCopyLagMinutes)} old`;
    const state = s.withinRpo === null ? 'no RPO' : s.withinRpo && s.drWithinRpo !== false ? 'OK' : s.withinRpo ? 'DR LAG' : 'OUTSIDE RPO';
    return {
      cells: [s.sourceId, s.lastBackup === null ? 'never' : formatTimestamp(s.lastBackup.startedAt), verified, `${age} / ${rpo}`, s.nextDue === null ? '-' : formatTimestamp(s.nextDue), drCopy, state],
      tone: (state === 'OK' ? 'green' : state === 'OUTSIDE RPO' ? 'red' : 'yellow') as 'red' | 'green' | 'yellow',
    };
  });
  const table = formatTable(['SOURCE', 'LAST BACKUP', 'VERIFIED', 'VERIFIED AGE / RPO', 'NEXT DUE', 'DR COPY', 'STATE'], rows.map((r) => r.cells));
  // Colour the state column only, after alignment, so escapes never shift a column.
  const [header, ...lines] = table.split('\n');
  const painted = lines.map((line, i) => {
    const state = rows[i]!.cells[6]!;
    return line.endsWith(state) ? `${line.slice(0, line.length - state.length)}${paint(state, rows[i]!.tone)}` : line;
  });
  return [header!, ...painted, '', `As of ${formatTimestamp(now.toISOString())}. Ages run from a backup's start, the point in time its data is from.`].join('\n');
}

function verifiedText(kind: 'dump' | 'snapshot' | 'config' | 'fileset', state: string): string {
  if (state === 'verified') return 'yes';
  if (state === 'available') return 'yes (snapshot available)';
  if (state === 'failed') return 'NO (failed)';
  if (state === 'unavailable') return 'NO (snapshot gone)';
  return kind === 'snapshot' ? 'not checked' : 'not yet';
}
