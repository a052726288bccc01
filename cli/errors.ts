/**
 * Exit codes and the errors only the CLI raises. Codes are chosen from the error's `name` (not
 * `instanceof`), so an error keeps its code however many copies of a module are loaded.
 */
import { LifeboatError } from '../functions/lib/errors.ts';

/** The command line itself is wrong: a missing, unknown or malformed flag. Exit 2. */
export class UsageError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** The vault named by `--vault` does not exist (no such directory, no such bucket). Exit 3. */
export class VaultNotFoundError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VaultNotFoundError';
  }
}

/** A prune finished but could not read or delete everything it should have; the report lists each error. Exit 1. */
export class PruneIncompleteError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PruneIncompleteError';
  }
}

/** `run --wait`: the backup run ended in a status other than SUCCEEDED (FAILED, TIMED_OUT, ABORTED). Exit 1. */
export class BackupRunFailedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupRunFailedError';
  }
}

export const ExitCode = {
  ok: 0,
  /** The backup, restore or other operation failed: source unreachable, dump or restore error, store write failed. */
  failed: 1,
  /** Bad flags, a malformed id, URL or vault location, an unusable key file. Nothing was attempted. */
  usage: 2,
  /** The vault, the backup id or a complete backup with that id does not exist. */
  notFound: 3,
  /** The stored backup is not what its manifest says or cannot be decrypted: checksum, size, key, format. */
  integrity: 4,
  /**
   * `verify`: the stored backup is intact (checksum, decryption, structure) but failed its restore test:
   * it did not restore, a table or row count differs from the manifest, or a SQL check failed.
   */
  verification: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Error name → exit code; anything unnamed here is an operation failure (1). Documented in docs/cli.md. */
export const EXIT_CODE_BY_ERROR: Readonly<Record<string, ExitCode>> = {
  UsageError: ExitCode.usage,
  ConfigError: ExitCode.usage,
  InvalidIdentifierError: ExitCode.usage,
  InvalidStoreKeyError: ExitCode.usage,
  KeyFileError: ExitCode.usage,
  WrongKeyError: ExitCode.usage,
  InvalidSqlCheckError: ExitCode.usage,
  KeyFileTooLargeError: ExitCode.usage,

  VaultNotFoundError: ExitCode.notFound,
  BackupNotFoundError: ExitCode.notFound,
  ManifestMissingError: ExitCode.notFound,
  ObjectNotFoundError: ExitCode.notFound,

  ChecksumMismatchError: ExitCode.integrity,
  SizeMismatchError: ExitCode.integrity,
  DecryptionFailedError: ExitCode.integrity,
  DecompressionFailedError: ExitCode.integrity,
  ManifestInvalidError: ExitCode.integrity,
  ManifestTooLargeError: ExitCode.integrity,

  VerificationFailedError: ExitCode.verification,
};

export function exitCodeFor(error: unknown): ExitCode {
  const name = error instanceof Error ? error.name : undefined;
  return (name !== undefined ? EXIT_CODE_BY_ERROR[name] : undefined) ?? ExitCode.failed;
}
