/**
 * CPU seconds per process for one timed run: the process tree the bench started (pg_dump, gzip, the
 * Lifeboat process and its pg_dump or pg_restore) and the PostgreSQL backends serving the run's
 * database. On a two-core machine the dump competes with the server for the same cores, so where the
 * CPU goes explains the throughput better than wall time alone, and it is far less disturbed by
 * whatever else runs on a shared machine. Read from /proc every 100 ms; a process's last 100 ms before
 * it exits can be missed. Linux only: elsewhere the sample is empty.
 */
import { readdirSync, readFileSync } from 'node:fs';

const POLL_MS = 100;
/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks; 100 on every Linux architecture in use. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  readonly comm: string;
  readonly ppid: number;
  readonly ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces or parentheses itself: split after the last ')'.
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    return { comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function listPids(): number[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds by process kind (`pg_dump`, `gzip`, `node`, `postgres backend`, ...). */
export type CpuByProcess = Record<string, number>;

export interface CpuMonitor {
  /** Adds a process (and, from then on, its descendants) to the watched tree. */
  watch(pid: number): void;
  stop(): CpuByProcess;
}

/**
 * Starts watching. `databases`: backends whose process title names one of them are counted too
 * (`postgres: 15/main: postgres lb_bench_1gb 127.0.0.1(43594) COPY`).
 */
export function startCpuMonitor(databases: readonly string[]): CpuMonitor {
  const roots = new Set<number>();
  const members = new Map<number, { kind: string; ticks: number }>();
  const skipped = new Set<number>();
  const alreadyRunning = new Set(listPids());

  const poll = (): void => {
    for (const pid of listPids()) {
      if (skipped.has(pid)) continue;
      const stat = readStat(pid);
      if (!stat) continue;
      const member = members.get(pid);
      if (member) {
        member.ticks = stat.ticks;
        continue;
      }
      let kind: string | undefined;
      if (roots.has(pid) || members.has(stat.ppid)) {
        kind = stat.comm;
      } else if (stat.comm === 'postgres' && !alreadyRunning.has(pid)) {
        const title = readCmdline(pid);
        if (databases.some((db) => title.includes(` ${db} `))) kind = 'postgres backend';
        // A backend only names its database once it has set its title; until then, look again.
        else if (!title.startsWith('postgres: ')) continue;
      }
      if (kind) members.set(pid, { kind, ticks: stat.ticks });
      else if (!roots.has(pid)) skipped.add(pid);
    }
  };
  const timer = setInterval(poll, POLL_MS);
  timer.unref();
  return {
    watch(pid) {
      roots.add(pid);
      skipped.delete(pid);
      poll();
    },
    stop() {
      poll();
      clearInterval(timer);
      const totals: CpuByProcess = {};
      for (const { kind, ticks } of members.values()) {
        // The wrapper shell only waits, and esbuild only compiles the bench's TypeScript at start-up.
        if (kind === 'bash' || kind === 'esbuild') continue;
        totals[kind] = (totals[kind] ?? 0) + ticks / TICKS_PER_SECOND;
      }
      return totals;
    },
  };
}
