/**
 * `npm run bench:vault`: listing, finding and pruning in a vault of 5,000 backups over four sources, in a
 * local directory and in a bucket on s3rver (issue 10 §3). Reports wall time and the store calls each
 * operation makes (list calls, keys listed, object reads, heads); on s3rver also the S3 requests. Call
 * counts are what scales with the vault; the times are this machine's, with s3rver on loopback.
 * Progress goes to stderr; stdout has the table and, as its last line, one JSON object.
 *
 * Options: --backups N (default 5000), --only local|s3.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { pruneVault } from '../functions/lib/retention/prune.ts';
import { findBackup, listBackups } from '../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, verificationKey } from '../functions/lib/vault/layout.ts';
import { serializeManifest, type BackupManifest } from '../functions/lib/vault/manifest.ts';
import { LocalStore } from '../functions/lib/vault/localStore.ts';
import { S3Store } from '../functions/lib/vault/s3Store.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import { listSummaries } from '../cli/commands/list.ts';
import { startLocalS3 } from '../test/harness/s3.ts';
import { round, table } from './report.ts';

const SOURCES = ['orders-db', 'billing-db', 'events-db', 'auth-db'];
const NOW = new Date('2026-12-01T00:00:00Z');
const HOUR = 3_600_000;
const PAYLOAD = Buffer.from('payload stand-in: the bench measures the catalog, not the bytes');
const POLICY = { days: 14, keepLast: 7, gfs: { daily: 14, weekly: 8, monthly: 12, yearly: 2 } };

const log = (line: string): void => void process.stderr.write(`[bench:vault] ${line}\n`);

/** Store calls, counted per method; `listed` is keys yielded by `list`. */
interface Calls {
  list: number;
  listed: number;
  getObject: number;
  head: number;
  getStream: number;
}

class CountingStore implements VaultStore {
  readonly calls: Calls = { list: 0, listed: 0, getObject: 0, head: 0, getStream: 0 };
  constructor(readonly inner: VaultStore) {}
  get location() {
    return this.inner.location;
  }
  putStream(key: string, body: Readable) {
    return this.inner.putStream(key, body);
  }
  putObject(key: string, data: Uint8Array | string) {
    return this.inner.putObject(key, data);
  }
  getStream(key: string) {
    this.calls.getStream += 1;
    return this.inner.getStream(key);
  }
  getObject(key: string) {
    this.calls.getObject += 1;
    return this.inner.getObject(key);
  }
  head(key: string) {
    this.calls.head += 1;
    return this.inner.head(key);
  }
  async *list(prefix: string) {
    this.calls.list += 1;
    for await (const key of this.inner.list(prefix)) {
      this.calls.listed += 1;
      yield key;
    }
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  reset() {
    Object.assign(this.calls, { list: 0, listed: 0, getObject: 0, head: 0, getStream: 0 });
  }
}

function backupIdAt(time: Date, n: number): string {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let suffix = '';
  for (let i = 0, v = n; i < 8; i += 1, v = Math.floor(v / 32)) suffix = alphabet[v % 32]! + suffix;
  return `${stamp}-${suffix}`;
}

/** `count` backups spread over the sources, one every 6 hours per source going back from NOW; most verified. */
async function generate(store: VaultStore, count: number): Promise<{ ids: string[] }> {
  const jobs: (() => Promise<void>)[] = [];
  const ids: string[] = [];
  for (let n = 0; n < count; n += 1) {
    const sourceId = SOURCES[n % SOURCES.length]!;
    const started = new Date(NOW.getTime() - (Math.floor(n / SOURCES.length) * 6 + 1) * HOUR);
    const backupId = backupIdAt(started, n);
    ids.push(backupId);
    const manifest: BackupManifest = {
      format: 'lifeboat-backup',
      formatVersion: '1.0',
      backupId,
      sourceId,
      kind: 'dump',
      engine: 'postgresql',
      startedAt: started.toISOString(),
      completedAt: new Date(started.getTime() + 600_000).toISOString(),
      source: { database: sourceId.replace(/-db$/, ''), serverVersion: '16.4', host: `${sourceId}.example.internal` },
      tools: { lifeboat: '0.1.0', dump: { name: 'pg_dump', version: '16.4' } },
      payload: { key: 'payload', format: 'pg_dump-custom', rawBytes: 4 * PAYLOAD.length, storedBytes: PAYLOAD.length, sha256: '0'.repeat(64) },
      compression: { codec: 'zstd', level: 1 },
      encryption: {
        scheme: 'aws-encryption-sdk',
        algorithmSuite: 'AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384',
        frameLength: 1_048_576,
        keyring: { type: 'raw-aes', keyName: 'bench', keyNamespace: 'lifeboat' },
        encryptionContext: { 'lifeboat:source': sourceId, 'lifeboat:backup': backupId },
      },
      content: { tables: [{ schema: 'public', name: 'orders', rows: 1000 + n, rowsExact: true }] },
    } as BackupManifest;
    // 9 in 10 verified, 1 in 20 failed, the rest never verified.
    const verdict = n % 20 === 7 ? 'failed' : n % 10 === 3 ? undefined : 'verified';
    jobs.push(async () => {
      await store.putObject(payloadKey(sourceId, backupId), PAYLOAD);
      await store.putObject(manifestKey(sourceId, backupId), serializeManifest(manifest));
      if (verdict) {
        const at = new Date(started.getTime() + 1_200_000);
        await store.putObject(verificationKey(sourceId, backupId, at), verification(sourceId, backupId, verdict, at));
      }
    });
  }
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < jobs.length) {
        await jobs[next++]!();
        done += 1;
        if (done % 1000 === 0) log(`  ${done}/${count} backups written`);
      }
    }),
  );
  return { ids };
}

