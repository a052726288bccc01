/**
 * Prunes one source's backups in a vault by its retention policy. Reads the vault, asks the planner,
 * and deletes what it plans away: each backup's manifest first, so a half-deleted backup is never
 * listed as restorable, then its payload and verification results. Anything it cannot be sure of
 * (an unreadable manifest or verification result, an unreadable Object Lock status) it leaves alone
 * and reports; one failed delete never stops the others.
 */
import { assertSourceId, backupPrefix, manifestKey } from '../vault/layout.ts';
import {
  READ_CONCURRENCY,
  incompleteOf,
  latestVerificationOf,
  mapConcurrent,
  readAnyManifests,
  scanBackupFolders,
  type BackupFolder,
  type IncompleteBackup,
} from '../vault/catalog.ts';
import type { MacSigner } from '../crypto/mac.ts';
import type { VaultStore } from '../vault/store.ts';
import { assertTimeZone } from './calendar.ts';
import { isObjectLockRefusal, type ReadProtection } from './objectLock.ts';
import {
  assertRetentionPolicy,
  planRetention,
  protectionReasons,
  type BackupProtection,
  type RetentionCandidate,
  type RetentionPolicy,
  type VerificationStatus,
} from './plan.ts';
import { describeError, type RetentionReport, type RetentionReportEntry, type RetentionReportError } from './report.ts';
import type { VerificationState } from './verification.ts';

/** How long a backup folder without a manifest may still be an upload in progress. */
export const DEFAULT_INCOMPLETE_GRACE_MS = 24 * 60 * 60 * 1000;

export interface PruneVaultOptions {
  readonly sourceId: string;
  readonly policy: RetentionPolicy;
  /** The source's IANA time zone (`schedule.timeZone`). */
  readonly timeZone: string;
  readonly now: Date;
  /** Plan and report only; delete nothing. */
  readonly dryRun: boolean;
  /**
   * A backup folder without a manifest that started longer ago than this is a failed upload and is
   * deleted; a younger one may still be being written and is left alone. @default 24 hours
   */
  readonly incompleteGraceMs?: number;
  /**
   * A backup's verification status. @default the newest result under its `verifications/`, found in the one
   * listing prune makes of the source (no listing per backup; no read for a backup without results)
   */
  readonly readVerification?: (backup: { readonly sourceId: string; readonly backupId: string }) => Promise<VerificationState>;
  /**
   * The verification key: only results that authenticate count, and one that fails to is a problem that stops
   * deletions for the source (see `vault/verification.ts`). @default results are taken as stored (a local vault)
   */
  readonly authenticator?: Pick<MacSigner, 'verify'>;
  /**
   * What protects a backup from deletion; asked only about backups about to be deleted.
   * @default nothing is protected (a local directory has no Object Lock); for an S3 vault pass `s3ObjectLockReader`
   */
  readonly readProtection?: ReadProtection;
}

