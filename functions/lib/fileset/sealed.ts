/**
 * Encrypted objects of a file set other than packs: the chunk-id key, and the `index` and `files` lists
 * (JSON lines, zstd-compressed, one Encryption SDK message each, streamed both ways).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressStream, createDecompressStream } from '../codec/zstd.ts';
import { createDecryptStream, createEncryptStream } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { ChecksumMismatchError, ObjectNotFoundError, SizeMismatchError } from '../errors.ts';
import type { VaultStore } from '../vault/store.ts';
import { chunkIdKeyContext, chunkIdKeyKey } from './format.ts';

/** Counts and hashes the bytes passing through (the stored bytes of an object). */
export class HashTap extends Transform {
  readonly #hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.byteLength;
    callback(null, chunk);
  }
  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Writes `lines` as one encrypted, compressed object; returns what the manifest records of it. */
export async function putSealedLines(
  store: VaultStore,
  key: string,
  keyring: BackupKeyring,
  context: Record<string, string>,
  lines: Iterable<string>,
): Promise<{ storedBytes: number; sha256: string; entries: number }> {
  let entries = 0;
  const source = Readable.from(
    (function* () {
      for (const line of lines) {
        entries++;
        yield `${line}\n`;
      }
    })(),
  );
  const tap = new HashTap();
  const body = new PassThrough();
  const upload = store.putStream(key, body);
  await Promise.all([pipeline(source, createCompressStream({ level: 3 }), createEncryptStream(keyring, context), tap, body), upload]);
  return { storedBytes: tap.bytes, sha256: tap.digest(), entries };
}

/**
 * Reads an object written by {@link putSealedLines}, line by line. Its stored size and SHA-256 are checked
 * against `expected` when the stream ends; a mismatch fails the iteration.
 */
export async function* readSealedLines(
  store: VaultStore,
  key: string,
  keyring: BackupKeyring,
  context: Record<string, string>,
  expected: { storedBytes: number; sha256: string },
): AsyncGenerator<string> {
  const tap = new HashTap();
  const stored = await store.getStream(key);
  const plain = new PassThrough();
  const done = pipeline(stored, tap, createDecryptStream(keyring, context), createDecompressStream(), plain);
  done.catch(() => undefined);
  for await (const line of createInterface({ input: plain, crlfDelay: Infinity })) {
    if (line !== '') yield line;
  }
  await done;
  if (tap.bytes !== expected.storedBytes) throw new SizeMismatchError(`${key}: ${tap.bytes} bytes stored, the manifest says ${expected.storedBytes}`);
  const digest = tap.digest();
  if (digest !== expected.sha256) throw new ChecksumMismatchError(`${key}: SHA-256 ${digest}, the manifest says ${expected.sha256}`);
}

async function sealBytes(keyring: BackupKeyring, context: Record<string, string>, data: Uint8Array): Promise<Buffer> {
  const parts: Buffer[] = [];
  const encrypt = createEncryptStream(keyring, context);
  const collect = new Transform({ transform: (chunk: Buffer, _e, cb) => { parts.push(chunk); cb(); } });
  await pipeline(Readable.from([Buffer.from(data)]), encrypt, collect);
  return Buffer.concat(parts);
}

async function openBytes(keyring: BackupKeyring, context: Record<string, string>, data: Uint8Array): Promise<Buffer> {
  const parts: Buffer[] = [];
  const collect = new Transform({ transform: (chunk: Buffer, _e, cb) => { parts.push(chunk); cb(); } });
  await pipeline(Readable.from([Buffer.from(data)]), createDecryptStream(keyring, context), collect);
  return Buffer.concat(parts);
}

/**
 * The 32-byte key that names chunks (HMAC-SHA-256) and seeds the chunker: random, made on the source's first
 * file-set backup and stored encrypted under the vault key, so chunk ids reveal nothing to whoever reads the
 * vault without that key. Backups of one source run one at a time (one schedule, one state machine
 * execution), so two first backups never race to create it.
 */
export async function loadOrCreateChunkIdKey(store: VaultStore, keyring: BackupKeyring, sourceId: string): Promise<Buffer> {
  const key = chunkIdKeyKey(sourceId);
  try {
    return await loadChunkIdKey(store, keyring, sourceId);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
  const secret = randomBytes(32);
  await store.putObject(key, await sealBytes(keyring, chunkIdKeyContext(sourceId), secret));
  return secret;
}

export async function loadChunkIdKey(store: VaultStore, keyring: BackupKeyring, sourceId: string): Promise<Buffer> {
  const sealed = await store.getObject(chunkIdKeyKey(sourceId));
  const secret = await openBytes(keyring, chunkIdKeyContext(sourceId), sealed);
  if (secret.byteLength !== 32) throw new SizeMismatchError(`${chunkIdKeyKey(sourceId)}: the chunk-id key is ${secret.byteLength} bytes, expected 32`);
  return secret;
}
