/**
 * The Lifeboat configuration: one JSON file describing the vault, the sources to back up with their
 * recovery objectives, and who is alerted. Every object is strict, so a mistyped key is an error, and
 * the parsed (output) value has every default filled in.
 *
 * @example
 * {
 *   "version": 1,
 *   "regions": { "primary": "eu-west-1", "dr": "eu-central-1" },
 *   "sources": [{
 *     "kind": "rds-postgres", "id": "orders-db", "instanceIdentifier": "orders-prod", "database": "orders",
 *     "credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-AbCdEf",
 *     "network": { "vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"], "securityGroupIds": ["sg-0a1b2c3d"] },
 *     "schedule": { "cron": "15 1 * * ? *", "timeZone": "Europe/Dublin" },
 *     "objectives": { "rpoMinutes": 1440, "rtoMinutes": 60 }
 *   }]
 * }
 */
import { z } from 'zod';
import { SEVERITIES } from '../../functions/lib/severity.ts';

export { SEVERITIES, severitiesAtOrAbove, type Severity } from '../../functions/lib/severity.ts';

/** The only config format this Lifeboat reads. */
export const CONFIG_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Scalars

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const Region = z.string().regex(REGION, { error: 'must be an AWS region name such as eu-west-1' });

const awsId = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`), {
    error: `must be ${prefix}- followed by 8 or 17 lowercase hex digits`,
  });

/** An RDS instance or Aurora cluster identifier, with RDS's own naming rules. */
const RdsIdentifier = z.string().superRefine((value, ctx) => {
  const problem = rdsIdentifierProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

function rdsIdentifierProblem(value: string): string | undefined {
  if (value.length < 1 || value.length > 63) return `must be 1-63 characters, got ${value.length}`;
  if (!/^[A-Za-z]/.test(value)) return 'must start with a letter';
  if (!/^[A-Za-z0-9-]+$/.test(value)) return 'may contain only letters, digits and hyphens';
  if (value.endsWith('-')) return 'must not end with a hyphen';
  if (value.includes('--')) return 'must not contain two consecutive hyphens';
  return undefined;
}

const SecretArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$/, {
    error: 'must be a Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>',
  });

const days = (min: number) => z.int().min(min, { error: `must be a whole number of days >= ${min}` });
const count = (min: number) => z.int().min(min, { error: `must be a whole number >= ${min}` });

// ---------------------------------------------------------------------------------------------
// Schedules: EventBridge Scheduler cron expressions

interface CronFieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names accepted instead of numbers, the first one standing for `min`. */
  readonly names?: readonly string[];
}

const CRON_FIELDS: readonly CronFieldSpec[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day-of-week', min: 1, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
  { name: 'year', min: 1970, max: 2199 },
];

/** One parsed cron field: every value, `?` (no value), a plain set, or L/W/# forms we do not expand. */
export type CronField =
  | { readonly kind: 'any' }
  | { readonly kind: 'none' }
  | { readonly kind: 'values'; readonly values: ReadonlySet<number> }
  | { readonly kind: 'special' };

export interface ParsedCron {
  /** The six fields (minutes hours day-of-month month day-of-week year), normalised, without `cron(...)`. */
  readonly expression: string;
  readonly fields: readonly [CronField, CronField, CronField, CronField, CronField, CronField];
}

/**
 * Parses an EventBridge Scheduler cron expression, with or without the `cron(...)` wrapper.
 * Returns the parsed fields, or every problem found.
 */
export function parseCron(input: string): { ok: true; cron: ParsedCron } | { ok: false; problems: string[] } {
  const trimmed = input.trim();
  const wrapped = /^cron\((.*)\)$/is.exec(trimmed);
  const inner = (wrapped ? wrapped[1]! : trimmed).trim().toUpperCase();
  if (/^(rate|at)\(/i.test(trimmed)) return { ok: false, problems: ['only cron expressions are supported, not rate() or at()'] };
  const parts = inner === '' ? [] : inner.split(/\s+/);
  if (parts.length !== 6) {
    return {
      ok: false,
      problems: [
        `expected 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}` +
          (parts.length === 5 ? "; EventBridge cron needs the year field, e.g. '... *'" : ''),
      ],
    };
  }
  const problems: string[] = [];
  const fields = CRON_FIELDS.map((spec, i) => {
    const result = parseCronField(parts[i]!, spec);
    if (typeof result === 'string') {
      problems.push(`${spec.name} field '${parts[i]}': ${result}`);
      return { kind: 'special' } as const;
    }
    return result;
  });
  const dom = parts[2]!;
  const dow = parts[4]!;
  if ((dom === '?') === (dow === '?')) {
    problems.push(`day-of-month '${dom}' and day-of-week '${dow}': exactly one of them must be '?'`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, cron: { expression: parts.join(' '), fields: fields as unknown as ParsedCron['fields'] } };
}

function parseCronField(text: string, spec: CronFieldSpec): CronField | string {
  const isDom = spec.name === 'day-of-month';
  const isDow = spec.name === 'day-of-week';
  if (text === '?') return isDom || isDow ? { kind: 'none' } : "'?' is only allowed in day-of-month and day-of-week";
  if (text === '*') return { kind: 'any' };

  const allowed = isDom ? /^[0-9,\-*/LW]+$/ : isDow ? /^[0-9A-Z,\-*L#]+$/ : spec.names ? /^[0-9A-Z,\-*/]+$/ : /^[0-9,\-*/]+$/;
  if (!allowed.test(text)) return 'contains characters not allowed in this field';

  const value = (token: string): number | string => {
    const byName = spec.names?.indexOf(token) ?? -1;
    const n = byName >= 0 ? spec.min + byName : /^\d+$/.test(token) ? Number(token) : NaN;
    if (Number.isNaN(n)) return `'${token}' is not a number${spec.names ? ` or a name (${spec.names[0]}-${spec.names.at(-1)})` : ''}`;
    if (n < spec.min || n > spec.max) return `${n} is out of range ${spec.min}-${spec.max}`;
    return n;
  };

  const values = new Set<number>();
  let special = false;
  for (const item of text.split(',')) {
    const at = item === text ? '' : `'${item}': `;
    if (item === '') return 'empty list item';
    if (isDom && /^(L|LW|\d+W)$/.test(item)) {
      if (item.endsWith('W') && item !== 'LW') {
        const v = value(item.slice(0, -1));
        if (typeof v === 'string') return v;
      }
      special = true;
      continue;
    }
    if (isDow && /^(L|[0-9A-Z]+L|[0-9A-Z]+#\d+)$/.test(item)) {
      if (item !== 'L') {
        const [day, nth] = item.endsWith('L') ? [item.slice(0, -1), undefined] : item.split('#');
        const v = value(day!);
        if (typeof v === 'string') return v;
        if (nth !== undefined && (Number(nth) < 1 || Number(nth) > 5)) return `'#${nth}': the week of the month must be 1-5`;
      }
      special = true;
      continue;
    }
    const m = /^(\*|[0-9A-Z]+)(?:-([0-9A-Z]+))?(?:\/(\d+))?$/.exec(item);
    if (!m) return `${at}not a value, range (a-b) or step (a/n)`;
    const [, startText, endText, stepText] = m;
    if (startText === '*' && endText !== undefined) return `${at}'*' cannot start a range`;
    const start = startText === '*' ? spec.min : value(startText!);
    if (typeof start === 'string') return start;
    const end = endText !== undefined ? value(endText) : stepText !== undefined || startText === '*' ? spec.max : start;
    if (typeof end === 'string') return end;
    if (end < start) return `${at}the range runs backwards`;
    const step = stepText !== undefined ? Number(stepText) : 1;
    if (step < 1 || step > spec.max - spec.min + 1) return `${at}the step must be 1-${spec.max - spec.min + 1}`;
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return special ? { kind: 'special' } : { kind: 'values', values };
}

const MINUTES_PER_DAY = 24 * 60;

/**
 * The longest time between two consecutive runs of a schedule, in minutes, where it can be known for
 * certain from the expression alone. `exact` is false when only a lower bound is known (runs restricted
 * to some days, months or years only ever widen the daily gap). Wall-clock time: DST days aside, every
 * day has these gaps, so a gap longer than the RPO is a real violation.
 */
export function longestGapMinutes(cron: ParsedCron): { minutes: number; exact: boolean } {
  const [minutes, hours, dom, month, dow, year] = cron.fields;
  const expand = (f: CronField, spec: CronFieldSpec): number[] =>
    f.kind === 'values' ? [...f.values] : Array.from({ length: spec.max - spec.min + 1 }, (_, i) => spec.min + i);
  const timesOfDay: number[] = [];
  for (const h of expand(hours, CRON_FIELDS[1]!)) for (const m of expand(minutes, CRON_FIELDS[0]!)) timesOfDay.push(h * 60 + m);
  const dailyGap = longestCircularGap(timesOfDay, MINUTES_PER_DAY);

  const everyMonthAndYear = month.kind === 'any' && year.kind === 'any';
  if (everyMonthAndYear && ((dom.kind === 'any' && dow.kind === 'none') || (dom.kind === 'none' && dow.kind === 'any'))) {
    return { minutes: dailyGap, exact: true };
  }
  if (everyMonthAndYear && dom.kind === 'none' && dow.kind === 'values') {
    const times = [...dow.values].flatMap((d) => timesOfDay.map((t) => (d - 1) * MINUTES_PER_DAY + t));
    return { minutes: longestCircularGap(times, 7 * MINUTES_PER_DAY), exact: true };
  }
  return { minutes: dailyGap, exact: false };
}

function longestCircularGap(times: readonly number[], period: number): number {
  const sorted = [...new Set(times)].sort((a, b) => a - b);
  let longest = 0;
  for (let i = 0; i < sorted.length; i++) {
    const next = i + 1 < sorted.length ? sorted[i + 1]! : sorted[0]! + period;
    longest = Math.max(longest, next - sorted[i]!);
  }
  return longest;
}

const CronExpression = z.string().transform((value, ctx) => {
  const parsed = parseCron(value);
  if (!parsed.ok) {
    for (const problem of parsed.problems) ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return parsed.cron.expression;
});

const TIME_ZONES: ReadonlySet<string> = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);

const TimeZone = z
  .string()
  .refine((tz) => TIME_ZONES.has(tz), { error: (iss) => `unknown time zone '${String(iss.input)}'; use an IANA name such as Europe/Dublin or UTC` });

const ScheduleSchema = z.strictObject({
  /** Six cron fields, minutes hours day-of-month month day-of-week year; wrap as `cron(...)` for EventBridge. */
  cron: CronExpression,
  timeZone: TimeZone.default('UTC'),
  /**
   * Minutes EventBridge Scheduler may delay a run to spread load (a flexible time window); 0 runs on the
   * minute. A run can start this much late, so it counts against the RPO.
   * @default the slack the RPO leaves beyond the schedule's longest gap, at most 15 (see effectiveFlexibleWindowMinutes)
   */
  flexibleWindowMinutes: z.int().min(0).max(1440, { error: 'must be at most 1440 (one day)' }).optional(),
});

// ---------------------------------------------------------------------------------------------
// Sources

export const SOURCE_KINDS = ['rds-postgres', 'rds-mysql', 'aurora-postgres', 'aurora-mysql', 'docdb', 'elasticache-redis', 's3', 'config'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export const BACKUP_METHODS = ['dump', 'snapshot', 'both'] as const;
export type BackupMethod = (typeof BACKUP_METHODS)[number];

const uniqueList = <T extends z.ZodType<string>>(item: T, what: string) =>
  z
    .array(item)
    .min(1, { error: `must list at least one ${what}` })
    .superRefine((list, ctx) => {
      list.forEach((value, i) => {
        if (list.indexOf(value) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate ${what} '${value}'` });
      });
    });

