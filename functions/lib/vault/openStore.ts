import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client, s3ClientOptionsFromEnv } from '../aws/s3Client.ts';
import { ConfigError } from '../errors.ts';
import { storeKeyProblem } from './layout.ts';
import { LocalStore } from './localStore.ts';
import { S3Store, type S3StoreOptions } from './s3Store.ts';
import type { VaultStore } from './store.ts';

export interface OpenStoreDeps {
  /** The S3 client for `s3://` locations. @default createS3Client(s3ClientOptionsFromEnv(env)) */
  readonly client?: S3Client;
  /** Where the endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, LIFEBOAT_S3_ENDPOINT), Region and credentials are read from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Upload tuning and SSE-KMS for `s3://` locations. @default S3Store's defaults */
  readonly s3?: Omit<S3StoreOptions, 'client' | 'bucket' | 'prefix'>;
}

/** S3's bucket naming rules (no dots next to each other, no IP-address look-alikes). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The vault at `location`: `s3://bucket[/prefix]` is an S3 bucket, `file:///path` or any other
 * string a local directory (resolved against the working directory).
 *
 * @example
 * const vault = openStore('s3://acme-lifeboat-vault/prod');
 * const local = openStore('./vault');
 */
export function openStore(location: string, deps: OpenStoreDeps = {}): VaultStore {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    const { bucket, prefix } = parseS3Location(location);
    const client = deps.client ?? createS3Client(s3ClientOptionsFromEnv(deps.env ?? process.env));
    return new S3Store({ ...deps.s3, client, bucket, prefix });
  }
  if (scheme === 'file') return new LocalStore(fileURLToPath(location));
  if (scheme !== undefined) {
    throw new ConfigError(`Vault location "${location}": unsupported scheme "${scheme}://"; use s3://bucket[/prefix] or a directory path`);
  }
  if (location.trim() === '') throw new ConfigError('Vault location is empty; use s3://bucket[/prefix] or a directory path');
  return new LocalStore(path.resolve(location));
}

/** `s3://bucket/a/b/` → `{ bucket: "bucket", prefix: "a/b" }`; a `ConfigError` says what is wrong otherwise. */
export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/i.exec(location);
  const problem = (reason: string) =>
    new ConfigError(`Vault location "${location}" is not a valid S3 location: ${reason}; expected s3://<bucket>[/<prefix>]`);
  if (!match) throw problem('it has a query string or fragment');
  const bucket = match[1] ?? '';
  if (bucket === '') throw problem('the bucket name is missing');
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw problem(`"${bucket}" is not a valid bucket name (3-63 characters: a-z, 0-9, "." and "-")`);
  }
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  const prefixProblem = prefix === '' ? undefined : storeKeyProblem(prefix);
  if (prefixProblem) throw problem(`in the prefix, ${prefixProblem}`);
  return { bucket, prefix };
}
