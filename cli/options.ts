/**
 * Turning flags into what the engine takes: a vault store, a keyring, a database connection and a
 * source id. Each failure is a `UsageError` naming the flag, except a key file the user must fix
 * (`KeyFileError`, also exit 2).
 */
import { stat } from 'node:fs/promises';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { BackupKeyring, KmsClientProvider } from '../functions/lib/crypto/keyring.ts';
import { type ConnectionInfo, parseConnectionUrl } from '../functions/lib/engine/connection.ts';
import { BackupNotFoundError, LifeboatError } from '../functions/lib/errors.ts';
import { assertSourceId, BACKUP_ID_PATTERN, BACKUPS_PREFIX, MANIFEST_NAME, parseBackupId, parseBackupKey, sourcePrefix } from '../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import { type FlagValues, stringFlag } from './args.ts';
import { AmbiguousBackupIdError, UsageError, VaultNotFoundError } from './errors.ts';
import { kmsKeyRegion } from './keys.ts';
import { type Output, PASSWORD_ENV } from './io.ts';
import type { Settings } from './settings.ts';

type CliEnv = Readonly<Record<string, string | undefined>>;

/** What the CLI builds itself in production and tests may replace. */
export interface CliDeps {
  /** The KMS client for one Region. @default new KMS({ region }) */
  readonly kmsClient?: KmsClientProvider;
  /** The Step Functions client for `--region` (`undefined`: the SDK chain's Region). @default new SFNClient({ region }) */
  readonly sfnClient?: (region: string | undefined) => Pick<SFNClient, 'send'>;
  /** How `run --wait` waits between polls. @default setTimeout from node:timers/promises */
  readonly sleep?: (milliseconds: number) => Promise<void>;
  /** How `approve` sends the decision to the approval link. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** What `approve -` reads the link from. @default all of process.stdin */
  readonly readStdin?: () => Promise<string>;
  /** Where `drill --local` reads the answers to approvals. @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream;
  /** What `status` measures ages against. @default () => new Date() */
  readonly now?: () => Date;
  /** The AWS clients of configuration backups for one Region. @default the SDK clients (cli/configCommands.ts) */
  readonly configClients?: import('./configCommands.ts').ConfigClientsProvider;
}

/**
 * The vault at `--vault`; a bad location is a usage error. Modules that pull in the AWS SDK, zod or the
 * Encryption SDK are imported on first use throughout the CLI, so `--version` and `--help` start at once.
 */
export async function openVault(location: string, env: CliEnv): Promise<VaultStore> {
  const { openStore } = await import('../functions/lib/vault/openStore.ts');
  try {
    return openStore(location, { env });
  } catch (error) {
    throw asUsage('--vault', error);
  }
}

/**
 * Fails with `VaultNotFoundError` when the vault is absent (a local directory that does not exist, a
 * bucket that does not exist) and `VaultAccessError` when it cannot be read (a file where the directory
 * should be, permission denied). Used before reading; `backup` uses {@link prepareVaultForBackup}.
 * `origin` (` (from LIFEBOAT_VAULT)`, see settings.ts `originNote`) says where the location came from.
 */
export async function assertVaultExists(store: VaultStore, origin = ''): Promise<void> {
  const { LocalStore } = await import('../functions/lib/vault/localStore.ts');
  if (store instanceof LocalStore) {
    const { assertLocalVaultReadable } = await import('./vaultAccess.ts');
    return assertLocalVaultReadable(store.location, origin);
  }
  try {
    for await (const _key of store.list(BACKUPS_PREFIX)) break;
  } catch (error) {
    if ((error as { name?: unknown }).name === 'NoSuchBucket') {
      throw new VaultNotFoundError(`No vault at ${store.location}${origin}: the bucket does not exist`, { cause: error });
    }
    throw await asAwsSetupError(error, `the vault ${store.location}`);
  }
}

/** Before a backup: a local vault directory is created if absent and must be writable; a bucket must exist. */
export async function prepareVaultForBackup(store: VaultStore, origin = ''): Promise<void> {
  const { LocalStore } = await import('../functions/lib/vault/localStore.ts');
  if (store instanceof LocalStore) {
    const { prepareLocalVaultForWriting } = await import('./vaultAccess.ts');
    return prepareLocalVaultForWriting(store.location, origin);
  }
  return assertVaultExists(store, origin);
}

/**
 * The SDK's "Region is missing" and "Could not load credentials from any providers" as one line naming
 * what to set (`AwsSetupError`, exit 2); any other error as it is.
 */
export async function asAwsSetupError(error: unknown, what: string): Promise<unknown> {
  const { awsSetupProblem } = await import('./awsSetup.ts');
  return awsSetupProblem(error, what) ?? error;
}

