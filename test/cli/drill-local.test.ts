/**
 * `lifeboat drill PLAN --local`: the example config's plans rehearsed end to end on this machine, with real
 * backups of local PostgreSQL and MariaDB databases in a directory vault, the compiled plans run by the local
 * interpreter with the real DR step executor, approvals answered on stdin (the real executable, as a child
 * process) or in-process, and the evidence read back from the vault.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { localHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { drEvidenceMacMessage } from '../../functions/lib/plans/evidenceMac.ts';
import type { Evidence } from '../../functions/dr-step/evidence.ts';
import {
  createMariaDbDatabase,
  createPostgresDatabase,
  listMariaDbDatabases,
  listPostgresDatabases,
  mariaDbSettings,
  postgresSettings,
  type MariaDbDatabase,
  type PostgresDatabase,
} from '../harness/databases.ts';
import { startTestRedis, type TestRedis } from '../harness/redis.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'cli', 'bin.js');
const EXAMPLE_CONFIG = join(repoRoot, 'config', 'example.lifeboat.json');
const ORDERS_ROWS = 40;
const INVOICES_ROWS = 25;
/** A child process (tsx compiling the CLI, then the drill) takes seconds alone and minutes on a busy machine. */
const CHILD_TEST_TIMEOUT_MS = 300_000;
/** The verification server's user on MariaDB: a password, as in AWS. */
const MYSQL_USER = `lbdl_${randomBytes(3).toString('hex')}`;
const MYSQL_PASSWORD = `Never-Print-${randomBytes(4).toString('hex')}`;
/** PostgreSQL trusts local connections; the step executor still logs in with a password, as in AWS. */
const PG_PASSWORD = `Never-Print-${randomBytes(4).toString('hex')}`;

const pg = postgresSettings();
const my = mariaDbSettings();
const PG_SERVER = `postgresql://${pg.user}:${PG_PASSWORD}@${pg.host}:${pg.port}`;
const MYSQL_SERVER = `mysql://${MYSQL_USER}:${MYSQL_PASSWORD}@${my.host}:${my.port}`;

let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let keyFile: string;
let orders: PostgresDatabase;
let billing: MariaDbDatabase;
/** The example's session cache, as a local server: its keys are what sessions-recovery refills. */
let sessions: TestRedis;
const SESSION_KEYS = 30;

function spawnLifeboat(args: readonly string[], stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' }, timeout: 240_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
    child.stdin!.end(stdin);
  });
}

async function asMariaDbAdmin(work: (admin: mysql.Connection) => Promise<unknown>): Promise<void> {
  const admin = await mysql.createConnection({ host: my.host, port: my.port, user: my.user, ...(my.password ? { password: my.password } : {}) });
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}

const localFlags = () => ['--local', '--config', EXAMPLE_CONFIG, '--vault', vault, '--key-file', keyFile, '--pg-server', PG_SERVER, '--mysql-server', MYSQL_SERVER];

/** The one evidence object a run wrote, found by the execution name its --json output gives. */
async function evidenceFile(plan: string, executionName: string): Promise<Evidence> {
  return JSON.parse(await readFile(join(vault, 'evidence', plan, `${executionName}.json`), 'utf8')) as Evidence;
}

const stepOf = (evidence: Evidence, id: string) => evidence.steps.find((step) => step.stepId === id)!;
const drillDatabaseOf = (evidence: Evidence) => ((stepOf(evidence, 'restore').result as { target: { database: string } }).target.database);

