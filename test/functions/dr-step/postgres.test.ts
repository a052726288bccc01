/**
 * The dump steps on the real PostgreSQL server: backups made by the engine into a local vault and verified
 * by the real verification, then restore-dump (drill and real), validate, and clean-up through the step
 * executor's core. Secrets Manager, SNS and RDS are mocked; RDS holds nothing here.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { backupPrefix, manifestKey } from '../../../functions/lib/vault/layout.ts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import type { StepRecord } from '../../../functions/dr-step/events.ts';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { ConfigError, NoRecoveryPointError, TargetNotEmptyError, ValidationFailedError } from '../../../functions/lib/errors.ts';
import { writeVerification } from '../../../functions/lib/vault/verification.ts';
import { verifyBackup } from '../../../functions/lib/verify/index.ts';
import {
  type PostgresDatabase,
  createPostgresDatabase,
  listPostgresDatabases,
  postgresSettings,
} from '../../harness/index.ts';
import { connectionOf, tempVault, testKeyring } from '../engine/helpers.ts';
import { sampleVerification } from '../vault/fixtures.ts';
import { createSource, restoreServerFor } from '../verify/suite.ts';
import { DR_REGION, PLAN, REGION, TOPIC, countRows, createPostgres, dropPostgres, executionIdFor, newSuffix, runStep, withPostgres } from './support.ts';

const SOURCE = 'orders-db';
const UNVERIFIED_SOURCE = 'ledger-db';
const SERVER_SECRET = `arn:aws:secretsmanager:${REGION}:111122223333:secret:lifeboat-verify-pg-Ab12Cd`;
const TARGET_SECRET = `arn:aws:secretsmanager:${REGION}:111122223333:secret:orders-new-Xy7Q2k`;
const SERVER_PASSWORD = 'Never-Print-Drill-91c2';
const NOW = new Date('2026-03-02T09:00:00.000Z');
/** Backups of the source, six hours apart; the last one failed verification. */
const T1 = new Date('2026-03-01T00:00:00.000Z');
const T2 = new Date('2026-03-01T06:00:00.000Z');
const T3 = new Date('2026-03-01T12:00:00.000Z');
const T4 = new Date('2026-03-01T18:00:00.000Z');
/** What the plan names as its target database: unique to this file, so the database lists below see only ours. */
const TARGET_DATABASE = `lbdrpg_${randomBytes(3).toString('hex')}`;

