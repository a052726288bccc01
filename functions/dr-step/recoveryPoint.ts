/**
 * Which backup a restore step takes: the newest whose latest verification passed, authenticates (with the key) and is
 * bound to its manifest, completed at or before the point in time when one is given. A backup claiming to have
 * completed after its own verification began is passed over: its completion time is the writer's, the result is the
 * verifier's. Shared by the steps whose backups are judged by bound results (restore-files, restore-config).
 */
import type { MacSigner } from '../lib/crypto/mac.ts';
import { NoRecoveryPointError } from '../lib/errors.ts';
import { verificationBinding, type JudgedManifest, type LatestVerification, type VerificationReadOptions } from '../lib/vault/verification.ts';
import { CLOCK_SKEW_MS } from './restoreDump.ts';

export interface RecoveryPointQuery<M> {
  /** Every complete backup of the source in the vault read. */
  readonly candidates: readonly M[];
  readonly pointInTime?: string | undefined;
  readonly authenticator?: Pick<MacSigner, 'verify'> | undefined;
  /** The newest result of one backup (with the options: the key and the manifest its results are bound to). */
  readonly readVerification: (manifest: M, options: VerificationReadOptions) => Promise<LatestVerification>;
  /** Names what was looked for and where, for the error: `verified snapshot of file set uploads … in the dr vault (…)`. */
  readonly describe: (when: string) => { readonly what: string; readonly where: string; readonly none: string };
}

export async function latestVerified<M extends JudgedManifest & { readonly completedAt: string }>(query: RecoveryPointQuery<M>): Promise<M> {
  const { pointInTime, authenticator } = query;
  const limit = pointInTime === undefined ? undefined : Date.parse(pointInTime);
  const candidates = query.candidates.filter((m) => limit === undefined || Date.parse(m.completedAt) <= limit).sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt));
  for (const manifest of candidates) {
    const verification = await query.readVerification(manifest, authenticator ? { authenticator, manifest } : {});
    if (verification.status !== 'verified' || (authenticator && verification.problem !== undefined)) continue;
    if (verification.result?.manifestSha256 !== verificationBinding(manifest).manifestSha256) continue;
    if (Date.parse(manifest.completedAt) > Date.parse(verification.result.startedAt) + CLOCK_SKEW_MS) continue;
    return manifest;
  }
  const { what, where, none } = query.describe(limit === undefined ? '' : ` completed at or before ${new Date(limit).toISOString()}`);
  throw new NoRecoveryPointError(
    `No ${what} in the ${where}; ` + (candidates.length === 0 ? `it holds no such ${none}` : `none of the ${candidates.length} such ${none}(s) passed its latest verification`),
  );
}
