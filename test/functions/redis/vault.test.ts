import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, DumpFailedError, StoreWriteFailedError, TargetNotEmptyError, WrongKeyError } from '../../../functions/lib/errors.ts';
import { encodeEnd, encodeKey, encodeSelect, KEYS_MAGIC } from '../../../functions/lib/redis/keysFormat.ts';
import { readKeyspace } from '../../../functions/lib/redis/resp.ts';
import { keyspaceOfRdb } from '../../../functions/lib/redis/scratch.ts';
import { verifyRedisBackup } from '../../../functions/lib/redis/verify.ts';
import { verifyBackup } from '../../../functions/lib/verify/verify.ts';
import { restoreRedisBackup, restoreRedisBackupToRdb, runRedisBackup } from '../../../functions/lib/redis/vault.ts';
import { readManifest } from '../../../functions/lib/vault/catalog.ts';
import { payloadKey } from '../../../functions/lib/vault/layout.ts';
import { parseManifest } from '../../../functions/lib/vault/manifest.ts';
import { readLatestVerification } from '../../../functions/lib/vault/verification.ts';
import { createCompressStream } from '../../../functions/lib/codec/zstd.ts';
import { backupEncryptionContext, createEncryptStream } from '../../../functions/lib/crypto/envelope.ts';
import { Readable } from 'node:stream';
import { failAfter, tempVault, testKeyring, through, wrapStore } from '../engine/helpers.ts';
import { startTestRedis, type TestRedis } from '../../harness/redis.ts';
import { describeDatabase, seedKeyspace } from './fixture.ts';

const SOURCE = 'sessions-cache';
const keyring = testKeyring();
let source: TestRedis;
let target: TestRedis;
let vault: Awaited<ReturnType<typeof tempVault>>;

beforeAll(async () => {
  [source, target] = await Promise.all([startTestRedis(['--requirepass', 's3cret-pw'], 's3cret-pw'), startTestRedis()]);
  const client = await source.connect();
  await seedKeyspace(client);
  client.close();
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});
beforeEach(async () => {
  await vault?.remove();
  vault = await tempVault();
  await target.flushAll();
});

const sourceEndpoint = () => ({ host: source.host, port: source.port, password: 's3cret-pw' });
const backup = async () => (await runRedisBackup({ endpoint: sourceEndpoint(), sourceId: SOURCE, store: vault.store, keyring })).manifest;

