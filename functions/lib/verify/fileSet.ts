/**
 * The verification of a file-set snapshot as a recorded verdict: `verifyFileSet` (functions/lib/fileset/verify.ts)
 * re-reads the snapshot's index and file list, checks every pack is stored with its recorded size, and reads packs
 * in full (every pack the snapshot wrote, and `readDataPercent` of the older ones it refers to): stored SHA-256,
 * decryption of every frame, each chunk decompressed and its keyed hash recomputed. The outcome is written as a
 * verification result (the same format and signature as a dump's) in the snapshot's own folder,
 * `filesets/<sourceId>/snapshots/<backupId>/verifications/`, bound to the snapshot's manifest.
 *
 * A snapshot has no restore test: restoring files into a scratch bucket would prove no more than the chunk
 * check, which recomputes every byte's keyed hash from what a restore would read.
 */
import type { BackupKeyring } from '../crypto/keyring.ts';
import type { MacSigner } from '../crypto/mac.ts';
import { readFileSetManifest } from '../fileset/catalog.ts';
import { snapshotPrefix } from '../fileset/format.ts';
import { verifyFileSet, type FileSetProblem, type FileSetVerification } from '../fileset/verify.ts';
import type { VaultStore } from '../vault/store.ts';
import {
  reasonLine,
  judgedResult,
  writeVerification,
  type CheckName,
  type VerificationCheck,
  type VerificationResult,
} from '../vault/verification.ts';

/** The share of older packs a scheduled verification reads in full when the source does not say. */
export const DEFAULT_READ_DATA_PERCENT = 10;

export interface FileSetSnapshotVerifyOptions {
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly sourceId: string;
  readonly backupId: string;
  /** Share (0-100) of the packs written by earlier snapshots read in full; this snapshot's own are always read. @default 10 */
  readonly readDataPercent?: number;
  /** Signs the result (the verification key). @default unsigned */
  readonly signer?: MacSigner;
  readonly now?: () => Date;
}

export interface FileSetSnapshotVerification {
  readonly result: VerificationResult;
  /** Where the result was written. */
  readonly key: string;
  readonly verification: FileSetVerification;
}

/**
 * Verifies one snapshot and records the result. A missing or unreadable manifest is not a verdict: it throws
 * (`BackupNotFoundError`, `ManifestInvalidError`) and nothing is written.
 */
export async function verifyFileSetSnapshot(options: FileSetSnapshotVerifyOptions): Promise<FileSetSnapshotVerification> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const manifest = await readFileSetManifest(options.store, options.sourceId, options.backupId);
  const verification = await verifyFileSet({
    store: options.store,
    keyring: options.keyring,
    manifest,
    readDataPercent: options.readDataPercent ?? DEFAULT_READ_DATA_PERCENT,
    readNewPacks: true,
  });
  const completedAt = now();
  const durationMs = Math.max(0, completedAt.getTime() - startedAt.getTime());
  const checks = fileSetChecks(verification, durationMs);
  const result = judgedResult(manifest, checks, startedAt, completedAt);
  const key = await writeVerification(options.store, result, {
    folder: snapshotPrefix(manifest.sourceId, manifest.backupId),
    ...(options.signer ? { signer: options.signer } : {}),
  });
  return { result, key, verification };
}

/**
 * The three checks of a snapshot, each failed by the problems of its kind (the first named, with how many more):
 * `checksum` (a pack missing, of the wrong size, or whose stored bytes do not hash to the index's SHA-256),
 * `decrypt` (a pack, the index or the file list that does not decrypt) and `structure` (a chunk whose keyed hash
 * or size is wrong, a file naming a chunk the index lacks, an index or file list that does not parse).
 */
export function fileSetChecks(verification: FileSetVerification, durationMs: number): VerificationCheck[] {
  const byCheck = new Map<CheckName, FileSetProblem[]>([['checksum', []], ['decrypt', []], ['structure', []]]);
  for (const problem of verification.problems) byCheck.get(checkOf(problem))!.push(problem);
  const packsRead = `${verification.packsRead} of ${verification.packs} pack${verification.packs === 1 ? '' : 's'} read in full, ${verification.chunksChecked} chunks checked`;
  return [...byCheck].map(([name, problems]) => {
    if (problems.length === 0) return { name, status: 'passed' as const, ...(name === 'structure' ? { reason: packsRead } : {}), durationMs };
    const first = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length === 2 ? '' : 's'})` : '';
    const named = first.message.includes(first.object) ? first.message : `${first.object}: ${first.message}`;
    return { name, status: 'failed' as const, reason: reasonLine(`${named}${more}`), durationMs };
  });
}

function checkOf(problem: FileSetProblem): CheckName {
  if (problem.error === 'DecryptionFailedError') return 'decrypt';
  // A chunk that does not match its id is a ChecksumMismatchError raised inside a pack that decrypted: structure.
  if (/does not match its id/.test(problem.message)) return 'structure';
  if (['ObjectNotFoundError', 'SizeMismatchError', 'ChecksumMismatchError'].includes(problem.error)) return 'checksum';
  return 'structure';
}
