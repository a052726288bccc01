/**
 * Freshness: how old each source's protection is, read from the vaults alone with an injectable clock, so the
 * freshness function (CloudWatch metrics and alarms) and `lifeboat status` report the same figures.
 *
 * Per source, ages are measured from a backup's start (the point in time its data is from, which is what an
 * RPO is about) to `now`:
 *   - minutes since the last completed backup (a folder with a manifest),
 *   - minutes since the last verified one: a dump whose newest verification result is `verified`, or a
 *     snapshot RDS reports `available` (when an RDS check is given; RDS writes no result to the vault),
 *   - the DR copy lag: minutes since the newest backup present in the DR vault (a snapshot's DR copy counts
 *     when RDS reports it `available` in the DR region, when an RDS check is given).
 * A source that has none of these has `null`: a never-protected source is outside its RPO, never inside it.
 */
import { BackupNotFoundError, ManifestInvalidError, ManifestMissingError, ManifestTooLargeError, UnsupportedFormatVersionError } from '../errors.ts';
import type { BackupManifest } from '../vault/manifest.ts';
import { latestVerificationOf, readAnyManifest, scanBackupFolders, type BackupFolder, type CatalogManifest } from '../vault/catalog.ts';
import type { MacSigner } from '../crypto/mac.ts';
import type { VaultStore } from '../vault/store.ts';
import { readFileSetManifest, scanSnapshots } from '../fileset/catalog.ts';
import { snapshotPrefix, type FileSetManifest } from '../fileset/format.ts';
import { readLatestVerification } from '../vault/verification.ts';

const MS_PER_MINUTE = 60_000;
/**
 * At most this many newest backups of a source are read looking for a verified one: a source whose last 50
 * backups are all unverified is reported as having no verified backup (and its RPO alarm fires), which it
 * deserves, rather than reading its whole history every few minutes.
 */
export const MAX_BACKUPS_READ_PER_SOURCE = 50;

export interface FreshnessSource {
  readonly id: string;
  readonly rpoMinutes: number;
  /** A file set: its snapshots are under `filesets/`, verified by their results in each snapshot's folder. @default a backup under `backups/` */
  readonly kind?: 'fileset';
}

/** Whether an RDS snapshot a manifest records still exists and is usable; absent = not checked. */
export type SnapshotCheck = (snapshot: NonNullable<BackupManifest['snapshot']>, where: 'primary' | 'dr') => Promise<'available' | 'unavailable'>;

export interface FreshnessDeps {
  readonly primary: VaultStore;
  /** The DR vault; without it the copy lag is unknown (`null`). */
  readonly dr?: VaultStore;
  /** Checks snapshot backups against RDS; without it a snapshot counts as a backup, never as verified. */
  readonly snapshots?: SnapshotCheck;
  /** The verification key: only authenticated results make a backup verified. @default results as stored */
  readonly authenticator?: Pick<MacSigner, 'verify'>;
  readonly now: () => Date;
}

export interface BackupPoint {
  readonly backupId: string;
  readonly kind: 'dump' | 'snapshot' | 'config' | 'fileset';
  /** The data's point in time: the backup's start. */
  readonly startedAt: string;
  readonly completedAt: string;
}

export type LastBackupState = 'verified' | 'failed' | 'unverified' | 'available' | 'unavailable';

export interface SourceFreshness {
  readonly sourceId: string;
  readonly rpoMinutes: number;
  /** The newest completed backup and what is known of it. */
  readonly lastBackup?: BackupPoint & { readonly state: LastBackupState; readonly sizeBytes?: number };
  readonly lastVerified?: BackupPoint;
  readonly lastDrCopy?: BackupPoint;
  readonly minutesSinceLastBackup: number | null;
  readonly minutesSinceLastVerified: number | null;
  readonly drCopyLagMinutes: number | null;
  /** The last verified backup is no older than the RPO. */
  readonly withinRpo: boolean;
  /** The newest DR copy is no older than the RPO. */
  readonly drWithinRpo: boolean;
  /** Backups that could not be read (a damaged manifest, an unreadable result): said, never silently skipped. */
  readonly problems: readonly string[];
}