const NetworkSchema = z.strictObject({
  vpcId: awsId('vpc'),
  subnetIds: uniqueList(awsId('subnet'), 'subnet'),
  securityGroupIds: uniqueList(awsId('sg'), 'security group'),
});

const RetentionSchema = z.strictObject({
  /** Keep every backup at least this long. */
  days: days(1).default(35),
  /** Always keep this many newest backups, whatever their age. */
  keepLast: count(1).default(7),
  /** Grandfather-father-son: how many daily, weekly, monthly and yearly backups to keep. */
  gfs: z
    .strictObject({
      daily: count(0).default(7),
      weekly: count(0).default(4),
      monthly: count(0).default(12),
      yearly: count(0).default(0),
    })
    .prefault({}),
});

const ObjectivesSchema = z.strictObject({
  /** Recovery point objective: the most data, in minutes, the source may lose. */
  rpoMinutes: count(1),
  /** Recovery time objective: how long, in minutes, a restore may take. */
  rtoMinutes: count(1),
  /**
   * The longest a backup and its verification take. The newest verified recovery point is the previous one
   * until the next backup is verified, so the RPO must cover the schedule's longest gap plus this.
   * @default 30
   */
  backupDurationMinutes: count(1).default(30),
});

// ---------------------------------------------------------------------------------------------
// Runners: Lambda, or an ECS Fargate task when a job outgrows Lambda's 15 minutes

