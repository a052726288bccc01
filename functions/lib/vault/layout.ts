/**
 * Where things live in a vault (format v1). Every key is relative to the store root:
 *
 * ```
 * backups/<sourceId>/<backupId>/payload                          the encrypted, compressed dump stream
 * backups/<sourceId>/<backupId>/manifest.json                    written last; its presence makes the backup complete
 * backups/<sourceId>/<backupId>/verifications/<timestamp>.json   one object per verification run
 * evidence/<plan>/<execution name>.json                          what one DR plan execution did and measured (not a backup)
 * evidence/<plan>/<execution name>/steps/<step id>.json          a step's record, written by its Fargate task for the plan to read
 * ```
 *
 * Only `backups/` holds backups: listings, retention and the DR copy never look at `evidence/`.
 */
import { randomBytes } from 'node:crypto';
import { InvalidIdentifierError, InvalidStoreKeyError } from '../errors.ts';

export const BACKUPS_PREFIX = 'backups/';
export const PAYLOAD_NAME = 'payload';
export const MANIFEST_NAME = 'manifest.json';
export const VERIFICATIONS_DIR = 'verifications';
/** DR vault only: the payload objects of a backup the copy function has proven in the air-gapped vault (functions/copy). */
export const AIR_GAP_PROGRESS_NAME = 'air-gap.json';
export const EVIDENCE_PREFIX = 'evidence/';

/** A source id: lowercase, starts with a letter, at most 40 characters (it appears in keys, ARNs and metric dimensions). */
export const SOURCE_ID_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;
/** A DR plan's name, as the config allows it (it appears in keys, state machine names and topic names). */
export const PLAN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;
/**
 * A Step Functions execution name: 1-80 characters, none of them whitespace, a control character or one
 * of `< > { } [ ] ? * " # % \ ^ | ~ \` $ & , ; : /` (the service's own rule), so it is one key segment.
 */
