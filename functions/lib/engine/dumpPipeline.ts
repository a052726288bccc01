/**
 * The front of every dump pipeline: the dump tool and its compression, ending in compressed bytes for the
 * Encryption SDK. Two ways, the same frames (engine/zstdTool.ts says why the first is preferred):
 *
 *   zstd process   dump tool ──(pipe)──▶ zstd -<level> ─▶ exit gate (both) ─▶ compressed byte count
 *   in-process     dump tool ─▶ exit gate ─▶ (inspector) ─▶ raw byte count ─▶ zstd (codec/zstd.ts)
 *
 * An inspector (MySQL's row counter reads the raw dump) needs the raw bytes in this process, so it always
 * takes the in-process way.
 */
import { type Readable, type Transform } from 'node:stream';
import { createCompressStream } from '../codec/zstd.ts';
import { DumpFailedError } from '../errors.ts';
import { describeExit, type RunningTool, spawnTool, type ToolExit } from './process.ts';
import { ByteCounter } from './progress.ts';
import { ExitGate, SettledGate } from './streams.ts';
import { resolveZstdRunner, spawnZstdCompress, type ZstdRunner } from './zstdTool.ts';

export interface DumpFrontOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly level: number;
  /** @default the `zstd` command when installed (see zstdTool.ts) */
  readonly zstd?: ZstdRunner | undefined;
  /** A stage that must see the raw dump (forces the in-process codec). */
  readonly inspector?: Transform | undefined;
  /** The error for a dump tool that exited badly. */
  readonly dumpFailed: (exit: string, stderr: string) => Error;
  /** Called on every chunk (progress). */
  readonly onChunk: () => void;
}

export interface DumpFront {
  /** The processes started: kill them all on failure. */
  readonly tools: readonly RunningTool<unknown, unknown>[];
  /** From the dump tool's output to compressed bytes; the caller appends encryption, hashing and the store. */
  readonly stages: (Readable | Transform)[];
  readonly runner: ZstdRunner;
  /** Raw bytes so far, for progress. */
  rawBytesSoFar(): number;
  /** Raw bytes the dump tool wrote; exact once the stages ended cleanly (may throw `DumpFailedError` with the zstd process). */
  rawBytes(): number;
}

/** Starts the dump tool (and zstd, when it runs as a process) and returns the stages up to compressed bytes. */
export async function startDump(options: DumpFrontOptions): Promise<DumpFront> {
  const runner = options.inspector ? 'in-process' : await resolveZstdRunner(options.zstd);
  const gate = (tool: RunningTool<unknown, unknown>) =>
    new ExitGate(tool, (exit: ToolExit & { spawnError?: Error }) => options.dumpFailed(describeExit(options.command, exit), tool.stderrTail()));

  if (runner === 'in-process') {
    const tool = spawnTool(options.command, options.args, { env: options.env, stdin: 'ignore', stdout: 'pipe' });
    const raw = new ByteCounter(options.onChunk);
    return {
      tools: [tool],
      runner,
      stages: [tool.child.stdout, gate(tool), ...(options.inspector ? [options.inspector] : []), raw, createCompressStream({ level: options.level })],
      rawBytesSoFar: () => raw.bytes,
      rawBytes: () => raw.bytes,
    };
  }

  const zstd = spawnZstdCompress(options.level);
  let tool: RunningTool<'ignore', unknown>;
  try {
    tool = spawnTool(options.command, options.args, { env: options.env, stdin: 'ignore', stdout: zstd.input });
  } finally {
    // The dump tool holds its own copy of the pipe now (or never started): zstd sees the end when it exits.
    zstd.closeInput();
  }
  const compressed = new ByteCounter(options.onChunk);
  // One verdict on both exits. Whichever failed first is named: a dump that died mid-stream leaves zstd to end
  // cleanly on a short input; a zstd that died leaves the dump tool nowhere to write, so it is stopped at once.
  let firstFailure: 'dump' | 'zstd' | undefined;
  void tool.exited.then((exit) => {
    if (exit.code !== 0) firstFailure ??= 'dump';
  });
  void zstd.tool.exited.then((exit) => {
    if (exit.code === 0) return;
    firstFailure ??= 'zstd';
    tool.kill();
  });
  const verdict = async (): Promise<Error | undefined> => {
    const [dumpExit, zstdExit] = await Promise.all([tool.exited, zstd.tool.exited]);
    if (dumpExit.code === 0 && zstdExit.code === 0) return undefined;
    // A write into the pipe of a zstd already gone: EPIPE, or ECONNRESET where the pipe is a socket pair (libuv's).
    const brokenPipe = dumpExit.signal === 'SIGPIPE' || /broken pipe|connection reset/i.test(tool.stderrTail());
    if (zstdExit.code !== 0 && (firstFailure === 'zstd' || dumpExit.code === 0 || brokenPipe)) {
      const said = zstd.tool.stderrTail().split('\n').filter((line) => /^zstd: /.test(line)).join('; ');
      return new DumpFailedError(`Compressing the dump failed: ${describeExit('zstd', zstdExit)}${said === '' ? '' : `: ${said}`}`);
    }
    return options.dumpFailed(describeExit(options.command, dumpExit), tool.stderrTail());
  };
  let exact: number | undefined;
  return {
    tools: [tool, zstd.tool],
    runner,
    stages: [zstd.output, new SettledGate(verdict), compressed],
    rawBytesSoFar: () => exact ?? zstd.rawBytesSoFar(),
    rawBytes: () => (exact ??= zstd.rawBytes(compressed.bytes)),
  };
}
