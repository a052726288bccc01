import { createServer } from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createMariaDbDatabase,
  createPostgresDatabase,
  listMariaDbDatabases,
  listPostgresDatabases,
  type MariaDbDatabase,
  type PostgresDatabase,
} from './databases.ts';

/** A loopback port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

describe('createPostgresDatabase', () => {
  const created: PostgresDatabase[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map((db) => db.drop()));
  });

  it('creates a uniquely named database, writes and reads a table, and drops it', async () => {
    const db = await createPostgresDatabase('Harness Check');
    created.push(db);

    await db.query('CREATE TABLE backups (id serial PRIMARY KEY, source text NOT NULL)');
    await db.query('INSERT INTO backups (source) VALUES ($1), ($2)', ['orders', 'billing']);
    const rows = await db.query<{ id: number; source: string }>('SELECT id, source FROM backups ORDER BY id');

    expect(db.name).toMatch(/^lb_test_harness_check_[0-9a-f]{10}$/);
    expect(db.url).toBe(`postgres://postgres@127.0.0.1:5432/${db.name}`);
    expect(db.connectionOptions).toMatchObject({ host: '127.0.0.1', port: 5432, user: 'postgres', database: db.name });
    expect(rows).toEqual([
      { id: 1, source: 'orders' },
      { id: 2, source: 'billing' },
    ]);
    expect(await listPostgresDatabases('lb_test_harness_check_')).toContain(db.name);

    await db.drop();

    expect(await listPostgresDatabases('lb_test_harness_check_')).not.toContain(db.name);
  });

  it('gives every call its own database', async () => {
    const [first, second] = await Promise.all([createPostgresDatabase('twin'), createPostgresDatabase('twin')]);
    created.push(first, second);

    expect(first.name).not.toBe(second.name);
  });

  it('drops a database that another session is still connected to', async () => {
    const db = await createPostgresDatabase('busy');
    created.push(db);
    const session = new pg.Client(db.connectionOptions);
    session.on('error', () => undefined);
    await session.connect();
    await session.query('SELECT 1');

    await db.drop();

    expect(await listPostgresDatabases(db.name)).toEqual([]);
    await session.end().catch(() => undefined);
  });
});

describe('createMariaDbDatabase', () => {
  const created: MariaDbDatabase[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map((db) => db.drop()));
  });

  it('creates a uniquely named database, writes and reads a table, and drops it', async () => {
    const db = await createMariaDbDatabase('harness-check');
    created.push(db);

    await db.query('CREATE TABLE backups (id INT AUTO_INCREMENT PRIMARY KEY, source VARCHAR(64) NOT NULL)');
    await db.query('INSERT INTO backups (source) VALUES (?), (?)', ['orders', 'billing']);
    const rows = await db.query<{ id: number; source: string }>('SELECT id, source FROM backups ORDER BY id');

    expect(db.name).toMatch(/^lb_test_harness_check_[0-9a-f]{10}$/);
    expect(db.url).toBe(`mysql://root@127.0.0.1:3306/${db.name}`);
    expect(db.connectionOptions).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', database: db.name });
    expect(rows).toEqual([
      { id: 1, source: 'orders' },
      { id: 2, source: 'billing' },
    ]);
    expect(await listMariaDbDatabases('lb_test_harness_check_')).toContain(db.name);

    await db.drop();

    expect(await listMariaDbDatabases('lb_test_harness_check_')).not.toContain(db.name);
  });

  it('drops a database that another session holds a lock in', async () => {
    const db = await createMariaDbDatabase('busy');
    created.push(db);
    await db.query('CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB');
    const session = await mysql.createConnection(db.connectionOptions);
    session.on('error', () => undefined);
    // An open transaction holds a metadata lock that would make a plain DROP DATABASE wait forever.
    await session.beginTransaction();
    await session.query('INSERT INTO t VALUES (1)');

    await db.drop();

    expect(await listMariaDbDatabases(db.name)).toEqual([]);
    session.destroy();
  });
});

describe('unreachable servers', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('names PostgreSQL, the address and the start command', async () => {
    const port = await closedPort();
    vi.stubEnv('PGPORT', String(port));

    const failure = createPostgresDatabase('unreachable');

    await expect(failure).rejects.toThrow(`PostgreSQL is not reachable at 127.0.0.1:${port}`);
    await expect(failure).rejects.toThrow(
      'Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  });

  it('names MariaDB, the address and the start command', async () => {
    const port = await closedPort();
    vi.stubEnv('MYSQL_PORT', String(port));

    const failure = createMariaDbDatabase('unreachable');

    await expect(failure).rejects.toThrow(`MariaDB is not reachable at 127.0.0.1:${port}`);
    await expect(failure).rejects.toThrow(
      'Start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
    );
  });

  it('rejects a port that is not a number, naming the variable', async () => {
    vi.stubEnv('PGPORT', 'five-four-three-two');

    await expect(createPostgresDatabase()).rejects.toThrow("PGPORT must be a TCP port number, got 'five-four-three-two'");
  });
});

describe('scratch databases left behind', () => {
  it('none from this file remain on either server', async () => {
    const prefixes = ['lb_test_harness_check_', 'lb_test_twin_', 'lb_test_busy_', 'lb_test_unreachable_'];

    const leftovers = await Promise.all(
      prefixes.flatMap((prefix) => [listPostgresDatabases(prefix), listMariaDbDatabases(prefix)]),
    );

    expect(leftovers.flat()).toEqual([]);
  });
});
