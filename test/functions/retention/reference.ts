/**
 * A deliberately simple reference for the retention planner, written independently of it: brute force
 * over calendar periods (walk every day, week, month or year backwards and look at who falls in it),
 * ranks by counting, local dates as Swedish-formatted strings. Slow and obvious, so that the planner's
 * cleverness (sorting, one pass, ISO-week arithmetic) is checked against something plainly right.
 */
import type { RetentionCandidate, RetentionDecision, RetentionPolicy } from '../../../functions/lib/retention/plan.ts';

const DAY = 86_400_000;

export function referencePlan(
  backups: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  now: Date,
  timeZone: string,
): RetentionDecision[] {
  const isNewer = (a: RetentionCandidate, b: RetentionCandidate) =>
    a.completedAt.getTime() > b.completedAt.getTime() || (a.completedAt.getTime() === b.completedAt.getTime() && a.id > b.id);
  const complete = backups.filter((b) => !b.inProgress);
  const eligible = complete.filter((b) => b.status !== 'failed');
  // Swedish writes dates as YYYY-MM-DD; one formatter, since toLocaleDateString builds one per call.
  const localDay = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const day = new Map(backups.map((b) => [b.id, localDay.format(b.completedAt)]));
  const reasons = new Map<string, string[]>(backups.map((b) => [b.id, []]));

  for (const b of eligible) {
    const rank = 1 + eligible.filter((other) => isNewer(other, b)).length;
    if (rank <= policy.keepLast) reasons.get(b.id)!.push(`keep-last ${rank}/${policy.keepLast}`);
  }
  for (const b of complete) {
    if (policy.days > 0 && now.getTime() - b.completedAt.getTime() < policy.days * DAY) {
      const within = `within ${policy.days} day${policy.days === 1 ? '' : 's'}`;
      reasons.get(b.id)!.push(b.status === 'failed' ? `${within} (failed, kept for diagnosis)` : within);
    }
  }

  const pickOf = (members: RetentionCandidate[]) => {
    const newestOf = (list: RetentionCandidate[]) => list.find((m) => list.every((o) => o === m || isNewer(m, o)))!;
    const verified = members.filter((m) => m.status === 'verified');
    return newestOf(verified.length > 0 ? verified : members);
  };
  const gfs = (kind: string, count: number, periods: string[], periodOf: (localDay: string) => string, label: (p: string) => string) => {
    let found = 0;
    const periodById = new Map(eligible.map((b) => [b.id, periodOf(day.get(b.id)!)]));
    for (const period of periods) {
      if (found === count) return;
      const members = eligible.filter((b) => periodById.get(b.id) === period);
      if (members.length === 0) continue;
      found += 1;
      reasons.get(pickOf(members).id)!.push(`${kind} ${label(period)}`);
    }
  };
  if (eligible.length > 0) {
    const days = eligible.map((b) => day.get(b.id)!).sort();
    const first = days[0]!;
    const last = days.at(-1)!;
    gfs('daily', policy.gfs.daily, walk(last, first, -1), (d) => d, (p) => p);
    gfs('weekly', policy.gfs.weekly, walk(mondayOf(last), mondayOf(first), -7), mondayOf, isoWeekLabel);
    const months: string[] = [];
    for (let m = last.slice(0, 7); m >= first.slice(0, 7); m = previousMonth(m)) months.push(m);
    gfs('monthly', policy.gfs.monthly, months, (d) => d.slice(0, 7), (p) => p);
    const years: string[] = [];
    for (let y = Number(last.slice(0, 4)); y >= Number(first.slice(0, 4)); y--) years.push(String(y));
    gfs('yearly', policy.gfs.yearly, years, (d) => d.slice(0, 4), (p) => p);
  }

  const verified = complete.filter((b) => b.status === 'verified');
  const newestVerified = verified.find((v) => !verified.some((o) => isNewer(o, v)));
  if (newestVerified) reasons.get(newestVerified.id)!.push('newest verified');

  const decisions = backups.map((b): RetentionDecision => {
    const locks: string[] = [];
    if (b.protection?.objectLockUntil && b.protection.objectLockUntil.getTime() > now.getTime()) {
      locks.push(`object lock until ${b.protection.objectLockUntil.toISOString()}`);
    }
    if (b.protection?.legalHold) locks.push('legal hold');
    if (b.inProgress) return { id: b.id, action: 'keep', reasons: ['in progress', ...locks], protected: false };
    const own = reasons.get(b.id)!;
    if (own.length > 0) return { id: b.id, action: 'keep', reasons: [...own, ...locks], protected: false };
    if (locks.length > 0) return { id: b.id, action: 'keep', reasons: locks, protected: true };
    const why = b.status === 'failed' ? (policy.days > 0 ? `failed verification, older than ${policy.days} day${policy.days === 1 ? '' : 's'}` : 'failed verification') : 'no rule keeps it';
    return { id: b.id, action: 'delete', reasons: [why], protected: false };
  });
  // Newest first, by counting how many are newer.
  const position = (b: RetentionCandidate) => backups.filter((o) => isNewer(o, b)).length;
  return backups.map((b) => ({ b, at: position(b) })).sort((x, y) => x.at - y.at).map(({ b }) => decisions[backups.indexOf(b)]!);
}

/** Civil days from `from` to `to` inclusive, stepping by `step` days (negative: backwards). */
function walk(from: string, to: string, step: number): string[] {
  const out: string[] = [];
  for (let d = from; step < 0 ? d >= to : d <= to; d = addDays(d, step)) out.push(d);
  return out;
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
}

function weekday(day: string): number {
  return new Date(`${day}T00:00:00Z`).getUTCDay(); // 0 = Sunday
}

function mondayOf(day: string): string {
  let d = day;
  while (weekday(d) !== 1) d = addDays(d, -1);
  return d;
}

/** ISO week of the week starting `monday`: its Thursday's year, and how many Thursdays that year has had so far. */
function isoWeekLabel(monday: string): string {
  const thursday = addDays(monday, 3);
  const year = thursday.slice(0, 4);
  let week = 1;
  for (let t = addDays(thursday, -7); t.slice(0, 4) === year; t = addDays(t, -7)) week += 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function previousMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}
