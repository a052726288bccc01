/**
 * A parallel PostgreSQL backup (vault format v1.1): every part of postgresParallel.ts's plan runs at once,
 * each through its own copy of the single-stream pipeline and into its own object:
 *
 *   pg_dump (one snapshot) ─▶ zstd (dumpPipeline.ts) ─▶ Encryption SDK ─▶ SHA-256 + stored byte count ─▶ store.putStream
 *
 * Nothing is held whole in memory or on disk: each part streams like the single payload does, so memory
 * grows with the number of streams, not with the database. The first failure of any part (a pg_dump that
 * dies or is killed, the store, encryption) kills every pg_dump, removes every part already stored, and
 * fails the backup with that first error; no manifest is written, so the backup is never listed.
 */
import { performance } from 'node:perf_hooks';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { backupEncryptionContext, createEncryptStream, describeEncryption } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { DumpFailedError, LifeboatError, StoreWriteFailedError } from '../errors.ts';
import { writeManifest } from '../vault/catalog.ts';
import { backupPrefix } from '../vault/layout.ts';
import {
  type DumpManifest,
  MANIFEST_FORMAT,
  type ManifestPart,
  MULTI_PART_FORMAT_VERSION,
  payloadPartsDigest,
} from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { messageOf } from './driver.ts';
import { type PartDump, preparePostgresParallelDump } from './postgresParallel.ts';
import { onInterrupt } from './interrupt.ts';
import { type DumpFront, startDump } from './dumpPipeline.ts';
import type { RunningTool } from './process.ts';
import { HashingCounter, type ProgressListener, ProgressMeter } from './progress.ts';
import { LIFEBOAT_VERSION } from './version.ts';
import type { ZstdRunner } from './zstdTool.ts';

export interface ParallelBackupOptions {
  readonly source: ConnectionInfo;
  readonly sourceId: string;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly backupId: string;
  readonly startedAt: Date;
  /** `performance.now()` when the backup started, for `completedAt`. */
  readonly clockStart: number;
  readonly compressionLevel: number;
  /** Data streams (the schema and post-data parts run beside them). */
  readonly jobs: number;
  readonly onProgress?: ProgressListener;
  /** How zstd runs (see zstdTool.ts). @default the `zstd` command when installed */
  readonly zstd?: ZstdRunner | undefined;
}

