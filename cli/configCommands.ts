/**
 * The configuration side of `backup`, `restore` and `verify` (`kind: "config"` backups): SSM parameters,
 * Secrets Manager secrets and CloudFormation stacks. Each command keeps its own flags and adds these; a
 * config backup is chosen by its flags (backup) or by the manifest the id names (restore, verify).
 */
import type { ConfigClients, ConfigManifest, ConfigSelection, ConfigTargets, ItemOutcome } from '../functions/lib/configset/index.ts';
import { MANIFEST_NAME, parseBackupKey, sourcePrefix } from '../functions/lib/vault/layout.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import { booleanFlag, stringFlag, stringListFlag, type FlagValues } from './args.ts';
import { ExitCode, UsageError } from './errors.ts';
import { formatBytes, formatDuration, formatTable, formatTimestamp } from './format.ts';
import type { Output } from './io.ts';

type CliEnv = Readonly<Record<string, string | undefined>>;

/** The AWS clients of one Region for configuration backups; tests replace them through `CliDeps.configClients`. */
export type ConfigClientsProvider = (region: string, needs: { ssm: boolean; secrets: boolean; cloudFormation: boolean }) => Promise<ConfigClients>;

export const CONFIG_BACKUP_FLAGS = {
  'ssm-path': { type: 'string', value: 'PATH', multiple: true, description: 'Configuration backup: SSM parameters under PATH (recursive; SecureStrings decrypted into the encrypted payload).' },
  'secret-prefix': { type: 'string', value: 'PREFIX', multiple: true, description: 'Configuration backup: Secrets Manager secrets whose name starts with PREFIX (every labelled version).' },
  'secret-tag': { type: 'string', value: 'KEY[=VALUE]', multiple: true, description: 'Configuration backup: secrets carrying this tag.' },
  stack: { type: 'string', value: 'NAME', multiple: true, description: 'Configuration backup: a CloudFormation stack\'s original template and parameters.' },
  region: { type: 'string', value: 'REGION', description: 'Configuration backups: the Region to read (backup) or write (restore). Default: AWS_REGION.' },
} as const;

export const CONFIG_RESTORE_FLAGS = {
  region: CONFIG_BACKUP_FLAGS.region,
  'dry-run': { type: 'boolean', description: 'Configuration backups: print what would be added, changed or left unchanged (never values); write nothing.' },
  overwrite: { type: 'boolean', description: 'Configuration backups: also write items the target has with another value.' },
  'stacks-dir': { type: 'string', value: 'DIR', description: 'Configuration backups: write each stack as DIR/<stack>.template and DIR/<stack>.stack.json.' },
  'parameter-kms-key': { type: 'string', value: 'KEY', description: "Configuration backups: the target's KMS key for SecureString parameters. Default: alias/aws/ssm." },
  'secret-kms-key': { type: 'string', value: 'KEY', description: "Configuration backups: the target's KMS key for new secrets. Default: aws/secretsmanager." },
} as const;

/** The selection the flags give, or undefined when none of the config flags is present. */
export function configSelectionFromFlags(flags: FlagValues): ConfigSelection | undefined {
  const selection: ConfigSelection = {
    ssmPaths: stringListFlag(flags, 'ssm-path').map((p) => {
      if (!p.startsWith('/')) throw new UsageError(`--ssm-path: expected a path starting with "/", got "${p}"`);
      return p;
    }),
    secretPrefixes: stringListFlag(flags, 'secret-prefix'),
    secretTags: stringListFlag(flags, 'secret-tag').map((tag) => {
      const [key, ...rest] = tag.split('=');
      if (!key) throw new UsageError(`--secret-tag: expected KEY or KEY=VALUE, got "${tag}"`);
      return rest.length === 0 ? { key } : { key, value: rest.join('=') };
    }),
    stacks: stringListFlag(flags, 'stack').map((name) => {
      if (!/^[A-Za-z][-A-Za-z0-9]{0,127}$/.test(name)) throw new UsageError(`--stack: "${name}" is not a CloudFormation stack name`);
      return name;
    }),
  };
  const given = selection.ssmPaths.length + selection.secretPrefixes.length + selection.secretTags.length + selection.stacks.length;
  return given === 0 ? undefined : selection;
}

function regionOf(flags: FlagValues, env: CliEnv): string {
  const region = stringFlag(flags, 'region') ?? (env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || undefined);
  if (!region) throw new UsageError('--region is required for configuration backups (or set AWS_REGION)');
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new UsageError(`--region: "${region}" is not an AWS Region`);
  return region;
}

/** The SDK clients of the services `needs` names, in `region`. */
export const defaultConfigClients: ConfigClientsProvider = async (region, needs) => {
  const { ssmApi, cloudFormationApi } = await import('../functions/lib/configset/aws.ts');
  const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  return {
    ...(needs.ssm ? { ssm: ssmApi(region) } : {}),
    ...(needs.secrets ? { secrets: new SecretsManagerClient({ region }) } : {}),
    ...(needs.cloudFormation ? { cloudFormation: cloudFormationApi(region) } : {}),
  };
};

