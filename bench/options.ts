/**
 * Command-line options of `npm run bench`:
 *
 * ```
 * npm run bench -- [--size 1GB] [--small-size 256MB] [--runs 2] [--regenerate] [--no-restore] [--no-stages]
 * ```
 * `BENCH_SIZE` and `BENCH_RUNS` set the defaults. Sizes use PostgreSQL's units (kB, MB, GB, TB; powers of 1024).
 */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Target size of the main database as `pg_database_size` reports it. @default 1 GiB */
  readonly sizeBytes: number;
  /** Target size of the second database used for the RSS comparison. @default a quarter of `sizeBytes` */
  readonly smallSizeBytes: number;
  /** Timed repetitions of each measurement; the best run is reported. @default 2 */
  readonly runs: number;
  /** Drop and regenerate the bench databases even when a complete one of the right size exists. */
  readonly regenerate: boolean;
  /** Time the restores (the slowest part of a run). @default true */
  readonly restore: boolean;
  /** Print the per-stage breakdown (zstd, encrypt, hash alone in Node). @default true */
  readonly stages: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };
const MIN_SIZE = 16 * 1024 ** 2;

/** `1GB`, `200MB`, `1.5gb`, `512 MB` → bytes. A bare number is megabytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)?\s*$/i.exec(text);
  if (!match) throw new UsageError(`Invalid size "${text}": expected e.g. 1GB, 200MB`);
  const unit = (match[2] ?? 'mb').toLowerCase().replace('ib', 'b');
  const factor = UNITS[unit];
  if (factor === undefined) throw new UsageError(`Invalid size unit in "${text}": use kB, MB, GB or TB`);
  const bytes = Math.round(Number(match[1]) * factor);
  if (bytes < MIN_SIZE) throw new UsageError(`Size ${text} is too small: the bench needs at least 16MB`);
  return bytes;
}

/** `1073741824` → `1gb`, `209715200` → `200mb`: used in database names, so lower case and no dots. */
export function sizeLabel(bytes: number): string {
  for (const [unit, factor] of [['tb', 1024 ** 4], ['gb', 1024 ** 3], ['mb', 1024 ** 2], ['kb', 1024]] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}b`;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        size: { type: 'string' },
        'small-size': { type: 'string' },
        runs: { type: 'string' },
        regenerate: { type: 'boolean', default: false },
        'no-restore': { type: 'boolean', default: false },
        'no-stages': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    throw new UsageError(
      'usage: npm run bench -- [--size 1GB] [--small-size SIZE] [--runs 2] [--regenerate] [--no-restore] [--no-stages]',
    );
  }
  const sizeBytes = parseSize(values.size ?? env.BENCH_SIZE ?? '1GB');
  const smallText = values['small-size'];
  // Rounded to whole MiB so the small database gets a readable name.
  const smallSizeBytes =
    smallText === undefined ? Math.max(MIN_SIZE, Math.round(sizeBytes / 4 / 1024 ** 2) * 1024 ** 2) : parseSize(smallText);
  if (smallSizeBytes >= sizeBytes) throw new UsageError('--small-size must be smaller than --size');
  const runsText = values.runs ?? env.BENCH_RUNS ?? '2';
  const runs = Number(runsText);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new UsageError(`Invalid --runs "${runsText}": expected 1..20`);
  return {
    sizeBytes,
    smallSizeBytes,
    runs,
    regenerate: values.regenerate,
    restore: !values['no-restore'],
    stages: !values['no-stages'],
  };
}