beforeAll(async () => {
  dir = await tempDir('drill-local');
  vault = join(dir.path, 'vault');
  keyFile = join(dir.path, 'key');
  expect((await lifeboat(['keygen', '--key-file', keyFile])).code).toBe(ExitCode.ok);

  orders = await createPostgresDatabase('drill_local');
  await orders.query('CREATE TABLE orders (id serial PRIMARY KEY, total integer NOT NULL)');
  await orders.query('INSERT INTO orders (total) SELECT g FROM generate_series(1, $1::int) g', [ORDERS_ROWS]);
  billing = await createMariaDbDatabase('drill_local');
  await billing.query('CREATE TABLE invoices (id int AUTO_INCREMENT PRIMARY KEY, amount int NOT NULL)');
  for (let i = 1; i <= INVOICES_ROWS; i++) await billing.query('INSERT INTO invoices (amount) VALUES (?)', [i * 10]);
  await asMariaDbAdmin(async (admin) => {
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [MYSQL_USER, '%', MYSQL_PASSWORD]);
    await admin.query('GRANT ALL PRIVILEGES ON *.* TO ?@?', [MYSQL_USER, '%']);
  });

  // A verified dump of each source the example config's plans restore, as `lifeboat backup` and `verify` make them.
  for (const [url, sourceId, server] of [
    [orders.url, 'orders-db', `postgresql://${pg.user}@${pg.host}:${pg.port}`],
    [billing.url, 'billing-db', `mysql://${my.user}@${my.host}:${my.port}`],
  ] as const) {
    const backup = await lifeboat(['backup', '--source', url, '--source-id', sourceId, '--vault', vault, '--key-file', keyFile]);
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    const verify = await lifeboat(['verify', backup.stdout.trim(), '--vault', vault, '--key-file', keyFile, '--restore-server', server]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(ExitCode.ok);
  }
  // ... and of the session cache, verified in a scratch redis-server.
  sessions = await startTestRedis();
  const client = await sessions.connect();
  for (let i = 0; i < SESSION_KEYS; i++) await client.call('SET', `session:${i}`, `user-${i}`);
  client.close();
  const backup = await lifeboat(['backup', '--source', `redis://${sessions.host}:${sessions.port}`, '--source-id', 'sessions-cache', '--vault', vault, '--key-file', keyFile]);
  expect(backup.code, backup.stderr).toBe(ExitCode.ok);
  const verify = await lifeboat(['verify', backup.stdout.trim(), '--vault', vault, '--key-file', keyFile]);
  expect(verify.code, verify.stdout + verify.stderr).toBe(ExitCode.ok);
}, CHILD_TEST_TIMEOUT_MS);

afterAll(async () => {
  await orders?.drop();
  await billing?.drop();
  await sessions?.stop();
  await asMariaDbAdmin((admin) => admin.query('DROP USER IF EXISTS ?@?', [MYSQL_USER, '%']));
  await dir?.remove();
});

