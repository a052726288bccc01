/**
 * Restores a configuration backup into a Region (the same or another): SSM parameters with PutParameter
 * (a SecureString stays a SecureString, under the target's KMS key), secrets as new versions carrying
 * the stages they had, stacks as files (template + `aws cloudformation create-stack --cli-input-json`
 * document) in a directory. Every item is first compared with the target: added, changed or unchanged.
 * A changed item is written only with `overwrite`; `dryRun` writes nothing. The whole payload is
 * verified before the first write, so a damaged backup restores nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { ConfigError } from '../errors.ts';
import type { VaultStore } from '../vault/store.ts';
import type { SsmApi } from './apis.ts';
import { ConfigRestoreFailedError, describeAwsError } from './errors.ts';
import type { ConfigItem, ConfigItemType, ParameterItem, SecretItem, SecretVersion, StackItem } from './items.ts';
import type { ConfigManifest } from './manifest.ts';
import { readConfigItems, verifyConfigBackup } from './read.ts';

export type ItemStatus = 'added' | 'changed' | 'unchanged' | 'not-restored';
/** What the restore did (or, in a dry run, would do) with one item. */
export type ItemAction = 'write' | 'overwrite' | 'kept' | 'none' | 'skipped';

export interface ItemOutcome {
  readonly type: ConfigItemType;
  readonly name: string;
  readonly status: ItemStatus;
  readonly action: ItemAction;
  /** Why, in words, without any value. */
  readonly note?: string;
}

export interface ConfigTargets {
  readonly ssm?: SsmApi;
  readonly secrets?: SecretsManagerClient;
  /** Where stacks are written as files; without it stacks are not restored (and listed as such). */
  readonly stacksDirectory?: string;
}

export interface ConfigRestoreOptions {
  readonly store: VaultStore;
  readonly manifest: ConfigManifest;
  readonly keyring: BackupKeyring;
  readonly targets: ConfigTargets;
  /** SecureString parameters are written under this KMS key. @default the target account's `alias/aws/ssm` */
  readonly parameterKmsKeyId?: string;
  /** New secrets are created under this KMS key. @default the target account's `aws/secretsmanager` */
  readonly secretKmsKeyId?: string;
  /** Write changed items too. @default false: a changed item is kept as the target has it */
  readonly overwrite?: boolean;
  /** Compare only. @default false */
  readonly dryRun?: boolean;
}

export interface ConfigRestoreResult {
  readonly dryRun: boolean;
  readonly items: readonly ItemOutcome[];
  /** NoEcho stack parameters, whose values were never readable: the operator supplies them. */
  readonly noEchoParameters: readonly { readonly stack: string; readonly parameter: string }[];
}

export async function restoreConfigBackup(options: ConfigRestoreOptions): Promise<ConfigRestoreResult> {
  const { store, manifest, keyring, targets } = options;
  const dryRun = options.dryRun ?? false;
  const overwrite = options.overwrite ?? false;
  const { counts } = manifest.content;
  if (counts.ssmParameters > 0 && !targets.ssm) throw new ConfigError('This backup holds SSM parameters, but no SSM client was given for the target');
  if (counts.secrets > 0 && !targets.secrets) throw new ConfigError('This backup holds secrets, but no Secrets Manager client was given for the target');
  // A damaged payload restores nothing: every hash and the count are checked before the first write.
  await verifyConfigBackup(store, manifest, keyring);

  const outcomes: ItemOutcome[] = [];
  const noEchoParameters: { stack: string; parameter: string }[] = [];
  for await (const { item } of readConfigItems(store, manifest, keyring)) {
    if (item.record === 'stack') for (const p of item.parameters) if (p.noEcho) noEchoParameters.push({ stack: item.name, parameter: p.key });
    let status: ItemStatus;
    try {
      status = await compare(item, options);
    } catch (error) {
      throw new ConfigRestoreFailedError(`Reading ${item.record} ${item.name} in the target failed: ${describeAwsError(error)}`, { cause: error });
    }
    let action: ItemAction;
    let note: string | undefined;
    if (status === 'not-restored') {
      action = 'skipped';
      note = item.record === 'stack' ? 'stacks are written to a directory: none was given' : 'its only version was AWSPENDING (a rotation in flight), which is not restored';
    } else if (status === 'unchanged') {
      action = 'none';
    } else if (status === 'changed' && !overwrite) {
      action = 'kept';
      note = 'the target differs; not overwritten without overwrite';
    } else {
      action = status === 'added' ? 'write' : 'overwrite';
      if (!dryRun) {
        try {
          await write(item, status === 'changed', options);
        } catch (error) {
          const done = outcomes.filter((o) => o.action === 'write' || o.action === 'overwrite').map((o) => `${o.type} ${o.name}`);
          throw new ConfigRestoreFailedError(
            `Restoring ${item.record} ${item.name} failed: ${describeAwsError(error)}` +
              (done.length ? `; already written: ${done.join(', ')}` : '; nothing was written before it'),
            { cause: error },
          );
        }
      }
    }
    outcomes.push({ type: item.record, name: item.name, status, action, ...(note ? { note } : {}) });
  }
  return { dryRun, items: outcomes, noEchoParameters };
}

