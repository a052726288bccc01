import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, RestoreTargetLoginFailedError, RestoreTargetUnreachableError } from '../../../functions/lib/errors.ts';
import { isTruthy } from '../../../functions/lib/engine/restoredDatabase.ts';
import {
  validateRestore,
  type RestoreTestRequest,
  type ValidateRestoreDeps,
  type ValidateRestoreEvent,
} from '../../../functions/validate-restore/validate.ts';
import {
  createMariaDbDatabase,
  createPostgresDatabase,
  mariaDbSettings,
  postgresSettings,
  type MariaDbDatabase,
  type PostgresDatabase,
} from '../../harness/databases.ts';

const SECRET_PASSWORD = 'never-Print-me-9c41';
const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-Xy7Q2k';
const secrets = mockClient(SecretsManagerClient);

function depsFor(username: string, password = SECRET_PASSWORD): ValidateRestoreDeps {
  secrets.on(GetSecretValueCommand, { SecretId: secretArn }).resolves({ SecretString: JSON.stringify({ username, password }) });
  return {
    sources: [{ id: 'orders-db', credentialsSecretArn: secretArn }],
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    tls: 'disable', // the local servers have no TLS; in AWS the default is 'verify'
  };
}

function event(request: Partial<RestoreTestRequest> & Pick<RestoreTestRequest, 'engine' | 'database'>, port: number, address: string): ValidateRestoreEvent {
  return { request: { sourceId: 'orders-db', ...request }, endpoint: { address, port } };
}

