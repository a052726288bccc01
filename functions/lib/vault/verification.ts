/**
 * The verification result, vault format v1: one object per verification run, written create-only beside the
 * (immutable) manifest at `backups/<sourceId>/<backupId>/verifications/<UTC ms timestamp>.json`.
 * The newest one is the backup's status. This module is the only reader and writer of that format:
 * `lifeboat list/show`, retention and the verify function all go through it.
 *
 * v1.1 binds a result to the exact backup it judged and authenticates it: `manifestSha256` (the SHA-256 of
 * the manifest's canonical JSON, see `manifestDigest`), `payloadSha256` (the manifest's `payload.sha256`),
 * and `mac`, the HMAC-SHA256 (base64url) of `lifeboat-verification/1\n` followed by the result's canonical
 * JSON without `mac`, computed with the verification key. That key is the verifier's alone: in AWS a KMS HMAC
 * key on which only the verify function may call `GenerateMac`, so no role that writes backups can produce a
 * result that authenticates.
 *
 * A reader with the key (every deployed function; the CLI with `--verification-key`) counts only results that
 * authenticate, are bound to the manifest in the vault and are stored under the name their own signed
 * `completedAt` gives; it ignores the rest and reports them. Unsigned results (v1.0, or written by a CLI
 * without the key) are ignored quietly; any other ignored result is tampering or damage and comes back as a
 * `problem`, so retention deletes nothing for the source until someone looks. A reader without the key
 * (a local vault read by its owner) takes the newest result by name, as v1.0 did, and says it did not
 * authenticate it.
 */
import { z } from 'zod';
import { canonicalJson } from '../crypto/canonical.ts';
import type { MacSigner } from '../crypto/mac.ts';
import { ObjectExistsError, VerificationResultInvalidError } from '../errors.ts';
import { createHash } from 'node:crypto';
import { BACKUP_ID_PATTERN, SOURCE_ID_PATTERN, VERIFICATIONS_DIR, backupPrefix, compactUtc } from './layout.ts';
import type { BackupManifest } from './manifest.ts';
import type { ConfigManifest } from './configManifest.ts';
import type { VaultStore } from './store.ts';

export const VERIFICATION_FORMAT = 'lifeboat-verification';
/** The version this code writes; readers accept every 1.x and refuse any other major. */
export const VERIFICATION_FORMAT_VERSION = '1.1';
/** What a result's MAC covers, before its canonical JSON: the format and this use of the key. */
export const VERIFICATION_MAC_CONTEXT = 'lifeboat-verification/1\n';
const SUPPORTED_MAJOR_VERSION = 1;
const VERSION_PATTERN = /^(\d+)\.(\d+)$/;