export const RUNNERS = ['auto', 'lambda', 'fargate'] as const;
export type Runner = (typeof RUNNERS)[number];

/** Fargate's CPU units and, for each, the memory (MiB) it allows: min, max and step. */
const FARGATE_SIZES: Readonly<Record<number, readonly [number, number, number]>> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** The memory sizes Fargate allows with `cpu` units, or undefined for a CPU value it does not offer. */
export function fargateMemoryChoices(cpu: number): number[] | undefined {
  const size = FARGATE_SIZES[cpu];
  if (!size) return undefined;
  const [min, max, step] = size;
  return Array.from({ length: (max - min) / step + 1 }, (_, i) => min + i * step);
}

const FargateSchema = z
  .strictObject({
    /** CPU units of the task (1024 = 1 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384. */
    cpu: z.int().default(4096),
    /** Memory of the task in MiB, one Fargate allows with `cpu`. */
    memoryMiB: z.int().default(8192),
    /** `auto` moves a source to Fargate once its last completed backup took longer than this (Lambda stops at 15). */
    autoAfterMinutes: z.int().min(1).max(14, { error: 'must be at most 14: Lambda stops at 15 minutes' }).default(10),
    /** ... or once its last completed backup's raw (uncompressed) size passed this many GiB. */
    autoAboveRawGiB: z.number().positive({ error: 'must be a positive number of GiB' }).default(40),
  })
  .superRefine((fargate, ctx) => {
    const choices = fargateMemoryChoices(fargate.cpu);
    if (!choices) {
      ctx.addIssue({ code: 'custom', path: ['cpu'], message: `Fargate offers 256, 512, 1024, 2048, 4096, 8192 or 16384 CPU units, not ${fargate.cpu}` });
    } else if (!choices.includes(fargate.memoryMiB)) {
      const [min, max, step] = FARGATE_SIZES[fargate.cpu]!;
      ctx.addIssue({ code: 'custom', path: ['memoryMiB'], message: `${fargate.memoryMiB} MiB is not offered with ${fargate.cpu} CPU units: Fargate allows ${min}-${max} MiB in steps of ${step}` });
    }
  });