async function compare(item: ConfigItem, options: ConfigRestoreOptions): Promise<ItemStatus> {
  switch (item.record) {
    case 'ssm-parameter':
      return compareParameter(item, options.targets.ssm!);
    case 'secret':
      return restorableVersions(item).length === 0 ? 'not-restored' : compareSecret(item, options.targets.secrets!);
    case 'stack':
      return options.targets.stacksDirectory === undefined ? 'not-restored' : compareStackFiles(item, options.targets.stacksDirectory);
  }
}

async function write(item: ConfigItem, replace: boolean, options: ConfigRestoreOptions): Promise<void> {
  switch (item.record) {
    case 'ssm-parameter':
      return writeParameter(item, replace, options.targets.ssm!, options.parameterKmsKeyId);
    case 'secret':
      return replace ? writeSecretVersions(item, options.targets.secrets!) : createSecret(item, options.targets.secrets!, options.secretKmsKeyId);
    case 'stack':
      return writeStackFiles(item, options.targets.stacksDirectory!, replace);
  }
}

// SSM -----------------------------------------------------------------------------------------

/** The largest value the Standard tier stores (4 KB); up to 8 KB needs the Advanced tier. */
const STANDARD_TIER_MAX_BYTES = 4096;

async function compareParameter(item: ParameterItem, ssm: SsmApi): Promise<ItemStatus> {
  const current = await ssm.getParameter({ Name: item.name, WithDecryption: true });
  if (!current) return 'added';
  return current.Value === item.value && current.Type === item.type && (current.DataType ?? 'text') === (item.dataType ?? 'text') ? 'unchanged' : 'changed';
}

async function writeParameter(item: ParameterItem, replace: boolean, ssm: SsmApi, kmsKeyId: string | undefined): Promise<void> {
  await ssm.putParameter({
    Name: item.name,
    Value: item.value,
    Type: item.type,
    Overwrite: replace,
    ...(item.dataType ? { DataType: item.dataType } : {}),
    ...(item.type === 'SecureString' && kmsKeyId ? { KeyId: kmsKeyId } : {}),
    // The tier is not returned by GetParametersByPath; a value only the Advanced tier holds says it was Advanced.
    ...(Buffer.byteLength(item.value, 'utf8') > STANDARD_TIER_MAX_BYTES ? { Tier: 'Advanced' as const } : {}),
  });
}

// Secrets Manager ------------------------------------------------------------------------------

async function compareSecret(item: SecretItem, client: SecretsManagerClient): Promise<ItemStatus> {
  try {
    await client.send(new DescribeSecretCommand({ SecretId: item.name }));
  } catch (error) {
    if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') return 'added';
    throw error;
  }
  for (const version of restorableVersions(item)) if (!(await versionInPlace(item.name, version, client))) return 'changed';
  return 'unchanged';
}

/** Whether every label of `version` is on a version of the target holding the same value. */
async function versionInPlace(secretId: string, version: SecretVersion, client: SecretsManagerClient): Promise<boolean> {
  for (const stage of version.stages) {
    let current;
    try {
      current = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') return false;
      throw error;
    }
    if (!sameValue(version, current.SecretString, current.SecretBinary)) return false;
  }
  return true;
}

/**
 * The versions a restore writes, with their labels, AWSPENDING left out: it marks a rotation that was in
 * flight when the backup was taken, and the target's rotation would otherwise pick that value up.
 */
export function restorableVersions(item: SecretItem): SecretVersion[] {
  return item.versions
    .map((version) => ({ ...version, stages: version.stages.filter((stage) => stage !== 'AWSPENDING') }))
    .filter((version) => version.stages.length > 0);
}

