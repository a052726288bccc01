/**
 * The verification of a configuration backup as a recorded verdict: the stored payload hashed against the manifest
 * (`checksum`), its envelope opened (`decrypt`), and every item read back and checked against its manifest entry:
 * type, name, salted hash, and the item count at the end (`structure`). The result is written beside the manifest,
 * in `backups/<sourceId>/<backupId>/verifications/`, bound to it and signed like a dump's.
 *
 * There is no restore test: writing parameters and secrets into a scratch account would prove no more than the item
 * check, which recomputes each item's hash from the bytes a restore writes back (functions/lib/configset/restore.ts
 * runs the same read in full before its first write).
 */
import { performance } from 'node:perf_hooks';
import { readConfigItems, readConfigManifest } from '../configset/read.ts';
import { isUnwrapFailure } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import type { MacSigner } from '../crypto/mac.ts';
import { assertKeyringMatches } from '../engine/restore.ts';
import { WrongKeyError } from '../errors.ts';
import type { ConfigManifest } from '../vault/configManifest.ts';
import { backupPrefix } from '../vault/layout.ts';
import { storedDigest, type VaultStore } from '../vault/store.ts';
import {
  reasonLine,
  judgedResult,
  writeVerification,
  type CheckName,
  type CheckStatus,
  type VerificationCheck,
  type VerificationResult,
} from '../vault/verification.ts';

export interface ConfigVerifyOptions {
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly sourceId: string;
  readonly backupId: string;
  /** Signs the result (the verification key). @default unsigned */
  readonly signer?: MacSigner;
  readonly now?: () => Date;
}

/**
 * Verifies one configuration backup and records the result. Throws for what is not a verdict on the backup, and
 * records nothing: a missing or unreadable manifest (`BackupNotFoundError`, `ManifestInvalidError`), a key other than
 * the backup's (`WrongKeyError`, also when an intact payload's data key will not unwrap), store read errors.
 */
export async function verifyConfigSetBackup(options: ConfigVerifyOptions): Promise<VerificationResult> {
  const clock = options.now ?? (() => new Date());
  const startedAt = clock();
  const manifest = await readConfigManifest(options.store, options.sourceId, options.backupId);
  try {
    assertKeyringMatches(manifest.encryption.keyring, options.keyring.description);
  } catch (error) {
    throw new WrongKeyError(`${(error as Error).message}: nothing was verified or recorded; give the key the backup was made with`, { cause: error });
  }
  const checks = await configChecks(options.store, manifest, options.keyring);
  const result = judgedResult(manifest, checks, startedAt, clock());
  await writeVerification(options.store, result, options.signer ? { signer: options.signer } : {});
  return result;
}

/** `checksum`, `decrypt` and `structure`, in that order; a check after a failed one is skipped with the reason. */
async function configChecks(store: VaultStore, manifest: ConfigManifest, keyring: BackupKeyring): Promise<VerificationCheck[]> {
  const checks: VerificationCheck[] = [];
  const set = (name: CheckName, status: CheckStatus, reason: string | undefined, since: number) =>
    checks.push({ name, status, ...(reason === undefined ? {} : { reason: reasonLine(reason) }), durationMs: Math.max(0, Math.round(performance.now() - since)) });
  const skip = (names: CheckName[], reason: string) => names.forEach((name) => set(name, 'skipped', reason, performance.now()));
  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${manifest.payload.key}`;

  // The stored bytes alone first, so a damaged object is named as such whatever decryption says of it.
  let since = performance.now();
  if (!(await store.head(key))) {
    set('checksum', 'failed', `payload ${key} is missing from ${store.location}`, since);
    skip(['decrypt', 'structure'], 'not checked: the payload is missing');
    return checks;
  }
  const { bytes, sha256: digest } = await storedDigest(store, key);
  // A different size is a different SHA-256; the message gives both.
  if (digest !== manifest.payload.sha256) {
    set('checksum', 'failed', `payload ${key} holds ${bytes} bytes with SHA-256 ${digest}; the manifest records ${manifest.payload.storedBytes} bytes with ${manifest.payload.sha256}`, since);
    skip(['decrypt', 'structure'], 'not checked: the stored bytes are not the ones the manifest records');
    return checks;
  }
  set('checksum', 'passed', undefined, since);

  since = performance.now();
  let items = 0;
  try {
    for await (const _found of readConfigItems(store, manifest, keyring)) items += 1;
  } catch (error) {
    // Intact stored bytes whose data key will not unwrap: the key is wrong, not the backup.
    if (isUnwrapFailure(error)) {
      throw new WrongKeyError(`The key given cannot unwrap the data key of backup ${manifest.backupId}, whose stored bytes match its manifest; nothing was recorded`, { cause: error });
    }
    const { name, message } = error as Error;
    if (name === 'DecryptionFailedError') {
      set('decrypt', 'failed', message, since);
      skip(['structure'], 'not checked: the payload did not decrypt');
      return checks;
    }
    // Anything else that is not the payload's own fault (the store, a bug) is not a verdict.
    if (name !== 'ConfigPayloadMismatchError' && name !== 'DecompressionFailedError') throw error;
    set('decrypt', 'passed', undefined, since);
    set('structure', 'failed', message, since);
    return checks;
  }
  set('decrypt', 'passed', undefined, since);
  const { counts } = manifest.content;
  set('structure', 'passed', `${items} item${items === 1 ? '' : 's'}, every hash matches (${counts.ssmParameters} parameters, ${counts.secrets} secrets, ${counts.stacks} stacks)`, since);
  return checks;
}