const commonSourceShape = {
  /** Stable id used in vault keys, metrics and alerts. */
  id: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, {
    error: 'must be 1-40 characters: a lowercase letter, then lowercase letters, digits or hyphens',
  }),
  /** The database to dump; required when `backup.method` is `dump` or `both`. */
  database: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, {
      error: 'must be a database name of 1-63 characters: a letter or underscore, then letters, digits, _, $ or -',
    })
    .optional(),
  credentialsSecretArn: SecretArn,
  network: NetworkSchema,
  schedule: ScheduleSchema,
  backup: z.strictObject({ method: z.enum(BACKUP_METHODS).default('dump') }).prefault({}),
  /**
   * Where this source's dumps and their verification run: `lambda`, `fargate`, or `auto` (Fargate once the
   * last completed backup took longer than `fargate.autoAfterMinutes` or was larger than `fargate.autoAboveRawGiB`,
   * or a dump was cut off; see docs/backup-state-machine.md).
   */
  runner: z.enum(RUNNERS, { error: `must be one of ${RUNNERS.join(', ')}` }).default('auto'),
  /** The Fargate task's size and the thresholds of `runner: auto`. */
  fargate: FargateSchema.prefault({}),
  retention: RetentionSchema.prefault({}),
  objectives: ObjectivesSchema,
  /** SQL run in the test restore of every dump; each passes when it returns a row whose first column is true. */
  sqlChecks: z.array(z.string().trim().min(1, { error: 'must not be empty' })).default([]),
};

type SourceCommon = z.output<z.ZodObject<typeof commonSourceShape>>;

/** Runs a refinement even if other fields failed, as long as the fields it reads parsed cleanly. */
export function whenValid(...fields: string[]) {
  return (payload: z.core.ParsePayload): boolean => !payload.issues.some((issue) => fields.includes(String(issue.path?.[0])));
}

function withSourceChecks<T extends z.ZodType<SourceCommon>>(schema: T): T {
  return withRpoCheck(
    schema.superRefine(
      (source, ctx) => {
        if (source.backup.method !== 'snapshot' && source.database === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['database'],
            message: `required when backup.method is '${source.backup.method}': the database to dump`,
          });
        }
      },
      { when: whenValid('database', 'backup') },
    ),
  );
}

/** The RPO a source asks for must be one its schedule can meet. */
function withRpoCheck<T extends z.ZodType<Pick<SourceCommon, 'schedule' | 'objectives'>>>(schema: T): T {
  return schema.superRefine(
      (source, ctx) => {
        const parsed = parseCron(source.schedule.cron);
        if (!parsed.ok) return;
        const gap = longestGapMinutes(parsed.cron);
        const window = source.schedule.flexibleWindowMinutes ?? 0;
        const duration = source.objectives.backupDurationMinutes;
        if (gap.minutes + window + duration > source.objectives.rpoMinutes) {
          ctx.addIssue({
            code: 'custom',
            path: ['objectives', 'rpoMinutes'],
            message:
              `${source.objectives.rpoMinutes} minutes cannot be met: schedule '${source.schedule.cron}' leaves ` +
              `${gap.exact ? '' : 'at least '}${describeMinutes(gap.minutes)} between backups` +
              (window > 0 ? `, the flexible window may delay a run by ${window} more` : '') +
              `, and the next backup is verified up to ${duration} minutes after it starts (objectives.backupDurationMinutes): ` +
              `the RPO must be at least ${gap.minutes + window + duration} minutes`,
          });
        }
      },
      { when: whenValid('schedule', 'objectives') },
  );
}

/** The default flexible window: never more than 15 minutes, and never more than the RPO leaves to spare. */
export const DEFAULT_MAX_FLEXIBLE_WINDOW_MINUTES = 15;

/** The flexible window a source's schedule gets: as configured, else the slack its RPO leaves (at most 15 minutes). */
export function effectiveFlexibleWindowMinutes(source: Pick<SourceCommon, 'schedule' | 'objectives'>): number {
  if (source.schedule.flexibleWindowMinutes !== undefined) return source.schedule.flexibleWindowMinutes;
  const parsed = parseCron(source.schedule.cron);
  if (!parsed.ok) return 0;
  const gap = longestGapMinutes(parsed.cron);
  // A gap known only as a lower bound leaves no slack we can be sure of.
  if (!gap.exact) return 0;
  return Math.max(0, Math.min(DEFAULT_MAX_FLEXIBLE_WINDOW_MINUTES, source.objectives.rpoMinutes - gap.minutes - source.objectives.backupDurationMinutes));
}

function describeMinutes(minutes: number): string {
  if (minutes % MINUTES_PER_DAY === 0) return `${minutes} minutes (${minutes / MINUTES_PER_DAY} day${minutes === MINUTES_PER_DAY ? '' : 's'})`;
  if (minutes % 60 === 0) return `${minutes} minutes (${minutes / 60}h)`;
  return `${minutes} minutes`;
}

const instanceSource = <K extends SourceKind>(kind: K) =>
  withSourceChecks(z.strictObject({ kind: z.literal(kind), instanceIdentifier: RdsIdentifier, ...commonSourceShape }));
const clusterSource = <K extends SourceKind>(kind: K) =>
  withSourceChecks(z.strictObject({ kind: z.literal(kind), clusterIdentifier: RdsIdentifier, ...commonSourceShape }));

