/**
 * Verifies one dump backup and records the result beside its manifest:
 *
 *   checksum      the stored bytes' size and SHA-256 match the manifest
 *   decrypt       the payload decrypts end to end (every frame authenticated, the encryption context is
 *                 this backup's) and decompresses (zstd checksum) to the raw size the manifest records
 *   structure     PostgreSQL: pg_restore --list reads the archive; MySQL: the dump ends with mysqldump's trailer
 *   restore       restored into a scratch database on the verification server (when one is given)
 *   row-counts    every manifest table exists there with the manifest's row count
 *   sql-checks    the source's SQL checks hold in the restored database
 *   size-anomaly  the raw size is within [minRatio, maxRatio] of the median of recent verified backups
 *
 * The first five run in one streamed pass over the payload. The scratch database is always dropped.
 * A check that fails is a result, not an exception. Only the backup's own faults are verdicts: what
 * comes from the operator's input or surroundings throws and records nothing — a key that is not the
 * backup's (the manifest names another, or the data key does not unwrap from intact stored bytes), a
 * SQL check that cannot run, an unreachable vault or verification server, a missing client tool.
 */
import { performance } from 'node:perf_hooks';
import { backupEncryptionContext } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import type { DumpManifest } from '../engine/backup.ts';
import { type ConnectionInfo, redact } from '../engine/connection.ts';
import { messageOf } from '../engine/driver.ts';
import { asDumpManifest, assertKeyringMatches } from '../engine/restore.ts';
import { ConfigError, InvalidSqlCheckError, WrongKeyError } from '../errors.ts';
import { findBackup, readManifest } from '../vault/catalog.ts';
import { backupPrefix } from '../vault/layout.ts';
import {
  CHECK_NAMES,
  type CheckName,
  type SqlCheckVerification,
  type TableVerification,
  type VerificationCheck,
  type VerificationResult,
  VERIFICATION_FORMAT,
  VERIFICATION_FORMAT_VERSION,
  verificationBinding,
  writeVerification,
} from '../vault/verification.ts';
import type { MacSigner } from '../crypto/mac.ts';
import type { VaultStore } from '../vault/store.ts';
import { DatabaseMissing, type RestoredDatabase, connectRestoredDatabase, isTruthy } from '../engine/restoredDatabase.ts';
import { verifyRedisBackup } from '../redis/verify.ts';
import { type AnomalyThresholds, checkSizeAnomaly, resolveAnomalyThresholds } from './anomaly.ts';
import { type JudgedConsumer, type Verdict, restoreTool, structureCheck } from './consumers.ts';
import { verifyPartsPayload } from './partsPass.ts';
import { isUnwrapFailure, wrongKeyError } from '../crypto/envelope.ts';
import { type PassOutcome, streamPayload } from './payloadPass.ts';

import { type ScratchDatabase, assertServerReachable, createScratchDatabase, describeDropFailure } from './scratch.ts';

export interface VerifyOptions {
  readonly store: VaultStore;
  /** @default found by listing the vault for `backupId` */
  readonly sourceId?: string;
  readonly backupId: string;
  readonly keyring: BackupKeyring;
  /**
   * A server of the backup's engine where scratch databases may be created (its `database` is ignored).
   * @default none: the restore test, row counts and SQL checks are skipped
   */
  readonly restoreServer?: ConnectionInfo;
  /** Statements run in the restored database; each passes if it returns a row whose first column is true. */
  readonly sqlChecks?: readonly string[];
  /** @default { minRatio: 0.5, maxRatio: 2.0, window: 5 } */
  readonly anomaly?: AnomalyThresholds;
  /** @default the system clock */
  readonly now?: () => Date;
  /** A multi-part backup: parts checked and restored at once. @default the runner's vCPUs */
  readonly jobs?: number;
  /** The verification key: the result is signed with it, and earlier results count for the size check only if they authenticate. @default unsigned (a local vault) */
  readonly signer?: MacSigner;
}

/** Longest reason kept per check; a tool's stderr can be long. */
const MAX_REASON_LENGTH = 1_000;
const CONNECT_TIMEOUT_MS = 15_000;
const STATEMENT_TIMEOUT_MS = 300_000;