function verification(sourceId: string, backupId: string, status: 'verified' | 'failed', at: Date): string {
  const checks = ['checksum', 'decrypt', 'structure', 'restore', 'row-counts'].map((name) => ({
    name,
    status: status === 'failed' && name === 'row-counts' ? 'failed' : 'passed',
    durationMs: 5,
    ...(status === 'failed' && name === 'row-counts' ? { reason: 'public.orders: 999 rows after the restore, the manifest records 1000' } : {}),
  }));
  return JSON.stringify({
    format: 'lifeboat-verification',
    formatVersion: '1.0',
    sourceId,
    backupId,
    status,
    startedAt: new Date(at.getTime() - 60_000).toISOString(),
    completedAt: at.toISOString(),
    checks,
    ...(status === 'failed' ? { reason: 'row-counts: public.orders: 999 rows after the restore, the manifest records 1000' } : {}),
  });
}

interface Row {
  vault: string;
  operation: string;
  seconds: number;
  calls: Calls;
  s3Requests?: number;
}

async function measure(
  vault: string,
  store: CountingStore,
  s3Requests: (() => number) | undefined,
  operation: string,
  run: () => Promise<unknown>,
): Promise<Row> {
  store.reset();
  const requestsBefore = s3Requests?.() ?? 0;
  const started = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const row: Row = { vault, operation, seconds, calls: { ...store.calls }, ...(s3Requests ? { s3Requests: s3Requests() - requestsBefore } : {}) };
  log(`${vault} ${operation}: ${seconds.toFixed(2)} s, ${JSON.stringify(row.calls)}${s3Requests ? `, ${row.s3Requests} S3 requests` : ''}`);
  return row;
}

async function operations(vault: string, store: CountingStore, ids: string[], s3Requests?: () => number): Promise<Row[]> {
  const rows: Row[] = [];
  const one = SOURCES[1]!;
  const target = ids[Math.floor(ids.length / 2)]!;
  rows.push(await measure(vault, store, s3Requests, 'list (all sources)', () => listBackups(store)));
  rows.push(await measure(vault, store, s3Requests, 'lifeboat list (manifests + statuses)', () => listSummaries(store)));
  rows.push(await measure(vault, store, s3Requests, 'lifeboat list --limit 20', () => listSummaries(store, { limit: 20 })));
  rows.push(await measure(vault, store, s3Requests, `list --source ${one}`, () => listBackups(store, { sourceId: one })));
  rows.push(await measure(vault, store, s3Requests, 'find one backup by id', () => findBackup(store, target)));
  rows.push(
    await measure(vault, store, s3Requests, `prune --dry-run ${one}`, () =>
      pruneVault(store, { sourceId: one, policy: POLICY, timeZone: 'Europe/Berlin', now: NOW, dryRun: true }),
    ),
  );
  return rows;
}

function countRequests(client: S3Client): () => number {
  let count = 0;
  client.middlewareStack.add((next) => (args) => ((count += 1), next(args)), { step: 'initialize', name: 'benchCountRequests' });
  return () => count;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const countFlag = args.indexOf('--backups');
  const count = countFlag === -1 ? 5000 : Number(args[countFlag + 1]);
  const onlyFlag = args.indexOf('--only');
  const only = onlyFlag === -1 ? undefined : args[onlyFlag + 1];
  if (!Number.isInteger(count) || count < SOURCES.length) throw new Error(`--backups must be an integer >= ${SOURCES.length}`);
  const rows: Row[] = [];

  if (only === undefined || only === 'local') {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-vault-'));
    try {
      log(`writing ${count} backups to ${dir}`);
      const store = new CountingStore(new LocalStore(dir));
      const { ids } = await generate(store, count);
      rows.push(...(await operations('local', store, ids)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (only === undefined || only === 's3') {
    const s3 = await startLocalS3();
    try {
      const bucket = await s3.createBucket();
      const requests = countRequests(s3.client);
      const store = new CountingStore(new S3Store({ client: s3.client, bucket }));
      log(`writing ${count} backups to s3rver bucket ${bucket}`);
      const { ids } = await generate(store, count);
      rows.push(...(await operations('s3rver', store, ids, requests)));
    } finally {
      await s3.stop();
    }
  }

  process.stdout.write(
    `${table(
      ['vault', 'operation', 'seconds', 'list calls', 'keys listed', 'gets', 'heads', 'S3 requests'],
      rows.map((r) => [
        r.vault,
        r.operation,
        r.seconds.toFixed(2),
        String(r.calls.list),
        String(r.calls.listed),
        String(r.calls.getObject),
        String(r.calls.head),
        r.s3Requests === undefined ? '-' : String(r.s3Requests),
      ]),
    )}\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ backups: count, rows: rows.map((r) => ({ ...r, seconds: round(r.seconds, 3) })) })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:vault failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