describe('a Redis backup in the vault', () => {
  it('writes the payload through the envelope and a 1.2 manifest with keys per database and what INFO keyspace reported', async () => {
    const manifest = await backup();
    const read = await readManifest(vault.store, SOURCE, manifest.backupId);
    expect(read).toMatchObject({
      formatVersion: '1.2',
      kind: 'dump',
      engine: 'redis',
      source: { database: '*', host: `127.0.0.1:${source.port}` },
      tools: { dump: { name: 'lifeboat-redis' } },
      payload: { key: 'payload', format: 'redis-keys' },
      compression: { codec: 'zstd' },
      encryption: { scheme: 'aws-encryption-sdk', encryptionContext: { 'lifeboat:source': SOURCE, 'lifeboat:backup': manifest.backupId } },
      content: {
        tables: [],
        keyspace: [
          { db: 0, keys: 10, expiring: 2, reportedKeys: 10 },
          { db: 3, keys: 1202, expiring: 1, reportedKeys: 1202 },
        ],
      },
    });
    // Encrypted: no key name or value readable in the stored bytes.
    const stored = await readFile(path.join(vault.root, payloadKey(SOURCE, manifest.backupId)));
    expect(stored.includes(Buffer.from('user:1:name'))).toBe(false);
    expect(stored.includes(Buffer.from('Ada'))).toBe(false);
    // The password is nowhere in the manifest.
    expect(JSON.stringify(read)).not.toContain('s3cret-pw');
  });

  it('refuses a redis manifest without its keyspace, and a 1.0 version for engine redis', async () => {
    const manifest = await backup();
    const json = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown> & { content: Record<string, unknown> };
    expect(() => parseManifest(JSON.stringify({ ...json, formatVersion: '1.0' }), 'm')).toThrow(/formatVersion: must be 1.2 or later for engine "redis"/);
    delete json.content.keyspace;
    expect(() => parseManifest(JSON.stringify(json), 'm')).toThrow(/content.keyspace: is required for engine "redis"/);
  });

  it('restores into another server: every key, type and expiry as backed up', async () => {
    const manifest = await backup();
    const summary = await restoreRedisBackup({ store: vault.store, manifest, keyring, target: { host: target.host, port: target.port } });
    expect(summary).toMatchObject({ keys: 1212, expiredSkipped: 0 });
    const src = await source.connect();
    const dst = await target.connect();
    try {
      expect(await describeDatabase(dst, 0)).toEqual(await describeDatabase(src, 0));
      expect(await describeDatabase(dst, 3)).toEqual(await describeDatabase(src, 3));
      expect(await readKeyspace(dst)).toEqual(await readKeyspace(src));
    } finally {
      src.close();
      dst.close();
    }
  });

  it('refuses to restore over existing keys unless told, and then replaces them', async () => {
    const manifest = await backup();
    const dst = await target.connect();
    await dst.call('SET', 'counter', 'precious');
    const into = { store: vault.store, manifest, keyring, target: { host: target.host, port: target.port } };
    await expect(restoreRedisBackup(into)).rejects.toThrow(TargetNotEmptyError);
    expect(await dst.call('DBSIZE')).toBe(1);
    await restoreRedisBackup({ ...into, replace: true });
    expect(String(await dst.call('GET', 'counter'))).toBe('42');
    dst.close();
  });

  it('writes an RDB file another server loads with the same keys per database, and never over an existing file', async () => {
    const manifest = await backup();
    const rdbFile = path.join(vault.root, 'restored.rdb');
    await restoreRedisBackupToRdb({ store: vault.store, manifest, keyring, rdbFile });
    const counted = await keyspaceOfRdb(rdbFile);
    expect(counted.map(({ db, keys }) => ({ db, keys }))).toEqual([
      { db: 0, keys: 10 },
      { db: 3, keys: 1202 },
    ]);
    await expect(restoreRedisBackupToRdb({ store: vault.store, manifest, keyring, rdbFile })).rejects.toThrow(ConfigError);
  });

  it('verifies a good backup: every check passes and the result is written beside the manifest', async () => {
    const manifest = await backup();
    const result = await verifyRedisBackup({ store: vault.store, manifest, keyring });
    expect(result.status).toBe('verified');
    expect(result.checks.map((c) => [c.name, c.status])).toEqual([
      ['checksum', 'passed'],
      ['decrypt', 'passed'],
      ['structure', 'passed'],
      ['restore', 'passed'],
      ['row-counts', 'passed'],
      ['sql-checks', 'skipped'],
      ['size-anomaly', 'skipped'],
    ]);
    const latest = await readLatestVerification(vault.store, SOURCE, manifest.backupId);
    expect(latest).toMatchObject({ status: 'verified' });
  });

  it('is what verifyBackup (the verify function\'s core) runs for a Redis backup; a restore server or SQL checks are refused', async () => {
    const manifest = await backup();
    const result = await verifyBackup({ store: vault.store, backupId: manifest.backupId, keyring });
    expect(result).toMatchObject({ status: 'verified', sourceId: SOURCE, backupId: manifest.backupId });
    expect(result.checks.find((c) => c.name === 'row-counts')?.status).toBe('passed');
    await expect(verifyBackup({ store: vault.store, backupId: manifest.backupId, keyring, sqlChecks: ['SELECT true'] })).rejects.toThrow(
      `Backup ${SOURCE}/${manifest.backupId} is a Redis backup: it is verified in a scratch redis-server, without a restore server or SQL checks`,
    );
  });

  it('fails the checksum of a payload whose stored bytes changed, naming the payload', async () => {
    const manifest = await backup();
    const file = path.join(vault.root, payloadKey(SOURCE, manifest.backupId));
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
    await writeFile(file, bytes);
    const result = await verifyRedisBackup({ store: vault.store, manifest, keyring });
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/^checksum: payload backups\/sessions-cache\/.*\/payload holds \d+ bytes with SHA-256/);
    expect(result.checks.filter((c) => c.status === 'skipped').map((c) => c.name)).toEqual(['decrypt', 'structure', 'restore', 'row-counts', 'sql-checks', 'size-anomaly']);
  });

  it('fails structure when the payload holds fewer keys than the manifest records, and row-counts says which database', async () => {
    const manifest = await backup();
    // A payload, well encrypted and hashed, whose db3 lost a key: what a bug in the writer would leave.
    const { storedBytes, sha256 } = await writePayload(manifest.backupId, [
      KEYS_MAGIC, encodeSelect(0),
      ...(await dumpsOf(0)), encodeSelect(3), ...(await dumpsOf(3)).slice(1),
    ]);
    const forged = { ...manifest, payload: { ...manifest.payload, storedBytes, sha256 } };
    const result = await verifyRedisBackup({ store: vault.store, manifest: forged, keyring });
    expect(result.status).toBe('failed');
    expect(result.checks.find((c) => c.name === 'structure')).toMatchObject({ status: 'failed', reason: 'the payload holds 1201 keys of db3; the manifest records 1202' });
    expect(result.checks.find((c) => c.name === 'row-counts')).toMatchObject({ status: 'failed', reason: 'db3 has 1201 keys after the restore; the manifest records 1202' });
  });

  it('fails structure for a payload cut short (no end record)', async () => {
    const manifest = await backup();
    const { storedBytes, sha256 } = await writePayload(manifest.backupId, [KEYS_MAGIC, encodeSelect(0), ...(await dumpsOf(0))], false);
    const forged = { ...manifest, payload: { ...manifest.payload, storedBytes, sha256 } };
    const result = await verifyRedisBackup({ store: vault.store, manifest: forged, keyring });
    expect(result.checks.find((c) => c.name === 'structure')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/cut short: no end record after 10 keys/) });
    expect(result.checks.find((c) => c.name === 'row-counts')?.status).toBe('skipped');
  });

  it('stops without a verdict when the backup holds values newer than the scratch server reads', async () => {
    const manifest = await backup();
    // RDB version 99 in one value's footer: what a Valkey or Redis newer than this machine's writes.
    const [first, ...rest] = await dumpsOf(0);
    const newer = Buffer.from(first!);
    newer.writeUInt16LE(99, newer.length - 10);
    const { storedBytes, sha256 } = await writePayload(manifest.backupId, [KEYS_MAGIC, encodeSelect(0), newer, ...rest, encodeSelect(3), ...(await dumpsOf(3))]);
    const forged = { ...manifest, payload: { ...manifest.payload, storedBytes, sha256 } };
    await expect(verifyRedisBackup({ store: vault.store, manifest: forged, keyring })).rejects.toThrow(
      /^This backup holds values of RDB version 99; the scratch redis-server \(7\.\d+\.\d+\) reads up to \d+\. Verify it with a newer redis-server/,
    );
    expect((await readLatestVerification(vault.store, SOURCE, manifest.backupId)).status).toBe('unverified');
  });

  it('refuses to judge with another key: WrongKeyError, nothing recorded', async () => {
    const manifest = await backup();
    await expect(verifyRedisBackup({ store: vault.store, manifest, keyring: testKeyring('other-key') })).rejects.toThrow(WrongKeyError);
    const listed: string[] = [];
    for await (const key of vault.store.list('backups/')) listed.push(key);
    expect(listed.some((k) => k.includes('/verifications/'))).toBe(false);
  });

  it('fails with StoreWriteFailedError when the vault fails mid-payload, leaving neither payload nor manifest', async () => {
    const broken = wrapStore(vault.store, {
      putStream: (key, body) => vault.store.putStream(key, through(body, failAfter(4096, new Error('disk full')))),
    });
    const attempt = runRedisBackup({ endpoint: sourceEndpoint(), sourceId: SOURCE, store: broken, keyring, batchSize: 50 });
    await expect(attempt).rejects.toSatisfy((e: unknown) => e instanceof StoreWriteFailedError && /disk full/.test((e as Error).message));
    const listed: string[] = [];
    for await (const key of vault.store.list('')) listed.push(key);
    expect(listed.filter((k) => k.startsWith('backups/'))).toEqual([]);
  });

  it('fails a backup of a server it cannot log into, leaving nothing in the vault', async () => {
    const attempt = runRedisBackup({ endpoint: { host: source.host, port: source.port, password: 'wrong' }, sourceId: SOURCE, store: vault.store, keyring });
    await expect(attempt).rejects.toSatisfy((e: unknown) => e instanceof DumpFailedError && !(e as Error).message.includes('wrong') && /WRONGPASS|invalid/i.test((e as Error).message));
    const listed: string[] = [];
    for await (const key of vault.store.list('')) listed.push(key);
    expect(listed.filter((k) => k.startsWith('backups/'))).toEqual([]);
  });
});