/** Checks in the order they run; the first failed one in this order is the result's `reason`. */
export const CHECK_NAMES = ['checksum', 'decrypt', 'structure', 'restore', 'row-counts', 'sql-checks', 'size-anomaly'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];
export const CHECK_STATUSES = ['passed', 'failed', 'skipped', 'warning'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** `20261122T060102.345Z.json`: the name of a verification object inside `verifications/`. */
const VERIFICATION_NAME = /^\d{8}T\d{6}\.\d{3}Z\.json$/;

type ObjectFactory = typeof z.object;

/** Writers strip unknown keys (only what 1.0 defines is written); readers keep them (a 1.x minor may add some). */
function defineSchema(object: ObjectFactory) {
  const timestamp = z.iso.datetime({ message: 'must be an ISO 8601 UTC timestamp ending in "Z"' });
  const oneLine = z.string().min(1).regex(/^[^\n\r]*$/, 'must be one line');
  const count = z.int().nonnegative();
  const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');

  const check = object({
    name: z.enum(CHECK_NAMES),
    status: z.enum(CHECK_STATUSES),
    reason: oneLine.optional(),
    durationMs: z.number().nonnegative(),
  });

  const anomaly = object({
    /** This backup's uncompressed size. */
    rawBytes: count,
    /** Median uncompressed size of the backups compared against. */
    medianRawBytes: count,
    /** rawBytes / medianRawBytes. */
    ratio: z.number().nonnegative(),
    minRatio: z.number().positive(),
    maxRatio: z.number().positive(),
    /** The earlier verified backups of the same source that were compared, newest first. */
    compared: z.array(z.string().regex(BACKUP_ID_PATTERN)),
    /** Whether the ratio is outside [minRatio, maxRatio]. */
    flagged: z.boolean(),
  });

  const table = object({
    schema: z.string(),
    name: z.string().min(1),
    expectedRows: count,
    /** Absent when the table is missing after the restore. */
    actualRows: count.optional(),
    status: z.enum(['passed', 'failed', 'warning']),
  });

  const sqlCheck = object({ sql: z.string().min(1), status: z.enum(['passed', 'failed']), reason: oneLine.optional() });

  return object({
    format: z.literal(VERIFICATION_FORMAT),
    formatVersion: z.string().regex(VERSION_PATTERN, 'must be "MAJOR.MINOR"'),
    sourceId: z.string().regex(SOURCE_ID_PATTERN, 'must be a source id'),
    backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id'),
    status: z.enum(['verified', 'failed']),
    startedAt: timestamp,
    completedAt: timestamp,
    checks: z.array(check).min(1, 'must list at least one check'),
    /** The first failed check's reason; present exactly when the status is `failed`. */
    reason: oneLine.optional(),
    anomaly: anomaly.optional(),
    /** Where the restore test ran: `host:port` (never a user or password) and the scratch database. */
    restoreTarget: object({
      server: z.string().regex(/^[^\s/@]+:\d+$/, 'must be host:port, never a URL or credentials'),
      database: z.string().min(1),
    }).optional(),
    /** Row counts after the restore test, per table of the manifest. */
    tables: z.array(table).optional(),
    /** The SQL checks run against the restored database. */
    sqlChecks: z.array(sqlCheck).optional(),
    /** v1.1: SHA-256 (hex) of the canonical JSON of the manifest this result judged (`manifestDigest`). */
    manifestSha256: sha256.optional(),
    /** v1.1: the judged manifest's `payload.sha256`. */
    payloadSha256: sha256.optional(),
    /** v1.1: HMAC-SHA256 (base64url) of the result with the verification key; absent when written without it. */
    mac: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url HMAC-SHA256').optional(),
  }).superRefine((result, ctx) => {
    const problem = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const failed = result.checks.some((c) => c.status === 'failed');
    if (failed !== (result.status === 'failed')) {
      problem(['status'], failed ? 'must be "failed" when a check failed' : 'must be "verified" when no check failed');
    }
    if (result.status === 'failed' && result.reason === undefined) problem(['reason'], 'is required when the status is "failed"');
    if (Date.parse(result.completedAt) < Date.parse(result.startedAt)) problem(['completedAt'], 'must not be before startedAt');
  });
}

const writerSchema = defineSchema(z.object);
const readerSchema = defineSchema(z.looseObject as unknown as ObjectFactory);

/**
 * One verification run. Example (abridged):
 *
 * ```json
 * {
 *   "format": "lifeboat-verification", "formatVersion": "1.0",
 *   "sourceId": "orders-db", "backupId": "20261122T053327Z-k3x7q2ab",
 *   "status": "failed",
 *   "startedAt": "2026-11-22T06:01:00.120Z", "completedAt": "2026-11-22T06:01:02.345Z",
 *   "checks": [
 *     { "name": "checksum", "status": "passed", "durationMs": 812 },
 *     { "name": "decrypt", "status": "passed", "durationMs": 815 },
 *     { "name": "structure", "status": "passed", "durationMs": 816 },
 *     { "name": "restore", "status": "passed", "durationMs": 1790 },
 *     { "name": "row-counts", "status": "failed", "reason": "table public.orders has 119 rows after the restore; the manifest records 120", "durationMs": 31 },
 *     { "name": "sql-checks", "status": "skipped", "reason": "no SQL checks configured", "durationMs": 0 },
 *     { "name": "size-anomaly", "status": "passed", "durationMs": 4 }
 *   ],
 *   "reason": "row-counts: table public.orders has 119 rows after the restore; the manifest records 120",
 *   "restoreTarget": { "server": "verify.internal:5432", "database": "lb_verify_orders_db_3f9a1c2e" }
 * }
 * ```
 */
export type VerificationResult = z.output<typeof writerSchema>;
export type VerificationCheck = VerificationResult['checks'][number];
export type SizeAnomaly = NonNullable<VerificationResult['anomaly']>;
export type TableVerification = NonNullable<VerificationResult['tables']>[number];
export type SqlCheckVerification = NonNullable<VerificationResult['sqlChecks']>[number];

/** A backup's status as every reader reports it. */
export type VerificationStatus = 'unverified' | 'verified' | 'failed';

export interface LatestVerification {
  /** `unverified` when there is no result yet, or none that counts (then `ignored` or `problem` says why). */
  readonly status: VerificationStatus;
  /** The verification object the status comes from; absent when there is none. */
  readonly key?: string;
  /** The result the status comes from. */
  readonly result?: VerificationResult;
  /** Whether `result` was authenticated with the verification key (false: read without the key). */
  readonly authenticated?: boolean;
  /** Results newer than `result` (or all of them) that did not count, each with why: see the module comment. */
  readonly ignored?: readonly IgnoredVerification[];
  /**
   * Why the status cannot be trusted: the newest result cannot be read (not JSON, not this format, a newer
   * major version, another backup's), or, with the key, a result failed authentication or its binding. It is
   * never silently taken as unverified: retention deletes nothing for the source while any status has a
   * problem, and `list`/`show` print it.
   */
  readonly problem?: string;
}

export interface IgnoredVerification {
  readonly key: string;
  readonly reason: string;
  /** Unsigned: written before results were signed, or without the key. Not a sign of tampering. */
  readonly unsigned: boolean;
}

/** How results are read: see the module comment. */
export interface VerificationReadOptions {
  /** The verification key: only results that authenticate count. @default results are taken as stored */
  readonly authenticator?: Pick<MacSigner, 'verify'>;
  /** The backup's manifest as the vault holds it: a v1.1 result bound to another is ignored. Required with `authenticator`. */
  readonly manifest?: JudgedManifest;
  /** The folder the backup's `verifications/` is in. @default the dump's folder, `backups/<sourceId>/<backupId>/` */
  readonly folder?: string;
}

/**
 * What a result can judge: a backup's manifest (`vault/manifest.ts`) or a file-set snapshot's
 * (`fileset/format.ts`), whose results live in the snapshot's folder (`folder` of the read and write options).
 */
export type JudgedManifest = BackupManifest | ConfigManifest | { readonly format: string; readonly sourceId: string; readonly backupId: string; readonly payload?: undefined };

/**
 * What binds a result to the backup it judged: put these in the result before writing it. `manifestSha256` is the
 * SHA-256 of the manifest's canonical JSON (`manifestDigest` for a backup's), so spacing does not matter and any
 * changed field does.
 */
export function verificationBinding(manifest: JudgedManifest): { manifestSha256: string; payloadSha256?: string } {
  const manifestSha256 = createHash('sha256').update(canonicalJson(manifest)).digest('hex');
  return { manifestSha256, ...(manifest.payload ? { payloadSha256: manifest.payload.sha256 } : {}) };
}

/** The folder of a backup's results: `backups/<sourceId>/<backupId>/verifications/`, or under `folder`. */
function resultsPrefix(expected: { readonly sourceId: string; readonly backupId: string }, folder: string | undefined): string {
  return `${folder ?? backupPrefix(expected.sourceId, expected.backupId)}${VERIFICATIONS_DIR}/`;
}

/** The longest reason a check or result records: a reason says what failed, it is not a log. */
export const MAX_REASON_LENGTH = 1000;

/** `text` as a check's or result's reason: one line (line breaks become spaces), trimmed, at most 1,000 characters, never empty. */
export function reasonLine(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  if (line === '') return 'failed';
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 3)}...` : line;
}

/**
 * A result judging `manifest` by `checks`: failed (with the first failed check as its reason) when any check failed,
 * else verified; bound to the manifest; its completion never before its start, even if the clock stepped back.
 */
export function judgedResult(manifest: JudgedManifest, checks: VerificationCheck[], startedAt: Date, completedAt: Date): VerificationResult {
  const firstFailure = checks.find((check) => check.status === 'failed');
  return {
    format: VERIFICATION_FORMAT,
    formatVersion: VERIFICATION_FORMAT_VERSION,
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    status: firstFailure ? 'failed' : 'verified',
    startedAt: startedAt.toISOString(),
    completedAt: new Date(Math.max(completedAt.getTime(), startedAt.getTime())).toISOString(),
    checks,
    ...verificationBinding(manifest),
    ...(firstFailure ? { reason: reasonLine(`${firstFailure.name}: ${firstFailure.reason ?? 'failed'}`) } : {}),
  };
}

/** The message a result's MAC covers. */
export function verificationMacMessage(result: VerificationResult): string {
  const { mac: _mac, ...unsigned } = result;
  return `${VERIFICATION_MAC_CONTEXT}${canonicalJson(unsigned)}`;
}

/**
 * Writes `result` as a new object beside the manifest (the manifest is never rewritten; an existing result is
 * never overwritten) and returns its key. With `signer` (the verification key) the result is signed. Two results
 * in the same millisecond get names a millisecond apart. Throws `VerificationResultInvalidError` naming each bad
 * field if `result` does not fit the format.
 */
export async function writeVerification(
  store: VaultStore,
  result: VerificationResult,
  options: { readonly signer?: MacSigner; readonly folder?: string } = {},
): Promise<string> {
  // A `mac` given is never trusted: what is written is signed here, or not at all.
  const parsed = writerSchema.safeParse(typeof result === 'object' && result !== null ? { ...result, mac: undefined } : result);
  const label = `${String(result?.sourceId)}/${String(result?.backupId)}`;
  if (!parsed.success) {
    throw new VerificationResultInvalidError(`Verification result for ${label} is invalid: ${describeIssues(parsed.error.issues)}`);
  }
  if (parsed.data.formatVersion !== VERIFICATION_FORMAT_VERSION) {
    throw new VerificationResultInvalidError(
      `Verification result for ${label} is invalid: formatVersion: this code writes "${VERIFICATION_FORMAT_VERSION}"`,
    );
  }
  if (parsed.data.manifestSha256 === undefined) {
    throw new VerificationResultInvalidError(`Verification result for ${label} is invalid: manifestSha256: is required (see verificationBinding)`);
  }
  // JSON round trip: what is signed is exactly what a reader parses.
  const unsigned = JSON.parse(JSON.stringify(parsed.data)) as VerificationResult;
  const signed = options.signer ? { ...unsigned, mac: await options.signer.sign(verificationMacMessage(unsigned)) } : unsigned;
  const body = `${JSON.stringify(signed, null, 2)}\n`;
  if (!store.createObject) throw new VerificationResultInvalidError(`The vault ${store.location} cannot write create-only objects`);
  const completedAt = Date.parse(parsed.data.completedAt);
  for (let at = completedAt; at < completedAt + MAX_NAME_DELAY_MS; at += 1) {
    const key = `${resultsPrefix(parsed.data, options.folder)}${compactUtc(new Date(at), true)}.json`;
    try {
      await store.createObject(key, body);
      return key;
    } catch (error) {
      if (!(error instanceof ObjectExistsError)) throw error;
    }
  }
  throw new VerificationResultInvalidError(`Verification result for ${label}: ${MAX_NAME_DELAY_MS} results already completed in the same second`);
}

/** A result is named by its `completedAt`, later by at most this much when that name was taken. */
const MAX_NAME_DELAY_MS = 1000;

/** The newest verification result of one backup that counts (see the module comment). Store errors propagate. */
export async function readLatestVerification(
  store: VaultStore,
  sourceId: string,
  backupId: string,
  options: VerificationReadOptions = {},
): Promise<LatestVerification> {
  const keys: string[] = [];
  for await (const key of store.list(resultsPrefix({ sourceId, backupId }, options.folder))) keys.push(key);
  return newestVerification(store, keys, { sourceId, backupId }, options);
}

/**
 * The newest result among `keys` (any keys of the backup's folder; the others are skipped) that counts. For
 * callers that listed the folder themselves (e.g. `lifeboat list`, which lists the vault once for every
 * backup). Names are compact UTC timestamps, so the newest name is tried first: the common case is one read.
 */
export async function newestVerification(
  store: VaultStore,
  keys: readonly string[],
  expected: { readonly sourceId: string; readonly backupId: string },
  options: VerificationReadOptions = {},
): Promise<LatestVerification> {
  const prefix = resultsPrefix(expected, options.folder);
  const names = keys.filter((key) => key.startsWith(prefix) && isVerificationName(key.slice(prefix.length))).sort().reverse();
  if (names.length === 0) return { status: 'unverified' };
  if (!options.authenticator) return readVerification(store, names[0]!, expected, options);
  const ignored: IgnoredVerification[] = [];
  for (const key of names) {
    const read = await readVerification(store, key, expected, options);
    if (read.problem === undefined) return withIgnored(read, ignored);
    // A result that does not count comes back with it only when it was unsigned (see readVerification).
    ignored.push({ key, reason: read.problem, unsigned: read.result !== undefined });
  }
  return withIgnored({ status: 'unverified' }, ignored);
}

function withIgnored(read: LatestVerification, ignored: readonly IgnoredVerification[]): LatestVerification {
  if (ignored.length === 0) return read;
  const suspect = ignored.filter((i) => !i.unsigned);
  return {
    ...read,
    ignored,
    ...(suspect.length === 0
      ? {}
      : { problem: `${suspect.length} verification result${suspect.length === 1 ? '' : 's'} ignored: ${suspect.map((i) => i.reason).join('; ')}` }),
  };
}

/**
 * One verification object, checked to belong to `expected` (and, with the key, to authenticate, to be bound to
 * `options.manifest` and to be stored under its own time). A result that does not count comes back with
 * `problem`, and with `result` only when it was unsigned. Store errors propagate.
 */
export async function readVerification(
  store: VaultStore,
  key: string,
  expected: { readonly sourceId: string; readonly backupId: string },
  options: VerificationReadOptions = {},
): Promise<LatestVerification> {
  if (options.authenticator && !options.manifest) throw new TypeError('readVerification: authenticating a result needs the backup\'s manifest');
  const outcome = parseVerification(await store.getObject(key), key);
  if ('problem' in outcome) return { status: 'unverified', key, problem: outcome.problem };
  const { result } = outcome;
  if (result.sourceId !== expected.sourceId || result.backupId !== expected.backupId) {
    return {
      status: 'unverified',
      key,
      problem: `the newest verification result ${key} describes backup ${result.sourceId}/${result.backupId}, not ${expected.sourceId}/${expected.backupId}`,
    };
  }
  const manifest = options.manifest;
  if (manifest && result.manifestSha256 !== undefined) {
    const binding = verificationBinding(manifest);
    if (result.manifestSha256 !== binding.manifestSha256 || result.payloadSha256 !== binding.payloadSha256) {
      return { status: 'unverified', key, problem: `${key} judged another manifest of ${expected.sourceId}/${expected.backupId} than the one in the vault (the manifest was replaced, or the result copied)` };
    }
  }
  if (!options.authenticator) return { status: result.status, key, result, authenticated: false };
  if (result.mac === undefined) {
    return { status: 'unverified', key, result, problem: `${key} is not signed (written before results were signed, or without the verification key)` };
  }
  if (result.manifestSha256 === undefined) return { status: 'unverified', key, problem: `${key} is signed but not bound to a manifest` };
  if (!(await options.authenticator.verify(verificationMacMessage(result), result.mac))) {
    return { status: 'unverified', key, problem: `${key} fails authentication with the verification key (forged or altered)` };
  }
  const named = Date.parse(keyTime(key)) - Date.parse(result.completedAt);
  if (!(named >= 0 && named < MAX_NAME_DELAY_MS)) {
    return { status: 'unverified', key, problem: `${key} is stored under another time than its signed completedAt ${result.completedAt} (a copy of an older result)` };
  }
  return { status: result.status, key, result, authenticated: true };
}

/** `…/verifications/20261122T060102.345Z.json` → `2026-11-22T06:01:02.345Z`. */
function keyTime(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return `${name.slice(0, 4)}-${name.slice(4, 6)}-${name.slice(6, 8)}T${name.slice(9, 11)}:${name.slice(11, 13)}:${name.slice(13, 19)}Z`;
}

/** Parses a verification object; a problem names the key and what is wrong (field paths, never values). */
export function parseVerification(bytes: Uint8Array | string, key: string): { result: VerificationResult } | { problem: string } {
  const what = `the newest verification result ${key}`;
  let document: unknown;
  try {
    const text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    document = JSON.parse(text);
  } catch {
    return { problem: `${what} is not valid JSON` };
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { problem: `${what} is not a JSON object` };
  }
  const { format, formatVersion } = document as Record<string, unknown>;
  if (format !== VERIFICATION_FORMAT) return { problem: `${what} is not a verification result (format is not "${VERIFICATION_FORMAT}")` };
  const version = typeof formatVersion === 'string' ? VERSION_PATTERN.exec(formatVersion) : null;
  if (!version) return { problem: `${what} is invalid: formatVersion: must be "MAJOR.MINOR"` };
  if (Number(version[1]) !== SUPPORTED_MAJOR_VERSION) {
    return {
      problem: `${what} has format version ${String(formatVersion)}, which this Lifeboat does not read (highest supported: ${SUPPORTED_MAJOR_VERSION}.x)`,
    };
  }
  const parsed = readerSchema.safeParse(document);
  if (!parsed.success) return { problem: `${what} is invalid: ${describeIssues(parsed.error.issues)}` };
  return { result: parsed.data };
}

/** Whether `name` (relative to a backup's `verifications/` folder) is a verification object. */
export function isVerificationName(name: string): boolean {
  return VERIFICATION_NAME.test(name);
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path
        .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
        .join('');
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}
