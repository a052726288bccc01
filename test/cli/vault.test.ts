/** list and show over a vault whose backups are written directly (no database needed). */
import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { writeManifest } from '../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, verificationKey } from '../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import { sampleVerification } from '../functions/vault/fixtures.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const OLDER = '20261120T010000Z-aaaaaaaa';
const NEWER = '20261122T053327Z-k3x7q2ab';
const MYSQL = '20261121T120000Z-bbbbbbbb';

function dumpManifest(sourceId: string, backupId: string, engine: 'postgresql' | 'mysql', payload: Buffer): BackupManifest {
  const time = `${backupId.slice(0, 4)}-${backupId.slice(4, 6)}-${backupId.slice(6, 8)}T${backupId.slice(9, 11)}:${backupId.slice(11, 13)}:${backupId.slice(13, 15)}`;
  return {
    format: 'lifeboat-backup',
    formatVersion: '1.0',
    backupId,
    sourceId,
    kind: 'dump',
    engine,
    startedAt: `${time}.000Z`,
    completedAt: `${time}.000Z`.replace(/:(\d\d)\.000Z$/, (_m, s: string) => `:${s}.750Z`),
    source: { database: sourceId.replaceAll('-', '_'), serverVersion: '16.4', host: 'db.internal:5432' },
    tools: { lifeboat: '0.1.0', dump: engine === 'postgresql' ? { name: 'pg_dump', version: '16.4' } : { name: 'mysqldump', version: '10.11' } },
    payload: {
      key: 'payload',
      format: engine === 'postgresql' ? 'pg_dump-custom' : 'mysqldump-sql',
      rawBytes: 3 * 1024 * 1024,
      storedBytes: payload.length,
      sha256: createHash('sha256').update(payload).digest('hex'),
    },
    compression: { codec: 'zstd', level: 1 },
    encryption: {
      scheme: 'aws-encryption-sdk',
      algorithmSuite: 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY',
      frameLength: 1024 * 1024,
      keyring: { type: 'raw-aes', keyNamespace: 'lifeboat', keyName: 'k-0123456789abcdef' },
      encryptionContext: { 'lifeboat:source': sourceId, 'lifeboat:backup': backupId },
    },
    content: {
      tables: [
        { schema: 'public', name: 'orders', rows: 120_433, rowsExact: true },
        { schema: 'public', name: 'events', rows: 42, rowsExact: false },
      ],
    },
  };
}

