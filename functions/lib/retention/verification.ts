/**
 * A backup's verification status as retention needs it: the newest verification result beside the
 * manifest decides. The format and its only reader live in `vault/verification.ts`; an unreadable
 * newest result comes back with a `problem`, and retention then deletes nothing for the source.
 */
import { latestVerificationOf, scanBackupFolders, type BackupFolder } from '../vault/catalog.ts';
import type { VaultStore } from '../vault/store.ts';
import type { LatestVerification } from '../vault/verification.ts';

export { readLatestVerification, type LatestVerification as VerificationState } from '../vault/verification.ts';

/**
 * `readLatestVerification` for many backups of a vault: the first question about a source lists that source
 * once, and every answer comes from that listing (one read per backup that has a result, none for one that
 * has not), instead of one listing per backup. For callers asking about every backup of a source, such as
 * snapshot retention.
 */
export function latestVerificationReader(
  store: VaultStore,
): (backup: { readonly sourceId: string; readonly backupId: string }) => Promise<LatestVerification> {
  const scans = new Map<string, Promise<Map<string, BackupFolder>>>();
  return async ({ sourceId, backupId }) => {
    let scan = scans.get(sourceId);
    if (!scan) {
      scan = scanBackupFolders(store, { sourceId }).then((folders) => new Map(folders.map((f) => [f.backupId, f])));
      scans.set(sourceId, scan);
    }
    const folder = (await scan).get(backupId);
    return folder ? latestVerificationOf(store, folder) : { status: 'unverified' };
  };
}