export const EXECUTION_NAME_PATTERN = /^[^\s\u0000-\u001f\u007f-\u009f<>{}[\]?*"#%\\^|~`$&,;:/]{1,80}$/;
/** `20261122T053327Z-k3x7q2ab`: UTC start time to the second, then 8 random base32 characters. */
export const BACKUP_ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[a-z2-7]{8}$/;

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const MAX_KEY_BYTES = 1024;

/** A new backup id; ids sort lexicographically by start time. */
export function newBackupId(now: Date = new Date()): string {
  return `${compactUtc(now, false)}-${randomBase32(8)}`;
}

/** The start time encoded in a backup id; throws `InvalidIdentifierError` for anything that is not one. */
export function parseBackupId(id: string): { time: Date } {
  const match = BACKUP_ID_PATTERN.exec(id);
  if (!match) {
    throw new InvalidIdentifierError(
      `"${truncate(id)}" is not a backup id: expected <yyyymmdd>T<hhmmss>Z-<8 base32 characters>, e.g. 20261122T053327Z-k3x7q2ab`,
    );
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number, number, number, number, number, number,
  ];
  const time = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 2026-02-30 over to March, 24:00 to the next day and years 0-99 to the 1900s; a real id
  // never does, so the time written back must be the id's own. One comparison: no field can be left out.
  if (compactUtc(time, false) !== id.slice(0, id.indexOf('-'))) {
    throw new InvalidIdentifierError(`"${id}" is not a backup id: its timestamp is not a real UTC date and time`);
  }
  return { time };
}

export function isBackupId(id: string): boolean {
  try {
    parseBackupId(id);
    return true;
  } catch {
    return false;
  }
}

export function assertSourceId(sourceId: string): void {
  if (!SOURCE_ID_PATTERN.test(sourceId)) {
    throw new InvalidIdentifierError(
      `"${truncate(sourceId)}" is not a source id: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter`,
    );
  }
}

/** `backups/<sourceId>/`, or `backups/` for every source. */
export function sourcePrefix(sourceId?: string): string {
  if (sourceId === undefined) return BACKUPS_PREFIX;
  assertSourceId(sourceId);
  return `${BACKUPS_PREFIX}${sourceId}/`;
}

/** `backups/<sourceId>/<backupId>/`: the folder holding one backup. */
export function backupPrefix(sourceId: string, backupId: string): string {
  parseBackupId(backupId);
  return `${sourcePrefix(sourceId)}${backupId}/`;
}

export function payloadKey(sourceId: string, backupId: string): string {
  return `${backupPrefix(sourceId, backupId)}${PAYLOAD_NAME}`;
}

export function manifestKey(sourceId: string, backupId: string): string {
  return `${backupPrefix(sourceId, backupId)}${MANIFEST_NAME}`;
}

/** `.../verifications/20261122T060102.345Z.json`: milliseconds so two runs in one second do not collide. */
export function verificationKey(sourceId: string, backupId: string, at: Date): string {
  return `${backupPrefix(sourceId, backupId)}${VERIFICATIONS_DIR}/${compactUtc(at, true)}.json`;
}

/**
 * `evidence/<plan>/<execution name>.json`: the evidence of one DR plan execution. Throws
 * `InvalidIdentifierError` for a plan or execution name that could not be one (or could name another key).
 */
export function evidenceKey(plan: string, executionName: string): string {
  if (!PLAN_NAME_PATTERN.test(plan)) {
    throw new InvalidIdentifierError(`"${truncate(plan)}" is not a plan name: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter`);
  }
  if (!EXECUTION_NAME_PATTERN.test(executionName) || executionName === '.' || executionName === '..') {
    throw new InvalidIdentifierError(`"${truncate(executionName)}" is not a Step Functions execution name`);
  }
  const key = `${EVIDENCE_PREFIX}${plan}/${executionName}.json`;
  assertStoreKey(key);
  return key;
}

/**
 * `evidence/<plan>/<execution name>/steps/<step id>.json`: the record of a step that ran as a Fargate task
 * (docs/dr-plans.md, "Steps on Fargate"), which the plan reads back; the step id follows the plan name's rules.
 */
export function stepRecordKey(plan: string, executionName: string, stepId: string): string {
  if (!PLAN_NAME_PATTERN.test(stepId)) {
    throw new InvalidIdentifierError(`"${truncate(stepId)}" is not a step id: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter`);
  }
  const key = `${evidenceKey(plan, executionName).slice(0, -'.json'.length)}/steps/${stepId}.json`;
  assertStoreKey(key);
  return key;
}

/** Splits a key inside a backup folder; `undefined` for keys that are not (stray objects are ignored, never guessed at). */
export function parseBackupKey(key: string): { sourceId: string; backupId: string; name: string } | undefined {
  if (!key.startsWith(BACKUPS_PREFIX)) return undefined;
  const parts = key.slice(BACKUPS_PREFIX.length).split('/');
  // `<source>/<backup>/<name…>`: fewer parts is a folder or a stray object, never a key inside a backup.
  if (parts.length < 3) return undefined;
  const [sourceId, backupId, ...rest] = parts as [string, string, ...string[]];
  if (!SOURCE_ID_PATTERN.test(sourceId) || !isBackupId(backupId)) return undefined;
  return { sourceId, backupId, name: rest.join('/') };
}

/**
 * Every store accepts the same keys, so a vault can move between a directory and a bucket:
 * non-empty, at most 1024 bytes, `/`-separated segments that are neither empty, `.` nor `..`,
 * no leading `/`, no backslash, no control characters. Nothing can name a path outside the root.
 */
export function assertStoreKey(key: string): void {
  const problem = storeKeyProblem(key);
  if (problem) throw new InvalidStoreKeyError(`Invalid store key "${truncate(key)}": ${problem}`);
}

/** A listing prefix: `""`, a key, a key ending in `/`, or a partial key. Same rules as keys otherwise. */
export function assertStorePrefix(prefix: string): void {
  if (prefix === '') return;
  const problem = keyProblem(prefix, true);
  if (problem) throw new InvalidStoreKeyError(`Invalid store prefix "${truncate(prefix)}": ${problem}`);
}

/** What is wrong with `key` as a store key (see `assertStoreKey`), or `undefined` if nothing is. */
export function storeKeyProblem(key: string): string | undefined {
  return keyProblem(key, false);
}

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'it is empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith('/')) return 'it is absolute (starts with "/")';
  if (key.includes('\\')) return 'it contains a backslash';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'it contains a control character';
  const segments = key.split('/');
  // A prefix may end with "/"; the empty segment after it is not a problem.
  if (isPrefix && segments.at(-1) === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return 'it has an empty path segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" path segment`;
  }
  return undefined;
}

/** `20261122T053327Z`, or `20261122T053327.123Z` with milliseconds. Sorts by time; only `0-9`, `T`, `Z` (and `.`). */
export function compactUtc(at: Date, withMillis: boolean): string {
  if (Number.isNaN(at.getTime())) throw new InvalidIdentifierError('Cannot make an id from an invalid Date');
  const iso = at.toISOString(); // 2026-11-22T05:33:27.123Z
  const date = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 19).replaceAll(':', '');
  return `${date}T${time}${withMillis ? iso.slice(19, 23) : ''}Z`;
}

/** `length` random characters of lowercase RFC 4648 base32 (`a-z`, `2-7`). */
export function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += BASE32_ALPHABET[byte & 31];
  return out;
}

function truncate(value: string): string {
  const text = String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
