/**
 * Restores a multi-part PostgreSQL backup (vault format v1.1) with `jobs` connections:
 *
 *   1. every part's stored bytes are read once and checked (size, SHA-256) before the target is touched
 *   2. the schema part:                 store ─▶ SHA-256 ─▶ decrypt ─▶ zstd -d, holding back the tail (restorePipeline.ts) ─▶ pg_restore (one transaction)
 *   3. the data parts, `jobs` at once:  the same pipeline each, each pg_restore in its own transaction
 *   4. the post-data part, already decrypted and checked into a private temporary file (pg_restore needs a
 *      seekable file to work in parallel; it holds only index, constraint and trigger definitions, a few
 *      KiB to MiB whatever the size of the data): pg_restore --jobs builds indexes and constraints in parallel
 *
 * A damaged part fails the restore in step 1, before anything is committed (the target is not even
 * created). Each stream also checks its bytes again as it restores and holds its last bytes back until
 * they pass, so bytes altered after step 1 never complete that part's transaction. A failure after step 1
 * (the server, the network, a wrong key) drops the target database when this run created it (it did not
 * exist, or `dropExisting` replaced it), so nothing half-restored is left behind; a target that existed
 * before (empty) is left as the failure found it, and the error says so.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressStream } from '../codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream, isUnwrapFailure, wrongKeyError } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { ChecksumMismatchError, ConfigError, DecryptionFailedError, LifeboatError, RestoreFailedError } from '../errors.ts';
import { backupPrefix } from '../vault/layout.ts';
import type { DumpManifest, ManifestPart } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { messageOf } from './driver.ts';
import { postgresRestorePlan, postgresEnv, preparePostgresTarget } from './postgres.ts';
import { onInterrupt } from './interrupt.ts';
import { dropPostgresDatabase, postDataRestoreArgs } from './postgresParallel.ts';
import { describeExit, spawnTool } from './process.ts';
import { type ProgressListener, ProgressMeter } from './progress.ts';
import { type RestoreBack, startRestoreTool } from './restorePipeline.ts';
import { discard, pumpIntoTool } from './streams.ts';
import type { ZstdRunner } from './zstdTool.ts';

export interface PartsRestoreOptions {
  readonly store: VaultStore;
  readonly manifest: DumpManifest;
  readonly keyring: BackupKeyring;
  readonly target: ConnectionInfo;
  readonly dropExisting: boolean;
  /** Connections used at once for the data parts and for the post-data build. */
  readonly jobs: number;
  readonly onProgress?: ProgressListener;
  /** The caller has just read and checked every part (verification's own pass): skip step 1. */
  readonly preverified?: boolean;
  /** How zstd runs (zstdTool.ts). @default the `zstd` command when installed */
  readonly zstd?: ZstdRunner | undefined;
}

export interface PartsRestoreResult {
  /** Uncompressed bytes given to pg_restore. */
  readonly rawBytes: number;
  /** Stored bytes read while restoring (the check pass of step 1 not counted). */
  readonly storedBytes: number;
  /** This run created the target database (it did not exist, or `dropExisting` replaced it). */
  readonly createdDatabase: boolean;
}