async function addBackup(store: LocalStore, sourceId: string, backupId: string, engine: 'postgresql' | 'mysql'): Promise<BackupManifest> {
  const payload = Buffer.alloc(2560, backupId);
  await store.putObject(payloadKey(sourceId, backupId), payload);
  const manifest = dumpManifest(sourceId, backupId, engine, payload);
  await writeManifest(store, manifest);
  return manifest;
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let store: LocalStore;

beforeEach(async () => {
  dir = await tempDir('vault');
  vault = join(dir.path, 'vault');
  await mkdir(vault);
  store = new LocalStore(vault);
});
afterEach(() => dir.remove());

describe('lifeboat list', () => {
  it('says the vault is empty, and --json gives an empty list', async () => {
    const text = await lifeboat(['list', '--vault', vault]);
    expect(text).toEqual({ code: 0, stdout: `No backups in ${vault}\n`, stderr: '' });
    const json = await lifeboat(['list', '--vault', vault, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ vault, backups: [], unreadable: [] });
  });

  it('shows complete backups newest first, never incomplete ones', async () => {
    await addBackup(store, 'orders-db', OLDER, 'postgresql');
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    await addBackup(store, 'shop', MYSQL, 'mysql');
    // An upload that never finished: a payload without a manifest.
    await store.putObject(payloadKey('orders-db', '20261123T000000Z-cccccccc'), 'partial');

    const result = await lifeboat(['list', '--vault', vault]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+SOURCE\s+KIND\s+ENGINE\s+COMPLETED AT\s+RAW\s+STORED\s+STATUS$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual([NEWER, MYSQL, OLDER]);
    expect(lines[1]).toMatch(new RegExp(`^${NEWER}\\s+orders-db\\s+dump\\s+postgresql\\s+2026-11-22 05:33:27Z\\s+3\\.0 MiB\\s+2\\.5 KiB\\s+unverified$`));
    expect(lines[2]).toMatch(/\bshop\s+dump\s+mysql\b/);
  });

  it('filters by --source and prints parseable JSON', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    await addBackup(store, 'shop', MYSQL, 'mysql');
    const result = await lifeboat(['list', '--vault', vault, '--source', 'shop', '--json']);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { backups: Record<string, unknown>[] };
    expect(parsed.backups).toEqual([
      {
        backupId: MYSQL,
        sourceId: 'shop',
        kind: 'dump',
        engine: 'mysql',
        database: 'shop',
        startedAt: '2026-11-21T12:00:00.000Z',
        completedAt: '2026-11-21T12:00:00.750Z',
        rawBytes: 3 * 1024 * 1024,
        storedBytes: 2560,
        status: { state: 'unverified' },
      },
    ]);
  });

  it('reports the newest verification record as the status', async () => {
    const manifests = { [OLDER]: await addBackup(store, 'orders-db', OLDER, 'postgresql'), [NEWER]: await addBackup(store, 'orders-db', NEWER, 'postgresql') };
    const record = async (backupId: string, at: string, status: 'verified' | 'failed', reason?: string) => {
      const result = sampleVerification({ sourceId: 'orders-db', backupId, status, at: new Date(at), manifest: manifests[backupId as keyof typeof manifests], ...(reason ? { reason } : {}) });
      await store.putObject(verificationKey('orders-db', backupId, new Date(at)), JSON.stringify(result));
    };
    await record(OLDER, '2026-11-20T02:00:00Z', 'failed', 'old');
    await record(OLDER, '2026-11-21T02:00:00Z', 'verified');
    await record(NEWER, '2026-11-22T06:00:00Z', 'failed', 'row count of orders differs');

    const result = await lifeboat(['list', '--vault', vault, '--json']);
    const { backups } = JSON.parse(result.stdout) as { backups: { backupId: string; status: unknown }[] };
    expect(backups.map((b) => [b.backupId, b.status])).toEqual([
      [NEWER, { state: 'failed', reason: 'row count of orders differs', verification: verificationKey('orders-db', NEWER, new Date('2026-11-22T06:00:00Z')) }],
      [OLDER, { state: 'verified', verification: verificationKey('orders-db', OLDER, new Date('2026-11-21T02:00:00Z')) }],
    ]);
    const text = await lifeboat(['list', '--vault', vault]);
    expect(text.stdout).toMatch(new RegExp(`^${NEWER}.*\\bfailed$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^${OLDER}.*\\bverified$`, 'm'));
  });

  it('shows the warnings of a backup that verified with some', async () => {
    const manifest = await addBackup(store, 'orders-db', NEWER, 'postgresql');
    const at = new Date('2026-11-22T06:00:00Z');
    const base = sampleVerification({ sourceId: 'orders-db', backupId: NEWER, status: 'verified', at, manifest });
    const warning = 'raw size 300 bytes is 0.20x the median 1500 bytes of the 2 previous verified backups (expected 0.5x to 2x): far smaller than usual';
    await store.putObject(
      verificationKey('orders-db', NEWER, at),
      JSON.stringify({ ...base, checks: [...base.checks, { name: 'size-anomaly', status: 'warning', reason: warning, durationMs: 3 }] }),
    );

    const text = await lifeboat(['show', NEWER, '--vault', vault]);
    expect(text.stdout).toMatch(/^Status\s+verified$/m);
    expect(text.stdout).toContain(`Warning      size-anomaly: ${warning}`);
    const json = await lifeboat(['show', NEWER, '--vault', vault, '--json']);
    expect((JSON.parse(json.stdout) as { status: unknown }).status).toEqual({
      state: 'verified',
      verification: verificationKey('orders-db', NEWER, at),
      warnings: [`size-anomaly: ${warning}`],
    });
  });

  it('reports an unreadable newest verification record as unverified, with the reason', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    const key = verificationKey('orders-db', NEWER, new Date('2026-11-22T06:00:00Z'));
    await store.putObject(key, '{"status":"verified"}');

    const result = await lifeboat(['show', NEWER, '--vault', vault, '--json']);
    expect((JSON.parse(result.stdout) as { status: unknown }).status).toEqual({
      state: 'unverified',
      verification: key,
      reason: `the newest verification result ${key} is not a verification result (format is not "lifeboat-verification")`,
    });
  });

  it('lists the readable backups and warns about an unreadable manifest', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    await addBackup(store, 'orders-db', OLDER, 'postgresql');
    await writeFile(join(vault, ...manifestKey('orders-db', OLDER).split('/')), '{"format":"lifeboat-backup","formatVersion":"1.0"');
    const result = await lifeboat(['list', '--vault', vault]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(NEWER);
    expect(result.stdout).not.toContain(OLDER);
    expect(result.stderr).toMatch(new RegExp(`^lifeboat: warning: skipped orders-db/${OLDER}: ManifestInvalidError: `));
  });

  it('exits 3 when the vault directory does not exist', async () => {
    const missing = join(dir.path, 'nowhere');
    const result = await lifeboat(['list', '--vault', missing]);
    expect(result.code).toBe(ExitCode.notFound);
    expect(errorLine(result.stderr)).toEqual({ name: 'VaultNotFoundError', message: `No vault at ${missing}: the directory does not exist` });
    await expect(stat(missing)).rejects.toThrow();
  });
});

