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

/** The vault path exists but cannot be used: a file where the directory should be, permission denied, a file system that holds no files. Exit 1. */
export class VaultAccessError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VaultAccessError';
  }
}

/** The database named in `--source` does not exist on its server. Exit 3. */
export class DatabaseNotFoundError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseNotFoundError';
  }
}

/** A backup id prefix that matches several backups; the message lists them. Exit 2. */
export class AmbiguousBackupIdError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AmbiguousBackupIdError';
  }
}

/** No AWS Region or no AWS credentials for a command that calls AWS (`run`, `drill`, an S3 or KMS vault). Exit 2. */
export class AwsSetupError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AwsSetupError';
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

/** `audit`: an event of the trail does not authenticate with the evidence key (forged, altered or moved). Exit 4. */
export class AuditEventUnauthenticatedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditEventUnauthenticatedError';
  }
}

export const ExitCode = {
  ok: 0,
  /** The backup, restore or other operation failed: source unreachable, dump or restore error, store write failed. */
  failed: 1,
  /** Bad flags, a malformed id, URL or vault location, an unusable key file. Nothing was attempted. */
  usage: 2,
  /** The vault, the backup id, a complete backup with that id, or the database to back up does not exist. */
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
  AmbiguousBackupIdError: ExitCode.usage,
  AwsSetupError: ExitCode.usage,

  VaultNotFoundError: ExitCode.notFound,
  DatabaseNotFoundError: ExitCode.notFound,
  BackupNotFoundError: ExitCode.notFound,
  ManifestMissingError: ExitCode.notFound,
  ObjectNotFoundError: ExitCode.notFound,

  ChecksumMismatchError: ExitCode.integrity,
  SizeMismatchError: ExitCode.integrity,
  DecryptionFailedError: ExitCode.integrity,
  DecompressionFailedError: ExitCode.integrity,
  ManifestInvalidError: ExitCode.integrity,
  ManifestTooLargeError: ExitCode.integrity,
  ConfigPayloadMismatchError: ExitCode.integrity,
  AuditEventUnauthenticatedError: ExitCode.integrity,

  VerificationFailedError: ExitCode.verification,
};

export function exitCodeFor(error: unknown): ExitCode {
  const name = error instanceof Error ? error.name : undefined;
  return (name !== undefined ? EXIT_CODE_BY_ERROR[name] : undefined) ?? ExitCode.failed;
}

/**
 * The database a backup was asked to dump does not exist: PostgreSQL's 3D000, MySQL's ER_BAD_DB_ERROR,
 * wrapped by the engine as `SourceUnreachableError`. Anything else is returned as it is.
 */
export function asDatabaseNotFound(error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== 'SourceUnreachableError') return error;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  if (code !== '3D000' && code !== 'ER_BAD_DB_ERROR') return error;
  return new DatabaseNotFoundError(error.message, { cause: error });
}
