import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import {
  assertTimeZone,
  formatLocalTime,
  isoWeek,
  localDate,
  periodKey,
} from '../../../functions/lib/retention/calendar.ts';

const day = (iso: string, timeZone: string) => periodKey('daily', localDate(new Date(iso), timeZone));

describe('localDate across DST changes and odd offsets', () => {
  it.each([
    // Europe/Berlin, spring forward 2026-03-29 02:00 CET → 03:00 CEST (01:00 UTC)
    ['2026-03-28T22:59:00Z', 'Europe/Berlin', '2026-03-28'],
    ['2026-03-28T23:30:00Z', 'Europe/Berlin', '2026-03-29'], // 00:30 CET on the day clocks change
    ['2026-03-29T00:59:00Z', 'Europe/Berlin', '2026-03-29'], // 01:59 CET, just before the jump
    ['2026-03-29T21:59:00Z', 'Europe/Berlin', '2026-03-29'], // 23:59 CEST
    ['2026-03-29T22:30:00Z', 'Europe/Berlin', '2026-03-30'], // 00:30 CEST the next day, a UTC day earlier
    // Europe/Berlin, fall back 2026-10-25 03:00 CEST → 02:00 CET (01:00 UTC)
    ['2026-10-24T22:30:00Z', 'Europe/Berlin', '2026-10-25'], // 00:30 CEST on the day clocks change
    ['2026-10-25T00:30:00Z', 'Europe/Berlin', '2026-10-25'], // 02:30 CEST, first time
    ['2026-10-25T01:30:00Z', 'Europe/Berlin', '2026-10-25'], // 02:30 CET, second time
    ['2026-10-25T22:59:00Z', 'Europe/Berlin', '2026-10-25'], // 23:59 CET
    // America/New_York, spring forward 2026-03-08 02:00 EST → 03:00 EDT (07:00 UTC)
    ['2026-03-08T04:30:00Z', 'America/New_York', '2026-03-07'], // 23:30 EST the evening before
    ['2026-03-08T05:30:00Z', 'America/New_York', '2026-03-08'], // 00:30 EST on the day clocks change
    ['2026-03-09T03:59:00Z', 'America/New_York', '2026-03-08'], // 23:59 EDT
    // America/New_York, fall back 2026-11-01 02:00 EDT → 01:00 EST (06:00 UTC)
    ['2026-11-01T03:59:00Z', 'America/New_York', '2026-10-31'], // 23:59 EDT, a UTC day later
    ['2026-11-01T04:30:00Z', 'America/New_York', '2026-11-01'], // 00:30 EDT on the day clocks change
    ['2026-11-02T04:59:00Z', 'America/New_York', '2026-11-01'], // 23:59 EST: the 25-hour day
    ['2026-11-02T05:00:00Z', 'America/New_York', '2026-11-02'],
    // Australia/Lord_Howe: +10:30, +11:00 in summer; the clock moves by 30 minutes
    ['2026-10-03T13:30:00Z', 'Australia/Lord_Howe', '2026-10-04'], // 00:00 +10:30 on the day DST starts
    ['2026-10-03T14:00:00Z', 'Australia/Lord_Howe', '2026-10-04'], // 00:30 local, still 3 Oct in UTC
    ['2026-10-03T15:31:00Z', 'Australia/Lord_Howe', '2026-10-04'], // 02:31 +11:00, after the jump
    ['2026-10-04T12:59:00Z', 'Australia/Lord_Howe', '2026-10-04'], // 23:59 +11:00
    ['2026-10-04T13:00:00Z', 'Australia/Lord_Howe', '2026-10-05'],
    ['2026-04-04T13:30:00Z', 'Australia/Lord_Howe', '2026-04-05'], // 00:30 +11:00 on the day DST ends
    ['2026-04-04T14:45:00Z', 'Australia/Lord_Howe', '2026-04-05'], // 01:45 +11:00, first time
    ['2026-04-04T15:15:00Z', 'Australia/Lord_Howe', '2026-04-05'], // 01:45 +10:30, second time
    ['2026-04-05T13:29:00Z', 'Australia/Lord_Howe', '2026-04-05'], // 23:59 +10:30
    // Asia/Kathmandu: +05:45, no DST
    ['2026-11-20T18:14:59Z', 'Asia/Kathmandu', '2026-11-20'],
    ['2026-11-20T18:15:00Z', 'Asia/Kathmandu', '2026-11-21'],
    // UTC
    ['2026-11-20T23:59:59.999Z', 'UTC', '2026-11-20'],
    ['2026-11-21T00:00:00Z', 'UTC', '2026-11-21'],
  ])('%s in %s is on %s', (iso, zone, expected) => {
    expect(day(iso, zone)).toBe(expected);
  });
});

