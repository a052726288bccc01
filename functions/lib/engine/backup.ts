/**
 * A logical backup of one database into a vault:
 *
 *   dump tool ─▶ zstd (dumpPipeline.ts: a zstd process, or in this process) ─▶ Encryption SDK ─▶ SHA-256 + stored byte count ─▶ store.putStream
 *
 * Streams end to end: memory stays flat whatever the size of the database, and nothing touches local
 * disk. Any stage failing tears every stage down (and kills the dump tool); the payload, if any, is
 * removed, and no manifest is written, so the failed backup is never listed. The manifest goes last.
 */
import { performance } from 'node:perf_hooks';
import { type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_ZSTD_LEVEL } from '../codec/zstd.ts';
import { backupEncryptionContext, createEncryptStream, describeEncryption } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { DumpFailedError, LifeboatError, StoreWriteFailedError } from '../errors.ts';
import { writeManifest } from '../vault/catalog.ts';
import { assertSourceId, newBackupId, parseBackupId, PAYLOAD_NAME, payloadKey } from '../vault/layout.ts';
import { type DumpManifest, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { messageOf } from './driver.ts';
import { resolveJobs } from './jobs.ts';
import { prepareMysqlDump } from './mysql.ts';
import { runParallelBackup } from './parallelBackup.ts';
import { preparePostgresDump } from './postgres.ts';
import { type DumpFront, startDump } from './dumpPipeline.ts';
import { HashingCounter, type ProgressListener, ProgressMeter } from './progress.ts';
import { LIFEBOAT_VERSION } from './version.ts';
import type { ZstdRunner } from './zstdTool.ts';

export interface BackupOptions {
  readonly source: ConnectionInfo;
  readonly sourceId: string;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  /** @default a new id from `now` */
  readonly backupId?: string;
  /** The backup's start time, recorded as `startedAt` and in a generated id. @default the current time */
  readonly now?: Date;
  /** Called about once a second while bytes flow, and once at the end. */
  readonly onProgress?: ProgressListener;
  /** @default 1 (see codec/zstd.ts for why) */
  readonly compressionLevel?: number;
  /**
   * PostgreSQL: data streams of a parallel dump (vault format v1.1, see parallelBackup.ts); 1 is the
   * single-stream v1.0 payload. MySQL is always single-stream. @default the runner's vCPUs (`os.availableParallelism()`)
   */
  readonly jobs?: number;
  /** How zstd runs. @default the `zstd` command when installed, else in this process (engine/zstdTool.ts) */
  readonly zstd?: ZstdRunner;
}

export type { DumpManifest };

export interface BackupResult {
  readonly manifest: DumpManifest;
  /** What the backup left out and why (e.g. MySQL events without the EVENT privilege). */
  readonly warnings: readonly string[];
}

/**
 * Backs `source` up into `store` and returns the manifest written. Fails with `SourceUnreachableError`
 * (cannot connect), `DumpFailedError` (the dump tool failed or was killed; its stderr, scrubbed of the
 * password, in the message), `StoreWriteFailedError`, `EncryptionFailedError`, or the vault's errors.
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { source, sourceId, store, keyring } = options;
  const startedAt = options.now ?? new Date();
  const clockStart = performance.now();
  assertSourceId(sourceId);
  const backupId = options.backupId ?? newBackupId(startedAt);
  parseBackupId(backupId);
  const key = payloadKey(sourceId, backupId);
  const level = options.compressionLevel ?? DEFAULT_ZSTD_LEVEL;
  const encryptionContext = backupEncryptionContext(sourceId, backupId);
  const jobs = resolveJobs(options.jobs);
  if (source.engine === 'postgresql' && jobs > 1) {
    const { onProgress } = options;
    return runParallelBackup({ source, sourceId, store, keyring, backupId, startedAt, clockStart, compressionLevel: level, jobs, zstd: options.zstd, ...(onProgress ? { onProgress } : {}) });
  }

  const plan = await (source.engine === 'postgresql' ? preparePostgresDump(source) : prepareMysqlDump(source));
  let front: DumpFront | undefined;
  try {
    const hasher = new HashingCounter();
    const meter = new ProgressMeter('backup', () => ({ rawBytes: front?.rawBytesSoFar() ?? 0, storedBytes: hasher.bytes }), options.onProgress);
    front = await startDump({
      command: plan.command,
      args: plan.args,
      env: plan.env,
      level,
      zstd: options.zstd,
      inspector: plan.inspector,
      dumpFailed: (what, stderr) => dumpFailed(source, what, stderr),
      onChunk: meter.tick,
    });
    const stages: (Readable | Transform)[] = [...front.stages, createEncryptStream(keyring, encryptionContext), hasher];
    await pumpIntoStore(stages, (body) => store.putStream(key, body));
    const rawBytes = front.rawBytes();
    meter.finish();

    let tables;
    try {
      tables = await plan.tables();
    } catch (error) {
      throw new DumpFailedError(`Counting rows of ${describeConnection(source)} failed: ${redact(messageOf(error), source)}`, {
        cause: error,
      });
    }
    await plan.close();

    const manifest: DumpManifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_FORMAT_VERSION,
      backupId,
      sourceId,
      kind: 'dump',
      engine: source.engine,
      startedAt: startedAt.toISOString(),
      // Measured on a monotonic clock from `startedAt`, so it can never precede it.
      completedAt: new Date(startedAt.getTime() + Math.ceil(performance.now() - clockStart)).toISOString(),
      source: { database: source.database, serverVersion: plan.serverVersion, ...manifestHost(source) },
      tools: { lifeboat: LIFEBOAT_VERSION, dump: { name: plan.toolName, version: plan.toolVersion } },
      payload: {
        key: PAYLOAD_NAME,
        format: plan.payloadFormat,
        rawBytes,
        storedBytes: hasher.bytes,
        sha256: hasher.digest(),
      },
      compression: { codec: 'zstd', level },
      encryption: describeEncryption(keyring, encryptionContext),
      content: { tables },
    };
    await writeManifest(store, manifest);
    return { manifest, warnings: plan.warnings };
  } catch (error) {
    front?.tools.forEach((tool) => tool.kill());
    await Promise.all(front?.tools.map((tool) => tool.exited) ?? []);
    await plan.close();
    // The store removes a failed upload itself; this also covers a payload stored before a later step failed.
    await store.delete(key).catch(() => {});
    throw error;
  }
}

/**
 * Runs `stages` into `put` and settles once everything has stopped. The error reported is the first
 * one to happen, not whichever stage noticed last: a dump killed mid-stream is a `DumpFailedError`
 * even though the store then sees its body fail too.
 */
async function pumpIntoStore(stages: (Readable | Transform)[], put: (body: Readable) => Promise<unknown>): Promise<void> {
  const last = stages.at(-1) as Readable;
  let first: { error: unknown; fromStore: boolean } | undefined;
  for (const stage of stages) stage.on('error', (error) => (first ??= { error, fromStore: false }));

  const pumped = pipeline(stages);
  const stored = put(last);
  let storeError: unknown;
  stored.catch((error: unknown) => {
    storeError = error;
    first ??= { error, fromStore: true };
    last.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  await Promise.allSettled([pumped, stored]);
  if (!first) {
    await stored; // surfaces a failure that happened without any stage erroring
    await pumped;
    return;
  }
  const { error } = first;
  if (error instanceof LifeboatError) throw error;
  // A store may fail by destroying the body it reads with its own error.
  if (first.fromStore || error === storeError) {
    throw new StoreWriteFailedError(`Storing the backup payload failed: ${messageOf(error)}`, { cause: error });
  }
  throw new DumpFailedError(`The backup pipeline failed: ${messageOf(error)}`, { cause: error });
}

function dumpFailed(source: ConnectionInfo, what: string, stderr: string): DumpFailedError {
  const detail = stderr === '' ? '' : `: ${redact(stderr, source)}`;
  return new DumpFailedError(`Backup of ${describeConnection(source)} failed: ${what}${detail}`);
}

/** `host[:port]` when it fits the manifest's rule (never credentials; IPv6 literals are left out). */
function manifestHost(source: ConnectionInfo): { host?: string } {
  const host = `${source.host}:${source.port}`;
  return /^[^\s/@:]+(:\d+)?$/.test(host) ? { host } : {};
}
