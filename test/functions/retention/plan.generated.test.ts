import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionDecision } from '../../../functions/lib/retention/plan.ts';
import { TIME_ZONES, dstTransitions, generateHistory, prng, shuffled, type History } from './histories.ts';
import { referencePlan } from './reference.ts';

const HISTORY_COUNT = 500;
const histories: History[] = Array.from({ length: HISTORY_COUNT }, (_, i) => generateHistory(1000 + i));
const plans = new Map(histories.map((h) => [h.seed, planRetention(h.backups, h.policy, { now: h.now, timeZone: h.timeZone })]));
const planOf = (h: History): RetentionDecision[] => plans.get(h.seed)!;

describe(`planRetention over ${HISTORY_COUNT} generated histories`, () => {
  it('covers what it claims: every zone, DST changes, zeros, failures, locks, ties, work in progress', () => {
    const zones = new Set(histories.map((h) => h.timeZone));
    const all = histories.flatMap((h) => h.backups);
    const times = histories.flatMap((h) => h.backups.map((b) => `${h.seed}:${b.completedAt.getTime()}`));

    expect([...zones].sort()).toEqual([...TIME_ZONES].sort());
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe']) {
      expect(dstTransitions(zone).length, zone).toBeGreaterThan(20);
      expect(histories.filter((h) => h.timeZone === zone && h.nearDstChange > 0).length, zone).toBeGreaterThan(10);
    }
    expect(histories.filter((h) => h.policy.keepLast === 0 && h.policy.gfs.daily === 0).length).toBeGreaterThan(10);
    expect(histories.filter((h) => h.backups.length === 0).length).toBeGreaterThan(0);
    expect(all.filter((b) => b.status === 'failed').length).toBeGreaterThan(500);
    expect(all.filter((b) => b.status === 'verified').length).toBeGreaterThan(500);
    expect(all.filter((b) => b.inProgress).length).toBeGreaterThan(50);
    expect(all.filter((b) => b.protection?.legalHold).length).toBeGreaterThan(50);
    expect(new Set(times).size).toBeLessThan(times.length);
    const decisions = histories.flatMap(planOf);
    expect(decisions.filter((d) => d.action === 'delete').length).toBeGreaterThan(1000);
    expect(decisions.filter((d) => d.protected).length).toBeGreaterThan(100);
  });

  it('keeps exactly the set the brute-force reference keeps, for the same reasons', () => {
    for (const h of histories) {
      expect(planOf(h), `seed ${h.seed} (${h.timeZone}, ${h.backups.length} backups)`).toEqual(
        referencePlan(h.backups, h.policy, h.now, h.timeZone),
      );
    }
  });

  it('never deletes the newest verified backup, one in progress, one under Object Lock or one on legal hold', () => {
    const violations: string[] = [];
    for (const h of histories) {
      const deleted = new Set(planOf(h).filter((d) => d.action === 'delete').map((d) => d.id));
      const verified = h.backups
        .filter((b) => b.status === 'verified' && !b.inProgress)
        .sort((a, b) => b.completedAt.getTime() - a.completedAt.getTime() || (a.id < b.id ? 1 : -1));
      const untouchable = h.backups.filter(
        (b) =>
          b.inProgress ||
          b.protection?.legalHold ||
          (b.protection?.objectLockUntil !== undefined && b.protection.objectLockUntil.getTime() > h.now.getTime()),
      );
      if (verified[0] && deleted.has(verified[0].id)) violations.push(`seed ${h.seed}: newest verified ${verified[0].id}`);
      for (const b of untouchable) if (deleted.has(b.id)) violations.push(`seed ${h.seed}: ${b.id}`);
    }
    expect(violations).toEqual([]);
  });

  it('gives one decision per backup, newest first, whatever the input order', () => {
    const random = prng(7);
    const violations: string[] = [];
    for (const h of histories) {
      const plan = planOf(h);
      const again = planRetention(shuffled(h.backups, random), h.policy, { now: h.now, timeZone: h.timeZone });
      const byId = new Map(h.backups.map((b) => [b.id, b]));
      const times = plan.map((d) => byId.get(d.id)!.completedAt.getTime());

      if (JSON.stringify(again) !== JSON.stringify(plan)) violations.push(`seed ${h.seed}: depends on input order`);
      if (plan.map((d) => d.id).sort().join() !== h.backups.map((b) => b.id).sort().join()) violations.push(`seed ${h.seed}: ids`);
      if (times.some((t, i) => i > 0 && t > times[i - 1]!)) violations.push(`seed ${h.seed}: not newest first`);
    }
    expect(violations).toEqual([]);
  });

  it('deletes only with one reason why, and keeps only with at least one reason', () => {
    const violations: string[] = [];
    for (const h of histories) {
      for (const d of planOf(h)) {
        const ok =
          d.action === 'delete'
            ? !d.protected && d.reasons.length === 1 && /^(no rule keeps it|failed verification.*)$/.test(d.reasons[0]!)
            : d.reasons.length > 0;
        if (!ok) violations.push(`seed ${h.seed}: ${JSON.stringify(d)}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
