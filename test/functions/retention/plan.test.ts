import { describe, expect, it } from 'vitest';
import type { RetentionConfig } from '../../../infra/config/schema.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';
import {
  planRetention,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionPolicy,
  type VerificationStatus,
} from '../../../functions/lib/retention/plan.ts';

const NOW = new Date('2026-11-22T12:00:00Z');

function backup(id: string, completedAt: string, status: VerificationStatus = 'unverified', extra: Partial<RetentionCandidate> = {}): RetentionCandidate {
  return { id, completedAt: new Date(completedAt), status, ...extra };
}

/** Every rule off unless given. */
function policy(rules: Partial<Omit<RetentionPolicy, 'gfs'>> & Partial<RetentionPolicy['gfs']> = {}): RetentionPolicy {
  return {
    days: rules.days ?? 0,
    keepLast: rules.keepLast ?? 0,
    gfs: { daily: rules.daily ?? 0, weekly: rules.weekly ?? 0, monthly: rules.monthly ?? 0, yearly: rules.yearly ?? 0 },
  };
}

function plan(backups: RetentionCandidate[], rules: RetentionPolicy, timeZone = 'UTC', now = NOW): RetentionDecision[] {
  return planRetention(backups, rules, { now, timeZone });
}

/** `{ id: reasons }` for the kept ones; deleted ones are absent. */
function kept(decisions: RetentionDecision[]): Record<string, readonly string[]> {
  return Object.fromEntries(decisions.filter((d) => d.action === 'keep').map((d) => [d.id, d.reasons]));
}

describe('keep-last', () => {
  it('keeps the N newest backups that did not fail, numbered', () => {
    const decisions = plan(
      [
        backup('a', '2026-11-18T01:00:00Z'),
        backup('b', '2026-11-19T01:00:00Z', 'verified'),
        backup('c', '2026-11-20T01:00:00Z', 'failed'),
        backup('d', '2026-11-21T01:00:00Z'),
        backup('e', '2026-11-22T01:00:00Z'),
      ],
      policy({ keepLast: 3 }),
    );

    expect(kept(decisions)).toEqual({
      e: ['keep-last 1/3'],
      d: ['keep-last 2/3'],
      b: ['keep-last 3/3', 'newest verified'],
    });
    expect(decisions.find((d) => d.id === 'c')).toEqual({ id: 'c', action: 'delete', reasons: ['failed verification'], protected: false });
    expect(decisions.find((d) => d.id === 'a')).toEqual({ id: 'a', action: 'delete', reasons: ['no rule keeps it'], protected: false });
  });

  it('breaks a tie in completion time by id, so input order never matters', () => {
    const same = '2026-11-22T01:00:00Z';
    const one = plan([backup('x1', same), backup('x2', same)], policy({ keepLast: 1 }));
    const other = plan([backup('x2', same), backup('x1', same)], policy({ keepLast: 1 }));

    expect(one).toEqual(other);
    expect(kept(one)).toEqual({ x2: ['keep-last 1/1'] });
  });
});

describe('days', () => {
  it('keeps what completed less than days × 24 h ago, and anything from the future', () => {
    const decisions = plan(
      [
        backup('exactly-7d', '2026-11-15T12:00:00.000Z'),
        backup('just-inside', '2026-11-15T12:00:00.001Z'),
        backup('future', '2026-11-22T13:00:00Z'),
      ],
      policy({ days: 7 }),
    );

    expect(kept(decisions)).toEqual({ future: ['within 7 days'], 'just-inside': ['within 7 days'] });
  });

  it('counts 24-hour days, not calendar days, even across a DST change', () => {
    // Berlin fell back on 2026-10-25: 7 × 24 h before 2026-10-28 12:00Z is 2026-10-21 12:00Z whatever the zone.
    const now = new Date('2026-10-28T12:00:00Z');
    const decisions = plan(
      [backup('old', '2026-10-21T11:59:59Z'), backup('young', '2026-10-21T12:00:01Z')],
      policy({ days: 7 }),
      'Europe/Berlin',
      now,
    );
    expect(kept(decisions)).toEqual({ young: ['within 7 days'] });
  });

  it('keeps failed backups only within days, for diagnosis, and says why an old one goes', () => {
    const decisions = plan(
      [backup('recent-failure', '2026-11-21T01:00:00Z', 'failed'), backup('old-failure', '2026-10-01T01:00:00Z', 'failed')],
      policy({ days: 35, keepLast: 5, daily: 5, weekly: 5, monthly: 5, yearly: 5 }),
    );
    expect(decisions).toEqual([
      { id: 'recent-failure', action: 'keep', reasons: ['within 35 days (failed, kept for diagnosis)'], protected: false },
      { id: 'old-failure', action: 'delete', reasons: ['failed verification, older than 35 days'], protected: false },
    ]);
  });

  it('is off at 0', () => {
    expect(kept(plan([backup('future', '2026-11-23T00:00:00Z')], policy({ days: 0 })))).toEqual({});
  });
});