/**
 * An Amazon DocumentDB cluster: backed up by cluster snapshot only (docs/documentdb.md says why there is no logical
 * dump yet), so no database, SQL checks or dump runner; its credentials are the cluster's master user, which the
 * restore test logs in with.
 */
const docdbSource = withSourceChecks(
  z
    .strictObject({
      kind: z.literal('docdb'),
      clusterIdentifier: RdsIdentifier,
      ...commonSourceShape,
      backup: z
        .strictObject({
          method: z
            .literal('snapshot', { error: "DocumentDB is backed up by cluster snapshot only: 'snapshot' (or leave backup out); there is no logical dump yet (docs/documentdb.md)" })
            .default('snapshot'),
        })
        .prefault({}),
    })
    .superRefine((source, ctx) => {
      if (source.database !== undefined) ctx.addIssue({ code: 'custom', path: ['database'], message: 'not used by a DocumentDB source: a cluster snapshot holds every database' });
      if (source.sqlChecks.length > 0) ctx.addIssue({ code: 'custom', path: ['sqlChecks'], message: 'not used by a DocumentDB source: its restore test checks the restored cluster answers (docs/documentdb.md)' });
    }),
);

/** ElastiCache replication group and cache cluster ids: a letter, then letters, digits and single hyphens, not ending in one. */
const ElastiCacheId = (max: number) =>
  z.string().regex(new RegExp(`^(?=.{1,${max}}$)[A-Za-z](?:-?[A-Za-z0-9])*$`), {
    error: `must be an ElastiCache id of 1-${max} characters: a letter, then letters, digits and single hyphens, not ending in a hyphen`,
  });

/**
 * An ElastiCache (Redis OSS or Valkey) cache, cluster mode on or off: backed up through the service's own snapshot,
 * exported to the deployment's staging bucket and sealed into the vault as a `redis-keys` payload (docs/redis.md),
 * then verified, copied and retained like a dump. It has no database, credentials or SQL checks; `network` is where
 * the backup function runs (it reaches the ElastiCache API and S3, not the cache).
 */
const elasticacheSource = withRpoCheck(
  z
    .strictObject({
      kind: z.literal('elasticache-redis'),
      /** The replication group (cluster mode on or off) to back up. */
      replicationGroupId: ElastiCacheId(40).optional(),
      /** ... or a single-node cache cluster outside any replication group. */
      cacheClusterId: ElastiCacheId(50).optional(),
      id: commonSourceShape.id,
      network: NetworkSchema,
      schedule: ScheduleSchema,
      backup: z
        .strictObject({
          method: z.literal('dump', { error: "an ElastiCache cache is backed up by exporting its snapshot into the vault: 'dump' (or leave backup out)" }).default('dump'),
        })
        .prefault({}),
      runner: commonSourceShape.runner,
      fargate: commonSourceShape.fargate,
      retention: commonSourceShape.retention,
      objectives: ObjectivesSchema,
    })
    .superRefine((source, ctx) => {
      if ((source.replicationGroupId === undefined) === (source.cacheClusterId === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['replicationGroupId'], message: 'give exactly one of replicationGroupId (a replication group) or cacheClusterId (a single-node cluster outside one)' });
      }
    }),
);

/** S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
const BucketName = z.string().regex(/^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$/, {
  error: 'must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
});

/**
 * An S3 file set: the objects of a bucket under a prefix, backed up as deduplicated, encrypted snapshots under
 * `filesets/<id>/` (docs/vault-format.md, "File sets"; docs/file-sets.md). Only new or changed objects are read
 * again; each snapshot is complete on its own. The backup function calls only the S3 and KMS APIs, so there is no
 * `network` of its own; with one, a backup that runs out of Lambda's 15 minutes goes on as a Fargate task there
 * (docs/file-sets.md). No database, credentials, SQL checks or runner.
 */
const s3Source = withRpoCheck(
  z.strictObject({
    kind: z.literal('s3'),
    id: commonSourceShape.id,
    /** The bucket, in the deployment's primary region. */
    bucket: BucketName,
    /** Only objects under this key prefix (e.g. `media/`); restored paths are relative to it. @default the whole bucket */
    prefix: z
      .string()
      .max(1024, { error: 'must be at most 1024 characters (an S3 key)' })
      .refine((p) => !p.startsWith('/'), { error: 'must not start with "/": S3 keys have no leading slash' })
      .default(''),
    /** The bucket's SSE-KMS key, when it is a customer managed key: the backup function may decrypt with it through S3 only. */
    bucketKeyArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, { error: 'must be a KMS key ARN (the source bucket\'s SSE-KMS key)' })
      .optional(),
    /**
     * Where a backup that runs out of Lambda's 15 minutes (a large first backup) goes on, as a Fargate task: subnets
     * that reach S3 and KMS. @default none: a backup that runs out of time fails with OutOfTimeError
     */
    network: NetworkSchema.optional(),
    /** That task's size (`cpu`, `memoryMiB`). */
    fargate: FargateSchema.prefault({}),
    schedule: ScheduleSchema,
    backup: z
      .strictObject({
        method: z.literal('dump', { error: "an S3 file set is backed up by the file-set backup function: 'dump' (or leave backup out)" }).default('dump'),
      })
      .prefault({}),
    retention: commonSourceShape.retention,
    objectives: ObjectivesSchema,
    verification: z
      .strictObject({
        /** Share of the older packs each verification reads in full; the packs a snapshot wrote are always read. */
        readDataPercent: z.number().min(0, { error: 'must be a percentage from 0 to 100' }).max(100, { error: 'must be a percentage from 0 to 100' }).default(10),
      })
      .prefault({}),
  }),
);