/** Fails like `runRestore`: `ChecksumMismatchError`, `DecryptionFailedError`, `DecompressionFailedError`, `RestoreFailedError`, `TargetNotEmptyError`. */
export async function runPartsRestore(options: PartsRestoreOptions): Promise<PartsRestoreResult> {
  const { store, manifest, keyring, target } = options;
  const parts = manifest.payload.parts;
  if (!parts) throw new ConfigError(`Backup ${manifest.backupId} is not a multi-part backup`);
  const prefix = backupPrefix(manifest.sourceId, manifest.backupId);
  const context = backupEncryptionContext(manifest.sourceId, manifest.backupId);
  const label = (part: ManifestPart) => `${prefix}${part.key}`;

  const schemaPart = parts.find((p) => p.section === 'pre-data')!;
  const postDataPart = parts.find((p) => p.section === 'post-data')!;
  const dataParts = parts.filter((p) => p.section === 'data');
  const needed = [schemaPart, ...dataParts, postDataPart];

  // Step 1: nothing is touched until every part needed is whole.
  for (const part of needed) {
    const head = await store.head(label(part));
    if (!head) throw new ChecksumMismatchError(`Part ${label(part)} of backup ${manifest.backupId} is missing from ${store.location}`);
    if (head.bytes !== part.storedBytes) {
      throw new ChecksumMismatchError(`Part ${label(part)} holds ${head.bytes} bytes; its manifest says ${part.storedBytes} (truncated or altered)`);
    }
  }
  if (!options.preverified) {
    await forEachBounded(needed, options.jobs, async (part) => {
      await pipeline(await store.getStream(label(part)), new PartVerifier(label(part), part), discard());
    });
  }

  const { created } = await preparePostgresTarget(target, { dropExisting: options.dropExisting });
  // An interrupted run drops the database it created, as runRestore does (cli/signals.ts runs it).
  const releaseDrop = created
    ? onInterrupt('dropped', `half-restored database ${describeConnection(target)} (created by this run)`, () => dropPostgresDatabase(target))
    : () => {};

  const running = new Set<RestoreBack>();
  let restoredRaw = 0;
  const counters: { stored: PartVerifier }[] = [];
  // Raw bytes: the manifest's size of each part restored, and what the running parts report so far.
  const meter = new ProgressMeter(
    'restore',
    () => ({
      rawBytes: restoredRaw + [...running].reduce((sum, back) => sum + back.rawBytesSoFar(), 0),
      storedBytes: counters.reduce((sum, c) => sum + c.stored.bytes, 0),
    }),
    options.onProgress,
  );
  let failed = false;
  const failAll = () => {
    failed = true;
    for (const back of running) back.kill();
  };
  let spool: string | undefined;
  let releaseSpool = () => {};
  let spooling: Promise<{ dir: string; release: () => void } | undefined> = Promise.resolve(undefined);

  /** One streamed part into its own pg_restore; see the module comment. */
  const restorePart = async (part: ManifestPart): Promise<void> => {
    if (failed) return;
    const plan = await postgresRestorePlan(target, undefined);
    const back = await startRestoreTool({ command: plan.command, args: plan.args, env: plan.env, zstd: options.zstd, onChunk: () => meter.tick() });
    running.add(back);
    try {
      const verifier = new PartVerifier(label(part), part);
      counters.push({ stored: verifier });
      const stages = [await store.getStream(label(part)), verifier, createDecryptStream(keyring, context), ...back.stages];
      const failure = await pumpIntoTool(stages, () => back.kill());
      const { decompression, exit } = await back.settled();
      if (failure instanceof LifeboatError) throw failure;
      if (decompression) throw decompression;
      if (failure !== undefined || exit.code !== 0) {
        throw toolFailed(`its part ${part.key}`, describeExit(plan.command, exit), back.tool.stderrTail(), failure);
      }
      running.delete(back);
      restoredRaw += part.rawBytes;
    } finally {
      running.delete(back);
    }
  };

  const toolFailed = (what: string, exit: string, stderr: string, cause: unknown): RestoreFailedError =>
    new RestoreFailedError(
      `Restore of backup ${manifest.backupId} into ${describeConnection(target)} failed in ${what}: ${exit}` + (stderr === '' ? '' : `: ${redact(stderr, target)}`),
      ...(cause === undefined ? [] : [{ cause }]),
    );

  try {
    // The post-data archive is decrypted (and checked) while the schema loads.
    spooling = spoolPart(store, label(postDataPart), postDataPart, keyring, context);
    spooling.catch(() => {});
    await restorePart(schemaPart);
    await forEachBounded(dataParts, options.jobs, async (part) => {
      try {
        await restorePart(part);
      } catch (error) {
        failAll();
        throw error;
      }
    });
    const spooled = await spooling;
    if (spooled) ({ dir: spool, release: releaseSpool } = spooled);
    if (spool) {
      const args = postDataRestoreArgs(target, options.jobs, path.join(spool, 'post-data.dump'));
      const tool = spawnTool('pg_restore', args, { env: postgresEnv(target), stdin: 'ignore', stdout: 'ignore' });
      const exit = await tool.exited;
      if (exit.code !== 0) throw toolFailed('building indexes and constraints (post-data)', describeExit('pg_restore', exit), tool.stderrTail(), undefined);
    }
    meter.finish();
    releaseDrop();
    return {
      createdDatabase: created,
      // Each part restored is its manifest's raw size: its stored bytes matched the manifest's hash.
      rawBytes: restoredRaw + (spool ? postDataPart.rawBytes : 0),
      storedBytes: counters.reduce((sum, c) => sum + c.stored.bytes, 0) + (spool ? postDataPart.storedBytes : 0),
    };
  } catch (caught) {
    failAll();
    await Promise.all([...running].map((back) => back.settled()));
    // Every part's stored bytes were checked (step 1, or the caller's pass): a data key that will not unwrap is the wrong key.
    const error = caught instanceof DecryptionFailedError && isUnwrapFailure(caught) ? wrongKeyError(manifest.backupId, caught, 'nothing was restored') : caught;
    let cleanup: string;
    if (created) {
      cleanup = await dropPostgresDatabase(target).then(
        () => `the database ${target.database}, created by this restore, was dropped`,
        (dropError: unknown) => `the database ${target.database} could not be dropped and holds a partial restore: ${redact(messageOf(dropError), target)}`,
      );
    } else {
      cleanup = `the database ${target.database} existed before this restore and now holds a partial restore: drop it, or restore again with dropExisting (--drop-existing)`;
    }
    releaseDrop();
    if (error instanceof Error) error.message = `${error.message} (${cleanup})`;
    throw error;
  } finally {
    // A failure before the spool was taken still waits for it, so its directory goes too.
    const orphan = spool === undefined ? await spooling.catch(() => undefined) : undefined;
    if (orphan) ({ dir: spool, release: releaseSpool } = orphan);
    if (spool) await rm(spool, { recursive: true, force: true });
    releaseSpool();
  }
}