describe('grandfather-father-son', () => {
  it('counts only days that have a backup (restic-style): gaps do not use up the policy', () => {
    const decisions = plan(
      [
        backup('d01', '2026-11-01T01:00:00Z'),
        backup('d02-early', '2026-11-02T01:00:00Z'),
        backup('d02-late', '2026-11-02T23:00:00Z'),
        backup('d05', '2026-11-05T01:00:00Z'),
        backup('d09', '2026-11-09T01:00:00Z'),
      ],
      policy({ daily: 3 }),
    );
    expect(kept(decisions)).toEqual({ d09: ['daily 2026-11-09'], d05: ['daily 2026-11-05'], 'd02-late': ['daily 2026-11-02'] });
  });

  it('prefers the newest verified backup of a period over newer unverified ones, and never picks a failed one', () => {
    const decisions = plan(
      [
        backup('v-old', '2026-11-20T01:00:00Z', 'verified'),
        backup('v-new', '2026-11-20T05:00:00Z', 'verified'),
        backup('u-newest', '2026-11-20T09:00:00Z', 'unverified'),
        backup('f-21', '2026-11-21T09:00:00Z', 'failed'),
        backup('u-21', '2026-11-21T01:00:00Z', 'unverified'),
        backup('f-22', '2026-11-22T01:00:00Z', 'failed'),
      ],
      policy({ daily: 5 }),
    );
    // 22 Nov has only a failed backup, so it is no period at all: the 5 daily slots find two days.
    expect(kept(decisions)).toEqual({ 'u-21': ['daily 2026-11-21'], 'v-new': ['daily 2026-11-20', 'newest verified'] });
  });

  it('keeps weekly (ISO, Monday start), monthly and yearly picks, naming each period', () => {
    const decisions = plan(
      [
        backup('sun-w46', '2026-11-15T20:00:00Z'), // Sunday: week 46
        backup('mon-w47', '2026-11-16T01:00:00Z'), // Monday: week 47
        backup('oct', '2026-10-31T22:00:00Z'),
        backup('dec-2025', '2025-12-31T23:00:00Z'),
        backup('jan-2025', '2025-01-10T10:00:00Z'),
      ],
      policy({ weekly: 2, monthly: 2, yearly: 2 }),
    );
    expect(kept(decisions)).toEqual({
      'mon-w47': ['weekly 2026-W47', 'monthly 2026-11', 'yearly 2026'],
      'sun-w46': ['weekly 2026-W46'],
      oct: ['monthly 2026-10'],
      'dec-2025': ['yearly 2025'],
    });
  });

  it('lists every rule that keeps a backup, in rule order', () => {
    const decisions = plan([backup('only', '2026-11-22T01:00:00Z', 'verified')], policy({ keepLast: 1, days: 1, daily: 1, weekly: 1, monthly: 1, yearly: 1 }));
    expect(decisions).toEqual([
      {
        id: 'only',
        action: 'keep',
        reasons: ['keep-last 1/1', 'within 1 day', 'daily 2026-11-22', 'weekly 2026-W47', 'monthly 2026-11', 'yearly 2026', 'newest verified'],
        protected: false,
      },
    ]);
  });
});

