/**
 * One streamed pass over a stored payload, the way verification reads it:
 *
 *   store.getStream ─▶ SHA-256 + byte count ─▶ Encryption SDK decrypt ─▶ zstd ─▶ raw byte count ─▶ fan-out ─▶ consumers
 *                                                                                                       (structure check, restore test)
 *
 * Unlike a restore, a failure downstream does not stop the pass: the stored bytes are still read to the
 * end and hashed, so a damaged payload is reported with its real size and digest, and the checksum
 * check never depends on where decryption gave up. Consumers may stop reading early (pg_restore --list
 * is done once it has the table of contents); the fan-out drops them and goes on, so every frame is
 * still authenticated and the zstd checksum still checked. Nothing is buffered beyond stream chunks.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressStream } from '../codec/zstd.ts';
import { createDecryptStream } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';

/** Something that reads the decompressed dump: a tool's stdin, or an in-process check. */
export interface RawConsumer {
  readonly input: Writable;
  /** Stops it at once: the payload failed a check upstream, so what it got so far must not count. */
  abort(): void;
}

export interface PassOptions {
  readonly source: Readable;
  /** How to open the payload; without it the pass only hashes (the key is known not to fit). */
  readonly decrypt?: { readonly keyring: BackupKeyring; readonly encryptionContext: Record<string, string> };
  readonly consumers: readonly RawConsumer[];
}

export interface PassOutcome {
  readonly storedBytes: number;
  /** Lowercase hex SHA-256 of every stored byte read. */
  readonly sha256: string;
  /** Milliseconds from the start of the pass until the last stored byte was hashed. */
  readonly storedMs: number;
  /** Absent when the pass did not decrypt. */
  readonly opened?: {
    /** The first failure of decryption or decompression; absent when the payload opened whole. */
    readonly error?: unknown;
    readonly rawBytes: number;
    readonly ms: number;
  };
}

/**
 * Runs the pass. Rejects only when the stored bytes cannot be read (a store or network failure: nothing
 * is known about the backup then); every integrity failure is in the outcome instead.
 */
export async function streamPayload(options: PassOptions): Promise<PassOutcome> {
  const started = performance.now();
  const hash = createHash('sha256');
  let storedBytes = 0;
  const abortConsumers = () => options.consumers.forEach((consumer) => consumer.abort());

  let opened: { input: Writable; raw: ByteCount; settled: Promise<void>; error: () => unknown } | undefined;
  if (options.decrypt) {
    const decrypt = createDecryptStream(options.decrypt.keyring, options.decrypt.encryptionContext);
    const decompress = createDecompressStream();
    const raw = new ByteCount();
    let first: unknown;
    const fail = (error: unknown) => {
      if (first !== undefined) return;
      first = error;
      abortConsumers();
    };
    // Registered before pipeline() registers its own, so the first failure is the one kept.
    for (const stage of [decrypt, decompress, raw]) stage.on('error', fail);
    const settled = pipeline(decrypt, decompress, raw, new FanOut(options.consumers.map((c) => c.input))).catch(fail);
    opened = { input: decrypt, raw, settled, error: () => first };
  }

  try {
    for await (const chunk of options.source) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      storedBytes += bytes.length;
      const input = opened?.input;
      if (input && !input.destroyed && !input.write(bytes)) await writable(input);
    }
  } catch (error) {
    opened?.input.destroy();
    abortConsumers();
    await opened?.settled;
    throw error;
  }
  const storedMs = performance.now() - started;
  if (!opened) return { storedBytes, sha256: hash.digest('hex'), storedMs };

  if (!opened.input.destroyed) opened.input.end();
  await opened.settled;
  const error = opened.error();
  return {
    storedBytes,
    sha256: hash.digest('hex'),
    storedMs,
    opened: { ...(error === undefined ? {} : { error }), rawBytes: opened.raw.bytes, ms: performance.now() - started },
  };
}

/** Resolves once `stream` can take more, or has failed or closed (the caller then stops writing to it). */
function writable(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

class ByteCount extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Writes every chunk to each target, waiting for the slowest; a target that fails or closes (a tool
 * that exited, EPIPE) is dropped and never fails the fan-out, whose job is to keep the pass going to
 * the end. What a dropped target means is for its owner to judge (from the tool's exit status).
 */
class FanOut extends Writable {
  readonly #targets: Set<Writable>;

  constructor(targets: readonly Writable[]) {
    super();
    this.#targets = new Set(targets);
    for (const target of targets) {
      // A tool's stdin reports EPIPE once the tool has gone; without a listener that would crash the process.
      target.on('error', () => this.#targets.delete(target));
      target.on('close', () => this.#targets.delete(target));
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const waits: Promise<void>[] = [];
    for (const target of this.#targets) {
      if (target.destroyed || target.writableEnded) {
        this.#targets.delete(target);
        continue;
      }
      if (!target.write(chunk)) waits.push(writable(target));
    }
    if (waits.length === 0) callback();
    else void Promise.all(waits).then(() => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    for (const target of this.#targets) if (!target.destroyed && !target.writableEnded) target.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Torn down by an upstream failure: the consumers are aborted by their owner; leave their stdin to close with them.
    this.#targets.clear();
    callback(error);
  }
}

