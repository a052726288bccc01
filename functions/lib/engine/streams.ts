/** Stream stages that tie the payload pipelines to the dump and restore processes. */
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RunningTool, ToolExit } from './process.ts';

/**
 * Passes the dump tool's stdout through, but ends only once the tool has exited successfully:
 * a dump that dies (or is killed) after writing part of its output fails the pipeline, so the store
 * never commits a payload for it.
 */
export class ExitGate extends Transform {
  constructor(
    private readonly tool: Pick<RunningTool<'ignore', 'pipe'>, 'exited'>,
    private readonly onFailure: (exit: ToolExit & { spawnError?: Error }) => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.tool.exited.then(
      (exit) => callback(exit.code === 0 ? null : this.onFailure(exit)),
      (error: Error) => callback(error),
    );
  }
}

/**
 * Passes bytes through, but ends only once `settled` resolves to no error: {@link ExitGate} for a verdict that
 * needs more than one process's exit.
 */
export class SettledGate extends Transform {
  constructor(private readonly settled: () => Promise<Error | undefined>) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.settled().then(
      (error) => callback(error ?? null),
      (error: Error) => callback(error),
    );
  }
}

/**
 * Withholds the most recent chunk until its upstream has ended cleanly. Every check in the restore
 * pipeline (stored-bytes hash, frame authentication, zstd checksum) completes when its stage ends, so
 * the restore tool never receives the last bytes of a payload that failed one: it cannot finish, and
 * is killed instead, which rolls pg_restore's single transaction back.
 */
export class HoldBackLast extends Transform {
  #held: Buffer | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.#held;
    this.#held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#held);
  }
}

/**
 * Withholds the last `bytes` bytes (at least) until its upstream has ended cleanly: {@link HoldBackLast} for a
 * compressed stream on its way to a zstd process. zstd writes a block's output only once it has the whole
 * block (or, for a stored block, the bytes so far), and a frame ends with at most 7 bytes that carry no data
 * (an empty last block's 3-byte header and the 4-byte checksum). So withholding 8 bytes or more withholds at
 * least the last byte of the raw stream, and the restore tool, which needs its input whole, cannot finish.
 */
export class HoldBackTail extends Transform {
  readonly #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(private readonly bytes: number) {
    super();
    if (bytes < 8) throw new RangeError(`HoldBackTail needs at least 8 bytes to withhold, not ${bytes}`);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    // Release whole chunks from the front while what stays still covers the tail.
    while (this.#held.length > 1 && this.#heldBytes - this.#held[0]!.length >= this.bytes) {
      const first = this.#held.shift()!;
      this.#heldBytes -= first.length;
      this.push(first);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    for (const chunk of this.#held.splice(0)) this.push(chunk);
    this.#heldBytes = 0;
    callback();
  }
}

/**
 * Runs the stages and returns the first error (not whichever stage noticed last), or undefined.
 * When one of our stages fails, the tool is killed at once, before pipeline teardown closes its stdin:
 * a tool that saw a clean end of input might take a partial stream for a whole one. When the tool
 * stops reading by itself (it failed, or needs no more input), writing to it fails with EPIPE; it is
 * left to exit on its own and its exit status decides.
 */
export async function pumpIntoTool(stages: (Readable | Transform | Writable)[], killTool: () => void): Promise<unknown> {
  const stdin = stages.at(-1) as Writable;
  let first: unknown;
  const onError = (error: unknown, stage?: unknown) => {
    if (first !== undefined) return;
    first = error;
    if (stage !== stdin && !isToolGone(error)) killTool();
  };
  // Registered before pipeline() registers its own, so these run first.
  for (const stage of stages) stage.on('error', (error) => onError(error, stage));
  try {
    await pipeline(stages);
  } catch (error) {
    onError(error);
  }
  return first;
}

export function isToolGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ECONNRESET';
}

/** A sink that drops what it is given: for a pass that only hashes. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
