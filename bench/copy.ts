/**
 * `npm run bench:copy`: the DR copy of one large payload on s3rver (issue 10 §3): the multipart copy
 * (UploadPartCopy) with 1 and with 8 parts in flight, and the re-hash of the copy as one streamed GET against
 * concurrent ranged GETs hashed in order. s3rver is one Node process on this machine, sharing its cores with
 * the bench, so the numbers show what concurrency buys against a server that overlaps disk and network,
 * not what S3 does. Progress goes to stderr; stdout has the table and, as its last line, one JSON object.
 *
 * Options: --mib N (payload size, default 384), --runs N (best of N, default 2).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { copyBackup, type VaultCopyDeps } from '../functions/copy/vaultCopy.ts';
import { sha256OfRanges } from '../functions/copy/rangedHash.ts';
import { createS3Client } from '../functions/lib/aws/s3Client.ts';
import { writeManifest } from '../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey } from '../functions/lib/vault/layout.ts';
import { S3Store } from '../functions/lib/vault/s3Store.ts';
import { startLocalS3 } from '../test/harness/s3.ts';
import { round, table } from './report.ts';

const MiB = 1024 * 1024;
const BACKUP = '20261201T000000Z-benchcpy';
const SOURCE = 'bench-db';
const log = (line: string): void => void process.stderr.write(`[bench:copy] ${line}\n`);

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? fallback : Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await run();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

/** The re-hash as it was before this change: one GetObject streamed through SHA-256. */
async function streamedHash(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of out.Body as Readable) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const size = option('mib', 384) * MiB;
  const runs = option('runs', 2);
  const s3 = await startLocalS3();
  try {
    const primaryBucket = await s3.createBucket();
    const drBucket = await s3.createBucket();
    const primary = new S3Store({ client: s3.client, bucket: primaryBucket, partSize: 16 * MiB });
    log(`writing a ${size / MiB} MiB payload`);
    const hash = createHash('sha256');
    let written = 0;
    async function* payload() {
      while (written < size) {
        const chunk = randomBytes(Math.min(8 * MiB, size - written));
        hash.update(chunk);
        written += chunk.length;
        yield chunk;
      }
    }
    const { Readable } = await import('node:stream');
    await primary.putStream(payloadKey(SOURCE, BACKUP), Readable.from(payload()));
    const sha256 = hash.digest('hex');
    const manifest = {
      format: 'lifeboat-backup',
      formatVersion: '1.0',
      backupId: BACKUP,
      sourceId: SOURCE,
      kind: 'dump',
      engine: 'postgresql',
      startedAt: '2026-12-01T00:00:00.000Z',
      completedAt: '2026-12-01T00:10:00.000Z',
      source: { database: 'bench', serverVersion: '16.4', host: 'bench.internal' },
      tools: { lifeboat: '0.1.0', dump: { name: 'pg_dump', version: '16.4' } },
      payload: { key: 'payload', format: 'pg_dump-custom', rawBytes: size * 3, storedBytes: size, sha256 },
      compression: { codec: 'zstd', level: 1 },
      encryption: {
        scheme: 'aws-encryption-sdk',
        algorithmSuite: 'AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384',
        frameLength: 1_048_576,
        keyring: { type: 'raw-aes', keyNamespace: 'lifeboat', keyName: 'bench' },
        encryptionContext: { 'lifeboat:source': SOURCE, 'lifeboat:backup': BACKUP },
      },
      content: { tables: [] },
    } as const;
    await writeManifest(primary, manifest as never);

    const clients: S3Client[] = [];
    const deps = (partConcurrency: number): VaultCopyDeps => {
      const client = createS3Client({ endpoint: s3.endpoint });
      clients.push(client);
      return {
        primary: { client, bucket: primaryBucket },
        dr: { client, bucket: drBucket, region: 'eu-central-1', kmsKeyId: 'arn:aws:kms:eu-central-1:111122223333:key/mrk-bench' },
        drRds: new RDSClient({ region: 'eu-central-1' }),
        multipartThresholdBytes: 16 * MiB,
        partSizeBytes: 16 * MiB,
        partConcurrency,
      };
    };
    const clearDr = async () => {
      for (const key of [manifestKey(SOURCE, BACKUP), payloadKey(SOURCE, BACKUP)]) await s3.client.send(new DeleteObjectCommand({ Bucket: drBucket, Key: key }));
    };

    const rows: { name: string; seconds: number }[] = [];
    const best = async (name: string, run: () => Promise<unknown>, before?: () => Promise<void>) => {
      let fastest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < runs; i += 1) {
        await before?.();
        const { seconds } = await timed(run);
        log(`${name}: ${seconds.toFixed(2)} s`);
        fastest = Math.min(fastest, seconds);
      }
      rows.push({ name, seconds: fastest });
    };

    // The whole copy-backup (multipart copy, re-hash with the defaults: 4 ranged GETs of 16 MiB, manifest).
    for (const concurrency of [1, 8]) {
      await best(`copy-backup, ${concurrency} part(s) in flight`, async () => {
        const result = await copyBackup({ sourceId: SOURCE, backupId: BACKUP }, deps(concurrency));
        if (result.sha256 !== sha256 || result.partsCopied !== Math.ceil(size / (16 * MiB))) throw new Error('copy did not copy every part');
      }, clearDr);
    }
    // The re-hash alone, of the DR copy the last run left.
    const key = payloadKey(SOURCE, BACKUP);
    const reader = createS3Client({ endpoint: s3.endpoint });
    clients.push(reader);
    await best('re-hash: one streamed GET (before)', async () => {
      if ((await streamedHash(reader, drBucket, key)) !== sha256) throw new Error('hash mismatch');
    });
    for (const concurrency of [1, 4, 8]) {
      await best(`re-hash: ${concurrency} ranged GET(s) of 16 MiB ahead`, async () => {
        const out = await sha256OfRanges(reader, drBucket, key, size, { rangeBytes: 16 * MiB, concurrency });
        if (out.sha256 !== sha256) throw new Error('hash mismatch');
      });
    }
    for (const client of clients) client.destroy();

    const mibs = size / MiB;
    process.stdout.write(`${table(['measurement', 'seconds', 'MiB/s'], rows.map((r) => [r.name, r.seconds.toFixed(2), (mibs / r.seconds).toFixed(0)]))}\n`);
    process.stdout.write(
      `${JSON.stringify({ payload_mib: mibs, runs, rows: rows.map((r) => ({ name: r.name, seconds: round(r.seconds, 3), mib_per_s: round(mibs / r.seconds, 1) })) })}\n`,
    );
  } finally {
    await s3.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:copy failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
