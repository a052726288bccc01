import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import type { RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { ConfigError, VerificationResultInvalidError } from '../lib/errors.ts';
import { pruneSnapshots, pruneVault, type ReadProtection, type RetentionReport } from '../lib/retention/index.ts';
import { readLatestVerification } from '../lib/retention/verification.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import { pruneFileSet } from '../lib/fileset/prune.ts';
import { snapshotPrefix } from '../lib/fileset/format.ts';
import { parseBackupId } from '../lib/vault/layout.ts';
// A file set's results, in its snapshot's folder (the retention reader above knows only backups/).
import { readLatestVerification as readResult, type VerificationStatus } from '../lib/vault/verification.ts';
import { parseOrConfigError } from '../lib/validation.ts';

/** A source's retention as the prune function is told of it (from the config, through its environment). */
export const PruneSourceSchema = z.object({
  id: z.string().min(1),
  timeZone: z.string().min(1),
  retention: z.object({
    days: z.number().int().min(1),
    keepLast: z.number().int().min(1),
    gfs: z.object({ daily: z.number().int().min(0), weekly: z.number().int().min(0), monthly: z.number().int().min(0), yearly: z.number().int().min(0) }),
  }),
  /** Whether Lifeboat makes RDS snapshots of this source (then they are pruned too). */
  snapshots: z.boolean(),
  /** A file set: its snapshots and the packs only they refer to are pruned under `filesets/` (docs/retention.md). */
  kind: z.literal('fileset').optional(),
});
export type PruneSource = z.infer<typeof PruneSourceSchema>;

export const PruneEventSchema = z.object({
  sourceId: z.string().min(1),
  dryRun: z.boolean().default(false),
});

export interface PruneDeps {
  readonly sources: readonly PruneSource[];
  /**
   * The vaults to prune, each with the reader of its objects' Object Lock state and, for file sets, the keyring that
   * reads their snapshots' indexes (to know which packs a kept snapshot still needs).
   */
  readonly vaults: readonly { readonly store: VaultStore; readonly readProtection?: ReadProtection; readonly keyring?: BackupKeyring }[];
  /** RDS clients keyed by region (primary and DR). */
  readonly rds: Readonly<Record<string, RDSClient>>;
  readonly now?: () => Date;
  /** Records one `prune` event per deleted backup (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
  /** The verification key: only authenticated results count (see `vault/verification.ts`). @default results as stored */
  readonly authenticator?: Pick<MacSigner, 'verify'>;
}

export interface PruneSummary {
  readonly sourceId: string;
  readonly dryRun: boolean;
  readonly kept: number;
  readonly deleted: number;
  readonly protected: number;
  readonly errors: readonly string[];
  readonly reports: readonly RetentionReport[];
}

/**
 * Applies a source's retention to every vault (primary and DR) and to its RDS snapshots in every region.
 * Never deletes the newest verified backup, anything locked, or anything still being written.
 */
export async function pruneSource(event: unknown, deps: PruneDeps): Promise<PruneSummary> {
  return audited(deps.audit, () => pruneSourceNow(event, deps), {
    // What went, from where, and the rule that let it go; a dry run deletes nothing and records nothing.
    succeeded: (summary) =>
      summary.dryRun
        ? undefined
        : summary.reports.flatMap((report) => [
            ...report.deleted.map((entry) => ({
              type: 'prune' as const, outcome: 'succeeded' as const, sourceId: summary.sourceId,
              ...(/^\d{8}T\d{6}Z-[a-z2-7]{8}$/.test(entry.id) ? { backupId: entry.id } : {}),
              details: { subject: report.subject, id: entry.id, completedAt: entry.at.toISOString(), status: entry.status, rule: entry.reasons.join('; ') },
            })),
            ...report.errors.map((failure) => ({
              type: 'prune' as const, outcome: 'failed' as const, sourceId: summary.sourceId,
              details: { subject: report.subject, id: failure.id ?? null, step: failure.step, error: failure.error, reason: failure.message },
            })),
          ]),
    failed: (error) => ({ type: 'prune', outcome: 'failed', ...idsOf(event), details: failureDetails(error) }),
  });
}

async function pruneSourceNow(event: unknown, deps: PruneDeps): Promise<PruneSummary> {
  const { sourceId, dryRun } = parseOrConfigError(PruneEventSchema, event, 'Invalid prune event');
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) throw new ConfigError(`sourceId: unknown source '${sourceId}'; known: ${deps.sources.map((s) => s.id).join(', ')}`);
  const now = deps.now?.() ?? new Date();
  const common = { sourceId, policy: source.retention, timeZone: source.timeZone, now, dryRun };

  const authenticated = deps.authenticator ? { authenticator: deps.authenticator } : {};
  if (source.kind === 'fileset') return summarize(sourceId, dryRun, await Promise.all(deps.vaults.map((vault) => pruneFileSetVault(vault, common, deps))));
  const reports: RetentionReport[] = [];
  for (const vault of deps.vaults) {
    const store = vault.store;
    reports.push(
      await pruneVault(store, {
        ...common,
        ...(vault.readProtection ? { readProtection: vault.readProtection } : {}),
        ...authenticated,
      }),
    );
  }
  if (source.snapshots) {
    // A snapshot is as verified as its backup in the primary vault.
    const primary = deps.vaults[0]?.store;
    reports.push(
      await pruneSnapshots({
        ...common,
        clients: deps.rds,
        ...(primary ? { readVerification: (b) => readLatestVerification(primary, b.sourceId, b.backupId, authenticated) } : {}),
      }),
    );
  }
  return summarize(sourceId, dryRun, reports);
}

