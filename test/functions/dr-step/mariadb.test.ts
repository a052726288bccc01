/**
 * A drill on the real MariaDB server: a verified mysqldump backup restored into `<database>_drill_<suffix>`
 * on the verification server (reached as a user with a password, as in AWS), validated, and cleaned up.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import type { StepRecord } from '../../../functions/dr-step/events.ts';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { ValidationFailedError } from '../../../functions/lib/errors.ts';
import { verifyBackup } from '../../../functions/lib/verify/index.ts';
import { type MariaDbDatabase, listMariaDbDatabases, mariaDbSettings } from '../../harness/index.ts';
import { connectionOf, tempVault, testKeyring } from '../engine/helpers.ts';
import { createSource, restoreServerFor } from '../verify/suite.ts';
import { PLAN, REGION, TOPIC, executionIdFor, newSuffix, runStep } from './support.ts';

const SOURCE = 'billing-db';
const SERVER_SECRET = `arn:aws:secretsmanager:${REGION}:111122223333:secret:lifeboat-verify-mysql-Ab12Cd`;
const TARGET_SECRET = `arn:aws:secretsmanager:${REGION}:111122223333:secret:billing-new-Xy7Q2k`;
const NOW = new Date('2026-03-02T09:00:00.000Z');
const TARGET_DATABASE = `lbdrmy_${randomBytes(3).toString('hex')}`;
/** The verification server's user: a password, as RDS gives it, and the rights to create and drop databases. */
const SERVER_USER = `lbdr_${randomBytes(3).toString('hex')}`;
const SERVER_PASSWORD = `Never-Print-${randomBytes(4).toString('hex')}`;

describe('a restore-dump drill on the real MariaDB server', () => {
  const secrets = mockClient(SecretsManagerClient);
  const rds = mockClient(RDSClient);
  const keyring = testKeyring();
  const local = mariaDbSettings();
  let source: MariaDbDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let manifest: DumpManifest;
  let deps: DrStepDeps;

  beforeAll(async () => {
    await asAdmin(async (admin) => {
      await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [SERVER_USER, '%', SERVER_PASSWORD]);
      await admin.query('GRANT ALL PRIVILEGES ON *.* TO ?@?', [SERVER_USER, '%']);
    });
    source = (await createSource('mysql', 'dr_step_my')) as MariaDbDatabase;
    vault = await tempVault();
    manifest = (await runBackup({ source: connectionOf(source), sourceId: SOURCE, store: vault.store, keyring })).manifest;
    const verification = await verifyBackup({ store: vault.store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: restoreServerFor('mysql') });
    expect(verification.status).toBe('verified');

    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves({ SecretString: JSON.stringify({ username: SERVER_USER, password: SERVER_PASSWORD }) });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
    deps = {
      sources: [{ id: SOURCE, engine: 'mysql', database: source.name, credentialsSecretArn: TARGET_SECRET, rds: { type: 'cluster', identifier: 'billing-prod' } }],
      regions: { primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: vault.store, keyring } },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: { mysql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      planTopics: { [PLAN]: TOPIC },
      now: () => NOW,
      tls: 'disable',
    };
  });
  afterAll(async () => {
    await asAdmin(async (admin) => {
      for (const name of await listMariaDbDatabases(TARGET_DATABASE)) await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`);
      await admin.query('DROP USER IF EXISTS ?@?', [SERVER_USER, '%']);
    });
    await source?.drop();
    await vault?.remove();
  });

  it('restores into <database>_drill_<suffix>, validates row counts and SQL checks there, and clean-up drops it once', async () => {
    const suffix = newSuffix();
    const drillDatabase = `${TARGET_DATABASE}_drill_${suffix}`;
    const parameters = { source: SOURCE, target: { host: 'billing-new.internal', port: 3306, database: TARGET_DATABASE, credentialsSecretArn: TARGET_SECRET } };

    const restore = (await handleDrStepEvent(runStep('restore', 'restore-dump', parameters, { mode: 'drill', suffix }), deps)) as StepRecord;

    expect(restore.result).toEqual({
      sourceId: SOURCE,
      region: 'primary',
      backupId: manifest.backupId,
      backupCompletedAt: manifest.completedAt,
      restoredDataAt: manifest.completedAt,
      target: { host: local.host, port: local.port, database: drillDatabase, engine: 'mysql', credentialsSecretArn: SERVER_SECRET },
      drill: true,
    });
    expect(await listMariaDbDatabases(TARGET_DATABASE)).toEqual([drillDatabase]);
    expect(secrets).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: TARGET_SECRET });

    const levels = { L1: { restore } };
    const validation = (await handleDrStepEvent(
      runStep('check', 'validate', { target: 'restore', sqlChecks: ['SELECT count(*) = 120 FROM orders'] }, { mode: 'drill', suffix, levels }),
      deps,
    )) as StepRecord;
    // A MySQL dump holds one database: restored under the drill name, its tables are counted there.
    expect(validation.result).toEqual({
      validatedStep: 'restore',
      target: { host: local.host, port: local.port, database: drillDatabase },
      tables: manifest.content.tables.map((table) => ({
        schema: drillDatabase,
        name: table.name,
        status: 'passed',
        expectedRows: table.rows,
        actualRows: table.rows,
      })),
      sqlChecks: [{ sql: 'SELECT count(*) = 120 FROM orders', status: 'passed' }],
    });
    expect(manifest.content.tables.map((t) => [t.name, t.rows]).sort()).toEqual([['customers', 12], ['orders', 120]]);

    await expect(
      handleDrStepEvent(runStep('check', 'validate', { target: 'restore', sqlChecks: ['SELECT count(*) = 7 FROM customers'] }, { mode: 'drill', suffix, levels }), deps),
    ).rejects.toThrow(ValidationFailedError);

    const cleanup = { action: 'cleanup', plan: PLAN, suffix, executionId: executionIdFor(suffix) };
    expect(await handleDrStepEvent(cleanup, deps)).toEqual({
      plan: PLAN,
      suffix,
      databases: [{ engine: 'mysql', server: `${local.host}:${local.port}`, database: drillDatabase }],
      instances: [],
      clusters: [],
    });
    expect(await listMariaDbDatabases(TARGET_DATABASE)).toEqual([]);
    expect(await handleDrStepEvent(cleanup, deps)).toEqual({ plan: PLAN, suffix, databases: [], instances: [], clusters: [] });
  });
});

async function asAdmin(work: (admin: mysql.Connection) => Promise<void>): Promise<void> {
  const local = mariaDbSettings();
  const admin = await mysql.createConnection({ host: local.host, port: local.port, user: local.user, ...(local.password ? { password: local.password } : {}) });
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}
