/**
 * The retention planner: which backups of one source to keep and which to delete. Pure and
 * deterministic: the same backups (in any order), policy, time and zone give the same plan.
 *
 * Rules, applied together; a backup is kept if any rule keeps it, and every rule that does is named:
 *
 * - **in progress**: a backup still being written is never deleted and takes no part in the rules below.
 * - **keep-last N**: the N newest backups that did not fail verification (`keep-last 3/7`).
 * - **days D**: every backup that did not fail and completed less than D × 24 h before `now`, or after
 *   it (`within 35 days`). Failed backups are kept only by this rule, for diagnosis
 *   (`within 35 days (failed, kept for diagnosis)`); no other rule ever keeps a failed backup.
 * - **GFS** (daily, weekly, monthly, yearly), on calendar periods in the source's time zone: the N
 *   most recent periods that contain a backup that did not fail each keep one backup, the newest
 *   *verified* one in the period if there is one, else the newest one (`daily 2026-11-20`,
 *   `weekly 2026-W47` (ISO week), `monthly 2026-11`, `yearly 2026`). Periods without such a backup do
 *   not count (restic-style), so a gap in backups never uses up the policy.
 * - **newest verified**: the most recent verified backup is kept whatever the policy says.
 * - **protection**: Object Lock retention in the future (`object lock until <ISO time>`) or a legal
 *   hold (`legal hold`) keeps a backup. When nothing but protection keeps it, the decision is `keep`
 *   with `protected: true`: the policy would delete it, the vault forbids it; reported, not failed.
 *
 * Ties in completion time are broken by id (greater id = newer), so input order never matters.
 *
 * @example
 * planRetention(backups, { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } },
 *   { now: new Date(), timeZone: 'Europe/Berlin' });
 * // → [{ id: '20261122T010000Z-k3x7q2ab', action: 'keep', reasons: ['keep-last 1/7', 'within 35 days', …], protected: false }, …]
 */
import { ConfigError } from '../errors.ts';
import { PERIOD_KINDS, assertTimeZone, localDate, periodKey, type PeriodKind } from './calendar.ts';

/** A backup's verification state: the newest verification result decides; none yet is `unverified`. */
export type VerificationStatus = 'verified' | 'unverified' | 'failed';

/** What the vault forbids deleting, whatever the policy. */
export interface BackupProtection {
  /** Object Lock retention; protects while in the future. */
  readonly objectLockUntil?: Date;
  readonly legalHold?: boolean;
}

/** One backup as the planner sees it. */
export interface RetentionCandidate {
  /** Unique among the candidates (a backup id, or a region-qualified snapshot identifier). */
  readonly id: string;
  /** When the backup completed; for one in progress, when it started. */
  readonly completedAt: Date;
  readonly status: VerificationStatus;
  readonly protection?: BackupProtection;
  /** Still being written: never deleted, never counted by the rules. */
  readonly inProgress?: boolean;
}

/** A source's `retention` config. A 0 turns that rule off. */
export interface RetentionPolicy {
  readonly days: number;
  readonly keepLast: number;
  readonly gfs: {
    readonly daily: number;
    readonly weekly: number;
    readonly monthly: number;
    readonly yearly: number;
  };
}

export interface PlanOptions {
  readonly now: Date;
  /** The source's IANA time zone (`schedule.timeZone`); calendar periods are counted in it. */
  readonly timeZone: string;
}