/**
 * An application's configuration, read in the deployment's primary region: SSM parameters under paths (SecureString
 * values decrypted and sealed in the backup's envelope), Secrets Manager secrets by name prefix or tag (every labelled
 * version) and CloudFormation stacks (original template and parameters). Backed up as a `config-jsonl` payload under
 * `backups/<id>/` (docs/configuration.md) by the config backup function, which calls only AWS APIs, so there is no
 * `network`; a DR plan's `restore-config` step writes it back. No database, credentials, SQL checks or runner.
 */
const configSource = withRpoCheck(
  z
    .strictObject({
      kind: z.literal('config'),
      id: commonSourceShape.id,
      /** SSM parameter hierarchies, each read recursively: `/orders/prod/`. */
      ssmPaths: z
        .array(
          z
            .string()
            .regex(/^\/[A-Za-z0-9_.\-/]*$/, { error: 'must be an SSM parameter path: "/" then letters, digits, "_", ".", "-" and "/"' })
            .max(1011, { error: 'must be at most 1011 characters (an SSM parameter name)' }),
        )
        .default([]),
      /** Secrets whose name starts with one of these: `orders/prod/`. */
      secretPrefixes: z
        .array(z.string().regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, { error: 'must be the start of a secret name: 1-512 letters, digits and /_+=.@-' }))
        .default([]),
      /** Secrets carrying this tag (and value, when given). */
      secretTags: z.array(z.strictObject({ key: z.string().min(1).max(128), value: z.string().max(256).optional() })).default([]),
      /** CloudFormation stacks by name: their original template and parameters (NoEcho values are not readable, and not kept). */
      stacks: z.array(z.string().regex(/^[A-Za-z][-A-Za-z0-9]{0,127}$/, { error: 'must be a CloudFormation stack name: a letter, then letters, digits and hyphens (at most 128)' })).default([]),
      schedule: ScheduleSchema,
      backup: z
        .strictObject({
          method: z.literal('dump', { error: "a config source is backed up by the config backup function: 'dump' (or leave backup out)" }).default('dump'),
        })
        .prefault({}),
      retention: commonSourceShape.retention,
      objectives: ObjectivesSchema,
    })
    .superRefine((source, ctx) => {
      if (source.ssmPaths.length + source.secretPrefixes.length + source.secretTags.length + source.stacks.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['ssmPaths'], message: 'a config source must select something: ssmPaths, secretPrefixes, secretTags or stacks' });
      }
    }),
);

/** One source to back up: each kind is a member of this union. */
export const SourceSchema = z.discriminatedUnion(
  'kind',
  [instanceSource('rds-postgres'), instanceSource('rds-mysql'), clusterSource('aurora-postgres'), clusterSource('aurora-mysql'), docdbSource, elasticacheSource, s3Source, configSource],
  {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const kind = typeof iss.input === 'object' && iss.input !== null ? (iss.input as { kind?: unknown }).kind : undefined;
      const expected = `expected one of ${SOURCE_KINDS.join(', ')}`;
      return kind === undefined ? `required: ${expected}` : `unknown source kind ${JSON.stringify(kind)}; ${expected}`;
    },
  },
);