describe('lifeboat drill --local: the example config\'s plans, end to end', () => {
  it('orders-failover (PostgreSQL): restores, validates, asks the approval on stdin, skips the promotion, cleans up and writes the evidence', async () => {
    const result = await spawnLifeboat(['drill', 'orders-failover', ...localFlags(), '--json'], 'yes\nAna Lima\nreplica lag checked\n');

    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const { executionName, evidenceKey, evidence: printed } = JSON.parse(result.stdout) as { executionName: string; evidenceKey: string; evidence: Evidence };
    expect(executionName).toMatch(/^orders-failover-\d{8}T\d{6}Z-local-[a-z2-7]{4}$/);
    expect(evidenceKey).toBe(`evidence/orders-failover/${executionName}.json`);
    const evidence = await evidenceFile('orders-failover', executionName);
    expect(evidence).toEqual(printed);

    // The deployed drill's format, with this run's outcome.
    expect(evidence).toMatchObject({
      format: 'lifeboat-dr-evidence',
      formatVersion: '1.0',
      plan: 'orders-failover',
      mode: 'drill',
      executionId: `arn:aws:states:eu-west-1:123456789012:execution:lifeboat-plan-orders-failover:${executionName}`,
      outcome: 'passed',
      failure: null,
      objectives: { rtoMinutes: 60, rpoMinutes: 240 },
      met: { rto: true, rpo: true },
    });
    expect(evidence.steps.map((step) => [step.stepId, step.kind, step.status])).toEqual([
      ['announce', 'notify', 'succeeded'],
      ['restore', 'restore-dump', 'succeeded'],
      ['check', 'validate', 'succeeded'],
      ['promote', 'promote-replica', 'skipped'],
      ['done', 'notify', 'succeeded'],
    ]);
    // The approver, as typed on stdin, is in the evidence of the gated step.
    expect(stepOf(evidence, 'promote').approval).toEqual({ approved: true, approver: 'Ana Lima', comment: 'replica lag checked', decidedAt: expect.any(String) });
    expect(stepOf(evidence, 'promote').result).toEqual({ wouldHave: 'promote read replica orders-prod-replica in eu-central-1' });
    // The measured RTO: execution start to the end of the validation.
    const { rtoMinutes, validatedAt } = evidence.measured;
    expect(rtoMinutes).not.toBeNull();
    expect(rtoMinutes).toBe(Math.round((Date.parse(validatedAt!) - Date.parse(evidence.startedAt)) / 6_000) / 10);
    expect(validatedAt).toBe(stepOf(evidence, 'check').endedAt);
    // Validation ran against the drill copy: the orders table with its rows, and the plan's SQL check.
    const validation = stepOf(evidence, 'check').result as { tables: { name: string; actualRows: number; status: string }[]; sqlChecks: { sql: string; status: string }[] };
    expect(validation.tables).toEqual([expect.objectContaining({ name: 'orders', actualRows: ORDERS_ROWS, status: 'passed' })]);
    expect(validation.sqlChecks).toEqual([{ sql: 'SELECT count(*) > 0 FROM orders', status: 'passed' }]);
    // The drill restored into orders_check_drill_<suffix> on the local server and dropped it at clean-up.
    expect(drillDatabaseOf(evidence)).toMatch(/^orders_check_drill_[0-9a-f]{8}$/);
    expect(await listPostgresDatabases(drillDatabaseOf(evidence))).toEqual([]);

    // On the terminal: the question, the notify messages, the skip and the clean-up; never the server's password.
    expect(result.stderr).toContain('Promote orders-prod-replica in eu-central-1 to primary? This ends replication from orders-prod: a failover.');
    expect(result.stderr).toContain('Approved by Ana Lima.');
    expect(result.stderr).toContain('[DRILL] orders-db failover started: restoring the latest verified dump to check the data');
    expect(result.stderr).toContain('promote skipped in');
    expect(result.stderr).toContain(`clean-up: dropped ${drillDatabaseOf(evidence)} on ${pg.host}:${pg.port}`);
    expect(result.stderr).not.toContain(PG_PASSWORD);
  }, CHILD_TEST_TIMEOUT_MS);

  it('billing-db-default (MariaDB): skips backup-now, restores the latest verified dump, validates its rows and prints one line', async () => {
    const result = await lifeboat(['drill', 'billing-db-default', ...localFlags()]);

    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const line = /^Drill of plan billing-db-default passed: RTO (\d+\.\d) min \(objective 120 min\), RPO (\d+\.\d) min \(objective 1500 min\); skipped \(AWS only\): backup; evidence: (\S+)\n$/.exec(result.stdout);
    expect(line, result.stdout).not.toBeNull();
    const evidence = JSON.parse(await readFile(line![3]!, 'utf8')) as Evidence;
    expect(evidence.measured.rtoMinutes).toBe(Number(line![1]));
    expect(evidence.steps.map((step) => [step.stepId, step.status])).toEqual([
      ['backup', 'skipped'],
      ['restore', 'succeeded'],
      ['check', 'succeeded'],
      ['tell', 'succeeded'],
    ]);
    expect(stepOf(evidence, 'backup').result).toEqual({ wouldHave: 'run the backup state machine lifeboat-backup for billing-db and wait for it', skippedBy: 'lifeboat drill --local' });
    const validation = stepOf(evidence, 'check').result as { tables: { name: string; actualRows: number }[] };
    expect(validation.tables).toEqual([expect.objectContaining({ name: 'invoices', actualRows: INVOICES_ROWS })]);
    expect(drillDatabaseOf(evidence)).toMatch(/^billing_recovered_drill_[0-9a-f]{8}$/);
    expect(await listMariaDbDatabases(drillDatabaseOf(evidence))).toEqual([]);
    expect(result.stderr).not.toContain(MYSQL_PASSWORD);
  });

  it('sessions-recovery (ElastiCache): restores the cache\'s latest verified backup into a scratch redis-server, never the plan\'s target, and tells the contacts', async () => {
    const result = await lifeboat(['drill', 'sessions-recovery', ...localFlags()]);

    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const line = /^Drill of plan sessions-recovery passed: RTO (\d+\.\d) min \(objective 30 min\), RPO (\d+\.\d) min \(objective 180 min\); evidence: (\S+)\n$/.exec(result.stdout);
    expect(line, result.stdout).not.toBeNull();
    const evidence = JSON.parse(await readFile(line![3]!, 'utf8')) as Evidence;
    expect(evidence.steps.map((step) => [step.stepId, step.status])).toEqual([
      ['announce', 'succeeded'],
      ['restore', 'succeeded'],
      ['done', 'succeeded'],
    ]);
    expect(stepOf(evidence, 'restore').result).toMatchObject({ sourceId: 'sessions-cache', target: { scratch: true }, keys: SESSION_KEYS, keyspace: [{ db: 0, keys: SESSION_KEYS }], drill: true });
  });

  it('uploads-recovery (S3 file set): reads and checks every file of the latest verified snapshot, writing nothing, and tells the contacts', async () => {
    // The example's uploads, as a directory here: backed up under its source id and verified as the CLI records it.
    const files = join(dir.path, 'uploads');
    await mkdir(join(files, 'media'), { recursive: true });
    for (let i = 0; i < 5; i++) await writeFile(join(files, 'media', `${i}.jpg`), randomBytes(3000 + i));
    const backup = await lifeboat(['backup', `file://${files}`, '--source-id', 'uploads', '--vault', vault, '--key-file', keyFile]);
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    const snapshotId = backup.stdout.trim().split(/\s+/)[0]!;
    const verified = await lifeboat(['verify', snapshotId, '--source', 'uploads', '--vault', vault, '--key-file', keyFile]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(ExitCode.ok);

    const result = await lifeboat(['drill', 'uploads-recovery', ...localFlags()]);

    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const line = /^Drill of plan uploads-recovery passed: RTO (\d+\.\d) min \(objective 240 min\), RPO (\d+\.\d) min \(objective 420 min\); evidence: (\S+)\n$/.exec(result.stdout);
    expect(line, result.stdout).not.toBeNull();
    const evidence = JSON.parse(await readFile(line![3]!, 'utf8')) as Evidence;
    expect(evidence.steps.map((step) => [step.stepId, step.status])).toEqual([
      ['announce', 'succeeded'],
      ['restore', 'succeeded'],
      ['done', 'succeeded'],
    ]);
    expect(stepOf(evidence, 'restore').result).toMatchObject({ sourceId: 'uploads', target: { discarded: true }, files: 5, bytes: 15010, drill: true });
  });

  it('with an evidence key, records the restore and the evidence in the vault\'s audit trail, as the deployed DR step does', async () => {
    const evidenceKey = join(dir.path, 'evidence-drill.key');
    expect((await lifeboat(['keygen', '--key-file', evidenceKey])).code).toBe(ExitCode.ok);
    const result = await lifeboat(['drill', 'billing-db-default', ...localFlags(), '--evidence-key-file', evidenceKey, '--json']);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const { executionName } = JSON.parse(result.stdout) as { executionName: string };
    const listed = JSON.parse((await lifeboat(['audit', '--vault', vault, '--evidence-key-file', evidenceKey, '--json'])).stdout) as { authentic: boolean; event: { type: string; outcome: string; plan: string; executionId: string; actor: { kind: string }; details: Record<string, unknown> } }[];
    const ours = listed.filter((e) => e.event.executionId?.endsWith(`:${executionName}`));
    expect(ours.map((e) => [e.authentic, e.event.type, e.event.outcome, e.event.plan, e.event.actor.kind])).toEqual([
      [true, 'restore-finished', 'succeeded', 'billing-db-default', 'cli'],
      [true, 'drill-evidence', 'succeeded', 'billing-db-default', 'cli'],
    ]);
    expect(ours[0]!.event.details['into']).toMatch(/^127\.0\.0\.1:3306\/billing_recovered_drill_[0-9a-f]{8}$/);
    expect(ours[1]!.event.details).toMatchObject({ evidenceKey: `evidence/billing-db-default/${executionName}.json`, mode: 'drill', outcome: 'passed' });
  });

  it('with a DR evidence key, signs the evidence; the report given the key counts it and lists a forged drill instead of counting it', async () => {
    const drEvidenceKey = join(dir.path, 'dr-evidence.key');
    const evidenceKey = join(dir.path, 'evidence-report.key');
    for (const file of [drEvidenceKey, evidenceKey]) expect((await lifeboat(['keygen', '--key-file', file])).code).toBe(ExitCode.ok);
    const result = await lifeboat(['drill', 'billing-db-default', ...localFlags(), '--dr-evidence-key', drEvidenceKey, '--json']);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const { executionName } = JSON.parse(result.stdout) as { executionName: string };
    const signed = await evidenceFile('billing-db-default', executionName);
    expect(signed).toMatchObject({ formatVersion: '1.1', outcome: 'passed', mac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });

    // Someone who can put objects in the vault plants a newer pass of the plan, signed with a key of their own.
    const forgedName = `z-forged-${executionName}`;
    const { mac: _mac, ...unsigned } = signed;
    // Same start (a later one would be after the report's end, now); listed after the genuine one, so it is the last.
    const forged = { ...unsigned, executionId: signed.executionId.replace(executionName, forgedName) };
    const attacker = localHmacSigner(Buffer.alloc(32, 1));
    await writeFile(join(vault, 'evidence', 'billing-db-default', `${forgedName}.json`), JSON.stringify({ ...forged, mac: await attacker.sign(drEvidenceMacMessage(forged)) }));

    const report = async (extra: string[]) => {
      const run = await lifeboat(['report', '--vault', vault, '--evidence-key-file', evidenceKey, '--rpo-minutes', '1500', '--json', ...extra]);
      expect(run.code, run.stderr).toBe(ExitCode.ok);
      return JSON.parse(run.stdout) as { plans: { plan: string; lastDrill: { executionId: string } | null }[]; audit: { unauthenticated: { key: string; problem: string }[] } };
    };
    const keyed = await report(['--dr-evidence-key', drEvidenceKey]);
    expect(keyed.plans.find((p) => p.plan === 'billing-db-default')!.lastDrill!.executionId).toBe(signed.executionId);
    const forgedKey = `evidence/billing-db-default/${forgedName}.json`;
    expect(keyed.audit.unauthenticated).toContainEqual({ key: forgedKey, problem: `${forgedKey} does not authenticate with the DR evidence key: not counted` });
    // Without the key the forgery is the plan's last drill.
    const asStored = await report([]);
    expect(asStored.plans.find((p) => p.plan === 'billing-db-default')!.lastDrill!.executionId).toBe(forged.executionId);
  });

  it('a rejection on stdin fails the plan (exit 1) with who refused and why in the evidence, and still cleans up', async () => {
    const result = await lifeboat(['drill', 'orders-failover', ...localFlags()], { deps: { stdin: Readable.from(['no\n', 'Ben Ode\n', 'not during the sale\n']) } });

    expect(result.code).toBe(ExitCode.failed);
    const evidencePath = /evidence: (\S+)\n$/.exec(result.stdout)![1]!;
    expect(result.stdout).toMatch(/^Drill of plan orders-failover failed: RTO \d+\.\d min \(objective 60 min, NOT met\), RPO \d+\.\d min \(objective 240 min, NOT met\); evidence: /);
    const evidence = JSON.parse(await readFile(evidencePath, 'utf8')) as Evidence;
    expect(evidence.outcome).toBe('failed');
    expect(evidence.failure).toEqual({ error: 'ApprovalRejectedError', cause: 'Step promote of plan orders-failover was rejected by Ben Ode: not during the sale' });
    expect(evidence.steps.map((step) => step.stepId)).toEqual(['announce', 'restore', 'check']);
    expect(await listPostgresDatabases(drillDatabaseOf(evidence))).toEqual([]);
    expect(errorLine(result.stderr.split('\n').filter((l) => l.startsWith('lifeboat: ')).join('\n'))).toEqual({
      name: 'PlanRunFailedError',
      message: `the drill of plan orders-failover failed: ApprovalRejectedError: Step promote of plan orders-failover was rejected by Ben Ode: not during the sale (evidence: ${evidencePath})`,
    });
  });

  it('input that ends before the decision decides nothing: the plan fails with ApprovalUnansweredError', async () => {
    const result = await lifeboat(['drill', 'orders-failover', ...localFlags(), '--json'], { deps: { stdin: Readable.from(['maybe\n']) } });

    expect(result.code).toBe(ExitCode.failed);
    const { evidence } = JSON.parse(result.stdout) as { evidence: Evidence };
    expect(evidence.failure?.error).toBe('ApprovalUnansweredError');
    expect(evidence.failure?.cause).toContain('the input ended before step promote was decided: nothing was decided');
    expect(evidence.steps.some((step) => step.stepId === 'promote')).toBe(false);
    expect(result.stderr).toContain('Please answer yes or no.');
  });

  it('--approve-as decides every approval without asking, and names the approver', async () => {
    const result = await lifeboat(['drill', 'orders-failover', ...localFlags(), '--approve-as', 'Drill Bot', '--json'], { deps: { stdin: Readable.from([]) } });

    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const { evidence } = JSON.parse(result.stdout) as { evidence: Evidence };
    expect(stepOf(evidence, 'promote').approval).toEqual({ approved: true, approver: 'Drill Bot', comment: 'approved with --approve-as', decidedAt: expect.any(String) });
  });

  it('a failed validation fails the plan, and the evidence says which check', async () => {
    const config = JSON.parse(await readFile(EXAMPLE_CONFIG, 'utf8')) as { plans: { steps: { id: string; parameters: Record<string, unknown> }[] }[] };
    config.plans[0]!.steps.find((step) => step.id === 'check')!.parameters['sqlChecks'] = ['SELECT count(*) > 1000 FROM orders'];
    const path = join(dir.path, 'failing-check.json');
    await writeFile(path, JSON.stringify(config));

    const result = await lifeboat(['drill', 'orders-failover', ...localFlags(), '--config', path, '--approve-as', 'Drill Bot', '--json']);

    expect(result.code).toBe(ExitCode.failed);
    const { evidence } = JSON.parse(result.stdout) as { evidence: Evidence };
    expect(evidence.failure?.error).toBe('ValidationFailedError');
    expect(evidence.failure?.cause).toContain('SQL check "SELECT count(*) > 1000 FROM orders"');
    expect(evidence.steps.map((step) => step.stepId)).toEqual(['announce', 'restore']);
    expect(await listPostgresDatabases(drillDatabaseOf(evidence))).toEqual([]);
  });
});

describe('lifeboat drill --local interrupted', () => {
  it('SIGINT while the approval waits: the drill database is dropped, it says so, no evidence is written, exit 1', async () => {
    const evidenceDir = join(vault, 'evidence', 'orders-failover');
    const before = new Set(await readdir(evidenceDir).catch(() => []));
    const child = spawn(process.execPath, [bin, 'drill', 'orders-failover', ...localFlags()], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The restore and validation are done when the approval is asked; stdin stays open, nobody answers.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no approval prompt: ${stderr}`)), 240_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('Approve? [yes/no]: ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const drillDatabase = /into (orders_check_drill_[0-9a-f]{8}) on /.exec(stderr)![1]!;
    expect(await listPostgresDatabases(drillDatabase)).toEqual([drillDatabase]);

    child.kill('SIGINT');
    const code = await exited;

    expect(code).toBe(ExitCode.failed);
    expect(stderr.trimEnd().split('\n').at(-1)).toBe(
      `lifeboat: DrillInterruptedError: the drill of plan orders-failover was interrupted before it ended; clean-up: dropped ${drillDatabase} on ${pg.host}:${pg.port}; no evidence was written`,
    );
    expect(await listPostgresDatabases(drillDatabase)).toEqual([]);
    expect(await readdir(evidenceDir).catch(() => [])).toEqual([...before]);
  }, CHILD_TEST_TIMEOUT_MS);
});

describe('lifeboat drill --local: what it refuses before running anything', () => {
  const before = async () => (await readdir(join(vault, 'evidence'), { recursive: true }).catch(() => [])).length;

  it.each([
    [['--wait'], '--wait is for a deployed drill; a local drill (--local) runs here, always as a drill'],
    [['--real', '--yes'], '--real is for a deployed drill; a local drill (--local) runs here, always as a drill'],
  ])('%j with --local is a usage error', async (extra, message) => {
    const count = await before();
    const result = await lifeboat(['drill', 'orders-failover', ...localFlags(), ...extra]);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: `${message} (see lifeboat drill --help)` });
    expect(await before()).toBe(count);
  });

  it('local-only flags without --local are a usage error', async () => {
    const result = await lifeboat(['drill', 'orders-failover', '--pg-server', PG_SERVER]);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: '--pg-server is for a local drill: add --local (see lifeboat drill --help)' });
  });

  it('names the plans the config has when the plan is not one of them', async () => {
    const result = await lifeboat(['drill', 'nosuch', ...localFlags()]);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)?.message).toBe('the config has no plan "nosuch"; its plans: orders-failover, sessions-recovery, uploads-recovery, config-recovery, billing-db-default, catalog-docdb-default (see lifeboat plan list) (see lifeboat drill --help)');
  });

  it('asks for the server password rather than failing inside the step executor', async () => {
    const result = await lifeboat(['drill', 'orders-failover', '--local', '--config', EXAMPLE_CONFIG, '--vault', vault, '--key-file', keyFile, '--pg-server', `postgresql://${pg.user}@${pg.host}:${pg.port}`]);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)?.message).toBe(
      `--pg-server: give the password of ${pg.user} on ${pg.host}:${pg.port} (in the URL or PGPASSWORD): the DR step executor logs in to a verification server with a password, as it does in AWS (see lifeboat drill --help)`,
    );
  });

  it('needs the config, from --config or LIFEBOAT_CONFIG', async () => {
    const result = await lifeboat(['drill', 'orders-failover', '--local', '--vault', vault, '--key-file', keyFile]);
    expect(errorLine(result.stderr)?.message).toBe('a local drill needs the config that holds the plan: give --config FILE (or set LIFEBOAT_CONFIG) (see lifeboat drill --help)');
  });
});
