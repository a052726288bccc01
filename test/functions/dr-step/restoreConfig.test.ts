/**
 * The restore-config step on a local vault: configuration backups made by the engine, verified and signed as the
 * pipeline does, then the step executor's core picks the latest verified one (at or before a point in time, passing
 * over unverified, forged and impossible ones) and writes it into stateful SSM and Secrets Manager stand-ins for the
 * target region: a drill compares and writes nothing, a real run writes what is missing, keeps what differs unless
 * told to overwrite, and a rerun changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import { latestVerifiedConfigBackup } from '../../../functions/dr-step/restoreConfig.ts';
import { CLOCK_SKEW_MS } from '../../../functions/dr-step/restoreDump.ts';
import { payloadKey } from '../../../functions/lib/vault/layout.ts';
import { runConfigBackup, type ConfigSelection } from '../../../functions/lib/configset/index.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import type { ConfigManifest } from '../../../functions/lib/vault/configManifest.ts';
import { verifyConfigSetBackup } from '../../../functions/lib/verify/configSet.ts';
import { FakeCloudFormation, FakeSecretsManager, FakeSsm } from '../configset/fakes.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { DR_REGION, REGION, newSuffix, runStep } from './support.ts';

const SOURCE = 'orders-config';
const NOW = new Date('2026-12-03T09:00:00.000Z');
const SELECTION: ConfigSelection = { ssmPaths: ['/orders/prod/'], secretPrefixes: ['orders/prod/'], secretTags: [], stacks: ['orders-app'] };

describe('restore-config on a local vault', () => {
  const keyring = testKeyring('k-restore-config');
  const signer = localHmacSigner(randomBytes(32));
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let source: { ssm: FakeSsm; secrets: FakeSecretsManager };
  let target: { ssm: FakeSsm; secrets: FakeSecretsManager };
  let deps: DrStepDeps;
  const regions: string[] = [];

  const backUp = (at: Date) =>
    runConfigBackup({ sourceId: SOURCE, selection: SELECTION, region: REGION, clients: { ssm: source.ssm, secrets: source.secrets.client, cloudFormation: new FakeCloudFormation().add('orders-app', '{}', { Env: 'prod', AdminPassword: 'never-readable' }, ['AdminPassword']) }, store: vault.store, keyring, now: at });
  const verify = (manifest: ConfigManifest, at: Date) => verifyConfigSetBackup({ store: vault.store, keyring, sourceId: SOURCE, backupId: manifest.backupId, signer, now: () => at });
  const restore = (parameters: Record<string, unknown> = {}, mode: 'real' | 'drill' = 'real') =>
    handleDrStepEvent(runStep('restore', 'restore-config', { source: SOURCE, ...parameters }, { mode, suffix: newSuffix() }), deps);

  beforeEach(async () => {
    vault = await tempVault();
    source = { ssm: new FakeSsm().put('/orders/prod/db/host', 'String', 'db-1.internal', 1).put('/orders/prod/db/password', 'SecureString', 'pw-one', 1), secrets: new FakeSecretsManager() };
    source.secrets.add('orders/prod/api-key', [{ value: 'key-old', stages: ['AWSPREVIOUS'] }, { value: 'key-new', stages: ['AWSCURRENT'] }]);
    target = { ssm: new FakeSsm(), secrets: new FakeSecretsManager() };
    regions.length = 0;
    deps = {
      sources: [],
      regions: {
        primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: vault.store, keyring },
        dr: { name: DR_REGION, rds: new RDSClient({ region: DR_REGION }), store: vault.store, keyring },
      },
      verificationKey: signer,
      config: (region) => (regions.push(region), { ssm: target.ssm, secrets: target.secrets.client }),
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: {},
      planTopics: {},
      now: () => NOW,
    };
  });
  afterEach(async () => {
    source.secrets.mock.restore();
    target.secrets.mock.restore();
    await vault.remove();
  });

  it('drill: checks and compares every item with the region, records what a real run would do, and writes nothing', async () => {
    const manifest = await backUp(new Date('2026-12-03T06:00:00Z'));
    await verify(manifest, new Date('2026-12-03T06:05:00Z'));
    expect(await restore({ region: 'dr' }, 'drill')).toEqual({
      stepId: 'restore',
      kind: 'restore-config',
      status: 'succeeded',
      startedAt: NOW.toISOString(),
      endedAt: NOW.toISOString(),
      result: {
        sourceId: SOURCE,
        region: 'dr',
        targetRegion: DR_REGION,
        backupId: manifest.backupId,
        backupCompletedAt: manifest.completedAt,
        restoredDataAt: manifest.startedAt,
        items: 4,
        written: ['ssm-parameter /orders/prod/db/host', 'ssm-parameter /orders/prod/db/password', 'secret orders/prod/api-key'],
        overwritten: [],
        unchanged: 0,
        kept: [],
        skipped: ['stack orders-app'],
        noEchoParameters: ['orders-app.AdminPassword'],
        overwrite: false,
        drill: true,
      },
    });
    expect(regions).toEqual([DR_REGION]);
    expect(target.ssm.parameters.size + target.secrets.secrets.size).toBe(0);
    expect(target.ssm.callsNamed('PutParameter')).toEqual([]);
  });

  it('real: writes what the region lacks under the step\'s key, keeps what differs unless told to overwrite, and a rerun changes nothing', async () => {
    const manifest = await backUp(new Date('2026-12-03T06:00:00Z'));
    await verify(manifest, new Date('2026-12-03T06:05:00Z'));
    target.ssm.put('/orders/prod/db/host', 'String', 'db-2.internal', 7);
    const first = await restore({ parameterKmsKeyId: 'alias/orders-dr', secretKmsKeyId: 'alias/orders-dr-secrets' });
    expect(first).toMatchObject({ result: { targetRegion: REGION, written: ['ssm-parameter /orders/prod/db/password', 'secret orders/prod/api-key'], kept: ['ssm-parameter /orders/prod/db/host'], unchanged: 0, drill: false } });
    expect(target.ssm.callsNamed('PutParameter')).toEqual([{ Name: '/orders/prod/db/password', Value: 'pw-one', Type: 'SecureString', Overwrite: false, DataType: 'text', KeyId: 'alias/orders-dr' }]);
    expect(target.ssm.parameters.get('/orders/prod/db/host')).toMatchObject({ value: 'db-2.internal' });
    expect(target.secrets.stages('orders/prod/api-key')).toEqual({ AWSCURRENT: 'key-new', AWSPREVIOUS: 'key-old' });

    expect(target.secrets.mock.commandCalls(CreateSecretCommand).map((c) => c.args[0].input)).toEqual([expect.objectContaining({ Name: 'orders/prod/api-key', KmsKeyId: 'alias/orders-dr-secrets' })]);
    const overwritten = await restore({ overwrite: true });
    expect(overwritten).toMatchObject({ result: { written: [], overwritten: ['ssm-parameter /orders/prod/db/host'], unchanged: 2, kept: [], overwrite: true } });
    expect(target.ssm.parameters.get('/orders/prod/db/host')).toMatchObject({ value: 'db-1.internal' });
    expect(await restore()).toMatchObject({ result: { written: [], overwritten: [], unchanged: 3, kept: [] } });
  });

  it('picks the newest verified backup at or before the point in time, passing over unverified, unsigned and impossible ones', async () => {
    const older = await backUp(new Date('2026-12-03T04:00:00Z'));
    await verify(older, new Date('2026-12-03T04:05:00Z'));
    const forged = await backUp(new Date('2026-12-03T05:00:00Z'));
    // A result nobody signed, dropped beside the manifest by a writer.
    await verifyConfigSetBackup({ store: vault.store, keyring, sourceId: SOURCE, backupId: forged.backupId, now: () => new Date('2026-12-03T05:05:00Z') });
    const early = await backUp(new Date('2026-12-03T06:00:00Z'));
    // Verified before it claims to have completed: its completion time is the writer's.
    await verify(early, new Date('2026-12-03T05:50:00Z'));
    const newest = await backUp(new Date('2026-12-03T07:00:00Z'));
    await verify(newest, new Date('2026-12-03T07:05:00Z'));
    const unverified = await backUp(new Date('2026-12-03T08:00:00Z'));

    const store = { store: vault.store };
    expect((await latestVerifiedConfigBackup(store, SOURCE, 'primary', undefined, signer)).backupId).toBe(newest.backupId);
    expect((await latestVerifiedConfigBackup(store, SOURCE, 'primary', '2026-12-03T06:59:00Z', signer)).backupId).toBe(older.backupId);
    // A point in time equal to a backup's completion includes it; a millisecond before does not.
    expect((await latestVerifiedConfigBackup(store, SOURCE, 'primary', newest.completedAt, signer)).backupId).toBe(newest.backupId);
    expect((await latestVerifiedConfigBackup(store, SOURCE, 'primary', new Date(Date.parse(newest.completedAt) - 1).toISOString(), signer)).backupId).toBe(older.backupId);
    // Without the key an unsigned result counts: the forged one is picked, which is why the step always has the key.
    expect((await latestVerifiedConfigBackup(store, SOURCE, 'primary', '2026-12-03T05:59:00Z')).backupId).toBe(forged.backupId);
    expect(unverified.backupId > newest.backupId).toBe(true);
    await expect(latestVerifiedConfigBackup(store, SOURCE, 'dr', '2026-12-03T03:00:00Z', signer)).rejects.toMatchObject({
      name: 'NoRecoveryPointError',
      message: `No verified configuration backup of source ${SOURCE} completed at or before 2026-12-03T03:00:00.000Z in the dr vault (${vault.store.location}); it holds no such backup`,
    });
  });

  it('passes over a backup whose latest result failed, one with a forged result beside a good one, and another source\'s; allows the clock skew and no more', async () => {
    const good = await backUp(new Date('2026-12-03T04:00:00Z'));
    await verify(good, new Date('2026-12-03T04:05:00Z'));
    const failed = await backUp(new Date('2026-12-03T05:00:00Z'));
    const payload = path.join(vault.root, payloadKey(SOURCE, failed.backupId));
    const intact = await readFile(payload);
    const damaged = Buffer.from(intact);
    damaged[damaged.length - 3] = damaged[damaged.length - 3]! ^ 0xff;
    await writeFile(payload, damaged);
    expect((await verify(failed, new Date('2026-12-03T05:05:00Z'))).status).toBe('failed');
    await writeFile(payload, intact);
    const forged = await backUp(new Date('2026-12-03T06:00:00Z'));
    await verify(forged, new Date('2026-12-03T06:05:00Z'));
    // A later "verified" signed with another key: the good result is no longer the newest that counts.
    await verifyConfigSetBackup({ store: vault.store, keyring, sourceId: SOURCE, backupId: forged.backupId, signer: localHmacSigner(randomBytes(32)), now: () => new Date('2026-12-03T06:10:00Z') });
    const other = await runConfigBackup({ sourceId: 'other-config', selection: SELECTION, region: REGION, clients: { ssm: source.ssm, secrets: source.secrets.client, cloudFormation: new FakeCloudFormation().add('orders-app', '{}', {}) }, store: vault.store, keyring, now: new Date('2026-12-03T07:00:00Z') });
    await verifyConfigSetBackup({ store: vault.store, keyring, sourceId: 'other-config', backupId: other.backupId, signer, now: () => new Date('2026-12-03T07:05:00Z') });
    expect((await latestVerifiedConfigBackup({ store: vault.store }, SOURCE, 'primary', undefined, signer)).backupId).toBe(good.backupId);

    // Completed exactly CLOCK_SKEW_MS after its verification began: still counted; a millisecond more is not.
    const skewed = await backUp(new Date('2026-12-03T08:00:00Z'));
    const verifiedAt = new Date(Date.parse(skewed.completedAt) - CLOCK_SKEW_MS);
    await verify(skewed, verifiedAt);
    expect((await latestVerifiedConfigBackup({ store: vault.store }, SOURCE, 'primary', undefined, signer)).backupId).toBe(skewed.backupId);
    const late = await backUp(new Date('2026-12-03T09:00:00Z'));
    await verify(late, new Date(Date.parse(late.completedAt) - CLOCK_SKEW_MS - 1));
    expect((await latestVerifiedConfigBackup({ store: vault.store }, SOURCE, 'primary', undefined, signer)).backupId).toBe(skewed.backupId);
  });

  it('names a region with none verified, and refuses to run without the clients for the region', async () => {
    const only = await backUp(new Date('2026-12-03T06:00:00Z'));
    await expect(restore()).rejects.toMatchObject({
      name: 'NoRecoveryPointError',
      message: `No verified configuration backup of source ${SOURCE} in the primary vault (${vault.store.location}); none of the 1 such backup(s) passed its latest verification`,
    });
    await verify(only, new Date('2026-12-03T06:05:00Z'));
    const { config: _config, ...without } = deps;
    await expect(handleDrStepEvent(runStep('restore', 'restore-config', { source: SOURCE }, { suffix: newSuffix() }), without)).rejects.toMatchObject({
      name: 'ConfigError',
      message: "Step 'restore': this function has no SSM and Secrets Manager clients for restore targets",
    });
    await expect(restore({ overwrite: 'yes' })).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/overwrite/) });
  });
});
