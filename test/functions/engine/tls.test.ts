/**
 * TLS to RDS: dumps, verification and DR restores connect with verify-full against the RDS CA bundle the tools
 * image ships; the exact tool environment and flags for an RDS endpoint; local servers without TLS only by
 * an explicit `disable`.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { resolveConnection, type DumpSource } from '../../../functions/dump/dump.ts';
import { connectionArgs, mysqlEnv } from '../../../functions/lib/engine/mysql.ts';
import { connectPostgres, postgresEnv } from '../../../functions/lib/engine/postgres.ts';
import { databaseTlsSettings, parseDatabaseTls, rdsCaBundleFrom } from '../../../functions/lib/engine/tls.ts';
import { ConfigError, SourceUnreachableError } from '../../../functions/lib/errors.ts';
import { postgresSettings } from '../../harness/databases.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const CA_BUNDLE = '/var/task/rds-ca-bundle.pem';
const PASSWORD = 'rds-Secret-9x';
const ORDERS_HOST = 'orders-prod.c9akciq32.eu-west-1.rds.amazonaws.com';
const BILLING_HOST = 'billing-prod.cluster-c9akciq32.eu-west-1.rds.amazonaws.com';

describe('databaseTlsSettings', () => {
  it.each([
    ['postgresql', 'verify-full', { sslMode: 'verify-full', sslRootCert: CA_BUNDLE }],
    ['mysql', 'verify-full', { sslMode: 'VERIFY_IDENTITY', sslRootCert: CA_BUNDLE }],
    ['postgresql', 'require', { sslMode: 'require' }],
    ['mysql', 'require', { sslMode: 'REQUIRED' }],
    ['postgresql', 'disable', { sslMode: 'disable' }],
    ['mysql', 'disable', { sslMode: 'DISABLED' }],
  ] as const)('%s, %s → %o', (engine, tls, expected) => {
    expect(databaseTlsSettings(engine, tls, CA_BUNDLE)).toEqual(expected);
  });

  it('refuses verify-full without the CA bundle, naming the variable that gives it', () => {
    expect(() => databaseTlsSettings('postgresql', 'verify-full', undefined)).toThrow(ConfigError);
    expect(() => databaseTlsSettings('mysql', 'verify-full', '')).toThrow(/TLS verify-full needs the RDS CA bundle: set LIFEBOAT_RDS_CA_BUNDLE/);
  });

  it('reads LIFEBOAT_DATABASE_TLS-style values: unset is verify-full, anything unknown is refused by name', () => {
    expect(parseDatabaseTls(undefined, 'LIFEBOAT_DATABASE_TLS')).toBe('verify-full');
    expect(parseDatabaseTls('', 'LIFEBOAT_DATABASE_TLS')).toBe('verify-full');
    expect(parseDatabaseTls('disable', 'LIFEBOAT_DATABASE_TLS')).toBe('disable');
    expect(() => parseDatabaseTls('verify', 'LIFEBOAT_DATABASE_TLS')).toThrow('LIFEBOAT_DATABASE_TLS must be one of "verify-full", "require", "disable", got "verify"');
  });

  it('takes the bundle from LIFEBOAT_RDS_CA_BUNDLE when set', () => {
    expect(rdsCaBundleFrom({ LIFEBOAT_RDS_CA_BUNDLE: CA_BUNDLE })).toEqual({ caBundle: CA_BUNDLE });
    expect(rdsCaBundleFrom({})).toEqual({});
  });
});

describe('a dump of an RDS source: the exact connection the tools get', () => {
  const secrets = mockClient(SecretsManagerClient);
  const rds = mockClient(RDSClient);
  const deps = { secrets: new SecretsManagerClient({ region: 'eu-west-1' }), rds: new RDSClient({ region: 'eu-west-1' }), caBundle: CA_BUNDLE };
  const orders: DumpSource = {
    id: 'orders-db',
    engine: 'postgresql',
    database: 'orders',
    credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-Xy7Q2k',
    rds: { type: 'instance', identifier: 'orders-prod' },
  };
  const billing: DumpSource = { ...orders, id: 'billing-db', engine: 'mysql', database: 'billing', rds: { type: 'cluster', identifier: 'billing-prod' } };
  beforeEach(() => {
    secrets.reset();
    rds.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'lifeboat', password: PASSWORD }) });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ Endpoint: { Address: ORDERS_HOST, Port: 5432 } }] });
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ Endpoint: BILLING_HOST, Port: 3306 }] });
  });

  it('PostgreSQL: pg_dump runs with PGSSLMODE=verify-full and PGSSLROOTCERT naming the bundle (the default)', async () => {
    const info = await resolveConnection(orders, deps);

    expect(postgresEnv(info)).toEqual({
      PGHOST: ORDERS_HOST,
      PGPORT: '5432',
      PGUSER: 'lifeboat',
      PGDATABASE: 'orders',
      PGAPPNAME: 'lifeboat',
      PGCONNECT_TIMEOUT: '15',
      PGPASSWORD: PASSWORD,
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: CA_BUNDLE,
    });
  });

  it('MySQL client: --ssl-mode=VERIFY_IDENTITY --ssl-ca=<bundle>; the password only in MYSQL_PWD', async () => {
    const info = await resolveConnection(billing, deps);

    expect(connectionArgs(info, 'mysql')).toEqual([`--host=${BILLING_HOST}`, '--port=3306', '--user=lifeboat', '--protocol=TCP', '--ssl-mode=VERIFY_IDENTITY', `--ssl-ca=${CA_BUNDLE}`]);
    expect(mysqlEnv(info)).toEqual({ MYSQL_PWD: PASSWORD });
  });

  it('MariaDB client: --ssl --ssl-verify-server-cert --ssl-ca=<bundle> (it has no --ssl-mode)', async () => {
    const info = await resolveConnection(billing, deps);

    expect(connectionArgs(info, 'mariadb')).toEqual([`--host=${BILLING_HOST}`, '--port=3306', '--user=lifeboat', '--protocol=TCP', '--ssl', '--ssl-verify-server-cert', `--ssl-ca=${CA_BUNDLE}`]);
  });

  it('without the bundle a dump refuses to start rather than connect unchecked', async () => {
    const { caBundle: _dropped, ...withoutBundle } = deps;

    await expect(resolveConnection(orders, withoutBundle)).rejects.toThrow(/LIFEBOAT_RDS_CA_BUNDLE/);
  });

  it('require and disable are explicit choices, without a CA file', async () => {
    expect(postgresEnv(await resolveConnection(orders, { ...deps, tls: 'require' }))).toMatchObject({ PGSSLMODE: 'require' });
    expect(postgresEnv(await resolveConnection(orders, { ...deps, tls: 'require' }))).not.toHaveProperty('PGSSLROOTCERT');
    expect(connectionArgs(await resolveConnection(billing, { ...deps, tls: 'disable' }), 'mariadb')).toEqual([`--host=${BILLING_HOST}`, '--port=3306', '--user=lifeboat', '--protocol=TCP', '--skip-ssl']);
  });
});

describe('verify-full against a server without TLS', () => {
  it('fails to connect, naming the server, instead of falling back to plain text (the local PostgreSQL has TLS off)', async () => {
    const local = postgresSettings();
    // Any readable file as the CA: the server refuses TLS before a certificate is ever checked.
    const info = { engine: 'postgresql' as const, host: local.host, port: local.port, user: local.user, database: 'postgres', sslMode: 'verify-full', sslRootCert: join(repoRoot, 'package.json') };

    const failure = connectPostgres(info);

    await expect(failure).rejects.toThrow(SourceUnreachableError);
    await expect(failure).rejects.toThrow(/does not support SSL/);
  });
});

describe('the tools image ships the RDS CA bundle', () => {
  it('its Dockerfile step writes every RDS root (and the Amazon roots RDS Proxy uses) as parseable PEM, named by LIFEBOAT_RDS_CA_BUNDLE', async () => {
    const dockerfile = await readFile(join(repoRoot, 'functions/dump/Dockerfile'), 'utf8');
    const script = /RUN node -e "([\s\S]*?rds-ca-bundle\.pem[\s\S]*?)"\n/.exec(dockerfile)?.[1];
    expect(script, 'no CA bundle step in functions/dump/Dockerfile').toBeDefined();
    expect(dockerfile).toContain('ENV LIFEBOAT_RDS_CA_BUNDLE=${LAMBDA_TASK_ROOT}/rds-ca-bundle.pem');
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-tls-ca-'));
    try {
      // As in the image's build stage: the repository's installed packages, a dist/ directory beside them.
      await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
      await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'dist')));
      await run(process.execPath, ['-e', script!.replace(/\\\n\s*/g, ' ')], { cwd: dir });

      const pem = await readFile(join(dir, 'dist/rds-ca-bundle.pem'), 'utf8');
      const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      const subjects = certificates.map((c) => new X509Certificate(c).subject);
      expect(subjects.length).toBeGreaterThanOrEqual(20);
      expect(subjects.some((s) => s.includes('CN=Amazon RDS eu-west-1 Root CA RSA2048 G1'))).toBe(true);
      expect(subjects.some((s) => s.includes('CN=Amazon Root CA 1'))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
