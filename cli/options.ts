/**
 * Turning flags into what the engine takes: a vault store, a keyring, a database connection and a
 * source id. Each failure is a `UsageError` naming the flag, except a key file the user must fix
 * (`KeyFileError`, also exit 2).
 */
import { stat } from 'node:fs/promises';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { BackupKeyring, KmsClientProvider } from '../functions/lib/crypto/keyring.ts';
import { type ConnectionInfo, parseConnectionUrl } from '../functions/lib/engine/connection.ts';
import { LifeboatError } from '../functions/lib/errors.ts';
import { assertSourceId, BACKUPS_PREFIX, parseBackupId } from '../functions/lib/vault/layout.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import { type FlagValues, stringFlag } from './args.ts';
import { UsageError, VaultNotFoundError } from './errors.ts';
import { type Output, PASSWORD_ENV } from './io.ts';

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
 * Fails with `VaultNotFoundError` when the vault is absent: a local directory that does not exist,
 * a bucket that does not exist. Used before reading; a backup creates a local vault directory.
 */
export async function assertVaultExists(store: VaultStore): Promise<void> {
  const { LocalStore } = await import('../functions/lib/vault/localStore.ts');
  if (store instanceof LocalStore) {
    const info = await stat(store.location).catch(() => undefined);
    if (!info?.isDirectory()) throw new VaultNotFoundError(`No vault at ${store.location}: the directory does not exist`);
    return;
  }
  try {
    for await (const _key of store.list(BACKUPS_PREFIX)) break;
  } catch (error) {
    if ((error as { name?: unknown }).name === 'NoSuchBucket') {
      throw new VaultNotFoundError(`No vault at ${store.location}: the bucket does not exist`, { cause: error });
    }
    throw error;
  }
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

/** The keyring from `--key-file F` or `--kms-key ARN`; exactly one is required. */
export async function keyringFromFlags(flags: FlagValues, deps: CliDeps): Promise<BackupKeyring> {
  const keyFile = stringFlag(flags, 'key-file');
  const kmsKey = stringFlag(flags, 'kms-key');
  if (keyFile !== undefined && kmsKey !== undefined) throw new UsageError('give either --key-file or --kms-key, not both');
  if (kmsKey === undefined && keyFile === undefined) throw new UsageError('one of --key-file or --kms-key is required');
  const { keyringFromKeyFile, kmsKeyring } = await import('../functions/lib/crypto/keyring.ts');
  if (keyFile !== undefined) return keyringFromKeyFile(keyFile);
  const region = kmsKeyRegion(kmsKey!);
  const { KMS } = await import('@aws-sdk/client-kms');
  const makeClient = deps.kmsClient ?? ((clientRegion: string) => new KMS({ region: clientRegion }));
  // One client, built for the Region the ARN names: the only Region this keyring ever calls.
  let client: ReturnType<KmsClientProvider> | undefined;
  const clientProvider: KmsClientProvider = (asked) => {
    if (asked !== region) throw new UsageError(`--kms-key: the keyring asked for a KMS client in ${asked}, not ${region}`);
    client ??= makeClient(region);
    return client;
  };
  try {
    return kmsKeyring({ keyIds: [kmsKey!], clientProvider });
  } catch (error) {
    throw asUsage('--kms-key', error);
  }
}

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/[A-Za-z0-9-]+$/;

/** The Region a KMS key lives in, from its ARN; KMS clients are per Region. */
export function kmsKeyRegion(arn: string): string {
  const region = KMS_KEY_ARN.exec(arn)?.[1];
  if (region === undefined) {
    throw new UsageError('--kms-key must be a KMS key ARN, e.g. arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd (aliases cannot be used)');
  }
  return region;
}

/** `--source-id`, validated, or a slug of the database name: `Orders_DB` → `orders-db`. */
export function resolveSourceId(flags: FlagValues, database: string): string {
  const given = stringFlag(flags, 'source-id');
  const sourceId = given ?? sourceIdFromDatabase(database);
  try {
    assertSourceId(sourceId);
  } catch (error) {
    throw given === undefined
      ? new UsageError(`cannot derive a source id from the database name; give one with --source-id`, { cause: error })
      : asUsage('--source-id', error);
  }
  return sourceId;
}

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

/** A backup id given on the command line; malformed is a usage error. */
export function backupIdArgument(command: string, positionals: readonly string[]): string {
  const id = positionals[0];
  if (id === undefined) throw new UsageError(`"lifeboat ${command}" needs a backup id (see lifeboat list)`);
  try {
    parseBackupId(id);
  } catch (error) {
    throw asUsage('the backup id', error);
  }
  return id;
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
