/**
 * A backup's status as `list` and `show` report it: its newest verification result (the format and its
 * reader are `functions/lib/vault/verification.ts`). Until a backup has one it is `unverified`; a newest
 * result that cannot be read is reported as `unverified` with the reason, never silently.
 */
import { VERIFICATIONS_DIR, parseBackupKey, sourcePrefix } from '../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import { type LatestVerification, isVerificationName, newestVerification } from '../functions/lib/vault/verification.ts';

export type BackupState = 'unverified' | 'verified' | 'failed';

export interface BackupStatus {
  readonly state: BackupState;
  /** The verification object the state comes from, relative to the vault root. */
  readonly verification?: string;
  /** Why a backup failed verification, or why its record could not be used. */
  readonly reason?: string;
  /** Checks that passed with a warning (a size anomaly, an estimated row count that differs), and results ignored. */
  readonly warnings?: readonly string[];
  /** Present (true) when the result was authenticated with the verification key; absent when read without it. */
  readonly authenticated?: true;
}

const UNVERIFIED: BackupStatus = { state: 'unverified' };

/** Status of each manifest, keyed by `sourceId/backupId`; one listing of the vault however many backups. */
export async function backupStatuses(
  store: VaultStore,
  manifests: readonly (Pick<BackupManifest, 'sourceId' | 'backupId'> & { readonly kind?: string })[],
  options: { readonly authenticator?: Pick<MacSigner, 'verify'> } = {},
): Promise<Map<string, BackupStatus>> {
  const statuses = new Map<string, BackupStatus>(manifests.map((m) => [statusKey(m), UNVERIFIED]));
  if (manifests.length === 0) return statuses;
  const sources = new Set(manifests.map((m) => m.sourceId));
  const only = sources.size === 1 ? [...sources][0] : undefined;

  const byId = new Map(manifests.map((m) => [statusKey(m), m]));
  const results = new Map<string, string[]>();
  for await (const key of store.list(sourcePrefix(only))) {
    const parsed = parseBackupKey(key);
    if (!parsed?.name.startsWith(`${VERIFICATIONS_DIR}/`)) continue;
    if (!isVerificationName(parsed.name.slice(VERIFICATIONS_DIR.length + 1))) continue;
    const id = statusKey(parsed);
    if (statuses.has(id)) results.set(id, [...(results.get(id) ?? []), key]);
  }
  for (const [id, keys] of results) {
    const backup = byId.get(id)!;
    // A database backup's manifest binds its results; configuration backups have none.
    const manifest = backup.kind !== 'config' && 'format' in backup ? { manifest: backup as BackupManifest } : {};
    statuses.set(id, toStatus(await newestVerification(store, keys, backup, { ...options, ...manifest })));
  }
  return statuses;
}

export function statusKey(backup: { readonly sourceId: string; readonly backupId: string }): string {
  return `${backup.sourceId}/${backup.backupId}`;
}

/** A newest verification result (or its absence, or why it could not be read) as `list` and `show` report it. */
export function toStatus(latest: LatestVerification): BackupStatus {
  const verification = latest.key === undefined ? {} : { verification: latest.key };
  const counted = latest.result !== undefined && (latest.problem === undefined || latest.authenticated === true);
  if (!counted && latest.problem !== undefined) return { state: 'unverified', ...verification, reason: latest.problem };
  const result = counted ? latest.result : undefined;
  const warnings = [
    ...(result?.checks ?? []).filter((c) => c.status === 'warning').map((c) => `${c.name}: ${c.reason ?? 'warning'}`),
    // Results the key did not authenticate: tampering or damage, never the backup's status.
    ...(latest.problem !== undefined ? [latest.problem] : []),
    ...(latest.ignored ?? []).filter((i) => i.unsigned).map((i) => `ignored ${i.reason}`),
  ];
  return {
    state: counted ? latest.status : 'unverified',
    ...(counted && latest.authenticated === true ? { authenticated: true } : {}),
    ...verification,
    ...(result?.reason === undefined ? {} : { reason: result.reason }),
    ...(warnings.length === 0 ? {} : { warnings }),
  };
}