/**
 * Runs every check, writes the result with `writeVerification` (the manifest is never touched), and
 * returns it. Throws for what is not a verdict on the backup: `BackupNotFoundError`,
 * `ManifestMissingError`, `ManifestInvalidError`, `ConfigError` (a snapshot backup, bad thresholds,
 * a restore server of the other engine), `WrongKeyError`, `InvalidSqlCheckError`, store read failures,
 * a client tool that cannot start (`RestoreFailedError`), and the verification server being
 * unreachable (`SourceUnreachableError`, `RestoreTargetUnreachableError`, ...).
 */
export async function verifyBackup(options: VerifyOptions): Promise<VerificationResult> {
  const clock = options.now ?? (() => new Date());
  const startedAt = clock();
  const thresholds = resolveAnomalyThresholds(options.anomaly);
  const sqlChecks = (options.sqlChecks ?? []).map((sql, index) => {
    if (typeof sql !== 'string' || sql.trim() === '') throw new ConfigError(`sqlChecks[${index}]: must be a non-empty SQL statement`);
    return sql.trim();
  });
  const found =
    options.sourceId === undefined
      ? await findBackup(options.store, options.backupId)
      : await readManifest(options.store, options.sourceId, options.backupId);
  if (found.engine === 'redis') {
    // Verified in a scratch redis-server (functions/lib/redis/verify.ts); there is no SQL to run or server to name.
    if (options.restoreServer || sqlChecks.length > 0) {
      throw new ConfigError(`Backup ${found.sourceId}/${found.backupId} is a Redis backup: it is verified in a scratch redis-server, without a restore server or SQL checks`);
    }
    return verifyRedisBackup({ store: options.store, manifest: found, keyring: options.keyring, now: clock, ...(options.anomaly ? { anomaly: options.anomaly } : {}), ...(options.signer ? { signer: options.signer } : {}) });
  }
  if (found.kind !== 'dump') {
    throw new ConfigError(
      `Backup ${found.sourceId}/${found.backupId} is an RDS snapshot: it is verified by the snapshot restore test state machine, not from the vault`,
    );
  }
  const manifest = asDumpManifest(found);
  const server = options.restoreServer;
  if (server && server.engine !== manifest.engine) {
    throw new ConfigError(`Backup ${manifest.backupId} is a ${manifest.engine} backup; the restore server given is ${server.engine}`);
  }
  // The manifest names another key: nothing can be judged with this one.
  try {
    assertKeyringMatches(manifest.encryption.keyring, options.keyring.description);
  } catch (error) {
    throw new WrongKeyError(`${messageOf(error)}: nothing was verified or recorded; give the key the backup was made with`, { cause: error });
  }

  const checks = new Checks(server);
  const run = await verifyPayload(options.store, manifest, options.keyring, server, sqlChecks, checks, options.jobs);

  const anomalyStarted = performance.now();
  const anomaly = await checkSizeAnomaly(options.store, manifest, thresholds, options.signer ? { authenticator: options.signer } : {});
  checks.set('size-anomaly', anomaly.status, anomaly.reason, performance.now() - anomalyStarted);

  const list = checks.list();
  const firstFailure = list.find((check) => check.status === 'failed');
  const completedAt = clock();
  const result: VerificationResult = {
    format: VERIFICATION_FORMAT,
    formatVersion: VERIFICATION_FORMAT_VERSION,
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    status: firstFailure ? 'failed' : 'verified',
    startedAt: startedAt.toISOString(),
    // Never before the start, even if the clock steps back.
    completedAt: new Date(Math.max(completedAt.getTime(), startedAt.getTime())).toISOString(),
    checks: list,
    ...verificationBinding(manifest),
    ...(firstFailure ? { reason: oneLine(`${firstFailure.name}: ${firstFailure.reason ?? 'failed'}`) } : {}),
    ...('anomaly' in anomaly ? { anomaly: anomaly.anomaly } : {}),
    ...run,
  };
  await writeVerification(options.store, result, options.signer ? { signer: options.signer } : {});
  return result;
}