export async function backUpConfig(options: {
  selection: ConfigSelection;
  sourceId: string;
  store: VaultStore;
  keyring: import('../functions/lib/crypto/keyring.ts').BackupKeyring;
  flags: FlagValues;
  env: CliEnv;
  output: Output;
  clients: ConfigClientsProvider | undefined;
}): Promise<number> {
  const { selection, flags, output } = options;
  const region = regionOf(flags, options.env);
  const clients = await (options.clients ?? defaultConfigClients)(region, {
    ssm: selection.ssmPaths.length > 0,
    secrets: selection.secretPrefixes.length + selection.secretTags.length > 0,
    cloudFormation: selection.stacks.length > 0,
  });
  const { runConfigBackup } = await import('../functions/lib/configset/backup.ts');
  const manifest = await runConfigBackup({ sourceId: options.sourceId, selection, region, clients, store: options.store, keyring: options.keyring });
  if (booleanFlag(flags, 'json')) output.json({ backupId: manifest.backupId, sourceId: manifest.sourceId, vault: options.store.location, manifest });
  else output.out(manifest.backupId);
  output.summary(`Backed up ${describeCounts(manifest)} from ${region} as ${manifest.sourceId}/${manifest.backupId} (${manifest.payload.storedBytes} bytes stored)`);
  return ExitCode.ok;
}

function describeCounts(manifest: ConfigManifest): string {
  const c = manifest.content.counts;
  return `${c.ssmParameters} SSM parameters (${c.secureStrings} SecureString), ${c.secrets} secrets (${c.secretVersions} versions), ${c.stacks} stacks`;
}

/**
 * The configuration backup `ref` names (an id, a unique prefix, or `latest`), or undefined when it names
 * a backup of another kind (the caller's own lookup then reports what it finds).
 */
export async function findConfigBackup(store: VaultStore, ref: string, sourceId: string | undefined): Promise<ConfigManifest | undefined> {
  const folders: { sourceId: string; backupId: string }[] = [];
  for await (const key of store.list(sourcePrefix(sourceId))) {
    const parsed = parseBackupKey(key);
    if (parsed && parsed.name === MANIFEST_NAME && (sourceId === undefined || parsed.sourceId === sourceId)) folders.push({ sourceId: parsed.sourceId, backupId: parsed.backupId });
  }
  folders.sort((a, b) => (a.backupId < b.backupId ? 1 : -1));
  const matches = ref === 'latest' ? folders.slice(0, 1) : folders.filter((f) => f.backupId.startsWith(ref));
  if (matches.length !== 1) return undefined;
  const { sourceId: found, backupId } = matches[0]!;
  const { manifestKey } = await import('../functions/lib/vault/layout.ts');
  const bytes = await store.getObject(manifestKey(found, backupId));
  let kind: unknown;
  try {
    kind = (JSON.parse(bytes.toString('utf8')) as { kind?: unknown }).kind;
  } catch {
    return undefined;
  }
  if (kind !== 'config') return undefined;
  const { parseConfigManifest } = await import('../functions/lib/configset/manifest.ts');
  return parseConfigManifest(bytes, manifestKey(found, backupId));
}

export async function restoreConfig(options: {
  manifest: ConfigManifest;
  store: VaultStore;
  keyring: import('../functions/lib/crypto/keyring.ts').BackupKeyring;
  flags: FlagValues;
  env: CliEnv;
  output: Output;
  clients: ConfigClientsProvider | undefined;
}): Promise<number> {
  const { manifest, flags, output } = options;
  const dryRun = booleanFlag(flags, 'dry-run');
  const overwrite = booleanFlag(flags, 'overwrite');
  if (dryRun && overwrite) throw new UsageError('give either --dry-run (compare only) or --overwrite (write changed items too), not both');
  if (stringFlag(flags, 'target') !== undefined) throw new UsageError(`--target: backup ${manifest.backupId} is a configuration backup; it is restored with --region (and --stacks-dir for stacks)`);
  const region = regionOf(flags, options.env);
  const { counts } = manifest.content;
  const clients = await (options.clients ?? defaultConfigClients)(region, { ssm: counts.ssmParameters > 0, secrets: counts.secrets > 0, cloudFormation: false });
  const stacksDirectory = stringFlag(flags, 'stacks-dir');
  const targets: ConfigTargets = {
    ...(clients.ssm ? { ssm: clients.ssm } : {}),
    ...(clients.secrets ? { secrets: clients.secrets } : {}),
    ...(stacksDirectory ? { stacksDirectory } : {}),
  };
  const parameterKmsKeyId = stringFlag(flags, 'parameter-kms-key');
  const secretKmsKeyId = stringFlag(flags, 'secret-kms-key');
  const { restoreConfigBackup } = await import('../functions/lib/configset/restore.ts');
  const result = await restoreConfigBackup({
    store: options.store,
    manifest,
    keyring: options.keyring,
    targets,
    dryRun,
    overwrite,
    ...(parameterKmsKeyId ? { parameterKmsKeyId } : {}),
    ...(secretKmsKeyId ? { secretKmsKeyId } : {}),
  });
  if (booleanFlag(flags, 'json')) output.json({ backupId: manifest.backupId, sourceId: manifest.sourceId, region, ...result });
  else output.out(renderOutcomes(result.items, dryRun));
  for (const { stack, parameter } of result.noEchoParameters) {
    output.error(`lifeboat: warning: stack ${stack}: parameter ${parameter} is NoEcho; its value was never readable and must be supplied at create-stack`);
  }
  const kept = result.items.filter((i) => i.action === 'kept').length;
  if (kept > 0) output.error(`lifeboat: warning: ${kept} changed item${kept === 1 ? '' : 's'} kept as the target has ${kept === 1 ? 'it' : 'them'}; give --overwrite to write ${kept === 1 ? 'it' : 'them'}`);
  const written = result.items.filter((i) => i.action === 'write' || i.action === 'overwrite').length;
  output.summary(`${dryRun ? 'Dry run: would write' : 'Wrote'} ${written} of ${result.items.length} items of ${manifest.sourceId}/${manifest.backupId} into ${region}`);
  return ExitCode.ok;
}

