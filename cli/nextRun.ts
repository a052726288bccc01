/**
 * When a source's schedule next fires, from its EventBridge Scheduler cron expression and time zone (the
 * config's `schedule`), for `lifeboat status`. Expressions with L, W or # are not expanded: their next run is
 * unknown rather than guessed.
 */
import { type CronField, parseCron } from '../infra/config/schema.ts';

const DAYS_AHEAD = 400;

/** The first run strictly after `after`, or `undefined` when it cannot be known from the expression. */
export function nextRun(cron: string, timeZone: string, after: Date): Date | undefined {
  const parsed = parseCron(cron);
  if (!parsed.ok) return undefined;
  const [minutes, hours, dom, month, dow, year] = parsed.cron.fields;
  if ([minutes, hours, dom, month, dow, year].some((f) => f.kind === 'special')) return undefined;
  const times = expand(hours, 0, 23).flatMap((h) => expand(minutes, 0, 59).map((m) => [h, m] as const));
  const start = localParts(after, timeZone);
  for (let day = 0; day <= DAYS_AHEAD; day++) {
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + day));
    const [y, mo, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    const weekday = date.getUTCDay() + 1;
    const dayMatches = dom.kind === 'none' ? matches(dow, weekday) : matches(dom, d);
    if (!dayMatches || !matches(month, mo) || !matches(year, y)) continue;
    for (const [h, m] of times) {
      const at = localToUtc(y, mo, d, h, m, timeZone);
      // A wall-clock time skipped by a DST change does not run at a shifted time here: skip it.
      const back = localParts(at, timeZone);
      if (back.hour !== h || back.minute !== m) continue;
      if (at.getTime() > after.getTime()) return at;
    }
  }
  return undefined;
}

function matches(field: CronField, value: number): boolean {
  return field.kind === 'any' || field.kind === 'none' || (field.kind === 'values' && field.values.has(value));
}

function expand(field: CronField, min: number, max: number): number[] {
  if (field.kind === 'values') return [...field.values].sort((a, b) => a - b);
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(date: Date, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number } {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour), minute: Number(parts.minute) };
}

/** The UTC instant of a wall-clock time in `timeZone` (two passes settle the zone's offset at that instant). */
function localToUtc(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): Date {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let at = wall;
  for (let pass = 0; pass < 2; pass++) {
    const p = localParts(new Date(at), timeZone);
    const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - at;
    at = wall - offset;
  }
  return new Date(at);
}
