/** The CLI end to end on the real PostgreSQL: keygen, backup, list, show, restore, and how it fails. */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { createPostgresDatabase, type PostgresDatabase } from '../harness/databases.ts';
import { fingerprint, quotePostgres, type TableFingerprint } from './compare.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const TABLES = ['customers', 'orders'] as const;
const PASSWORD = 'S3cr3t-p@ss/w0rd';
const ENCODED_PASSWORD = encodeURIComponent(PASSWORD);

let source: PostgresDatabase;
const scratch: PostgresDatabase[] = [];
let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let keyFile: string;
let expected: Record<string, TableFingerprint>;
let backupId: string;

async function fingerprints(db: PostgresDatabase): Promise<Record<string, TableFingerprint>> {
  const out: Record<string, TableFingerprint> = {};
  for (const table of TABLES) out[table] = await fingerprint(db.query, table, quotePostgres);
  return out;
}

async function freshDatabase(label: string): Promise<PostgresDatabase> {
  const db = await createPostgresDatabase(label);
  scratch.push(db);
  return db;
}

/** The harness URL with a password in it (trust authentication ignores it). */
function withPassword(url: string): string {
  return url.replace('://postgres@', `://postgres:${ENCODED_PASSWORD}@`);
}

async function withClient<T>(db: PostgresDatabase, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(db.connectionOptions);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function expectNoPassword(result: { stdout: string; stderr: string }): void {
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(ENCODED_PASSWORD);
  }
}

beforeAll(async () => {
  source = await createPostgresDatabase('cli_pg_source');
  await source.query(`
    CREATE TABLE customers (
      id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, profile jsonb, tags text[], photo bytea, born date
    )`);
  await source.query(`
    CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers (id), amount numeric(12, 2), note text)`);
  await source.query('CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100');
  await source.query(`
    INSERT INTO customers (name, email, profile, tags, photo, born)
    SELECT 'Ünïcødé customer ' || i, 'c' || i || '@example.com',
           jsonb_build_object('n', i, 'vip', i % 7 = 0),
           ARRAY['t' || (i % 3), 'all'],
           CASE WHEN i % 5 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END,
           date '1970-01-01' + i
    FROM generate_series(1, 500) AS i`);
  await source.query(`
    INSERT INTO orders (customer_id, amount, note)
    SELECT 1 + i % 500, (i * 7.31)::numeric(12, 2), CASE WHEN i % 4 = 0 THEN NULL ELSE repeat('x', i % 300) END
    FROM generate_series(1, 3000) AS i`);
  expected = await fingerprints(source);

  dir = await tempDir('pg');
  vault = join(dir.path, 'vault');
  keyFile = join(dir.path, 'key.json');
});

afterAll(async () => {
  await Promise.all([source?.drop(), ...scratch.map((db) => db.drop())]);
  await dir?.remove();
});