/** Prunes `options.sourceId` in `store`; see the module comment. Throws `ConfigError` for a bad policy or time zone. */
export async function pruneVault(store: VaultStore, options: PruneVaultOptions): Promise<RetentionReport> {
  const { sourceId, policy, timeZone, now, dryRun } = options;
  assertSourceId(sourceId);
  assertRetentionPolicy(policy);
  assertTimeZone(timeZone);
  const graceMs = options.incompleteGraceMs ?? DEFAULT_INCOMPLETE_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new RangeError(`incompleteGraceMs must be a duration >= 0, got ${graceMs}`);

  const errors: RetentionReportError[] = [];
  const failure = (step: RetentionReportError['step'], error: unknown, id?: string): void => {
    errors.push({ id, step, ...describeError(error) });
  };

  // One paged listing of the source serves everything below: manifests, incomplete folders, the newest
  // verification result of each backup, and the keys protection is asked about.
  const folders = await scanBackupFolders(store, { sourceId });
  const folderOf = new Map(folders.map((folder) => [folder.backupId, folder]));
  const manifests = (
    await readAnyManifests(store, folders.filter((folder) => folder.hasManifest), {
      // Never deleted (it might be the backup a recovery needs) but reported: a newer Lifeboat or a damaged object.
      onUnreadable: (error, backup) => failure('read-manifest', error, backup.backupId),
    })
  ).map((entry) => entry.manifest);
  const incomplete = incompleteOf(folders);
  const stale = incomplete.filter((b) => now.getTime() - b.startedAt.getTime() > graceMs);
  const fresh = incomplete.filter((b) => !stale.includes(b));

  // A plan from a guessed status could delete the backup a recovery needs: unknown status → no deletions.
  const manifestOf = new Map(manifests.map((m) => [m.backupId, m]));
  const readVerification =
    options.readVerification ??
    ((backup) =>
      latestVerificationOf(store, folderOf.get(backup.backupId) as BackupFolder, {
        ...(options.authenticator ? { authenticator: options.authenticator } : {}),
        manifest: manifestOf.get(backup.backupId)!,
      }));
  const statuses = await mapBounded(manifests, (manifest) => readStatus(readVerification, manifest));
  statuses.forEach((s) => s.error && errors.push(s.error));
  const unknownStatuses = statuses.filter((s) => s.error).length;

  const candidates: RetentionCandidate[] = [
    ...manifests.map((m, index) => ({ id: m.backupId, completedAt: new Date(m.completedAt), status: statuses[index]!.status })),
    ...fresh.map((b) => ({ id: b.backupId, completedAt: b.startedAt, status: 'unverified' as const, inProgress: true })),
  ];
  const firstPlan = planRetention(candidates, policy, { now, timeZone });

  // Protection only ever turns a delete into a keep, so only the backups about to go need asking.
  const protections = new Map<string, BackupProtection>();
  const unknownProtection = new Set<string>();
  if (options.readProtection) {
    const readProtection = options.readProtection;
    const asking = [...firstPlan.filter((d) => d.action === 'delete').map((d) => d.id), ...stale.map((b) => b.backupId)];
    const answers = await mapBounded(asking, async (backupId) => {
      try {
        const keys = [...(folderOf.get(backupId)?.keys ?? [])];
        return { backupId, protection: await readProtection({ sourceId, backupId, keys }) };
      } catch (error) {
        return { backupId, error };
      }
    });
    for (const answer of answers) {
      if ('error' in answer) {
        failure('read-protection', answer.error, answer.backupId);
        unknownProtection.add(answer.backupId);
      } else if (answer.protection) protections.set(answer.backupId, answer.protection);
    }
  }
  const plan = planRetention(
    candidates.map((c) => (protections.has(c.id) ? { ...c, protection: protections.get(c.id)! } : c)),
    policy,
    { now, timeZone },
  );

  const byId = new Map(candidates.map((c) => [c.id, c]));
  const entry = (id: string, reasons: readonly string[]): RetentionReportEntry => {
    const candidate = byId.get(id)!;
    return { id, at: candidate.completedAt, status: candidate.inProgress ? 'incomplete' : candidate.status, reasons };
  };
  const kept: RetentionReportEntry[] = [];
  const protectedEntries: RetentionReportEntry[] = [];
  const toDelete: RetentionReportEntry[] = [];
  for (const decision of plan) {
    const candidate = byId.get(decision.id)!;
    if (candidate.inProgress) {
      kept.push(entry(decision.id, [inProgressReason(candidate.completedAt, now, graceMs), ...decision.reasons.slice(1)]));
    } else if (decision.protected) {
      protectedEntries.push(entry(decision.id, decision.reasons));
    } else if (decision.action === 'keep') {
      kept.push(entry(decision.id, decision.reasons));
    } else if (unknownStatuses > 0) {
      kept.push(entry(decision.id, [skippedBecauseStatusUnknown(unknownStatuses), ...decision.reasons]));
    } else if (unknownProtection.has(decision.id)) {
      kept.push(entry(decision.id, ['deletion skipped: its Object Lock status could not be read', ...decision.reasons]));
    } else {
      toDelete.push(entry(decision.id, decision.reasons));
    }
  }
  const staleToDelete: RetentionReportEntry[] = [];
  for (const backup of stale) {
    const staleEntry = (reasons: string[]): RetentionReportEntry => ({ id: backup.backupId, at: backup.startedAt, status: 'incomplete', reasons });
    const locked = protectionReasons(protections.get(backup.backupId), now.getTime());
    if (locked.length > 0) protectedEntries.push(staleEntry([staleReason(backup, now, graceMs), ...locked]));
    else if (unknownProtection.has(backup.backupId)) {
      kept.push(staleEntry(['deletion skipped: its Object Lock status could not be read', staleReason(backup, now, graceMs)]));
    } else staleToDelete.push(staleEntry([staleReason(backup, now, graceMs)]));
  }

  const deleted: RetentionReportEntry[] = [];
  if (dryRun) {
    deleted.push(...toDelete, ...staleToDelete);
  } else {
    const outcomes = [
      ...toDelete.map((e) => ({ entry: e, complete: true })),
      ...staleToDelete.map((e) => ({ entry: e, complete: false })),
    ];
    for (const { entry: planned, complete } of outcomes) {
      const outcome = await deleteBackup(store, sourceId, planned.id, complete);
      if (outcome.kind === 'deleted') deleted.push(planned);
      else if (outcome.kind === 'completed') kept.push({ ...planned, reasons: ['completed while pruning: left for the next run'] });
      else if (outcome.kind === 'refused') {
        protectedEntries.push({ ...planned, reasons: [`object lock refused the delete (${outcome.message})`, ...planned.reasons] });
      } else errors.push({ id: planned.id, step: 'delete', error: outcome.error, message: outcome.message });
    }
  }

  return {
    subject: `vault backups of ${sourceId} in ${store.location}`,
    sourceId,
    dryRun,
    now,
    timeZone,
    policy,
    kept: kept.sort(newestFirst),
    deleted: deleted.sort(newestFirst),
    protected: protectedEntries.sort(newestFirst),
    errors,
  };
}