/**
 * Decrypts and decompresses `part` into `<private temp dir>/post-data.dump` (mode 0700 directory) and
 * returns the directory; the file is complete only if every check passed. Removed by the caller.
 */
async function spoolPart(
  store: VaultStore,
  key: string,
  part: ManifestPart,
  keyring: BackupKeyring,
  context: Record<string, string>,
): Promise<{ dir: string; release: () => void }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-post-data-'));
  // Holds decrypted index and constraint definitions: never left behind by an interrupted run.
  const release = onInterrupt('removed', `temporary post-data archive ${dir}`, () => rm(dir, { recursive: true, force: true }));
  try {
    await pipeline(
      await store.getStream(key),
      new PartVerifier(key, part),
      createDecryptStream(keyring, context),
      createDecompressStream(),
      createWriteStream(path.join(dir, 'post-data.dump'), { mode: 0o600 }),
    );
    return { dir, release };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    release();
    throw error;
  }
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure stops new work and is thrown once all running work settled. */
export async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !firstError) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError) throw firstError.error;
}


/** Hashes and counts one part's stored bytes; at the end (or as soon as there are too many) compares with the manifest. */
export class PartVerifier extends Transform {
  bytes = 0;
  readonly #hash = createHash('sha256');

  constructor(
    private readonly key: string,
    private readonly part: Pick<ManifestPart, 'storedBytes' | 'sha256'>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.part.storedBytes) {
      callback(new ChecksumMismatchError(`Part ${this.key} is longer than the ${this.part.storedBytes} bytes its manifest records`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.part.storedBytes) {
      callback(new ChecksumMismatchError(`Part ${this.key} ended after ${this.bytes} bytes; its manifest records ${this.part.storedBytes}`));
      return;
    }
    const digest = this.#hash.digest('hex');
    if (digest !== this.part.sha256) {
      callback(new ChecksumMismatchError(`Part ${this.key} has SHA-256 ${digest}; its manifest records ${this.part.sha256} (damaged or altered)`));
      return;
    }
    callback();
  }
}
