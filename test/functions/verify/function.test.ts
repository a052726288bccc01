/**
 * The verify function's core against an S3 vault (s3rver), the real PostgreSQL server as both source and
 * verification server, and mocked Secrets Manager and SNS: the exact alert for a failure and an anomaly.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { connectPostgres } from '../../../functions/lib/engine/postgres.ts';
import { AlertPublishFailedError, ConfigError, VerificationFailedError } from '../../../functions/lib/errors.ts';
import { manifestKey } from '../../../functions/lib/vault/layout.ts';
import { serializeManifest } from '../../../functions/lib/vault/manifest.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../../functions/lib/vault/verification.ts';
import { type VerifyDeps, type VerifySource, consoleUrl, verifySourceBackup } from '../../../functions/verify/verify.ts';
import { type PostgresDatabase, postgresSettings, startLocalS3, type LocalS3 } from '../../harness/index.ts';
import { connectionOf, testKeyring } from '../engine/helpers.ts';
import { createSource, listScratch } from './suite.ts';

const SERVER_PASSWORD = 'Never-Print-Verify-7f3a';
const SERVER_SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:lifeboat-verify-pg-Ab12Cd';
const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:lifeboat-alerts';
const EXECUTION = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:run-42';
const NOW = new Date('2026-11-22T07:00:00.000Z');
const SOURCE = 'fn-orders';

/** The error a promise rejects with; a promise that resolves fails the test. */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as Error;
}