/** A TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeEach(() => {
  secrets.reset();
});

describe('validateRestore on PostgreSQL', () => {
  const server = postgresSettings();
  const role = `lb_vr_${randomBytes(4).toString('hex')}`;
  let db: PostgresDatabase;
  let deps: ValidateRestoreDeps;
  const pgEvent = (request: Partial<RestoreTestRequest> = {}) => event({ engine: 'postgres', database: db.name, ...request }, server.port, server.host);

  beforeAll(async () => {
    db = await createPostgresDatabase('validate_restore');
    await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${SECRET_PASSWORD}'`);
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL)');
    await db.query('INSERT INTO orders (total) SELECT g * 1.5 FROM generate_series(1, 250) g');
    await db.query('CREATE SCHEMA sales');
    await db.query('CREATE TABLE sales.invoices (id int PRIMARY KEY)');
    await db.query('INSERT INTO sales.invoices VALUES (1), (2), (3)');
    await db.query('CREATE TABLE empty_audit (id int)');
    await db.query(`GRANT USAGE ON SCHEMA public, sales TO ${role}`);
    await db.query(`GRANT SELECT, DELETE ON ALL TABLES IN SCHEMA public, sales TO ${role}`);
    deps = depsFor(role);
  });

  beforeEach(() => {
    deps = depsFor(role);
  });

  afterAll(async () => {
    await db?.drop();
    const admin = new pg.Client({ ...server, database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
  });

  it('passes when every table has its manifest row count and every check holds, logging in with the secret', async () => {
    const result = await validateRestore(
      pgEvent({
        expectedTables: [
          { schema: 'public', name: 'orders', rows: 250 },
          { schema: 'sales', name: 'invoices', rows: 3 },
          { schema: 'public', name: 'empty_audit' },
        ],
        checks: ['SELECT count(*) > 0 FROM orders', 'SELECT count(*) FROM sales.invoices', "SELECT current_user = '" + role + "'"],
      }),
      deps,
    );

    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: secretArn });
    expect(result).toEqual({
      sourceId: 'orders-db',
      database: db.name,
      passed: true,
      tables: [
        { schema: 'public', name: 'orders', passed: true, expectedRows: 250, actualRows: 250 },
        { schema: 'sales', name: 'invoices', passed: true, expectedRows: 3, actualRows: 3 },
        { schema: 'public', name: 'empty_audit', passed: true, actualRows: 0 },
      ],
      checks: [
        { sql: 'SELECT count(*) > 0 FROM orders', passed: true },
        { sql: 'SELECT count(*) FROM sales.invoices', passed: true },
        { sql: "SELECT current_user = '" + role + "'", passed: true },
      ],
    });
  });

  it('fails naming a missing table and a differing row count, and still reports the tables that passed', async () => {
    const result = await validateRestore(
      pgEvent({
        expectedTables: [
          { schema: 'public', name: 'orders', rows: 251 },
          { schema: 'public', name: 'refunds', rows: 10 },
          { schema: 'sales', name: 'invoices', rows: 3 },
        ],
      }),
      deps,
    );

    expect(result.passed).toBe(false);
    expect(result.tables).toEqual([
      { schema: 'public', name: 'orders', passed: false, expectedRows: 251, actualRows: 250, reason: 'table public.orders has 250 rows, the manifest says 251' },
      { schema: 'public', name: 'refunds', passed: false, expectedRows: 10, reason: 'table public.refunds does not exist' },
      { schema: 'sales', name: 'invoices', passed: true, expectedRows: 3, actualRows: 3 },
    ]);
    expect(result.reason).toBe(
      '2 of 3 table(s) and 0 of 0 check(s) failed: table public.orders has 250 rows, the manifest says 251; table public.refunds does not exist',
    );
  });

  it('fails a check that returns false, one that returns no rows and one that errors, each with its own reason', async () => {
    const result = await validateRestore(
      pgEvent({
        checks: [
          'SELECT count(*) > 1000 FROM orders',
          'SELECT id FROM orders WHERE total < 0',
          'SELECT missing_column FROM orders',
          'SELECT NULL::boolean UNION ALL SELECT true',
        ],
      }),
      deps,
    );

    expect(result.passed).toBe(false);
    expect(result.checks).toEqual([
      { sql: 'SELECT count(*) > 1000 FROM orders', passed: false, reason: 'check 1 returned 1 row(s) and no first column is true (first: false)' },
      { sql: 'SELECT id FROM orders WHERE total < 0', passed: false, reason: 'check 2 returned no rows' },
      { sql: 'SELECT missing_column FROM orders', passed: false, reason: 'check 3 failed: column "missing_column" does not exist' },
      { sql: 'SELECT NULL::boolean UNION ALL SELECT true', passed: true },
    ]);
    expect(result.reason).toMatch(/^0 of 0 table\(s\) and 3 of 4 check\(s\) failed: check 1 returned 1 row/);
  });

  it('runs checks read-only, one statement each: a check cannot change the restored data', async () => {
    const result = await validateRestore(
      pgEvent({ checks: ['DELETE FROM orders RETURNING true', 'COMMIT; DELETE FROM orders', 'SELECT count(*) = 250 FROM orders'] }),
      deps,
    );

    expect(result.checks.map((c) => c.passed)).toEqual([false, false, true]);
    expect(result.checks[0]?.reason).toBe('check 1 failed: cannot execute DELETE in a read-only transaction');
    expect(result.checks[1]?.reason).toMatch(/^check 2 failed: cannot insert multiple commands into a prepared statement/);
    expect(await db.query('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 250 }]);
  });

  it('fails a check that runs past the statement time limit and goes on with the next one', async () => {
    const result = await validateRestore(pgEvent({ checks: ['SELECT pg_sleep(5) IS NULL', 'SELECT true'] }), {
      ...deps,
      statementTimeoutMs: 200,
    });

    expect(result.checks).toEqual([
      { sql: 'SELECT pg_sleep(5) IS NULL', passed: false, reason: 'check 1 failed: canceling statement due to statement timeout' },
      { sql: 'SELECT true', passed: true },
    ]);
  });

  it('fails when the database itself is not on the restored instance', async () => {
    const result = await validateRestore(pgEvent({ database: 'lb_test_no_such_database', expectedTables: [{ schema: 'public', name: 'orders', rows: 250 }] }), deps);

    expect(result).toEqual({
      sourceId: 'orders-db',
      database: 'lb_test_no_such_database',
      passed: false,
      tables: [],
      checks: [],
      reason: 'database lb_test_no_such_database does not exist on the restored instance',
    });
  });

  it('never puts the password from the secret in a result, even when an error message would quote it', async () => {
    const result = await validateRestore(
      pgEvent({ expectedTables: [{ schema: 'public', name: SECRET_PASSWORD }], checks: [`SELECT * FROM "${SECRET_PASSWORD}"`] }),
      deps,
    );

    expect(result.passed).toBe(false);
    expect(result.checks[0]?.reason).toBe('check 1 failed: relation "***" does not exist');
    expect(result.tables[0]?.reason).toBe('table public.*** does not exist');
    expect(JSON.stringify(result)).not.toContain(SECRET_PASSWORD);
  });

  it('throws RestoreTargetUnreachableError, without the password, when nothing listens at the endpoint', async () => {
    const port = await closedPort();
    const failure = validateRestore(event({ engine: 'postgres', database: db.name }, port, '127.0.0.1'), deps);

    await expect(failure).rejects.toBeInstanceOf(RestoreTargetUnreachableError);
    const error = (await failure.catch((e: unknown) => e)) as Error;
    expect(error.message).toContain(`Cannot connect to the restored database postgres://${role}@127.0.0.1:${port}/${db.name}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(`${error.message} ${String((error.cause as Error).message)}`).not.toContain(SECRET_PASSWORD);
  });
});

describe('validateRestore on MariaDB (engine mysql)', () => {
  const server = mariaDbSettings();
  const user = `lb_vr_${randomBytes(4).toString('hex')}`;
  let db: MariaDbDatabase;
  let deps: ValidateRestoreDeps;
  const myEvent = (request: Partial<RestoreTestRequest> = {}) => event({ engine: 'mysql', database: db.name, ...request }, server.port, server.host);

  beforeAll(async () => {
    db = await createMariaDbDatabase('validate_restore');
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${SECRET_PASSWORD}'`);
    await db.query(`GRANT SELECT, DELETE ON \`${db.name}\`.* TO '${user}'@'%'`);
    await db.query('CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, paid BIT(1) NOT NULL)');
    await db.query('INSERT INTO orders (paid) VALUES (1), (1), (0), (1), (0)');
    await db.query('CREATE VIEW paid_orders AS SELECT id FROM orders WHERE paid = 1');
  });

  beforeEach(() => {
    deps = depsFor(user);
  });

  afterAll(async () => {
    await db?.drop();
    const admin = await mysql.createConnection({ ...server });
    await admin.query(`DROP USER IF EXISTS '${user}'@'%'`).finally(() => admin.end());
  });

  it('passes when the table has its manifest row count and the checks hold, logging in with the secret', async () => {
    const result = await validateRestore(
      myEvent({
        expectedTables: [{ schema: db.name, name: 'orders', rows: 5 }],
        checks: ['SELECT COUNT(*) FROM orders WHERE paid = 1', 'SELECT paid FROM orders ORDER BY id', 'SELECT CURRENT_USER() LIKE ' + `'${user}@%'`],
      }),
      deps,
    );

    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: secretArn });
    expect(result).toEqual({
      sourceId: 'orders-db',
      database: db.name,
      passed: true,
      tables: [{ schema: db.name, name: 'orders', passed: true, expectedRows: 5, actualRows: 5 }],
      checks: [
        { sql: 'SELECT COUNT(*) FROM orders WHERE paid = 1', passed: true },
        { sql: 'SELECT paid FROM orders ORDER BY id', passed: true },
        { sql: `SELECT CURRENT_USER() LIKE '${user}@%'`, passed: true },
      ],
    });
  });

  it('fails naming a missing table, a view where a table was expected, a differing count and a failing check', async () => {
    const result = await validateRestore(
      myEvent({
        expectedTables: [
          { schema: db.name, name: 'orders', rows: 6 },
          { schema: db.name, name: 'refunds', rows: 1 },
          { schema: db.name, name: 'paid_orders' },
        ],
        checks: ['SELECT COUNT(*) FROM orders WHERE paid = 1 AND id > 100', 'SELECT nope FROM orders'],
      }),
      deps,
    );

    expect(result.passed).toBe(false);
    expect(result.tables.map((t) => t.reason)).toEqual([
      `table ${db.name}.orders has 5 rows, the manifest says 6`,
      `table ${db.name}.refunds does not exist`,
      `table ${db.name}.paid_orders does not exist`,
    ]);
    expect(result.checks[0]?.reason).toBe('check 1 returned 1 row(s) and no first column is true (first: 0)');
    // MariaDB versions differ in where they say the column is missing.
    expect(result.checks[1]?.reason).toMatch(/^check 2 failed: Unknown column 'nope' in /);
    expect(result.reason).toMatch(/^3 of 3 table\(s\) and 2 of 2 check\(s\) failed: /);
  });

  it('runs checks read-only: a DELETE fails and the rows stay', async () => {
    const result = await validateRestore(myEvent({ checks: ['DELETE FROM orders', 'SELECT 1; DELETE FROM orders'] }), deps);

    expect(result.checks.map((c) => c.passed)).toEqual([false, false]);
    expect(result.checks[0]?.reason).toMatch(/^check 1 failed: Cannot execute statement in a READ ONLY transaction/);
    expect(result.checks[1]?.reason).toMatch(/^check 2 failed: You have an error in your SQL syntax/);
    expect(await db.query('SELECT COUNT(*) AS n FROM orders')).toEqual([{ n: 5 }]);
  });

  it('throws RestoreTargetLoginFailedError, without the password, when the secret no longer matches the snapshot', async () => {
    const rotated = 'rotated-Secret-Value-55e1';
    const failure = validateRestore(myEvent({ checks: ['SELECT 1'] }), depsFor(user, rotated));

    await expect(failure).rejects.toBeInstanceOf(RestoreTargetLoginFailedError);
    const error = (await failure.catch((e: unknown) => e)) as Error;
    expect(error.message).toContain(`The restored database mysql://${user}@${server.host}:${server.port}/${db.name} rejected the credentials`);
    expect(error.message).toContain('rotated after the snapshot');
    expect(`${error.message} ${String((error.cause as Error).message)}`).not.toContain(rotated);
  });
});

describe('validateRestore input', () => {
  const deps = () => depsFor('someone');

  it('rejects an event naming each bad field', async () => {
    const failure = validateRestore({ request: { sourceId: 'orders-db', engine: 'oracle', database: '' } }, deps());

    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/request\.engine: .*; request\.database: .*; endpoint: /);
  });

  it('rejects a source it has no credentials for, before reading any secret', async () => {
    const failure = validateRestore(event({ sourceId: 'billing-db', engine: 'postgres', database: 'x' }, 5432, '127.0.0.1'), deps());

    await expect(failure).rejects.toThrow(new ConfigError("request.sourceId: unknown source 'billing-db'; this function knows orders-db"));
    expect(secrets).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it('rejects a secret that is not username and password JSON without echoing it', async () => {
    const d = deps();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: `password=${SECRET_PASSWORD}` });

    const failure = validateRestore(event({ engine: 'postgres', database: 'x' }, 5432, '127.0.0.1'), d);

    await expect(failure).rejects.toThrow(new ConfigError('Secret for source orders-db is not JSON with username and password'));
  });
});

describe('isTruthy: when a check first column counts as true', () => {
  it.each([
    [true, true],
    [false, false],
    [null, false],
    [1, true],
    [0, false],
    [-2.5, true],
    [5n, true],
    [0n, false],
    ['5', true],
    ['0', false],
    ['0.000', false],
    ['t', true],
    ['f', false],
    ['TRUE', true],
    ['false', false],
    ['', false],
    ['ok', true],
    [Buffer.from([1]), true],
    [Buffer.from([0]), false],
    [new Date(0), true],
  ])('%o → %s', (value, expected) => {
    expect(isTruthy(value)).toBe(expected);
  });
});
