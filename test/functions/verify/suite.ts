/**
 * The verification suite, run once per engine on the real local server: a good backup verifies clean,
 * and each fault is caught by its own check with its own reason. After every test, no scratch database
 * of this suite's source is left on the server.
 */
import { readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCompressStream, createDecompressStream } from '../../../functions/lib/codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream, createEncryptStream, describeEncryption } from '../../../functions/lib/crypto/envelope.ts';
import { type BackupKeyring, rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { type ConnectionInfo, parseConnectionUrl } from '../../../functions/lib/engine/connection.ts';
import { HashingCounter } from '../../../functions/lib/engine/progress.ts';
import { InvalidSqlCheckError, RestoreFailedError, SourceUnreachableError, StoreWriteFailedError, WrongKeyError } from '../../../functions/lib/errors.ts';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, newBackupId, payloadKey } from '../../../functions/lib/vault/layout.ts';
import { manifestDigest, serializeManifest } from '../../../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { readLatestVerification, type VerificationResult } from '../../../functions/lib/vault/verification.ts';
import { verifyBackup, type VerifyOptions } from '../../../functions/lib/verify/index.ts';
import {
  type MariaDbDatabase,
  type PostgresDatabase,
  createMariaDbDatabase,
  createPostgresDatabase,
  listMariaDbDatabases,
  listPostgresDatabases,
  mariaDbSettings,
  postgresSettings,
} from '../../harness/index.ts';
import { connectionOf, failAfter, tempVault, testKey, testKeyring, through, wrapStore } from '../engine/helpers.ts';

export type Engine = 'postgresql' | 'mysql';

const ORDERS = 120;
const CUSTOMERS = 12;

export function restoreServerFor(engine: Engine): ConnectionInfo {
  const settings = engine === 'postgresql' ? postgresSettings() : mariaDbSettings();
  const scheme = engine === 'postgresql' ? 'postgres' : 'mysql';
  const info = parseConnectionUrl(`${scheme}://${encodeURIComponent(settings.user)}@${settings.host}:${settings.port}/${scheme === 'postgres' ? 'postgres' : 'mysql'}`);
  return settings.password === undefined ? info : { ...info, password: settings.password };
}

export function listScratch(engine: Engine, sourceId: string): Promise<string[]> {
  const prefix = `lb_verify_${sourceId.replaceAll('-', '_')}_`;
  return engine === 'postgresql' ? listPostgresDatabases(prefix) : listMariaDbDatabases(prefix);
}

