/**
 * A backup's verification status as retention needs it. Verification results are objects beside the
 * manifest, `backups/<sourceId>/<backupId>/verifications/<timestamp>.json`, each at least
 * `{ "status": "verified" | "failed", ... }`; their keys sort by time, and the newest decides.
 */
import { VERIFICATIONS_DIR, backupPrefix } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import type { VerificationStatus } from './plan.ts';

export interface VerificationState {
  readonly status: VerificationStatus;
  /** The verification object the status comes from; absent when there is none. */
  readonly key?: string;
  /**
   * Why the status could not be read (e.g. the newest record is not JSON). Retention treats such a
   * backup's status as unknown and deletes nothing for the source rather than plan from a guess.
   */
  readonly problem?: string;
}

/**
 * The newest verification result of one backup: `verified` or `failed` as it says, `unverified` when
 * there is none or its status is one this version does not know. Store errors propagate.
 */
export async function readLatestVerification(
  store: VaultStore,
  sourceId: string,
  backupId: string,
): Promise<VerificationState> {
  const prefix = `${backupPrefix(sourceId, backupId)}${VERIFICATIONS_DIR}/`;
  let newest: string | undefined;
  // Listed in lexicographic order, and the names are compact UTC timestamps: the last is the newest.
  for await (const key of store.list(prefix)) if (key.endsWith('.json')) newest = key;
  if (newest === undefined) return { status: 'unverified' };

  const bytes = await store.getObject(newest);
  let record: unknown;
  try {
    record = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { status: 'unverified', key: newest, problem: `the newest verification result ${newest} is not valid JSON` };
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { status: 'unverified', key: newest, problem: `the newest verification result ${newest} is not a JSON object` };
  }
  const { status } = record as Record<string, unknown>;
  if (status === 'verified' || status === 'failed') return { status, key: newest };
  return { status: 'unverified', key: newest };
}
