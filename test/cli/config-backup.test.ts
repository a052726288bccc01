import 'aws-sdk-client-mock-vitest/extend';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConfigClientsProvider } from '../../cli/configCommands.ts';
import { FakeCloudFormation, FakeSecretsManager, FakeSsm } from '../functions/configset/fakes.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const PASSWORD = 'cli-secure-string-value-41';

describe('lifeboat backup / restore / verify of configuration', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let vault: string;
  let keyFile: string;
  let source: { ssm: FakeSsm; secrets: FakeSecretsManager; cloudFormation: FakeCloudFormation };
  let target: { ssm: FakeSsm; secrets: FakeSecretsManager };
  const asked: { region: string; needs: unknown }[] = [];
  // Region eu-west-1 is the source account's, eu-central-1 the target's.
  const clients: ConfigClientsProvider = async (region, needs) => {
    asked.push({ region, needs });
    if (region === 'eu-west-1') return { ssm: source.ssm, secrets: source.secrets.client, cloudFormation: source.cloudFormation };
    return { ssm: target.ssm, secrets: target.secrets.client };
  };
  const deps = { configClients: clients };

  beforeEach(async () => {
    asked.length = 0;
    dir = await tempDir('configkind');
    vault = join(dir.path, 'vault');
    keyFile = join(dir.path, 'key.json');
    expect((await lifeboat(['keygen', '--key-file', keyFile, '-q'])).code).toBe(0);
    source = {
      ssm: new FakeSsm().put('/shop/prod/db-password', 'SecureString', PASSWORD).put('/shop/prod/db-host', 'String', 'db.internal'),
      secrets: new FakeSecretsManager(),
      cloudFormation: new FakeCloudFormation().add('shop-prod', '{"Resources":{}}', { Env: 'prod', Token: 'x' }, ['Token']),
    };
    source.secrets.add('shop/prod/stripe', [{ value: 'sk_live_cli_123', stages: ['AWSCURRENT'] }]);
    target = { ssm: new FakeSsm(), secrets: new FakeSecretsManager() };
  });
  afterEach(async () => {
    vi.useRealTimers();
    source.secrets.mock.restore();
    target.secrets.mock.restore();
    await dir.remove();
  });

  const backUp = () =>
    lifeboat(
      ['backup', '--vault', vault, '--key-file', keyFile, '--source-id', 'shop-config', '--region', 'eu-west-1', '--ssm-path', '/shop/prod/', '--secret-prefix', 'shop/prod/', '--stack', 'shop-prod'],
      { deps },
    );

  it('backs up by flags, verifies, dry-runs a restore into another Region, then restores', async () => {
    const backup = await backUp();
    expect(backup.stderr).toContain('Backed up 2 SSM parameters (1 SecureString), 1 secrets (1 versions), 1 stacks from eu-west-1 as shop-config/');
    expect(backup.code).toBe(0);
    const backupId = backup.stdout.trim();
    expect(backupId).toMatch(/^\d{8}T\d{6}Z-[a-z2-7]{8}$/);
    expect(asked[0]).toEqual({ region: 'eu-west-1', needs: { ssm: true, secrets: true, cloudFormation: true } });

    const verified = await lifeboat(['verify', backupId, '--vault', vault, '--key-file', keyFile], { deps });
    expect(verified.stdout).toBe(`verified shop-config/${backupId}: 4 items, every hash matches (2 SSM parameters (1 SecureString), 1 secrets (1 versions), 1 stacks)\n`);
    expect(verified.code).toBe(0);

    const stacks = join(dir.path, 'stacks');
    const dry = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--region', 'eu-central-1', '--stacks-dir', stacks, '--dry-run'], { deps });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(
      [
        'STATUS  ACTION       TYPE           NAME',
        'added   would write  ssm-parameter  /shop/prod/db-host',
        'added   would write  ssm-parameter  /shop/prod/db-password',
        'added   would write  secret         shop/prod/stripe',
        'added   would write  stack          shop-prod',
        '',
      ].join('\n'),
    );
    expect(dry.stderr).toContain('stack shop-prod: parameter Token is NoEcho');
    expect(target.ssm.parameters.size).toBe(0);
    expect(target.secrets.mock).not.toReceiveCommand(CreateSecretCommand);

    const restored = await lifeboat(['restore', 'latest', '--vault', vault, '--key-file', keyFile, '--region', 'eu-central-1', '--stacks-dir', stacks, '--parameter-kms-key', 'alias/shop'], { deps });
    expect(restored.code).toBe(0);
    expect(target.ssm.callsNamed('PutParameter')).toContainEqual({ Name: '/shop/prod/db-password', Value: PASSWORD, Type: 'SecureString', Overwrite: false, DataType: 'text', KeyId: 'alias/shop' });
    expect(target.secrets.stages('shop/prod/stripe')).toEqual({ AWSCURRENT: 'sk_live_cli_123' });
    expect(await readFile(join(stacks, 'shop-prod.template'), 'utf8')).toBe('{"Resources":{}}');
    for (const output of [backup, verified, dry, restored]) expect(output.stdout + output.stderr).not.toContain(PASSWORD);
  });

  it('lists and shows a configuration backup: kind, item counts, sizes and the item list, never a value', async () => {
    // Backup ids have one-second resolution: the two backups are an hour apart on a frozen clock.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-01T03:00:00Z'));
    const first = (await backUp()).stdout.trim();
    source.ssm.put('/shop/prod/db-password', 'SecureString', 'rotated-cli-value-77', 2);
    vi.setSystemTime(new Date('2026-12-01T04:00:00Z'));
    const second = (await backUp()).stdout.trim();
    vi.useRealTimers();
    expect(first).toMatch(/^20261201T030000Z-/);
    expect(second).toMatch(/^20261201T040000Z-/);

    const listed = await lifeboat(['list', '--vault', vault]);
    expect(listed.code).toBe(0);
    expect(listed.stderr).toBe('');
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+SOURCE\s+KIND\s+ENGINE\s+COMPLETED AT\s+RAW\s+STORED\s+STATUS$/);
    expect(lines.slice(1).map((line) => line.split(/\s{2,}/)[0])).toEqual([second, first]);
    expect(lines[1]).toMatch(new RegExp(`^${second}\\s+shop-config\\s+config\\s+2 parameters, 1 secret, 1 stack\\s+2026-12-01 04:00:00Z\\s+[\\d.]+ K?i?B\\s+[\\d.]+ K?i?B\\s+unverified$`));

    const json = await lifeboat(['list', '--vault', vault, '--json']);
    const { backups, unreadable } = JSON.parse(json.stdout) as { backups: Record<string, unknown>[]; unreadable: unknown[] };
    expect(unreadable).toEqual([]);
    expect(backups[0]).toMatchObject({
      backupId: second,
      sourceId: 'shop-config',
      kind: 'config',
      engine: null,
      database: 'eu-west-1',
      items: { ssmParameters: 2, secureStrings: 1, secrets: 1, secretVersions: 1, stacks: 1 },
      status: { state: 'unverified' },
    });
    expect(backups[0]!['rawBytes']).toBeGreaterThan(0);
    expect(backups[0]!['storedBytes']).toBeGreaterThan(0);

    const typo = await lifeboat(['list', '--vault', vault, '--source', 'shop-confg']);
    expect(typo.stdout).toBe(`No backups of source shop-confg in ${vault}; it holds backups of shop-config\n`);

    const limited = await lifeboat(['list', '--vault', vault, '--limit', '1', '--json']);
    expect((JSON.parse(limited.stdout) as { backups: { backupId: string }[] }).backups.map((b) => b.backupId)).toEqual([second]);

    const shown = await lifeboat(['show', first, '--vault', vault]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^Kind\s+config$/m);
    expect(shown.stdout).toMatch(/^Region\s+eu-west-1$/m);
    expect(shown.stdout).toMatch(/^Selection\s+ssm path \/shop\/prod\/, secret prefix shop\/prod\/, stack shop-prod$/m);
    expect(shown.stdout).toContain('Items: 2 SSM parameters (1 SecureString), 1 secrets (1 versions), 1 stacks');
    expect(shown.stdout).toMatch(/^TYPE\s+NAME\s+VERSIONS$/m);
    expect(shown.stdout).toMatch(/^ssm-parameter\s+\/shop\/prod\/db-host\s+String version 1$/m);
    expect(shown.stdout).toMatch(/^ssm-parameter\s+\/shop\/prod\/db-password\s+SecureString version 1$/m);
    expect(shown.stdout).toMatch(/^secret\s+shop\/prod\/stripe\s+\S+ \(AWSCURRENT\)$/m);
    expect(shown.stdout).toMatch(/^stack\s+shop-prod\s+parameters Env, Token \(NoEcho\)$/m);
    const newest = await lifeboat(['show', 'latest', '--vault', vault]);
    expect(newest.stdout).toMatch(/^ssm-parameter\s+\/shop\/prod\/db-password\s+SecureString version 2$/m);

    const shownJson = await lifeboat(['show', second, '--vault', vault, '--json']);
    const parsed = JSON.parse(shownJson.stdout) as { manifest: { kind: string; content: { items: unknown[] } }; status: { state: string } };
    expect(parsed.manifest.kind).toBe('config');
    expect(parsed.manifest.content.items).toHaveLength(4);
    expect(parsed.status).toEqual({ state: 'unverified' });

    for (const output of [listed, json, shown, newest, shownJson]) {
      for (const value of [PASSWORD, 'rotated-cli-value-77', 'db.internal', 'sk_live_cli_123']) expect(output.stdout + output.stderr).not.toContain(value);
    }
  });

  it('keeps a changed value unless --overwrite is given', async () => {
    const backupId = (await backUp()).stdout.trim();
    target.ssm.put('/shop/prod/db-password', 'SecureString', 'changed-in-target');
    const restoreArgs = ['restore', backupId, '--vault', vault, '--key-file', keyFile, '--region', 'eu-central-1'];

    const kept = await lifeboat(restoreArgs, { deps });
    expect(kept.code).toBe(0);
    expect(kept.stdout).toMatch(/^changed\s+kept\s+ssm-parameter\s+\/shop\/prod\/db-password$/m);
    expect(kept.stderr).toContain('1 changed item kept as the target has it; give --overwrite to write it');
    expect(target.ssm.parameters.get('/shop/prod/db-password')?.value).toBe('changed-in-target');

    const overwritten = await lifeboat([...restoreArgs, '--overwrite'], { deps });
    expect(overwritten.code).toBe(0);
    expect(overwritten.stdout).toMatch(/^changed\s+overwrite\s+ssm-parameter\s+\/shop\/prod\/db-password$/m);
    expect(target.ssm.parameters.get('/shop/prod/db-password')?.value).toBe(PASSWORD);
    expect(target.secrets.mock).not.toReceiveCommand(PutSecretValueCommand);
  });

  it('names what is wrong with the flags', async () => {
    const noId = await lifeboat(['backup', '--vault', vault, '--key-file', keyFile, '--ssm-path', '/shop/'], { deps });
    expect(noId.code).toBe(2);
    expect(errorLine(noId.stderr)).toEqual({ name: 'UsageError', message: '--source-id is required for a configuration backup (see lifeboat backup --help)' });

    const relative = await lifeboat(['backup', '--vault', vault, '--key-file', keyFile, '--source-id', 'x', '--ssm-path', 'shop/'], { deps });
    expect(errorLine(relative.stderr)?.message).toBe('--ssm-path: expected a path starting with "/", got "shop/" (see lifeboat backup --help)');

    const both = await lifeboat(['backup', '--vault', vault, '--key-file', keyFile, '--source-id', 'x', '--stack', 's', '--source', 'postgres://u@h/db'], { deps });
    expect(errorLine(both.stderr)?.message).toMatch(/^give either --source \(a database\) or the configuration flags/);

    const backupId = (await backUp()).stdout.trim();
    const flags = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--region', 'eu-central-1', '--dry-run', '--overwrite'], { deps });
    expect(errorLine(flags.stderr)).toEqual({ name: 'UsageError', message: 'give either --dry-run (compare only) or --overwrite (write changed items too), not both (see lifeboat restore --help)' });
    const noRegion = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile], { deps });
    expect(errorLine(noRegion.stderr)?.message).toBe('--region is required for configuration backups (or set AWS_REGION) (see lifeboat restore --help)');
  });
});