/** Backs a PostgreSQL database up in `jobs` data streams; same errors as the single-stream `runBackup`. */
export async function runParallelBackup(options: ParallelBackupOptions): Promise<{ manifest: DumpManifest; warnings: string[] }> {
  const { source, sourceId, store, keyring, backupId, startedAt } = options;
  const encryptionContext = backupEncryptionContext(sourceId, backupId);
  const prefix = backupPrefix(sourceId, backupId);
  const plan = await preparePostgresParallelDump(source, options.jobs);

  const tools: RunningTool<unknown, unknown>[] = [];
  const counters: { raw: Pick<DumpFront, 'rawBytesSoFar'>; stored: HashingCounter }[] = [];
  const meter = new ProgressMeter(
    'backup',
    () => counters.reduce((sum, c) => ({ rawBytes: sum.rawBytes + c.raw.rawBytesSoFar(), storedBytes: sum.storedBytes + c.stored.bytes }), { rawBytes: 0, storedBytes: 0 }),
    options.onProgress,
  );
  let firstError: unknown;
  const killAll = () => tools.forEach((tool) => tool.kill());

  const dumpPart = async (part: PartDump): Promise<ManifestPart> => {
    const front = await startDump({
      command: 'pg_dump',
      args: part.args,
      env: plan.env,
      level: options.compressionLevel,
      zstd: options.zstd,
      dumpFailed: (what, stderr) => partFailed(source, part, what, stderr),
      onChunk: meter.tick,
    });
    tools.push(...front.tools);
    const stored = new HashingCounter();
    counters.push({ raw: front, stored });
    const stages: (Readable | Transform)[] = [...front.stages, createEncryptStream(keyring, encryptionContext), stored];
    try {
      await pumpPart(stages, (body) => store.putStream(`${prefix}${part.key}`, body), part);
    } catch (error) {
      // The first failure stops every other part: their pg_dumps are killed, so they fail fast too.
      firstError ??= error;
      killAll();
      throw error;
    }
    return {
      key: part.key,
      section: part.section,
      rawBytes: front.rawBytes(),
      storedBytes: stored.bytes,
      sha256: stored.digest(),
      ...(part.tables ? { tables: part.tables.map(({ schema, name }) => ({ schema, name })) } : {}),
    };
  };

  // An interrupted run removes the parts stored so far (the stores undo their own unfinished uploads; spawnTool's children are stopped).
  const releaseParts = onInterrupt('removed', `parts of unfinished backup ${prefix}`, () =>
    Promise.all(plan.parts.map((part) => store.delete(`${prefix}${part.key}`).catch(() => {}))),
  );
  try {
    // Every pg_dump starts now, while the snapshot is certainly open; the parts run side by side.
    const settled = await Promise.allSettled(plan.parts.map(dumpPart));
    if (firstError !== undefined) throw firstError;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const parts = settled.map((s) => (s as PromiseFulfilledResult<ManifestPart>).value);
    meter.finish();

    let tables;
    try {
      tables = await plan.tables();
    } catch (error) {
      throw new DumpFailedError(`Counting rows of ${describeConnection(source)} failed: ${redact(messageOf(error), source)}`, { cause: error });
    }
    await plan.close();

    const manifest: DumpManifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MULTI_PART_FORMAT_VERSION,
      backupId,
      sourceId,
      kind: 'dump',
      engine: 'postgresql',
      startedAt: startedAt.toISOString(),
      completedAt: new Date(startedAt.getTime() + Math.ceil(performance.now() - options.clockStart)).toISOString(),
      source: { database: source.database, serverVersion: plan.serverVersion, ...manifestHost(source) },
      tools: { lifeboat: LIFEBOAT_VERSION, dump: { name: 'pg_dump', version: plan.toolVersion } },
      payload: {
        key: 'payload',
        format: 'pg_dump-custom-parts',
        rawBytes: parts.reduce((sum, p) => sum + p.rawBytes, 0),
        storedBytes: parts.reduce((sum, p) => sum + p.storedBytes, 0),
        sha256: payloadPartsDigest(parts),
        parts,
      },
      compression: { codec: 'zstd', level: options.compressionLevel },
      encryption: describeEncryption(keyring, encryptionContext),
      content: { tables },
    };
    await writeManifest(store, manifest);
    releaseParts();
    return { manifest, warnings: [] };
  } catch (error) {
    killAll();
    await Promise.all(tools.map((tool) => tool.exited));
    await plan.close();
    // A store removes a failed upload itself; this also covers parts stored before another part failed.
    await Promise.all(plan.parts.map((part) => store.delete(`${prefix}${part.key}`).catch(() => {})));
    releaseParts();
    throw error;
  }
}

/**
 * Runs one part's stages into the store and settles once everything has stopped; the error reported is
 * the first to happen (a pg_dump killed mid-stream is a `DumpFailedError` although the store then sees
 * its body fail too). The same rule as the single-stream pipeline's.
 */
async function pumpPart(stages: (Readable | Transform)[], put: (body: Readable) => Promise<unknown>, part: PartDump): Promise<void> {
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
    await stored;
    await pumped;
    return;
  }
  const { error } = first;
  if (error instanceof LifeboatError) throw error;
  if (first.fromStore || error === storeError) {
    throw new StoreWriteFailedError(`Storing the backup's ${part.label} failed: ${messageOf(error)}`, { cause: error });
  }
  throw new DumpFailedError(`The backup pipeline of the ${part.label} failed: ${messageOf(error)}`, { cause: error });
}

function partFailed(source: ConnectionInfo, part: PartDump, what: string, stderr: string): DumpFailedError {
  const detail = stderr === '' ? '' : `: ${redact(stderr, source)}`;
  return new DumpFailedError(`Backup of ${describeConnection(source)} failed in its ${part.label}: ${what}${detail}`);
}

/** `host[:port]` when it fits the manifest's rule (never credentials; IPv6 literals are left out). */
function manifestHost(source: ConnectionInfo): { host?: string } {
  const host = `${source.host}:${source.port}`;
  return /^[^\s/@:]+(:\d+)?$/.test(host) ? { host } : {};
}
