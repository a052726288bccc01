import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../functions/lib/aws/s3Client.ts';
import { installMultipartCopy } from './s3MultipartCopy.ts';

/** The part of s3rver's API the harness uses (the package ships no type declarations). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly httpServer?: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  resetOnClose?: boolean;
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** An S3-protocol server on loopback with its own empty storage directory; one per test file. */
export interface LocalS3 {
  /** e.g. `http://127.0.0.1:41234` */
  readonly endpoint: string;
  /** Built by `createS3Client`, exactly as the engine builds its own. */
  readonly client: S3Client;
  /** s3rver's storage directory, for tests that inspect what landed on disk. */
  readonly directory: string;
  /** Creates a bucket (a unique `lb-test-…` name unless given) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** Closes the client and the server, then deletes the storage directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 with a random port in a fresh temporary directory.
 *
 * @example
 * let s3: LocalS3;
 * beforeAll(async () => { s3 = await startLocalS3(); });
 * afterAll(() => s3.stop());
 */
export async function startLocalS3(): Promise<LocalS3> {
  assertLegacyOpenSslProvider();
  const directory = await mkdtemp(join(tmpdir(), 'lifeboat-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
  // UploadPartCopy, ListParts, ListMultipartUploads, AbortMultipartUpload: the DR copy's operations s3rver lacks.
  installMultipartCopy(server as unknown as Parameters<typeof installMultipartCopy>[0]);
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw new Error(`s3rver could not start in ${directory}`, { cause: error });
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = createS3Client({ endpoint });
  let stopped = false;

  return {
    endpoint,
    client,
    directory,
    async createBucket(name = `lb-test-${randomBytes(6).toString('hex')}`) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.destroy();
      // The SDK keeps sockets alive; without this, close() waits for their idle timeout.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers through
 * its legacy provider. Fail at start-up rather than with a 500 on the first paginated listing.
 */
function assertLegacyOpenSslProvider(): void {
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch (error) {
    throw new Error(
      's3rver needs Node started with --openssl-legacy-provider (DES continuation tokens for paginated listings). ' +
        'vitest.config.ts passes it to the test workers; elsewhere run with NODE_OPTIONS=--openssl-legacy-provider.',
      { cause: error },
    );
  }
}
