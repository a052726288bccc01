/**
 * The config backup function's core and the verification of a configuration backup (functions/lib/verify/configSet.ts)
 * on a local vault: the result the state machine keeps, the verdicts (checksum, decrypt, structure) recorded signed and
 * bound to the manifest, and the operator's errors (an unknown source, another key, no backup) that record nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backUpConfig, ConfigSourceSchema, type ConfigBackupDeps } from '../../../functions/config-backup/backup.ts';
import { configBackupDepsFromEnv } from '../../../functions/config-backup/env.ts';
import { createEncryptStream } from '../../../functions/lib/crypto/envelope.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { readAnyManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, VERIFICATIONS_DIR, backupPrefix } from '../../../functions/lib/vault/layout.ts';
import { readLatestVerification, verificationBinding } from '../../../functions/lib/vault/verification.ts';
import { verifyConfigSetBackup } from '../../../functions/lib/verify/configSet.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { FakeCloudFormation, FakeSecretsManager, FakeSsm, REGION } from '../configset/fakes.ts';

const SOURCE = 'orders-config';
const ENTRY = { id: SOURCE, kind: 'config', selection: { ssmPaths: ['/orders/prod/'], secretPrefixes: ['orders/prod/'], stacks: ['orders-app'] } };

describe('the config backup function and the verification of its backups', () => {
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let secrets: FakeSecretsManager;
  let deps: ConfigBackupDeps;
  const keyring = testKeyring('k-config');
  const signer = localHmacSigner(randomBytes(32));

  beforeEach(async () => {
    vault = await tempVault();
    const ssm = new FakeSsm().put('/orders/prod/db/host', 'String', 'db.internal', 3).put('/orders/prod/db/password', 'SecureString', 'hunter2-never-logged', 1);
    secrets = new FakeSecretsManager();
    secrets.add('orders/prod/api-key', [{ value: 'k-current', stages: ['AWSCURRENT'] }]);
    deps = {
      sources: [ConfigSourceSchema.parse(ENTRY)],
      clients: { ssm, secrets: secrets.client, cloudFormation: new FakeCloudFormation().add('orders-app', '{}', { Env: 'prod' }) },
      region: REGION,
      store: vault.store,
      keyring,
      now: () => new Date('2026-12-03T02:15:00Z'),
    };
  });
  afterEach(async () => {
    secrets.mock.restore();
    await vault.remove();
  });

  const seal = async (plain: Buffer, context: Record<string, string>): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of Readable.from([plain]).pipe(createEncryptStream(keyring, context))) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const verify = (overrides: Partial<Parameters<typeof verifyConfigSetBackup>[0]> = {}) =>
    verifyConfigSetBackup({ store: vault.store, keyring, sourceId: SOURCE, backupId: '', signer, now: () => new Date('2026-12-03T02:20:00Z'), ...overrides });

  it('returns what the state machine keeps (a dump\'s fields, kind config), no value; the verification is signed and bound to the manifest', async () => {
    const result = await backUpConfig({ sourceId: SOURCE, trigger: 'schedule' }, deps);
    const manifest = await readAnyManifest(vault.store, SOURCE, result.backupId);
    expect(manifest.kind).toBe('config');
    expect(result).toEqual({
      sourceId: SOURCE,
      backupId: expect.stringMatching(/^20261203T021500Z-[a-z2-7]{8}$/),
      kind: 'config',
      rawBytes: manifest.payload!.rawBytes,
      storedBytes: manifest.payload!.storedBytes,
      sha256: manifest.payload!.sha256,
      startedAt: '2026-12-03T02:15:00.000Z',
      completedAt: manifest.completedAt,
      items: 4,
      counts: { ssmParameters: 2, secureStrings: 1, secrets: 1, secretVersions: 1, stacks: 1 },
    });
    expect(JSON.stringify(result)).not.toContain('hunter2');

    const verdict = await verify({ backupId: result.backupId });
    expect(verdict).toMatchObject({ status: 'verified', ...verificationBinding(manifest), payloadSha256: result.sha256 });
    expect(verdict.checks.map((c) => [c.name, c.status, c.reason])).toEqual([
      ['checksum', 'passed', undefined],
      ['decrypt', 'passed', undefined],
      ['structure', 'passed', '4 items, every hash matches (2 parameters, 1 secrets, 1 stacks)'],
    ]);
    expect(await readLatestVerification(vault.store, SOURCE, result.backupId, { authenticator: signer, manifest })).toMatchObject({ status: 'verified', authenticated: true });
  });

  it('refuses an unknown source and a bad event by name, and writes nothing', async () => {
    await expect(backUpConfig({ sourceId: 'orders-db' }, deps)).rejects.toThrow(/^sourceId: unknown source 'orders-db'; this function backs up orders-config$/);
    await expect(backUpConfig({}, deps)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/^Invalid config backup event: sourceId/) });
    const written = [];
    for await (const key of vault.store.list('backups/')) written.push(key);
    expect(written).toEqual([]);
  });

  it('names a damaged payload (checksum) and a missing one, and skips what could not be checked after it', async () => {
    const { backupId } = await backUpConfig({ sourceId: SOURCE }, deps);
    const file = path.join(vault.root, payloadKey(SOURCE, backupId));
    const stored = await readFile(file);
    stored[stored.length - 5] = stored[stored.length - 5]! ^ 0xff;
    await writeFile(file, stored);
    const damaged = await verify({ backupId });
    expect(damaged.status).toBe('failed');
    expect(damaged.reason).toMatch(/^checksum: payload backups\/orders-config\/\S+\/payload holds \d+ bytes with SHA-256 [0-9a-f]{64}; the manifest records \d+ bytes with [0-9a-f]{64}$/);
    expect(damaged.checks.map((c) => [c.name, c.status])).toEqual([['checksum', 'failed'], ['decrypt', 'skipped'], ['structure', 'skipped']]);
    expect(damaged.checks[1]!.reason).toBe('not checked: the stored bytes are not the ones the manifest records');

    await rm(file);
    const missing = await verify({ backupId });
    expect(missing.reason).toBe(`checksum: payload ${payloadKey(SOURCE, backupId)} is missing from ${vault.store.location}`);
    expect(missing.checks.map((c) => [c.name, c.status, c.reason])).toEqual([
      ['checksum', 'failed', `payload ${payloadKey(SOURCE, backupId)} is missing from ${vault.store.location}`],
      ['decrypt', 'skipped', 'not checked: the payload is missing'],
      ['structure', 'skipped', 'not checked: the payload is missing'],
    ]);
  });

  it('names a payload that does not decrypt under its recorded context (decrypt), and one that decrypts to something that is not its stream (structure)', async () => {
    const { backupId } = await backUpConfig({ sourceId: SOURCE }, deps);
    const manifestFile = path.join(vault.root, manifestKey(SOURCE, backupId));
    const original = await readFile(manifestFile, 'utf8');
    const manifest = JSON.parse(original);
    manifest.encryption.encryptionContext['lifeboat:backup'] = '20261203T021500Z-aaaaaaaa';
    await writeFile(manifestFile, JSON.stringify(manifest));
    const context = await verify({ backupId });
    expect(context.checks.map((c) => [c.name, c.status])).toEqual([['checksum', 'passed'], ['decrypt', 'failed'], ['structure', 'skipped']]);
    expect(context.checks[2]!.reason).toBe('not checked: the payload did not decrypt');

    // Sealed with the right key and context, but not a zstd stream of items.
    const restored = JSON.parse(original);
    const sealed = await seal(Buffer.from('{"record":"header"}\nnot zstd at all'), restored.encryption.encryptionContext);
    await writeFile(path.join(vault.root, payloadKey(SOURCE, backupId)), sealed);
    restored.payload.storedBytes = sealed.length;
    restored.payload.sha256 = createHash('sha256').update(sealed).digest('hex');
    await writeFile(manifestFile, JSON.stringify(restored));
    const garbage = await verify({ backupId });
    expect(garbage.checks.map((c) => [c.name, c.status])).toEqual([['checksum', 'passed'], ['decrypt', 'passed'], ['structure', 'failed']]);
    expect(garbage.reason).toMatch(/^structure: /);
  });

  it('makes no verdict when the vault fails while the payload is read (the store\'s error, nothing recorded), and dates a result by the system clock when given none', async () => {
    const { backupId } = await backUpConfig({ sourceId: SOURCE }, deps);
    let reads = 0;
    const failing = new Proxy(vault.store, {
      get(target, property) {
        if (property !== 'getStream') {
          const value = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (key: string) => {
          reads += 1;
          if (reads === 1) return target.getStream(key);
          return Readable.from((async function* () {
            yield Buffer.alloc(16);
            throw Object.assign(new Error('connection reset while reading the payload'), { name: 'StoreReadFailedError' });
          })());
        };
      },
    });
    await expect(verifyConfigSetBackup({ store: failing, keyring, sourceId: SOURCE, backupId, signer })).rejects.toThrow(/connection reset while reading the payload/);
    const results = [];
    for await (const key of vault.store.list(`${backupPrefix(SOURCE, backupId)}${VERIFICATIONS_DIR}/`)) results.push(key);
    expect(results).toEqual([]);

    const before = Date.now();
    const result = await verifyConfigSetBackup({ store: vault.store, keyring, sourceId: SOURCE, backupId });
    expect(Date.parse(result.startedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(result.completedAt)).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('says "1 item" of a backup of one, and records a completion no earlier than its start when the clock steps back', async () => {
    deps = { ...deps, sources: [ConfigSourceSchema.parse({ id: SOURCE, kind: 'config', selection: { stacks: ['orders-app'] } })] };
    const { backupId } = await backUpConfig({ sourceId: SOURCE }, deps);
    const times = [new Date('2026-12-03T02:20:00Z'), new Date('2026-12-03T02:19:00Z')];
    const result = await verify({ backupId, now: () => times.shift()! });
    expect(result.checks[2]!.reason).toBe('1 item, every hash matches (0 parameters, 0 secrets, 1 stacks)');
    expect([result.startedAt, result.completedAt]).toEqual(['2026-12-03T02:20:00.000Z', '2026-12-03T02:20:00.000Z']);
    for (const check of result.checks) expect(check.durationMs).toBeLessThan(60_000);
  });

  it('names an item that does not match its manifest entry (structure), the stored bytes being intact', async () => {
    const { backupId } = await backUpConfig({ sourceId: SOURCE }, deps);
    const file = path.join(vault.root, manifestKey(SOURCE, backupId));
    const manifest = JSON.parse(await readFile(file, 'utf8'));
    manifest.content.items[1].sha256 = '0'.repeat(64);
    await writeFile(file, JSON.stringify(manifest));
    const result = await verify({ backupId });
    expect(result.checks.map((c) => [c.name, c.status])).toEqual([['checksum', 'passed'], ['decrypt', 'passed'], ['structure', 'failed']]);
    expect(result.reason).toBe(`structure: Backup ${SOURCE}/${backupId}: ssm-parameter /orders/prod/db/password does not match its hash in the manifest`);
  });

  it('makes no verdict of another key (named otherwise, or the same name with other material) or of a backup that is not there', async () => {
    const { backupId } = await backUpConfig({ sourceId: SOURCE }, deps);
    await expect(verify({ backupId, keyring: testKeyring('k-other') })).rejects.toMatchObject({ name: 'WrongKeyError', message: expect.stringMatching(/nothing was verified or recorded/), cause: expect.any(Error) });
    await expect(verify({ backupId, keyring: testKeyring('k-config') })).rejects.toMatchObject({
      name: 'WrongKeyError',
      cause: expect.any(Error),
      message: `The key given cannot unwrap the data key of backup ${backupId}, whose stored bytes match its manifest; nothing was recorded`,
    });
    await expect(verify({ backupId: '20261203T021500Z-aaaaaaaa' })).rejects.toMatchObject({ name: 'BackupNotFoundError' });
    const results = [];
    for await (const key of vault.store.list(`${backupPrefix(SOURCE, backupId)}${VERIFICATIONS_DIR}/`)) results.push(key);
    expect(results).toEqual([]);
  });

  it('builds its dependencies from the environment the construct gives it, naming what is missing or malformed', () => {
    const env = { VAULT_BUCKET: 'lifeboat-vault', VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/abc', AWS_REGION: 'eu-west-1', LIFEBOAT_SOURCES: JSON.stringify([ENTRY]) };
    const built = configBackupDepsFromEnv(env);
    expect(built.region).toBe('eu-west-1');
    expect(built.sources).toEqual([{ ...ENTRY, selection: { ...ENTRY.selection, secretTags: [] } }]);
    expect(() => configBackupDepsFromEnv({ ...env, LIFEBOAT_SOURCES: undefined })).toThrow(/LIFEBOAT_SOURCES/);
    expect(() => configBackupDepsFromEnv({ ...env, LIFEBOAT_SOURCES: '[{"id":"x","kind":"config"}]' })).toThrow(/LIFEBOAT_SOURCES.*selection/);
  });
});
