/**
 * zstd as a child process beside the dump and restore tools, when the `zstd` command is installed (the
 * tools image has it; a CLI host may not, and then the in-process codec of codec/zstd.ts does the work):
 *
 *   backup    pg_dump ──(pipe)──▶ zstd -1 ──▶ Lifeboat: Encryption SDK ─▶ SHA-256 ─▶ store
 *   restore   store ─▶ Lifeboat: SHA-256 ─▶ decrypt ─▶ hold back the tail ──▶ zstd -d ──(pipe)──▶ pg_restore
 *
 * The raw dump (about three times the stored bytes) then flows from one tool to the other through a pipe
 * of the operating system and never through Node: the JavaScript thread handles only compressed bytes.
 * That is what lets a backup run as fast as `pg_dump | zstd -1 | sha256sum`, and a second stream cost no
 * extra CPU: with the raw bytes in Node, each GiB also cost the garbage collector's threads (docs/
 * benchmarks.md). The frames are the same zstd frames, with the same content checksum, so either side
 * reads what the other wrote.
 *
 * Lifeboat still records the exact raw size: `zstd -vv` ends with `(<raw> B => <compressed> B, …)`, and the
 * compressed figure must equal the bytes Lifeboat received from it, or the backup fails (a zstd that
 * reports differently is never taken at its word).
 */
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { DecompressionFailedError, DumpFailedError } from '../errors.ts';
import { describeExit, type RunningTool, spawnTool, toolVersionLine } from './process.ts';

/** Which codec runs zstd: the `zstd` command as a child process, or the library inside this process. */
export type ZstdRunner = 'process' | 'in-process';

/** The oldest `zstd` whose `-vv` summary and flags this module relies on (Debian 12 has 1.5.4, AL2023 1.5.5). */
const MIN_VERSION = [1, 4, 0] as const;

let detected: Promise<ZstdRunner> | undefined;

/**
 * `process` when a `zstd` command of at least {@link MIN_VERSION} is on the PATH, else `in-process`; looked up
 * once per process.
 */
export function detectZstdRunner(): Promise<ZstdRunner> {
  detected ??= probeZstdRunner('zstd');
  return detected;
}

/** What {@link detectZstdRunner} finds for `command` (not cached). */
export function probeZstdRunner(command: string): Promise<ZstdRunner> {
  return toolVersionLine(command).then(
    (line) => (supportedVersion(line) ? 'process' : 'in-process'),
    () => 'in-process' as const,
  );
}

/** The runner asked for, else the one detected. */
export async function resolveZstdRunner(asked: ZstdRunner | undefined): Promise<ZstdRunner> {
  return asked ?? (await detectZstdRunner());
}

/** `*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***` → true when at least {@link MIN_VERSION}. */
export function supportedVersion(line: string): boolean {
  const match = /\bv(\d+)\.(\d+)\.(\d+)\b/.exec(line);
  if (!match) return false;
  const version = match.slice(1, 4).map(Number);
  for (let i = 0; i < 3; i++) {
    if (version[i]! !== MIN_VERSION[i]) return version[i]! > MIN_VERSION[i]!;
  }
  return true;
}

export interface ZstdCompressor {
  readonly tool: RunningTool<'pipe', 'pipe'>;
  /** Where the dump tool writes: hand it to the dump tool as its stdout (and then call {@link closeInput}). */
  readonly input: Writable;
  /** The compressed frame. */
  readonly output: Readable;
  /** Drops this process's end of the input pipe once the dump tool holds it, so zstd sees the end of input when the dump tool exits. */
  closeInput(): void;
  /** Raw bytes zstd has read so far (from /proc, for progress; 0 where there is none). */
  rawBytesSoFar(): number;
  /**
   * After a clean exit: the raw bytes zstd compressed, from its summary, once the compressed bytes it reports
   * are checked against `receivedBytes` (what came out of {@link output}). Throws `DumpFailedError` otherwise.
   */
  rawBytes(receivedBytes: number): number;
}

