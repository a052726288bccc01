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
import { CHUNK_ID_KEY_NAME, chunkIdKeyContext, chunkIdKeyKey, chunkIdKeyObjectKey } from './format.ts';

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
 * execution), so two first backups never race to create it. `created` says whether this call made it (then it is
 * wrapped under every key of `keyring`).
 */
export async function loadOrCreateChunkIdKey(store: VaultStore, keyring: BackupKeyring, sourceId: string): Promise<{ secret: Buffer; created: boolean }> {
  const key = chunkIdKeyKey(sourceId);
  try {
    return { secret: await loadChunkIdKey(store, keyring, sourceId), created: false };
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
  const secret = randomBytes(32);
  await store.putObject(key, await sealBytes(keyring, chunkIdKeyContext(sourceId), secret));
  return { secret, created: true };
}

/**
 * The chunk-id key object a snapshot written with `keyring` names (manifest `chunkIdKey`, format 1.1): every object
 * of a snapshot must open with each key of its keyring, the air-gapped vault's alone included, but
 * `chunk-id-key` was sealed under the keyring of the source's first backup. When that was narrower (one key, the
 * air-gapped key added since), the same secret is sealed again under the whole keyring as
 * `chunk-id-key.<16 hex of the keyring's SHA-256>`, once per keyring. Returns `undefined` for `chunk-id-key` itself.
 */
export async function chunkIdKeyFor(store: VaultStore, keyring: BackupKeyring, sourceId: string, chunkIdKey: { secret: Buffer; created: boolean }): Promise<string | undefined> {
  const description = keyring.description;
  if (chunkIdKey.created || description.type !== 'kms' || description.keyIds.length < 2) return undefined;
  const digest = createHash('sha256').update(JSON.stringify([...description.keyIds].sort())).digest('hex').slice(0, 16);
  const name = `${CHUNK_ID_KEY_NAME}.${digest}`;
  const key = chunkIdKeyObjectKey(sourceId, name);
  if (!(await store.head(key))) await store.putObject(key, await sealBytes(keyring, chunkIdKeyContext(sourceId), chunkIdKey.secret));
  return name;
}

/** The chunk-id key from `chunk-id-key`, or from the object `name` a snapshot's manifest names. */
export async function loadChunkIdKey(store: VaultStore, keyring: BackupKeyring, sourceId: string, name: string = CHUNK_ID_KEY_NAME): Promise<Buffer> {
  const key = chunkIdKeyObjectKey(sourceId, name);
  const sealed = await store.getObject(key);
  const secret = await openBytes(keyring, chunkIdKeyContext(sourceId), sealed);
  if (secret.byteLength !== 32) throw new SizeMismatchError(`${key}: the chunk-id key is ${secret.byteLength} bytes, expected 32`);
  return secret;
}
