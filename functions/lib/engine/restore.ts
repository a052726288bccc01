/**
 * Restores a backup from a vault into a database:
 *
 *   store.getStream ─▶ SHA-256 + size check ─▶ Encryption SDK decrypt ─▶ zstd ─▶ raw byte count ─▶ hold back last chunk ─▶ pg_restore / mysql
 *
 * Every check finishes before the restore tool gets the last bytes, so a payload that fails one never
 * completes a restore. PostgreSQL restores in one transaction (a failure leaves the target as empty as
 * it was); MySQL cannot, so after a failure the target database is emptied again.
 */
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { createDecompressStream } from '../codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream } from '../crypto/envelope.ts';
import type { BackupKeyring, KeyringDescription } from '../crypto/keyring.ts';
import {
  ChecksumMismatchError,
  ConfigError,
  DecompressionFailedError,
  DecryptionFailedError,
  LifeboatError,
  ManifestInvalidError,
  RestoreFailedError,
} from '../errors.ts';
import { findBackup, readManifest } from '../vault/catalog.ts';
import { backupPrefix } from '../vault/layout.ts';
import type { BackupManifest, ManifestKeyring } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import type { DumpManifest } from './backup.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { messageOf, type RestorePlan, type TableSelector } from './driver.ts';
import { resolveJobs } from './jobs.ts';
import { mysqlRestorePlan, prepareMysqlTarget, resetMysqlTarget } from './mysql.ts';
import { runPartsRestore } from './parallelRestore.ts';
import { postgresRestorePlan, preparePostgresTarget } from './postgres.ts';
import { describeExit, type RunningTool, spawnTool } from './process.ts';
import { ByteCounter, type ProgressListener, ProgressMeter } from './progress.ts';
import { HoldBackLast } from './streams.ts';

export interface RestoreOptions {
  readonly store: VaultStore;
  /** @default found by listing the vault for `backupId` */
  readonly sourceId?: string;
  readonly backupId: string;
  readonly keyring: BackupKeyring;
  readonly target: ConnectionInfo;
  /** Drop and recreate a target database that is not empty. @default false: a non-empty target is refused */
  readonly dropExisting?: boolean;
  /** PostgreSQL only: restore just this table (`name` or `schema.name`): its definition and rows. */
  readonly table?: string;
  readonly onProgress?: ProgressListener;
  /** Multi-part (v1.1) PostgreSQL backups: connections loading data and building indexes at once. @default the runner's vCPUs */
  readonly jobs?: number;
  /** Multi-part backups: the caller has just checked every part's stored bytes, so the restore does not read them twice. */
  readonly preverified?: boolean;
}

export interface RestoreResult {
  readonly manifest: DumpManifest;
  /** Uncompressed bytes given to the restore tool. */
  readonly rawBytes: number;
  readonly storedBytes: number;
  readonly table?: TableSelector;
}

/**
 * Fails with `BackupNotFoundError` / `ManifestMissingError` / `ManifestInvalidError` (vault),
 * `ConfigError` (engine mismatch, unknown table), `TargetNotEmptyError`, `ChecksumMismatchError`
 * (stored bytes differ from the manifest), `DecryptionFailedError` (wrong key, tampered or foreign
 * payload), `DecompressionFailedError`, or `RestoreFailedError` (the restore tool failed; its stderr,
 * scrubbed of the password, in the message).
 */
