/**
 * A backup's verification status as retention needs it. The format and its only reader live in
 * `vault/verification.ts`; this decides which record counts when records disagree:
 *
 * - the newest verdict decides, and a pass completed at the same moment as a failure (or after it,
 *   whatever order the record names sort in) outranks it: a failed record never outranks a later pass;
 * - a failure that was the operator's input and not the backup (a key the manifest does not name, a data
 *   key that would not unwrap from intact bytes, a SQL check that could not run) is no verdict at all.
 *   Lifeboat no longer records those, but vaults written before may hold them, and a retention plan
 *   built on one would delete a good backup as "failed verification".
 *
 * Records other than the newest are read only when the newest is a failure, so the common case costs
 * one read per backup. An unreadable newest result comes back with a `problem`, and retention then
 * deletes nothing for the source.
 */
import { type BackupFolder, latestVerificationOf, readManifest, scanBackupFolders } from '../vault/catalog.ts';
import { VERIFICATIONS_DIR, backupPrefix } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import {
  type LatestVerification,
  type VerificationResult,
  type VerificationReadOptions,
  isVerificationName,
  readLatestVerification as readNewestRecord,
  readVerification,
} from '../vault/verification.ts';

export type VerificationState = LatestVerification;

/** The status retention plans with (see the module comment). Store errors propagate. */
export async function readLatestVerification(
  store: VaultStore,
  sourceId: string,
  backupId: string,
  options: VerificationReadOptions = {},
): Promise<VerificationState> {
  const manifest = options.authenticator && !options.manifest ? await readManifest(store, sourceId, backupId) : options.manifest;
  const reading = { ...options, ...(manifest ? { manifest } : {}) };
  const newest = await readNewestRecord(store, sourceId, backupId, reading);
  if (newest.status !== 'failed' || newest.result === undefined) return newest;
  const prefix = `${backupPrefix(sourceId, backupId)}${VERIFICATIONS_DIR}/`;
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return rankRecords(store, { sourceId, backupId }, newest, keys, reading);
}

/**
 * `readLatestVerification` for many backups of a vault: the first question about a source lists that source
 * once, and every answer comes from that listing (one read per backup that has a result, none for one that
 * has not; older records only when the newest is a failure), instead of one listing per backup. For callers
 * asking about every backup of a source, such as snapshot retention.
 */
export function latestVerificationReader(
  store: VaultStore,
): (backup: { readonly sourceId: string; readonly backupId: string }) => Promise<VerificationState> {
  const scans = new Map<string, Promise<Map<string, BackupFolder>>>();
  return async ({ sourceId, backupId }) => {
    let scan = scans.get(sourceId);
    if (!scan) {
      scan = scanBackupFolders(store, { sourceId }).then((folders) => new Map(folders.map((f) => [f.backupId, f])));
      scans.set(sourceId, scan);
    }
    const folder = (await scan).get(backupId);
    if (!folder) return { status: 'unverified' };
    const newest = await latestVerificationOf(store, folder);
    if (newest.status !== 'failed' || newest.result === undefined) return newest;
    return rankRecords(store, folder, newest, folder.keys, {});
  };
}

/** The newest is a readable failure: weigh it against the other records under `keys` (see the module comment). */
async function rankRecords(
  store: VaultStore,
  ids: { readonly sourceId: string; readonly backupId: string },
  newest: VerificationState,
  keys: readonly string[],
  reading: VerificationReadOptions,
): Promise<VerificationState> {
  const prefix = `${backupPrefix(ids.sourceId, ids.backupId)}${VERIFICATIONS_DIR}/`;
  const records: VerificationState[] = [newest];
  for (const key of keys) {
    if (key === newest.key || !key.startsWith(prefix) || !isVerificationName(key.slice(prefix.length))) continue;
    const record = await readVerification(store, key, ids, reading);
    // An older record that cannot be read (or, with the key, does not count) changes nothing: the newest one counted.
    if (record.result !== undefined && record.problem === undefined) records.push(record);
  }
  const verdicts = records.filter((record) => !isOperatorFailure(record.result!));
  // What newer results were ignored (and any problem they raise) stays with whichever record decides.
  const carried = { ...(newest.ignored ? { ignored: newest.ignored } : {}), ...(newest.problem ? { problem: newest.problem } : {}) };
  if (verdicts.length === 0) return { status: 'unverified', ...carried };
  return { ...verdicts.reduce((best, record) => (outranks(record.result!, best.result!) ? record : best)), ...carried };
}

/** Later completion wins; at the same moment a pass wins over a failure. */
export function outranks(a: VerificationResult, b: VerificationResult): boolean {
  const byTime = Date.parse(a.completedAt) - Date.parse(b.completedAt);
  if (byTime !== 0) return byTime > 0;
  return a.status === 'verified' && b.status === 'failed';
}

/**
 * A failed record whose only failures are the operator's input, in the words earlier Lifeboat versions
 * recorded them: the decrypt check refusing a key the manifest does not name or that did not unwrap
 * the data key (with the stored bytes intact), or SQL checks that could not run.
 */
export function isOperatorFailure(result: VerificationResult): boolean {
  if (result.status !== 'failed') return false;
  const failed = result.checks.filter((check) => check.status === 'failed');
  return (
    failed.length > 0 &&
    failed.every((check) => {
      if (check.name === 'decrypt') {
        const checksum = result.checks.find((c) => c.name === 'checksum');
        return checksum?.status === 'passed' && WRONG_KEY_REASON.test(check.reason ?? '');
      }
      if (check.name === 'sql-checks') {
        const failures = (result.sqlChecks ?? []).filter((sql) => sql.status === 'failed');
        return failures.length > 0 && failures.every((sql) => ERRORED_CHECK_REASON.test(sql.reason ?? ''));
      }
      return false;
    })
  );
}

const WRONG_KEY_REASON = /^(The backup was encrypted with .+; the key given is |the key given cannot unwrap this backup's data key)/;
/** `check 2 (SELECT …) failed: relation "x" does not exist`: the statement errored, it did not return false. */
const ERRORED_CHECK_REASON = /^check \d+ \(.*\) failed: /;
