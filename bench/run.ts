/**
 * `npm run bench`: Lifeboat's backup and restore against the tools users run today, on one generated
 * PostgreSQL database (issue 3 §6). See docs/benchmarks.md for what each number means.
 *
 * Every timed measurement is repeated `--runs` times, alternating between the contenders, and the best
 * (fastest) run is reported: noise from other work on the machine only ever adds time. Throughput is
 * uncompressed dump bytes (the size of `pg_dump --format=custom --compress=0`) per second for every
 * contender. Progress goes to stderr; stdout has the tables and, as its last line, one JSON object.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyFile } from '../functions/lib/crypto/keyFile.ts';
import { keyringFromKeyFile } from '../functions/lib/crypto/keyring.ts';
import { type CpuByProcess, startCpuMonitor } from './cpu.ts';
import { type BenchDatabase, ensureBenchDatabase } from './generate.ts';
import type { LifeboatJob, LifeboatJobResult } from './lifeboat-process.ts';
import { type BenchOptions, parseOptions, UsageError } from './options.ts';
import { mib, rate, round, secs, table } from './report.ts';
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  libpqEnv,
  quoteIdent,
  runTimed,
  sampleCpu,
  type ServerSettings,
  serverSettings,
  waitForQuiet,
  withClient,
} from './server.ts';
import { measureStages, type StageResult } from './stages.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'lifeboat-process.ts');
/** pg_dump as the engine runs it (functions/lib/engine/postgres.ts), less the exported snapshot. */
const PG_DUMP_FLAGS = ['--format=custom', '--compress=0', '--no-password'];
/** pg_restore as the engine runs it (postgresRestorePlan). */
const PG_RESTORE_FLAGS = ['--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '--no-password'];
const GZIP_LEVEL = 6;
/** The parallel contenders' streams: the development machine's cores. */
const PARALLEL_JOBS = 2;
/** pg_restore -j of a directory dump: the engine's flags less --single-transaction, which -j cannot use. */
const PG_RESTORE_PARALLEL_FLAGS = ['--no-owner', '--no-privileges', '--exit-on-error', '--no-password', `--jobs=${PARALLEL_JOBS}`];
const GIB = 1024 ** 3;
/** How long, in all, the bench may wait for a quiet machine; after that it measures regardless. */
const QUIET_BUDGET_SECONDS = 90;

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

let quietBudget = QUIET_BUDGET_SECONDS;
/** Before each timed run: the machine may be shared (builds, tests), and a busy core skews a 2-core bench. */
async function settle(): Promise<void> {
  if (quietBudget <= 0) return;
  const started = Date.now();
  await waitForQuiet({ maxSeconds: Math.min(20, quietBudget), maxBusyCores: 0.4, log });
  quietBudget -= (Date.now() - started) / 1000;
  if (quietBudget <= 0) log(`spent ${QUIET_BUDGET_SECONDS} s waiting for a quiet machine: no more waiting in this run`);
}

interface Timed {
  /** What is compared: wall time of the command, or of runBackup / runRestore inside the Lifeboat process. */
  readonly seconds: number;
  /** Machine-wide busy cores over the run (ours and anyone else's). */
  readonly busyCores: number;
  /** Wall time of the whole run, process start-up included. */
  readonly wallSeconds: number;
  /** CPU seconds of the run's own processes, by kind. */
  readonly cpu: CpuByProcess;
  /** Busy cores the run's own processes account for over `wallSeconds` (from /proc). */
  readonly ownCores: number;
}

interface Series<T extends Timed = Timed> {
  readonly runs: T[];
  best(): T;
}

function series<T extends Timed>(): Series<T> {
  const runs: T[] = [];
  return {
    runs,
    best() {
      const fastest = runs.reduce<T | undefined>((best, run) => (best === undefined || run.seconds < best.seconds ? run : best), undefined);
      if (!fastest) throw new Error('no runs recorded');
      return fastest;
    },
  };
}

type CommandRun = Timed & { outBytes?: number };
type LifeboatRun = LifeboatJobResult & Timed;

/** Runs a command under the CPU monitor; `databases` are those whose backends count as the run's. */
async function timeCommand(
  databases: readonly string[],
  command: string,
  args: readonly string[],
  options: Parameters<typeof runTimed>[2] = {},
): Promise<CommandRun> {
  const monitor = startCpuMonitor(databases);
  try {
    const result = await runTimed(command, args, { ...options, onSpawn: (pid) => monitor.watch(pid) });
    const cpu = monitor.stop();
    return { seconds: result.seconds, wallSeconds: result.seconds, busyCores: result.busyCores, cpu, ownCores: sum(cpu) / result.seconds };
  } finally {
    monitor.stop();
  }
}

/** Runs one job in a Lifeboat process of its own (see lifeboat-process.ts) and returns what it reports. */
async function runLifeboat(databases: readonly string[], job: LifeboatJob): Promise<LifeboatRun> {
  const monitor = startCpuMonitor(databases);
  const machine = sampleCpu();
  const started = process.hrtime.bigint();
  try {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) monitor.watch(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    child.stdin.end(JSON.stringify(job));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    });
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const busyCores = machine.busyCores();
    const cpu = monitor.stop();
    const last = stdout.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !last.startsWith('{')) {
      throw new Error(`Lifeboat ${job.kind} failed (exit ${code}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    }
    const result = JSON.parse(last) as LifeboatJobResult;
    // The process's own figure covers the job alone; /proc's adds start-up and TypeScript loading.
    return { ...result, wallSeconds, busyCores, cpu: { ...cpu, node: result.cpuSeconds }, ownCores: sum(cpu) / wallSeconds };
  } finally {
    monitor.stop();
  }
}

async function rowCounts(server: ServerSettings, database: string, tables: readonly string[]): Promise<Record<string, number>> {
  return withClient(server, database, async (client) => {
    const counts: Record<string, number> = {};
    for (const name of tables) {
      const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(name)}`);
      counts[name] = Number(result.rows[0]?.n ?? 0);
    }
    return counts;
  });
}

