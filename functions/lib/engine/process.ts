/**
 * Child processes for the dump and restore tools. Passwords travel only in the environment
 * (PGPASSWORD / MYSQL_PWD), never in argv, where any local user could read them from /proc.
 */
import { type ChildProcess, type ChildProcessByStdio, execFile, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { trackChildTool } from './interrupt.ts';

/** Bytes of stderr kept for error messages: the end is where tools say what went wrong. */
const STDERR_TAIL_BYTES = 4096;

export interface ToolExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * How a tool's stdin or stdout is connected: a pipe to this process, nothing, or straight to another tool's
 * pipe (the stream's file descriptor is handed to the child, so those bytes never pass through Node).
 */
export type ToolStdio = 'pipe' | 'ignore' | Readable | Writable;

export interface RunningTool<Stdin, Stdout> {
  readonly child: ChildProcessByStdio<Stdin extends 'pipe' ? Writable : null, Stdout extends 'pipe' ? Readable : null, Readable>;
  /** Resolves when the process has exited and its stdio closed; never rejects (a spawn failure is exit code null). */
  readonly exited: Promise<ToolExit & { spawnError?: Error }>;
  /** The last few KiB of stderr, as text. */
  stderrTail(): string;
  /** Sends SIGKILL if the process is still running. */
  kill(): void;
}

export interface SpawnToolOptions<Stdin extends ToolStdio, Stdout extends ToolStdio> {
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: Stdin;
  readonly stdout: Stdout;
}

/** Starts `command`; stdin/stdout as asked, stderr always captured (tail only, so memory stays flat). */
export function spawnTool<Stdin extends ToolStdio, Stdout extends ToolStdio>(
  command: string,
  args: readonly string[],
  options: SpawnToolOptions<Stdin, Stdout>,
): RunningTool<Stdin, Stdout> {
  const child = spawn(command, args, {
    env: { ...baseEnv(), ...options.env },
    stdio: [options.stdin, options.stdout, 'pipe'],
  }) as ChildProcess as RunningTool<Stdin, Stdout>['child'];
  // An interrupted CLI stops it before undoing what it wrote.
  trackChildTool(child, command);
  let tail = Buffer.alloc(0);
  child.stderr.on('data', (chunk: Buffer) => {
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > STDERR_TAIL_BYTES) tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
  });
  const exited = new Promise<ToolExit & { spawnError?: Error }>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
      // A process that never started emits no 'close'.
      if (child.pid === undefined) resolve({ code: null, signal: null, spawnError: error });
    });
    child.once('close', (code, signal) => resolve({ code, signal, ...(spawnError ? { spawnError } : {}) }));
  });
  return {
    child,
    exited,
    stderrTail: () => tail.toString('utf8').trim(),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** `pg_dump --version` and the like: the first line of stdout. */
export async function toolVersionLine(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, ['--version'], { env: baseEnv(), timeout: 10_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout.split('\n')[0]?.trim() ?? '');
    });
  });
}

/** "exited with code 1" / "was killed by SIGKILL" / "could not be started (ENOENT)". */
export function describeExit(command: string, exit: ToolExit & { spawnError?: Error }): string {
  if (exit.spawnError && exit.code === null && exit.signal === null) {
    const code = (exit.spawnError as NodeJS.ErrnoException).code;
    return `${command} could not be started (${code ?? exit.spawnError.message})`;
  }
  if (exit.signal) return `${command} was killed by ${exit.signal}`;
  return `${command} exited with code ${exit.code}`;
}

/**
 * The parent's environment minus anything that would point the tools at another server or carry
 * another password: every PG* and MYSQL* variable is dropped, then the caller sets its own.
 */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(PG|MYSQL)/.test(key)) continue;
    env[key] = value;
  }
  // Tools speak English and UTF-8 whatever the host's locale, so messages and parsing are predictable.
  env.LC_ALL = 'C.UTF-8';
  return env;
}