type DeleteOutcome =
  | { kind: 'deleted' }
  | { kind: 'completed' }
  | { kind: 'refused'; message: string }
  | { kind: 'failed'; error: string; message: string };

/**
 * Deletes one backup folder. A complete backup loses its manifest first: if that fails nothing else is
 * touched and the backup stays whole; if a later delete fails the backup is already no longer listed
 * as restorable, and the next prune removes the rest as an incomplete backup.
 */
async function deleteBackup(store: VaultStore, sourceId: string, backupId: string, complete: boolean): Promise<DeleteOutcome> {
  const prefix = backupPrefix(sourceId, backupId);
  // An upload that finished after the listing is a restorable backup now, not debris.
  if (!complete && (await store.head(manifestKey(sourceId, backupId)))) return { kind: 'completed' };
  if (complete) {
    try {
      await store.delete(manifestKey(sourceId, backupId));
    } catch (error) {
      const { error: name, message } = describeError(error);
      return isObjectLockRefusal(error) ? { kind: 'refused', message: `${name}: ${message}` } : { kind: 'failed', error: name, message };
    }
  }
  // Listed after the manifest is gone: a verification result written meanwhile is removed too.
  const left: string[] = [];
  let first: { error: string; message: string; refused: boolean } | undefined;
  let keys: string[];
  try {
    keys = await listKeys(store, prefix);
  } catch (error) {
    const { error: name, message } = describeError(error);
    return { kind: 'failed', error: name, message: `${complete ? 'manifest deleted, but ' : ''}listing ${prefix} failed: ${message}` };
  }
  for (const key of keys) {
    try {
      await store.delete(key);
    } catch (error) {
      left.push(key);
      first ??= { ...describeError(error), refused: isObjectLockRefusal(error) };
    }
  }
  if (!first) return { kind: 'deleted' };
  // Nothing of an incomplete backup was removed and the lock said no: it is protected, not broken.
  if (!complete && first.refused && left.length === keys.length) return { kind: 'refused', message: `${first.error}: ${first.message}` };
  return {
    kind: 'failed',
    error: first.error,
    message:
      `${complete ? 'manifest deleted, but ' : ''}${left.length} of ${keys.length} objects remain (${left.join(', ')}); ` +
      `first failure: ${first.message}. The next prune removes them as an incomplete backup.`,
  };
}

/** A backup's status, or the error that kept it from being known. */
async function readStatus(
  readVerification: NonNullable<PruneVaultOptions['readVerification']>,
  backup: { readonly sourceId: string; readonly backupId: string },
): Promise<{ status: VerificationStatus; error?: RetentionReportError }> {
  try {
    const state = await readVerification(backup);
    if (state.problem === undefined) return { status: state.status };
    const error = { id: backup.backupId, step: 'read-verification', error: 'UnreadableVerificationResult', message: state.problem } as const;
    return { status: 'unverified', error };
  } catch (error) {
    return { status: 'unverified', error: { id: backup.backupId, step: 'read-verification', ...describeError(error) } };
  }
}

function inProgressReason(startedAt: Date, now: Date, graceMs: number): string {
  return `incomplete, started ${formatDuration(now.getTime() - startedAt.getTime())} ago: may still be being written (grace ${formatDuration(graceMs)})`;
}

function staleReason(backup: IncompleteBackup, now: Date, graceMs: number): string {
  return `incomplete, started ${formatDuration(now.getTime() - backup.startedAt.getTime())} ago (grace ${formatDuration(graceMs)}): never restorable`;
}

function skippedBecauseStatusUnknown(count: number): string {
  return `deletion skipped: the verification status of ${count} backup${count === 1 ? '' : 's'} could not be read`;
}

/** `45 min`, `26 h`, `3 days`: ages and grace periods in reports. */
function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 72) return `${hours} h`;
  return `${Math.floor(hours / 24)} days`;
}

async function listKeys(store: VaultStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys;
}

function mapBounded<T, R>(items: readonly T[], map: (item: T) => Promise<R>): Promise<R[]> {
  return mapConcurrent(items, READ_CONCURRENCY, map);
}

function newestFirst(a: RetentionReportEntry, b: RetentionReportEntry): number {
  const byTime = b.at.getTime() - a.at.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

