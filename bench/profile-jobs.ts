/**
 * `npm run bench:jobs`: where the parallel PostgreSQL dump's extra client CPU goes. Backs up the bench database
 * (generated like `npm run bench`'s) with `--jobs 1` and `--jobs 2`, alternating, each run in a process of its own,
 * and prints the median CPU seconds of Lifeboat's process (all its threads, and its zstd processes when the `zstd`
 * command runs the compression) and their ratio. With `--profile` it
 * also runs one of each under `node --cpu-prof` and prints the functions whose self time differs most between
 * the two, i.e. what the second stream costs.
 *
 * Options: --size-mb N (default 384), --runs N (default 5), --profile; BENCH_NODE_FLAGS adds V8 flags to the backup processes.
 * The job itself (one backup, one JSON line of CPU and wall time) is this file run with `--job JOBS URL KEYFILE VAULT`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);

if (args[0] === '--job') {
  const [, jobs, url, keyFile, vault] = args as [string, string, string, string, string];
  const { keyringFromKeyFile } = await import('../functions/lib/crypto/keyring.ts');
  const { parseConnectionUrl } = await import('../functions/lib/engine/connection.ts');
  const { LocalStore } = await import('../functions/lib/vault/localStore.ts');
  const { runBackup } = await import('../functions/lib/engine/backup.ts');
  const { startCpuMonitor } = await import('./cpu.ts');
  const keyring = await keyringFromKeyFile(keyFile);
  // Lifeboat's zstd processes (engine/zstdTool.ts) do the compression the process would otherwise do itself: counted as its CPU.
  const children = startCpuMonitor([]);
  children.watch(process.pid);
  const before = process.cpuUsage();
  const started = performance.now();
  const { manifest } = await runBackup({ source: parseConnectionUrl(url), sourceId: 'bench', store: new LocalStore(vault), keyring, jobs: Number(jobs) });
  const cpu = process.cpuUsage(before);
  const zstdSeconds = children.stop()['zstd'] ?? 0;
  process.stdout.write(`${JSON.stringify({ jobs: Number(jobs), seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 + zstdSeconds, zstdSeconds, rawBytes: manifest.payload.rawBytes })}\n`);
  process.exit(0);
}

const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const { ensureBenchDatabase } = await import('./generate.ts');
const { databaseUrl, serverSettings } = await import('./server.ts');
const server = serverSettings();
const db = await ensureBenchDatabase(server, option('size-mb', 384) * 1024 * 1024, { regenerate: false, log: (line) => process.stderr.write(`${line}\n`) });
const work = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-jobs-'));
const keyFile = path.join(work, 'bench.key');
await writeFile(keyFile, JSON.stringify({ format: 'lifeboat-key', version: 1, keyNamespace: 'lifeboat', keyName: 'bench', key: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() }), { mode: 0o600 });

/** V8 flags for the backup processes (`BENCH_NODE_FLAGS="--single-threaded-gc"`): some are refused in NODE_OPTIONS. */
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);

function run(jobs: number, profileDir?: string): { jobs: number; seconds: number; cpuSeconds: number; rawBytes: number } {
  const vault = path.join(work, `vault-${jobs}-${Math.random().toString(36).slice(2)}`);
  const child = spawnSync(
    process.execPath,
    [...NODE_FLAGS, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), '--import', import.meta.resolve('tsx'), HERE, '--job', String(jobs), databaseUrl(server, db.name), keyFile, vault],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`backup with --jobs ${jobs} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const runs = option('runs', 5);
const results: Record<number, { cpu: number[]; wall: number[] }> = { 1: { cpu: [], wall: [] }, 2: { cpu: [], wall: [] } };
for (let i = 0; i < runs; i++) {
  for (const jobs of [1, 2]) {
    const r = run(jobs);
    results[jobs]!.cpu.push(r.cpuSeconds);
    results[jobs]!.wall.push(r.seconds);
  }
}
const [cpu1, cpu2] = [median(results[1]!.cpu), median(results[2]!.cpu)];
console.log(`bench database ${db.name}: ${(db.bytes / 2 ** 20).toFixed(0)} MiB; ${runs} runs each, alternating; medians`);
console.log(`--jobs 1: ${cpu1.toFixed(2)} s CPU, ${median(results[1]!.wall).toFixed(2)} s wall`);
console.log(`--jobs 2: ${cpu2.toFixed(2)} s CPU, ${median(results[2]!.wall).toFixed(2)} s wall`);
console.log(JSON.stringify({ cpu_jobs2_over_jobs1: Number((cpu2 / cpu1).toFixed(3)), wall_jobs2_over_jobs1: Number((median(results[2]!.wall) / median(results[1]!.wall)).toFixed(3)) }));

if (args.includes('--profile')) {
  const selfTimes = async (dir: string) => {
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))!;
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] };
    const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const self = new Map<string, number>();
    profile.samples.forEach((id, i) => {
      const frame = byId.get(id)!;
      const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(functions|bench)\//, '$1/')}:${frame.lineNumber}`;
      self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    });
    return self;
  };
  const [one, two] = [path.join(work, 'profile-1'), path.join(work, 'profile-2')];
  run(1, one);
  run(2, two);
  const [a, b] = [await selfTimes(one), await selfTimes(two)];
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((name) => ({ name, one: a.get(name) ?? 0, two: b.get(name) ?? 0 })).sort((x, y) => y.two - y.one - (x.two - x.one));
  console.log('main-thread self time, ms: --jobs 2 minus --jobs 1 (largest first)');
  for (const row of rows.slice(0, 10)) console.log(`${(row.two - row.one).toFixed(0).padStart(7)} ${row.one.toFixed(0).padStart(7)} ${row.two.toFixed(0).padStart(7)}  ${row.name}`);
}
await rm(work, { recursive: true, force: true });
