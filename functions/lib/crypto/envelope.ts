/**
 * Encryption of backup payloads with the AWS Encryption SDK message format: a fresh data key per
 * backup, wrapped by the keyring; key commitment required both ways; 1 MiB frames (several times
 * faster than the SDK's 4 KiB default, and a frame's plaintext is released only once its tag checks).
 * The encryption context names the source and backup, is bound into every data key wrap, and is
 * compared on decrypt, so a payload moved under another backup's manifest does not decrypt.
 */
import { Duplex, type Readable, type Writable } from 'node:stream';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  type EncryptionContext,
  type MessageHeader,
} from '@aws-crypto/client-node';
import { DecryptionFailedError, EncryptionFailedError, LifeboatError, WrongKeyError } from '../errors.ts';
import type { BackupKeyring, KeyringDescription } from './keyring.ts';

const { encryptStream, decryptStream } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

export const FRAME_LENGTH = 1024 * 1024;
/**
 * Committing AES-256-GCM without the ECDSA signature: integrity of the stored bytes is already pinned
 * by the SHA-256 in the (Object-Locked) manifest, and the signature would add a second full-payload hash.
 */
export const ALGORITHM_SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
/** A backup payload has exactly one data key per keyring key; more would be a malformed or hostile message. */
const MAX_ENCRYPTED_DATA_KEYS = 10;

export const CONTEXT_SOURCE = 'lifeboat:source';
export const CONTEXT_BACKUP = 'lifeboat:backup';

export function backupEncryptionContext(sourceId: string, backupId: string): Record<string, string> {
  return { [CONTEXT_SOURCE]: sourceId, [CONTEXT_BACKUP]: backupId };
}

/** The manifest's `encryption` block for a payload made by {@link createEncryptStream}. */
export interface EncryptionDescription {
  scheme: 'aws-encryption-sdk';
  algorithmSuite: string;
  frameLength: number;
  keyring: KeyringDescription;
  encryptionContext: Record<string, string>;
}

export function describeEncryption(keyring: BackupKeyring, encryptionContext: Record<string, string>): EncryptionDescription {
  return {
    scheme: 'aws-encryption-sdk',
    algorithmSuite: AlgorithmSuiteIdentifier[ALGORITHM_SUITE],
    frameLength: FRAME_LENGTH,
    keyring: keyring.description,
    encryptionContext: { ...encryptionContext },
  };
}

/** Plaintext in, Encryption SDK message out. Failures (e.g. KMS refusing GenerateDataKey) are `EncryptionFailedError`. */
export function createEncryptStream(keyring: BackupKeyring, encryptionContext: Record<string, string>): Duplex {
  const inner = encryptStream(keyring.keyring, {
    suiteId: ALGORITHM_SUITE,
    frameLength: FRAME_LENGTH,
    encryptionContext,
  });
  return new ForwardingDuplex(
    inner,
    (cause) =>
      cause instanceof LifeboatError ? cause : new EncryptionFailedError(`Encryption failed: ${messageOf(cause)}`, { cause }),
    () => true,
    // The SDK pipes its internal encrypt and signature streams without a callback, so destroying them
    // mid-message rethrows "Premature close" as an uncaught exception. Ending the message is harmless.
    'end',
  );
}

/**
 * Encryption SDK message in, plaintext out. Fails with `DecryptionFailedError` (the SDK's error as
 * `cause`) when no keyring key can unwrap the data key, a frame fails authentication, the message is
 * truncated, or its encryption context differs from `expectedContext`; no plaintext is released before
 * the context is checked.
 */
