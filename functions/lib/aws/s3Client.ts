import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** Where the vault's S3 client points; everything optional so Lambda's environment supplies region and role. */
export interface S3ClientOptions {
  /** @default the SDK's resolution (AWS_REGION in Lambda); `us-east-1` when an endpoint is given */
  readonly region?: string;
  /** An S3-protocol server such as s3rver on loopback. @default AWS's own S3 endpoint */
  readonly endpoint?: string;
  /** @default the SDK's credential chain; with an endpoint, the dummy pair s3rver accepts */
  readonly credentials?: S3ClientConfig['credentials'];
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
    config.credentials = options.credentials ?? LOCAL_ENDPOINT_CREDENTIALS;
  } else {
    if (options.region !== undefined) config.region = options.region;
    if (options.credentials !== undefined) config.credentials = options.credentials;
  }
  return new S3Client(config);
}