describe('lifeboat show', () => {
  it('prints the manifest with tables and row counts', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    const result = await lifeboat(['show', NEWER, '--vault', vault]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(new RegExp(`^Backup\\s+${NEWER}$`, 'm'));
    expect(result.stdout).toMatch(/^Source\s+orders-db$/m);
    expect(result.stdout).toMatch(/^Status\s+unverified$/m);
    expect(result.stdout).toMatch(/^Size\s+3\.0 MiB raw, 2\.5 KiB stored/m);
    expect(result.stdout).toMatch(/^Key\s+local key lifeboat\/k-0123456789abcdef$/m);
    expect(result.stdout).toMatch(/^Tables: 2, 120,475 rows$/m);
    expect(result.stdout).toMatch(/^public\s+orders\s+120,433$/m);
    expect(result.stdout).toMatch(/^public\s+events\s+~42$/m);
  });

  it('--json prints the stored manifest and its status', async () => {
    const manifest = await addBackup(store, 'orders-db', NEWER, 'postgresql');
    const result = await lifeboat(['show', NEWER, '--vault', vault, '--source', 'orders-db', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ manifest, status: { state: 'unverified' } });
  });

  it('exits 3 for an unknown backup id, in the vault or in one source', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    for (const extra of [[], ['--source', 'orders-db']]) {
      const result = await lifeboat(['show', OLDER, '--vault', vault, ...extra]);
      expect(result.code).toBe(ExitCode.notFound);
      expect(result.stdout).toBe('');
      expect(errorLine(result.stderr)?.name).toBe('BackupNotFoundError');
      expect(result.stderr).toContain(OLDER);
    }
  });

  it('exits 3 for a backup whose manifest was never written', async () => {
    await store.putObject(payloadKey('orders-db', NEWER), 'partial');
    const result = await lifeboat(['show', NEWER, '--vault', vault]);
    expect(result.code).toBe(ExitCode.notFound);
    expect(errorLine(result.stderr)?.name).toBe('ManifestMissingError');
  });

  it('exits 4 for a manifest that does not parse', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    await writeFile(join(vault, ...manifestKey('orders-db', NEWER).split('/')), '{"format":"lifeboat-backup","formatVersion":"1.0","backupId":"x"}');
    const result = await lifeboat(['show', NEWER, '--vault', vault]);
    expect(result.code).toBe(ExitCode.integrity);
    expect(errorLine(result.stderr)?.name).toBe('ManifestInvalidError');
  });

  it('exits 1 for a manifest of a newer major format version', async () => {
    await addBackup(store, 'orders-db', NEWER, 'postgresql');
    await writeFile(join(vault, ...manifestKey('orders-db', NEWER).split('/')), '{"format":"lifeboat-backup","formatVersion":"2.0"}');
    const result = await lifeboat(['show', NEWER, '--vault', vault]);
    expect(result.code).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)?.name).toBe('UnsupportedFormatVersionError');
  });
});

describe('lifeboat keygen', () => {
  it('creates a 0600 key file and refuses to overwrite it', async () => {
    const keyFile = join(dir.path, 'key.json');
    const created = await lifeboat(['keygen', '--key-file', keyFile]);
    expect(created.code).toBe(0);
    expect(created.stdout).toBe('');
    expect(created.stderr).toMatch(/^Created key lifeboat\/k-[0-9a-f]{16} in /);
    const before = await stat(keyFile);
    expect(before.mode & 0o777).toBe(0o600);
    const { readFile } = await import('node:fs/promises');
    const content = await readFile(keyFile, 'utf8');
    // The key itself is never printed.
    const key = (JSON.parse(content) as { key: string }).key;
    expect(created.stderr).not.toContain(key);

    const again = await lifeboat(['keygen', '--key-file', keyFile, '--quiet']);
    expect(again.code).toBe(ExitCode.usage);
    expect(errorLine(again.stderr)?.name).toBe('KeyFileError');
    expect(again.stderr).toMatch(/already exists/);
    expect(await readFile(keyFile, 'utf8')).toBe(content);
  });

  it('--quiet prints nothing', async () => {
    const result = await lifeboat(['keygen', '--key-file', join(dir.path, 'quiet.json'), '-q']);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