export function createDecryptStream(keyring: BackupKeyring, expectedContext: Record<string, string>): Duplex {
  const inner = decryptStream(keyring.keyring, { maxBodySize: undefined });
  let contextChecked = false;
  const outer = new ForwardingDuplex(
    inner,
    (cause) =>
      cause instanceof LifeboatError ? cause : new DecryptionFailedError(`Decryption failed: ${messageOf(cause)}`, { cause }),
    () => contextChecked,
  );
  inner.once('MessageHeader', (header: MessageHeader) => {
    const problem = contextProblem(header.encryptionContext, expectedContext);
    if (problem) {
      outer.destroy(new DecryptionFailedError(`Decryption refused: the payload's encryption context ${problem}`));
    } else {
      contextChecked = true;
    }
  });
  return outer;
}

/** Keys the SDK adds itself (e.g. `aws-crypto-public-key` for signing suites) are not ours to compare. */
function contextProblem(actual: EncryptionContext, expected: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(expected)) {
    if (actual[key] === undefined) return `lacks "${key}"`;
    if (actual[key] !== value) return `has ${key}="${actual[key]}", expected "${value}"`;
  }
  for (const key of Object.keys(actual)) {
    if (!(key in expected) && !key.startsWith('aws-crypto-')) return `has an unexpected entry "${key}"`;
  }
  return undefined;
}

/**
 * Wraps one of the SDK's (duplexify-based) streams in a plain Node Duplex so that its errors surface
 * under our names and `stream.pipeline` tears it down like any other stage.
 */
class ForwardingDuplex extends Duplex {
  readonly #inner: Duplex;
  readonly #abandon: 'destroy' | 'end';

  constructor(
    inner: Duplex,
    rename: (error: unknown) => Error,
    mayRelease: () => boolean = () => true,
    abandon: 'destroy' | 'end' = 'destroy',
  ) {
    super();
    this.#inner = inner;
    this.#abandon = abandon;
    inner.on('data', (chunk: Buffer) => {
      if (!mayRelease()) {
        this.destroy(new DecryptionFailedError('Decryption failed: plaintext arrived before the message header'));
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    // The SDK's stream can emit several errors for one failure (its inner pipeline, then duplexify's
    // own teardown); every one needs a listener, or the process dies of an uncaught exception.
    inner.on('error', (error) => this.destroy(rename(error)));
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if ((this.#inner as Writable).write(chunk)) callback();
    else this.#inner.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const inner = this.#inner;
    if (this.#abandon === 'destroy') {
      (inner as Readable).destroy();
    } else {
      // Let the SDK finish into the void; its output is no longer wanted.
      inner.removeAllListeners('data');
      inner.resume();
      if (!(inner as Writable).writableEnded) inner.end();
    }
    callback(error);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The Encryption SDK's words for "no keyring key unwrapped the data key" (raw AES: the name fits, the
 * material does not; KMS: the key refused or denied). A frame failing authentication after the key
 * unwrapped reads differently, and is damage to the payload.
 */
export function isUnwrapFailure(error: unknown): boolean {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++, current = current.cause) {
    if (/unencryptedDataKey has not been set|Unable to decrypt data key/.test(current.message)) return true;
  }
  return false;
}

/**
 * The key given cannot unwrap the data key of a backup whose stored bytes match its manifest: an operator's
 * error (exit 2), never a fault of the backup. `consequence` says what was not done (`nothing was restored`).
 */
export function wrongKeyError(backupId: string, cause: unknown, consequence: string): WrongKeyError {
  return new WrongKeyError(
    `The key given cannot unwrap the data key of backup ${backupId}, whose stored bytes match its manifest: ` +
      `it is not the key the backup was encrypted with (or it may not be used to decrypt${kmsRefusal(cause)}); ${consequence}`,
    { cause },
  );
}

/** What KMS said when it refused (`: AccessDeniedException: … kms:Decrypt …`), found along the cause chain; empty when it was not KMS. */
function kmsRefusal(error: unknown): string {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 6; depth++, current = current.cause) {
    if (/Exception$/.test(current.name)) return `: KMS answered ${current.name}: ${current.message}`;
    const said = /\b(\w+Exception)\b:?\s*(.*)$/s.exec(current.message);
    if (said) return `: KMS answered ${said[1]}: ${said[2]!.trim()}`;
  }
  return '';
}