/** The freshness of every source, in the order given. */
export async function sourceFreshness(sources: readonly FreshnessSource[], deps: FreshnessDeps): Promise<SourceFreshness[]> {
  const now = deps.now();
  const primaryFolders = groupBySource(await scanBackupFolders(deps.primary));
  const drFolders = deps.dr ? groupBySource(await scanBackupFolders(deps.dr)) : new Map<string, BackupFolder[]>();
  const results: SourceFreshness[] = [];
  for (const source of sources) {
    const problems: string[] = [];
    const fileSet = source.kind === 'fileset';
    const primary = fileSet ? await fileSetState(deps.primary, source.id, deps.authenticator, problems) : await primaryState(deps, primaryFolders.get(source.id) ?? [], problems);
    const drCopy = !deps.dr
      ? undefined
      : fileSet
        ? (await fileSetState(deps.dr, source.id, undefined, problems, { newestOnly: true })).lastBackup
        : await newestPresent(deps.dr, drFolders.get(source.id) ?? [], deps.snapshots, problems);
    const since = (point: BackupPoint | undefined) => (point === undefined ? null : minutesBetween(point.startedAt, now));
    const minutesSinceLastVerified = since(primary.lastVerified);
    const drCopyLagMinutes = since(drCopy);
    results.push({
      sourceId: source.id,
      rpoMinutes: source.rpoMinutes,
      ...(primary.lastBackup ? { lastBackup: primary.lastBackup } : {}),
      ...(primary.lastVerified ? { lastVerified: primary.lastVerified } : {}),
      ...(drCopy ? { lastDrCopy: drCopy } : {}),
      minutesSinceLastBackup: since(primary.lastBackup),
      minutesSinceLastVerified,
      drCopyLagMinutes,
      withinRpo: minutesSinceLastVerified !== null && minutesSinceLastVerified <= source.rpoMinutes,
      drWithinRpo: drCopyLagMinutes !== null && drCopyLagMinutes <= source.rpoMinutes,
      problems,
    });
  }
  return results;
}

/** What the DR region measures of its own vault: the copy lag, with nothing read from the primary region. */
export interface DrVaultFreshness {
  readonly sourceId: string;
  readonly rpoMinutes: number;
  readonly lastDrCopy?: BackupPoint;
  readonly drCopyLagMinutes: number | null;
  readonly drWithinRpo: boolean;
  readonly problems: readonly string[];
}

/**
 * The DR region's own watch (functions/freshness with FRESHNESS_SCOPE=dr-vault): per source, minutes since the
 * start of the newest backup present in the DR vault. It reads only that vault, so it still measures, and its
 * alarms still fire in the DR region, when the primary region (and the freshness function there) is down.
 */
export async function drVaultFreshness(sources: readonly FreshnessSource[], deps: { readonly dr: VaultStore; readonly now: () => Date }): Promise<DrVaultFreshness[]> {
  const now = deps.now();
  const folders = groupBySource(await scanBackupFolders(deps.dr));
  const results: DrVaultFreshness[] = [];
  for (const source of sources) {
    const problems: string[] = [];
    const drCopy =
      source.kind === 'fileset'
        ? (await fileSetState(deps.dr, source.id, undefined, problems, { newestOnly: true })).lastBackup
        : await newestPresent(deps.dr, folders.get(source.id) ?? [], undefined, problems);
    const lag = drCopy === undefined ? null : minutesBetween(drCopy.startedAt, now);
    results.push({
      sourceId: source.id,
      rpoMinutes: source.rpoMinutes,
      ...(drCopy ? { lastDrCopy: drCopy } : {}),
      drCopyLagMinutes: lag,
      drWithinRpo: lag !== null && lag <= source.rpoMinutes,
      problems,
    });
  }
  return results;
}

function groupBySource(folders: readonly BackupFolder[]): Map<string, BackupFolder[]> {
  const bySource = new Map<string, BackupFolder[]>();
  // Complete backups only, newest first (the listing's order).
  for (const folder of folders) if (folder.hasManifest) bySource.set(folder.sourceId, [...(bySource.get(folder.sourceId) ?? []), folder]);
  return bySource;
}

function pointOf(manifest: CatalogManifest): BackupPoint {
  return { backupId: manifest.backupId, kind: manifest.kind, startedAt: manifest.startedAt, completedAt: manifest.completedAt };
}

/** A manifest, or `undefined` with the reason added to `problems` (a folder emptied since the listing is not a problem). */
async function manifestOf(store: VaultStore, folder: BackupFolder, problems: string[]): Promise<CatalogManifest | undefined> {
  try {
    return await readAnyManifest(store, folder.sourceId, folder.backupId);
  } catch (error) {
    if (error instanceof BackupNotFoundError || error instanceof ManifestMissingError) return undefined;
    if (error instanceof ManifestInvalidError || error instanceof ManifestTooLargeError || error instanceof UnsupportedFormatVersionError) {
      problems.push(`${store.location}: ${error.message}`);
      return undefined;
    }
    throw error;
  }
}