export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const { store, keyring, target } = options;
  const found =
    options.sourceId === undefined
      ? await findBackup(store, options.backupId)
      : await readManifest(store, options.sourceId, options.backupId);
  const manifest = asDumpManifest(found);
  if (manifest.engine !== target.engine) {
    throw new ConfigError(
      `Backup ${manifest.backupId} is a ${manifest.engine} backup; it cannot be restored into ${describeConnection(target)}`,
    );
  }
  const table = options.table === undefined ? undefined : resolveTable(manifest, options.table);
  assertKeyringMatches(manifest.encryption.keyring, keyring.description);

  if (manifest.payload.parts) {
    const { onProgress, preverified } = options;
    const restored = await runPartsRestore({
      store, manifest, keyring, target, dropExisting: options.dropExisting ?? false, jobs: resolveJobs(options.jobs),
      ...(table ? { table } : {}), ...(onProgress ? { onProgress } : {}), ...(preverified ? { preverified } : {}),
    });
    return { manifest, ...restored, ...(table ? { table } : {}) };
  }

  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${manifest.payload.key}`;
  // A short or long payload fails here, before the target is touched.
  const head = await store.head(key);
  if (!head) {
    throw new ChecksumMismatchError(`Payload ${key} of backup ${manifest.backupId} is missing from ${store.location}`);
  }
  if (head.bytes !== manifest.payload.storedBytes) {
    throw new ChecksumMismatchError(
      `Payload ${key} holds ${head.bytes} bytes; its manifest says ${manifest.payload.storedBytes} (truncated or altered)`,
    );
  }

  const dropExisting = options.dropExisting ?? false;
  if (target.engine === 'postgresql') await preparePostgresTarget(target, { dropExisting });
  else await prepareMysqlTarget(target, { dropExisting });

  let tool: RunningTool<'pipe', 'ignore'> | undefined;
  try {
    // pg_restore -t may stop reading (and commit) before the end of the payload, so the end-of-stream
    // checks below would come too late: check the stored bytes first, in a pass of their own.
    if (table) await verifyStoredPayload(store, key, manifest);
    const plan: RestorePlan =
      target.engine === 'postgresql' ? await postgresRestorePlan(target, table) : await mysqlRestorePlan(target);
    tool = spawnTool(plan.command, plan.args, { env: plan.env, stdin: 'pipe', stdout: 'ignore' });
    const running = tool;
    const verifier = new PayloadVerifier(key, manifest.payload.sha256, manifest.payload.storedBytes);
    const raw = new ByteCounter(() => meter.tick());
    const meter = new ProgressMeter('restore', () => ({ rawBytes: raw.bytes, storedBytes: verifier.bytes }), options.onProgress);
    const stages: (Readable | Transform | Writable)[] = [
      await store.getStream(key),
      verifier,
      createDecryptStream(keyring, backupEncryptionContext(manifest.sourceId, manifest.backupId)),
      createDecompressStream(),
      raw,
      new HoldBackLast(),
      running.child.stdin,
    ];
    const failure = await pumpIntoTool(stages, () => running.kill());
    const exit = await running.exited;
    if (failure !== undefined && failure instanceof LifeboatError) {
      throw await diagnose(failure, store, key, manifest);
    }
    // pg_restore -t stops reading once it has its table; the payload was verified whole beforehand.
    const stoppedEarlyByDesign = table !== undefined && exit.code === 0 && isToolGone(failure);
    if ((failure !== undefined && !stoppedEarlyByDesign) || exit.code !== 0) {
      const stderr = running.stderrTail();
      throw new RestoreFailedError(
        `Restore of backup ${manifest.backupId} into ${describeConnection(target)} failed: ${describeExit(plan.command, exit)}` +
          (stderr === '' ? '' : `: ${redact(stderr, target)}`),
        ...(failure === undefined ? [] : [{ cause: failure }]),
      );
    }
    meter.finish();
    return { manifest, rawBytes: raw.bytes, storedBytes: verifier.bytes, ...(table ? { table } : {}) };
  } catch (error) {
    tool?.kill();
    await tool?.exited;
    if (target.engine === 'mysql') await resetMysqlTarget(target).catch(() => {});
    throw error;
  }
}

/**
 * Runs the stages and returns the first error (not whichever stage noticed last), or undefined.
 * When one of our stages fails, the tool is killed at once, before pipeline teardown closes its stdin:
 * a tool that saw a clean end of input might take a partial stream for a whole one. When the tool
 * stops reading by itself (it failed, or needs no more input), writing to it fails with EPIPE; it is
 * left to exit on its own and its exit status decides.
 */
async function pumpIntoTool(stages: (Readable | Transform | Writable)[], killTool: () => void): Promise<unknown> {
  const stdin = stages.at(-1) as Writable;
  let first: unknown;
  const onError = (error: unknown, stage?: unknown) => {
    if (first !== undefined) return;
    first = error;
    if (stage !== stdin && !isToolGone(error)) killTool();
  };
  // Registered before pipeline() registers its own, so these run first.
  for (const stage of stages) stage.on('error', (error) => onError(error, stage));
  try {
    await pipeline(stages);
  } catch (error) {
    onError(error);
  }
  return first;
}

function isToolGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ECONNRESET';
}

/** Reads the stored payload once, hashing it: for restores whose tool may stop reading before the end. */
async function verifyStoredPayload(store: VaultStore, key: string, manifest: DumpManifest): Promise<void> {
  const verifier = new PayloadVerifier(key, manifest.payload.sha256, manifest.payload.storedBytes);
  await pipeline(await store.getStream(key), verifier, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
}

/**
 * A decryption or decompression failure is either a wrong key or damaged bytes; reading the payload
 * again and hashing it tells which, so that storage damage is reported as `ChecksumMismatchError`.
 */
async function diagnose(failure: LifeboatError, store: VaultStore, key: string, manifest: DumpManifest): Promise<Error> {
  if (!(failure instanceof DecryptionFailedError || failure instanceof DecompressionFailedError)) return failure;
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of await store.getStream(key)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    const digest = hash.digest('hex');
    if (digest !== manifest.payload.sha256 || bytes !== manifest.payload.storedBytes) {
      return new ChecksumMismatchError(
        `Payload ${key} does not match its manifest (SHA-256 ${digest}, expected ${manifest.payload.sha256}): it is damaged or was altered`,
        { cause: failure },
      );
    }
  } catch {
    // Could not re-read: report what we know.
  }
  return failure;
}

/** Hashes and counts the stored bytes; at the end (or as soon as there are too many) compares with the manifest. */
class PayloadVerifier extends Transform {
  bytes = 0;
  readonly #hash = createHash('sha256');

  constructor(
    private readonly key: string,
    private readonly sha256: string,
    private readonly size: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.size) {
      callback(new ChecksumMismatchError(`Payload ${this.key} is longer than the ${this.size} bytes its manifest records`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.size) {
      callback(new ChecksumMismatchError(`Payload ${this.key} ended after ${this.bytes} bytes; its manifest records ${this.size}`));
      return;
    }
    const digest = this.#hash.digest('hex');
    if (digest !== this.sha256) {
      callback(
        new ChecksumMismatchError(`Payload ${this.key} has SHA-256 ${digest}; its manifest records ${this.sha256}`),
      );
      return;
    }
    callback();
  }
}

export function asDumpManifest(manifest: BackupManifest): DumpManifest {
  if (manifest.kind !== 'dump' || !manifest.payload || !manifest.compression || !manifest.encryption) {
    throw new ManifestInvalidError(
      `Backup ${manifest.sourceId}/${manifest.backupId} is a ${manifest.kind}, not a dump: restore it from its RDS snapshot`,
    );
  }
  if (manifest.compression.codec !== 'zstd' || manifest.encryption.scheme !== 'aws-encryption-sdk') {
    throw new ManifestInvalidError(`Backup ${manifest.backupId} uses a codec or encryption scheme this Lifeboat does not read`);
  }
  return manifest as DumpManifest;
}

/** `orders` or `sales.orders`, checked against the tables the manifest lists. */
export function resolveTable(manifest: BackupManifest, spec: string): TableSelector {
  if (manifest.engine !== 'postgresql') {
    throw new ConfigError('Restoring a single table is supported for PostgreSQL backups only');
  }
  const dot = spec.indexOf('.');
  const schema = dot === -1 ? undefined : spec.slice(0, dot);
  const name = dot === -1 ? spec : spec.slice(dot + 1);
  const matches = manifest.content.tables.filter((t) => t.name === name && (schema === undefined || t.schema === schema));
  if (matches.length === 0) {
    throw new ConfigError(`Backup ${manifest.backupId} has no table "${spec}"`);
  }
  if (matches.length > 1) {
    throw new ConfigError(
      `Table "${spec}" is ambiguous in backup ${manifest.backupId}: name one of ${matches.map((t) => `${t.schema}.${t.name}`).join(', ')}`,
    );
  }
  const match = matches[0]!;
  return { schema: match.schema, name: match.name };
}

/** A clear error before any byte is read, when the key given cannot be the one the backup was made with. */
export function assertKeyringMatches(recorded: ManifestKeyring, given: KeyringDescription): void {
  const describe = (k: ManifestKeyring | KeyringDescription) =>
    k.type === 'raw-aes' ? `local key ${k.keyNamespace}/${k.keyName}` : `KMS key ${k.keyIds.join(', ')}`;
  const mismatch = (): never => {
    throw new DecryptionFailedError(`The backup was encrypted with ${describe(recorded)}; the key given is ${describe(given)}`);
  };
  if (recorded.type !== given.type) mismatch();
  if (recorded.type === 'raw-aes' && given.type === 'raw-aes') {
    if (recorded.keyNamespace !== given.keyNamespace || recorded.keyName !== given.keyName) mismatch();
  }
  if (recorded.type === 'kms' && given.type === 'kms') {
    // A multi-Region key's replicas share the key id (`mrk-…`) under other Regions' ARNs.
    const keyId = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);
    const recordedIds = new Set(recorded.keyIds.map(keyId));
    if (!given.keyIds.some((arn) => recordedIds.has(keyId(arn)))) mismatch();
  }
}
