/**
 * Named errors. Step Functions Retry/Catch match on `name`, so every class sets it explicitly
 * (minifiers rename classes). Messages never carry secrets or connection strings with passwords.
 */
export class LifeboatError extends Error {
  /** Whether retrying the same step may succeed (throttling, a transient network failure). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LifeboatError';
  }
}

function named(name: string, retryable = false) {
  return class extends LifeboatError {
    override readonly retryable = retryable;
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, options);
      this.name = name;
    }
  };
}

/** The user's configuration (file or event) is invalid; the message lists every problem by field path. */
export class ConfigError extends named('ConfigError') {}
export class ObjectNotFoundError extends named('ObjectNotFoundError') {}
export class StoreWriteFailedError extends named('StoreWriteFailedError', true) {}
/** A create-only write found the key already taken: append-only records (audit events) are never overwritten. */
export class ObjectExistsError extends named('ObjectExistsError') {}
/** The run was interrupted (SIGINT/SIGTERM): nothing more is written to the vault, so no verdict or backup comes from a half-stopped run. */
export class InterruptedError extends named('InterruptedError') {}
export class DumpFailedError extends named('DumpFailedError') {}
export class RestoreFailedError extends named('RestoreFailedError') {}
export class ChecksumMismatchError extends named('ChecksumMismatchError') {}
export class SizeMismatchError extends named('SizeMismatchError') {}
export class DecryptionFailedError extends named('DecryptionFailedError') {}
/**
 * The key given is not the backup's: the manifest names another key, or the keyring cannot unwrap the
 * data key of a payload whose stored bytes are intact. An operator's error, never a verdict on the backup.
 */
export class WrongKeyError extends named('WrongKeyError') {}
/** A SQL check could not run (a syntax error, an unknown table or column): the check is wrong, not the backup. */
export class InvalidSqlCheckError extends named('InvalidSqlCheckError') {}
export class DecompressionFailedError extends named('DecompressionFailedError') {}
export class ManifestMissingError extends named('ManifestMissingError') {}
export class ManifestInvalidError extends named('ManifestInvalidError') {}
/** A manifest larger than any backup's manifest can be (MAX_MANIFEST_BYTES): refused before it is read whole. */
export class ManifestTooLargeError extends named('ManifestTooLargeError') {}
export class UnsupportedFormatVersionError extends named('UnsupportedFormatVersionError') {}
export class BackupNotFoundError extends named('BackupNotFoundError') {}
export class TargetNotEmptyError extends named('TargetNotEmptyError') {}
export class SourceUnreachableError extends named('SourceUnreachableError', true) {}
/** A source id, backup id or other vault identifier does not have the required form. */
export class InvalidIdentifierError extends named('InvalidIdentifierError') {}
/** A vault object key is malformed or would escape the store root (`..`, absolute, backslash). */
export class InvalidStoreKeyError extends named('InvalidStoreKeyError') {}
/** A local key file is missing, malformed, or readable by anyone but its owner. */
export class KeyFileError extends named('KeyFileError') {}
/** A key file larger than any key file (MAX_KEY_FILE_BYTES): refused before it is read whole. */
export class KeyFileTooLargeError extends KeyFileError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFileTooLargeError';
  }
}
/**
 * A vault object is in S3 Glacier Deep Archive or Flexible Retrieval: a restore from archive is under way
 * (started by this read, or by an earlier one) and the object can be read in about `readyInHours`. Not a
 * verdict on the backup and never recorded as one: read it again then. Plans retry on this name.
 */
export class ArchiveRestoreInProgressError extends named('ArchiveRestoreInProgressError', true) {
  readonly details: ArchiveRestoreDetails;
  constructor(message: string, details: ArchiveRestoreDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }
}
export interface ArchiveRestoreDetails {
  readonly key: string;
  /** `DEEP_ARCHIVE` or `GLACIER` (Flexible Retrieval). */
  readonly storageClass: string;
  /** The retrieval tier of the restore: `Standard` or `Bulk`. */
  readonly tier: string;
  /** The longest the tier takes, in hours (AWS's stated upper bound). */
  readonly readyInHours: number;
  /** Whether this read started the restore (else one already running was found). */
  readonly startedNow: boolean;
}
/** The payload could not be encrypted (the keyring could not make or wrap a data key). */
export class EncryptionFailedError extends named('EncryptionFailedError') {}
/** The restored (temporary) database cannot be reached: network, DNS, TLS or a lost connection. Retry may succeed. */
export class RestoreTargetUnreachableError extends named('RestoreTargetUnreachableError', true) {}
/** The restored database rejected the source's credentials (e.g. the secret was rotated after the snapshot). */
export class RestoreTargetLoginFailedError extends named('RestoreTargetLoginFailedError') {}
/** A backup failed verification (checksum, decryption, structure, restore test, row counts or SQL checks); the message is the first failure. */
export class VerificationFailedError extends named('VerificationFailedError') {}
/** A verification result to be written does not fit the verification format (a bug in its producer, never user input). */
export class VerificationResultInvalidError extends named('VerificationResultInvalidError') {}
/** The alert topic refused or did not receive a publish (throttling, a network failure). Retry may succeed. */
export class AlertPublishFailedError extends named('AlertPublishFailedError', true) {}
/** RDS refused a snapshot because the instance or cluster is busy (another snapshot or backup running, or a modification). Retry with back-off. */
export class SnapshotAlreadyRunningError extends named('SnapshotAlreadyRunningError', true) {}
/** The region's manual snapshot quota is reached: retrying does not help; retention or a quota increase does. */
export class SnapshotQuotaExceededError extends named('SnapshotQuotaExceededError') {}
/** An RDS snapshot or its cross-region copy failed (status `failed`, or it vanished while being made). */
export class SnapshotFailedError extends named('SnapshotFailedError') {}
/** A snapshot is not `available` yet for a step that needs it to be. Retry after waiting. */
export class SnapshotNotReadyError extends named('SnapshotNotReadyError', true) {}
/** The run's time (a Lambda invocation's) ran out before the work could finish; it cleaned up, kept nothing, and a longer runner may take it over. */
export class OutOfTimeError extends named('OutOfTimeError') {}

/** Too many snapshot copies are in flight to the DR region (Lifeboat's limit or RDS's own). Retry with back-off. */
export class SnapshotCopyQuotaError extends named('SnapshotCopyQuotaError', true) {}
/** The air-gapped account's snapshot copier could not copy (or tidy) some shared snapshots; the rest were done and the message names each. */
export class AirGapSnapshotCopyError extends named('AirGapSnapshotCopyError', true) {}
/** Something already holds this backup's name (a snapshot or a DR manifest) and it is not this backup. */
export class BackupConflictError extends named('BackupConflictError') {}
/** Retention ran but could not delete or read something; the rest was pruned and the report names what failed. */
export class PruneIncompleteError extends named('PruneIncompleteError') {}
/** No restorable backup fits a DR step: none of the source's backups in the vault is verified (at or before the point in time asked for). */
export class NoRecoveryPointError extends named('NoRecoveryPointError') {}
/** A DR plan's validate step found the restored database wrong (a table, a row count or a SQL check); the message names each failed check. */
export class ValidationFailedError extends named('ValidationFailedError') {}
/** A read replica promotion or an Aurora global database failover failed or went to a state it never leaves. */
export class FailoverFailedError extends named('FailoverFailedError') {}
