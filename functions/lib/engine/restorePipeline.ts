/**
 * The back of a restore pipeline: from the decrypted (still compressed) bytes into the restore tool. Two
 * ways, for the same frames (engine/zstdTool.ts says why the first is preferred):
 *
 *   zstd process   hold back the last 64 KiB ─▶ zstd -d ──(pipe)──▶ restore tool
 *   in-process     zstd (codec/zstd.ts) ─▶ raw byte count ─▶ hold back the last chunk ─▶ restore tool
 *
 * Either way the restore tool cannot get the last raw bytes before every check upstream (stored-bytes hash,
 * frame authentication) has passed (streams.ts, HoldBackTail and HoldBackLast). In-process, the zstd
 * checksum is also checked before; with the process, zstd checks it as it ends, after writing the last
 * block: it guards only against a frame Lifeboat itself wrote wrong, since authentication covers every byte
 * zstd reads.
 */
import type { Transform, Writable } from 'node:stream';
import { createDecompressStream } from '../codec/zstd.ts';
import { type RunningTool, spawnTool, type ToolExit } from './process.ts';
import { ByteCounter } from './progress.ts';
import { HoldBackLast, HoldBackTail } from './streams.ts';
import { resolveZstdRunner, spawnZstdDecompress, type ZstdRunner } from './zstdTool.ts';

/** Compressed bytes withheld from zstd until the checks upstream pass: far above the 8 that suffice (HoldBackTail). */
const HELD_COMPRESSED_BYTES = 64 * 1024;

export interface RestoreBack {
  /** The restore tool itself (pg_restore): its exit status and stderr decide a failure not found upstream. */
  readonly tool: RunningTool<unknown, 'ignore'>;
  /** From decompression on, ending in a writable: append after the decrypt stage. */
  readonly stages: (Transform | Writable)[];
  readonly runner: ZstdRunner;
  /** Stops the restore tool first (so it never sees a clean end of input), then zstd. */
  kill(): void;
  /** Raw bytes given to the restore tool so far (progress). */
  rawBytesSoFar(): number;
  /** Once both have exited: zstd's failure as a `DecompressionFailedError`, if it failed, and the restore tool's exit. */
  settled(): Promise<{ decompression?: Error; exit: ToolExit & { spawnError?: Error } }>;
}

export async function startRestoreTool(options: {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly zstd?: ZstdRunner | undefined;
  readonly onChunk: () => void;
}): Promise<RestoreBack> {
  const runner = await resolveZstdRunner(options.zstd);
  const tool = spawnTool(options.command, options.args, { env: options.env, stdin: 'pipe', stdout: 'ignore' });
  if (runner === 'in-process') {
    const raw = new ByteCounter(options.onChunk);
    return {
      tool,
      runner,
      stages: [createDecompressStream(), raw, new HoldBackLast(), tool.child.stdin],
      kill: () => tool.kill(),
      rawBytesSoFar: () => raw.bytes,
      settled: async () => ({ exit: await tool.exited }),
    };
  }
  let zstd;
  try {
    zstd = spawnZstdDecompress(tool.child.stdin);
  } finally {
    // zstd holds its own copy of the pipe (or never started): the restore tool sees the end when zstd exits.
    tool.child.stdin.destroy();
  }
  const started = zstd;
  const tick = new ByteCounter(options.onChunk);
  return {
    tool,
    runner,
    stages: [tick, new HoldBackTail(HELD_COMPRESSED_BYTES), started.input],
    kill: () => {
      tool.kill();
      started.kill();
    },
    rawBytesSoFar: () => started.bytesWritten(),
    settled: async () => {
      const [decompression, exit] = await Promise.all([started.failure(), tool.exited]);
      return decompression ? { decompression, exit } : { exit };
    },
  };
}