/** A restore that lost rows would make its timing meaningless: check every table. */
async function assertRestored(server: ServerSettings, database: string, source: BenchDatabase, who: string): Promise<void> {
  const counts = await rowCounts(server, database, Object.keys(source.rows));
  for (const [name, rows] of Object.entries(source.rows)) {
    if (counts[name] !== rows) throw new Error(`${who} restored ${counts[name]} rows of ${name}, expected ${rows}`);
  }
}

interface Results {
  large: BenchDatabase;
  small: BenchDatabase;
  rawBytes: number;
  raw: Series<CommandRun>;
  gzip: Series<CommandRun>;
  /** pg_dump -Fc -Z0 | zstd -1 | sha256sum: the C tools doing what a Lifeboat backup does, bar encryption and the store. */
  zstdCli: Series<CommandRun>;
  lifeboat: Series<LifeboatRun>;
  lifeboatJobs: Series<LifeboatRun>;
  pgDumpJobs: Series<CommandRun>;
  lifeboatSmall: Series<LifeboatRun>;
  pgRestore: Series<CommandRun>;
  lifeboatRestore: Series<LifeboatRun>;
  pgRestoreJobs: Series<CommandRun>;
  lifeboatRestoreJobs: Series<LifeboatRun>;
  stages: StageResult[];
  rowCountSeconds: number;
}