export interface RetentionDecision {
  readonly id: string;
  readonly action: 'keep' | 'delete';
  /** `keep`: every reason that keeps it, in rule order. `delete`: why it goes, in one reason. */
  readonly reasons: readonly string[];
  /** The policy would delete it but Object Lock or a legal hold forbids it (so `action` is `keep`). */
  readonly protected: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** One decision per backup, newest first. Throws `ConfigError` for a bad policy or time zone. */
export function planRetention(
  backups: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  options: PlanOptions,
): RetentionDecision[] {
  assertRetentionPolicy(policy);
  assertTimeZone(options.timeZone);
  assertValidDate(options.now, 'now');
  const seen = new Set<string>();
  for (const backup of backups) {
    if (seen.has(backup.id)) throw new RangeError(`Retention candidates must have unique ids; "${backup.id}" appears twice`);
    seen.add(backup.id);
    assertValidDate(backup.completedAt, `completedAt of ${backup.id}`);
  }
  const now = options.now.getTime();

  const sorted = [...backups].sort(newestFirst);
  const complete = sorted.filter((b) => !b.inProgress);
  const restorable = complete.filter((b) => b.status !== 'failed');
  const reasons = new Map<string, string[]>(sorted.map((b) => [b.id, []]));
  const keep = (backup: RetentionCandidate, reason: string) => reasons.get(backup.id)!.push(reason);

  restorable.slice(0, policy.keepLast).forEach((backup, index) => keep(backup, `keep-last ${index + 1}/${policy.keepLast}`));

  for (const backup of policy.days > 0 ? complete : []) {
    if (now - backup.completedAt.getTime() >= policy.days * DAY_MS) continue;
    const within = `within ${days(policy.days)}`;
    keep(backup, backup.status === 'failed' ? `${within} (failed, kept for diagnosis)` : within);
  }

  for (const kind of PERIOD_KINDS) {
    for (const { key, pick } of recentPeriods(restorable, kind, policy.gfs[kind], options.timeZone)) keep(pick, `${kind} ${key}`);
  }

  const newestVerified = complete.find((b) => b.status === 'verified');
  if (newestVerified) keep(newestVerified, 'newest verified');

  return sorted.map((backup): RetentionDecision => {
    const protections = protectionReasons(backup.protection, now);
    if (backup.inProgress) return { id: backup.id, action: 'keep', reasons: ['in progress', ...protections], protected: false };
    const policyReasons = reasons.get(backup.id)!;
    if (policyReasons.length > 0) {
      return { id: backup.id, action: 'keep', reasons: [...policyReasons, ...protections], protected: false };
    }
    if (protections.length > 0) return { id: backup.id, action: 'keep', reasons: protections, protected: true };
    return { id: backup.id, action: 'delete', reasons: [deleteReason(backup, policy)], protected: false };
  });
}

/** Throws one `ConfigError` listing every field of `policy` that is not a whole number >= 0. */
export function assertRetentionPolicy(policy: RetentionPolicy): void {
  const fields: [string, unknown][] = [
    ['days', policy?.days],
    ['keepLast', policy?.keepLast],
    ...PERIOD_KINDS.map((kind): [string, unknown] => [`gfs.${kind}`, policy?.gfs?.[kind]]),
  ];
  const problems = fields
    .filter(([, value]) => !(typeof value === 'number' && Number.isInteger(value) && value >= 0))
    .map(([field, value]) => `retention.${field}: must be a whole number >= 0, got ${String(value)}`);
  if (problems.length > 0) throw new ConfigError(`Invalid retention policy: ${problems.join('; ')}`);
}

/**
 * The `count` most recent periods holding any of `newestFirst` (already sorted), each with the backup
 * that represents it. Local dates never run backwards as time runs forwards (a DST change moves the
 * clock by less than a day), so walking newest first meets the periods newest first.
 */
function recentPeriods(
  newestFirstBackups: readonly RetentionCandidate[],
  kind: PeriodKind,
  count: number,
  timeZone: string,
): { key: string; pick: RetentionCandidate }[] {
  const periods: { key: string; pick: RetentionCandidate }[] = [];
  if (count === 0) return periods;
  for (const backup of newestFirstBackups) {
    const key = periodKey(kind, localDate(backup.completedAt, timeZone));
    const current = periods.at(-1);
    if (current?.key === key) {
      // A verified backup is proven restorable: it represents the period even if a newer one is not yet verified.
      if (current.pick.status !== 'verified' && backup.status === 'verified') current.pick = backup;
      continue;
    }
    if (periods.length === count) break;
    periods.push({ key, pick: backup });
  }
  return periods;
}

/** `object lock until <ISO time>` while the lock lasts, `legal hold` while one is on. */
export function protectionReasons(protection: BackupProtection | undefined, now: number): string[] {
  const reasons: string[] = [];
  const until = protection?.objectLockUntil;
  if (until && until.getTime() > now) reasons.push(`object lock until ${until.toISOString()}`);
  if (protection?.legalHold) reasons.push('legal hold');
  return reasons;
}

function deleteReason(backup: RetentionCandidate, policy: RetentionPolicy): string {
  if (backup.status !== 'failed') return 'no rule keeps it';
  return policy.days > 0 ? `failed verification, older than ${days(policy.days)}` : 'failed verification';
}

function days(count: number): string {
  return `${count} ${count === 1 ? 'day' : 'days'}`;
}

function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  const byTime = b.completedAt.getTime() - a.completedAt.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function assertValidDate(value: Date, what: string): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new RangeError(`Retention planning needs a valid Date for ${what}`);
}
