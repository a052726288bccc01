/**
 * Verification of a Redis backup: the stored bytes against the manifest, the envelope opened, the
 * payload read whole (its end record and its keys per database against the manifest), every key
 * RESTOREd into a scratch redis-server (RESTORE checks each DUMP value's RDB version and CRC64), and the
 * keys the scratch server then counts per database against what the backup recorded. The result is a
 * verification object beside the manifest, like a dump's.
 */
import { performance } from 'node:perf_hooks';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { backupEncryptionContext, createDecryptStream, isUnwrapFailure } from '../crypto/envelope.ts';
import { createDecompressStream } from '../codec/zstd.ts';
import { LifeboatError, WrongKeyError } from '../errors.ts';
import { assertKeyringMatches } from '../engine/restore.ts';
import { checkSizeAnomaly, resolveAnomalyThresholds, type AnomalyThresholds } from '../verify/anomaly.ts';
import { backupPrefix } from '../vault/layout.ts';
import type { BackupManifest } from '../vault/manifest.ts';
import type { MacSigner } from '../crypto/mac.ts';
import { storedDigest, type VaultStore } from '../vault/store.ts';
import {
  reasonLine,
  judgedResult,
  writeVerification,
  type CheckName,
  type CheckStatus,
  type VerificationCheck,
  type VerificationResult,
} from '../vault/verification.ts';
import { dumpRdbVersion, KeysFormatError, readKeysRecords, type KeysRecord } from './keysFormat.ts';
import { compareKeyCounts, restoreKeyspace } from './logical.ts';
import { RedisReplyError } from './resp.ts';
import { ScratchRedis, ScratchServerError } from './scratch.ts';
import { asRedisManifest } from './vault.ts';

export interface RedisVerifyOptions {
  readonly store: VaultStore;
  readonly manifest: BackupManifest;
  readonly keyring: BackupKeyring;
  /** The verification key (see `VerifyOptions.signer`). @default unsigned */
  readonly signer?: MacSigner;
  /** @default `redis-server` on the PATH */
  readonly scratchCommand?: string;
  readonly anomaly?: AnomalyThresholds;
  readonly now?: () => Date;
}

/**
 * Runs the checks, writes the result and returns it. Throws for what is not a verdict on the backup: a
 * key other than the backup's (`WrongKeyError`), a scratch server that will not start, store read errors.
 */
