/** The CLI end to end on the real MariaDB: keygen, backup, list, show, restore, and how it fails. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { createMariaDbDatabase, type MariaDbDatabase } from '../harness/databases.ts';
import { fingerprint, quoteMariaDb, type TableFingerprint } from './compare.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const TABLES = ['customers', 'orders'] as const;
const PASSWORD = 'Wr0ng-p@ss/w0rd';
const ENCODED_PASSWORD = encodeURIComponent(PASSWORD);

let source: MariaDbDatabase;
const scratch: MariaDbDatabase[] = [];
let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let keyFile: string;
let expected: Record<string, TableFingerprint>;
let backupId: string;

async function fingerprints(db: MariaDbDatabase): Promise<Record<string, TableFingerprint>> {
  const out: Record<string, TableFingerprint> = {};
  for (const table of TABLES) out[table] = await fingerprint(db.query, table, quoteMariaDb);
  return out;
}

async function freshDatabase(label: string): Promise<MariaDbDatabase> {
  const db = await createMariaDbDatabase(label);
  scratch.push(db);
  return db;
}

function expectNoPassword(result: { stdout: string; stderr: string }): void {
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(ENCODED_PASSWORD);
  }
}

beforeAll(async () => {
  source = await createMariaDbDatabase('cli_my_source');
  await source.query(`
    CREATE TABLE customers (
      id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200) UNIQUE,
      profile JSON, photo BLOB, born DATE
    ) DEFAULT CHARSET = utf8mb4`);
  await source.query(`
    CREATE TABLE orders (
      id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT, amount DECIMAL(12, 2), note TEXT,
      FOREIGN KEY (customer_id) REFERENCES customers (id)
    ) DEFAULT CHARSET = utf8mb4`);
  await source.query('CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100');
  await source.query(`
    INSERT INTO customers (name, email, profile, photo, born)
    WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 400)
    SELECT CONCAT('Ünïcødé customer ', i, ' it''s "quoted" (1),(2);'), CONCAT('c', i, '@example.com'),
           JSON_OBJECT('n', i, 'vip', i % 7 = 0),
           IF(i % 5 = 0, NULL, UNHEX(MD5(i))),
           DATE_ADD('1970-01-01', INTERVAL i DAY)
    FROM seq`);
  await source.query(`
    INSERT INTO orders (customer_id, amount, note)
    WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 500)
    SELECT 1 + (i + 500 * k) % 400, (i + 500 * k) * 7.31, IF(i % 4 = 0, NULL, REPEAT('x\\n', i % 300))
    FROM seq, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) AS blocks`);
  expected = await fingerprints(source);

  dir = await tempDir('mariadb');
  vault = join(dir.path, 'vault');
  keyFile = join(dir.path, 'key.json');
});

afterAll(async () => {
  await Promise.all([source?.drop(), ...scratch.map((db) => db.drop())]);
  await dir?.remove();
});

describe('MariaDB round trip through the CLI', () => {
  it('keygen, then backup prints only the backup id', async () => {
    expect((await lifeboat(['keygen', '--key-file', keyFile, '-q'])).code).toBe(ExitCode.ok);
    const result = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile]);
    expect(result.stderr).toMatch(/^Backed up \S+ \(mysql\) as [^\n]+\n$/);
    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(/^\d{8}T\d{6}Z-[a-z2-7]{8}\n$/);
    backupId = result.stdout.trim();
  });

  it('list and show describe it, as text and JSON', async () => {
    const sourceId = source.name.replaceAll('_', '-');
    const listed = await lifeboat(['list', '--vault', vault, '--source', sourceId]);
    expect(listed.stdout).toMatch(new RegExp(`^${backupId}\\s+${sourceId}\\s+dump\\s+mysql\\s`, 'm'));

    const shown = await lifeboat(['show', backupId, '--vault', vault]);
    expect(shown.code).toBe(ExitCode.ok);
    expect(shown.stdout).toMatch(/^Tools\s+lifeboat \S+, mysqldump /m);
    expect(shown.stdout).toMatch(/^\S+\s+customers\s+400$/m);
    expect(shown.stdout).toMatch(/^\S+\s+orders\s+2,500$/m);

    const json = JSON.parse((await lifeboat(['list', '--vault', vault, '--json'])).stdout) as { backups: { backupId: string; engine: string }[] };
    expect(json.backups.map((b) => [b.backupId, b.engine])).toEqual([[backupId, 'mysql']]);
  });

  it('restore into a fresh database gives back the same data (mariadb:// works too)', async () => {
    const target = await freshDatabase('cli_my_restore');
    const url = target.url.replace(/^mysql:/, 'mariadb:');
    const result = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', url]);
    expect(result).toMatchObject({ code: ExitCode.ok, stdout: '' });
    expect(result.stderr).toMatch(/^Restored \S+ into \S+ on [^\n]+\n$/);
    expect(await fingerprints(target)).toEqual(expected);
    const views = await target.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      ['big_orders'],
    );
    expect(Number(views[0]!.n)).toBe(1);
  });

  it('--table restores one table of a MySQL backup alone, and a table the backup lacks is a usage error naming the flag', async () => {
    const target = await freshDatabase('cli_my_table');
    const result = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url, '--table', 'orders']);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const tables = await target.query<{ n: string }>('SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
    expect(tables.map((t) => t.n)).toEqual(['orders']);

    const missing = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url, '--table', 'nosuch']);
    expect(missing.code).toBe(ExitCode.usage);
    expect(errorLine(missing.stderr)?.message).toMatch(/^--table: .*no table "nosuch"/);
  });
});

describe('MariaDB failures through the CLI', () => {
  it('a wrong key is the operator\'s error (exit 2), not a fault of the backup', async () => {
    const otherKey = join(dir.path, 'other-key.json');
    await lifeboat(['keygen', '--key-file', otherKey, '-q']);
    const target = await freshDatabase('cli_my_wrongkey');
    const result = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', otherKey, '--target', target.url]);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)?.name).toBe('WrongKeyError');
  });

  it('a password in the URL is refused by the server and never printed', async () => {
    // root has no password here, so any password is a wrong one.
    const withPassword = source.url.replace('://root@', `://root:${ENCODED_PASSWORD}@`);
    for (const env of [{}, { LIFEBOAT_DEBUG: '1' }]) {
      const result = await lifeboat(['backup', '--source', withPassword, '--vault', vault, '--key-file', keyFile], { env, tty: true });
      expect(result.code).toBe(ExitCode.failed);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^lifeboat: (SourceUnreachableError|DumpFailedError): .*denied/m);
      expectNoPassword(result);
    }
  });

  it('MYSQL_PWD is the password when the URL has none, and is never printed', async () => {
    const result = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile], {
      env: { MYSQL_PWD: PASSWORD, LIFEBOAT_DEBUG: '1' },
    });
    expect(result.code).toBe(ExitCode.failed);
    expect(result.stderr).toMatch(/denied/);
    expectNoPassword(result);
  });

  it('an unreachable server fails with exit 1 and no password', async () => {
    const unreachable = source.url.replace('://root@', `://root:${ENCODED_PASSWORD}@`).replace(/:\d+\//, ':1/');
    const result = await lifeboat(['backup', '--source', unreachable, '--vault', vault, '--key-file', keyFile]);
    expect(result.code, result.stderr).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)?.name).toBe('SourceUnreachableError');
    expectNoPassword(result);
  });
});
