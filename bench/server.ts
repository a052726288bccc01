/**
 * The PostgreSQL server the bench runs against (PGHOST/PGPORT/PGUSER/PGPASSWORD, default
 * postgres@127.0.0.1:5432), and the timing of child processes on it.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import pg from 'pg';

export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
}

export function serverSettings(env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const port = Number(env.PGPORT ?? '5432');
  if (!Number.isInteger(port) || port <= 0) throw new Error(`PGPORT must be a port number, got "${env.PGPORT}"`);
  return {
    host: env.PGHOST ?? '127.0.0.1',
    port,
    user: env.PGUSER ?? 'postgres',
    ...(env.PGPASSWORD ? { password: env.PGPASSWORD } : {}),
  };
}

/** `postgres://user@host:port/db`, password percent-encoded when set (handed to children only, never printed). */
export function databaseUrl(server: ServerSettings, database: string): string {
  const auth = server.password
    ? `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}`
    : encodeURIComponent(server.user);
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `postgres://${auth}@${host}:${server.port}/${encodeURIComponent(database)}`;
}

/** Environment for pg_dump / pg_restore / psql: the server settings as libpq variables. */
export function libpqEnv(server: ServerSettings): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGHOST: server.host,
    PGPORT: String(server.port),
    PGUSER: server.user,
    ...(server.password ? { PGPASSWORD: server.password } : {}),
  };
}

export async function withClient<T>(server: ServerSettings, database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...server, database, application_name: 'lifeboat-bench' });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `Cannot reach PostgreSQL at ${server.host}:${server.port} as ${server.user}: ${(error as Error).message}. ` +
        'Start it (e.g. pg_ctlcluster 15 main start) or set PGHOST/PGPORT/PGUSER/PGPASSWORD.',
      { cause: error },
    );
  }
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export async function createDatabase(server: ServerSettings, name: string): Promise<void> {
  await withClient(server, 'postgres', (admin) => admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`));
}

/** Drops `name` even while something is still connected to it; a missing database is not an error. */
export async function dropDatabase(server: ServerSettings, name: string): Promise<void> {
  await withClient(server, 'postgres', (admin) => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

export interface CommandResult {
  readonly seconds: number;
  /** Average number of CPU cores busy machine-wide while the command ran (from /proc/stat). */
  readonly busyCores: number;
  readonly stdout: string;
}

/**
 * Runs `command` and times it from spawn to exit. stdout is captured unless `stdio` redirects it;
 * a non-zero exit throws with the tail of stderr.
 */
export async function runTimed(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; onSpawn?: (pid: number) => void } = {},
): Promise<CommandResult> {
  const cpu = sampleCpu();
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signal) => resolve(signal ? -1 : exitCode));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const busyCores = cpu.busyCores();
  if (code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return { seconds, busyCores, stdout };
}

/** Starts a machine-wide CPU sample; `busyCores()` is the average number of busy cores since. */
export function sampleCpu(): { busyCores: () => number } {
  const before = readCpuTimes();
  return {
    busyCores() {
      const after = readCpuTimes();
      const total = after.total - before.total;
      return total > 0 ? ((after.busy - before.busy) / total) * availableParallelism() : 0;
    },
  };
}

function readCpuTimes(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/**
 * Waits (up to `maxSeconds`) for half a second in which fewer than `maxBusyCores` cores are busy, so a timed
 * run does not start while something else (a test suite, another bench) holds the CPU. Returns how busy
 * the machine was in the last second sampled; the caller reports it rather than hiding a noisy run.
 */
export async function waitForQuiet(
  options: { maxSeconds?: number; maxBusyCores?: number; log?: (line: string) => void } = {},
): Promise<number> {
  const maxSeconds = options.maxSeconds ?? 60;
  const maxBusyCores = options.maxBusyCores ?? 0.5;
  const deadline = Date.now() + maxSeconds * 1000;
  let said = false;
  for (;;) {
    const cpu = sampleCpu();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const busy = cpu.busyCores();
    if (busy < maxBusyCores || Date.now() >= deadline) {
      if (busy >= maxBusyCores) options.log?.(`machine still busy (${busy.toFixed(2)} cores) after ${maxSeconds.toFixed(0)} s: measuring anyway`);
      return busy;
    }
    if (!said) options.log?.(`waiting for the machine to go quiet (${busy.toFixed(2)} cores busy)`);
    said = true;
  }
}