/** The newest backup, and the newest verified one, of one source in the primary vault. */
async function primaryState(
  deps: FreshnessDeps,
  folders: readonly BackupFolder[],
  problems: string[],
): Promise<{ lastBackup?: SourceFreshness['lastBackup']; lastVerified?: BackupPoint }> {
  let lastBackup: SourceFreshness['lastBackup'];
  for (const folder of folders.slice(0, MAX_BACKUPS_READ_PER_SOURCE)) {
    const manifest = await manifestOf(deps.primary, folder, problems);
    if (!manifest) continue;
    const state = await stateOf(deps, manifest, folder, problems);
    if (!lastBackup) {
      const sizeBytes = manifest.payload?.storedBytes;
      lastBackup = { ...pointOf(manifest), state, ...(sizeBytes === undefined ? {} : { sizeBytes }) };
    }
    if (state === 'verified' || state === 'available') return { lastBackup, lastVerified: pointOf(manifest) };
  }
  return lastBackup ? { lastBackup } : {};
}

/** A primary backup's state: a dump's newest verification result, or whether RDS still has its snapshot. */
async function stateOf(deps: FreshnessDeps, manifest: CatalogManifest, folder: BackupFolder, problems: string[]): Promise<LastBackupState> {
  if (manifest.kind === 'snapshot') {
    if (!deps.snapshots || !manifest.snapshot) return 'unverified';
    return deps.snapshots(manifest.snapshot, 'primary');
  }
  const latest = await latestVerificationOf(deps.primary, folder, deps.authenticator ? { authenticator: deps.authenticator, manifest } : {});
  if (latest.problem) problems.push(`${deps.primary.location}: ${latest.problem}`);
  return latest.status;
}

/** The newest backup present in the DR vault: a dump copy with its manifest, or a snapshot copy RDS still has. */
async function newestPresent(store: VaultStore, folders: readonly BackupFolder[], snapshots: SnapshotCheck | undefined, problems: string[]): Promise<BackupPoint | undefined> {
  for (const folder of folders.slice(0, MAX_BACKUPS_READ_PER_SOURCE)) {
    const manifest = await manifestOf(store, folder, problems);
    if (!manifest) continue;
    if (manifest.kind === 'snapshot' && snapshots && manifest.snapshot && (await snapshots(manifest.snapshot, 'dr')) !== 'available') continue;
    return pointOf(manifest);
  }
  return undefined;
}

/**
 * A file set's newest complete snapshot and its newest verified one (a signed result in the snapshot's folder, when
 * an authenticator is given), at most MAX_BACKUPS_READ_PER_SOURCE read. `newestOnly`: the newest snapshot alone (the
 * DR vault's copy lag).
 */
async function fileSetState(
  store: VaultStore,
  sourceId: string,
  authenticator: FreshnessDeps['authenticator'],
  problems: string[],
  options: { readonly newestOnly?: boolean } = {},
): Promise<{ lastBackup?: SourceFreshness['lastBackup']; lastVerified?: BackupPoint }> {
  const { complete } = await scanSnapshots(store, sourceId);
  let lastBackup: SourceFreshness['lastBackup'];
  for (const backupId of complete.reverse().slice(0, MAX_BACKUPS_READ_PER_SOURCE)) {
    let manifest: FileSetManifest;
    try {
      manifest = await readFileSetManifest(store, sourceId, backupId);
    } catch (error) {
      if (error instanceof BackupNotFoundError) continue;
      if (error instanceof ManifestInvalidError || error instanceof UnsupportedFormatVersionError) {
        problems.push(`${store.location}: ${error.message}`);
        continue;
      }
      throw error;
    }
    const point: BackupPoint = { backupId, kind: 'fileset', startedAt: manifest.startedAt, completedAt: manifest.completedAt };
    if (options.newestOnly) return { lastBackup: { ...point, state: 'unverified' } };
    const latest = await readLatestVerification(store, sourceId, backupId, { folder: snapshotPrefix(sourceId, backupId), ...(authenticator ? { authenticator, manifest } : {}) });
    if (latest.problem) problems.push(`${store.location}: ${latest.problem}`);
    lastBackup ??= { ...point, state: latest.status, sizeBytes: manifest.totals.storedBytes };
    if (latest.status === 'verified') return { lastBackup, lastVerified: point };
  }
  return lastBackup ? { lastBackup } : {};
}

/** Whole minutes from `iso` to `now`, never negative (a clock a little behind the writer's is not a future backup). */
export function minutesBetween(iso: string, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - Date.parse(iso)) / MS_PER_MINUTE));
}