describe('PostgreSQL round trip through the CLI', () => {
  it('keygen makes the key', async () => {
    const result = await lifeboat(['keygen', '--key-file', keyFile]);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
  });

  it('backup prints only the backup id when piped', async () => {
    const result = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile]);
    // The one closing line, on stderr: what was backed up.
    expect(result.stderr).toMatch(/^Backed up \S+ \(postgresql\) as \S+\/\d{8}T\d{6}Z-[a-z2-7]{8}: 2 tables, 3,500 rows, [\d.]+ \w+ raw, [\d.]+ \w+ stored, in [\d.]+s\n$/);
    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(/^\d{8}T\d{6}Z-[a-z2-7]{8}\n$/);
    backupId = result.stdout.trim();
  });

  it('list shows it under a source id derived from the database name', async () => {
    const result = await lifeboat(['list', '--vault', vault]);
    expect(result.code).toBe(ExitCode.ok);
    const sourceId = source.name.replaceAll('_', '-');
    expect(result.stdout).toMatch(new RegExp(`^${backupId}\\s+${sourceId}\\s+dump\\s+postgresql\\s+\\S+ \\S+\\s+[\\d.]+ KiB\\s+[\\d.]+ KiB\\s+unverified$`, 'm'));

    const json = JSON.parse((await lifeboat(['list', '--vault', vault, '--json'])).stdout) as {
      backups: { backupId: string; sourceId: string; rawBytes: number; storedBytes: number }[];
    };
    expect(json.backups).toHaveLength(1);
    expect(json.backups[0]).toMatchObject({ backupId, sourceId, database: source.name });
    expect(json.backups[0]!.storedBytes).toBeGreaterThan(0);
  });

  it('show gives the row count of every table', async () => {
    const result = await lifeboat(['show', backupId, '--vault', vault]);
    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(/^public\s+customers\s+500$/m);
    expect(result.stdout).toMatch(/^public\s+orders\s+3,000$/m);
    expect(result.stdout).toMatch(/^Tools\s+lifeboat \S+, pg_dump \S+/m);

    const json = JSON.parse((await lifeboat(['show', backupId, '--vault', vault, '--json'])).stdout) as {
      manifest: { backupId: string; engine: string; content: { tables: { name: string; rows: number }[] } };
    };
    expect(json.manifest.backupId).toBe(backupId);
    expect(json.manifest.engine).toBe('postgresql');
    expect(Object.fromEntries(json.manifest.content.tables.map((t) => [t.name, t.rows]))).toEqual({ customers: 500, orders: 3000 });
  });

  it('restore into a fresh database gives back the same data', async () => {
    const target = await freshDatabase('cli_pg_restore');
    const result = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url]);
    expect(result.stderr).toMatch(new RegExp(`^Restored \\S+/${backupId} into ${target.name} on 127\\.0\\.0\\.1:\\d+ \\(existing database\\): 2 tables, 3,500 rows, in [\\d.]+s\\n$`));
    expect(result).toMatchObject({ code: ExitCode.ok, stdout: '' });
    expect(await fingerprints(target)).toEqual(expected);
    const views = await target.query<{ n: string }>("SELECT count(*) AS n FROM information_schema.views WHERE table_name = 'big_orders'");
    expect(views[0]!.n).toBe('1');
  });

  it('refuses a non-empty target unless --drop-existing is given', async () => {
    const target = await freshDatabase('cli_pg_nonempty');
    // Its own short-lived connections: --drop-existing ends every session on the target, and an idle
    // pooled one would then fail the test process.
    await withClient(target, (client) => client.query("CREATE TABLE customers (id int PRIMARY KEY, keep text); INSERT INTO customers VALUES (1, 'precious')"));

    const refused = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url]);
    expect(refused.code).toBe(ExitCode.failed);
    expect(errorLine(refused.stderr)?.name).toBe('TargetNotEmptyError');
    expect((await withClient(target, (client) => client.query('SELECT keep FROM customers'))).rows).toEqual([{ keep: 'precious' }]);

    // Not on a terminal: it says what it would drop and wants --yes.
    const unconfirmed = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url, '--drop-existing']);
    expect(unconfirmed.code).toBe(ExitCode.usage);
    expect(errorLine(unconfirmed.stderr)?.message).toMatch(/^--drop-existing drops database \S+ with 1 object: public\.customers; confirm with --yes/);
    expect((await withClient(target, (client) => client.query('SELECT keep FROM customers'))).rows).toEqual([{ keep: 'precious' }]);

    const dropped = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url, '--drop-existing', '--yes']);
    expect(dropped.code, dropped.stderr).toBe(ExitCode.ok);
    expect(dropped.stderr).toMatch(/^Dropping database \S+ with 1 object: public\.customers$/m);
    expect(await fingerprints(target)).toEqual(expected);
  });

  it('--table restores one table alone', async () => {
    const target = await freshDatabase('cli_pg_table');
    const result = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url, '--table', 'customers']);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const tables = await target.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    expect(tables.map((t) => t.table_name)).toEqual(['customers']);
    expect(await fingerprint(target.query, 'customers', quotePostgres)).toEqual(expected['customers']);
  });
});