const SourcesSchema = z
  .array(SourceSchema)
  .min(1, { error: 'must list at least one source' })
  .superRefine(
    (sources, ctx) => {
      // Reads raw ids too: an otherwise invalid source still claims its id.
      const seen = new Map<string, number>();
      sources.forEach((source: unknown, i) => {
        const id = typeof source === 'object' && source !== null ? (source as { id?: unknown }).id : undefined;
        if (typeof id !== 'string') return;
        const first = seen.get(id);
        if (first === undefined) seen.set(id, i);
        else ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate source id '${id}' (already used by sources[${first}])` });
      });
    },
    { when: (payload) => Array.isArray(payload.value) },
  );

// ---------------------------------------------------------------------------------------------
// Vault, regions, alerts

const LifecycleSchema = z
  .strictObject({
    /** Days after creation to move backups to Glacier Instant Retrieval; `null` disables. */
    glacierInstantRetrievalAfterDays: days(0).nullable().default(30),
    /** Days after creation to move backups to Deep Archive; `null` disables. */
    deepArchiveAfterDays: days(0).nullable().default(180),
    /** Days to keep a version once it is no longer current. */
    noncurrentVersionExpiryDays: days(1).default(90),
  })
  .superRefine((lifecycle, ctx) => {
    const glacier = lifecycle.glacierInstantRetrievalAfterDays;
    const deep = lifecycle.deepArchiveAfterDays;
    if (glacier !== null && deep !== null && deep < glacier + 90) {
      ctx.addIssue({
        code: 'custom',
        path: ['deepArchiveAfterDays'],
        message:
          `${deep} must be at least 90 days after glacierInstantRetrievalAfterDays (${glacier}), i.e. >= ${glacier + 90}: ` +
          'S3 keeps objects 90 days in Glacier Instant Retrieval before the next transition',
      });
    }
  });

const VaultSchema = z.strictObject({
  objectLock: z
    .strictObject({
      mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).default('GOVERNANCE'),
      retentionDays: days(1).default(35),
    })
    .prefault({}),
  lifecycle: LifecycleSchema.prefault({}),
  /**
   * The only IAM role that may bypass governance retention, change retention or Object Lock settings, delete
   * object versions, change the vault's bucket policy, or disable, schedule deletion of or change the policy of
   * the vault keys, in both regions. Unset: any account administrator may (README, "Security").
   */
  breakGlassRoleArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, { error: 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)' })
    .optional(),
  /**
   * Creates a CloudTrail trail in each region recording write management events and the vault bucket's object
   * writes, which the tamper alarms need (docs/tamper-alarms.md). Leave false when an organization trail
   * already records them: a trail governed outside this account cannot be stopped by its administrator.
   */
  createTrail: z.boolean().default(false),
});

/** The air-gapped copy in an account of its own (README, "Security"); its retention is that account's own. */
const VaultAccountSchema = z.strictObject({
  accountId: z.string().regex(/^\d{12}$/, { error: 'must be a 12-digit AWS account id' }),
  /** @default the primary region */
  region: Region.optional(),
  objectLock: z
    .strictObject({
      mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).default('COMPLIANCE'),
      retentionDays: days(1).default(90),
    })
    .prefault({}),
  /**
   * The air-gapped vault's key (the air-gap stack's output `AirGapKeyArn`). With it, every dump is also wrapped
   * under this key and each verified dump is copied into the air-gapped vault. @default - the stack is deployed,
   * nothing is copied to it yet (the first of the two deploys, docs/air-gapped-vault.md)
   */
  keyArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, { error: 'must be a KMS key ARN (the air-gap stack output AirGapKeyArn)' })
    .optional(),
});

const RegionsSchema = z
  .strictObject({ primary: Region, dr: Region })
  .superRefine((regions, ctx) => {
    if (regions.primary === regions.dr) {
      ctx.addIssue({ code: 'custom', path: ['dr'], message: `must differ from the primary region (${regions.primary})` });
    }
  });

const MinSeverity = z.enum(SEVERITIES).default('WARNING');

const AlertsSchema = z.strictObject({
  emails: z.array(z.strictObject({ address: z.email({ error: 'must be an email address' }), minSeverity: MinSeverity })).default([]),
  webhooks: z
    .array(
      z.strictObject({
        url: z.url({ protocol: /^https$/, hostname: z.regexes.domain, error: 'must be an https:// URL' }),
        minSeverity: MinSeverity,
      }),
    )
    .default([]),
});

// ---------------------------------------------------------------------------------------------
// Verification: where dumps are test-restored

const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const VerificationServerSchema = z.strictObject({
  host: z.string().regex(HOST, { error: 'must be a host name or IPv4 address' }),
  port: z.int().min(1).max(65_535, { error: 'must be a port number 1-65535' }),
  /** A user that may create and drop databases on this server: `username` and `password`. */
  credentialsSecretArn: SecretArn,
});

const VerificationSchema = z
  .strictObject({
    /** Where the verify function runs: a VPC that reaches the servers (and S3, KMS, SNS, Secrets Manager). */
    network: NetworkSchema,
    /** One scratch server per engine; dumps of an engine without one are checked without a test restore. */
    servers: z
      .strictObject({ postgresql: VerificationServerSchema.optional(), mysql: VerificationServerSchema.optional() })
      .refine((servers) => servers.postgresql !== undefined || servers.mysql !== undefined, { error: 'name at least one server: postgresql or mysql' }),
  });

const RDS_INSTANCE_CLASS = /^db\.[a-z0-9]+\.[a-z0-9]+$/;

const SnapshotRestoreTestSchema = z.strictObject({
  /** Where the temporary databases and the validation function run: private subnets in at least two AZs. */
  network: z.strictObject({
    vpcId: awsId('vpc'),
    subnetIds: uniqueList(awsId('subnet'), 'subnet').refine((ids) => ids.length >= 2, { error: 'needs subnets in at least two availability zones (an RDS subnet group requires it)' }),
  }),
  instanceClass: z.string().regex(RDS_INSTANCE_CLASS, { error: 'must be an RDS instance class such as db.t4g.micro' }).default('db.t4g.micro'),
  auroraInstanceClass: z.string().regex(RDS_INSTANCE_CLASS, { error: 'must be an RDS instance class such as db.t4g.medium' }).default('db.t4g.medium'),
});

// ---------------------------------------------------------------------------------------------
// Monitoring: freshness metrics, alarms and the dashboard (docs/monitoring.md)

const MonitoringSchema = z.strictObject({
  /** How often the freshness function measures every source's backup age and DR copy lag. */
  freshnessEveryMinutes: z.int().min(1, { error: 'must be a whole number of minutes from 1 to 60' }).max(60, { error: 'must be a whole number of minutes from 1 to 60' }).default(5),
});

// ---------------------------------------------------------------------------------------------
// The daily compliance report (docs/audit-trail.md)

const ReportsSchema = z.strictObject({
  /** When the report of the previous UTC day is built: six cron fields and a time zone. @default 06:30 UTC daily */
  schedule: z.strictObject({ cron: CronExpression.default('30 6 * * ? *'), timeZone: TimeZone.default('UTC') }).prefault({}),
});

// ---------------------------------------------------------------------------------------------
// The whole file

/**
 * Every section of the config but its DR plans; `config.ts` adds the plans and their checks against these
 * sections (plans.ts reads the section types, so the plan schema cannot live here).
 */
export const ConfigSectionsSchema = z.strictObject({
  version: z.literal(CONFIG_VERSION, {
    error: (iss) =>
      iss.input === undefined
        ? `required: set "version": ${CONFIG_VERSION}`
        : `unsupported config version ${JSON.stringify(iss.input)}; this Lifeboat reads version ${CONFIG_VERSION}`,
  }),
  /** Prefix of stack names and tags. */
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,30}$/, { error: 'must be 1-31 characters: a lowercase letter, then lowercase letters, digits or hyphens' })
    .default('lifeboat'),
  /** The AWS account to deploy to; defaults to the CLI's account at deploy time. */
  account: z.string().regex(/^\d{12}$/, { error: 'must be a 12-digit AWS account id' }).optional(),
  regions: RegionsSchema,
  vault: VaultSchema.prefault({}),
  sources: SourcesSchema,
  /** Test-restore servers for dumps; without them dumps are checked for integrity and structure only. */
  verification: VerificationSchema.optional(),
  /** Deploys the snapshot restore test (temporary private databases restored from Lifeboat's snapshots). */
  snapshotRestoreTest: SnapshotRestoreTestSchema.optional(),
  alerts: AlertsSchema.prefault({}),
  /** Freshness metrics, alarms and the dashboard. */
  monitoring: MonitoringSchema.prefault({}),
  /** The daily compliance report's schedule. */
  reports: ReportsSchema.prefault({}),
  /** Deploys the air-gapped vault into this account (a third stack). @default - none */
  vaultAccount: VaultAccountSchema.optional(),
});

export type SourceConfig = z.output<typeof SourceSchema>;
export type RdsInstanceSourceConfig = Extract<SourceConfig, { instanceIdentifier: string }>;
export type AuroraClusterSourceConfig = Extract<SourceConfig, { clusterIdentifier: string; kind: 'aurora-postgres' | 'aurora-mysql' }>;
export type DocdbSourceConfig = Extract<SourceConfig, { kind: 'docdb' }>;
export type ElastiCacheSourceConfig = Extract<SourceConfig, { kind: 'elasticache-redis' }>;
export type S3SourceConfig = Extract<SourceConfig, { kind: 's3' }>;
export type ConfigSourceConfig = Extract<SourceConfig, { kind: 'config' }>;
/** The sources on RDS, Aurora and DocumentDB: a database with credentials. */
export type DatabaseSourceConfig = Exclude<SourceConfig, ElastiCacheSourceConfig | S3SourceConfig | ConfigSourceConfig>;

export function isDatabaseSource(source: SourceConfig): source is DatabaseSourceConfig {
  return source.kind !== 'elasticache-redis' && source.kind !== 's3' && source.kind !== 'config';
}

/** The engine a source's backups record: a dump's and its verification server's, DocumentDB's, or a cache's. */
export function sourceEngine(source: Pick<DatabaseSourceConfig, 'kind'>): 'postgresql' | 'mysql' | 'docdb';
export function sourceEngine(source: Pick<SourceConfig, 'kind'>): 'postgresql' | 'mysql' | 'docdb' | 'redis' | 'fileset' | 'config';
export function sourceEngine(source: Pick<SourceConfig, 'kind'>): 'postgresql' | 'mysql' | 'docdb' | 'redis' | 'fileset' | 'config' {
  if (source.kind === 'elasticache-redis') return 'redis';
  if (source.kind === 's3') return 'fileset';
  if (source.kind === 'config') return 'config';
  return source.kind === 'docdb' ? 'docdb' : source.kind.endsWith('postgres') ? 'postgresql' : 'mysql';
}
export type NetworkConfig = z.output<typeof NetworkSchema>;
export type ScheduleConfig = z.output<typeof ScheduleSchema>;
export type RetentionConfig = z.output<typeof RetentionSchema>;
export type ObjectivesConfig = z.output<typeof ObjectivesSchema>;
export type VaultConfig = z.output<typeof VaultSchema>;
export type RegionsConfig = z.output<typeof RegionsSchema>;
export type AlertsConfig = z.output<typeof AlertsSchema>;
export type VerificationConfig = z.output<typeof VerificationSchema>;
export type SnapshotRestoreTestConfig = z.output<typeof SnapshotRestoreTestSchema>;
export type MonitoringConfig = z.output<typeof MonitoringSchema>;
export type EmailAlertConfig = AlertsConfig['emails'][number];
export type WebhookAlertConfig = AlertsConfig['webhooks'][number];
export type ObjectLockMode = VaultConfig['objectLock']['mode'];
export type ReportsConfig = z.output<typeof ReportsSchema>;
export type VaultAccountConfig = z.output<typeof VaultAccountSchema>;
