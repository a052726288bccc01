/**
 * Packs: many zstd-compressed chunks appended into one object, encrypted as one Encryption SDK message (one
 * data key per pack, so KMS is called once per pack, not per chunk). Writers stream into the store while
 * chunks arrive; readers stream a pack and skip to the chunks they want. Neither holds a pack in memory.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, createEncryptStream } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { SizeMismatchError } from '../errors.ts';
import type { VaultStore } from '../vault/store.ts';
import { packContext, packKey } from './format.ts';
import { HashTap } from './sealed.ts';

/** Packs close once this many (compressed) bytes are in them: 16 MiB keeps single-file restores cheap. */
export const DEFAULT_PACK_BYTES = 16 * 1024 * 1024;

export interface WrittenPack {
  readonly pack: string;
  readonly storedBytes: number;
  readonly sha256: string;
}

/** One pack being written. `add` returns the chunk's offset in the decrypted pack. */
export class PackWriter {
  readonly name: string;
  readonly #encrypt;
  readonly #tap = new HashTap();
  readonly #upload: Promise<{ bytes: number }>;
  #failed: Error | undefined;
  #offset = 0;

  constructor(store: VaultStore, keyring: BackupKeyring, sourceId: string, name: string) {
    this.name = name;
    this.#encrypt = createEncryptStream(keyring, packContext(sourceId, name));
    this.#encrypt.on('error', (error: Error) => this.#tap.destroy(error));
    this.#encrypt.pipe(this.#tap);
    this.#upload = store.putStream(packKey(sourceId, name), this.#tap);
    this.#upload.catch((error: Error) => {
      this.#failed = error;
      this.#encrypt.destroy();
    });
  }

  /** Bytes appended so far. */
  get bytes(): number {
    return this.#offset;
  }

  async add(compressed: Buffer): Promise<number> {
    if (this.#failed) throw this.#failed;
    const offset = this.#offset;
    this.#offset += compressed.byteLength;
    if (!this.#encrypt.write(compressed)) {
      // Back-pressure from the store: wait, unless the upload has failed.
      await Promise.race([once(this.#encrypt, 'drain'), this.#upload.then(() => undefined)]);
      if (this.#failed) throw this.#failed;
    }
    return offset;
  }

  async finish(): Promise<WrittenPack> {
    this.#encrypt.end();
    await this.#upload;
    return { pack: this.name, storedBytes: this.#tap.bytes, sha256: this.#tap.digest() };
  }

  /** Stops writing; the store leaves nothing under the pack's key. */
  async abort(): Promise<void> {
    this.#encrypt.destroy();
    this.#tap.destroy(new Error('pack abandoned'));
    await this.#upload.catch(() => undefined);
  }
}

/** Reads exact byte counts from a stream. */
export class ByteReader {
  readonly #iterator: AsyncIterator<Buffer>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  position = 0;

  constructor(stream: Readable) {
    this.#iterator = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async #fill(bytes: number): Promise<boolean> {
    while (this.#pendingBytes < bytes) {
      const next = await this.#iterator.next();
      if (next.done) return false;
      this.#pending.push(next.value);
      this.#pendingBytes += next.value.byteLength;
    }
    return true;
  }

  /** `length` bytes, or a `SizeMismatchError` naming `label` if the stream ends first. */
  async read(length: number, label: string): Promise<Buffer> {
    if (!(await this.#fill(length))) throw new SizeMismatchError(`${label}: ends at byte ${this.position + this.#pendingBytes}, before ${this.position + length}`);
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    const out = all.subarray(0, length);
    const rest = all.subarray(length);
    this.#pending = rest.byteLength > 0 ? [rest] : [];
    this.#pendingBytes = rest.byteLength;
    this.position += length;
    return out;
  }

  async skip(length: number, label: string): Promise<void> {
    let left = length;
    while (left > 0) {
      if (this.#pendingBytes === 0 && !(await this.#fill(1))) throw new SizeMismatchError(`${label}: ends at byte ${this.position}, before ${this.position + left}`);
      const head = this.#pending[0]!;
      if (head.byteLength <= left) {
        this.#pending.shift();
        this.#pendingBytes -= head.byteLength;
        left -= head.byteLength;
        this.position += head.byteLength;
      } else {
        this.#pending[0] = head.subarray(left);
        this.#pendingBytes -= left;
        this.position += left;
        left = 0;
      }
    }
  }

  /** Reads to the end; returns how many bytes were left. */
  async drain(): Promise<number> {
    let bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (let next = await this.#iterator.next(); !next.done; next = await this.#iterator.next()) bytes += next.value.byteLength;
    this.position += bytes;
    return bytes;
  }

  async close(): Promise<void> {
    await this.#iterator.return?.();
  }
}

/** A pack opened for reading: stored bytes hashed, decrypted plaintext read by offset. */
export interface OpenPack {
  readonly name: string;
  readonly reader: ByteReader;
  readonly tap: HashTap;
  readonly done: Promise<void>;
}

export async function openPack(store: VaultStore, keyring: BackupKeyring, sourceId: string, name: string): Promise<OpenPack> {
  const stored = await store.getStream(packKey(sourceId, name));
  const tap = new HashTap();
  const decrypt = createDecryptStream(keyring, packContext(sourceId, name));
  // Tears every stage down together, also when a reader stops early (destroying the decrypt stream).
  const done = pipeline(stored, tap, decrypt);
  done.catch(() => undefined);
  return { name, reader: new ByteReader(decrypt), tap, done };
}

/**
 * Reads chunks in any order through one open pack at a time: a read at or after the current position of
 * the same pack skips forward; anything else opens the pack again. Reading a snapshot's files in
 * pack/offset order therefore reads each pack once.
 */
export class PackCursor {
  #open: OpenPack | undefined;
  constructor(
    private readonly store: VaultStore,
    private readonly keyring: BackupKeyring,
    private readonly sourceId: string,
  ) {}

  async read(pack: string, offset: number, length: number): Promise<Buffer> {
    const label = `pack ${pack}`;
    if (!this.#open || this.#open.name !== pack || this.#open.reader.position > offset) {
      await this.close();
      this.#open = await openPack(this.store, this.keyring, this.sourceId, pack);
    }
    const reader = this.#open.reader;
    await reader.skip(offset - reader.position, label);
    return reader.read(length, label);
  }

  async close(): Promise<void> {
    const open = this.#open;
    this.#open = undefined;
    if (open) await open.reader.close().catch(() => undefined);
  }
}
