/**
 * The verification result, vault format v1: one object per verification run, written beside the
 * (immutable) manifest at `backups/<sourceId>/<backupId>/verifications/<UTC ms timestamp>.json`.
 * The newest one is the backup's status. This module is the only reader and writer of that format:
 * `lifeboat list/show`, retention and the verify function all go through it.
 */
import { z } from 'zod';
import { VerificationResultInvalidError } from '../errors.ts';
import { BACKUP_ID_PATTERN, SOURCE_ID_PATTERN, VERIFICATIONS_DIR, backupPrefix, verificationKey } from './layout.ts';
import type { VaultStore } from './store.ts';

export const VERIFICATION_FORMAT = 'lifeboat-verification';
/** The version this code writes; readers accept every 1.x and refuse any other major. */
export const VERIFICATION_FORMAT_VERSION = '1.0';
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
  /** `unverified` when there is no result yet, or when the newest one cannot be read (then `problem` says why). */
  readonly status: VerificationStatus;
  /** The verification object the status comes from; absent when there is none. */
  readonly key?: string;
  /** The newest result, when it could be read. */
  readonly result?: VerificationResult;
  /**
   * Why the newest result could not be read (not JSON, not this format, a newer major version, another
   * backup's). It is never silently taken as unverified: retention deletes nothing for the source
   * while any status is unknown, and `list`/`show` print the problem.
   */
  readonly problem?: string;
}

/**
 * Writes `result` as a new object beside the manifest (the manifest is never rewritten) and returns its
 * key. Two results in the same millisecond do not overwrite each other. Throws
 * `VerificationResultInvalidError` naming each bad field if `result` does not fit the format.
 */
export async function writeVerification(store: VaultStore, result: VerificationResult): Promise<string> {
  const parsed = writerSchema.safeParse(result);
  const label = `${String(result?.sourceId)}/${String(result?.backupId)}`;
  if (!parsed.success) {
    throw new VerificationResultInvalidError(`Verification result for ${label} is invalid: ${describeIssues(parsed.error.issues)}`);
  }
  if (parsed.data.formatVersion !== VERIFICATION_FORMAT_VERSION) {
    throw new VerificationResultInvalidError(
      `Verification result for ${label} is invalid: formatVersion: this code writes "${VERIFICATION_FORMAT_VERSION}"`,
    );
  }
  const body = `${JSON.stringify(parsed.data, null, 2)}\n`;
  let at = Date.parse(parsed.data.completedAt);
  for (;;) {
    const key = verificationKey(parsed.data.sourceId, parsed.data.backupId, new Date(at));
    if ((await store.head(key)) === undefined) {
      await store.putObject(key, body);
      return key;
    }
    at += 1;
  }
}

/** The newest verification result of one backup (see {@link LatestVerification}). Store errors propagate. */
export async function readLatestVerification(store: VaultStore, sourceId: string, backupId: string): Promise<LatestVerification> {
  let newest: string | undefined;
  const prefix = `${backupPrefix(sourceId, backupId)}${VERIFICATIONS_DIR}/`;
  // Listed in lexicographic order, and the names are compact UTC timestamps: the last is the newest.
  for await (const key of store.list(prefix)) if (isVerificationName(key.slice(prefix.length))) newest = key;
  if (newest === undefined) return { status: 'unverified' };
  return readVerification(store, newest, { sourceId, backupId });
}

/**
 * One verification object, checked to belong to `expected`. For callers that found the newest key
 * themselves (e.g. `lifeboat list`, which lists the vault once for every backup). Store errors propagate.
 */
export async function readVerification(
  store: VaultStore,
  key: string,
  expected: { readonly sourceId: string; readonly backupId: string },
): Promise<LatestVerification> {
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
  return { status: result.status, key, result };
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