/**
 * A database connection from `--source`/`--target`. The password comes from the URL or, when the URL
 * has none, from PGPASSWORD / MYSQL_PWD; either way it is registered with `output` so it is scrubbed.
 */
export function connectionFromFlag(flag: string, url: string, output: Output, env: CliEnv): ConnectionInfo {
  let info: ConnectionInfo;
  try {
    info = parseConnectionUrl(url);
  } catch (error) {
    throw asUsage(flag, error);
  }
  output.addSecret(info.password);
  if (info.password !== undefined) return info;
  const fromEnv = env[PASSWORD_ENV[info.engine]];
  return fromEnv ? { ...info, password: fromEnv } : info;
}

/**
 * The keyring from `--key-file F` or `--kms-key ARN`; exactly one is required. `lifeboat backup` also takes
 * `--air-gap-key ARN` beside `--kms-key`: each data key is wrapped under it too (Encrypt only), as the deployed
 * backup functions do with `vaultAccount.keyArn`.
 */
export async function keyringFromFlags(flags: FlagValues, deps: CliDeps): Promise<BackupKeyring> {
  const keyFile = stringFlag(flags, 'key-file');
  const kmsKey = stringFlag(flags, 'kms-key');
  const airGapKey = stringFlag(flags, 'air-gap-key');
  if (keyFile !== undefined && kmsKey !== undefined) throw new UsageError('give either --key-file or --kms-key, not both');
  if (kmsKey === undefined && keyFile === undefined) {
    throw new UsageError('one of --key-file or --kms-key is required (or set LIFEBOAT_KEY_FILE or LIFEBOAT_KMS_KEY once)');
  }
  if (airGapKey !== undefined && kmsKey === undefined) throw new UsageError('--air-gap-key wraps data keys beside --kms-key: give --kms-key too (a local key file has no air-gapped copy)');
  const { keyringFromKeyFile, kmsKeyring } = await import('../functions/lib/crypto/keyring.ts');
  if (keyFile !== undefined) return keyringFromKeyFile(keyFile);
  const keys = [{ arn: kmsKey!, flag: '--kms-key' }, ...(airGapKey === undefined ? [] : [{ arn: airGapKey, flag: '--air-gap-key' }])];
  const regions = new Set(keys.map(({ arn, flag }) => kmsKeyRegion(arn, flag)));
  const { KMS } = await import('@aws-sdk/client-kms');
  const makeClient = deps.kmsClient ?? ((clientRegion: string) => new KMS({ region: clientRegion }));
  // One client per Region the ARNs name: the only Regions this keyring ever calls.
  const clients = new Map<string, ReturnType<KmsClientProvider>>();
  const clientProvider: KmsClientProvider = (asked) => {
    if (!regions.has(asked)) throw new UsageError(`--kms-key: the keyring asked for a KMS client in ${asked}, not ${[...regions].join(' or ')}`);
    if (!clients.has(asked)) clients.set(asked, makeClient(asked));
    return clients.get(asked)!;
  };
  try {
    return kmsKeyring({ keyIds: keys.map((k) => k.arn), clientProvider });
  } catch (error) {
    throw asUsage(keys.length > 1 ? '--kms-key/--air-gap-key' : '--kms-key', error);
  }
}

/**
 * The source id of a backup: `--source-id`, else the id the config (`--config`/`LIFEBOAT_CONFIG`) gives the
 * source with this database and engine, else a slug of the database name (`ux_pagila` → `ux-pagila`).
 */
export async function resolveSourceId(
  flags: FlagValues,
  source: Pick<ConnectionInfo, 'engine' | 'database'>,
  settings?: Settings,
): Promise<{ sourceId: string; origin: 'flag' | 'config' | 'database name' }> {
  const given = stringFlag(flags, 'source-id');
  if (given !== undefined) {
    try {
      assertSourceId(given);
    } catch (error) {
      throw asUsage('--source-id', error);
    }
    return { sourceId: given, origin: 'flag' };
  }
  const configured = await settings?.sourceIdForDatabase(source.engine, source.database);
  if (configured !== undefined) return { sourceId: configured, origin: 'config' };
  const derived = sourceIdFromDatabase(source.database);
  try {
    assertSourceId(derived);
  } catch (error) {
    throw new UsageError(`cannot derive a source id from the database name; give one with --source-id`, { cause: error });
  }
  return { sourceId: derived, origin: 'database name' };
}

/** A slug of a database name: lowercase, runs of other characters become one "-", a leading digit gets `db-`, at most 40 characters. */
export function sourceIdFromDatabase(database: string): string {
  let slug = database
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(slug)) slug = slug === '' ? 'db' : `db-${slug}`;
  return slug.slice(0, 40).replace(/-+$/, '');
}

