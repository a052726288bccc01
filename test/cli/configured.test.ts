/**
 * A vault configured once: LIFEBOAT_VAULT / LIFEBOAT_KEY_FILE and the deployment's config file standing in
 * for flags (flags over environment over config), `latest` and id prefixes, `--json` on every command, the
 * closing summary line, progress with a percentage, and errors that name their cause. Real PostgreSQL and
 * MariaDB, a real directory vault, s3rver for the S3-compatible endpoint.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeExecutionCommand, ListStateMachinesCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { createMariaDbDatabase, createPostgresDatabase, type MariaDbDatabase, type PostgresDatabase } from '../harness/databases.ts';
import { type LocalS3, startLocalS3 } from '../harness/s3.ts';
import { errorLine, lifeboat, mockedStepFunctions, S3RVER_CREDENTIALS, tempDir } from './support.ts';

/** Tests that start `lifeboat` processes: each start takes seconds on a loaded 2-core machine. */
const CHILD_PROCESS_TIMEOUT_MS = 240_000;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'cli', 'bin.js');

/** `cli/bin.js` as a child process with exactly `env` (plus PATH): for what only a process shows. */
function spawnLifeboat(args: readonly string[], env: Record<string, string> = {}, options: { uid?: number; gid?: number } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((resolve) => {
    const started = Date.now();
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000, ...options },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let source: PostgresDatabase;
let other: PostgresDatabase;
let keyFile: string;
let vault: string;
let env: Record<string, string>;
const targets: { drop(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = await tempDir('configured');
  source = await createPostgresDatabase('cli_cfg_shop');
  other = await createPostgresDatabase('cli_cfg_other');
  await source.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await source.query("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) AS i");
  await other.query('CREATE TABLE t (id int)');
  keyFile = join(dir.path, 'key.json');
  vault = join(dir.path, 'vault');
  expect((await lifeboat(['keygen', '--key-file', keyFile, '-q'])).code).toBe(ExitCode.ok);
  env = { LIFEBOAT_VAULT: vault, LIFEBOAT_KEY_FILE: keyFile };
});
afterAll(async () => {
  await Promise.all([source?.drop(), other?.drop(), ...targets.map((t) => t.drop())]);
  await dir?.remove();
});

async function freshTarget(label: string): Promise<PostgresDatabase> {
  const target = await createPostgresDatabase(label);
  targets.push(target);
  return target;
}

/** A valid deployment config (the example's shape) whose first source dumps `database` as `shop-db`. */
async function writeConfig(database: string): Promise<string> {
  const example = JSON.parse(await readFile(join(repoRoot, 'config', 'example.lifeboat.json'), 'utf8')) as {
    sources: Record<string, unknown>[];
  };
  const original = example.sources[0]!;
  example.sources[0] = {
    ...original,
    id: 'shop-db',
    database,
    sqlChecks: ['SELECT count(*) = 100 FROM items'],
    retention: { days: 2, keepLast: 1, gfs: { daily: 3, weekly: 0, monthly: 0, yearly: 0 } },
    schedule: { cron: '0 */4 * * ? *', timeZone: 'Europe/Lisbon' },
  };
  const file = join(dir.path, 'lifeboat.json');
  // The example's plans name its first source: they follow it to its new id.
  await writeFile(file, JSON.stringify(example).replaceAll(`"${String(original['id'])}"`, '"shop-db"'));
  return file;
}

describe('a vault configured once', () => {
  it('LIFEBOAT_VAULT and LIFEBOAT_KEY_FILE stand in for --vault and --key-file; the source id is derived from the database name', async () => {
    const backup = await lifeboat(['backup', '--source', source.url], { env });
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    const derived = source.name.replace(/_/g, '-');
    expect(backup.stderr).toMatch(new RegExp(`^Backed up ${source.name} \\(postgresql\\) as ${derived}/${backup.stdout.trim()}: 1 table, 100 rows, `));

    const listed = await lifeboat(['list', '--json'], { env });
    expect((JSON.parse(listed.stdout) as { vault: string }).vault).toBe(vault);

    const target = await freshTarget('cli_cfg_restore');
    const restored = await lifeboat(['restore', 'latest', '--target', target.url], { env });
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    expect(restored.stderr).toMatch(new RegExp(`^Restored ${derived}/${backup.stdout.trim()} into ${target.name} on 127\\.0\\.0\\.1:\\d+ \\(existing database\\): 1 table, 100 rows, in [\\d.]+s\\n$`));
    expect(await target.query('SELECT count(*)::int AS n FROM items')).toEqual([{ n: 100 }]);
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('flags win over the environment, which wins over the config (and says where a value came from)', async () => {
    const config = await writeConfig(source.name);
    // Config only: the deployed vault, s3://<name>-<account>-<primary region>, reached on the S3 endpoint.
    const s3 = await startLocalS3();
    try {
      const s3Env = { AWS_ENDPOINT_URL: s3.endpoint, ...S3RVER_CREDENTIALS };
      const fromConfig = await lifeboat(['list', '--config', config], { env: s3Env });
      expect(fromConfig.code).toBe(ExitCode.notFound);
      expect(errorLine(fromConfig.stderr)).toEqual({
        name: 'VaultNotFoundError',
        message: `No vault at s3://lifeboat-123456789012-eu-west-1 (from config ${config}): the bucket does not exist`,
      });
    } finally {
      await s3.stop();
    }
    // The environment wins over the config.
    const fromEnv = await lifeboat(['list', '--source', 'nosuch'], { env: { ...env, LIFEBOAT_CONFIG: config } });
    expect(fromEnv.code, fromEnv.stderr).toBe(ExitCode.ok);
    expect(fromEnv.stdout).toContain(`in ${vault};`);
    // The flag wins over the environment; an environment value that is wrong says it came from there.
    const missing = join(dir.path, 'no-such-vault');
    const fromFlag = await lifeboat(['list', '--vault', missing], { env });
    expect(errorLine(fromFlag.stderr)?.message).toBe(`No vault at ${missing}: the directory does not exist`);
    const fromBadEnv = await lifeboat(['list'], { env: { LIFEBOAT_VAULT: missing } });
    expect(fromBadEnv.code).toBe(ExitCode.notFound);
    expect(errorLine(fromBadEnv.stderr)?.message).toBe(`No vault at ${missing} (from LIFEBOAT_VAULT): the directory does not exist`);
    // --key-file wins over LIFEBOAT_KMS_KEY: no "both" error, the file is used.
    const keyed = await lifeboat(['backup', '--source', other.url, '--key-file', keyFile, '-q'], { env: { LIFEBOAT_VAULT: vault, LIFEBOAT_KMS_KEY: 'arn:aws:kms:eu-west-1:111122223333:key/x' } });
    expect(keyed.code, keyed.stderr).toBe(ExitCode.ok);
    const both = await lifeboat(['backup', '--source', other.url], { env: { ...env, LIFEBOAT_KMS_KEY: 'arn:aws:kms:eu-west-1:111122223333:key/x' } });
    expect(both.code).toBe(ExitCode.usage);
    expect(errorLine(both.stderr)?.message).toMatch(/^LIFEBOAT_KEY_FILE and LIFEBOAT_KMS_KEY are both set/);
    // A required flag that the environment could give says so.
    expect(errorLine((await lifeboat(['list'])).stderr)?.message).toMatch(/^--vault is required \(or set LIFEBOAT_VAULT once\)/);
  });

  it('the config gives the source id, the retention policy and time zone for prune, and the checks for verify', async () => {
    const config = await writeConfig(source.name);
    const configEnv = { ...env, LIFEBOAT_CONFIG: config };
    const backup = await lifeboat(['backup', '--source', source.url, '--json'], { env: configEnv });
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    const made = JSON.parse(backup.stdout) as { backupId: string; sourceId: string };
    expect(made.sourceId).toBe('shop-db');

    const verified = await lifeboat(['verify', 'latest', '--source', 'shop-db', '--restore-server', 'postgres://postgres@127.0.0.1:5432', '--json'], { env: configEnv });
    expect(verified.code, verified.stderr).toBe(ExitCode.ok);
    const result = JSON.parse(verified.stdout) as { backupId: string; sqlChecks: { sql: string; status: string }[] };
    expect(result.backupId).toBe(made.backupId);
    expect(result.sqlChecks).toEqual([{ sql: 'SELECT count(*) = 100 FROM items', status: 'passed' }]);
    expect(verified.stderr).toMatch(new RegExp(`^Verified shop-db/${made.backupId}: \\d+ checks passed \\(restore test: 1 table, 100 rows\\), in [\\d.]+s\\n$`));

    const pruned = await lifeboat(['prune', '--source', 'shop-db', '--dry-run', '--json'], { env: configEnv });
    expect(pruned.code, pruned.stderr).toBe(ExitCode.ok);
    const report = JSON.parse(pruned.stdout) as { policy: unknown; timeZone: string };
    expect(report.policy).toEqual({ days: 2, keepLast: 1, gfs: { daily: 3, weekly: 0, monthly: 0, yearly: 0 } });
    expect(report.timeZone).toBe('Europe/Lisbon');
    // One flag overrides one rule of the configured policy.
    const overridden = JSON.parse((await lifeboat(['prune', '--source', 'shop-db', '--dry-run', '--json', '--keep-last', '4'], { env: configEnv })).stdout) as { policy: { keepLast: number; days: number } };
    expect(overridden.policy).toMatchObject({ keepLast: 4, days: 2 });

    const unknown = await lifeboat(['prune', '--source', 'nosuch', '--dry-run'], { env: configEnv });
    expect(unknown.code).toBe(ExitCode.usage);
    expect(errorLine(unknown.stderr)?.message).toMatch(/^--source nosuch is not a source of .*lifeboat\.json \(its sources: shop-db, billing-db, catalog-docdb, sessions-cache, uploads, orders-config\)/);
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('takes latest and unique prefixes of ids; an ambiguous prefix lists the candidates', async () => {
    const prefixVault = join(dir.path, 'prefix-vault');
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const made = await lifeboat(['backup', '--source', source.url, '--vault', prefixVault, '--source-id', 'shop', '-q'], { env });
      expect(made.code, made.stderr).toBe(ExitCode.ok);
      ids.push(made.stdout.trim());
    }
    const [first, second] = ids as [string, string];
    let common = 0;
    while (first[common] === second[common]) common++;

    const latest = JSON.parse((await lifeboat(['show', 'latest', '--vault', prefixVault, '--json'])).stdout) as { manifest: { backupId: string } };
    expect(latest.manifest.backupId).toBe(second > first ? second : first);
    const unique = JSON.parse((await lifeboat(['show', first.slice(0, common + 1), '--vault', prefixVault, '--json'])).stdout) as { manifest: { backupId: string } };
    expect(unique.manifest.backupId).toBe(first);

    const ambiguous = await lifeboat(['show', first.slice(0, 8), '--vault', prefixVault]);
    expect(ambiguous.code).toBe(ExitCode.usage);
    expect(errorLine(ambiguous.stderr)?.name).toBe('AmbiguousBackupIdError');
    expect(errorLine(ambiguous.stderr)?.message).toContain(`"${first.slice(0, 8)}" matches 2 backups:`);
    for (const id of ids) expect(ambiguous.stderr).toContain(`shop/${id}`);

    const none = await lifeboat(['show', '1999', '--vault', prefixVault]);
    expect(none.code).toBe(ExitCode.notFound);
    expect(errorLine(none.stderr)).toEqual({ name: 'BackupNotFoundError', message: `No backup id starting with "1999" in ${prefixVault} (see lifeboat list)` });

    // `latest` across two sources is ambiguous; --source settles it.
    expect((await lifeboat(['backup', '--source', other.url, '--vault', prefixVault, '-q'], { env })).code).toBe(ExitCode.ok);
    const across = await lifeboat(['show', 'latest', '--vault', prefixVault]);
    expect(across.code).toBe(ExitCode.usage);
    expect(errorLine(across.stderr)?.message).toMatch(/^"latest" is ambiguous: .* holds backups of 2 sources \(.*shop.*\); give --source ID/);
    const target = await freshTarget('cli_cfg_prefix');
    // The other source's backup may share that prefix (same second, 1 in 32 for its next character): name the source.
    const restored = await lifeboat(['restore', first.slice(0, common + 1), '--source', 'shop', '--vault', prefixVault, '--target', target.url], { env });
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    expect(restored.stderr).toContain(`Restored shop/${first} into ${target.name}`);
    const verified = await lifeboat(['verify', 'latest', '--source', 'shop', '--vault', prefixVault], { env });
    expect(verified.code, verified.stderr).toBe(ExitCode.ok);
    expect(verified.stderr).toMatch(/^Verified shop\/\S+: \d+ checks passed \(no restore test: give --restore-server\), in [\d.]+s\n$/);
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('list --source names the sources a vault holds instead of calling it empty', async () => {
    const result = await lifeboat(['list', '--source', 'nosuch'], { env });
    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(new RegExp(`^No backups of source nosuch in ${vault.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; it holds backups of .*lb-test-cli-cfg-shop`));
  });

  it('prints one JSON document on stdout for every command', async () => {
    const sfn = mockedStepFunctions('123456789012');
    const machine = sfn.stateMachine('lifeboat-backup');
    const plan = sfn.stateMachine('lifeboat-plan-orders-restore');
    sfn.sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [machine, plan] });
    sfn.sfn.on(StartExecutionCommand).resolves({ executionArn: `${machine.stateMachineArn.replace(':stateMachine:', ':execution:')}:x`, startDate: new Date() });
    sfn.sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED', stopDate: new Date() } as never);
    const link = 'https://abc.lambda-url.eu-west-1.on.aws/approvals/AAAAAAAAAAAAAAAAAAAAAAAA?exp=1&sig=s';
    const fetch = (async () => new Response('<html><h1>Approved</h1><p>Ana approved.</p></html>', { status: 200 })) as typeof globalThis.fetch;
    const target = await freshTarget('cli_cfg_json');
    const commands: [string, string[]][] = [
      ['keygen', ['keygen', '--key-file', join(dir.path, 'json-key.json')]],
      ['backup', ['backup', '--source', source.url, '--source-id', 'json']],
      ['list', ['list']],
      ['show', ['show', 'latest', '--source', 'json']],
      ['restore', ['restore', 'latest', '--source', 'json', '--target', target.url]],
      ['verify', ['verify', 'latest', '--source', 'json']],
      ['prune', ['prune', '--source', 'json', '--dry-run']],
      ['run', ['run', 'orders-db', '--region', 'eu-west-1']],
      ['drill', ['drill', 'orders-restore', '--region', 'eu-west-1', '--wait']],
      ['approve', ['approve', link, '--name', 'Ana']],
      ['completion', ['completion', 'bash']],
    ];
    for (const [name, argv] of commands) {
      const result = await lifeboat([...argv, '--json'], { env, deps: { ...sfn.deps, fetch } });
      expect(result.code, `${name}: ${result.stderr}`).toBe(ExitCode.ok);
      expect(() => JSON.parse(result.stdout), `${name} --json: ${result.stdout}`).not.toThrow();
      expect(typeof JSON.parse(result.stdout), name).toBe('object');
    }
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('a database that does not exist exits 3, PostgreSQL and MariaDB alike', async () => {
    const pg = await lifeboat(['backup', '--source', 'postgres://postgres@127.0.0.1:5432/lb_test_no_such_db'], { env });
    expect(pg.code).toBe(ExitCode.notFound);
    expect(errorLine(pg.stderr)).toEqual({ name: 'DatabaseNotFoundError', message: expect.stringContaining('database "lb_test_no_such_db" does not exist') });
    const maria: MariaDbDatabase = await createMariaDbDatabase('cli_cfg_probe');
    try {
      const url = maria.url.replace(maria.name, 'lb_test_no_such_db');
      const my = await lifeboat(['backup', '--source', url], { env });
      expect(my.code).toBe(ExitCode.notFound);
      expect(errorLine(my.stderr)?.name).toBe('DatabaseNotFoundError');
    } finally {
      await maria.drop();
    }
  });

  it('draws a percentage and an ETA on a terminal: backup estimated from the last backup, verify and restore from the manifest', async () => {
    const backup = await lifeboat(['backup', '--source', source.url, '--source-id', 'json'], { env, tty: true });
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    expect(backup.stderr).toMatch(/\rbackup {2}~\d{1,3}% {2}[\d.]+ \w+ of ~[\d.]+ \w+ raw {2}[\d.]+ \w+\/s {2}(ETA ~\S+|ETA \?|done) {2}elapsed [\d.]+s\x1b\[K/);
    const verify = await lifeboat(['verify', 'latest', '--source', 'json'], { env, tty: true });
    expect(verify.code, verify.stderr).toBe(ExitCode.ok);
    expect(verify.stderr).toMatch(/(?:^|\r)verify {2,4}1?\d{1,2}% {2}[\d.]+ \w+ of [\d.]+ \w+ stored {2}/);
  }, CHILD_PROCESS_TIMEOUT_MS);
});

describe('vault errors that name their cause', () => {
  it('a vault under /proc fails at once, naming the file system (it used to spin forever)', async () => {
    const result = await spawnLifeboat(['backup', '--source', source.url, '--vault', '/proc/lifeboat-vault', '--key-file', keyFile]);
    expect(result.code).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)).toEqual({
      name: 'VaultAccessError',
      message: "Cannot use /proc/lifeboat-vault as a vault: it is on the proc file system, which only shows the kernel's state and holds no files",
    });
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('a file where the vault directory should be, or on its path, is named', async () => {
    const file = join(dir.path, 'a-file');
    await writeFile(file, 'x');
    const at = await lifeboat(['backup', '--source', source.url, '--vault', file], { env });
    expect(errorLine(at.stderr)).toEqual({ name: 'VaultAccessError', message: `Cannot use ${file} as a vault: it is a file, not a directory` });
    expect(at.code).toBe(ExitCode.failed);
    const under = await lifeboat(['backup', '--source', source.url, '--vault', join(file, 'vault')], { env });
    expect(errorLine(under.stderr)?.message).toBe(`Cannot create the vault directory ${join(file, 'vault')}: ${file} is a file, not a directory`);
    const reading = await lifeboat(['list', '--vault', file]);
    expect(errorLine(reading.stderr)).toEqual({ name: 'VaultAccessError', message: `No vault at ${file}: it is a file, not a vault directory` });
  });

  it('permission denied on the vault path is said as such, with the owner and mode (as an unprivileged user)', async () => {
    const locked = join(dir.path, 'locked');
    await mkdir(locked, { mode: 0o700 });
    await chmod(locked, 0o700);
    await chmod(dir.path, 0o755);
    const nobodyKey = join(dir.path, 'nobody-key.json');
    await copyFile(keyFile, nobodyKey);
    await chown(nobodyKey, 65534, 65534);
    const result = await spawnLifeboat(['backup', '--source', source.url, '--vault', join(locked, 'vault'), '--key-file', nobodyKey], {}, { uid: 65534, gid: 65534 });
    expect(result.code, result.stderr).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)?.name).toBe('VaultAccessError');
    expect(errorLine(result.stderr)?.message).toMatch(new RegExp(`^Cannot read the vault directory ${locked}/vault: permission denied \\(${locked} is owned by uid 0, mode 0700; this process runs as uid 65534\\)$`));
  }, CHILD_PROCESS_TIMEOUT_MS);
});

describe('an S3-compatible vault off AWS', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3();
  });
  afterAll(() => s3?.stop());

  it('uses AWS_ENDPOINT_URL and the credentials of the environment; an unknown key is refused in one line', async () => {
    const bucket = await s3.createBucket();
    const s3Env = { LIFEBOAT_VAULT: `s3://${bucket}/vault`, LIFEBOAT_KEY_FILE: keyFile, AWS_ENDPOINT_URL: s3.endpoint, ...S3RVER_CREDENTIALS };
    const backup = await lifeboat(['backup', '--source', source.url, '-q'], { env: s3Env });
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    const listed = JSON.parse((await lifeboat(['list', '--json'], { env: s3Env })).stdout) as { backups: { backupId: string }[] };
    expect(listed.backups.map((b) => b.backupId)).toEqual([backup.stdout.trim()]);

    // s3rver knows one access key: another one from the environment is sent, and refused (no dummy pair stands in).
    const refused = await lifeboat(['list'], { env: { ...s3Env, AWS_ACCESS_KEY_ID: 'NOT-A-KNOWN-KEY' } });
    expect(refused.code).toBe(ExitCode.usage);
    expect(errorLine(refused.stderr)).toEqual({
      name: 'AwsSetupError',
      message: `the vault s3://${bucket}/vault refused the AWS credentials (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile`,
    });
  });
});

describe('run and drill without AWS set up', () => {
  const bare = () => ({ HOME: dir.path, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(dir.path, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'none') });

  it('say in one line that the Region is missing, and what gives one', async () => {
    for (const argv of [['run', 'orders-db'], ['drill', 'orders-restore']]) {
      const result = await spawnLifeboat(argv, bare());
      expect(result.code, result.stderr).toBe(ExitCode.usage);
      expect(result.stderr).toBe(
        'lifeboat: AwsSetupError: no AWS Region to reach Step Functions: give --region, set AWS_REGION, or give --config (its primary Region)\n',
      );
    }
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('say in one line that credentials are missing, without the SDK\'s Node version notice', async () => {
    const result = await spawnLifeboat(['run', 'orders-db', '--region', 'eu-west-1'], bare());
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(errorLine(result.stderr)?.message).toMatch(/^no AWS credentials to reach Step Functions: set AWS_PROFILE .*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  }, CHILD_PROCESS_TIMEOUT_MS);
});

describe('lifeboat completion', () => {
  it('bash completes commands, flags, shells and backup ids from the configured vault', async () => {
    const script = (await lifeboat(['completion', 'bash'])).stdout;
    // `lifeboat` on the PATH, as an installed package puts it there.
    const binDir = join(dir.path, 'bin');
    await mkdir(binDir, { recursive: true });
    await writeFile(join(binDir, 'lifeboat'), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`, { mode: 0o755 });
    const complete = (words: string[]) =>
      new Promise<string>((resolve, reject) => {
        const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _lifeboat; printf '%s\\n' "\${COMPREPLY[@]}"`;
        execFile('bash', ['-c', program], { env: { PATH: `${binDir}:${process.env['PATH']}`, ...env }, timeout: 60_000 }, (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        );
      });
    expect((await complete(['lifeboat', 're'])).split('\n')).toEqual(['restore', 'report', '']);
    expect((await complete(['lifeboat', 'restore', '--ta'])).split('\n').filter(Boolean).sort()).toEqual(['--table', '--target']);
    expect((await complete(['lifeboat', 'completion', ''])).split('\n').filter(Boolean)).toEqual(['bash', 'zsh']);
    const ids = (await complete(['lifeboat', 'show', ''])).split('\n').filter(Boolean);
    expect(ids[0]).toBe('latest');
    expect(ids.slice(1).every((id) => /^\d{8}T\d{6}Z-[a-z2-7]{8}$/.test(id))).toBe(true);
    expect(ids.length).toBeGreaterThan(2);
  }, CHILD_PROCESS_TIMEOUT_MS);

  it('zsh defines a #compdef function with every command and its flags', async () => {
    const result = await lifeboat(['completion', 'zsh']);
    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout.startsWith('#compdef lifeboat\n')).toBe(true);
    for (const name of ['keygen', 'backup', 'list', 'show', 'restore', 'verify', 'prune', 'run', 'drill', 'approve', 'completion']) {
      expect(result.stdout).toMatch(new RegExp(`^    '${name}:`, 'm'));
      expect(result.stdout).toMatch(new RegExp(`^    ${name}\\)$`, 'm'));
    }
    expect(result.stdout).toContain("'--key-file[Local key file (from lifeboat keygen) a raw AES-256 keyring.]:file:_files'");
    expect(result.stdout).toContain("'1:backup id:_lifeboat_backup_ids'");
    const unknown = await lifeboat(['completion', 'fish']);
    expect(unknown.code).toBe(ExitCode.usage);
  });
});