function sameValue(version: SecretVersion, secretString: string | undefined, secretBinary: Uint8Array | undefined): boolean {
  if (version.secretString !== undefined) return secretString === version.secretString;
  return secretBinary !== undefined && Buffer.from(secretBinary).toString('base64') === version.secretBinary;
}

function secretValue(version: SecretVersion): { SecretString: string } | { SecretBinary: Uint8Array } {
  return version.secretString !== undefined ? { SecretString: version.secretString } : { SecretBinary: Buffer.from(version.secretBinary ?? '', 'base64') };
}

/** CreateSecret with the AWSCURRENT version, then the other labels on it, then every older version with its labels. */
async function createSecret(item: SecretItem, client: SecretsManagerClient, kmsKeyId: string | undefined): Promise<void> {
  const [current, ...older] = restorableVersions(item);
  if (!current) throw new ConfigError(`Secret ${item.name} has no labelled version to restore`);
  const created = await client.send(
    new CreateSecretCommand({
      Name: item.name,
      ...(item.description ? { Description: item.description } : {}),
      ...(kmsKeyId ? { KmsKeyId: kmsKeyId } : {}),
      ...(item.tags?.length ? { Tags: item.tags.map((t) => ({ Key: t.key, Value: t.value })) } : {}),
      ...secretValue(current),
    }),
  );
  for (const stage of current.stages.filter((s) => s !== 'AWSCURRENT')) {
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: item.name, VersionStage: stage, MoveToVersionId: created.VersionId }));
  }
  for (const version of older) await client.send(new PutSecretValueCommand({ SecretId: item.name, ...secretValue(version), VersionStages: [...version.stages] }));
}

/**
 * New versions in an existing secret for the versions whose labels the target has elsewhere: the current
 * one first (its labels move onto it, and the service moves AWSPREVIOUS), then the older ones, each checked
 * after the writes before it.
 */
async function writeSecretVersions(item: SecretItem, client: SecretsManagerClient): Promise<void> {
  for (const version of restorableVersions(item)) {
    if (await versionInPlace(item.name, version, client)) continue;
    await client.send(new PutSecretValueCommand({ SecretId: item.name, ...secretValue(version), VersionStages: [...version.stages] }));
  }
}

// CloudFormation: files ------------------------------------------------------------------------

/** `<stack>.template` (the original template) and `<stack>.stack.json` (`create-stack --cli-input-json`, NoEcho parameters left out). */
export function stackFiles(item: StackItem): { template: string; stack: string } {
  const document = {
    StackName: item.name,
    Parameters: item.parameters.filter((p) => !p.noEcho).map((p) => ({ ParameterKey: p.key, ParameterValue: p.value ?? '' })),
    Capabilities: [...item.capabilities],
    Tags: item.tags.map((t) => ({ Key: t.key, Value: t.value })),
  };
  return { template: item.templateBody, stack: `${JSON.stringify(document, null, 2)}\n` };
}

function stackPaths(item: StackItem, directory: string): { template: string; stack: string } {
  // CloudFormation's own rule for stack names; it also keeps the files inside `directory`.
  if (!/^[A-Za-z][-A-Za-z0-9]{0,127}$/.test(item.name)) throw new ConfigError(`"${item.name}" is not a CloudFormation stack name; not written`);
  return { template: path.join(directory, `${item.name}.template`), stack: path.join(directory, `${item.name}.stack.json`) };
}

async function compareStackFiles(item: StackItem, directory: string): Promise<ItemStatus> {
  const files = stackFiles(item);
  const paths = stackPaths(item, directory);
  const [template, stack] = await Promise.all([readIfPresent(paths.template), readIfPresent(paths.stack)]);
  if (template === undefined && stack === undefined) return 'added';
  return template === files.template && stack === files.stack ? 'unchanged' : 'changed';
}

async function writeStackFiles(item: StackItem, directory: string, replace: boolean): Promise<void> {
  await mkdir(directory, { recursive: true });
  const files = stackFiles(item);
  const paths = stackPaths(item, directory);
  for (const [file, body] of [[paths.template, files.template], [paths.stack, files.stack]] as const) {
    if (replace) {
      // Written beside, then renamed: a reader never sees half a file.
      const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(temporary, body, { mode: 0o600 });
        await rename(temporary, file);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    } else {
      await writeFile(file, body, { flag: 'wx', mode: 0o600 });
    }
  }
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