describe('restore-dump, validate and clean-up on the real PostgreSQL server', () => {
  const secrets = mockClient(SecretsManagerClient);
  const sns = mockClient(SNSClient);
  const rds = mockClient(RDSClient);
  const keyring = testKeyring();
  const local = postgresSettings();
  let source: PostgresDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let drVault: Awaited<ReturnType<typeof tempVault>>;
  let deps: DrStepDeps;
  const backups: DumpManifest[] = [];

  beforeAll(async () => {
    source = (await createSource('postgresql', 'dr_step_src')) as PostgresDatabase;
    vault = await tempVault();
    drVault = await tempVault();
    for (const at of [T1, T2, T3, T4]) {
      const { manifest } = await runBackup({ source: connectionOf(source), sourceId: SOURCE, store: vault.store, keyring, now: at });
      backups.push(manifest);
    }
    // Verified the way the pipeline verifies: restore test, row counts; the newest one failed its verification.
    for (const manifest of backups.slice(0, 3)) {
      const result = await verifyBackup({ store: vault.store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: restoreServerFor('postgresql') });
      expect(result.status).toBe('verified');
    }
    await writeVerification(vault.store, sampleVerification({ sourceId: SOURCE, backupId: backups[3]!.backupId, status: 'failed', at: T4 }));
    // A source whose only backup was never verified.
    await runBackup({ source: connectionOf(source), sourceId: UNVERIFIED_SOURCE, store: vault.store, keyring, now: T1 });

    deps = {
      sources: [
        { id: SOURCE, engine: 'postgresql', database: source.name, credentialsSecretArn: TARGET_SECRET, rds: { type: 'instance', identifier: 'orders-prod' } },
      ],
      regions: {
        primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: vault.store, keyring },
        dr: { name: DR_REGION, rds: new RDSClient({ region: DR_REGION }), store: drVault.store, keyring },
      },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: { postgresql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      planTopics: { [PLAN]: TOPIC },
      now: () => NOW,
      tls: 'disable', // the local server has no TLS; in AWS the default is 'require'
    };
  }, 240_000); // five parallel backups (one process per part) and three verifications with restores
  afterAll(async () => {
    for (const name of await listPostgresDatabases(TARGET_DATABASE)) await dropPostgres(name);
    await source?.drop();
    await vault?.remove();
    await drVault?.remove();
  });
  beforeEach(() => {
    secrets.reset();
    sns.reset();
    rds.reset();
    const credentials = { SecretString: JSON.stringify({ username: local.user, password: SERVER_PASSWORD }) };
    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves(credentials);
    secrets.on(GetSecretValueCommand, { SecretId: TARGET_SECRET }).resolves(credentials);
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
  });
  afterEach(() => {
    // Restores and validation never publish; only notify and record-evidence do.
    expect(sns).not.toHaveReceivedAnyCommand();
  });

  const restoreParameters = (extra: Record<string, unknown> = {}) => ({
    source: SOURCE,
    target: { host: 'orders-new.internal', port: 5432, database: TARGET_DATABASE, credentialsSecretArn: TARGET_SECRET },
    ...extra,
  });
  const drillDatabase = (suffix: string) => `${TARGET_DATABASE}_drill_${suffix}`;
  const cleanup = (suffix: string) => handleDrStepEvent({ action: 'cleanup', plan: PLAN, suffix, executionId: executionIdFor(suffix) }, deps);

  it('drill: restores the latest verified dump into <database>_drill_<suffix> on the verification server, never reading the target secret', async () => {
    const suffix = newSuffix();

    const record = await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters(), { mode: 'drill', suffix }), deps);

    const latestVerified = backups[2]!;
    expect(record).toEqual({
      stepId: 'restore',
      kind: 'restore-dump',
      status: 'succeeded',
      startedAt: NOW.toISOString(),
      endedAt: NOW.toISOString(),
      result: {
        sourceId: SOURCE,
        region: 'primary',
        backupId: latestVerified.backupId,
        backupCompletedAt: latestVerified.completedAt,
        restoredDataAt: latestVerified.completedAt,
        target: { host: local.host, port: local.port, database: drillDatabase(suffix), engine: 'postgresql', credentialsSecretArn: SERVER_SECRET },
        drill: true,
      },
    });
    expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([drillDatabase(suffix)]);
    expect(await countRows(drillDatabase(suffix), 'orders')).toBe(120);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SERVER_SECRET });
    expect(secrets).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: TARGET_SECRET });

    await cleanup(suffix);
  });

  it('drill: validate passes on the drill copy, clean-up drops only that drill database, and a second clean-up finds nothing', async () => {
    const suffix = newSuffix();
    const restore = (await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters(), { mode: 'drill', suffix }), deps)) as StepRecord;
    const levels = { L1: { go: { stepId: 'go', kind: 'approval', status: 'succeeded' } }, L2: { restore } };

    const validation = await handleDrStepEvent(
      runStep('check', 'validate', { target: 'restore', sqlChecks: ['SELECT count(*) = 120 FROM orders', 'SELECT 1 FROM customers WHERE id = 3'] }, { mode: 'drill', suffix, levels }),
      deps,
    );

    expect(validation).toEqual({
      stepId: 'check',
      kind: 'validate',
      status: 'succeeded',
      startedAt: NOW.toISOString(),
      endedAt: NOW.toISOString(),
      result: {
        validatedStep: 'restore',
        target: { host: local.host, port: local.port, database: drillDatabase(suffix) },
        tables: backups[2]!.content.tables.map((table) => ({
          schema: 'public',
          name: table.name,
          status: 'passed',
          expectedRows: table.name === 'orders' ? 120 : 12,
          actualRows: table.name === 'orders' ? 120 : 12,
        })),
        sqlChecks: [
          { sql: 'SELECT count(*) = 120 FROM orders', status: 'passed' },
          { sql: 'SELECT 1 FROM customers WHERE id = 3', status: 'passed' },
        ],
      },
    });

    // Decoys: another execution's drill database, and one with the suffix but no drill marker.
    const otherDrill = drillDatabase(newSuffix());
    const notADrill = `${TARGET_DATABASE}_${suffix}`;
    await createPostgres(otherDrill);
    await createPostgres(notADrill);
    try {
      const removed = await cleanup(suffix);

      expect(removed).toEqual({
        plan: PLAN,
        suffix,
        databases: [{ engine: 'postgresql', server: `${local.host}:${local.port}`, database: drillDatabase(suffix) }],
        instances: [],
        clusters: [],
      });
      expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([notADrill, otherDrill].sort());
      // Both regions were searched for drill-tagged RDS resources.
      expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 2);
      expect(rds).toHaveReceivedCommandTimes(DescribeDBClustersCommand, 2);

      expect(await cleanup(suffix)).toEqual({ plan: PLAN, suffix, databases: [], instances: [], clusters: [] });
      expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([notADrill, otherDrill].sort());
    } finally {
      await dropPostgres(otherDrill);
      await dropPostgres(notADrill);
    }
  });

  it('validate: a SQL check that is not true fails with ValidationFailedError naming the check', async () => {
    const suffix = newSuffix();
    const restore = (await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters(), { mode: 'drill', suffix }), deps)) as StepRecord;
    try {
      const failure = handleDrStepEvent(
        runStep('check', 'validate', { target: 'restore', sqlChecks: ['SELECT count(*) > 0 FROM customers', 'SELECT count(*) > 1000 FROM orders'] }, { mode: 'drill', suffix, levels: { L1: { restore } } }),
        deps,
      );

      await expect(failure).rejects.toThrow(ValidationFailedError);
      await expect(failure).rejects.toThrow(
        `Step 'check' found the database restored by 'restore' (${local.host}:${local.port}/${drillDatabase(suffix)}) wrong: ` +
          'SQL check "SELECT count(*) > 1000 FROM orders": check 2 returned 1 row(s) and no first column is true (first: false)',
      );
    } finally {
      await cleanup(suffix);
    }
  });

  it('validate: a row count that differs from the manifest fails naming the table and both counts', async () => {
    const suffix = newSuffix();
    const restore = (await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters(), { mode: 'drill', suffix }), deps)) as StepRecord;
    try {
      await withPostgres(drillDatabase(suffix), (client) => client.query('DELETE FROM orders WHERE id <= 3'));

      await expect(
        handleDrStepEvent(runStep('check', 'validate', { target: 'restore' }, { mode: 'drill', suffix, levels: { L1: { restore } } }), deps),
      ).rejects.toThrow(
        new ValidationFailedError(
          `Step 'check' found the database restored by 'restore' (${local.host}:${local.port}/${drillDatabase(suffix)}) wrong: ` +
            'table public.orders has 117 rows, the manifest says 120',
        ),
      );
    } finally {
      await cleanup(suffix);
    }
  });

  it('validate: refuses a target that is not a restore step this one can see', async () => {
    const suffix = newSuffix();
    const levels = { L1: { tell: { stepId: 'tell', kind: 'notify', status: 'succeeded', startedAt: NOW.toISOString(), endedAt: NOW.toISOString(), result: {} } } };

    await expect(handleDrStepEvent(runStep('check', 'validate', { target: 'restore' }, { suffix, levels }), deps)).rejects.toThrow(
      new ConfigError("Step 'check': parameters.target: no record of step 'restore' in the earlier levels (levels.L<n>.restore)"),
    );
    await expect(handleDrStepEvent(runStep('check', 'validate', { target: 'tell' }, { suffix, levels }), deps)).rejects.toThrow(
      new ConfigError("Step 'check': parameters.target: 'tell' is a notify step, not a restore step"),
    );
  });

  it('real: restores into the named empty target with its own credentials, and refuses it once it is not empty', async () => {
    const target = await createPostgresDatabase('dr_real_target');
    try {
      const suffix = newSuffix();
      const parameters = restoreParameters({ target: { host: local.host, port: local.port, database: target.name, credentialsSecretArn: TARGET_SECRET } });

      const record = await handleDrStepEvent(runStep('restore', 'restore-dump', parameters, { mode: 'real', suffix }), deps);

      expect((record as StepRecord).result).toEqual({
        sourceId: SOURCE,
        region: 'primary',
        backupId: backups[2]!.backupId,
        backupCompletedAt: backups[2]!.completedAt,
        restoredDataAt: backups[2]!.completedAt,
        target: { host: local.host, port: local.port, database: target.name, engine: 'postgresql', credentialsSecretArn: TARGET_SECRET },
        drill: false,
      });
      expect(await countRows(target.name, 'orders')).toBe(120);
      expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: TARGET_SECRET });
      expect(secrets).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SERVER_SECRET });
      expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([]);

      await expect(handleDrStepEvent(runStep('restore', 'restore-dump', parameters, { mode: 'real', suffix }), deps)).rejects.toThrow(TargetNotEmptyError);
      expect(await countRows(target.name, 'orders')).toBe(120);
    } finally {
      await target.drop();
    }
  });

  it('pointInTime: picks the newest verified dump completed at or before it', async () => {
    const suffix = newSuffix();
    try {
      const atT2 = await handleDrStepEvent(
        runStep('restore', 'restore-dump', restoreParameters({ pointInTime: new Date(T2.getTime() + 60 * 60_000).toISOString() }), { mode: 'drill', suffix }),
        deps,
      );
      expect((atT2 as StepRecord).result).toMatchObject({ backupId: backups[1]!.backupId, backupCompletedAt: backups[1]!.completedAt });

      // Before the second backup completed: the first. The fourth is newer than everything but failed verification.
      const justBefore = new Date(Date.parse(backups[1]!.completedAt) - 1).toISOString();
      const atT1 = await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters({ pointInTime: justBefore }), { mode: 'drill', suffix }), deps);
      expect((atT1 as StepRecord).result).toMatchObject({ backupId: backups[0]!.backupId });

      const afterAll = await handleDrStepEvent(
        runStep('restore', 'restore-dump', restoreParameters({ pointInTime: new Date(T4.getTime() + 60 * 60_000).toISOString() }), { mode: 'drill', suffix }),
        deps,
      );
      expect((afterAll as StepRecord).result).toMatchObject({ backupId: backups[2]!.backupId });
    } finally {
      await cleanup(suffix);
    }
  });

  it('passes over a verified dump whose manifest claims to have completed after its verification began (a writer\'s far-future completedAt)', async () => {
    const suffix = newSuffix();
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: SOURCE, store: vault.store, keyring, now: T1 });
    const verified = await verifyBackup({ store: vault.store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: restoreServerFor('postgresql') });
    expect(verified.status).toBe('verified');
    // What a compromised writer can still do under its own source: rewrite the times it controls.
    await vault.store.putObject(manifestKey(SOURCE, manifest.backupId), JSON.stringify({ ...manifest, completedAt: '2099-01-01T00:00:00.000Z' }));
    try {
      const record = await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters(), { mode: 'drill', suffix }), deps);
      expect((record as StepRecord).result).toMatchObject({ backupId: backups[2]!.backupId });
    } finally {
      await cleanup(suffix);
      for await (const key of vault.store.list(backupPrefix(SOURCE, manifest.backupId))) await vault.store.delete(key);
    }
  });

  it('no verified dump at or before the point in time, of the source, or in the chosen region: NoRecoveryPointError, nothing restored', async () => {
    const suffix = newSuffix();
    const before = new Date(Date.parse(backups[0]!.completedAt) - 1).toISOString();

    await expect(
      handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters({ pointInTime: before }), { mode: 'drill', suffix }), deps),
    ).rejects.toThrow(
      new NoRecoveryPointError(`No verified dump of source ${SOURCE} completed at or before ${before} in the primary vault (${vault.store.location}); it holds no such dump`),
    );
    await expect(
      handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters({ source: UNVERIFIED_SOURCE }), { mode: 'drill', suffix }), deps),
    ).rejects.toThrow(
      new NoRecoveryPointError(
        `No verified dump of source ${UNVERIFIED_SOURCE} in the primary vault (${vault.store.location}); none of the 1 such dump(s) passed its latest verification`,
      ),
    );
    await expect(
      handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters({ region: 'dr' }), { mode: 'drill', suffix }), deps),
    ).rejects.toThrow(new NoRecoveryPointError(`No verified dump of source ${SOURCE} in the dr vault (${drVault.store.location}); it holds no such dump`));
    expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([]);
    expect(secrets).not.toHaveReceivedAnyCommand();
  });

  it('air-gap: restores the latest verified dump of the air-gapped vault, read through its own store and keyring', async () => {
    const suffix = newSuffix();
    // The air-gapped vault holds the copy of the oldest verified backup only (copies are byte for byte).
    const airGapVault = await tempVault();
    try {
      const copied = backups[0]!;
      for await (const key of vault.store.list(backupPrefix(SOURCE, copied.backupId))) await airGapVault.store.putObject(key, await vault.store.getObject(key));
      const withAirGap = { ...deps, regions: { ...deps.regions, 'air-gap': { name: 'eu-west-1', rds: new RDSClient({ region: REGION }), store: airGapVault.store, keyring } } };

      const record = await handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters({ region: 'air-gap' }), { mode: 'drill', suffix }), withAirGap);
      expect(record).toMatchObject({ status: 'succeeded', result: { region: 'air-gap', backupId: copied.backupId, target: { database: drillDatabase(suffix) } } });
      expect(await countRows(drillDatabase(suffix), 'orders')).toBe(120);
      await cleanup(suffix);

      // A function deployed without the air-gapped vault says so.
      await expect(handleDrStepEvent(runStep('restore', 'restore-dump', restoreParameters({ region: 'air-gap' }), { mode: 'drill', suffix: newSuffix() }), deps)).rejects.toThrow(
        'This function has no air-gapped vault configured (vaultAccount with its keyArn)',
      );
    } finally {
      await airGapVault.remove();
    }
  });

  it('refuses a bad event naming the field, before touching anything', async () => {
    await expect(
      handleDrStepEvent(runStep('restore', 'restore-dump', { source: SOURCE, target: { host: 'h', port: 'x', database: 'd', credentialsSecretArn: TARGET_SECRET } }, { suffix: newSuffix() }), deps),
    ).rejects.toThrow(new ConfigError("Invalid restore-dump step 'restore': parameters.target.port: Invalid input: expected number, received string"));
    await expect(handleDrStepEvent({ ...runStep('restore', 'restore-dump', restoreParameters(), { suffix: 'ABC' }) }, deps)).rejects.toThrow(
      /^Invalid DR step event: suffix: must be 1-8 characters of a-z and 0-9/,
    );
    await expect(handleDrStepEvent({ action: 'launch' }, deps)).rejects.toThrow(ConfigError);
    expect(secrets).not.toHaveReceivedAnyCommand();
  });
});
