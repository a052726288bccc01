/**
 * Redis backups in the vault: the `redis-keys` payload (logical.ts) through the same envelope as the
 * database dumps, and back out into a server or an RDB file.
 *
 *   SCAN + MULTI/DUMP/PTTL/EXEC ─▶ redis-keys records ─▶ raw byte count ─▶ zstd ─▶ Encryption SDK ─▶ SHA-256 ─▶ store.putStream
 *
 * The manifest (vault format 1.2, engine `redis`) goes last and records the keys per database the
 * payload holds beside what INFO keyspace reported when the backup began (see docs/redis.md).
 */
import { createHash } from 'node:crypto';
import { access, constants, copyFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressStream, createDecompressStream, DEFAULT_ZSTD_LEVEL } from '../codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream, createEncryptStream, describeEncryption } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { ChecksumMismatchError, ConfigError, DumpFailedError, LifeboatError, StoreWriteFailedError } from '../errors.ts';
import { assertKeyringMatches } from '../engine/restore.ts';
import { ByteCounter, HashingCounter, ProgressMeter, type ProgressListener } from '../engine/progress.ts';
import { LIFEBOAT_VERSION } from '../engine/version.ts';
import { writeManifest } from '../vault/catalog.ts';
import { assertSourceId, backupPrefix, newBackupId, parseBackupId, PAYLOAD_NAME, payloadKey } from '../vault/layout.ts';
import { MANIFEST_FORMAT, REDIS_FORMAT_VERSION, type BackupManifest, type DumpManifest } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { readKeysRecords, type KeysRecord } from './keysFormat.ts';
import { dumpKeyspace, restoreKeyspace, type KeyspaceRestoreSummary } from './logical.ts';
import { describeEndpoint, RedisClient, type RedisEndpoint } from './resp.ts';
import { ScratchRedis } from './scratch.ts';

export const REDIS_DUMP_TOOL = 'lifeboat-redis';
export const REDIS_PAYLOAD_FORMAT = 'redis-keys';

export interface RedisBackupOptions {
  readonly endpoint: RedisEndpoint;
  readonly sourceId: string;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly backupId?: string;
  readonly now?: Date;
  readonly onProgress?: ProgressListener;
  /** @default 1 */
  readonly compressionLevel?: number;
  /** Keys per SCAN and per MULTI/EXEC batch. @default 500 */
  readonly batchSize?: number;
  /**
   * The version the manifest records, when the server read is not the source itself (an ElastiCache export
   * loaded into a scratch server records the cache's engine version). @default what INFO server says
   */
  readonly serverVersion?: string;
}

export interface RedisBackupResult {
  readonly manifest: DumpManifest;
  /** E.g. the keyspace changed while it was read. */
  readonly warnings: readonly string[];
}

/**
 * Backs the Redis server at `endpoint` up into `store`. A failure removes the payload and writes no
 * manifest, so the failed backup is never listed.
 */