/** DUMP records of one database of the source, as the backup writes them. */
async function dumpsOf(db: number): Promise<Buffer[]> {
  const client = await source.connect();
  try {
    await client.call('SELECT', db);
    const keys = (await client.call('KEYS', '*')) as Buffer[];
    const out: Buffer[] = [];
    for (const key of keys) out.push(encodeKey(key, -1, (await client.call('DUMP', key)) as Buffer));
    return out;
  } finally {
    client.close();
  }
}

async function writePayload(backupId: string, records: Buffer[], withEnd = true): Promise<{ storedBytes: number; sha256: string }> {
  const keys = records.filter((r) => r[0] === 0x02).length;
  const plain = Buffer.concat([...records, ...(withEnd ? [encodeEnd(keys)] : [])]);
  const chunks: Buffer[] = [];
  const { pipeline } = await import('node:stream/promises');
  const { Writable } = await import('node:stream');
  await pipeline(
    Readable.from([plain]),
    createCompressStream(),
    createEncryptStream(keyring, backupEncryptionContext(SOURCE, backupId)),
    new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) }),
  );
  const stored = Buffer.concat(chunks);
  await writeFile(path.join(vault.root, payloadKey(SOURCE, backupId)), stored);
  const { createHash } = await import('node:crypto');
  return { storedBytes: stored.length, sha256: createHash('sha256').update(stored).digest('hex') };
}
