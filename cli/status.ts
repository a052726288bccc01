/**
 * A backup's status as `list` and `show` report it. Verification results are objects written beside
 * the manifest (`<backup>/verifications/<time>.json`, the manifest itself is immutable); the newest
 * one decides. Until a backup has one it is `unverified`. This is the only place that reads them.
 */
import { parseBackupKey, sourcePrefix, VERIFICATIONS_DIR } from '../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';

export type BackupState = 'unverified' | 'verified' | 'failed';

export interface BackupStatus {
  readonly state: BackupState;
  /** The verification object the state comes from, relative to the vault root. */
  readonly verification?: string;
  /** Why a backup failed verification, or why its record could not be used. */
  readonly reason?: string;
}

const UNVERIFIED: BackupStatus = { state: 'unverified' };

/** Status of each manifest, keyed by `sourceId/backupId`; one listing of the vault however many backups. */
export async function backupStatuses(
  store: VaultStore,
  manifests: readonly Pick<BackupManifest, 'sourceId' | 'backupId'>[],
): Promise<Map<string, BackupStatus>> {
  const statuses = new Map<string, BackupStatus>(manifests.map((m) => [statusKey(m), UNVERIFIED]));
  if (manifests.length === 0) return statuses;
  const sources = new Set(manifests.map((m) => m.sourceId));
  const only = sources.size === 1 ? [...sources][0] : undefined;

  const newest = new Map<string, string>();
  for await (const key of store.list(sourcePrefix(only))) {
    const parsed = parseBackupKey(key);
    if (!parsed?.name.startsWith(`${VERIFICATIONS_DIR}/`)) continue;
    const id = statusKey(parsed);
    // Keys are timestamps, listed in order: the last one seen is the newest.
    if (statuses.has(id)) newest.set(id, key);
  }
  for (const [id, key] of newest) statuses.set(id, await readVerification(store, key));
  return statuses;
}

export function statusKey(backup: { readonly sourceId: string; readonly backupId: string }): string {
  return `${backup.sourceId}/${backup.backupId}`;
}

/**
 * One verification record → status. Expects `{ "status": "verified" | "failed", "reason"?: string }`;
 * the verification issue owns that format, and this function is where it is read.
 */
async function readVerification(store: VaultStore, key: string): Promise<BackupStatus> {
  let record: unknown;
  try {
    record = JSON.parse((await store.getObject(key)).toString('utf8'));
  } catch {
    return { state: 'unverified', verification: key, reason: 'the newest verification record is not valid JSON' };
  }
  const { status, reason } = (typeof record === 'object' && record !== null ? record : {}) as Record<string, unknown>;
  if (status === 'verified' || status === 'failed') {
    return { state: status, verification: key, ...(typeof reason === 'string' ? { reason } : {}) };
  }
  return { state: 'unverified', verification: key, reason: 'the newest verification record has no status this version reads' };
}