/** What may stand for a backup id: `latest`, a whole id, or the start of one (`20261122T05`, `20261122T053327Z-k3`). */
const BACKUP_ID_PREFIX = /^(\d{1,8}|\d{8}T\d{0,6}|\d{8}T\d{6}Z(-[a-z2-7]{0,8})?)$/;

/**
 * The backup a command was given: `latest`, a whole backup id or a unique prefix of one. Checked for its
 * form only; {@link resolveBackup} finds it. Malformed is a usage error.
 */
export function backupIdArgument(command: string, positionals: readonly string[]): string {
  const id = positionals[0];
  if (id === undefined) throw new UsageError(`"lifeboat ${command}" needs a backup id, a unique prefix of one, or "latest" (see lifeboat list)`);
  if (id === 'latest' || BACKUP_ID_PREFIX.test(id)) return id;
  try {
    parseBackupId(id);
  } catch (error) {
    throw new UsageError(`the backup id: ${(error as Error).message}, a unique prefix of one, or "latest"`, { cause: error });
  }
  return id;
}

/**
 * The manifest of the backup `ref` names: `latest` (the newest complete backup, of `sourceId` when given),
 * a whole id, or a prefix matching exactly one complete backup. A prefix matching several is an
 * `AmbiguousBackupIdError` listing them; none is a `BackupNotFoundError` (exit 3). An incomplete
 * backup is never chosen; a whole id of one keeps the catalog's own error (`ManifestMissingError`).
 */
export async function resolveBackup(store: VaultStore, ref: string, sourceId: string | undefined): Promise<BackupManifest> {
  const { findBackup, readManifest } = await import('../functions/lib/vault/catalog.ts');
  const complete: { sourceId: string; backupId: string }[] = [];
  for await (const key of store.list(sourcePrefix(sourceId))) {
    const parsed = parseBackupKey(key);
    if (parsed?.name === MANIFEST_NAME) complete.push({ sourceId: parsed.sourceId, backupId: parsed.backupId });
  }
  const where = `${store.location}${sourceId === undefined ? '' : ` (source ${sourceId})`}`;
  if (ref === 'latest') {
    const sources = [...new Set(complete.map((backup) => backup.sourceId))].sort();
    if (sources.length === 0) throw new BackupNotFoundError(`No complete backup in ${where}, so there is no "latest"`);
    if (sources.length > 1) {
      throw new AmbiguousBackupIdError(`"latest" is ambiguous: ${store.location} holds backups of ${sources.length} sources (${sources.join(', ')}); give --source ID`);
    }
    const newest = complete.reduce((a, b) => (b.backupId > a.backupId ? b : a));
    return readManifest(store, newest.sourceId, newest.backupId);
  }
  const matches = complete.filter((backup) => backup.backupId.startsWith(ref));
  if (matches.length === 1) return readManifest(store, matches[0]!.sourceId, matches[0]!.backupId);
  if (matches.length > 1) {
    const shown = matches.slice(0, 10).map((backup) => `${backup.sourceId}/${backup.backupId}`);
    const more = matches.length > shown.length ? `, and ${matches.length - shown.length} more` : '';
    const sameId = matches.every((backup) => backup.backupId === ref);
    throw new AmbiguousBackupIdError(
      sameId
        ? `backup id ${ref} exists under several sources: ${shown.join(', ')}; give --source ID`
        : `"${ref}" matches ${matches.length} backups: ${shown.join(', ')}${more}; give more of the id`,
    );
  }
  // A whole id with no complete backup: the catalog says why (no such backup, or its manifest is missing).
  if (BACKUP_ID_PATTERN.test(ref)) return sourceId === undefined ? findBackup(store, ref) : readManifest(store, sourceId, ref);
  throw new BackupNotFoundError(`No backup id starting with "${ref}" in ${where} (see lifeboat list)`);
}

/** `--source ID` on list/show/restore: an optional source id filter. */
export function sourceFilter(flags: FlagValues): string | undefined {
  const sourceId = stringFlag(flags, 'source');
  if (sourceId === undefined) return undefined;
  try {
    assertSourceId(sourceId);
  } catch (error) {
    throw asUsage('--source', error);
  }
  return sourceId;
}

/** A named error about a flag's value, as a usage error that says which flag. */
function asUsage(flag: string, error: unknown): Error {
  if (!(error instanceof LifeboatError) || error.name === 'KeyFileError') return error as Error;
  return new UsageError(`${flag}: ${error.message}`, { cause: error });
}