export async function runRedisBackup(options: RedisBackupOptions): Promise<RedisBackupResult> {
  const { store, sourceId, keyring } = options;
  assertSourceId(sourceId);
  const startedAt = options.now ?? new Date();
  const clockStart = performance.now();
  const backupId = options.backupId ?? newBackupId(startedAt);
  parseBackupId(backupId);
  const key = payloadKey(sourceId, backupId);
  const level = options.compressionLevel ?? DEFAULT_ZSTD_LEVEL;
  const encryptionContext = backupEncryptionContext(sourceId, backupId);

  let client: RedisClient;
  try {
    client = await RedisClient.connect(options.endpoint);
  } catch (error) {
    throw new DumpFailedError(`Backup of Redis at ${describeEndpoint(options.endpoint)} failed: ${(error as Error).message}`, { cause: error });
  }
  try {
    const { payload, summary } = dumpKeyspace(client, options.batchSize ? { batchSize: options.batchSize } : {});
    const raw = new ByteCounter(() => meter.tick());
    const hasher = new HashingCounter();
    const meter = new ProgressMeter('backup', () => ({ rawBytes: raw.bytes, storedBytes: hasher.bytes }), options.onProgress);
    const last = hasher;
    const pumped = pipeline(Readable.from(payload), raw, createCompressStream({ level }), createEncryptStream(keyring, encryptionContext), hasher);
    const stored = store.putStream(key, last);
    const [pumpOutcome, storeOutcome] = await Promise.allSettled([pumped, stored]);
    if (pumpOutcome.status === 'rejected') throw asBackupError(pumpOutcome.reason, options.endpoint);
    if (storeOutcome.status === 'rejected') {
      const error = storeOutcome.reason;
      throw error instanceof LifeboatError ? error : new StoreWriteFailedError(`Storing the Redis payload failed: ${(error as Error).message}`, { cause: error });
    }
    meter.finish();
    const dumped = await summary;

    const warnings = dumped.databases
      .filter((db) => db.keys !== db.reportedKeys)
      .map((db) => `db${db.db}: ${db.keys} keys backed up, INFO keyspace reported ${db.reportedKeys} when the backup began (keys were written, deleted or expired meanwhile)`);
    const manifest: DumpManifest = {
      format: MANIFEST_FORMAT,
      formatVersion: REDIS_FORMAT_VERSION,
      backupId,
      sourceId,
      kind: 'dump',
      engine: 'redis',
      startedAt: startedAt.toISOString(),
      completedAt: new Date(startedAt.getTime() + Math.ceil(performance.now() - clockStart)).toISOString(),
      // Redis has no database names: `*` is every database the server has.
      source: { database: '*', serverVersion: options.serverVersion ?? dumped.serverVersion, ...manifestHost(options.endpoint) },
      tools: { lifeboat: LIFEBOAT_VERSION, dump: { name: REDIS_DUMP_TOOL, version: LIFEBOAT_VERSION } },
      payload: { key: PAYLOAD_NAME, format: REDIS_PAYLOAD_FORMAT, rawBytes: raw.bytes, storedBytes: hasher.bytes, sha256: hasher.digest() },
      compression: { codec: 'zstd', level },
      encryption: describeEncryption(keyring, encryptionContext),
      content: { tables: [], keyspace: dumped.databases },
    };
    await writeManifest(store, manifest);
    return { manifest, warnings };
  } catch (error) {
    await store.delete(key).catch(() => {});
    throw error;
  } finally {
    client.close();
  }
}

function asBackupError(error: unknown, endpoint: RedisEndpoint): Error {
  if (error instanceof LifeboatError) return error;
  return new DumpFailedError(`Backup of Redis at ${describeEndpoint(endpoint)} failed: ${(error as Error).message}`, { cause: error });
}

function manifestHost(endpoint: RedisEndpoint): { host?: string } {
  if (endpoint.path !== undefined) return {};
  const host = `${endpoint.host ?? '127.0.0.1'}:${endpoint.port ?? 6379}`;
  return /^[^\s/@:]+(:\d+)?$/.test(host) ? { host } : {};
}

/** The manifest as a Redis backup, or a clear error for any other. */
export function asRedisManifest(manifest: BackupManifest): DumpManifest & { content: { keyspace: NonNullable<BackupManifest['content']['keyspace']> } } {
  if (manifest.engine !== 'redis' || manifest.kind !== 'dump' || !manifest.payload || !manifest.encryption || !manifest.content.keyspace) {
    throw new ConfigError(`Backup ${manifest.sourceId}/${manifest.backupId} is a ${manifest.engine} ${manifest.kind}, not a Redis backup`);
  }
  if (manifest.payload.format !== REDIS_PAYLOAD_FORMAT) {
    throw new ConfigError(`Backup ${manifest.backupId} has payload format ${manifest.payload.format}; this Lifeboat reads ${REDIS_PAYLOAD_FORMAT}`);
  }
  return manifest as ReturnType<typeof asRedisManifest>;
}

/** Fails after the last byte when the stored bytes are not the ones the manifest records. */
export class StoredBytesCheck extends Transform {
  readonly #hash = createHash('sha256');
  #bytes = 0;
  constructor(
    readonly key: string,
    readonly manifest: DumpManifest,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    const { storedBytes, sha256 } = this.manifest.payload;
    const digest = this.#hash.digest('hex');
    if (this.#bytes !== storedBytes) {
      callback(new ChecksumMismatchError(`Payload ${this.key} holds ${this.#bytes} bytes; its manifest says ${storedBytes}`));
    } else if (digest !== sha256) {
      callback(new ChecksumMismatchError(`Payload ${this.key} has SHA-256 ${digest}; its manifest records ${sha256}`));
    } else {
      callback();
    }
  }
}

