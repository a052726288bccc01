/** `lifeboat verify` end to end on the real PostgreSQL and MariaDB: reports, exit codes, recorded status, no scratch left. */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { manifestKey, payloadKey } from '../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import { parseManifest, serializeManifest } from '../../functions/lib/vault/manifest.ts';
import type { VerificationResult } from '../../functions/lib/vault/verification.ts';
import { type MariaDbDatabase, type PostgresDatabase, mariaDbSettings, postgresSettings } from '../harness/databases.ts';
import { createSource, listScratch } from '../functions/verify/suite.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const PASSWORD = 'Verify-S3cr3t/pw';

describe.each([
  { engine: 'postgresql' as const, label: 'PostgreSQL' },
  { engine: 'mysql' as const, label: 'MariaDB' },
])('lifeboat verify on $label', ({ engine }) => {
  let db: PostgresDatabase | MariaDbDatabase;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let vault: string;
  let keyFile: string;
  let store: LocalStore;
  let sourceId: string;
  let server: string;

  beforeAll(async () => {
    db = await createSource(engine, `cli_verify_${engine}`);
    dir = await tempDir('verify');
    vault = join(dir.path, 'vault');
    keyFile = join(dir.path, 'key.json');
    store = new LocalStore(vault);
    sourceId = engine === 'postgresql' ? 'cli-verify-pg' : 'cli-verify-my';
    const settings = engine === 'postgresql' ? postgresSettings() : mariaDbSettings();
    // PostgreSQL trusts local connections and ignores the password, which lets the test prove it is never shown.
    const credentials = engine === 'postgresql' ? `${settings.user}:${encodeURIComponent(PASSWORD)}` : settings.user;
    server = `${engine === 'postgresql' ? 'postgres' : 'mysql'}://${credentials}@${settings.host}:${settings.port}`;
    expect((await lifeboat(['keygen', '--key-file', keyFile])).code).toBe(0);
  });
  afterAll(async () => {
    await db?.drop();
    await dir?.remove();
  });
  afterEach(async () => {
    expect(await listScratch(engine, sourceId)).toEqual([]);
  });

  async function backup(): Promise<string> {
    // One stream: the test damages the single payload object.
    const result = await lifeboat(['backup', '--source', db.url, '--source-id', sourceId, '--vault', vault, '--key-file', keyFile, '--jobs', '1']);
    expect(result.code).toBe(0);
    return result.stdout.trim();
  }

  function expectNoPassword(result: { stdout: string; stderr: string }): void {
    for (const text of [result.stdout, result.stderr]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
    }
  }

  it('verifies a good backup with a restore test and checks, prints the report, and list shows it verified', async () => {
    const id = await backup();

    const result = await lifeboat([
      'verify', id, '--vault', vault, '--key-file', keyFile, '--restore-server', server,
      '--check', 'SELECT count(*) = 120 FROM orders', '--check', 'SELECT count(*) > 0 FROM customers',
    ]);

    expect(result.code).toBe(ExitCode.ok);
    expect(result.stderr).toMatch(new RegExp(`^Verified ${sourceId}/${id}: \\d+ checks passed \\(restore test: \\d+ tables, [\\d,]+ rows\\), in [\\d.]+s\\n$`));
    expectNoPassword(result);
    expect(result.stdout).toMatch(new RegExp(`^Backup ${id} of ${sourceId}: verified$`, 'm'));
    for (const check of ['checksum', 'decrypt', 'structure', 'restore', 'row-counts', 'sql-checks']) {
      expect(result.stdout).toMatch(new RegExp(`^${check}\\s+passed\\s+\\d+ ms$`, 'm'));
    }
    expect(result.stdout).toMatch(/^size-anomaly\s+skipped\s+\d+ ms\s+0 earlier verified backups of \S+ to compare with; at least 2 are needed$/m);
    expect(result.stdout).toMatch(/^Restore test: scratch database lb_verify_\w+ on \S+:\d+ \(dropped afterwards\)$/m);

    const listed = await lifeboat(['list', '--vault', vault, '--source', sourceId]);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s.*\\bverified$`, 'm'));
    // Nothing the vault keeps holds the password either.
    const recorded = await lifeboat(['show', id, '--vault', vault, '--json']);
    const key = (JSON.parse(recorded.stdout) as { status: { verification: string } }).status.verification;
    expect((await store.getObject(key)).toString('utf8')).not.toContain(PASSWORD);
  });

  it('exits 4 (integrity) for one flipped byte, with one error line naming the checksum, and list shows it failed', async () => {
    const id = await backup();
    const file = join(vault, ...payloadKey(sourceId, id).split('/'));
    const bytes = await readFile(file);
    bytes[bytes.length >> 1]! ^= 0x80;
    await writeFile(file, bytes);

    const result = await lifeboat(['verify', id, '--vault', vault, '--key-file', keyFile, '--restore-server', server]);

    expect(result.code).toBe(ExitCode.integrity);
    expectNoPassword(result);
    expect(errorLine(result.stderr)).toEqual({
      name: 'VerificationFailedError',
      message: expect.stringMatching(/^checksum: payload \S+ has SHA-256 [0-9a-f]{64}; the manifest records [0-9a-f]{64} \(altered or replaced\)$/) as unknown,
    });
    expect(result.stdout).toMatch(new RegExp(`^Backup ${id} of ${sourceId}: FAILED$`, 'm'));
    expect(result.stdout).toMatch(/^restore\s+skipped\s+0 ms\s+not run: the payload failed the checksum check$/m);
    const listed = await lifeboat(['list', '--vault', vault, '--source', sourceId, '--json']);
    const row = (JSON.parse(listed.stdout) as { backups: { backupId: string; status: { state: string; reason?: string } }[] }).backups.find((b) => b.backupId === id);
    expect(row?.status.state).toBe('failed');
    expect(row?.status.reason).toMatch(/^checksum: /);
  });

  it('exits 5 when the restore test finds a row count that differs, and --json prints the recorded result', async () => {
    const id = await backup();
    const key = manifestKey(sourceId, id);
    const manifest = parseManifest(await store.getObject(key), key);
    await store.putObject(
      key,
      serializeManifest({ ...manifest, content: { tables: manifest.content.tables.map((t) => (t.name === 'customers' ? { ...t, rows: 13 } : t)) } }),
    );

    const result = await lifeboat(['verify', id, '--vault', vault, '--key-file', keyFile, '--restore-server', server, '--json']);

    expect(result.code).toBe(ExitCode.verification);
    const customers = `${engine === 'postgresql' ? 'public' : db.name}.customers`;
    const reason = `row-counts: table ${customers} has 12 rows after the restore; the manifest records 13`;
    expect(errorLine(result.stderr)).toEqual({ name: 'VerificationFailedError', message: reason });
    const printed = JSON.parse(result.stdout) as VerificationResult;
    expect(printed).toMatchObject({ format: 'lifeboat-verification', sourceId, backupId: id, status: 'failed', reason });
    expect(printed.tables?.find((t) => t.name === 'customers')).toEqual({
      schema: manifest.content.tables.find((t) => t.name === 'customers')!.schema,
      name: 'customers',
      expectedRows: 13,
      actualRows: 12,
      status: 'failed',
    });
  });

  it('checks integrity and structure alone without --restore-server, and refuses --check without one', async () => {
    const id = await backup();
    const alone = await lifeboat(['verify', id, '--vault', vault, '--key-file', keyFile]);
    expect(alone.code).toBe(ExitCode.ok);
    expect(alone.stdout).toMatch(/^restore\s+skipped\s+0 ms\s+no restore server given: the restore test did not run$/m);

    const usage = await lifeboat(['verify', id, '--vault', vault, '--key-file', keyFile, '--check', 'SELECT 1']);
    expect(usage.code).toBe(ExitCode.usage);
    expect(errorLine(usage.stderr)?.message).toMatch(/^--check needs --restore-server/);
  });

  it('records nothing for a wrong key or a mistyped --check (exit 2, vault byte-for-byte untouched), so prune --keep-last 1 keeps the verified backup', async () => {
    const verified = await backup();
    const passed = await lifeboat(['verify', verified, '--vault', vault, '--key-file', keyFile, '--restore-server', server]);
    expect(passed.code).toBe(ExitCode.ok);
    const newer = await backup();
    const before = await vaultFiles(vault);

    // Same key name, other key material: only the Encryption SDK can tell, when the data key does not unwrap.
    const impostor = join(dir.path, 'impostor-key.json');
    const document = JSON.parse(await readFile(keyFile, 'utf8')) as Record<string, string>;
    await writeFile(impostor, JSON.stringify({ ...document, key: randomBytes(32).toString('base64') }), { mode: 0o600 });
    const wrongKey = await lifeboat(['verify', verified, '--vault', vault, '--key-file', impostor, '--restore-server', server]);
    expect(wrongKey.code).toBe(ExitCode.usage);
    expect(wrongKey.stdout).toBe('');
    expect(errorLine(wrongKey.stderr)).toMatchObject({ name: 'WrongKeyError', message: expect.stringMatching(/cannot unwrap the data key .* nothing was recorded$/) });

    // A key the manifest does not name at all.
    const otherKey = join(dir.path, 'other-verify-key.json');
    expect((await lifeboat(['keygen', '--key-file', otherKey, '-q'])).code).toBe(ExitCode.ok);
    const otherName = await lifeboat(['verify', verified, '--vault', vault, '--key-file', otherKey]);
    expect(otherName.code).toBe(ExitCode.usage);
    expect(errorLine(otherName.stderr)?.name).toBe('WrongKeyError');

    const badCheck = await lifeboat(['verify', verified, '--vault', vault, '--key-file', keyFile, '--restore-server', server, '--check', 'SELEC count(*) FROM orders']);
    expect(badCheck.code).toBe(ExitCode.usage);
    expect(errorLine(badCheck.stderr)).toMatchObject({ name: 'InvalidSqlCheckError', message: expect.stringMatching(/^SQL check 1 \(SELEC count\(\*\) FROM orders\) cannot run: /) });
    expectNoPassword(badCheck);

    expect(await vaultFiles(vault)).toEqual(before);
    const shown = await lifeboat(['show', verified, '--vault', vault, '--json']);
    expect(shown.stdout).toContain('"verified"');

    const pruned = await lifeboat(['prune', '--vault', vault, '--source', sourceId, '--keep-last', '1', '--days', '0', '--daily', '0', '--weekly', '0', '--monthly', '0']);
    expect(pruned.code, pruned.stderr).toBe(ExitCode.ok);
    expect(await store.head(manifestKey(sourceId, verified))).toBeDefined();
    expect(await store.head(manifestKey(sourceId, newer))).toBeDefined();
  });

  it('refuses a restore server of the other engine before reading anything (exit 2)', async () => {
    const id = await backup();
    const other = engine === 'postgresql' ? 'mysql://root@127.0.0.1:3306' : 'postgres://postgres@127.0.0.1:5432';
    const result = await lifeboat(['verify', id, '--vault', vault, '--key-file', keyFile, '--restore-server', other]);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({
      name: 'ConfigError',
      message: `Backup ${id} is a ${engine} backup; the restore server given is ${engine === 'postgresql' ? 'mysql' : 'postgresql'}`,
    });
  });
});

/** Every file under the vault with the SHA-256 of its bytes: equal listings mean nothing was written, renamed or removed. */
async function vaultFiles(root: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    files[relative(root, file)] = createHash('sha256').update(await readFile(file)).digest('hex');
  }
  return files;
}