describe('the CLI\'s audit trail', () => {
  it('with an evidence key, backup and verify record their events, signed, as the CLI user; lifeboat audit lists them authenticated', async () => {
    const evidenceKey = join(dir.path, 'evidence.key');
    expect((await lifeboat(['keygen', '--key-file', evidenceKey])).code).toBe(ExitCode.ok);
    const auditedVault = join(dir.path, 'audited-vault');
    const backedUp = await lifeboat(['backup', '--source', source.url, '--vault', auditedVault, '--key-file', keyFile, '--evidence-key-file', evidenceKey]);
    expect(backedUp.code, backedUp.stderr).toBe(ExitCode.ok);
    const id = backedUp.stdout.trim();
    const verified = await lifeboat(['verify', id, '--vault', auditedVault, '--key-file', keyFile], { env: { LIFEBOAT_EVIDENCE_KEY_FILE: evidenceKey } });
    expect(verified.code, verified.stderr).toBe(ExitCode.ok);

    const listed = await lifeboat(['audit', '--vault', auditedVault, '--evidence-key-file', evidenceKey, '--json']);
    expect(listed.code, listed.stderr).toBe(ExitCode.ok);
    const entries = JSON.parse(listed.stdout) as { authentic: boolean; event: { type: string; outcome: string; backupId: string; actor: { kind: string; name: string }; details: Record<string, unknown> } }[];
    expect(entries.map((e) => [e.authentic, e.event.type, e.event.outcome, e.event.backupId, e.event.actor.kind])).toEqual([
      [true, 'backup', 'succeeded', id, 'cli'],
      [true, 'verification', 'succeeded', id, 'cli'],
    ]);
    expect(entries[0]!.event.actor.name).toMatch(/^\S+@\S+$/);
    expect(entries[1]!.event.details).toMatchObject({ verdict: true, checks: { checksum: 'passed' } });

    const target = await freshDatabase('cli_pg_audited');
    const restored = await lifeboat(['restore', id, '--vault', auditedVault, '--key-file', keyFile, '--target', target.url, '--evidence-key-file', evidenceKey]);
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    const after = JSON.parse((await lifeboat(['audit', '--vault', auditedVault, '--evidence-key-file', evidenceKey, '--json'])).stdout) as typeof entries;
    expect(after.at(-1)!.event).toMatchObject({ type: 'restore-finished', outcome: 'succeeded', backupId: id, details: { into: `127.0.0.1:5432/${target.name}` } });
    expect(JSON.stringify(after)).not.toContain('postgres://');

    // Without a key nothing is recorded: the first vault has no trail.
    const none = await lifeboat(['audit', '--vault', vault, '--evidence-key-file', evidenceKey, '--json']);
    expect(JSON.parse(none.stdout)).toEqual([]);
  });
});