/** Starts `zstd -<level>` reading a pipe the dump tool will write to. Frames carry a content checksum, like the in-process codec's. */
export function spawnZstdCompress(level: number): ZstdCompressor {
  const tool = spawnTool('zstd', [`-${level}`, '--check', '--no-progress', '-vv', '-c'], { env: {}, stdin: 'pipe', stdout: 'pipe' });
  return {
    tool,
    input: tool.child.stdin,
    output: tool.child.stdout,
    closeInput: () => tool.child.stdin.destroy(),
    rawBytesSoFar: ioCounter(tool.child.pid, 'rchar'),
    rawBytes: (receivedBytes) => {
      const summary = parseSummary(tool.stderrTail());
      if (!summary) throw new DumpFailedError(`zstd did not report the sizes it compressed (its output ended: ${JSON.stringify(tool.stderrTail().slice(-200))})`);
      if (summary.compressed !== receivedBytes) {
        throw new DumpFailedError(`zstd reported ${summary.compressed} compressed bytes, but Lifeboat received ${receivedBytes}: the raw size cannot be trusted`);
      }
      return summary.raw;
    },
  };
}

export interface ZstdDecompressor {
  readonly tool: RunningTool<'pipe', Writable>;
  /** Where Lifeboat writes the compressed frame. */
  readonly input: Writable;
  /** Raw bytes zstd has written so far (from /proc, for progress; 0 where there is none). */
  bytesWritten(): number;
  /** Stops zstd (SIGTERM); an exit caused by this is not zstd's failure. */
  kill(): void;
  /**
   * Once zstd has exited: a `DecompressionFailedError` if it failed (a damaged frame; killed by SIGKILL, as the
   * kernel's out-of-memory killer does), or undefined. Stopped by SIGTERM (Lifeboat, or an interrupted CLI), by
   * SIGPIPE or by a write error (the restore tool quit first) is not zstd's failure: the restore tool's exit tells
   * what happened.
   */
  failure(): Promise<DecompressionFailedError | undefined>;
}

/**
 * Starts `zstd -d` writing straight into `into` (the restore tool's stdin, whose handle in this process the
 * caller then destroys). A damaged frame makes zstd exit non-zero: see {@link decompressionFailed}.
 */
export function spawnZstdDecompress(into: Writable): ZstdDecompressor {
  const tool = spawnTool('zstd', ['-d', '--no-progress', '-q', '-c'], { env: {}, stdin: 'pipe', stdout: into });
  return {
    tool,
    input: tool.child.stdin,
    bytesWritten: ioCounter(tool.child.pid, 'wchar'),
    // SIGTERM, not SIGKILL: a zstd killed by SIGKILL was killed by someone else (the kernel's out-of-memory killer).
    kill: () => {
      if (tool.child.exitCode === null && tool.child.signalCode === null) tool.child.kill('SIGTERM');
    },
    failure: async () => {
      const exit = await tool.exited;
      const stderr = tool.stderrTail();
      if (exit.code === 0 || exit.signal === 'SIGTERM' || exit.signal === 'SIGPIPE' || /write error|broken pipe|connection reset/i.test(stderr)) return undefined;
      return new DecompressionFailedError(`zstd decompression failed: ${describeExit('zstd', exit)}${stderr === '' ? '' : `: ${stderr}`}`);
    },
  };
}

/** `… (1073741824 B => 377953234 B, /*stdout*\) ` → both sizes; the last such line wins. */
export function parseSummary(stderr: string): { raw: number; compressed: number } | undefined {
  const matches = [...stderr.matchAll(/\(\s*(\d+) B =>\s*(\d+) B,/g)];
  const last = matches.at(-1);
  return last ? { raw: Number(last[1]), compressed: Number(last[2]) } : undefined;
}

/**
 * Reads `rchar` / `wchar` of /proc/<pid>/io: bytes the process has read / written (its data, and a few KiB of
 * its own start-up). Never goes back: once the process is gone, the last value read stands.
 */
function ioCounter(pid: number | undefined, field: 'rchar' | 'wchar'): () => number {
  const pattern = new RegExp(`^${field}: (\\d+)$`, 'm');
  let last = 0;
  return () => {
    if (pid === undefined) return last;
    try {
      const match = pattern.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
      if (match) last = Math.max(last, Number(match[1]));
    } catch {
      // Gone (or no /proc): the last value stands.
    }
    return last;
  };
}