/**
 * The payload's records, read from the vault, checked (size, SHA-256), decrypted and decompressed as
 * they stream. Each call opens the payload afresh.
 */
export function openRedisRecords(store: VaultStore, manifest: BackupManifest, keyring: BackupKeyring): () => AsyncIterable<KeysRecord> {
  const redis = asRedisManifest(manifest);
  assertKeyringMatches(redis.encryption.keyring, keyring.description);
  const key = `${backupPrefix(redis.sourceId, redis.backupId)}${redis.payload.key}`;
  return () => ({
    async *[Symbol.asyncIterator]() {
      const head = await store.head(key);
      if (!head) throw new ChecksumMismatchError(`Payload ${key} of backup ${redis.backupId} is missing from ${store.location}`);
      if (head.bytes !== redis.payload.storedBytes) {
        throw new ChecksumMismatchError(`Payload ${key} holds ${head.bytes} bytes; its manifest says ${redis.payload.storedBytes} (truncated or altered)`);
      }
      const stages = [
        await store.getStream(key),
        new StoredBytesCheck(key, redis),
        createDecryptStream(keyring, backupEncryptionContext(redis.sourceId, redis.backupId)),
        createDecompressStream(),
      ] as const;
      const plain = stages.slice(1).reduce<Readable>((from, to) => from.pipe(to as Transform), stages[0]);
      // pipe() does not forward errors: destroy the tail with the first one, so the reader sees it.
      for (const stage of stages) stage.on('error', (error) => plain.destroy(error));
      try {
        yield* readKeysRecords(plain);
      } finally {
        for (const stage of stages) stage.destroy();
      }
    },
  });
}

export interface RedisRestoreOptions {
  readonly store: VaultStore;
  readonly manifest: BackupManifest;
  readonly keyring: BackupKeyring;
  /** Replace keys the target already holds. @default false */
  readonly replace?: boolean;
}

/** Restores into a running server (RESTORE … ABSTTL); refuses existing keys unless `replace`. */
export async function restoreRedisBackup(options: RedisRestoreOptions & { readonly target: RedisEndpoint }): Promise<KeyspaceRestoreSummary> {
  const open = openRedisRecords(options.store, options.manifest, options.keyring);
  const client = await RedisClient.connect(options.target);
  try {
    return await restoreKeyspace(open, client, { replace: options.replace ?? false });
  } finally {
    client.close();
  }
}

/**
 * Writes the backup as an RDB file: restored into a scratch redis-server (keys already expired left out),
 * saved, and the file copied to `rdbFile`, which must not exist unless `replace`.
 */
export async function restoreRedisBackupToRdb(
  options: Omit<RedisRestoreOptions, 'replace'> & { readonly rdbFile: string; readonly overwrite?: boolean; readonly scratchCommand?: string },
): Promise<KeyspaceRestoreSummary> {
  if (!options.overwrite && (await access(options.rdbFile).then(() => true, () => false))) {
    throw new ConfigError(`${options.rdbFile} exists; give --overwrite to replace it`);
  }
  const open = openRedisRecords(options.store, options.manifest, options.keyring);
  const databases = Math.max(16, ...asRedisManifest(options.manifest).content.keyspace.map((d) => d.db + 1));
  const scratch = await ScratchRedis.start({ databases, ...(options.scratchCommand ? { command: options.scratchCommand } : {}) });
  try {
    const client = await scratch.connect();
    let summary: KeyspaceRestoreSummary;
    try {
      summary = await restoreKeyspace(open, client);
    } finally {
      client.close();
    }
    await scratch.save();
    try {
      await copyFile(scratch.rdbPath, options.rdbFile, options.overwrite ? 0 : constants.COPYFILE_EXCL);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`${options.rdbFile} exists; give --overwrite to replace it`);
      throw error;
    }
    return summary;
  } finally {
    await scratch.stop();
  }
}
