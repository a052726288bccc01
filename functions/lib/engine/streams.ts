/** Stream stages that tie the payload pipelines to the dump and restore processes. */
import { Transform, type TransformCallback } from 'node:stream';
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