describe('periodKey', () => {
  it('names ISO weeks by the year of their Thursday, with weeks starting on Monday', () => {
    expect(isoWeek({ year: 2026, month: 12, day: 31 })).toEqual({ year: 2026, week: 53 }); // Thursday
    expect(isoWeek({ year: 2027, month: 1, day: 3 })).toEqual({ year: 2026, week: 53 }); // Sunday
    expect(isoWeek({ year: 2027, month: 1, day: 4 })).toEqual({ year: 2027, week: 1 }); // Monday
    expect(isoWeek({ year: 2024, month: 12, day: 30 })).toEqual({ year: 2025, week: 1 });
    expect(isoWeek({ year: 2026, month: 11, day: 16 })).toEqual({ year: 2026, week: 47 });
    expect(isoWeek({ year: 2026, month: 11, day: 22 })).toEqual({ year: 2026, week: 47 });
  });

  it('puts Sunday night in New York in the week that is ending, though UTC has reached Monday', () => {
    // Sunday 2026-11-22 23:30 EST = Monday 04:30 UTC
    expect(periodKey('weekly', localDate(new Date('2026-11-23T04:30:00Z'), 'America/New_York'))).toBe('2026-W47');
    expect(periodKey('weekly', localDate(new Date('2026-11-23T04:30:00Z'), 'UTC'))).toBe('2026-W48');
  });

  it('formats each period kind', () => {
    const date = { year: 2026, month: 3, day: 9 };
    expect(['daily', 'weekly', 'monthly', 'yearly'].map((k) => periodKey(k as 'daily', date))).toEqual([
      '2026-03-09',
      '2026-W11',
      '2026-03',
      '2026',
    ]);
  });

  it('puts New Year in Kathmandu in the new year 5 h 45 min before UTC', () => {
    expect(periodKey('yearly', localDate(new Date('2026-12-31T18:15:00Z'), 'Asia/Kathmandu'))).toBe('2027');
    expect(periodKey('monthly', localDate(new Date('2026-12-31T18:14:00Z'), 'Asia/Kathmandu'))).toBe('2026-12');
  });
});

describe('formatLocalTime', () => {
  it('shows wall-clock time with the offset in force', () => {
    expect(formatLocalTime(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toBe('2026-10-25 02:30 +02:00');
    expect(formatLocalTime(new Date('2026-10-25T01:30:00Z'), 'Europe/Berlin')).toBe('2026-10-25 02:30 +01:00');
    expect(formatLocalTime(new Date('2026-10-03T15:31:00Z'), 'Australia/Lord_Howe')).toBe('2026-10-04 02:31 +11:00');
    expect(formatLocalTime(new Date('2026-11-20T18:15:00Z'), 'Asia/Kathmandu')).toBe('2026-11-21 00:00 +05:45');
    expect(formatLocalTime(new Date('2026-11-20T18:15:00Z'), 'UTC')).toBe('2026-11-20 18:15 +00:00');
  });
});

describe('assertTimeZone', () => {
  it('accepts IANA names and UTC, and rejects anything else with a ConfigError naming the field', () => {
    expect(() => assertTimeZone('Australia/Lord_Howe')).not.toThrow();
    expect(() => assertTimeZone('UTC')).not.toThrow();
    expect(() => assertTimeZone('Mars/Olympus_Mons')).toThrow(ConfigError);
    expect(() => assertTimeZone('Mars/Olympus_Mons')).toThrow(/schedule\.timeZone: unknown time zone 'Mars\/Olympus_Mons'/);
  });
});
