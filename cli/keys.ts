/**
 * Keys the CLI is given by name: a KMS key by its ARN (KMS clients are per Region, and the ARN is the only
 * form that names one: aliases cannot be used), or an HMAC key as a KMS key ARN or a key file (`lifeboat keygen`).
 */
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import { type FlagValues, stringFlag } from './args.ts';
import { UsageError } from './errors.ts';

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/[A-Za-z0-9-]+$/;

/** The Region of the KMS key `arn` names; a usage error naming `flag` (and what else it takes, `orElse`) if it is not a key ARN. */
export function kmsKeyRegion(arn: string, flag: string, orElse = ''): string {
  const region = KMS_KEY_ARN.exec(arn)?.[1];
  if (region === undefined) {
    throw new UsageError(`${flag} must be a KMS key ARN, e.g. arn:aws:kms:eu-west-1:111122223333:key/1234abcd-… (aliases cannot be used)${orElse}`);
  }
  return region;
}

/** An HMAC signer over the KMS HMAC key `arn`. */
export async function kmsMacSigner(arn: string, flag: string, orElse = ''): Promise<MacSigner> {
  const region = kmsKeyRegion(arn, flag, orElse);
  const [{ kmsHmacSigner }, { KMSClient }] = await Promise.all([import('../functions/lib/crypto/mac.ts'), import('@aws-sdk/client-kms')]);
  return kmsHmacSigner(new KMSClient({ region }), arn);
}

/** An HMAC signer over the key in a key file (`lifeboat keygen`). */
export async function fileMacSigner(file: string): Promise<MacSigner> {
  const [{ localHmacSigner }, { loadKeyFile }] = await Promise.all([import('../functions/lib/crypto/mac.ts'), import('../functions/lib/crypto/keyFile.ts')]);
  return localHmacSigner((await loadKeyFile(file)).key);
}

/**
 * The HMAC key a `--<flag> ARN|FILE` option (or `$<envName>`) names: a KMS HMAC key by its ARN, or a key file;
 * undefined when neither names one.
 */
export async function macKeyFrom(
  flags: FlagValues,
  env: Readonly<Record<string, string | undefined>>,
  flag: string,
  envName: string,
): Promise<MacSigner | undefined> {
  const given = stringFlag(flags, flag) ?? (env[envName] || undefined);
  if (given === undefined) return undefined;
  return given.startsWith('arn:') ? kmsMacSigner(given, `--${flag}`, ', or a key file') : fileMacSigner(given);
}