type RunDetails = Pick<VerificationResult, 'restoreTarget' | 'tables' | 'sqlChecks'>;

/** The streamed pass and the restore test; fills `checks` from checksum to sql-checks. */
async function verifyPayload(
  store: VaultStore,
  manifest: DumpManifest,
  keyring: BackupKeyring,
  server: ConnectionInfo | undefined,
  sqlChecks: readonly string[],
  checks: Checks,
  jobs: number | undefined,
): Promise<Partial<RunDetails>> {
  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${manifest.payload.key}`;
  if (manifest.payload.parts) {
    const inspect = (target: ConnectionInfo) => inspectRestored(target, manifest, sqlChecks, checks);
    // A key the manifest does not name was refused (WrongKeyError) before any byte was read.
    return verifyPartsPayload({ store, manifest, keyring, keyProblem: undefined, server, checks, inspect, hostPort, ...(jobs === undefined ? {} : { jobs }) });
  }

  if ((await store.head(key)) === undefined) {
    checks.set('checksum', 'failed', `payload ${key} is missing from ${store.location}`, 0);
    checks.skipRest('checksum', 'not checked: the payload is missing');
    return {};
  }

  const since = performance.now();
  const consumers: JudgedConsumer[] = [];
  let scratch: ScratchDatabase | undefined;
  let details: Partial<RunDetails> = {};
  try {
    let structure: JudgedConsumer | undefined;
    let restore: JudgedConsumer | undefined;
    structure = structureCheck(manifest.engine, since);
    consumers.push(structure);
    if (server) {
      scratch = await createScratchDatabase(server, manifest.sourceId);
      details = { restoreTarget: { server: hostPort(server), database: scratch.target.database } };
      restore = await restoreTool(scratch.target, since);
      consumers.push(restore);
    }
    const pass = await streamPayload({
      source: await store.getStream(key),
      decrypt: { keyring, encryptionContext: backupEncryptionContext(manifest.sourceId, manifest.backupId) },
      consumers,
    });
    const verdicts = await Promise.all(consumers.map((consumer) => consumer.verdict()));
    const [structureVerdict, restoreVerdict] = verdicts;

    checks.set('checksum', ...checksumCheck(pass, manifest, key));
    // Intact stored bytes whose data key will not unwrap: the key is wrong, not the backup.
    if (checks.passed('checksum') && isUnwrapFailure(pass.opened?.error)) {
      throw wrongKeyError(manifest.backupId, pass.opened?.error, 'nothing was recorded');
    }
    checks.set('decrypt', ...decryptCheck(pass, manifest));
    const opened = checks.passed('decrypt');
    if (!opened || !structureVerdict) checks.set('structure', 'skipped', 'not checked: the payload did not decrypt and decompress', 0);
    else checks.set('structure', ...fromVerdict(structureVerdict));

    const integrityFailure = (['checksum', 'decrypt'] as const).find((name) => !checks.passed(name));
    if (!server) {
      checks.skipRest('structure', 'no restore server given: the restore test did not run');
    } else if (integrityFailure || !restoreVerdict || !scratch) {
      checks.skipRest('structure', `not run: the payload failed the ${integrityFailure ?? 'decrypt'} check`);
    } else {
      // A restore cut off because the server went away says nothing about the backup: that throws instead.
      if (!restoreVerdict.ok) await assertServerReachable(server);
      const restoreReason = restoreVerdict.ok ? undefined : redact(restoreVerdict.reason ?? 'failed', server);
      checks.set('restore', restoreVerdict.ok ? 'passed' : 'failed', restoreReason, restoreVerdict.ms);
      if (!restoreVerdict.ok) {
        checks.skipRest('restore', 'not checked: the restore failed');
      } else {
        details = { ...details, ...(await inspectRestored(scratch.target, manifest, sqlChecks, checks)) };
      }
    }
  } finally {
    for (const consumer of consumers) consumer.abort();
    // Each verdict waits for its tool to have exited: no restore is still writing when the database goes.
    await Promise.allSettled(consumers.map((consumer) => consumer.verdict()));
    if (scratch) {
      try {
        await scratch.drop();
      } catch (error) {
        checks.dropFailed(describeDropFailure(scratch, error));
      }
    }
  }
  return details;
}

/** Row counts and SQL checks in the restored scratch database. */
async function inspectRestored(
  target: ConnectionInfo,
  manifest: DumpManifest,
  sqlChecks: readonly string[],
  checks: Checks,
): Promise<Partial<RunDetails>> {
  const db = await connectRestoredDatabase(target, {
    tls: tlsFor(target),
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
  });
  if (db instanceof DatabaseMissing) {
    checks.set('row-counts', 'failed', `the scratch database ${target.database} is gone after the restore`, 0);
    checks.set('sql-checks', 'skipped', 'not run: no restored database', 0);
    return {};
  }
  try {
    const countsStarted = performance.now();
    const tables: TableVerification[] = [];
    const failures: string[] = [];
    const warnings: string[] = [];
    for (const table of manifest.content.tables) {
      // A MySQL dump holds one database; restored under the scratch name, its tables live there.
      const schema = manifest.engine === 'mysql' ? target.database : table.schema;
      const label = `${table.schema === '' ? '' : `${table.schema}.`}${table.name}`;
      if (!(await db.tableExists(schema, table.name))) {
        tables.push({ schema: table.schema, name: table.name, expectedRows: table.rows, status: 'failed' });
        failures.push(`table ${label} is missing after the restore (the manifest records ${table.rows} rows)`);
        continue;
      }
      const actualRows = await db.countRows(schema, table.name);
      const base = { schema: table.schema, name: table.name, expectedRows: table.rows, actualRows };
      if (actualRows === table.rows) {
        tables.push({ ...base, status: 'passed' });
      } else if (table.rowsExact) {
        tables.push({ ...base, status: 'failed' });
        failures.push(`table ${label} has ${actualRows} rows after the restore; the manifest records ${table.rows}`);
      } else {
        tables.push({ ...base, status: 'warning' });
        warnings.push(`table ${label} has ${actualRows} rows after the restore; the manifest estimated ${table.rows}`);
      }
    }
    const countsMs = performance.now() - countsStarted;
    if (failures.length > 0) checks.set('row-counts', 'failed', failures.join('; '), countsMs);
    else if (warnings.length > 0) checks.set('row-counts', 'warning', warnings.join('; '), countsMs);
    else checks.set('row-counts', 'passed', undefined, countsMs);

    if (sqlChecks.length === 0) {
      checks.set('sql-checks', 'skipped', 'no SQL checks configured', 0);
      return { tables };
    }
    const sqlStarted = performance.now();
    const results: SqlCheckVerification[] = [];
    for (const [index, sql] of sqlChecks.entries()) results.push(await runSqlCheck(db, sql, index, target));
    const failed = results.filter((r) => r.status === 'failed').map((r) => r.reason ?? 'failed');
    checks.set('sql-checks', failed.length === 0 ? 'passed' : 'failed', failed.length === 0 ? undefined : failed.join('; '), performance.now() - sqlStarted);
    return { tables, sqlChecks: results };
  } finally {
    await db.close();
  }
}

async function runSqlCheck(db: RestoredDatabase, sql: string, index: number, target: ConnectionInfo): Promise<SqlCheckVerification> {
  const label = `check ${index + 1} (${abbreviate(oneLine(sql), 80)})`;
  const failed = (reason: string): SqlCheckVerification => ({ sql, status: 'failed', reason: oneLine(redact(reason, target)) });
  let values: unknown[];
  try {
    values = await db.firstColumn(sql);
  } catch (error) {
    // A check that cannot run is the operator's to fix; the restored database says nothing by it.
    throw new InvalidSqlCheckError(`SQL ${label} cannot run: ${oneLine(redact(messageOf(error), target))}; nothing was recorded`, {
      cause: error,
    });
  }
  if (values.length === 0) return failed(`${label} returned no rows`);
  if (!values.some(isTruthy)) return failed(`${label} returned ${values.length} row(s) and no first column is true`);
  return { sql, status: 'passed' };
}

function checksumCheck(pass: PassOutcome, manifest: DumpManifest, key: string): CheckArgs {
  const { storedBytes, sha256 } = manifest.payload;
  if (pass.storedBytes !== storedBytes) {
    const how = pass.storedBytes < storedBytes ? 'truncated' : 'longer than recorded';
    return ['failed', `payload ${key} holds ${pass.storedBytes} bytes; the manifest records ${storedBytes} (${how})`, pass.storedMs];
  }
  if (pass.sha256 !== sha256) {
    return ['failed', `payload ${key} has SHA-256 ${pass.sha256}; the manifest records ${sha256} (altered or replaced)`, pass.storedMs];
  }
  return ['passed', undefined, pass.storedMs];
}

function decryptCheck(pass: PassOutcome, manifest: DumpManifest): CheckArgs {
  const opened = pass.opened;
  if (!opened) return ['failed', 'the payload was not decrypted', 0];
  if (opened.error !== undefined) {
    const message = messageOf(opened.error);
    // Only reached with damaged stored bytes (an intact payload whose key will not unwrap throws instead).
    if (isUnwrapFailure(opened.error)) return ['failed', `the data key does not unwrap from the damaged payload (${message})`, opened.ms];
    return ['failed', message, opened.ms];
  }
  if (opened.rawBytes !== manifest.payload.rawBytes) {
    return ['failed', `the payload decompresses to ${opened.rawBytes} bytes; the manifest records ${manifest.payload.rawBytes}`, opened.ms];
  }
  return ['passed', undefined, opened.ms];
}

function fromVerdict(verdict: Verdict): CheckArgs {
  return verdict.ok ? ['passed', undefined, verdict.ms] : ['failed', verdict.reason ?? 'failed', verdict.ms];
}

function tlsFor(target: ConnectionInfo): 'verify' | 'disable' {
  const mode = (target.sslMode ?? 'disable').toLowerCase().replace(/_/g, '-');
  return ['disable', 'disabled', 'allow', 'prefer', 'preferred'].includes(mode) ? 'disable' : 'verify';
}

/** `host:port`, as the result records the server: never a user or password. */
function hostPort(server: ConnectionInfo): string {
  return `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
}