/** One row per item: status, what is done, type, name; never a value. */
export function renderOutcomes(items: readonly ItemOutcome[], dryRun: boolean): string {
  const verb = (action: ItemOutcome['action']) => (dryRun && (action === 'write' || action === 'overwrite') ? `would ${action}` : action);
  return formatTable(['STATUS', 'ACTION', 'TYPE', 'NAME'], items.map((i) => [i.status, verb(i.action), i.type, i.name]));
}

export async function verifyConfig(options: { manifest: ConfigManifest; store: VaultStore; keyring: import('../functions/lib/crypto/keyring.ts').BackupKeyring; flags: FlagValues; output: Output }): Promise<number> {
  const { verifyConfigBackup } = await import('../functions/lib/configset/read.ts');
  const result = await verifyConfigBackup(options.store, options.manifest, options.keyring);
  if (booleanFlag(options.flags, 'json')) options.output.json({ status: 'verified', ...result });
  else options.output.out(`verified ${result.sourceId}/${result.backupId}: ${result.items} items, every hash matches (${describeCounts(options.manifest)})`);
  return ExitCode.ok;
}

/** `lifeboat show` of a configuration backup: what it holds, by name, version and stage; never a value. */
export function renderConfigManifest(manifest: ConfigManifest, status: { readonly state: string; readonly reason?: string }): string {
  const { selection } = manifest.source;
  const { payload, compression, encryption } = manifest;
  const seconds = (Date.parse(manifest.completedAt) - Date.parse(manifest.startedAt)) / 1000;
  const keyring = encryption.keyring.type === 'kms' ? `KMS ${encryption.keyring.keyIds.join(', ')}` : `local key ${encryption.keyring.keyNamespace}/${encryption.keyring.keyName}`;
  const selected = [
    ...selection.ssmPaths.map((p) => `ssm path ${p}`),
    ...selection.secretPrefixes.map((p) => `secret prefix ${p}`),
    ...selection.secretTags.map((t) => `secret tag ${t.key}${t.value === undefined ? '' : `=${t.value}`}`),
    ...selection.stacks.map((s) => `stack ${s}`),
  ];
  const fields: [string, string][] = [
    ['Backup', manifest.backupId],
    ['Source', manifest.sourceId],
    ['Kind', 'config'],
    ['Region', manifest.source.region],
    ['Selection', selected.join(', ')],
    ['Status', status.reason ? `${status.state} (${status.reason})` : status.state],
    ['Started', formatTimestamp(manifest.startedAt)],
    ['Completed', `${formatTimestamp(manifest.completedAt)} (took ${formatDuration(seconds)})`],
    ['Tools', `lifeboat ${manifest.tools.lifeboat}`],
    ['Payload', `${payload.key} (${payload.format})`],
    ['Size', `${formatBytes(payload.rawBytes)} raw, ${formatBytes(payload.storedBytes)} stored`],
    ['SHA-256', payload.sha256],
    ['Compression', `${compression.codec} level ${compression.level}`],
    ['Encryption', `${encryption.scheme}, ${encryption.algorithmSuite}, ${formatBytes(encryption.frameLength)} frames`],
    ['Key', keyring],
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  const lines = fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
  lines.push('', `Items: ${describeCounts(manifest)}`);
  if (manifest.content.items.length > 0) {
    const rows = manifest.content.items.map((item) => {
      switch (item.type) {
        case 'ssm-parameter':
          return [item.type, item.name, `${item.parameterType} version ${item.version}`];
        case 'secret':
          return [item.type, item.name, item.versions.map((v) => `${v.versionId} (${v.stages.join(', ')})`).join('; ')];
        case 'stack':
          return [
            item.type,
            item.name,
            item.parameters.length === 0 ? 'no parameters' : `parameters ${item.parameters.map((p) => (item.noEchoParameters.includes(p) ? `${p} (NoEcho)` : p)).join(', ')}`,
          ];
      }
    });
    lines.push(formatTable(['TYPE', 'NAME', 'VERSIONS'], rows));
  }
  return lines.join('\n');
}
