/**
 * What reads the decompressed dump during a verification pass: the structure check of each engine, and
 * the restore tool of the restore test. Each one's verdict comes from its own end (a tool's exit status,
 * the bytes seen), so a consumer that stops reading early is judged by how it stopped, not by the EPIPE.
 */
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { type ConnectionInfo, redact } from '../engine/connection.ts';
import type { RestorePlan } from '../engine/driver.ts';
import { mysqlRestorePlan } from '../engine/mysql.ts';
import { postgresRestorePlan } from '../engine/postgres.ts';
import { describeExit, spawnTool, type ToolExit } from '../engine/process.ts';
import { RestoreFailedError } from '../errors.ts';
import type { DatabaseEngine } from '../vault/manifest.ts';
import type { RawConsumer } from './payloadPass.ts';

/**
 * A tool that could not be started (not installed, not on PATH) says nothing about the backup: the
 * verification stops with an error instead of recording a failed check.
 */
function assertStarted(command: string, exit: ToolExit & { spawnError?: Error }): void {
  if (exit.spawnError && exit.code === null && exit.signal === null) {
    throw new RestoreFailedError(`${describeExit(command, exit)}: install the PostgreSQL and MySQL client tools where verification runs`, {
      cause: exit.spawnError,
    });
  }
}

export interface Verdict {
  readonly ok: boolean;
  readonly reason?: string;
  /** Milliseconds since `since` when the verdict was reached. */
  readonly ms: number;
}

export interface JudgedConsumer extends RawConsumer {
  /** Waits for the consumer to finish (call after the pass) and says whether what it read held up. */
  verdict(): Promise<Verdict>;
}

/**
 * PostgreSQL custom format: `pg_restore --list` reads the archive header and table of contents from
 * stdin and exits, usually long before the data ends (the pass goes on without it). A payload that
 * is not a readable archive makes it exit non-zero.
 */
export function postgresArchiveCheck(since: number): JudgedConsumer {
  // The listing itself is not needed: that pg_restore could read it is the check.
  const tool = spawnTool('pg_restore', ['--list'], { env: {}, stdin: 'pipe', stdout: 'ignore' });
  tool.child.stdin.on('error', () => {});
  return {
    input: tool.child.stdin,
    abort: () => tool.kill(),
    async verdict() {
      const exit = await tool.exited;
      assertStarted('pg_restore', exit);
      const ms = performance.now() - since;
      if (exit.code === 0) return { ok: true, ms };
      const stderr = tool.stderrTail();
      return {
        ok: false,
        ms,
        reason: `pg_restore --list cannot read the archive's table of contents (${describeExit('pg_restore', exit)})${stderr === '' ? '' : `: ${stderr}`}`,
      };
    },
  };
}

/** mysqldump ends a dump it finished with this comment line; a dump cut short lacks it. */
const MYSQL_TRAILER = /\n-- Dump completed(?: on [^\n]*)?\s*$/;
const TRAILER_WINDOW = 512;

/** MySQL: the dump ends with mysqldump's `-- Dump completed` trailer. Keeps only the last few hundred bytes. */
export function mysqlTrailerCheck(since: number): JudgedConsumer {
  let tail = Buffer.alloc(0);
  let endedAt: number | undefined;
  const input = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TRAILER_WINDOW) tail = tail.subarray(tail.length - TRAILER_WINDOW);
      callback();
    },
    final(callback) {
      endedAt = performance.now() - since;
      callback();
    },
  });
  return {
    input,
    abort: () => input.destroy(),
    async verdict() {
      const ms = endedAt ?? performance.now() - since;
      if (MYSQL_TRAILER.test(tail.toString('latin1'))) return { ok: true, ms };
      return { ok: false, ms, reason: `the dump does not end with mysqldump's "-- Dump completed" line: it was cut short when it was made` };
    },
  };
}

export function structureCheck(engine: DatabaseEngine, since: number): JudgedConsumer {
  return engine === 'postgresql' ? postgresArchiveCheck(since) : mysqlTrailerCheck(since);
}

/**
 * The restore test's tool: `pg_restore` (one transaction, stop at the first error) or the `mysql` client,
 * reading the dump from stdin into the scratch database. The password travels in its environment only.
 */
export async function restoreTool(target: ConnectionInfo, since: number): Promise<JudgedConsumer> {
  let plan: RestorePlan;
  try {
    plan = target.engine === 'postgresql' ? await postgresRestorePlan(target, undefined) : await mysqlRestorePlan(target);
  } catch (error) {
    // mysqlRestorePlan asks the client for its version first.
    const { code, path } = error as { code?: unknown; path?: unknown };
    if (code === 'ENOENT') assertStarted(String(path ?? 'mysql'), { code: null, signal: null, spawnError: error as Error });
    throw error;
  }
  const tool = spawnTool(plan.command, plan.args, { env: plan.env, stdin: 'pipe', stdout: 'ignore' });
  tool.child.stdin.on('error', () => {});
  return {
    input: tool.child.stdin,
    abort: () => tool.kill(),
    async verdict() {
      const exit = await tool.exited;
      assertStarted(plan.command, exit);
      const ms = performance.now() - since;
      if (exit.code === 0) return { ok: true, ms };
      const errors = errorLines(tool.stderrTail());
      return { ok: false, ms, reason: `${describeExit(plan.command, exit)}${errors === '' ? '' : `: ${redact(errors, target)}`}` };
    },
  };
}

/**
 * The lines of a restore tool's stderr that say what went wrong. The mysql client echoes the failing
 * statement and pg_restore the command and COPY context, which carry the backup's data; a reason goes
 * into alerts and the vault, so only the error lines themselves are kept.
 */
export function errorLines(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
  const errors = lines.filter((line) => /\berror\b/i.test(line) && !/^(Command was|CONTEXT|DETAIL|LINE \d+):/i.test(line));
  return (errors.length > 0 ? errors : lines.slice(-1)).map((line) => (line.length > 300 ? `${line.slice(0, 299)}…` : line)).join(' | ');
}
