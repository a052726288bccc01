/**
 * Generated backup histories for the retention planner: a seeded PRNG (same seed, same history), times
 * spread over up to three years with daily runs, bursts, gaps, backups just around local midnight and
 * around DST changes, verified/unverified/failed mixes, locks, holds, backups still in progress, ties.
 */
import type { RetentionCandidate, RetentionPolicy, VerificationStatus } from '../../../functions/lib/retention/plan.ts';

export const TIME_ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'UTC'] as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** mulberry32: small, fast, good enough to spread test cases; deterministic per seed. */
export function prng(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

export interface Random {
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

export interface History {
  readonly seed: number;
  readonly timeZone: string;
  readonly now: Date;
  readonly policy: RetentionPolicy;
  readonly backups: RetentionCandidate[];
  /** How many backups were placed within two hours of a DST change (for coverage checks). */
  readonly nearDstChange: number;
}

const transitionsCache = new Map<string, number[]>();

/** Instants (ms, to the minute) where the zone's UTC offset changes, 2019-2031. */
export function dstTransitions(timeZone: string): number[] {
  const cached = transitionsCache.get(timeZone);
  if (cached) return cached;
  const format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  const offset = (ms: number) => format.formatToParts(ms).find((p) => p.type === 'timeZoneName')!.value;
  const found: number[] = [];
  const end = Date.UTC(2031, 0, 1);
  for (let t = Date.UTC(2019, 0, 1); t < end; t += 6 * HOUR) {
    if (offset(t) === offset(t + 6 * HOUR)) continue;
    let [lo, hi] = [t, t + 6 * HOUR];
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (offset(mid) === offset(lo)) lo = mid;
      else hi = mid;
    }
    found.push(hi);
  }
  transitionsCache.set(timeZone, found);
  return found;
}

/** The start of the local day containing `ms`, approximately (good enough to aim at local midnight). */
function nearLocalMidnight(ms: number, timeZone: string): number {
  const hm = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).formatToParts(ms);
  const h = Number(hm.find((p) => p.type === 'hour')!.value);
  const m = Number(hm.find((p) => p.type === 'minute')!.value);
  return ms - (h * 60 + m) * 60_000;
}

export function generateHistory(seed: number): History {
  const random = prng(seed);
  const timeZone = random.pick(TIME_ZONES);
  const now = Date.UTC(2022, 0, 1) + random.int(0, 6 * 365) * DAY + random.int(0, DAY - 1);
  const span = random.int(1, 3 * 365) * DAY;
  const start = now - span;
  const times: number[] = [];
  const target = random.int(0, 140);
  const within = (t: number) => Math.min(now + 2 * HOUR, Math.max(start, t));

  while (times.length < target) {
    const shape = random.int(0, 9);
    if (shape <= 2) {
      times.push(start + random.int(0, span));
    } else if (shape <= 4) {
      // A daily schedule: consecutive days at one local hour, with jitter and missed days.
      const days = random.int(2, 30);
      const end = now - random.int(0, Math.min(span, 200 * DAY));
      const hour = random.int(0, 23) * HOUR;
      for (let d = 0; d < days; d++) if (!random.chance(0.2)) times.push(within(end - d * DAY - hour + random.int(-20, 20) * 60_000));
    } else if (shape === 5) {
      // A burst: several backups within a few hours (manual runs, retries).
      const centre = start + random.int(0, span);
      for (let i = random.int(2, 8); i > 0; i--) times.push(within(centre + random.int(-3 * 60, 3 * 60) * 60_000));
    } else if (shape === 6) {
      // Just around local midnight, where a UTC day and the local day differ.
      const midnight = nearLocalMidnight(start + random.int(0, span), timeZone);
      times.push(within(midnight + random.int(-45, 45) * 60_000));
    } else if (shape <= 8) {
      // Around a DST change inside the span (none in UTC or Kathmandu).
      const changes = dstTransitions(timeZone).filter((t) => t >= start && t <= now);
      const change = changes.length > 0 ? random.pick(changes) : start + random.int(0, span);
      times.push(within(change + random.int(-120, 120) * 60_000));
    } else if (times.length > 0) {
      // A tie: two backups completing in the same millisecond; ids decide.
      times.push(random.pick(times));
    }
  }
  // A gap: nothing for a while (an outage), somewhere in the history.
  if (random.chance(0.4)) {
    const gapStart = start + random.int(0, span);
    const gapEnd = gapStart + random.int(1, 90) * DAY;
    for (let i = times.length - 1; i >= 0; i--) if (times[i]! >= gapStart && times[i]! < gapEnd) times.splice(i, 1);
  }
  times.splice(target);

  const pVerified = random.pick([0, 0.3, 0.7, 1]);
  const pFailed = random.pick([0, 0.1, 0.3, 1]);
  const pLocked = random.pick([0, 0.1, 0.4]);
  const ids = new Set<string>();
  const backups = times.map((time): RetentionCandidate => {
    let id: string;
    do id = `bk-${random.int(0, 36 ** 6).toString(36).padStart(6, '0')}`;
    while (ids.has(id));
    ids.add(id);
    const roll = random.next();
    const status: VerificationStatus = roll < pFailed ? 'failed' : random.chance(pVerified) ? 'verified' : 'unverified';
    const locked = random.chance(pLocked);
    return {
      id,
      completedAt: new Date(time),
      status,
      ...(locked
        ? {
            protection: {
              ...(random.chance(0.8) ? { objectLockUntil: new Date(now + random.int(-40, 40) * DAY + random.int(-60, 60) * 60_000) } : {}),
              ...(random.chance(0.3) ? { legalHold: random.chance(0.5) } : {}),
            },
          }
        : {}),
      ...(now - time < 6 * HOUR && random.chance(0.3) ? { inProgress: true } : random.chance(0.02) ? { inProgress: true } : {}),
    };
  });

  const count = (max: number) => (random.chance(0.25) ? 0 : random.int(1, max));
  const policy: RetentionPolicy = {
    days: count(60),
    keepLast: count(12),
    gfs: { daily: count(14), weekly: count(10), monthly: count(14), yearly: count(4) },
  };
  const changes = dstTransitions(timeZone);
  const nearDstChange = times.filter((t) => changes.some((c) => Math.abs(c - t) <= 2 * HOUR)).length;
  return { seed, timeZone, now: new Date(now), policy, backups, nearDstChange };
}

/** A copy of `items` in a seeded random order. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
