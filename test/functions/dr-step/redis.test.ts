/**
 * The restore-cache step on real redis-servers: backups of a cache made by the engine into a local vault and
 * verified in a scratch server, then the step executor's core restores the latest verified one (drill: into its
 * own scratch server; real: into the plan's target, with its AUTH token from Secrets Manager, which is mocked).
 */
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RDSClient } from '@aws-sdk/client-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import { readCacheAuth } from '../../../functions/dr-step/restoreCache.ts';
import type { DumpManifest } from '../../../functions/lib/engine/backup.ts';
import { ConfigError, NoRecoveryPointError, TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import { runRedisBackup } from '../../../functions/lib/redis/vault.ts';
import { verifyRedisBackup } from '../../../functions/lib/redis/verify.ts';
import { backupPrefix } from '../../../functions/lib/vault/layout.ts';
import { writeVerification } from '../../../functions/lib/vault/verification.ts';
import { startTestRedis, type TestRedis } from '../../harness/redis.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { describeDatabase, seedKeyspace } from '../redis/fixture.ts';
import { sampleVerification } from '../vault/fixtures.ts';
import { DR_REGION, REGION, newSuffix, runStep } from './support.ts';

const SOURCE = 'sessions-cache';
const AUTH_SECRET = `arn:aws:secretsmanager:${REGION}:111122223333:secret:sessions-restore-auth-Zx9Yw8`;
const PASSWORD = `Never-Print-${randomBytes(6).toString('hex')}`;
const NOW = new Date('2026-12-03T09:00:00.000Z');
const T1 = new Date('2026-12-03T06:15:00.000Z');
const T2 = new Date('2026-12-03T07:15:00.000Z');

describe('restore-cache on real redis-servers', () => {
  const secrets = mockClient(SecretsManagerClient);
  const keyring = testKeyring();
  let source: TestRedis;
  /** The plan's target: a server that asks for AUTH, like an ElastiCache replication group with a token. */
  let target: TestRedis;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let deps: DrStepDeps;
  const backups: DumpManifest[] = [];

  beforeAll(async () => {
    [source, target] = await Promise.all([startTestRedis(), startTestRedis(['--requirepass', PASSWORD], PASSWORD)]);
    const client = await source.connect();
    await seedKeyspace(client);
    client.close();
    vault = await tempVault();
    for (const at of [T1, T2]) {
      const { manifest } = await runRedisBackup({ endpoint: { host: source.host, port: source.port }, sourceId: SOURCE, store: vault.store, keyring, now: at });
      backups.push(manifest);
    }
    // The first verified in a scratch server as the pipeline does; the newest failed its verification.
    expect((await verifyRedisBackup({ store: vault.store, manifest: backups[0]!, keyring })).status).toBe('verified');
    await writeVerification(vault.store, sampleVerification({ sourceId: SOURCE, backupId: backups[1]!.backupId, status: 'failed', at: T2 }));
    deps = {
      sources: [],
      regions: {
        primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: vault.store, keyring },
        dr: { name: DR_REGION, rds: new RDSClient({ region: DR_REGION }), store: (await tempVault()).store, keyring },
      },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: {},
      planTopics: {},
      now: () => NOW,
    };
  }, 120_000);
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), vault?.remove()]);
  });
  beforeEach(async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand, { SecretId: AUTH_SECRET }).resolves({ SecretString: JSON.stringify({ password: PASSWORD }) });
    await target.flushAll();
  });

  const parameters = (extra: Record<string, unknown> = {}) => ({
    source: SOURCE,
    target: { host: target.host, port: target.port, tls: false, authSecretArn: AUTH_SECRET },
    ...extra,
  });
  const targetKeys = async () => {
    const client = await target.connect();
    try {
      return Number(await client.call('DBSIZE'));
    } finally {
      client.close();
    }
  };

  it('drill: restores the latest verified backup into a scratch server of its own, never reading the target\'s secret nor touching the target', async () => {
    const record = await handleDrStepEvent(runStep('restore', 'restore-cache', parameters(), { mode: 'drill', suffix: newSuffix() }), deps);

    const verified = backups[0]!;
    expect(record).toEqual({
      stepId: 'restore',
      kind: 'restore-cache',
      status: 'succeeded',
      startedAt: NOW.toISOString(),
      endedAt: NOW.toISOString(),
      result: {
        sourceId: SOURCE,
        region: 'primary',
        backupId: verified.backupId,
        backupCompletedAt: verified.completedAt,
        restoredDataAt: verified.completedAt,
        target: { scratch: true },
        keys: 1212,
        expiredSkipped: 0,
        keyspace: [
          { db: 0, keys: 10 },
          { db: 3, keys: 1202 },
        ],
        drill: true,
      },
    });
    expect(secrets).not.toHaveReceivedAnyCommand();
    expect(await targetKeys()).toBe(0);
  });

  it('air-gap: drills the latest verified backup of the air-gapped vault, read through its own store; a function without that vault says so', async () => {
    // The air-gapped vault holds byte-for-byte copies of the verified backup's objects only.
    const airGapVault = await tempVault();
    try {
      const copied = backups[0]!;
      for await (const key of vault.store.list(backupPrefix(SOURCE, copied.backupId))) await airGapVault.store.putObject(key, await vault.store.getObject(key));
      const withAirGap = { ...deps, regions: { ...deps.regions, 'air-gap': { name: REGION, rds: new RDSClient({ region: REGION }), store: airGapVault.store, keyring } } };
      const record = await handleDrStepEvent(runStep('restore', 'restore-cache', parameters({ region: 'air-gap' }), { mode: 'drill', suffix: newSuffix() }), withAirGap);
      expect(record).toMatchObject({ status: 'succeeded', result: { region: 'air-gap', backupId: copied.backupId, keys: 1212, drill: true } });
      await expect(handleDrStepEvent(runStep('restore', 'restore-cache', parameters({ region: 'air-gap' }), { mode: 'drill', suffix: newSuffix() }), deps)).rejects.toThrow(
        'This function has no air-gapped vault configured (vaultAccount with its keyArn)',
      );
    } finally {
      await airGapVault.remove();
    }
  });

  it('real: restores every key of the latest verified backup into the target with its AUTH token, exactly as the source holds them', async () => {
    const record = await handleDrStepEvent(runStep('restore', 'restore-cache', parameters(), { suffix: newSuffix() }), deps);

    expect(record).toMatchObject({ kind: 'restore-cache', status: 'succeeded', result: { backupId: backups[0]!.backupId, target: { host: target.host, port: target.port, tls: false }, keys: 1212, drill: false } });
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: AUTH_SECRET });
    const [from, into] = await Promise.all([source.connect(), target.connect()]);
    try {
      for (const db of [0, 3]) expect(await describeDatabase(into, db)).toEqual(await describeDatabase(from, db));
    } finally {
      from.close();
      into.close();
    }
    expect(JSON.stringify(record)).not.toContain(PASSWORD);
  });

  it('real: a target that holds any key of the backup is refused by name before anything is written', async () => {
    const client = await target.connect();
    await client.call('SET', 'user:1', 'someone else');
    client.close();

    const failed = handleDrStepEvent(runStep('restore', 'restore-cache', parameters(), { suffix: newSuffix() }), deps);
    await expect(failed).rejects.toBeInstanceOf(TargetNotEmptyError);
    expect(await targetKeys()).toBe(1);
  });

  it('picks the latest verified backup at or before pointInTime, and none fitting is NoRecoveryPointError', async () => {
    await expect(
      handleDrStepEvent(runStep('restore', 'restore-cache', parameters({ pointInTime: '2026-12-03T06:00:00Z' }), { mode: 'drill', suffix: newSuffix() }), deps),
    ).rejects.toBeInstanceOf(NoRecoveryPointError);
  });

  it('real: a target without AUTH is restored without asking Secrets Manager; a secret that holds nothing is refused naming the step', async () => {
    const open = await startTestRedis();
    try {
      const record = await handleDrStepEvent(runStep('restore', 'restore-cache', parameters({ target: { host: open.host, port: open.port, tls: false } }), { suffix: newSuffix() }), deps);
      expect(record).toMatchObject({ status: 'succeeded', result: { keys: 1212 } });
      expect(secrets).not.toHaveReceivedAnyCommand();
      secrets.on(GetSecretValueCommand, { SecretId: AUTH_SECRET }).resolves({ SecretString: '' });
      await open.flushAll();
      await expect(handleDrStepEvent(runStep('refill', 'restore-cache', parameters({ target: { host: open.host, port: open.port, tls: false, authSecretArn: AUTH_SECRET } }), { suffix: newSuffix() }), deps)).rejects.toThrow(
        /^Secret for the target of step refill is empty/,
      );
    } finally {
      await open.stop();
    }
  });

  it('drill: a backup using databases above 15 gets a scratch server with enough of them, and the scratch server is gone afterwards', async () => {
    const wide = await startTestRedis(['--databases', '32']);
    const scratchDirs = async () => (await readdir(tmpdir())).filter((name) => name.startsWith('lifeboat-redis-'));
    try {
      const client = await wide.connect();
      await client.call('SELECT', '20');
      for (let i = 0; i < 5; i++) await client.call('SET', `k${i}`, 'v');
      client.close();
      const { manifest } = await runRedisBackup({ endpoint: { host: wide.host, port: wide.port }, sourceId: 'wide-cache', store: vault.store, keyring, now: T1 });
      expect((await verifyRedisBackup({ store: vault.store, manifest, keyring })).status).toBe('verified');
      const before = await scratchDirs();

      const record = await handleDrStepEvent(runStep('restore', 'restore-cache', parameters({ source: 'wide-cache' }), { mode: 'drill', suffix: newSuffix() }), deps);

      expect(record).toMatchObject({ status: 'succeeded', result: { keys: 5, keyspace: [{ db: 20, keys: 5 }] } });
      expect(await scratchDirs()).toEqual(before);
    } finally {
      await wide.stop();
    }
  });

  it('refuses a database\'s backup: restore-cache restores caches only', async () => {
    const database = await tempVault();
    try {
      const { sampleManifest } = await import('../vault/fixtures.ts');
      const { writeManifest } = await import('../../../functions/lib/vault/catalog.ts');
      const manifest = sampleManifest({ sourceId: 'orders-db', backupId: '20261203T061500Z-abcd2345' });
      await database.store.putObject(`backups/orders-db/${manifest.backupId}/payload`, Buffer.alloc(manifest.payload!.storedBytes));
      await writeManifest(database.store, manifest);
      await writeVerification(database.store, sampleVerification({ sourceId: 'orders-db', backupId: manifest.backupId, status: 'verified', at: NOW }));
      const withDatabase = { ...deps, regions: { ...deps.regions, primary: { ...deps.regions.primary, store: database.store } } };
      const failed = handleDrStepEvent(runStep('restore', 'restore-cache', parameters({ source: 'orders-db' }), { mode: 'drill', suffix: newSuffix() }), withDatabase);
      await expect(failed).rejects.toBeInstanceOf(ConfigError);
      await expect(failed).rejects.toThrow(/orders-db is a postgresql source, not a cache; restore it with a restore-dump step/);
    } finally {
      await database.remove();
    }
  });
});