describe('GFS in the source time zone, at DST edges', () => {
  /** Daily picks with a generous policy: which backup represents which local day. */
  const dailyPicks = (backups: RetentionCandidate[], timeZone: string) =>
    Object.fromEntries(
      plan(backups, policy({ daily: 100 }), timeZone, new Date('2027-01-01T00:00:00Z'))
        .filter((d) => d.action === 'keep')
        .map((d) => [d.id, d.reasons]),
    );

  it('Europe/Berlin: 00:30 on the spring-forward day belongs to that day, not the UTC day before', () => {
    expect(
      dailyPicks([backup('sat-2330', '2026-03-28T22:30:00Z'), backup('sun-0030', '2026-03-28T23:30:00Z')], 'Europe/Berlin'),
    ).toEqual({ 'sat-2330': ['daily 2026-03-28'], 'sun-0030': ['daily 2026-03-29'] });
  });

  it('Europe/Berlin: the hour that happens twice in autumn is one day, and the later 02:30 is the newer', () => {
    expect(
      dailyPicks(
        [backup('first-0230', '2026-10-25T00:30:00Z'), backup('second-0230', '2026-10-25T01:30:00Z'), backup('sun-0030', '2026-10-24T22:30:00Z')],
        'Europe/Berlin',
      ),
    ).toEqual({ 'second-0230': ['daily 2026-10-25'] });
  });

  it('America/New_York: 23:59 on the last day of DST is still that day although UTC has moved on', () => {
    expect(
      dailyPicks([backup('sat-2359', '2026-11-01T03:59:00Z'), backup('sun-0030', '2026-11-01T04:30:00Z'), backup('sun-2359', '2026-11-02T04:59:00Z')], 'America/New_York'),
    ).toEqual({ 'sat-2359': ['daily 2026-10-31'], 'sun-2359': ['daily 2026-11-01'] });
  });

  it('America/New_York: spring forward', () => {
    expect(
      dailyPicks([backup('sat-2330', '2026-03-08T04:30:00Z'), backup('sun-0030', '2026-03-08T05:30:00Z')], 'America/New_York'),
    ).toEqual({ 'sat-2330': ['daily 2026-03-07'], 'sun-0030': ['daily 2026-03-08'] });
  });

  it('Australia/Lord_Howe: the 30-minute shifts keep local days intact', () => {
    expect(
      dailyPicks(
        [
          backup('sat-2359', '2026-10-03T13:29:00Z'),
          backup('sun-0030', '2026-10-03T14:00:00Z'),
          backup('sun-after-jump', '2026-10-03T15:31:00Z'),
          backup('apr-first-0145', '2026-04-04T14:45:00Z'),
          backup('apr-second-0145', '2026-04-04T15:15:00Z'),
        ],
        'Australia/Lord_Howe',
      ),
    ).toEqual({
      'sat-2359': ['daily 2026-10-03'],
      'sun-after-jump': ['daily 2026-10-04'],
      'apr-second-0145': ['daily 2026-04-05'],
    });
  });

  it('Asia/Kathmandu: local midnight is 18:15 UTC', () => {
    expect(
      dailyPicks([backup('before', '2026-11-20T18:14:00Z'), backup('after', '2026-11-20T18:16:00Z')], 'Asia/Kathmandu'),
    ).toEqual({ before: ['daily 2026-11-20'], after: ['daily 2026-11-21'] });
  });

  it('UTC: the same backups fall on UTC days', () => {
    expect(
      dailyPicks([backup('before', '2026-11-20T18:14:00Z'), backup('after', '2026-11-20T18:16:00Z')], 'UTC'),
    ).toEqual({ after: ['daily 2026-11-20'] });
  });

  it('America/New_York: a Sunday-night backup counts for the ISO week that is ending', () => {
    const decisions = plan([backup('sun-2330', '2026-11-23T04:30:00Z')], policy({ weekly: 1 }), 'America/New_York');
    expect(kept(decisions)).toEqual({ 'sun-2330': ['weekly 2026-W47'] });
  });
});

describe('the newest verified backup', () => {
  it('is never deleted, even when every rule is off and it is the oldest of all', () => {
    const decisions = plan(
      [backup('old-verified', '2020-01-01T00:00:00Z', 'verified'), backup('new', '2026-11-22T01:00:00Z'), backup('older-verified', '2019-01-01T00:00:00Z', 'verified')],
      policy(),
    );
    expect(decisions).toEqual([
      { id: 'new', action: 'delete', reasons: ['no rule keeps it'], protected: false },
      { id: 'old-verified', action: 'keep', reasons: ['newest verified'], protected: false },
      { id: 'older-verified', action: 'delete', reasons: ['no rule keeps it'], protected: false },
    ]);
  });

  it('is not a backup still in progress', () => {
    const decisions = plan(
      [backup('running', '2026-11-22T11:00:00Z', 'verified', { inProgress: true }), backup('done', '2026-11-01T00:00:00Z', 'verified')],
      policy(),
    );
    expect(kept(decisions)).toEqual({ running: ['in progress'], done: ['newest verified'] });
  });
});

