import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE_BY_ERROR, ExitCode } from '../../cli/errors.ts';
import { COMMANDS } from '../../cli/main.ts';
import { Output } from '../../cli/io.ts';
import { connectionFromFlag, sourceIdFromDatabase } from '../../cli/options.ts';
import { errorLine, lifeboat } from './support.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd';

describe('usage errors exit 2 with one line naming the flag', () => {
  const cases: [string, string[], RegExp][] = [
    ['a missing required flag', ['list'], /--vault is required/],
    ['an unknown flag', ['list', '--vault', '/tmp/x', '--colour'], /unknown flag --colour/],
    ['a flag without its value', ['list', '--vault'], /--vault needs a value/],
    ['a value for a boolean flag', ['list', '--vault', '/tmp/x', '--json=yes'], /--json takes no value/],
    ['a missing backup id', ['show', '--vault', '/tmp/x'], /needs a backup id/],
    ['a malformed backup id', ['show', 'yesterday', '--vault', '/tmp/x'], /the backup id: "yesterday" is not a backup id/],
    ['an extra argument', ['list', 'extra', '--vault', '/tmp/x'], /unexpected argument "extra"/],
    ['a bad --source filter', ['list', '--vault', '/tmp/x', '--source', 'Orders DB'], /--source: "Orders DB" is not a source id/],
    ['an unsupported vault scheme', ['list', '--vault', 'gs://bucket/x'], /--vault: .*unsupported scheme "gs:\/\/"/],
    ['a bad bucket name', ['list', '--vault', 's3://B/x'], /--vault: .*not a valid bucket name/],
    ['backup without --source', ['backup', '--vault', '/tmp/x', '--key-file', 'k'], /--source is required/],
    ['backup with an unknown URL scheme', ['backup', '--source', 'oracle://h/db', '--vault', '/tmp/x', '--key-file', 'k'], /--source: Unsupported connection URL scheme/],
    ['backup without a database in the URL', ['backup', '--source', 'postgres://h', '--vault', '/tmp/x', '--key-file', 'k'], /--source: .*must name one database/],
    ['backup with a bad --source-id', ['backup', '--source', 'postgres://h/db', '--source-id', '9lives', '--vault', '/tmp/x', '--key-file', 'k'], /--source-id: "9lives" is not a source id/],
    ['backup with neither key flag', ['backup', '--source', 'postgres://h/db', '--vault', '/tmp/x'], /one of --key-file or --kms-key is required/],
    ['backup with both key flags', ['backup', '--source', 'postgres://h/db', '--vault', '/tmp/x', '--key-file', 'k', '--kms-key', KEY_ARN], /either --key-file or --kms-key, not both/],
    ['backup with a KMS alias', ['backup', '--source', 'postgres://h/db', '--vault', '/tmp/x', '--kms-key', 'alias/lifeboat'], /--kms-key must be a KMS key ARN/],
    ['restore without --target', ['restore', '20261122T053327Z-k3x7q2ab', '--vault', '/tmp/x', '--key-file', 'k'], /--target is required/],
    ['restore with a bad --target', ['restore', '20261122T053327Z-k3x7q2ab', '--vault', '/tmp/x', '--key-file', 'k', '--target', 'mysql://h'], /--target: .*must name one database/],
    ['keygen without --key-file', ['keygen'], /--key-file is required/],
    ['an unknown command', ['bakup'], /unknown command "bakup"/],
    ['a flag before the command', ['--vault', 'x', 'list'], /expected a command before --vault/],
  ];

  it.each(cases)('%s', async (_label, argv, expected) => {
    const result = await lifeboat(argv);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    const line = errorLine(result.stderr);
    expect(line, result.stderr).toBeDefined();
    expect(line!.name).toBe('UsageError');
    expect(line!.message).toMatch(expected);
    expect(line!.message).toMatch(/--help/);
  });

  it('prints the general help on stderr with exit 2 when no command is given', async () => {
    const result = await lifeboat([]);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Usage: lifeboat <command>/m);
  });

  it('never repeats a password from a URL in a usage error', async () => {
    const result = await lifeboat(['backup', 'postgres://app:hunter2-secret@db.internal/orders', '--vault', '/tmp/x']);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr).toMatch(/unexpected argument "postgres:\/\/app:\*\*\*@db.internal\/orders"/);
    expect(result.stderr).not.toContain('hunter2-secret');
  });
});

describe('help and version', () => {
  it.each(COMMANDS.map((command) => command.name))('lifeboat %s --help lists every flag and exits 0', async (name) => {
    const command = COMMANDS.find((c) => c.name === name)!;
    const result = await lifeboat([name, '--help']);
    expect(result.code).toBe(ExitCode.ok);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`Usage: ${command.synopsis}`);
    for (const flag of [...Object.keys(command.flags), 'quiet', 'help']) expect(result.stdout).toContain(`--${flag}`);
  });

  it('lifeboat --help and lifeboat help list every command', async () => {
    for (const argv of [['--help'], ['help']]) {
      const result = await lifeboat(argv);
      expect(result.code).toBe(ExitCode.ok);
      for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${command.name} `, 'm'));
    }
    const topic = await lifeboat(['help', 'restore']);
    expect(topic.stdout).toContain('--drop-existing');
  });

  it('--version prints the package version alone', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await lifeboat(['--version']);
    expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('default source ids', () => {
  it.each([
    ['orders', 'orders'],
    ['Orders_DB', 'orders-db'],
    ['lb_test_cli_0a1b2c3d4e', 'lb-test-cli-0a1b2c3d4e'],
    ['2024-archive', 'db-2024-archive'],
    ['Café Crème', 'cafe-creme'],
    ['__', 'db'],
    ['a'.repeat(60), 'a'.repeat(40)],
    [`${'a'.repeat(39)}_x`, 'a'.repeat(39)],
  ])('%s → %s', (database, expected) => {
    expect(sourceIdFromDatabase(database)).toBe(expected);
  });
});

describe('docs/cli.md', () => {
  it('documents the exit code of every error the CLI maps', async () => {
    const docs = await readFile(new URL('../../docs/cli.md', import.meta.url), 'utf8');
    for (const [name, code] of Object.entries(EXIT_CODE_BY_ERROR)) {
      const row = docs.split('\n').find((line) => line.startsWith(`| ${code} `));
      expect(row, `exit code ${code} row`).toBeDefined();
      expect(row, `${name} in the row for exit ${code}`).toContain(`\`${name}\``);
    }
  });
});

describe('passwords', () => {
  it('come from the URL first, else from PGPASSWORD / MYSQL_PWD, and are scrubbed from stderr either way', () => {
    const env = { PGPASSWORD: 'from-env-pg', MYSQL_PWD: 'from-env-my' };
    const output = new Output({ stdout: { write: () => true }, stderr: { write: () => true }, env });
    expect(connectionFromFlag('--source', 'postgres://app:in%2Furl@h/db', output, env).password).toBe('in/url');
    expect(connectionFromFlag('--source', 'postgres://app@h/db', output, env).password).toBe('from-env-pg');
    expect(connectionFromFlag('--target', 'mariadb://app@h/db', output, env).password).toBe('from-env-my');
    expect(connectionFromFlag('--target', 'mysql://app@h/db', output, {}).password).toBeUndefined();
    expect(output.scrub('a in/url b in%2Furl c from-env-pg d from-env-my e mysql://u:other@h/x')).toBe(
      'a *** b *** c *** d *** e mysql://u:***@h/x',
    );
  });
});