describe('verifySourceBackup: the verify function core', () => {
  const secrets = mockClient(SecretsManagerClient);
  const sns = mockClient(SNSClient);
  let s3: LocalS3;
  let db: PostgresDatabase;
  let deps: VerifyDeps;
  let source: VerifySource;
  const keyring = testKeyring();

  beforeAll(async () => {
    s3 = await startLocalS3();
    db = (await createSource('postgresql', 'verify_fn')) as PostgresDatabase;
    source = {
      id: SOURCE,
      engine: 'postgresql',
      database: db.name,
      credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-orders-Xy7Q2k',
      rds: { type: 'instance', identifier: 'orders-prod' },
      sqlChecks: ['SELECT count(*) > 0 FROM orders'],
    };
    const local = postgresSettings();
    deps = {
      sources: [source],
      servers: { postgresql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      sns: new SNSClient({ region: 'eu-west-1' }),
      alertTopicArn: TOPIC,
      store: new S3Store({ client: s3.client, bucket: await s3.createBucket() }),
      keyring,
      now: () => NOW,
      tls: 'disable', // the local server has no TLS; in AWS the default is 'require'
    };
  });
  afterAll(async () => {
    await db?.drop();
    await s3?.stop();
  });
  beforeEach(() => {
    secrets.reset();
    sns.reset();
    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves({
      SecretString: JSON.stringify({ username: postgresSettings().user, password: SERVER_PASSWORD }),
    });
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  });
  afterEach(async () => {
    expect(await listScratch('postgresql', SOURCE)).toEqual([]);
    // Whatever happened, the verification server's password went nowhere.
    expect(JSON.stringify(sns.calls().map((call) => call.args[0].input))).not.toContain(SERVER_PASSWORD);
  });

  const backup = async () => (await runBackup({ source: connectionOf(db), sourceId: SOURCE, store: deps.store, keyring })).manifest;
  const rewriteManifest = (manifest: DumpManifest) => deps.store.putObject(manifestKey(SOURCE, manifest.backupId), serializeManifest(manifest));

  it('verifies a good backup with the server from Secrets Manager, records it, and alerts no one', async () => {
    // Prepare
    const manifest = await backup();

    // Act
    const output = await verifySourceBackup({ sourceId: SOURCE, backupId: manifest.backupId }, deps);

    // Assess
    expect(output).toEqual({
      sourceId: SOURCE,
      backupId: manifest.backupId,
      status: 'verified',
      checks: {
        checksum: 'passed',
        decrypt: 'passed',
        structure: 'passed',
        restore: 'passed',
        'row-counts': 'passed',
        'sql-checks': 'passed',
        'size-anomaly': expect.stringMatching(/^(skipped|passed)$/) as unknown,
      },
      warnings: [],
      alerted: false,
      sweptScratch: [],
    });
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SERVER_SECRET });
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
    const recorded = await readLatestVerification(deps.store, SOURCE, manifest.backupId);
    expect(recorded.status).toBe('verified');
    expect(JSON.stringify(recorded.result)).not.toContain(SERVER_PASSWORD);
  });

  it("sweeps a scratch database a killed run left (older than the grace, no session), and leaves a young one alone", async () => {
    const manifest = await backup();
    const stale = 'lb_verify_fn_orders_20261122050000_0badc0de';
    const young = 'lb_verify_fn_orders_20261122065500_0fedcba9';
    const admin = await connectPostgres({ ...connectionOf(db), database: 'postgres' });
    try {
      for (const name of [stale, young]) await admin.query(`CREATE DATABASE ${name}`);
      const output = await verifySourceBackup({ sourceId: SOURCE, backupId: manifest.backupId }, deps);

      expect(output.sweptScratch).toEqual([stale]);
      const left = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname IN ($1, $2)`, [stale, young]);
      expect(left.rows.map((row) => row.datname)).toEqual([young]);
    } finally {
      for (const name of [stale, young]) await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    }
  });

  it('publishes the ERROR alert for a failed verification, then throws VerificationFailedError for the Catch', async () => {
    const manifest = await backup();
    await rewriteManifest({ ...manifest, content: { tables: manifest.content.tables.map((t) => (t.name === 'orders' ? { ...t, rows: 121 } : t)) } });
    const reason = 'row-counts: table public.orders has 120 rows after the restore; the manifest records 121';

    const error = await failureOf(verifySourceBackup({ sourceId: SOURCE, backupId: manifest.backupId, executionArn: EXECUTION }, deps));

    expect(error).toBeInstanceOf(VerificationFailedError);
    expect(error.name).toBe('VerificationFailedError');
    expect(error.message).toBe(`Backup ${manifest.backupId} of ${SOURCE} failed verification: ${reason}`);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: `[ERROR] Lifeboat ${SOURCE}: verification failed`,
      Message: [
        `Lifeboat: verification failed for ${SOURCE}, backup ${manifest.backupId}.`,
        '',
        'Severity:  ERROR',
        `Source:    ${SOURCE}`,
        `Backup:    ${manifest.backupId}`,
        'Step:      verify',
        'Error:     VerificationFailedError',
        `Time:      ${NOW.toISOString()}`,
        '',
        'Why:',
        `  ${reason}`,
        '',
        'What to do next:',
        `  - Do not restore from ${manifest.backupId}. The newest verified backup of ${SOURCE} is still your recovery point: lifeboat list --vault <vault> --source ${SOURCE}`,
        `  - See every check and its reason: lifeboat show ${manifest.backupId} --vault <vault> --json (or the result under backups/${SOURCE}/${manifest.backupId}/verifications/ in the vault).`,
        "  - A checksum or decrypt failure means the stored payload is damaged or was replaced: check the vault bucket's object versions and the DR copy. A restore, row-count or SQL check failure means the dump itself is wrong: compare with the source.",
        '',
        `Details: ${consoleUrl(EXECUTION)}`,
        '',
        '-- ',
        'Sent by Lifeboat to the ERROR alert subscribers of this topic.',
        '',
      ].join('\n'),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'ERROR' },
        sourceId: { DataType: 'String', StringValue: SOURCE },
        step: { DataType: 'String', StringValue: 'verify' },
      },
    });
    expect(consoleUrl(EXECUTION)).toBe(
      `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION}`,
    );
    expect((await readLatestVerification(deps.store, SOURCE, manifest.backupId)).status).toBe('failed');
  });

  it('publishes a WARNING for a size anomaly and returns the verified backup', async () => {
    // Two verified backups of the usual size, then one after a bulk load.
    for (let i = 0; i < 2; i++) {
      const usual = await backup();
      await verifySourceBackup({ sourceId: SOURCE, backupId: usual.backupId }, deps);
    }
    await db.query("INSERT INTO orders (customer_id, total) SELECT 1, g FROM generate_series(1, 3000) g");
    const grown = await backup();
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-2' });

    const output = await verifySourceBackup({ sourceId: SOURCE, backupId: grown.backupId }, deps);

    expect(output.status).toBe('verified');
    expect(output.alerted).toBe(true);
    expect(output.checks['size-anomaly']).toBe('warning');
    expect(output.warnings).toEqual([expect.stringMatching(/^size-anomaly: raw size \d+ bytes is \d+\.\d\dx the median \d+ bytes of the \d previous verified backups \(expected 0\.5x to 2x\): far larger than usual$/)]);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).toEqual({
      TopicArn: TOPIC,
      Subject: `[WARNING] Lifeboat ${SOURCE}: backup size anomaly`,
      Message: expect.stringContaining(`Why:\n  ${output.warnings[0]!.replace('size-anomaly: ', '')}\n`) as unknown,
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'WARNING' },
        sourceId: { DataType: 'String', StringValue: SOURCE },
        step: { DataType: 'String', StringValue: 'verify' },
      },
    });
    expect(input.Message).toMatch(/^Lifeboat: backup size anomaly for fn-orders, backup \S+\.\n/);
    await db.query('DELETE FROM orders WHERE id > 120');
  });

  it('lets a failed publish through as a retryable error, with the result already recorded', async () => {
    const manifest = await backup();
    await rewriteManifest({ ...manifest, content: { tables: [...manifest.content.tables, { schema: 'public', name: 'ghost', rows: 1, rowsExact: true }] } });
    sns.on(PublishCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' }));

    const error = await failureOf(verifySourceBackup({ sourceId: SOURCE, backupId: manifest.backupId }, deps));

    expect(error).toBeInstanceOf(AlertPublishFailedError);
    expect((error as AlertPublishFailedError).retryable).toBe(true);
    expect((await readLatestVerification(deps.store, SOURCE, manifest.backupId)).result?.reason).toBe(
      'row-counts: table public.ghost is missing after the restore (the manifest records 1 rows)',
    );
  });

  it('verifies without a restore test when its engine has no verification server', async () => {
    const manifest = await backup();
    const output = await verifySourceBackup({ sourceId: SOURCE, backupId: manifest.backupId }, { ...deps, servers: {} });
    expect(output.checks).toMatchObject({ checksum: 'passed', decrypt: 'passed', structure: 'passed', restore: 'skipped' });
    expect(secrets).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it('refuses a bad event or an unknown source by name, before reading anything', async () => {
    await expect(verifySourceBackup({ sourceId: SOURCE, backupId: 'latest' }, deps)).rejects.toThrow(
      'Invalid verify event: backupId: must be a backup id like 20261122T053327Z-k3x7q2ab',
    );
    await expect(verifySourceBackup({ sourceId: 'billing', backupId: '20261122T053327Z-k3x7q2ab' }, deps)).rejects.toThrow(
      "sourceId: unknown source 'billing'; this function verifies fn-orders",
    );
    expect(secrets).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it('never echoes a server secret that is not JSON', async () => {
    const manifest = await backup();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: `password=${SERVER_PASSWORD}` });
    const error = await failureOf(verifySourceBackup({ sourceId: SOURCE, backupId: manifest.backupId }, deps));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('Secret for the postgresql verification server is not JSON with username and password');
  });
});