describe('protection and work in progress', () => {
  it('keeps what Object Lock or a legal hold protects, flagged as protected when only that keeps it', () => {
    const decisions = plan(
      [
        backup('locked', '2026-01-01T00:00:00Z', 'unverified', { protection: { objectLockUntil: new Date('2026-12-01T00:00:00Z') } }),
        backup('lock-expired', '2026-01-02T00:00:00Z', 'unverified', { protection: { objectLockUntil: new Date('2026-11-22T12:00:00Z') } }),
        backup('held', '2026-01-03T00:00:00Z', 'failed', { protection: { legalHold: true } }),
        backup('hold-off', '2026-01-04T00:00:00Z', 'unverified', { protection: { legalHold: false } }),
        backup('kept-and-locked', '2026-11-22T01:00:00Z', 'unverified', { protection: { objectLockUntil: new Date('2026-12-01T00:00:00Z'), legalHold: true } }),
      ],
      policy({ keepLast: 1 }),
    );
    expect(decisions).toEqual([
      {
        id: 'kept-and-locked',
        action: 'keep',
        reasons: ['keep-last 1/1', 'object lock until 2026-12-01T00:00:00.000Z', 'legal hold'],
        protected: false,
      },
      { id: 'hold-off', action: 'delete', reasons: ['no rule keeps it'], protected: false },
      { id: 'held', action: 'keep', reasons: ['legal hold'], protected: true },
      { id: 'lock-expired', action: 'delete', reasons: ['no rule keeps it'], protected: false },
      { id: 'locked', action: 'keep', reasons: ['object lock until 2026-12-01T00:00:00.000Z'], protected: true },
    ]);
  });

  it('never deletes a backup in progress, and does not let it take a keep-last place', () => {
    const decisions = plan(
      [backup('running', '2026-11-22T11:00:00Z', 'unverified', { inProgress: true }), backup('last-good', '2026-11-21T00:00:00Z')],
      policy({ keepLast: 1, daily: 1 }),
    );
    expect(kept(decisions)).toEqual({ running: ['in progress'], 'last-good': ['keep-last 1/1', 'daily 2026-11-21'] });
  });
});

describe('inputs', () => {
  it('plans nothing for no backups', () => {
    expect(plan([], policy({ keepLast: 3 }))).toEqual([]);
  });

  it('takes a parsed source retention config as its policy', () => {
    const config: RetentionConfig = { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } };
    expect(kept(plan([backup('a', '2026-11-22T01:00:00Z')], config))).toEqual({
      a: ['keep-last 1/7', 'within 35 days', 'daily 2026-11-22', 'weekly 2026-W47', 'monthly 2026-11'],
    });
  });

  it('rejects a bad policy with one ConfigError naming every field', () => {
    const bad = { days: -1, keepLast: 1.5, gfs: { daily: 0, weekly: Number.NaN, monthly: 1, yearly: 1 } };
    expect(() => plan([], bad)).toThrow(ConfigError);
    expect(() => plan([], bad)).toThrow(
      'Invalid retention policy: retention.days: must be a whole number >= 0, got -1; ' +
        'retention.keepLast: must be a whole number >= 0, got 1.5; retention.gfs.weekly: must be a whole number >= 0, got NaN',
    );
  });

  it('rejects an unknown time zone, duplicate ids and invalid dates', () => {
    expect(() => plan([], policy(), 'Europe/Atlantis')).toThrow(ConfigError);
    expect(() => plan([backup('a', '2026-11-22T01:00:00Z'), backup('a', '2026-11-21T01:00:00Z')], policy())).toThrow(/"a" appears twice/);
    expect(() => plan([backup('a', 'not a date')], policy())).toThrow(/valid Date for completedAt of a/);
    expect(() => plan([], policy(), 'UTC', new Date(Number.NaN))).toThrow(/valid Date for now/);
  });
});
