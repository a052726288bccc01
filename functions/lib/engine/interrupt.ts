/**
 * What an interrupted run must undo. Work that leaves something behind while it is in flight (a child
 * tool, a temporary payload file, a multipart upload, a scratch or freshly created database) registers
 * how to undo it here for as long as it is in flight, and releases the registration once it finished or
 * cleaned up after itself. On SIGINT/SIGTERM the CLI (cli/signals.ts) calls {@link cleanUpAfterInterrupt}:
 * child tools are stopped first, so nothing writes while the rest is undone, newest first.
 *
 * @example
 * const release = onInterrupt('removed', `partial payload ${temp}`, () => rm(temp, { force: true }));
 * try { await write(); } finally { release(); }
 */
import type { ChildProcess } from 'node:child_process';
import { InterruptedError } from '../errors.ts';

/** One undo step; `run` must be safe to call after the work undid itself (it may race with the run's own cleanup). */
interface Cleanup {
  /** What is done, in the past tense: `removed`, `dropped`, `aborted`. */
  readonly action: string;
  /** What it is done to: `scratch database lb_verify_… on db:5432`. */
  readonly object: string;
  readonly run: () => Promise<unknown>;
}

const cleanups = new Set<Cleanup>();
let interrupted = false;
const children = new Map<ChildProcess, string>();

/** How long a stopped tool gets to exit after SIGTERM before SIGKILL. */
const TOOL_STOP_GRACE_MS = 2_000;
/** How long one undo step may take before the next one runs regardless. */
const CLEANUP_TIMEOUT_MS = 15_000;

/** Registers an undo step for the duration of some work; call the returned function when the work no longer needs it. */
export function onInterrupt(action: string, object: string, run: () => Promise<unknown>): () => void {
  const cleanup: Cleanup = { action, object, run };
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Registers a child tool (pg_dump, pg_restore, mysqldump, mysql) until it exits. */
export function trackChildTool(child: ChildProcess, command: string): void {
  children.set(child, command);
  child.once('close', () => children.delete(child));
  child.once('error', () => {
    if (child.pid === undefined) children.delete(child);
  });
}

export interface CleanupReport {
  /** The child tools stopped (`pg_dump (pid 1234)`). */
  readonly stopped: readonly string[];
  /** Each undo step that ran to completion. */
  readonly cleaned: readonly string[];
  /** Each undo step that failed, with why: what is left behind. */
  readonly failed: readonly string[];
}

/** Stops every child tool, then runs every registered undo step, newest first. Never throws. */
export async function cleanUpAfterInterrupt(): Promise<CleanupReport> {
  // From here on the vault stores refuse writes: work still unwinding (a verification whose restore tool was
  // just stopped) must not record what it saw as a verdict, nor leave a temporary file after its removal.
  interrupted = true;
  // Taken before anything is stopped: a run that cleans up after itself once its tool dies releases its
  // registration, but what it cleaned still belongs in the report.
  const pending = [...cleanups].reverse();
  const stopped = await stopChildTools();
  const cleaned: string[] = [];
  const failed: string[] = [];
  for (const cleanup of pending) {
    try {
      await withTimeout(cleanup.run(), CLEANUP_TIMEOUT_MS);
      cleaned.push(`${cleanup.action} ${cleanup.object}`);
    } catch (error) {
      failed.push(`${cleanup.object} (could not be ${cleanup.action}: ${error instanceof Error ? error.message : String(error)})`);
    } finally {
      cleanups.delete(cleanup);
    }
  }
  return { stopped, cleaned, failed };
}

/** Whether an interrupt's cleanup has begun: nothing may be written to a vault after that. */
export function isInterrupted(): boolean {
  return interrupted;
}

/** Throws `InterruptedError` once an interrupt's cleanup has begun; `what` names the write refused. */
export function assertNotInterrupted(what: string): void {
  if (interrupted) throw new InterruptedError(`Interrupted: ${what} was not written`);
}

/** How many undo steps are registered now (for tests: a finished run leaves none). */
export function pendingCleanups(): readonly string[] {
  return [...cleanups].map((cleanup) => `${cleanup.action} ${cleanup.object}`);
}

async function stopChildTools(): Promise<string[]> {
  const running = [...children.entries()].filter(([child]) => child.exitCode === null && child.signalCode === null);
  const stopped = running.map(([child, command]) => `${command} (pid ${child.pid})`);
  await Promise.all(
    running.map(
      ([child]) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, TOOL_STOP_GRACE_MS);
          child.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  return stopped;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