/** A source database with `orders` (120 rows) and `customers` (12 rows). */
export async function createSource(engine: Engine, label: string): Promise<PostgresDatabase | MariaDbDatabase> {
  if (engine === 'postgresql') {
    const db = await createPostgresDatabase(label);
    await db.query('CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)');
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers (id), total numeric(10, 2))');
    await db.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, ${CUSTOMERS}) g`);
    await db.query(`INSERT INTO orders (customer_id, total) SELECT 1 + g % ${CUSTOMERS}, g * 1.5 FROM generate_series(1, ${ORDERS}) g`);
    return db;
  }
  const db = await createMariaDbDatabase(label);
  await db.query('CREATE TABLE customers (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL) ENGINE=InnoDB');
  await db.query(
    'CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, customer_id int, total decimal(10, 2), FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB',
  );
  await db.query(`INSERT INTO customers (name) SELECT CONCAT('customer ', seq) FROM seq_1_to_${CUSTOMERS}`);
  await db.query(`INSERT INTO orders (customer_id, total) SELECT 1 + seq % ${CUSTOMERS}, seq * 1.5 FROM seq_1_to_${ORDERS}`);
  return db;
}

/** The decompressed dump of a stored backup. */
export async function rawDump(store: VaultStore, keyring: BackupKeyring, manifest: DumpManifest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    await store.getStream(payloadKey(manifest.sourceId, manifest.backupId)),
    createDecryptStream(keyring, backupEncryptionContext(manifest.sourceId, manifest.backupId)),
    createDecompressStream(),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/**
 * A backup whose dump is `raw`, stored exactly as a backup run stores one (compressed, encrypted under
 * a fresh id, hashed), with `base`'s manifest otherwise: for dumps no healthy pg_dump or mysqldump
 * run would write, but that a vault could still hold.
 */
export async function storeCraftedBackup(store: VaultStore, keyring: BackupKeyring, base: DumpManifest, raw: Buffer): Promise<DumpManifest> {
  const backupId = newBackupId();
  const context = backupEncryptionContext(base.sourceId, backupId);
  const hasher = new HashingCounter();
  await Promise.all([
    pipeline(Readable.from([raw]), createCompressStream(), createEncryptStream(keyring, context), hasher),
    store.putStream(payloadKey(base.sourceId, backupId), hasher),
  ]);
  const manifest: DumpManifest = {
    ...base,
    backupId,
    encryption: describeEncryption(keyring, context),
    payload: { ...base.payload, rawBytes: raw.length, storedBytes: hasher.bytes, sha256: hasher.digest() },
  };
  await writeManifest(store, manifest);
  return manifest;
}

export function statuses(result: VerificationResult): Record<string, string> {
  return Object.fromEntries(result.checks.map((check) => [check.name, check.status]));
}

export function reasonOf(result: VerificationResult, name: string): string | undefined {
  return result.checks.find((check) => check.name === name)?.reason;
}

export function defineVerifySuite(engine: Engine): void {
  const SOURCE = engine === 'postgresql' ? 'verify-pg' : 'verify-my';

  describe(`verifyBackup on the real ${engine === 'postgresql' ? 'PostgreSQL' : 'MariaDB'} server`, () => {
    let db: PostgresDatabase | MariaDbDatabase;
    let vault: Awaited<ReturnType<typeof tempVault>>;
    const keyring = testKeyring();
    const server = restoreServerFor(engine);
    /** `public.orders` or `<database>.orders`, as reasons name a table. */
    let orders: string;

    beforeAll(async () => {
      db = await createSource(engine, `verify_${engine}`);
      vault = await tempVault();
      orders = `${engine === 'postgresql' ? 'public' : db.name}.orders`;
    });
    afterAll(async () => {
      await db?.drop();
      await vault?.remove();
    });
    afterEach(async () => {
      expect(await listScratch(engine, SOURCE)).toEqual([]);
    });

    // One stream (v1.0): these checks damage the single payload object; partsPass.test.ts covers multi-part payloads.
    const backup = async () => (await runBackup({ source: connectionOf(db), sourceId: SOURCE, store: vault.store, keyring, jobs: 1 })).manifest;
    const verify = (manifest: DumpManifest, options: Partial<VerifyOptions> = {}) =>
      verifyBackup({ store: vault.store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: server, ...options });
    const payloadFile = (manifest: DumpManifest) => path.join(vault.root, ...payloadKey(SOURCE, manifest.backupId).split('/'));
    const rewriteManifest = (manifest: DumpManifest) =>
      vault.store.putObject(manifestKey(SOURCE, manifest.backupId), serializeManifest(manifest));

    it('verifies a good backup clean, records the result beside the untouched manifest, and drops the scratch database', async () => {
      const manifest = await backup();
      const manifestBefore = await vault.store.getObject(manifestKey(SOURCE, manifest.backupId));

      const result = await verify(manifest, { sqlChecks: ['SELECT count(*) = 120 FROM orders', 'SELECT 1 FROM customers WHERE id = 3'] });

      expect(result).toMatchObject({ format: 'lifeboat-verification', formatVersion: '1.1', sourceId: SOURCE, backupId: manifest.backupId, status: 'verified' });
      // Bound to exactly the backup it judged.
      expect(result).toMatchObject({ manifestSha256: manifestDigest(manifest), payloadSha256: manifest.payload.sha256 });
      expect(result.reason).toBeUndefined();
      expect(statuses(result)).toEqual({
        checksum: 'passed',
        decrypt: 'passed',
        structure: 'passed',
        restore: 'passed',
        'row-counts': 'passed',
        'sql-checks': 'passed',
        'size-anomaly': 'skipped',
      });
      expect(result.tables?.map((t) => [t.name, t.expectedRows, t.actualRows, t.status]).sort()).toEqual([
        ['customers', CUSTOMERS, CUSTOMERS, 'passed'],
        ['orders', ORDERS, ORDERS, 'passed'],
      ]);
      expect(result.sqlChecks?.map((c) => c.status)).toEqual(['passed', 'passed']);
      expect(result.restoreTarget).toEqual({
        server: `${server.host}:${server.port}`,
        database: expect.stringMatching(new RegExp(`^lb_verify_${SOURCE.replace('-', '_')}_20\\d{12}_[0-9a-f]{8}$`)) as unknown,
      });
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toMatchObject({ status: 'verified', result });
      expect(await vault.store.getObject(manifestKey(SOURCE, manifest.backupId))).toEqual(manifestBefore);
    });

    it('catches one flipped byte: the checksum names both digests, and nothing is restored', async () => {
      const manifest = await backup();
      const file = payloadFile(manifest);
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      await writeFile(file, bytes);

      const result = await verify(manifest);

      expect(result.status).toBe('failed');
      expect(reasonOf(result, 'checksum')).toMatch(
        new RegExp(`^payload \\S+/payload has SHA-256 [0-9a-f]{64}; the manifest records ${manifest.payload.sha256} \\(altered or replaced\\)$`),
      );
      expect(result.reason).toBe(`checksum: ${reasonOf(result, 'checksum')}`);
      expect(statuses(result)).toMatchObject({ checksum: 'failed', decrypt: 'failed', structure: 'skipped', restore: 'skipped', 'row-counts': 'skipped' });
      expect(reasonOf(result, 'restore')).toBe('not run: the payload failed the checksum check');
    });

    it('catches a truncated payload: the checksum gives both sizes', async () => {
      const manifest = await backup();
      await truncate(payloadFile(manifest), manifest.payload.storedBytes - 100);

      const result = await verify(manifest);

      expect(result.status).toBe('failed');
      expect(reasonOf(result, 'checksum')).toBe(
        `payload ${payloadKey(SOURCE, manifest.backupId)} holds ${manifest.payload.storedBytes - 100} bytes; the manifest records ${manifest.payload.storedBytes} (truncated)`,
      );
      expect(statuses(result)).toMatchObject({ checksum: 'failed', decrypt: 'failed', restore: 'skipped' });
    });

    it("catches a payload swapped with another backup's, and with the manifest re-hashed to match, the encryption context", async () => {
      const victim = await backup();
      const other = await backup();
      await writeFile(payloadFile(victim), await readFile(payloadFile(other)));

      const swapped = await verify(victim);
      expect(swapped.status).toBe('failed');
      expect(reasonOf(swapped, 'checksum')).toMatch(/^payload \S+ (has SHA-256 [0-9a-f]{64}; the manifest records [0-9a-f]{64} \(altered or replaced\)|holds \d+ bytes; the manifest records \d+ \(\w[\w ]*\))$/);
      expect(swapped.reason).toMatch(/^checksum: /);

      // Someone "fixes" the manifest's hash and size: the payload still names the other backup.
      await rewriteManifest({ ...victim, payload: { ...victim.payload, storedBytes: other.payload.storedBytes, sha256: other.payload.sha256 } });
      const rehashed = await verify(victim);
      expect(statuses(rehashed)).toMatchObject({ checksum: 'passed', decrypt: 'failed', structure: 'skipped', restore: 'skipped' });
      expect(reasonOf(rehashed, 'decrypt')).toBe(
        `Decryption refused: the payload's encryption context has lifeboat:backup="${other.backupId}", expected "${victim.backupId}"`,
      );
      expect(rehashed.reason).toBe(`decrypt: ${reasonOf(rehashed, 'decrypt')}`);
    });

    it('throws WrongKeyError and records nothing when the key has the right name but not the material (the data key does not unwrap)', async () => {
      const manifest = await backup();
      const description = keyring.description;
      if (description.type !== 'raw-aes') throw new Error('the suite uses a raw AES key');
      const impostor = rawAesKeyring(testKey(description.keyName));

      const failure = verify(manifest, { keyring: impostor });

      await expect(failure).rejects.toThrow(WrongKeyError);
      await expect(failure).rejects.toThrow(/cannot unwrap the data key of backup \S+, whose stored bytes match its manifest/);
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    });

    it('still records a failure when a damaged header keeps the data key from unwrapping (the checksum says the bytes changed)', async () => {
      const manifest = await backup();
      const bytes = await readFile(payloadFile(manifest));
      // Inside the header's encrypted data key: the key is right, the stored bytes are not.
      bytes[120] = bytes[120]! ^ 0xff;
      await writeFile(payloadFile(manifest), bytes);

      const result = await verify(manifest);

      expect(result.status).toBe('failed');
      expect(statuses(result)).toMatchObject({ checksum: 'failed', decrypt: 'failed', restore: 'skipped' });
    });

    it('throws WrongKeyError before reading when the manifest names another key, and records nothing', async () => {
      const manifest = await backup();
      const other = testKeyring('some-other-key');

      const failure = verify(manifest, { keyring: other });

      await expect(failure).rejects.toThrow(WrongKeyError);
      await expect(failure).rejects.toThrow(/^The backup was encrypted with local key lifeboat\/k-\w+; the key given is local key lifeboat\/some-other-key: nothing was verified or recorded/);
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    });

    it('catches a table missing after the restore, naming it and its recorded rows', async () => {
      const manifest = await backup();
      const schema = manifest.content.tables[0]!.schema;
      await rewriteManifest({ ...manifest, content: { tables: [...manifest.content.tables, { schema, name: 'ghost', rows: 3, rowsExact: true }] } });

      const result = await verify(manifest);

      expect(result.status).toBe('failed');
      expect(statuses(result)).toMatchObject({ checksum: 'passed', decrypt: 'passed', structure: 'passed', restore: 'passed', 'row-counts': 'failed' });
      expect(reasonOf(result, 'row-counts')).toBe(`table ${schema}.ghost is missing after the restore (the manifest records 3 rows)`);
      expect(result.tables?.find((t) => t.name === 'ghost')).toEqual({ schema, name: 'ghost', expectedRows: 3, status: 'failed' });
    });

    it('catches a row count that differs, with both numbers', async () => {
      const manifest = await backup();
      await rewriteManifest({
        ...manifest,
        content: { tables: manifest.content.tables.map((t) => (t.name === 'orders' ? { ...t, rows: ORDERS + 1 } : t)) },
      });

      const result = await verify(manifest);

      expect(result.status).toBe('failed');
      expect(reasonOf(result, 'row-counts')).toBe(`table ${orders} has ${ORDERS} rows after the restore; the manifest records ${ORDERS + 1}`);
      expect(result.reason).toBe(`row-counts: table ${orders} has ${ORDERS} rows after the restore; the manifest records ${ORDERS + 1}`);
    });

    it('reports an estimated row count that differs as a warning, not a failure', async () => {
      const manifest = await backup();
      await rewriteManifest({
        ...manifest,
        content: { tables: manifest.content.tables.map((t) => (t.name === 'orders' ? { ...t, rows: 100, rowsExact: false } : t)) },
      });

      const result = await verify(manifest);

      expect(result.status).toBe('verified');
      expect(statuses(result)['row-counts']).toBe('warning');
      expect(reasonOf(result, 'row-counts')).toBe(`table ${orders} has ${ORDERS} rows after the restore; the manifest estimated 100`);
    });

    it('fails a SQL check that returns nothing true, naming it', async () => {
      const manifest = await backup();

      const result = await verify(manifest, { sqlChecks: ['SELECT count(*) > 1000 FROM orders', 'SELECT count(*) FROM customers'] });

      expect(result.status).toBe('failed');
      expect(statuses(result)).toMatchObject({ restore: 'passed', 'row-counts': 'passed', 'sql-checks': 'failed' });
      expect(result.sqlChecks?.map((c) => c.status)).toEqual(['failed', 'passed']);
      expect(reasonOf(result, 'sql-checks')).toBe('check 1 (SELECT count(*) > 1000 FROM orders) returned 1 row(s) and no first column is true');
    });

    it('throws InvalidSqlCheckError for a check that cannot run (mistyped), records nothing and drops the scratch database', async () => {
      const manifest = await backup();

      const failure = verify(manifest, { sqlChecks: ['SELECT count(*) > 0 FROM orders', 'SELECT total FROM no_such_table'] });

      await expect(failure).rejects.toThrow(InvalidSqlCheckError);
      await expect(failure).rejects.toThrow(/^SQL check 2 \(SELECT total FROM no_such_table\) cannot run: .*no_such_table.*; nothing was recorded$/);
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    });

    it('fails a dump that reads but does not restore, and still drops the scratch database', async () => {
      const good = await backup();
      const raw = await rawDump(vault.store, keyring, good);
      // PostgreSQL: the archive cut just before its end (its table of contents intact); MySQL: a statement on a table that is not there.
      const broken =
        engine === 'postgresql'
          ? raw.subarray(0, raw.length - 8)
          : Buffer.from(raw.toString('utf8').replace('INSERT INTO `orders`', 'INSERT INTO `orders_gone`'));
      const crafted = await storeCraftedBackup(vault.store, keyring, good, broken);

      const result = await verify(crafted);

      expect(result.status).toBe('failed');
      expect(statuses(result)).toMatchObject({ checksum: 'passed', decrypt: 'passed', structure: 'passed', restore: 'failed', 'row-counts': 'skipped', 'sql-checks': 'skipped' });
      expect(reasonOf(result, 'restore')).toMatch(
        engine === 'postgresql'
          ? /^pg_restore exited with code 1: pg_restore: error: could not read from input file: end of file$/
          : /^mysql exited with code 1: ERROR \d+ \([0-9A-Z]{5}\) at line \d+: Table '[\w.]*orders_gone' (doesn't exist|was not locked with LOCK TABLES)$/,
      );
      // The failing statement the mysql client echoes holds the backup's rows: never in a reason.
      expect(reasonOf(result, 'restore')).not.toContain('VALUES');
      expect(result.reason).toMatch(/^restore: /);
    });

    it('fails a dump whose structure is broken', async () => {
      const good = await backup();
      const raw = await rawDump(vault.store, keyring, good);
      // PostgreSQL: not an archive at all; MySQL: the dump without mysqldump's completion trailer.
      const broken = engine === 'postgresql' ? Buffer.from('-- plain text, not a custom-format archive\n') : Buffer.from(raw.toString('utf8').replace(/-- Dump completed[^\n]*\n?$/, ''));
      const crafted = await storeCraftedBackup(vault.store, keyring, good, broken);

      const result = await verify(crafted);

      expect(result.status).toBe('failed');
      expect(statuses(result)).toMatchObject({ checksum: 'passed', decrypt: 'passed', structure: 'failed' });
      expect(reasonOf(result, 'structure')).toMatch(
        engine === 'postgresql' ? /^pg_restore --list cannot read the archive's table of contents \(pg_restore exited with code 1\): / : /^the dump does not end with mysqldump's "-- Dump completed" line/,
      );
      expect(result.reason).toMatch(/^structure: /);
    });

    it('records nothing and leaves no scratch database when the stored bytes cannot be read mid-pass', async () => {
      const manifest = await backup();
      const store = wrapStore(vault.store, {
        getStream: async (key) => through(await vault.store.getStream(key), failAfter(10, new StoreWriteFailedError('connection reset'))),
      });

      await expect(verifyBackup({ store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: server })).rejects.toThrow(
        'connection reset',
      );
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    });

    it('throws, and records nothing, when the verification server cannot be reached', async () => {
      const manifest = await backup();
      const unreachable = { ...server, host: '127.0.0.1', port: 1 };

      await expect(verify(manifest, { restoreServer: unreachable })).rejects.toThrow(SourceUnreachableError);
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    });

    it('throws, and records nothing, when a client tool cannot be started', async () => {
      const manifest = await backup();
      vi.stubEnv('PATH', '/nonexistent');
      try {
        const failure = verify(manifest);
        await expect(failure).rejects.toThrow(RestoreFailedError);
        await expect(failure).rejects.toThrow(/could not be started \(ENOENT\): install the PostgreSQL and MySQL client tools/);
      } finally {
        vi.unstubAllEnvs();
      }
      expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    });

    it('checks integrity and structure alone without a restore server', async () => {
      const manifest = await backup();
      const { restoreServer: _none, ...withoutServer } = { store: vault.store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: server };

      const result = await verifyBackup(withoutServer);

      expect(result.status).toBe('verified');
      expect(statuses(result)).toMatchObject({ checksum: 'passed', decrypt: 'passed', structure: 'passed', restore: 'skipped', 'row-counts': 'skipped', 'sql-checks': 'skipped' });
      expect(reasonOf(result, 'restore')).toBe('no restore server given: the restore test did not run');
    });
  });
}
