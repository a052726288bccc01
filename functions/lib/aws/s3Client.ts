import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** Where the vault's S3 client points; everything optional so Lambda's environment supplies region and role. */
export interface S3ClientOptions {
  /** @default the SDK's resolution (AWS_REGION in Lambda); `us-east-1` when an endpoint is given */
  readonly region?: string;
  /** An S3-protocol server such as s3rver on loopback. @default AWS's own S3 endpoint */
  readonly endpoint?: string;
  /** @default the SDK's credential chain; with an endpoint, the dummy pair s3rver accepts */
  readonly credentials?: S3ClientConfig['credentials'];
  /**
   * With an endpoint and no `credentials`: take them from the SDK's credential chain (an S3-compatible
   * server off AWS, such as MinIO, checks real keys) instead of the dummy pair. @default false
   */
  readonly credentialChain?: boolean;
}

/** s3rver's built-in account; it verifies signatures against this pair. */
const LOCAL_ENDPOINT_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * The one way Lifeboat builds an S3 client, shared by the engine, the functions and the tests.
 *
 * Checksums are calculated and validated only when an operation requires them: the SDK's default
 * (CRC32 trailers on every upload, aws-chunked encoding) is not understood by S3-protocol servers
 * such as s3rver, which then store the chunk framing as part of the object. Lifeboat computes its
 * own SHA-256 of stored bytes and records it in the manifest, so nothing is lost.
 *
 * @example
 * const s3 = createS3Client({ endpoint: 'http://127.0.0.1:4568' });
 */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  const { endpoint } = options;
  const config: S3ClientConfig = {
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (endpoint !== undefined) {
    config.endpoint = endpoint;
    // Local servers have no per-bucket DNS names.
    config.forcePathStyle = true;
    config.region = options.region ?? 'us-east-1';
    if (options.credentials !== undefined) config.credentials = options.credentials;
    else if (options.credentialChain !== true) config.credentials = LOCAL_ENDPOINT_CREDENTIALS;
  } else {
    if (options.region !== undefined) config.region = options.region;
    if (options.credentials !== undefined) config.credentials = options.credentials;
  }
  return new S3Client(config);
}

/**
 * The S3 client options a command-line run takes from its environment, as the AWS CLI does:
 * `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else `LIFEBOAT_S3_ENDPOINT` (kept for existing setups)
 * names an S3-compatible server (MinIO, Ceph, s3rver...), addressed path-style. Credentials always come
 * from the normal chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` of `env` first,
 * then the SDK's profile, SSO, container and instance providers. The Region is `AWS_REGION` /
 * `AWS_DEFAULT_REGION` of `env`, else the SDK's (with an endpoint, `us-east-1`, which such servers accept).
 *
 * @example
 * const s3 = createS3Client(s3ClientOptionsFromEnv(process.env));
 */
export function s3ClientOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): S3ClientOptions {
  const endpoint = env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || env['LIFEBOAT_S3_ENDPOINT'] || undefined;
  const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || undefined;
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  const sessionToken = env['AWS_SESSION_TOKEN'];
  const credentials =
    accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : undefined;
  return {
    ...(endpoint === undefined ? {} : { endpoint, credentialChain: true }),
    ...(region === undefined ? {} : { region }),
    ...(credentials === undefined ? {} : { credentials }),
  };
}
