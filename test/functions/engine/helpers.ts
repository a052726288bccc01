/** Shared pieces of the engine's integration tests: keys, vaults, fixtures and content fingerprints. */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { type BackupKeyring, rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import type { LocalKey } from '../../../functions/lib/crypto/keyFile.ts';
import { type ConnectionInfo, parseConnectionUrl } from '../../../functions/lib/engine/connection.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import type { MariaDbDatabase, PostgresDatabase } from '../../harness/index.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/engine/', import.meta.url));

export function testKey(keyName = `k-${randomBytes(4).toString('hex')}`): LocalKey {
  return { keyNamespace: 'lifeboat', keyName, key: randomBytes(32), createdAt: new Date().toISOString() };
}

export function testKeyring(keyName?: string): BackupKeyring {
  return rawAesKeyring(testKey(keyName));
}

export async function tempVault(): Promise<{ store: LocalStore; root: string; remove(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'lifeboat-engine-'));
  return { store: new LocalStore(root), root, remove: () => rm(root, { recursive: true, force: true }) };
}

export function connectionOf(db: PostgresDatabase | MariaDbDatabase, password?: string): ConnectionInfo {
  const info = parseConnectionUrl(db.url);
  return password === undefined ? info : { ...info, password };
}

export async function loadPostgresFixture(db: PostgresDatabase, file = 'postgres-varied.sql'): Promise<void> {
  const client = new pg.Client(db.connectionOptions);
  await client.connect();
  try {
    await client.query(await readFile(path.join(FIXTURES, file), 'utf8'));
  } finally {
    await client.end();
  }
}

export async function loadMysqlFixture(db: MariaDbDatabase, file = 'mysql-varied.sql'): Promise<void> {
  const connection = await mysql.createConnection({ ...db.connectionOptions, multipleStatements: true, charset: 'utf8mb4' });
  try {
    await connection.query(await readFile(path.join(FIXTURES, file), 'utf8'));
  } finally {
    await connection.end();
  }
}

export interface TableFingerprint {
  rows: number;
  md5: string;
}

/** Row count and a content hash (rows as text, sorted) of every user table, keyed `schema.table`. */
export async function postgresFingerprint(info: ConnectionInfo): Promise<Record<string, TableFingerprint>> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.user, database: info.database });
  await client.connect();
  try {
    const tables = await client.query<{ schema: string; name: string }>(
      `SELECT schemaname AS schema, tablename AS name FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
    );
    const out: Record<string, TableFingerprint> = {};
    for (const { schema, name } of tables.rows) {
      const qualified = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`;
      const result = await client.query<{ rows: string; md5: string }>(
        `SELECT count(*) AS rows, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS md5 FROM ${qualified} t`,
      );
      out[`${schema}.${name}`] = { rows: Number(result.rows[0]!.rows), md5: result.rows[0]!.md5 };
    }
    return out;
  } finally {
    await client.end();
  }
}

/** The same for MySQL, keyed by table name (the schema is the database): rows in key order, hashed with their exact bytes. */
export async function mysqlFingerprint(info: ConnectionInfo): Promise<Record<string, TableFingerprint>> {
  const connection = await mysql.createConnection({
    host: info.host,
    port: info.port,
    user: info.user,
    database: info.database,
    charset: 'utf8mb4',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    const [tables] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`,
      [info.database],
    );
    const out: Record<string, TableFingerprint> = {};
    for (const { name } of tables) {
      const [rows] = await connection.query<mysql.RowDataPacket[]>(`SELECT * FROM ${mysql.escapeId(String(name))} ORDER BY 1`);
      const hash = createHash('md5');
      for (const row of rows) {
        hash.update(JSON.stringify(row, (_k, v: unknown) => (isBufferJson(v) ? `hex:${Buffer.from(v.data).toString('hex')}` : v)));
        hash.update('|');
      }
      out[String(name)] = { rows: rows.length, md5: hash.digest('hex') };
    }
    return out;
  } finally {
    await connection.end();
  }
}

function isBufferJson(value: unknown): value is { type: 'Buffer'; data: number[] } {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer';
}

/** Row counts by `schema.table`, from a manifest. */
export function manifestCounts(tables: readonly { schema: string; name: string; rows: number }[]): Record<string, number> {
  return Object.fromEntries(tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
}

/** A store that behaves like `inner` except where a test says otherwise. */
export function wrapStore(inner: VaultStore, overrides: Partial<VaultStore>): VaultStore {
  return {
    location: inner.location,
    putStream: (key, body) => inner.putStream(key, body),
    putObject: (key, data) => inner.putObject(key, data),
    getStream: (key) => inner.getStream(key),
    getObject: (key) => inner.getObject(key),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    ...overrides,
  };
}

/** Passes `limit` bytes, then fails (a connection to the store dropping mid-upload). */
export function failAfter(limit: number, error: Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(error);
      else callback(null, chunk);
    },
  });
}

/** `body` piped through `tap`, errors included, as the stream an inner store consumes. */
export function through(body: Readable, tap: Transform): Readable {
  body.on('error', (error) => tap.destroy(error));
  return body.pipe(tap);
}

/** PIDs of this process's children running `command` (to kill a dump tool mid-stream). */
export async function childPids(command: string): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('pgrep', ['-P', String(process.pid), '-x', command], (_error, stdout) => {
      resolve(stdout.split('\n').filter(Boolean).map(Number));
    });
  });
}
