import 'aws-sdk-client-mock-vitest/extend';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigPayloadMismatchError,
  ConfigReadFailedError,
  ConfigRestoreFailedError,
  describeAwsError,
  parseConfigManifest,
  readConfigManifest,
  restoreConfigBackup,
  runConfigBackup,
  verifyConfigBackup,
  type ConfigManifest,
  type ConfigSelection,
} from '../../../functions/lib/configset/index.ts';
import { ManifestInvalidError } from '../../../functions/lib/errors.ts';
import { manifestKey, payloadKey } from '../../../functions/lib/vault/layout.ts';
import type { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { parseManifest } from '../../../functions/lib/vault/manifest.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { FakeCloudFormation, FakeSecretsManager, FakeSsm, REGION } from './fakes.ts';

const SOURCE = 'orders-config';
const DB_PASSWORD = 'S3cure-Str1ng-never-in-clear';
const API_KEY = 'api-key-current-7f3a9c';
const API_KEY_OLD = 'api-key-previous-1b2c3d';
const BINARY = Uint8Array.from([0, 1, 2, 250, 251, 252, 10, 13]);
const TEMPLATE = JSON.stringify({ Parameters: { Env: { Type: 'String' }, DbPassword: { Type: 'String', NoEcho: true } }, Resources: {} });
const SELECTION: ConfigSelection = {
  ssmPaths: ['/orders/prod/', '/orders/prod/db/'],
  secretPrefixes: ['orders/prod/'],
  secretTags: [{ key: 'backup', value: 'lifeboat' }],
  stacks: ['orders-prod'],
};

describe('configuration backups', () => {
  const keyring = testKeyring();
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let store: LocalStore;
  let ssm: FakeSsm;
  let secrets: FakeSecretsManager;
  let cloudFormation: FakeCloudFormation;
  let apiKeyArn: string;

  beforeEach(async () => {
    vault = await tempVault();
    store = vault.store;
    ssm = new FakeSsm().put('/orders/prod/db/host', 'String', 'orders.cluster-abc.eu-west-1.rds.amazonaws.com', 4).put('/orders/prod/db/password', 'SecureString', DB_PASSWORD, 2);
    // Twelve more: more than one page of GetParametersByPath (MaxResults 10).
    for (let i = 0; i < 12; i += 1) ssm.put(`/orders/prod/feature/f${String(i).padStart(2, '0')}`, i % 3 === 0 ? 'StringList' : 'String', `v${i},x`);
    ssm.put('/orders/staging/db/host', 'String', 'not selected');
    ssm.put('/orders/prod/db/ca-bundle', 'String', 'c'.repeat(6000));
    secrets = new FakeSecretsManager();
    apiKeyArn = secrets.add('orders/prod/api-key', [
      { value: 'deprecated-no-label', stages: [] },
      { value: API_KEY_OLD, stages: ['AWSPREVIOUS'] },
      { value: API_KEY, stages: ['AWSCURRENT', 'release-42'] },
      { value: 'rotation-in-flight', stages: ['AWSPENDING'] },
    ]).arn;
    secrets.add('orders/prod/signing-key', [{ value: BINARY, stages: ['AWSCURRENT'] }]);
    secrets.add('shared/smtp', [{ value: '{"user":"mailer","password":"smtp-pass-99"}', stages: ['AWSCURRENT'] }], { backup: 'lifeboat' });
    secrets.add('shared/other', [{ value: 'tagged with another value', stages: ['AWSCURRENT'] }], { backup: 'no', team: 'lifeboat' });
    cloudFormation = new FakeCloudFormation().add('orders-prod', TEMPLATE, { Env: 'prod', DbPassword: 'never-readable' }, ['DbPassword']);
  });
  afterEach(async () => {
    secrets.mock.restore();
    await vault.remove();
  });

  const backUp = () =>
    runConfigBackup({ sourceId: SOURCE, selection: SELECTION, region: REGION, clients: { ssm, secrets: secrets.client, cloudFormation }, store, keyring, now: new Date('2026-12-02T03:00:00Z') });

  it('reads each source with the exact requests and lists names, versions and stages, not values, in the manifest', async () => {
    const manifest = await backUp();

    expect(ssm.callsNamed('GetParametersByPath')).toEqual([
      { Path: '/orders/prod', Recursive: true, WithDecryption: true, MaxResults: 10 },
      { Path: '/orders/prod', Recursive: true, WithDecryption: true, MaxResults: 10, NextToken: '10' },
      { Path: '/orders/prod/db', Recursive: true, WithDecryption: true, MaxResults: 10 },
    ]);
    expect(secrets.mock).toReceiveCommandTimes(ListSecretsCommand, 2);
    expect(secrets.mock).toReceiveCommandWith(ListSecretsCommand, { Filters: [{ Key: 'name', Values: ['orders/prod/'] }], MaxResults: 100 });
    expect(secrets.mock).toReceiveCommandWith(ListSecretsCommand, { Filters: [{ Key: 'tag-key', Values: ['backup'] }, { Key: 'tag-value', Values: ['lifeboat'] }], MaxResults: 100 });
    // Three labelled versions of the API key, one of each other secret; the deprecated version is not read.
    expect(secrets.mock).toReceiveCommandTimes(GetSecretValueCommand, 5);
    const apiKey = secrets.secrets.get('orders/prod/api-key')!;
    for (const [versionId, version] of apiKey.versions) {
      if (version.stages.length > 0) expect(secrets.mock).toReceiveCommandWith(GetSecretValueCommand, { SecretId: apiKeyArn, VersionId: versionId });
    }
    expect(cloudFormation.calls).toEqual([
      { name: 'DescribeStacks', input: { StackName: 'orders-prod' } },
      { name: 'GetTemplate', input: { StackName: 'orders-prod', TemplateStage: 'Original' } },
    ]);

    expect(manifest.content.counts).toEqual({ ssmParameters: 15, secureStrings: 1, secrets: 3, secretVersions: 5, stacks: 1 });
    expect(manifest.content.items.find((i) => i.name === '/orders/prod/db/password')).toMatchObject({ type: 'ssm-parameter', parameterType: 'SecureString', version: 2 });
    const apiKeyEntry = manifest.content.items.find((i) => i.name === 'orders/prod/api-key');
    expect(apiKeyEntry?.type === 'secret' && apiKeyEntry.versions.map((v) => v.stages)).toEqual([['AWSCURRENT', 'release-42'], ['AWSPREVIOUS'], ['AWSPENDING']]);
    expect(manifest.content.items.find((i) => i.type === 'stack')).toMatchObject({ name: 'orders-prod', parameters: ['Env', 'DbPassword'], noEchoParameters: ['DbPassword'] });
    expect(manifest.content.items.some((i) => i.name === '/orders/staging/db/host' || i.name === 'shared/other')).toBe(false);
    // Read back as written, and refused by a reader of format 1.0/1.1 (listed as unreadable, never restored in part).
    expect(await readConfigManifest(store, SOURCE, manifest.backupId)).toEqual(manifest);
    const bytes = await store.getObject(manifestKey(SOURCE, manifest.backupId));
    expect(() => parseManifest(bytes, 'manifest.json')).toThrow(ManifestInvalidError);
  });

  it('never stores or logs a SecureString, a secret or a NoEcho value in clear', async () => {
    const printed: string[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) => vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' '))));
    const manifest = await backUp();
    const target = new FakeSsm();
    const targetSecrets = new FakeSecretsManager();
    const directory = await mkdtemp(path.join(tmpdir(), 'configkind-stacks-'));
    try {
      await restoreConfigBackup({ store, manifest, keyring, targets: { ssm: target, secrets: targetSecrets.client, stacksDirectory: directory }, dryRun: true });
    } finally {
      targetSecrets.mock.restore();
      await rm(directory, { recursive: true, force: true });
      for (const spy of spies) spy.mockRestore();
    }

    const files = await readdir(vault.root, { recursive: true, withFileTypes: true });
    const contents = await Promise.all(files.filter((f) => f.isFile()).map((f) => readFile(path.join(f.parentPath, f.name))));
    expect(contents.length).toBeGreaterThanOrEqual(2);
    const everything = Buffer.concat(contents);
    for (const clear of [DB_PASSWORD, API_KEY, API_KEY_OLD, 'smtp-pass-99', Buffer.from(DB_PASSWORD).toString('base64'), 'orders.cluster-abc']) {
      expect(everything.includes(clear)).toBe(false);
      expect(printed.join('\n')).not.toContain(clear);
    }
    expect(everything.includes(Buffer.from(BINARY))).toBe(false);
    expect(await verifyConfigBackup(store, manifest, keyring)).toMatchObject({ items: 19 });
  });

  it('verifies every item hash and the count, and names what does not match', async () => {
    const manifest = await backUp();
    expect(await verifyConfigBackup(store, manifest, keyring)).toEqual({ sourceId: SOURCE, backupId: manifest.backupId, items: 19, counts: manifest.content.counts, storedBytes: manifest.payload.storedBytes });

    const items = manifest.content.items.map((item) => (item.name === '/orders/prod/db/password' ? { ...item, sha256: '0'.repeat(64) } : item));
    await expect(verifyConfigBackup(store, { ...manifest, content: { ...manifest.content, items } }, keyring)).rejects.toThrow(
      new ConfigPayloadMismatchError(`Backup ${SOURCE}/${manifest.backupId}: ssm-parameter /orders/prod/db/password does not match its hash in the manifest`),
    );
    const fewer = manifest.content.items.slice(0, -1);
    await expect(verifyConfigBackup(store, { ...manifest, content: { ...manifest.content, items: fewer } }, keyring)).rejects.toThrow(/holds more items than the manifest's 18/);

    const key = payloadKey(SOURCE, manifest.backupId);
    const stored = Buffer.from(await store.getObject(key));
    stored.writeUInt8(stored.readUInt8(stored.length - 40) ^ 0xff, stored.length - 40);
    await writeFile(path.join(vault.root, key), stored);
    await expect(verifyConfigBackup(store, manifest, keyring)).rejects.toThrow(/Decryption failed|SHA-256/);
  });

  it('a dry run into another Region lists every item as added and writes nothing', async () => {
    const manifest = await backUp();
    const target = new FakeSsm();
    const targetSecrets = new FakeSecretsManager();
    try {
      const result = await restoreConfigBackup({ store, manifest, keyring, targets: { ssm: target, secrets: targetSecrets.client }, dryRun: true });
      expect(result.dryRun).toBe(true);
      expect(result.items).toHaveLength(19);
      expect(result.items.filter((i) => i.type !== 'stack').every((i) => i.status === 'added' && i.action === 'write')).toBe(true);
      expect(result.items.find((i) => i.type === 'stack')).toEqual({ type: 'stack', name: 'orders-prod', status: 'not-restored', action: 'skipped', note: 'stacks are written to a directory: none was given' });
      expect(target.callsNamed('PutParameter')).toEqual([]);
      expect(target.parameters.size).toBe(0);
      expect(targetSecrets.mock).not.toReceiveCommand(CreateSecretCommand);
      expect(targetSecrets.mock).not.toReceiveCommand(PutSecretValueCommand);
      expect(JSON.stringify(result)).not.toContain(DB_PASSWORD);
    } finally {
      targetSecrets.mock.restore();
    }
  });

  describe('restore', () => {
    let manifest: ConfigManifest;
    let target: FakeSsm;
    let targetSecrets: FakeSecretsManager;
    let directory: string;
    const KEY = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-target';

    beforeEach(async () => {
      manifest = await backUp();
      target = new FakeSsm();
      targetSecrets = new FakeSecretsManager();
      directory = await mkdtemp(path.join(tmpdir(), 'configkind-stacks-'));
    });
    afterEach(async () => {
      targetSecrets.mock.restore();
      await rm(directory, { recursive: true, force: true });
    });

    const restore = (options: { overwrite?: boolean; dryRun?: boolean } = {}) =>
      restoreConfigBackup({ store, manifest, keyring, targets: { ssm: target, secrets: targetSecrets.client, stacksDirectory: directory }, parameterKmsKeyId: KEY, secretKmsKeyId: KEY, ...options });

    it('writes parameters (SecureString under the target key), secrets with their stages and the stack files', async () => {
      const result = await restore();

      expect(result.items.every((i) => i.status === 'added' && i.action === 'write')).toBe(true);
      expect(target.callsNamed('PutParameter')).toContainEqual({ Name: '/orders/prod/db/password', Value: DB_PASSWORD, Type: 'SecureString', Overwrite: false, DataType: 'text', KeyId: KEY });
      expect(target.callsNamed('PutParameter')).toContainEqual({ Name: '/orders/prod/db/host', Value: 'orders.cluster-abc.eu-west-1.rds.amazonaws.com', Type: 'String', Overwrite: false, DataType: 'text' });
      expect(target.parameters.get('/orders/prod/db/password')).toMatchObject({ type: 'SecureString', keyId: KEY });
      expect(target.parameters.get('/orders/prod/feature/f00')).toMatchObject({ type: 'StringList', value: 'v0,x' });
      expect(target.callsNamed('PutParameter')).toContainEqual({ Name: '/orders/prod/db/ca-bundle', Value: 'c'.repeat(6000), Type: 'String', Overwrite: false, DataType: 'text', Tier: 'Advanced' });
      expect(target.parameters.size).toBe(15);

      expect(targetSecrets.mock).toReceiveCommandWith(CreateSecretCommand, { Name: 'orders/prod/api-key', KmsKeyId: KEY, SecretString: API_KEY });
      expect(targetSecrets.mock).toReceiveCommandWith(UpdateSecretVersionStageCommand, { SecretId: 'orders/prod/api-key', VersionStage: 'release-42' });
      expect(targetSecrets.mock).toReceiveCommandWith(PutSecretValueCommand, { SecretId: 'orders/prod/api-key', SecretString: API_KEY_OLD, VersionStages: ['AWSPREVIOUS'] });
      // AWSPENDING (a rotation in flight at backup time) is kept in the backup, not restored.
      expect(targetSecrets.stages('orders/prod/api-key')).toEqual({ AWSCURRENT: API_KEY, 'release-42': API_KEY, AWSPREVIOUS: API_KEY_OLD });
      expect(targetSecrets.stages('orders/prod/signing-key')).toEqual({ AWSCURRENT: `base64:${Buffer.from(BINARY).toString('base64')}` });
      expect(targetSecrets.secrets.get('shared/smtp')?.tags).toEqual([{ Key: 'backup', Value: 'lifeboat' }]);

      expect(await readFile(path.join(directory, 'orders-prod.template'), 'utf8')).toBe(TEMPLATE);
      expect(JSON.parse(await readFile(path.join(directory, 'orders-prod.stack.json'), 'utf8'))).toEqual({
        StackName: 'orders-prod',
        Parameters: [{ ParameterKey: 'Env', ParameterValue: 'prod' }],
        Capabilities: ['CAPABILITY_NAMED_IAM'],
        Tags: [{ Key: 'app', Value: 'orders' }],
      });
      expect(result.noEchoParameters).toEqual([{ stack: 'orders-prod', parameter: 'DbPassword' }]);

      // A second run finds everything as the backup has it and writes nothing more.
      const puts = target.callsNamed('PutParameter').length;
      const again = await restore();
      expect(again.items.every((i) => i.status === 'unchanged' && i.action === 'none')).toBe(true);
      expect(target.callsNamed('PutParameter')).toHaveLength(puts);
      expect(targetSecrets.mock).toReceiveCommandTimes(CreateSecretCommand, 3);
    });

    it('keeps changed values without overwrite, and writes them back with it', async () => {
      await restore();
      await target.putParameter({ Name: '/orders/prod/db/password', Value: 'changed-by-hand', Type: 'SecureString', Overwrite: true });
      await targetSecrets.client.send(new PutSecretValueCommand({ SecretId: 'orders/prod/api-key', SecretString: 'rotated-since' }));
      await writeFile(path.join(directory, 'orders-prod.template'), '{}');

      const dry = await restore({ dryRun: true });
      const changed = dry.items.filter((i) => i.status === 'changed').map((i) => `${i.type} ${i.name}`);
      expect(changed).toEqual(['ssm-parameter /orders/prod/db/password', 'secret orders/prod/api-key', 'stack orders-prod']);
      expect(dry.items.filter((i) => i.status === 'changed').every((i) => i.action === 'kept')).toBe(true);

      const kept = await restore();
      expect(kept.items.filter((i) => i.action === 'kept')).toHaveLength(3);
      expect(target.parameters.get('/orders/prod/db/password')?.value).toBe('changed-by-hand');
      expect(targetSecrets.stages('orders/prod/api-key').AWSCURRENT).toBe('rotated-since');
      expect(await readFile(path.join(directory, 'orders-prod.template'), 'utf8')).toBe('{}');

      const overwritten = await restore({ overwrite: true });
      expect(overwritten.items.filter((i) => i.action === 'overwrite').map((i) => i.name)).toEqual(['/orders/prod/db/password', 'orders/prod/api-key', 'orders-prod']);
      expect(target.callsNamed('PutParameter').at(-1)).toEqual({ Name: '/orders/prod/db/password', Value: DB_PASSWORD, Type: 'SecureString', Overwrite: true, DataType: 'text', KeyId: KEY });
      expect(targetSecrets.mock).toReceiveCommandWith(PutSecretValueCommand, { SecretId: 'orders/prod/api-key', SecretString: API_KEY, VersionStages: ['AWSCURRENT', 'release-42'] });
      expect(targetSecrets.stages('orders/prod/api-key')).toEqual({ AWSCURRENT: API_KEY, 'release-42': API_KEY, AWSPREVIOUS: API_KEY_OLD });
      expect(await readFile(path.join(directory, 'orders-prod.template'), 'utf8')).toBe(TEMPLATE);
    });

    it('with overwrite, adds a secret version only where the target holds its labels with other values', async () => {
      await restore();
      // Only the custom label moved: AWSCURRENT and AWSPREVIOUS are still as backed up.
      const secret = targetSecrets.secrets.get('orders/prod/api-key')!;
      const other = await targetSecrets.client.send(new PutSecretValueCommand({ SecretId: 'orders/prod/api-key', SecretString: 'release-43', VersionStages: ['release-42'] }));
      expect(secret.versions.get(other.VersionId!)?.stages).toEqual(['release-42']);
      const before = targetSecrets.mock.commandCalls(PutSecretValueCommand).length;

      await restore({ overwrite: true });
      const puts = targetSecrets.mock.commandCalls(PutSecretValueCommand).slice(before).map((call) => call.args[0].input);
      // The current version is written again for its label; that moves AWSPREVIOUS, so the older one follows.
      expect(puts).toEqual([
        { SecretId: 'orders/prod/api-key', SecretString: API_KEY, VersionStages: ['AWSCURRENT', 'release-42'] },
        { SecretId: 'orders/prod/api-key', SecretString: API_KEY_OLD, VersionStages: ['AWSPREVIOUS'] },
      ]);
      expect(targetSecrets.stages('orders/prod/api-key')).toEqual({ AWSCURRENT: API_KEY, 'release-42': API_KEY, AWSPREVIOUS: API_KEY_OLD });
    });

    it('restores nothing from a damaged payload', async () => {
      const key = payloadKey(SOURCE, manifest.backupId);
      const stored = Buffer.from(await store.getObject(key));
      stored.writeUInt8(stored.readUInt8(stored.length - 40) ^ 0xff, stored.length - 40);
      await writeFile(path.join(vault.root, key), stored);

      await expect(restore()).rejects.toThrow();
      expect(target.callsNamed('PutParameter')).toEqual([]);
      expect(targetSecrets.mock).not.toReceiveCommand(CreateSecretCommand);
      expect(await readdir(directory)).toEqual([]);
    });
  });

  it('a source that cannot be read fails the backup, names it, and leaves no payload', async () => {
    await expect(
      runConfigBackup({ sourceId: SOURCE, selection: { ...SELECTION, stacks: ['gone'] }, region: REGION, clients: { ssm, secrets: secrets.client, cloudFormation }, store, keyring }),
    ).rejects.toThrow(new ConfigReadFailedError('Reading CloudFormation stack gone failed: ValidationError: Stack with id gone does not exist'));
    const left: string[] = [];
    for await (const key of store.list('backups/')) left.push(key);
    expect(left).toEqual([]);
  });

  it('refuses a manifest of another kind or a newer major version', () => {
    expect(() => parseConfigManifest(JSON.stringify({ format: 'lifeboat-backup', formatVersion: '1.0', kind: 'dump' }), 'm.json')).toThrow(
      'Manifest m.json is a dump backup, not a configuration backup (kind "config")',
    );
    expect(() => parseConfigManifest(JSON.stringify({ format: 'lifeboat-backup', formatVersion: '2.0', kind: 'config' }), 'm.json')).toThrow(/format version 2.0/);
  });
});