async function bench(options: BenchOptions): Promise<Results> {
  const server = serverSettings();
  const env = libpqEnv(server);
  for (const tool of ['pg_dump', 'pg_restore', 'gzip', 'zstd', 'sha256sum']) {
    await runTimed('bash', ['-c', `command -v ${tool}`]).catch(() => {
      throw new Error(`${tool} is not installed (the bench needs pg_dump, pg_restore, gzip, zstd, sha256sum and bash; apt-get install zstd)`);
    });
  }

  const large = await ensureBenchDatabase(server, options.sizeBytes, { regenerate: options.regenerate, log });
  const small = await ensureBenchDatabase(server, options.smallSizeBytes, { regenerate: options.regenerate, log });
  const reused = (db: BenchDatabase): string => (db.reused ? ' (reused)' : '');
  log(`databases: ${large.name} ${mib(large.bytes)} MiB${reused(large)}, ${small.name} ${mib(small.bytes)} MiB${reused(small)}`);

  const work = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-'));
  const [pgTarget, lifeboatTarget] = [`lb_bench_restore_pg_${process.pid}`, `lb_bench_restore_lifeboat_${process.pid}`];
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await rm(work, { recursive: true, force: true });
    for (const name of [pgTarget, lifeboatTarget]) await dropDatabase(server, name).catch(() => undefined);
  };
  const onSignal = (): void => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const keyFile = path.join(work, 'bench.key');
    await generateKeyFile(keyFile);

    // The plain uncompressed dump: its size is the byte count every throughput is rated in, and it is pg_restore's input.
    const dumpFile = path.join(work, 'raw.dump');
    log(`pg_dump ${large.name} → ${dumpFile}`);
    await runTimed('pg_dump', [...PG_DUMP_FLAGS, `--file=${dumpFile}`, large.name], { env });
    const rawBytes = (await stat(dumpFile)).size;
    // pg_restore -j's input: an uncompressed directory dump (made once, not timed).
    const dirDump = path.join(work, 'raw.dir');
    if (options.restore) {
      log(`pg_dump -Fd -Z0 -j ${PARALLEL_JOBS} ${large.name} → ${dirDump}`);
      await runTimed('pg_dump', ['--format=directory', '--compress=0', `--jobs=${PARALLEL_JOBS}`, '--no-password', `--file=${dirDump}`, large.name], { env });
    }

    const raw = series<CommandRun>();
    const gzip = series<CommandRun>();
    const lifeboat = series<LifeboatRun>();
    const zstdCli = series<CommandRun>();
    const lifeboatJobs = series<LifeboatRun>();
    const pgDumpJobs = series<CommandRun>();
    const gzipFile = path.join(work, 'dump.gz');
    const jobsDir = path.join(work, 'jobs.dir');
    let kept: { vaultDir: string; run: LifeboatRun } | undefined;
    let keptJobs: { vaultDir: string; run: LifeboatRun } | undefined;
    for (let run = 1; run <= options.runs; run += 1) {
      const of = `run ${run}/${options.runs}`;
      log(`${of}: pg_dump → /dev/null`);
      await settle();
      // Through stdout, as the engine reads it: with --file pg_dump would also fsync its output.
      const devNull = await open('/dev/null', 'w');
      try {
        raw.runs.push(await timeCommand([large.name], 'pg_dump', [...PG_DUMP_FLAGS, large.name], { env, stdio: ['ignore', devNull.fd, 'pipe'] }));
      } finally {
        await devNull.close();
      }

      log(`${of}: pg_dump | gzip -${GZIP_LEVEL} > file`);
      await settle();
      const piped = await timeCommand(
        [large.name],
        'bash',
        ['-c', `set -o pipefail; pg_dump "$@" | gzip -${GZIP_LEVEL} > "$BENCH_GZIP_OUT"`, 'pg_dump', ...PG_DUMP_FLAGS, large.name],
        { env: { ...env, BENCH_GZIP_OUT: gzipFile } },
      );
      gzip.runs.push({ ...piped, outBytes: (await stat(gzipFile)).size });
      await rm(gzipFile, { force: true });

      log(`${of}: Lifeboat backup → LocalStore`);
      await settle();
      const vaultDir = path.join(work, `vault-${run}`);
      const sourceUrl = databaseUrl(server, large.name);
      const result = await runLifeboat([large.name], { kind: 'backup', sourceUrl, sourceId: 'bench', vaultDir, keyFile, jobs: 1 });
      lifeboat.runs.push(result);
      // One vault is kept for the restores and the restore-side stages; the others only cost disk.
      if (kept) await rm(kept.vaultDir, { recursive: true, force: true });
      kept = { vaultDir, run: result };

      log(`${of}: pg_dump -Fc -Z0 | zstd -1 | sha256sum`);
      await settle();
      zstdCli.runs.push(
        await timeCommand(
          [large.name],
          'bash',
          ['-c', 'set -o pipefail; pg_dump "$@" | zstd -1 -q -c | sha256sum > /dev/null', 'pg_dump', ...PG_DUMP_FLAGS, large.name],
          { env },
        ),
      );

      log(`${of}: Lifeboat backup --jobs ${PARALLEL_JOBS} → LocalStore`);
      await settle();
      const jobsVault = path.join(work, `vault-jobs-${run}`);
      const jobsResult = await runLifeboat([large.name], { kind: 'backup', sourceUrl, sourceId: 'bench', vaultDir: jobsVault, keyFile, jobs: PARALLEL_JOBS });
      lifeboatJobs.runs.push(jobsResult);
      if (keptJobs) await rm(keptJobs.vaultDir, { recursive: true, force: true });
      keptJobs = { vaultDir: jobsVault, run: jobsResult };

      log(`${of}: pg_dump -Fd -j ${PARALLEL_JOBS} (default compression) → directory`);
      await rm(jobsDir, { recursive: true, force: true });
      await settle();
      const directory = await timeCommand([large.name], 'pg_dump', ['--format=directory', `--jobs=${PARALLEL_JOBS}`, '--no-password', `--file=${jobsDir}`, large.name], { env });
      pgDumpJobs.runs.push({ ...directory, outBytes: await directoryBytes(jobsDir) });
      await rm(jobsDir, { recursive: true, force: true });
    }

    const lifeboatSmall = series<LifeboatRun>();
    for (let run = 1; run <= options.runs; run += 1) {
      log(`run ${run}/${options.runs}: Lifeboat backup of ${small.name}`);
      await settle();
      const vaultDir = path.join(work, `vault-small-${run}`);
      const sourceUrl = databaseUrl(server, small.name);
      lifeboatSmall.runs.push(await runLifeboat([small.name], { kind: 'backup', sourceUrl, sourceId: 'bench-small', vaultDir, keyFile, jobs: 1 }));
      await rm(vaultDir, { recursive: true, force: true });
    }

    const pgRestore = series<CommandRun>();
    const lifeboatRestore = series<LifeboatRun>();
    const pgRestoreJobs = series<CommandRun>();
    const lifeboatRestoreJobs = series<LifeboatRun>();
    const backupId = kept?.run.backupId;
    if (options.restore && kept && backupId) {
      for (let run = 1; run <= options.runs; run += 1) {
        // Both targets exist and are empty before the clock starts, so neither pays for CREATE DATABASE.
        log(`run ${run}/${options.runs}: pg_restore ${path.basename(dumpFile)} → ${pgTarget}`);
        await dropDatabase(server, pgTarget);
        await createDatabase(server, pgTarget);
        await settle();
        pgRestore.runs.push(await timeCommand([pgTarget], 'pg_restore', [...PG_RESTORE_FLAGS, `--dbname=${pgTarget}`, dumpFile], { env }));
        await assertRestored(server, pgTarget, large, 'pg_restore');
        await dropDatabase(server, pgTarget);

        log(`run ${run}/${options.runs}: Lifeboat restore → ${lifeboatTarget}`);
        await dropDatabase(server, lifeboatTarget);
        await createDatabase(server, lifeboatTarget);
        await settle();
        const targetUrl = databaseUrl(server, lifeboatTarget);
        lifeboatRestore.runs.push(
          await runLifeboat([lifeboatTarget], { kind: 'restore', targetUrl, sourceId: 'bench', backupId, vaultDir: kept.vaultDir, keyFile, jobs: 1 }),
        );
        await assertRestored(server, lifeboatTarget, large, 'Lifeboat');
        await dropDatabase(server, lifeboatTarget);

        log(`run ${run}/${options.runs}: pg_restore -j ${PARALLEL_JOBS} ${path.basename(dirDump)} → ${pgTarget}`);
        await createDatabase(server, pgTarget);
        await settle();
        pgRestoreJobs.runs.push(await timeCommand([pgTarget], 'pg_restore', [...PG_RESTORE_PARALLEL_FLAGS, `--dbname=${pgTarget}`, dirDump], { env }));
        await assertRestored(server, pgTarget, large, `pg_restore -j ${PARALLEL_JOBS}`);
        await dropDatabase(server, pgTarget);

        if (keptJobs?.run.backupId) {
          log(`run ${run}/${options.runs}: Lifeboat restore --jobs ${PARALLEL_JOBS} → ${lifeboatTarget}`);
          await createDatabase(server, lifeboatTarget);
          await settle();
          lifeboatRestoreJobs.runs.push(
            await runLifeboat([lifeboatTarget], {
              kind: 'restore',
              targetUrl,
              sourceId: 'bench',
              backupId: keptJobs.run.backupId,
              vaultDir: keptJobs.vaultDir,
              keyFile,
              jobs: PARALLEL_JOBS,
            }),
          );
          await assertRestored(server, lifeboatTarget, large, `Lifeboat --jobs ${PARALLEL_JOBS}`);
          await dropDatabase(server, lifeboatTarget);
        }
      }
    }

    let stages: StageResult[] = [];
    if (options.stages) {
      const payload = kept?.run;
      stages = await measureStages({
        dumpFile,
        rawBytes,
        keyring: await keyringFromKeyFile(keyFile),
        pgDumpArgs: [...PG_DUMP_FLAGS, large.name],
        pgEnv: env,
        ...(payload?.payloadFile && payload.encryptionContext
          ? { storedPayload: { file: payload.payloadFile, encryptionContext: payload.encryptionContext } }
          : {}),
        log,
        settle,
      });
    }
    const started = process.hrtime.bigint();
    await rowCounts(server, large.name, Object.keys(large.rows));
    const rowCountSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    return {
      large, small, rawBytes, raw, gzip, zstdCli, lifeboat, lifeboatJobs, pgDumpJobs, lifeboatSmall,
      pgRestore, lifeboatRestore, pgRestoreJobs, lifeboatRestoreJobs, stages, rowCountSeconds,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/** Bytes of every file in a directory (a directory-format dump). */
async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  return total;
}

