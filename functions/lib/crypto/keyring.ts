/**
 * Keyrings wrap each backup's data key (the Encryption SDK makes a fresh one per message).
 * Off AWS: a raw AES-256 keyring from a local key file. In AWS: a KMS keyring over a multi-Region key,
 * MRK-aware so a backup encrypted under the primary key in one Region decrypts under its replica in the
 * DR Region. A `BackupKeyring` also describes itself for the manifest, without key material.
 */
import {
  buildAwsKmsMrkAwareStrictMultiKeyringNode,
  type KeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { KMS, type KMSClientConfig } from '@aws-sdk/client-kms';
import { ConfigError } from '../errors.ts';
import { type LocalKey, loadKeyFile } from './keyFile.ts';

/** How the manifest records the keyring: names and ids only. Mirrors `encryption.keyring` in the manifest. */
export type KeyringDescription =
  | { type: 'raw-aes'; keyNamespace: string; keyName: string }
  | { type: 'kms'; keyIds: string[] };

export interface BackupKeyring {
  readonly keyring: KeyringNode;
  readonly description: KeyringDescription;
}

/** A raw AES-256-GCM keyring over a local key (see `keyFile.ts`). */
export function rawAesKeyring(key: LocalKey): BackupKeyring {
  return {
    keyring: new RawAesKeyringNode({
      keyNamespace: key.keyNamespace,
      keyName: key.keyName,
      // The SDK keeps its own copy; ours stays with the caller.
      unencryptedMasterKey: new Uint8Array(key.key),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    }),
    description: { type: 'raw-aes', keyNamespace: key.keyNamespace, keyName: key.keyName },
  };
}

/** {@link rawAesKeyring} over the key in `path`; throws `KeyFileError` for a missing, open or malformed file. */
export async function keyringFromKeyFile(path: string): Promise<BackupKeyring> {
  return rawAesKeyring(await loadKeyFile(path));
}

/** Region → KMS client, as the Encryption SDK asks for them. It needs the aggregated `KMS` class, not `KMSClient`. */
export type KmsClientProvider = (region: string) => Pick<KMS, 'generateDataKey' | 'encrypt' | 'decrypt'>;

export interface KmsKeyringOptions {
  /**
   * Key ARNs. The first generates the data key; every other one also wraps it (e.g. the replica in the
   * DR Region, so that Region can decrypt even when the primary's Region is down). For decryption any one
   * of them, in its own Region, is enough; multi-Region keys (`mrk-…`) match their replicas.
   */
  readonly keyIds: readonly string[];
  /** @default one cached `KMS` client per Region, built with `clientConfig` */
  readonly clientProvider?: KmsClientProvider;
  /** Extra configuration for the default clients (credentials, endpoint). @default {} */
  readonly clientConfig?: Omit<KMSClientConfig, 'region'>;
}

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/** An MRK-aware KMS keyring; key ids must be full key ARNs (an alias or bare id cannot match a replica). */
export function kmsKeyring(options: KmsKeyringOptions): BackupKeyring {
  const [generatorKeyId, ...otherKeyIds] = options.keyIds;
  if (generatorKeyId === undefined) throw new ConfigError('kmsKeyring: keyIds must name at least one KMS key ARN');
  const invalid = options.keyIds.filter((id) => !KEY_ARN.test(id));
  if (invalid.length > 0) {
    throw new ConfigError(`kmsKeyring: keyIds must be KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID); got ${invalid.join(', ')}`);
  }
  const clientProvider = options.clientProvider ?? cachedKmsClients(options.clientConfig ?? {});
  return {
    keyring: buildAwsKmsMrkAwareStrictMultiKeyringNode({
      generatorKeyId,
      keyIds: otherKeyIds,
      // The SDK's own type for clients is structural; the aggregated KMS class satisfies it.
      clientProvider: clientProvider as Parameters<typeof buildAwsKmsMrkAwareStrictMultiKeyringNode>[0]['clientProvider'],
    }),
    description: { type: 'kms', keyIds: [...options.keyIds] },
  };
}

function cachedKmsClients(config: Omit<KMSClientConfig, 'region'>): KmsClientProvider {
  const clients = new Map<string, KMS>();
  return (region) => {
    let client = clients.get(region);
    if (!client) {
      client = new KMS({ ...config, region });
      clients.set(region, client);
    }
    return client;
  };
}
