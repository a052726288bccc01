/**
 * The real statemachines/backup.asl.json run locally for a configuration source (`orders-config`: SSM paths, secrets
 * by prefix, a CloudFormation stack), every Task bound to a real core: resolve-source with the route the CDK construct
 * writes, the config backup function's core reading stateful SSM, Secrets Manager and CloudFormation stand-ins, the
 * verify core (every item read back, the result signed beside the manifest), the copy core into the DR vault on the
 * local S3 server and the prune core over both vaults. Then the DR plan's restore-config step writes the DR vault's
 * copy into an empty "DR region".
 */
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backUpConfig, ConfigSourceSchema, type ConfigBackupDeps } from '../../functions/config-backup/backup.ts';
import { handleCopyEvent, type CopyDeps } from '../../functions/copy/copy.ts';
import { handleDrStepEvent, type DrStepDeps } from '../../functions/dr-step/drStep.ts';
import { localHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { readAnyManifests, scanBackupFolders } from '../../functions/lib/vault/catalog.ts';
import { payloadKey } from '../../functions/lib/vault/layout.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../functions/lib/vault/verification.ts';
import { pruneSource, type PruneDeps } from '../../functions/prune/prune.ts';
import { resolveSource, type SourceRoute } from '../../functions/resolve-source/resolve.ts';
import { verifySourceBackup, VerifySourceSchema, type VerifyDeps } from '../../functions/verify/verify.ts';
import { testKeyring } from '../functions/engine/helpers.ts';
import { FakeCloudFormation, FakeSecretsManager, FakeSsm } from '../functions/configset/fakes.ts';
import { newSuffix, runStep } from '../functions/dr-step/support.ts';
import { loadStateMachine, runStateMachine, startLocalS3, type LocalS3, type StateMachineDefinition, type TaskHandler } from '../harness/index.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS, lambdaArn } from './support.ts';

const SOURCE = 'orders-config';
const BACKUP_FUNCTION = lambdaArn('config-backup');
const DR_KEY = `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-5678efgh`;
const DB_PASSWORD = 'S3cure-Str1ng-never-in-clear';
const context = (name: string) => ({ Execution: { Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:${name}`, Name: name } });
/** The route the CDK construct writes for a configuration source: the config backup function, always on Lambda. */
const ROUTES: SourceRoute[] = [{ id: SOURCE, method: 'dump', dumpFunctionArn: BACKUP_FUNCTION, runner: 'lambda' }];
/** The entry as the CDK construct writes it into the config backup function's LIFEBOAT_SOURCES. */
const ENTRY = { id: SOURCE, kind: 'config', selection: { ssmPaths: ['/orders/prod/'], secretPrefixes: ['orders/prod/'], secretTags: [], stacks: ['orders-app'] } };

let s3: LocalS3;
let definition: StateMachineDefinition;

beforeAll(async () => {
  definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
  s3 = await startLocalS3();
}, 60_000);
afterAll(async () => {
  await s3?.stop();
});

describe('backup.asl.json end to end: a configuration source with the real resolve, config backup, verify, copy and prune cores', () => {
  it('backs up, verifies, copies and retains; restore-config writes the DR copy into an empty region (a drill writes nothing); a damaged payload fails verification, named', async () => {
    const [primaryBucket, drBucket] = [await s3.createBucket(), await s3.createBucket()];
    const ssm = new FakeSsm().put('/orders/prod/db/host', 'String', 'orders.cluster-abc.eu-west-1.rds.amazonaws.com', 3).put('/orders/prod/db/password', 'SecureString', DB_PASSWORD, 2);
    ssm.put('/orders/staging/db/host', 'String', 'not selected');
    const secrets = new FakeSecretsManager();
    secrets.add('orders/prod/api-key', [
      { value: 'api-key-previous', stages: ['AWSPREVIOUS'] },
      { value: 'api-key-current', stages: ['AWSCURRENT'] },
    ]);
    const cloudFormation = new FakeCloudFormation().add('orders-app', '{"Resources":{}}', { Env: 'prod' });

    const primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    const keyring = testKeyring();
    const signer = localHmacSigner(randomBytes(32));
    const alerts: unknown[] = [];
    const backupDeps: ConfigBackupDeps = {
      sources: [ConfigSourceSchema.parse(ENTRY)],
      clients: { ssm, secrets: secrets.client, cloudFormation },
      region: REGION,
      store: primaryStore,
      keyring,
      // Two hours, then one hour ago: the runs are an hour apart, as scheduled ones would be.
      now: () => clock,
    };
    let clock = new Date(Date.now() - 7_200_000);
    const verifyDeps: VerifyDeps = {
      // The entry the CDK construct writes into the verify function's LIFEBOAT_SOURCES for a configuration source.
      sources: [VerifySourceSchema.parse({ id: SOURCE, kind: 'config' })],
      servers: {},
      secrets: { send: async () => Promise.reject(new Error('verifying a configuration backup reads no secret')) },
      sns: { send: async (command: { input: unknown }) => (alerts.push(command.input), {}) } as unknown as VerifyDeps['sns'],
      alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
      store: primaryStore,
      keyring,
      verificationKey: signer,
    };
    const copyDeps: CopyDeps = {
      primary: { client: s3.client, bucket: primaryBucket },
      dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
      drRds: new RDSClient({ region: DR_REGION }),
    };
    const pruneDeps: PruneDeps = {
      sources: [{ id: SOURCE, timeZone: 'UTC', retention: { days: 1, keepLast: 1, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: primaryStore, keyring }, { store: drStore, keyring }],
      rds: {},
      authenticator: signer,
    };
    const never = (why: string): TaskHandler => async () => {
      throw new Error(why);
    };
    const states: string[] = [];
    const handlers: Record<string, TaskHandler> = {
      DescribeSource: (input) => resolveSource(input, ROUTES, { store: primaryStore }),
      Dump: (input) => backUpConfig(input, backupDeps),
      Verify: (input) => verifySourceBackup(input, verifyDeps),
      CopyToDr: (input) => handleCopyEvent(input, copyDeps),
      ApplyRetention: async (input) => {
        const { reports: _reports, ...summary } = await pruneSource(input, pruneDeps);
        return summary;
      },
      RecordSuccess: async () => ({}),
      ...Object.fromEntries(
        ['CreateSnapshot', 'DescribeSnapshot', 'RecordSnapshot', 'CopySnapshotToDr', 'DescribeSnapshotCopy', 'RecordSnapshotCopy'].map((state) => [state, never('a configuration source is not an RDS snapshot source')]),
      ),
      ...Object.fromEntries(['DumpOnFargate', 'ReadFargateDump', 'VerifyOnFargate', 'CopyOnFargate'].map((state) => [state, never('a configuration source has no Fargate task')])),
      PublishAlert: async (input) => (alerts.push(input), {}),
    };
    const logged = Object.fromEntries(Object.entries(handlers).map(([state, handler]): [string, TaskHandler] => [state, async (input) => (states.push(state), handler(input))]));
    const run = async (name: string, overrides: Record<string, TaskHandler> = {}) => {
      states.length = 0;
      return runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers: { ...logged, ...overrides }, context: context(name) });
    };

    const first = await run('config-1');
    expect(first.error === undefined ? first.status : `${first.status} ${first.error}: ${first.cause}`).toBe('SUCCEEDED');
    expect(states).toEqual(['DescribeSource', 'Dump', 'Verify', 'CopyToDr', 'ApplyRetention', 'RecordSuccess']);
    expect(first.output).toMatchObject({
      backup: { kind: 'config', sourceId: SOURCE },
      verification: { status: 'verified', checks: { checksum: 'passed', decrypt: 'passed', structure: 'passed' } },
      drCopy: { kind: 'config', alreadyCopied: false, verificationsCopied: 1 },
    });
    // Nothing the execution carries holds a value.
    expect(JSON.stringify(first.output)).not.toContain(DB_PASSWORD);
    expect(JSON.stringify(first.output)).not.toContain('api-key-current');

    // A second run: the first is now beyond keepLast 1 but within its 1 day, so both are kept in both vaults.
    ssm.put('/orders/prod/db/host', 'String', 'orders-new.cluster-abc.eu-west-1.rds.amazonaws.com', 4);
    clock = new Date(Date.now() - 3_600_000);
    const second = await run('config-2');
    expect(second.status).toBe('SUCCEEDED');
    const listed = async (store: S3Store) => (await readAnyManifests(store, (await scanBackupFolders(store, { sourceId: SOURCE })).filter((f) => f.hasManifest))).map((e) => e.manifest);
    const primary = await listed(primaryStore);
    expect(primary.map((m) => m.kind)).toEqual(['config', 'config']);
    expect(await listed(drStore)).toEqual(primary);
    for (const manifest of primary) {
      expect(await readLatestVerification(drStore, SOURCE, manifest.backupId, { authenticator: signer, manifest })).toMatchObject({ status: 'verified', authenticated: true });
    }

    // The DR plan's step: the newest verified backup from the DR vault into an empty "DR region".
    const drSsm = new FakeSsm();
    const drSecrets = new FakeSecretsManager();
    const drDeps: DrStepDeps = {
      sources: [],
      regions: {
        primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: primaryStore, keyring },
        dr: { name: DR_REGION, rds: new RDSClient({ region: DR_REGION }), store: drStore, keyring },
      },
      verificationKey: signer,
      config: (region) => {
        expect(region).toBe(DR_REGION);
        return { ssm: drSsm, secrets: drSecrets.client };
      },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: {},
      planTopics: {},
    };
    const drill = await handleDrStepEvent(runStep('restore', 'restore-config', { source: SOURCE, region: 'dr' }, { mode: 'drill', suffix: newSuffix() }), drDeps);
    expect(drill).toMatchObject({
      kind: 'restore-config',
      status: 'succeeded',
      result: {
        sourceId: SOURCE,
        targetRegion: DR_REGION,
        backupId: primary[0]!.backupId,
        written: ['ssm-parameter /orders/prod/db/host', 'ssm-parameter /orders/prod/db/password', 'secret orders/prod/api-key'],
        skipped: ['stack orders-app'],
        drill: true,
      },
    });
    expect(drSsm.parameters.size + drSecrets.secrets.size).toBe(0);

    const real = await handleDrStepEvent(runStep('restore', 'restore-config', { source: SOURCE, region: 'dr' }, { suffix: newSuffix() }), drDeps);
    expect(real).toMatchObject({ result: { written: expect.arrayContaining(['secret orders/prod/api-key']), drill: false } });
    expect(drSsm.parameters.get('/orders/prod/db/host')).toMatchObject({ value: 'orders-new.cluster-abc.eu-west-1.rds.amazonaws.com', type: 'String' });
    expect(drSsm.parameters.get('/orders/prod/db/password')).toMatchObject({ value: DB_PASSWORD, type: 'SecureString' });
    expect(drSecrets.stages('orders/prod/api-key')).toEqual({ AWSCURRENT: 'api-key-current', AWSPREVIOUS: 'api-key-previous' });
    // Run again: everything is in place; a value changed in the region since is kept (no overwrite) and named.
    drSsm.put('/orders/prod/db/host', 'String', 'changed-in-dr', 9);
    const again = await handleDrStepEvent(runStep('restore', 'restore-config', { source: SOURCE, region: 'dr' }, { suffix: newSuffix() }), drDeps);
    expect(again).toMatchObject({ result: { written: [], overwritten: [], unchanged: 2, kept: ['ssm-parameter /orders/prod/db/host'] } });
    expect(drSsm.parameters.get('/orders/prod/db/host')).toMatchObject({ value: 'changed-in-dr' });

    // The next backup's payload damaged in the vault before it is verified: verification fails naming the checksum,
    // with one ERROR alert, and nothing of it reaches the DR vault.
    alerts.length = 0;
    const third = await run('config-3', {
      Dump: async (input) => {
        const result = await backUpConfig(input, backupDeps);
        const key = payloadKey(SOURCE, result.backupId);
        const stored = await primaryStore.getObject(key);
        stored[stored.length - 20] = (stored[stored.length - 20]! + 1) % 256;
        await s3.client.send(new PutObjectCommand({ Bucket: primaryBucket, Key: key, Body: stored }));
        return result;
      },
    });
    expect(third.status).toBe('FAILED');
    expect(third.error).toBe('VerificationFailedError');
    expect(third.cause).toMatch(/failed verification: checksum: payload backups\/orders-config\/\S+\/payload holds \d+ bytes with SHA-256 [0-9a-f]{64}; the manifest records/);
    expect(alerts).toHaveLength(1);
    expect(await listed(drStore)).toEqual(primary);
  }, 180_000);
});