export async function verifyRedisBackup(options: RedisVerifyOptions): Promise<VerificationResult> {
  const clock = options.now ?? (() => new Date());
  const startedAt = clock();
  const thresholds = resolveAnomalyThresholds(options.anomaly);
  const manifest = asRedisManifest(options.manifest);
  try {
    assertKeyringMatches(manifest.encryption.keyring, options.keyring.description);
  } catch (error) {
    throw new WrongKeyError(`${(error as Error).message}: nothing was verified or recorded; give the key the backup was made with`, { cause: error });
  }
  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${manifest.payload.key}`;
  const checks = new Map<CheckName, VerificationCheck>();
  const set = (name: CheckName, status: CheckStatus, reason: string | undefined, since: number) =>
    checks.set(name, { name, status, ...(reason === undefined ? {} : { reason: reasonLine(reason) }), durationMs: Math.max(0, Math.round(performance.now() - since)) });
  const skipFrom = (names: CheckName[], reason: string) => names.forEach((name) => checks.has(name) || set(name, 'skipped', reason, performance.now()));

  await checkPayload(options, manifest, key, set, skipFrom);
  set('sql-checks', 'skipped', 'not applicable to Redis', performance.now());
  const anomalyStarted = performance.now();
  const anomaly = await checkSizeAnomaly(options.store, manifest, thresholds, options.signer ? { authenticator: options.signer } : {});
  set('size-anomaly', anomaly.status, anomaly.reason, anomalyStarted);

  const order: CheckName[] = ['checksum', 'decrypt', 'structure', 'restore', 'row-counts', 'sql-checks', 'size-anomaly'];
  const list = order.map((name) => checks.get(name)).filter((c): c is VerificationCheck => c !== undefined);
  const result: VerificationResult = { ...judgedResult(manifest, list, startedAt, clock()), ...('anomaly' in anomaly ? { anomaly: anomaly.anomaly } : {}) };
  await writeVerification(options.store, result, options.signer ? { signer: options.signer } : {});
  return result;
}

type SetCheck = (name: CheckName, status: CheckStatus, reason: string | undefined, since: number) => void;

async function checkPayload(
  options: RedisVerifyOptions,
  manifest: ReturnType<typeof asRedisManifest>,
  key: string,
  set: SetCheck,
  skipFrom: (names: CheckName[], reason: string) => void,
): Promise<void> {
  const { store } = options;
  const rest: CheckName[] = ['decrypt', 'structure', 'restore', 'row-counts'];

  // Pass 1: the stored bytes alone, so a damaged object is named as such whatever the later stages say.
  let since = performance.now();
  const head = await store.head(key);
  if (!head) {
    set('checksum', 'failed', `payload ${key} is missing from ${store.location}`, since);
    skipFrom(rest, 'not checked: the payload is missing');
    return;
  }
  const { bytes, sha256: digest } = await storedDigest(store, key);
  if (bytes !== manifest.payload.storedBytes || digest !== manifest.payload.sha256) {
    set('checksum', 'failed', `payload ${key} holds ${bytes} bytes with SHA-256 ${digest}; the manifest records ${manifest.payload.storedBytes} bytes with ${manifest.payload.sha256}`, since);
    skipFrom(rest, 'not checked: the stored bytes are not the ones the manifest records');
    return;
  }
  set('checksum', 'passed', undefined, since);

  // Pass 2: decrypt, decompress, parse, and RESTORE every key into a scratch server without expiry.
  since = performance.now();
  const databases = Math.max(16, ...manifest.content.keyspace.map((d) => d.db + 1));
  const scratch = await ScratchRedis.start({ databases, ...(options.scratchCommand ? { command: options.scratchCommand } : {}) });
  const stage = { opened: false, parsed: false };
  const perDb = new Map<number, number>();
  try {
    const readable = await scratch.rdbVersion();
    const client = await scratch.connect();
    try {
      const open = () => tooNewGuard(plainRecords(options, manifest, key, stage, perDb), readable);
      // The scratch server is empty: replace spares a second read of the payload to look for existing keys.
      await restoreKeyspace(open, client, { ttl: 'none', replace: true });
    } finally {
      client.close();
    }
    set('decrypt', 'passed', undefined, since);
    set('structure', ...structureVerdict(manifest, perDb), since);
    set('restore', 'passed', undefined, since);
    since = performance.now();
    const rows = compareKeyCounts(manifest.content.keyspace, await scratch.keyspace());
    const wrong = rows.filter((row) => row.expected !== row.actual);
    set(
      'row-counts',
      wrong.length === 0 ? 'passed' : 'failed',
      wrong.length === 0 ? undefined : wrong.map((r) => `db${r.db} has ${r.actual} keys after the restore; the manifest records ${r.expected}`).join('; '),
      since,
    );
  } catch (error) {
    if (!stage.opened) {
      if (isUnwrapFailure(error)) {
        throw new WrongKeyError(
          `The key given cannot unwrap the data key of backup ${manifest.backupId}, whose stored bytes match its manifest; nothing was recorded`,
          { cause: error },
        );
      }
      if (!(error instanceof LifeboatError) || error.name !== 'DecryptionFailedError') throw error;
      set('decrypt', 'failed', (error as Error).message, since);
      skipFrom(['structure', 'restore', 'row-counts'], 'not checked: the payload did not decrypt');
      return;
    }
    set('decrypt', 'passed', undefined, since);
    if (error instanceof KeysFormatError || (error instanceof LifeboatError && /Decompress|Decryption/.test(error.name))) {
      set('structure', 'failed', (error as Error).message, since);
      skipFrom(['restore', 'row-counts'], 'not checked: the payload is not a whole redis-keys stream');
      return;
    }
    if (error instanceof RedisReplyError || (error instanceof LifeboatError && error.name === 'RestoreFailedError')) {
      set('structure', 'skipped', 'not checked to the end: the restore failed first', since);
      set('restore', 'failed', (error as Error).message, since);
      skipFrom(['row-counts'], 'not checked: the restore failed');
      return;
    }
    throw error;
  } finally {
    await scratch.stop();
  }
}

/**
 * A value of a newer RDB version than the scratch server reads is not a fault of the backup: the
 * verification stops with a `ScratchServerError` naming the versions, and nothing is recorded.
 */
async function* tooNewGuard(records: AsyncIterable<KeysRecord>, scratch: { rdbVersion: number; serverVersion: string }): AsyncGenerator<KeysRecord> {
  for await (const record of records) {
    if (record.type === 'key') {
      const version = dumpRdbVersion(record.value);
      if (version !== undefined && version > scratch.rdbVersion) {
        throw new ScratchServerError(
          `This backup holds values of RDB version ${version}; the scratch redis-server (${scratch.serverVersion}) reads up to ${scratch.rdbVersion}. ` +
            'Verify it with a newer redis-server or valkey-server on the PATH (LIFEBOAT_REDIS_SERVER names another); nothing was recorded',
        );
      }
    }
    yield record;
  }
}

async function* plainRecords(
  options: RedisVerifyOptions,
  manifest: ReturnType<typeof asRedisManifest>,
  key: string,
  stage: { opened: boolean; parsed: boolean },
  perDb: Map<number, number>,
): AsyncGenerator<KeysRecord> {
  const decrypt = createDecryptStream(options.keyring, backupEncryptionContext(manifest.sourceId, manifest.backupId));
  const decompress = createDecompressStream();
  const source = await options.store.getStream(key);
  source.on('error', (error) => decrypt.destroy(error));
  decrypt.on('error', (error) => decompress.destroy(error));
  source.pipe(decrypt).pipe(decompress);
  decrypt.once('data', () => (stage.opened = true));
  let db = 0;
  try {
    for await (const record of readKeysRecords(decompress)) {
      stage.opened = true;
      if (record.type === 'select') db = record.db;
      if (record.type === 'key') perDb.set(db, (perDb.get(db) ?? 0) + 1);
      yield record;
    }
    stage.parsed = true;
  } finally {
    source.destroy();
    decrypt.destroy();
    decompress.destroy();
  }
}

function structureVerdict(manifest: ReturnType<typeof asRedisManifest>, perDb: Map<number, number>): [CheckStatus, string | undefined] {
  const rows = compareKeyCounts(manifest.content.keyspace, [...perDb].map(([db, keys]) => ({ db, keys, expires: 0 })));
  const wrong = rows.filter((row) => row.expected !== row.actual);
  if (wrong.length === 0) return ['passed', undefined];
  return ['failed', wrong.map((r) => `the payload holds ${r.actual} keys of db${r.db}; the manifest records ${r.expected}`).join('; ')];
}