describe('PostgreSQL failures through the CLI', () => {
  it('a wrong key is the operator\'s error (exit 2), not a fault of the backup', async () => {
    const otherKey = join(dir.path, 'other-key.json');
    expect((await lifeboat(['keygen', '--key-file', otherKey, '-q'])).code).toBe(ExitCode.ok);
    const target = await freshDatabase('cli_pg_wrongkey');
    const result = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', otherKey, '--target', target.url]);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)?.name).toBe('WrongKeyError');
  });

  it('a table the backup lacks, or a target of the other engine, is a usage error naming the flag', async () => {
    const target = await freshDatabase('cli_pg_usage');
    const noTable = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url, '--table', 'invoices']);
    expect(noTable.code).toBe(ExitCode.usage);
    expect(errorLine(noTable.stderr)?.message).toMatch(/^--table: .*no table "invoices"/);
    const mysqlTarget = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', 'mysql://root@127.0.0.1:3306/lb_test_never_created']);
    expect(mysqlTarget.code).toBe(ExitCode.usage);
    expect(errorLine(mysqlTarget.stderr)?.message).toMatch(/^--target: .*postgresql backup/);
    expect(await target.query("SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'")).toEqual([]);
  });

  it('an unknown backup id is not found (exit 3)', async () => {
    const target = await freshDatabase('cli_pg_unknown');
    const result = await lifeboat(['restore', '20200101T000000Z-aaaaaaaa', '--vault', vault, '--key-file', keyFile, '--target', target.url]);
    expect(result.code).toBe(ExitCode.notFound);
    expect(errorLine(result.stderr)?.name).toBe('BackupNotFoundError');
  });

  it('a password in the source URL never appears, on success or on failure', async () => {
    const ok = await lifeboat(['backup', '--source', withPassword(source.url), '--vault', vault, '--key-file', keyFile, '--source-id', 'with-password'], { tty: true });
    expect(ok.code, ok.stderr).toBe(ExitCode.ok);
    expect(ok.stderr).toContain(`Backing up postgres://postgres@`);
    expectNoPassword(ok);

    const unreachable = withPassword(source.url).replace(/:\d+\//, ':1/');
    for (const env of [{}, { LIFEBOAT_DEBUG: '1' }]) {
      const failed = await lifeboat(['backup', '--source', unreachable, '--vault', vault, '--key-file', keyFile], { env, tty: true });
      expect(failed.code).toBe(ExitCode.failed);
      expect(failed.stdout).toBe('');
      expect(failed.stderr).toMatch(/^lifeboat: SourceUnreachableError: /m);
      expectNoPassword(failed);
    }
    const line = await lifeboat(['backup', '--source', unreachable, '--vault', vault, '--key-file', keyFile]);
    // A URL password works, with a warning (without the password) before the error line.
    expect(line.stderr).toMatch(/^lifeboat: warning: the password in --source is visible to other users in the process list/);
    expect(errorLine(line.stderr.replace(/^lifeboat: warning: .*\n/, ''))?.name).toBe('SourceUnreachableError');
  });

  it('a password from PGPASSWORD is never printed', async () => {
    const env = { PGPASSWORD: PASSWORD };
    const target = await freshDatabase('cli_pg_env');
    const restored = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url], { env, tty: true });
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    expectNoPassword(restored);
    // The manifest knows the size: a percentage, the bytes of the total and an ETA (or "done"). The rate's unit
    // depends on the machine's speed (a quick restore reports MiB/s).
    expect(restored.stderr).toMatch(/\rrestore {2}1?\d{1,2}% {2}[\d.]+ KiB of [\d.]+ KiB raw {2}[\d.]+ (B|KiB|MiB)\/s {2}(ETA \S+|done) {2}elapsed [\d.]+s\x1b\[K/);
    const unreachable = source.url.replace(/:\d+\//, ':1/');
    const failed = await lifeboat(['backup', '--source', unreachable, '--vault', vault, '--key-file', keyFile], { env: { ...env, LIFEBOAT_DEBUG: '1' } });
    expect(failed.code).toBe(ExitCode.failed);
    expectNoPassword(failed);
  });
});

describe('progress output', () => {
  it('is drawn on a terminal: bytes, rate and elapsed time', async () => {
    const result = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile, '--source-id', 'progress'], { tty: true });
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(/^\S+\n$/);
    expect(result.stderr).toMatch(/\rbackup {2}[\d.]+ (B|KiB|MiB) raw, [\d.]+ (B|KiB|MiB) stored {2}[\d.]+ (B|KiB|MiB)\/s {2}[\d.]+s\x1b\[K\n/);
  });

  it('is absent when stderr is not a terminal, or with --quiet', async () => {
    const piped = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile, '--source-id', 'progress']);
    expect(piped.code).toBe(ExitCode.ok);
    expect(piped.stderr).toMatch(/^Backed up [^\r]*\n$/);
    const quiet = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile, '--source-id', 'progress', '--quiet'], { tty: true });
    expect(quiet.code).toBe(ExitCode.ok);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toMatch(/^\S+\n$/);
  });
});