/** Client-side CPU seconds of a Lifeboat run per GiB of uncompressed dump: its Node process and its pg_dump children, not the server. */
function clientCpuPerGib(run: Timed, rawBytes: number): number {
  // With the `zstd` command installed, Lifeboat compresses in zstd processes of its own (engine/zstdTool.ts): client CPU too.
  return cpuOf(run, 'node', 'pg_dump', 'zstd') / (rawBytes / GIB);
}

/** CPU seconds of one kind of process in a run (0 when it did not take part). */
function cpuOf(run: Timed, ...kinds: string[]): number {
  return kinds.reduce((sum, kind) => sum + (run.cpu[kind] ?? 0), 0);
}

function sum(cpu: CpuByProcess): number {
  return Object.values(cpu).reduce((total, seconds) => total + seconds, 0);
}

function cpuTotal(run: Timed): number {
  return sum(run.cpu);
}

/** Busy cores not explained by the run's own processes: someone else's load. */
function otherLoad(run: Timed): number {
  return Math.max(0, run.busyCores - run.ownCores);
}

function report(options: BenchOptions, r: Results): string[] {
  const out: string[] = [];
  const runsOf = (s: Series): string => s.runs.map((run) => secs(run.seconds)).join(' / ');
  const rawBest = r.raw.best();
  const gzipBest = r.gzip.best();
  const lbBest = r.lifeboat.best();
  const storedBytes = lbBest.storedBytes ?? Number.NaN;
  const gzipBytes = gzipBest.outBytes ?? Number.NaN;

  out.push(
    `Lifeboat bench: ${r.large.name} (${mib(r.large.bytes)} MiB in PostgreSQL), uncompressed dump ${mib(r.rawBytes)} MiB; ` +
      `best of ${options.runs} run(s); MiB/s = uncompressed dump MiB per second`,
    '',
  );
  const backupRow = (name: string, s: Series, outBytes: number): string[] => {
    const best = s.best();
    const out = Number.isNaN(outBytes) ? ['', ''] : [mib(outBytes), (outBytes / r.rawBytes).toFixed(3)];
    return [name, secs(best.seconds), runsOf(s), rate(r.rawBytes / best.seconds), ...out, (rawBest.seconds / best.seconds).toFixed(3), otherLoad(best).toFixed(2)];
  };
  out.push(
    table(
      ['backup', 'best s', 'runs s', 'MiB/s', 'out MiB', 'out/raw', '÷ raw', 'other load*'],
      [
        backupRow('raw: pg_dump -Fc -Z0 > /dev/null', r.raw, r.rawBytes),
        backupRow(`pg_dump -Fc -Z0 | gzip -${GZIP_LEVEL} > file`, r.gzip, gzipBytes),
        backupRow('Lifeboat runBackup → LocalStore', r.lifeboat, storedBytes),
        backupRow('pg_dump -Fc -Z0 | zstd -1 | sha256sum', r.zstdCli, Number.NaN),
        backupRow(`Lifeboat runBackup --jobs ${PARALLEL_JOBS}`, r.lifeboatJobs, r.lifeboatJobs.best().storedBytes ?? Number.NaN),
        backupRow(`pg_dump -Fd -j ${PARALLEL_JOBS} (gzip default) → dir`, r.pgDumpJobs, r.pgDumpJobs.best().outBytes ?? Number.NaN),
      ],
    ),
  );

  const haveRestore = r.lifeboatRestore.runs.length > 0;
  if (haveRestore) {
    const pgBest = r.pgRestore.best();
    const lbBest2 = r.lifeboatRestore.best();
    out.push(
      '',
      table(
        ['restore (into an empty database)', 'best s', 'runs s', 'MiB/s', '÷ pg_restore', 'other load*'],
        [
          ['pg_restore FILE', secs(pgBest.seconds), runsOf(r.pgRestore), rate(r.rawBytes / pgBest.seconds), '1.000', otherLoad(pgBest).toFixed(2)],
          ['Lifeboat runRestore', secs(lbBest2.seconds), runsOf(r.lifeboatRestore), rate(r.rawBytes / lbBest2.seconds), (lbBest2.seconds / pgBest.seconds).toFixed(3), otherLoad(lbBest2).toFixed(2)],
          ...(r.pgRestoreJobs.runs.length > 0
            ? [[`pg_restore -j ${PARALLEL_JOBS} DIR (uncompressed)`, secs(r.pgRestoreJobs.best().seconds), runsOf(r.pgRestoreJobs), rate(r.rawBytes / r.pgRestoreJobs.best().seconds), (r.pgRestoreJobs.best().seconds / pgBest.seconds).toFixed(3), otherLoad(r.pgRestoreJobs.best()).toFixed(2)]]
            : []),
          ...(r.lifeboatRestoreJobs.runs.length > 0
            ? [[`Lifeboat runRestore --jobs ${PARALLEL_JOBS}`, secs(r.lifeboatRestoreJobs.best().seconds), runsOf(r.lifeboatRestoreJobs), rate(r.rawBytes / r.lifeboatRestoreJobs.best().seconds), (r.lifeboatRestoreJobs.best().seconds / pgBest.seconds).toFixed(3), otherLoad(r.lifeboatRestoreJobs.best()).toFixed(2)]]
            : []),
        ],
      ),
      `  pg_restore flags (single-stream): ${PG_RESTORE_FLAGS.join(' ')}; with -j: ${PG_RESTORE_PARALLEL_FLAGS.join(' ')}`,
    );
  }

  // Where the CPU went in each best run: on two cores, the sum bounds the wall time from below.
  const cpuRow = (name: string, run: Timed): string[] => [
    name,
    secs(run.seconds),
    secs(cpuOf(run, 'postgres backend')),
    secs(cpuOf(run, 'pg_dump', 'pg_restore')),
    run.cpu.gzip === undefined && run.cpu.zstd === undefined ? '' : secs(cpuOf(run, 'gzip', 'zstd', 'sha256sum')),
    run.cpu.node === undefined ? '' : secs(run.cpu.node),
    secs(cpuTotal(run)),
    secs(cpuTotal(run) / 2),
  ];
  out.push(
    '',
    table(
      ['CPU seconds (best runs)', 'wall s', 'backends', 'pg tool', 'gzip/zstd', 'node', 'total', 'total / 2 cores'],
      [
        cpuRow('raw pg_dump', rawBest),
        cpuRow(`pg_dump | gzip -${GZIP_LEVEL}`, gzipBest),
        cpuRow('Lifeboat backup', lbBest),
        cpuRow('pg_dump | zstd -1 | sha256sum', r.zstdCli.best()),
        cpuRow(`Lifeboat backup --jobs ${PARALLEL_JOBS}`, r.lifeboatJobs.best()),
        cpuRow(`pg_dump -Fd -j ${PARALLEL_JOBS}`, r.pgDumpJobs.best()),
        ...(haveRestore ? [cpuRow('pg_restore', r.pgRestore.best()), cpuRow('Lifeboat restore', r.lifeboatRestore.best())] : []),
        ...(r.pgRestoreJobs.runs.length > 0 ? [cpuRow(`pg_restore -j ${PARALLEL_JOBS}`, r.pgRestoreJobs.best())] : []),
        ...(r.lifeboatRestoreJobs.runs.length > 0 ? [cpuRow(`Lifeboat restore --jobs ${PARALLEL_JOBS}`, r.lifeboatRestoreJobs.best())] : []),
      ],
    ),
    '  backends: PostgreSQL server processes serving the run; node: CPU inside runBackup/runRestore (all threads)',
    `  client CPU s per GiB of dump (Lifeboat's node + its pg_dumps and zstd processes): --jobs 1 ${secs(clientCpuPerGib(lbBest, r.rawBytes))}, ` +
      `--jobs ${PARALLEL_JOBS} ${secs(clientCpuPerGib(r.lifeboatJobs.best(), r.rawBytes))}`,
  );

  const rssOf = (s: Series<LifeboatRun>): number => Math.max(...s.runs.map((run) => run.maxRssBytes));
  const memoryRow = (db: BenchDatabase, s: Series<LifeboatRun>): string[] => {
    const best = s.best();
    return [db.name, mib(db.bytes), mib(best.rawBytes ?? 0), secs(best.seconds), mib(rssOf(s)), mib(best.startRssBytes)];
  };
  out.push(
    '',
    table(
      ['Lifeboat process memory', 'db MiB', 'dump MiB', 'best s', 'peak RSS MiB', 'RSS before job MiB'],
      [
        memoryRow(r.small, r.lifeboatSmall),
        memoryRow(r.large, r.lifeboat),
        [`${r.large.name} --jobs ${PARALLEL_JOBS}`, mib(r.large.bytes), mib(r.lifeboatJobs.best().rawBytes ?? 0), secs(r.lifeboatJobs.best().seconds), mib(rssOf(r.lifeboatJobs)), mib(r.lifeboatJobs.best().startRssBytes)],
        ...(haveRestore ? [[`${r.large.name} restore`, '', '', secs(r.lifeboatRestore.best().seconds), mib(rssOf(r.lifeboatRestore)), mib(r.lifeboatRestore.best().startRssBytes)]] : []),
      ],
    ),
    '  peak RSS: process.resourceUsage().maxRSS of the Lifeboat process alone (worst of its runs); pg_dump is a process of its own',
  );

  if (r.stages.length > 0) {
    out.push(
      '',
      table(
        ['stage, alone in one Node process', 's', 'MiB/s', 'out MiB', 'Node CPU s', 'MiB per Node CPU s', 'busy cores'],
        [
          ...r.stages.map((s) => [
            s.stage,
            secs(s.seconds),
            rate(s.rawBytesPerSecond),
            mib(s.outBytes),
            secs(s.nodeCpuSeconds),
            rate(r.rawBytes / s.nodeCpuSeconds),
            s.busyCores.toFixed(2),
          ]),
          ['row counts: count(*) of every table (beside pg_dump in the engine)', secs(r.rowCountSeconds), '', '', '', '', ''],
        ],
      ),
    );
  }
  out.push(
    '',
    '* other load: machine-wide busy cores (/proc/stat) not explained by the run\'s own processes; above ~0.2 something else competed for the 2 cores',
  );

  const json = {
    ratio_raw: round(rawBest.seconds / lbBest.seconds, 3),
    ratio_gzip: round(gzipBest.seconds / lbBest.seconds, 3),
    size_ratio: round(storedBytes / gzipBytes, 3),
    rss_mb_small: round(rssOf(r.lifeboatSmall) / 1024 ** 2, 1),
    rss_mb_large: round(rssOf(r.lifeboat) / 1024 ** 2, 1),
    restore_ratio: haveRestore ? round(r.lifeboatRestore.best().seconds / r.pgRestore.best().seconds, 3) : null,
    ratio_zstd_cli: round(r.zstdCli.best().seconds / lbBest.seconds, 3),
    ratio_pg_dump_j2: round(r.pgDumpJobs.best().seconds / r.lifeboatJobs.best().seconds, 3),
    restore_ratio_jobs2:
      r.lifeboatRestoreJobs.runs.length > 0 && r.pgRestoreJobs.runs.length > 0
        ? round(r.lifeboatRestoreJobs.best().seconds / r.pgRestoreJobs.best().seconds, 3)
        : null,
    cpu_s_per_gib_jobs1: round(clientCpuPerGib(lbBest, r.rawBytes), 2),
    cpu_s_per_gib_jobs2: round(clientCpuPerGib(r.lifeboatJobs.best(), r.rawBytes), 2),
    rss_mb_jobs2: round(rssOf(r.lifeboatJobs) / 1024 ** 2, 1),
  };
  out.push('', JSON.stringify(json));
  return out;
}

try {
  const options = parseOptions(process.argv.slice(2));
  const results = await bench(options);
  process.stdout.write(`${report(options, results).join('\n')}\n`);
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
