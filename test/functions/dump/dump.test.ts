import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dumpSource, type DumpDeps, type DumpSource } from '../../../functions/dump/dump.ts';
import { generateKeyFile } from '../../../functions/lib/crypto/keyFile.ts';
import { keyringFromKeyFile } from '../../../functions/lib/crypto/keyring.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { createPostgresDatabase, postgresSettings, type PostgresDatabase } from '../../harness/databases.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';

const SECRET_PASSWORD = 'never-Print-me-7f3a';
const ordersSecretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-Xy7Q2k';

/** The error a promise rejects with; a promise that resolves fails the test. */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

describe('dumpSource: credentials from Secrets Manager, endpoint from RDS, backup into an S3 vault', () => {
  const secrets = mockClient(SecretsManagerClient);
  const rds = mockClient(RDSClient);
  let s3: LocalS3;
  let db: PostgresDatabase;
  let tempDir: string;
  let deps: DumpDeps;
  let source: DumpSource;

  beforeAll(async () => {
    s3 = await startLocalS3();
    db = await createPostgresDatabase('dumpfn');
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, note text)');
    await db.query("INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 250) g");
    tempDir = await mkdtemp(join(tmpdir(), 'lifeboat-dumpfn-'));
    await generateKeyFile(join(tempDir, 'vault.key'));
    source = {
      id: 'orders-db',
      engine: 'postgresql',
      database: db.name,
      credentialsSecretArn: ordersSecretArn,
      rds: { type: 'instance', identifier: 'orders-prod' },
    };
    deps = {
      sources: [source, { ...source, id: 'billing-db', engine: 'mysql', rds: { type: 'cluster', identifier: 'billing-prod' } }],
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      rds: new RDSClient({ region: 'eu-west-1' }),
      store: new S3Store({ client: s3.client, bucket: await s3.createBucket() }),
      keyring: await keyringFromKeyFile(join(tempDir, 'vault.key')),
      tls: 'disable', // the local server has no TLS; in AWS the default is 'require'
    };
  });

  afterAll(async () => {
    await db?.drop();
    await s3?.stop();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    secrets.reset();
    rds.reset();
  });

  it('backs up the source named in the event and returns what the pipeline needs next', async () => {
    // Prepare
    const local = postgresSettings();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: local.user, password: SECRET_PASSWORD }) });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ Endpoint: { Address: local.host, Port: local.port } }] });

    // Act
    const result = await dumpSource({ sourceId: 'orders-db', trigger: 'schedule' }, deps);

    // Assess
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: ordersSecretArn });
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 1);
    expect(rds).toHaveReceivedCommandWith(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-prod' });
    expect(rds).not.toHaveReceivedCommand(DescribeDBClustersCommand);
    expect(result).toMatchObject({ sourceId: 'orders-db', kind: 'dump' });
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.storedBytes).toBeGreaterThan(0);
    const [manifest] = await listBackups(deps.store, { sourceId: 'orders-db' });
    expect(manifest?.backupId).toBe(result.backupId);
    expect(manifest?.content.tables).toContainEqual(expect.objectContaining({ name: 'orders', rows: 250 }));
    expect(JSON.stringify(manifest)).not.toContain(SECRET_PASSWORD);
  });

  it('takes the endpoint from the secret when it has one, without asking RDS', async () => {
    const local = postgresSettings();
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ username: local.user, password: SECRET_PASSWORD, host: local.host, port: String(local.port) }),
    });
    const result = await dumpSource({ sourceId: 'orders-db' }, deps);
    expect(result.sourceId).toBe('orders-db');
    expect(rds).not.toHaveReceivedCommand(DescribeDBInstancesCommand);
  });

  it('describes the cluster, not an instance, for an Aurora source', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'admin', password: SECRET_PASSWORD }) });
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{}] });
    await expect(dumpSource({ sourceId: 'billing-db' }, deps)).rejects.toMatchObject({ name: 'SourceUnreachableError' });
    expect(rds).toHaveReceivedCommandWith(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-prod' });
    expect(rds).not.toHaveReceivedCommand(DescribeDBInstancesCommand);
  });

  it('refuses an unknown source, naming it and the sources it knows', async () => {
    await expect(dumpSource({ sourceId: 'nope' }, deps)).rejects.toThrow(/sourceId: unknown source 'nope'.*orders-db, billing-db/);
    expect(secrets).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it('refuses an event without a source id, naming the field', async () => {
    await expect(dumpSource({ trigger: 'schedule' }, deps)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining('sourceId') });
  });

  it('never echoes a malformed secret, which may hold the password', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: `password=${SECRET_PASSWORD}` });
    const error = await failureOf(dumpSource({ sourceId: 'orders-db' }, deps));
    expect(error).toMatchObject({ name: 'ConfigError' });
    expect(error.message).not.toContain(SECRET_PASSWORD);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ password: SECRET_PASSWORD }) });
    const missingUser = await failureOf(dumpSource({ sourceId: 'orders-db' }, deps));
    expect(missingUser.message).toMatch(/username/);
    expect(missingUser.message).not.toContain(SECRET_PASSWORD);
  });

  it('keeps the password out of the error when the database refuses the backup', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'postgres', password: SECRET_PASSWORD }) });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ Endpoint: { Address: '127.0.0.1', Port: 1 } }] });
    const before = await listBackups(deps.store, { sourceId: 'orders-db' });
    const error = await failureOf(dumpSource({ sourceId: 'orders-db' }, deps));
    expect(error).toBeInstanceOf(Error);
    expect(`${error.message} ${String(error.cause)}`).not.toContain(SECRET_PASSWORD);
    expect(await listBackups(deps.store, { sourceId: 'orders-db' })).toEqual(before);
  });
});