describe('readCacheAuth', () => {
  const secrets = mockClient(SecretsManagerClient);
  const read = (SecretString: string) => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString });
    return readCacheAuth(new SecretsManagerClient({ region: REGION }), AUTH_SECRET, 'the target of step restore');
  };

  it('takes JSON with a password (and a username for an ACL user), or the token as the whole string', async () => {
    expect(await read(JSON.stringify({ password: 'tok' }))).toEqual({ password: 'tok' });
    expect(await read(JSON.stringify({ username: 'app', password: 'tok' }))).toEqual({ user: 'app', password: 'tok' });
    expect(await read('plain-token')).toEqual({ password: 'plain-token' });
    // Whitespace before the JSON is still JSON (a secret pasted with a newline first).
    expect(await read('\n  {"password": "tok"}')).toEqual({ password: 'tok' });
  });

  it('refuses an empty secret, broken JSON and JSON without a password, naming whose secret and never quoting it', async () => {
    await expect(read('  ')).rejects.toThrow(/^Secret for the target of step restore is empty/);
    await expect(read('{"password": "secret-value"')).rejects.toThrow(/^Secret for the target of step restore starts like JSON but does not parse/);
    const missing = read(JSON.stringify({ token: 'secret-value' }));
    await expect(missing).rejects.toThrow(/^Secret for the target of step restore: password: /);
    await expect(read('{"password": "secret-value"')).rejects.not.toThrow(/secret-value/);
    await expect(read(JSON.stringify({ token: 'secret-value' }))).rejects.not.toThrow(/secret-value/);
    await expect(read(JSON.stringify({ password: 5, username: 7 }))).rejects.toThrow(/^Secret for the target of step restore: password: [^;]+; username: /);
  });
});