type CheckArgs = [status: VerificationCheck['status'], reason: string | undefined, ms: number];

/** The checks of one run, reported in {@link CHECK_NAMES} order whatever order they were decided in. */
class Checks {
  readonly #checks = new Map<CheckName, VerificationCheck>();
  constructor(private readonly server: ConnectionInfo | undefined) {}

  set(name: CheckName, status: VerificationCheck['status'], reason: string | undefined, ms: number): void {
    const text = reason === undefined ? undefined : oneLine(redact(reason, this.server));
    this.#checks.set(name, { name, status, ...(text === undefined ? {} : { reason: text }), durationMs: Math.max(0, Math.round(ms)) });
  }

  passed(name: CheckName): boolean {
    return this.#checks.get(name)?.status === 'passed';
  }

  /** Every check after `after` (up to sql-checks) not yet decided is skipped with `reason`. */
  skipRest(after: CheckName, reason: string): void {
    const start = CHECK_NAMES.indexOf(after) + 1;
    for (const name of CHECK_NAMES.slice(start, CHECK_NAMES.indexOf('size-anomaly'))) {
      if (!this.#checks.has(name)) this.set(name, 'skipped', reason, 0);
    }
  }

  /** A scratch database left behind does not make the backup bad, but must not go unnoticed. */
  dropFailed(reason: string): void {
    const restore = this.#checks.get('restore');
    if (!restore) {
      this.set('restore', 'warning', reason, 0);
      return;
    }
    const status = restore.status === 'passed' ? 'warning' : restore.status;
    this.set('restore', status, restore.reason ? `${restore.reason}; ${reason}` : reason, restore.durationMs);
  }

  list(): VerificationCheck[] {
    return CHECK_NAMES.flatMap((name) => {
      const check = this.#checks.get(name);
      return check ? [check] : [];
    });
  }
}

function oneLine(text: string): string {
  const flat = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' | ');
  return abbreviate(flat === '' ? 'failed' : flat, MAX_REASON_LENGTH);
}

function abbreviate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
