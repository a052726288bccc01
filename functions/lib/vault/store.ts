import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** Where a vault lives: a local directory or an S3 bucket and prefix. Both honour the same contract. */
export interface VaultStore {
  /** Human-readable location, e.g. `s3://bucket/prefix` or `/var/backups/vault`. */
  readonly location: string;

  /**
   * Streams `body` to `key`. The object becomes visible under `key` only once every byte is stored;
   * on any failure nothing is left under `key` (multipart upload aborted, temporary file removed).
   */
  putStream(key: string, body: Readable): Promise<{ bytes: number }>;

  /** Writes a small object (manifest, verification result) whole and atomically. */
  putObject(key: string, data: Uint8Array | string): Promise<void>;

  /**
   * Writes a small object whole and atomically only if nothing is stored under `key` (S3 `If-None-Match: *`,
   * a hard link in a directory): append-only records are never overwritten. Throws `ObjectExistsError` otherwise.
   */
  createObject?(key: string, data: Uint8Array | string): Promise<void>;

  /** Opens `key` for streaming; throws `ObjectNotFoundError` if absent. */
  getStream(key: string): Promise<Readable>;

  /** Reads a small object whole; throws `ObjectNotFoundError` if absent. */
  getObject(key: string): Promise<Buffer>;

  /** Size of `key` in bytes, or `undefined` if absent. */
  head(key: string): Promise<{ bytes: number } | undefined>;

  /** Every key under `prefix`, in lexicographic order. */
  list(prefix: string): AsyncIterable<string>;

  /** Removes `key`; a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/** The size and SHA-256 of the bytes stored under `key`, streamed: what a manifest's payload entry is checked against. */
export async function storedDigest(store: Pick<VaultStore, 'getStream'>, key: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await store.getStream(key)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}
