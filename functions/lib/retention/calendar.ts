/**
 * Calendar periods in a source's own time zone, for grandfather-father-son retention. A backup belongs
 * to the local calendar day on which it completed, so a backup at 00:30 on the day clocks change still
 * falls on that day; weeks are ISO weeks (Monday start, week-year of the week's Thursday).
 */
import { ConfigError } from '../errors.ts';

export type PeriodKind = 'daily' | 'weekly' | 'monthly' | 'yearly';

export const PERIOD_KINDS: readonly PeriodKind[] = ['daily', 'weekly', 'monthly', 'yearly'];

/** A civil date: what a wall calendar in the time zone shows. `month` is 1-12. */
export interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

// Building a DateTimeFormat is far slower than using one; there are only a few zones per deployment.
const dateFormats = new Map<string, Intl.DateTimeFormat>();
const timeFormats = new Map<string, Intl.DateTimeFormat>();

/** Throws `ConfigError` unless `timeZone` is an IANA zone name this runtime knows (or `UTC`). */
export function assertTimeZone(timeZone: string): void {
  try {
    dateFormat(timeZone);
  } catch (error) {
    throw new ConfigError(
      `schedule.timeZone: unknown time zone '${String(timeZone)}'; use an IANA name such as Europe/Dublin or UTC`,
      { cause: error },
    );
  }
}

/** The calendar date at `at` in `timeZone`. */
export function localDate(at: Date, timeZone: string): LocalDate {
  const parts = dateFormat(timeZone).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

/** ISO 8601 week of a civil date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(date: LocalDate): { year: number; week: number } {
  const utc = Date.UTC(date.year, date.month - 1, date.day);
  const mondayBased = (new Date(utc).getUTCDay() + 6) % 7;
  const thursday = new Date(utc + (3 - mondayBased) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return { year, week };
}

/** `2026-11-20` (daily), `2026-W47` (weekly), `2026-11` (monthly), `2026` (yearly). */
export function periodKey(kind: PeriodKind, date: LocalDate): string {
  switch (kind) {
    case 'daily':
      return `${pad(date.year, 4)}-${pad(date.month, 2)}-${pad(date.day, 2)}`;
    case 'weekly': {
      const { year, week } = isoWeek(date);
      return `${pad(year, 4)}-W${pad(week, 2)}`;
    }
    case 'monthly':
      return `${pad(date.year, 4)}-${pad(date.month, 2)}`;
    case 'yearly':
      return pad(date.year, 4);
  }
}

/** `2026-11-22 03:00 +01:00`: wall-clock time in the zone with its offset, for reports. */
export function formatLocalTime(at: Date, timeZone: string): string {
  let format = timeFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    timeFormats.set(timeZone, format);
  }
  const parts = format.formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  // longOffset is "GMT+05:45", or plain "GMT" at offset zero.
  const offset = part('timeZoneName').replace(/^GMT/, '') || '+00:00';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${offset}`;
}

function dateFormat(timeZone: string): Intl.DateTimeFormat {
  let format = dateFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    });
    dateFormats.set(timeZone, format);
  }
  return format;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
