/**
 * File-set retention: the source's policy (the same planner as dumps) chooses the snapshots to keep; the
 * newest complete snapshot is always kept (the next backup dedupes against it). Then every pack that no kept
 * snapshot's index names is deleted, except packs of a backup that may still be running (no manifest yet and
 * started less than `incompleteGraceMs` ago). Snapshot manifests go first, so a half-pruned snapshot is
 * never listed; a pack is deleted only after every snapshot naming it is gone.
 */
import type { BackupKeyring } from '../crypto/keyring.ts';
import { DEFAULT_INCOMPLETE_GRACE_MS } from '../retention/prune.ts';
import { planRetention, type RetentionPolicy } from '../retention/plan.ts';
import { parseBackupId } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import { readFileSetManifest, readIndex, scanSnapshots } from './catalog.ts';
import type { ReadProtection } from '../retention/objectLock.ts';
import type { VerificationStatus } from '../vault/verification.ts';
import { type FileSetManifest, packOwner, packsPrefix, snapshotManifestKey, snapshotObjectKey, snapshotPrefix } from './format.ts';

export interface FileSetPruneOptions {
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly sourceId: string;
  readonly policy: RetentionPolicy;
  /** @default new Date() */
  readonly now?: Date;
  /** @default 'UTC' */
  readonly timeZone?: string;
  /** @default 24 h, as for dump uploads that never completed */
  readonly incompleteGraceMs?: number;
  readonly dryRun?: boolean;
  /**
   * A snapshot's verification status (its signed results, in a deployment): the newest verified snapshot is kept
   * whatever the policy says, and a failed one is not counted by keep-last or GFS. @default every snapshot unverified
   */
  readonly statusOf?: (manifest: FileSetManifest) => Promise<VerificationStatus>;
  /**
   * What protects a snapshot the policy would delete (Object Lock, legal hold); a protected snapshot is kept, and so
   * is every pack it refers to. @default nothing is protected (a local directory)
   */
  readonly readProtection?: ReadProtection;
}

export interface FileSetPruneReport {
  readonly keptSnapshots: readonly { backupId: string; reasons: readonly string[] }[];
  /** Snapshots the policy would delete that Object Lock or a legal hold keeps (also in `keptSnapshots`). */
  readonly protectedSnapshots: readonly string[];
  readonly deletedSnapshots: readonly string[];
  readonly deletedIncomplete: readonly string[];
  readonly keptPacks: number;
  readonly deletedPacks: readonly string[];
  /** Unreferenced packs left because the backup writing them may still be running. */
  readonly inProgressPacks: number;
  readonly dryRun: boolean;
}

export async function pruneFileSet(options: FileSetPruneOptions): Promise<FileSetPruneReport> {
  const { store, keyring, sourceId } = options;
  const now = options.now ?? new Date();
  const grace = options.incompleteGraceMs ?? DEFAULT_INCOMPLETE_GRACE_MS;
  const dryRun = options.dryRun ?? false;
  const { complete, incomplete } = await scanSnapshots(store, sourceId);
  const manifests = await Promise.all(complete.map((id) => readFileSetManifest(store, sourceId, id)));

  const statuses = await Promise.all(manifests.map((m) => options.statusOf?.(m) ?? Promise.resolve('unverified' as const)));
  const candidates = manifests.map((m, i) => ({ id: m.backupId, completedAt: new Date(m.completedAt), status: statuses[i]! }));
  const plan = { now, timeZone: options.timeZone ?? 'UTC' };
  let decisions = planRetention(candidates, options.policy, plan);
  if (options.readProtection) {
    // Asked only of the snapshots the policy would delete, then planned again with what protects them.
    const readProtection = options.readProtection;
    const asking = new Set(decisions.filter((d) => d.action === 'delete').map((d) => d.id));
    const protections = new Map(
      await Promise.all(
        [...asking].map(async (id) => {
          const keys = [snapshotManifestKey(sourceId, id), snapshotObjectKey(sourceId, id, 'index'), snapshotObjectKey(sourceId, id, 'files')];
          return [id, await readProtection({ sourceId, backupId: id, keys })] as const;
        }),
      ),
    );
    decisions = planRetention(candidates.map((c) => ({ ...c, ...(protections.get(c.id) ? { protection: protections.get(c.id)! } : {}) })), options.policy, plan);
  }
  const newest = complete.at(-1);
  const keep = new Map<string, string[]>();
  for (const decision of decisions) if (decision.action === 'keep') keep.set(decision.id, [...decision.reasons]);
  if (newest !== undefined && !keep.has(newest)) keep.set(newest, ['newest snapshot']);
  const doomed = complete.filter((id) => !keep.has(id));

  // Every pack a kept snapshot refers to; read before anything is deleted.
  const referenced = new Set<string>();
  for (const manifest of manifests) {
    if (!keep.has(manifest.backupId)) continue;
    for await (const pack of readIndex(store, keyring, manifest)) referenced.add(pack.pack);
  }

  const running = (backupId: string) => !complete.includes(backupId) && now.getTime() - parseBackupId(backupId).time.getTime() < grace;
  const staleIncomplete = incomplete.filter((id) => !running(id));

  if (!dryRun) {
    for (const id of doomed) await store.delete(snapshotManifestKey(sourceId, id));
    for (const id of [...doomed, ...staleIncomplete]) {
      for await (const key of store.list(snapshotPrefix(sourceId, id))) await store.delete(key);
    }
  }

  const deletedPacks: string[] = [];
  let keptPacks = 0;
  let inProgressPacks = 0;
  const prefix = packsPrefix(sourceId);
  for await (const key of store.list(prefix)) {
    const name = key.slice(prefix.length);
    const owner = packOwner(name);
    if (owner === undefined) continue; // not a pack: never guessed at
    if (referenced.has(name)) {
      keptPacks++;
    } else if (running(owner)) {
      inProgressPacks++;
    } else {
      deletedPacks.push(name);
      if (!dryRun) await store.delete(key);
    }
  }
  return {
    protectedSnapshots: decisions.filter((d) => d.protected).map((d) => d.id),
    keptSnapshots: [...keep].map(([backupId, reasons]) => ({ backupId, reasons })).sort((a, b) => a.backupId.localeCompare(b.backupId)),
    deletedSnapshots: doomed,
    deletedIncomplete: staleIncomplete,
    keptPacks,
    deletedPacks,
    inProgressPacks,
    dryRun,
  };
}
