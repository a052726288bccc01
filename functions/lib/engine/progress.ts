/** Byte counting and progress reports for the payload pipelines. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Progress {
  readonly phase: 'backup' | 'restore';
  /** Uncompressed dump bytes so far (what the dump tool wrote, or what the restore tool has been given). */
  readonly rawBytes: number;
  /** Stored (compressed, encrypted) bytes so far. */
  readonly storedBytes: number;
  readonly elapsedMs: number;
  /** Raw bytes per second since the start. */
  readonly rawBytesPerSecond: number;
  /** True once, on the last report. */
  readonly done: boolean;
}

export type ProgressListener = (progress: Progress) => void;

/** Counts bytes passing through. */
export class ByteCounter extends Transform {
  bytes = 0;
  readonly #onChunk: (() => void) | undefined;

  constructor(onChunk?: () => void) {
    super();
    this.#onChunk = onChunk;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#onChunk?.();
    callback(null, chunk);
  }
}

/** Counts bytes and hashes them with SHA-256 on their way through. */
export class HashingCounter extends Transform {
  bytes = 0;
  readonly #hash: Hash = createHash('sha256');
  #digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  /** Lowercase hex SHA-256 of everything seen; call once the stream has ended. */
  digest(): string {
    this.#digest ??= this.#hash.digest('hex');
    return this.#digest;
  }
}

/**
 * Calls `listener` at most every `intervalMs` while bytes flow, and once more with `done: true`
 * from {@link ProgressMeter.finish}. A listener that throws is ignored: progress never breaks a backup.
 */
export class ProgressMeter {
  readonly #started = Date.now();
  #last = 0;

  constructor(
    private readonly phase: Progress['phase'],
    private readonly read: () => { rawBytes: number; storedBytes: number },
    private readonly listener: ProgressListener | undefined,
    private readonly intervalMs = 1000,
  ) {}

  /** Call on every chunk; cheap when no report is due. */
  tick = (): void => {
    if (!this.listener) return;
    const now = Date.now();
    if (now - this.#last < this.intervalMs) return;
    this.#last = now;
    this.#emit(false, now);
  };

  finish(): void {
    if (this.listener) this.#emit(true, Date.now());
  }

  #emit(done: boolean, now: number): void {
    const { rawBytes, storedBytes } = this.read();
    const elapsedMs = now - this.#started;
    try {
      this.listener?.({
        phase: this.phase,
        rawBytes,
        storedBytes,
        elapsedMs,
        rawBytesPerSecond: elapsedMs > 0 ? (rawBytes * 1000) / elapsedMs : 0,
        done,
      });
    } catch {
      // A broken progress display must not fail a backup or a restore.
    }
  }
}