describe('configuration restore failures', () => {
  it('names the item that failed and every item written before it', async () => {
    const vault = await tempVault();
    const keyring = testKeyring();
    const ssm = new FakeSsm().put('/a/one', 'String', '1').put('/a/two', 'SecureString', 'two-secret').put('/a/three', 'String', '3');
    try {
      const manifest = await runConfigBackup({ sourceId: 'cfg', selection: { ssmPaths: ['/a/'], secretPrefixes: [], secretTags: [], stacks: [] }, region: REGION, clients: { ssm }, store: vault.store, keyring });
      const target = new FakeSsm();
      const put = target.putParameter.bind(target);
      target.putParameter = async (input) => {
        if (input.Name === '/a/three') throw Object.assign(new Error('User is not authorized to perform: ssm:PutParameter'), { name: 'AccessDeniedException' });
        return put(input);
      };
      const failed = restoreConfigBackup({ store: vault.store, manifest, keyring, targets: { ssm: target } });
      await expect(failed).rejects.toThrow(
        new ConfigRestoreFailedError('Restoring ssm-parameter /a/three failed: AccessDeniedException: User is not authorized to perform: ssm:PutParameter; already written: ssm-parameter /a/one'),
      );
      await expect(failed).rejects.not.toThrow(/two-secret/);
    } finally {
      await vault.remove();
    }
  });
});