function summarize(sourceId: string, dryRun: boolean, reports: readonly RetentionReport[]): PruneSummary {
  return {
    sourceId,
    dryRun,
    kept: reports.reduce((n, r) => n + r.kept.length, 0),
    deleted: reports.reduce((n, r) => n + r.deleted.length, 0),
    protected: reports.reduce((n, r) => n + r.protected.length, 0),
    errors: reports.flatMap((r) => r.errors.map((e) => `${r.subject}: ${e.id ?? ''} ${e.step}: ${e.error}: ${e.message}`.replace(/\s+/g, ' '))),
    reports,
  };
}

/**
 * One vault's file-set retention (functions/lib/fileset/prune.ts) as a retention report: snapshots kept, protected
 * and deleted, each with its reasons. The newest verified snapshot (by its signed results) is always kept. A failure
 * is reported, not thrown, so the other vault is still pruned.
 */
async function pruneFileSetVault(
  vault: PruneDeps['vaults'][number],
  common: { sourceId: string; policy: PruneSource['retention']; timeZone: string; now: Date; dryRun: boolean },
  deps: Pick<PruneDeps, 'authenticator'>,
): Promise<RetentionReport> {
  const { store } = vault;
  const base = { subject: `file-set snapshots of ${common.sourceId} in ${store.location}`, ...common, kept: [], deleted: [], protected: [] };
  if (!vault.keyring) return { ...base, errors: [{ step: 'list', error: 'ConfigError', message: 'no keyring: a file set\'s packs cannot be told apart without reading its indexes' }] };
  const statuses = new Map<string, VerificationStatus>();
  try {
    const report = await pruneFileSet({
      store,
      keyring: vault.keyring,
      sourceId: common.sourceId,
      policy: common.policy,
      now: common.now,
      timeZone: common.timeZone,
      dryRun: common.dryRun,
      ...(vault.readProtection ? { readProtection: vault.readProtection } : {}),
      statusOf: async (manifest) => {
        const read = await readResult(store, manifest.sourceId, manifest.backupId, {
          folder: snapshotPrefix(manifest.sourceId, manifest.backupId),
          ...(deps.authenticator ? { authenticator: deps.authenticator, manifest } : {}),
        });
        // A result that does not authenticate stops deletions for the source, as for dumps.
        if (read.problem !== undefined) throw new VerificationResultInvalidError(`${manifest.sourceId}/${manifest.backupId}: ${read.problem}`);
        statuses.set(manifest.backupId, read.status);
        return read.status;
      },
    });
    const entry = (id: string, reasons: readonly string[]) => ({ id, at: parseBackupId(id).time, status: statuses.get(id) ?? ('unverified' as const), reasons });
    return {
      ...base,
      kept: report.keptSnapshots.filter((k) => !report.protectedSnapshots.includes(k.backupId)).map((k) => entry(k.backupId, k.reasons)).reverse(),
      protected: report.keptSnapshots.filter((k) => report.protectedSnapshots.includes(k.backupId)).map((k) => entry(k.backupId, k.reasons)).reverse(),
      deleted: [
        ...report.deletedSnapshots.map((id) => entry(id, [`outside the retention policy; ${report.deletedPacks.length} pack(s) no kept snapshot refers to deleted with it`])),
        ...report.deletedIncomplete.map((id) => ({ id, at: parseBackupId(id).time, status: 'incomplete' as const, reasons: ['incomplete (no manifest) and older than any run could take'] })),
      ].reverse(),
      errors: [],
    };
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    return { ...base, errors: [{ step: failure instanceof VerificationResultInvalidError ? 'read-verification' : 'list', error: failure.name, message: failure.message }] };
  }
}