describe('configuration restore of secrets', () => {
  it('skips a secret whose only version was pending, and names a target it cannot read', async () => {
    const vault = await tempVault();
    const keyring = testKeyring();
    const secrets = new FakeSecretsManager();
    secrets.add('app/pending-only', [{ value: 'in-flight', stages: ['AWSPENDING'] }]);
    secrets.add('app/db', [{ value: 'db-secret-value', stages: ['AWSCURRENT'] }]);
    const target = new FakeSecretsManager();
    try {
      const manifest = await runConfigBackup({ sourceId: 'cfg', selection: { ssmPaths: [], secretPrefixes: ['app/'], secretTags: [], stacks: [] }, region: REGION, clients: { secrets: secrets.client }, store: vault.store, keyring });
      const result = await restoreConfigBackup({ store: vault.store, manifest, keyring, targets: { secrets: target.client } });
      expect(result.items).toEqual([
        { type: 'secret', name: 'app/db', status: 'added', action: 'write' },
        { type: 'secret', name: 'app/pending-only', status: 'not-restored', action: 'skipped', note: 'its only version was AWSPENDING (a rotation in flight), which is not restored' },
      ]);
      expect(target.secrets.has('app/pending-only')).toBe(false);

      target.mock.on(DescribeSecretCommand).rejects(Object.assign(new Error('User is not authorized to perform: secretsmanager:DescribeSecret'), { name: 'AccessDeniedException' }));
      await expect(restoreConfigBackup({ store: vault.store, manifest, keyring, targets: { secrets: target.client }, dryRun: true })).rejects.toThrow(
        new ConfigRestoreFailedError('Reading secret app/db in the target failed: AccessDeniedException: User is not authorized to perform: secretsmanager:DescribeSecret'),
      );
    } finally {
      secrets.mock.restore();
      target.mock.restore();
      await vault.remove();
    }
  });
});

describe('describeAwsError', () => {
  it('keeps the error name and message but never a value AWS quotes back', () => {
    const error = Object.assign(new Error("1 validation error detected: Value 'hunter2-it's-long' at 'value' failed to satisfy constraint: Member must have length less than or equal to 4096"), { name: 'ValidationException' });
    expect(describeAwsError(error)).toBe("ValidationException: 1 validation error detected: Value (not shown) at 'value' failed to satisfy constraint: Member must have length less than or equal to 4096");
    const list = Object.assign(new Error("Value [a, b] at 'tags' failed to satisfy constraint"), { name: 'ValidationException' });
    expect(describeAwsError(list)).toBe("ValidationException: Value (not shown) at 'tags' failed to satisfy constraint");
  });
});
