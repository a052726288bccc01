/**
 * The compliance report's JSON (`reports/<date>.json`), format `lifeboat-report` 1.0. The zod schema below is
 * the one definition: {@link reportJsonSchema} derives the published JSON Schema from it (docs/report.schema.json).
 */
import { z } from 'zod';

export const REPORT_FORMAT = 'lifeboat-report';
export const REPORT_FORMAT_VERSION = '1.0';
export const REPORTS_PREFIX = 'reports/';

const time = z.string().describe('ISO-8601 UTC time');
const nullableTime = time.nullable();

/** Something the period should not have had; `at` is when it happened (or began). */
export const LapseSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('rpo-breach'), at: time, until: time, minutes: z.number().describe('how long the newest good backup was older than the RPO') }),
  z.strictObject({ kind: z.literal('backup-failed'), at: time, executionId: z.string().nullable(), reason: z.string() }),
  z.strictObject({ kind: z.literal('verification-failed'), at: time, backupId: z.string(), executionId: z.string().nullable(), reason: z.string() }),
  z.strictObject({ kind: z.literal('copy-failed'), at: time, backupId: z.string().nullable(), executionId: z.string().nullable(), reason: z.string() }),
  z.strictObject({ kind: z.literal('copy-missing'), at: time, backupId: z.string().describe('a backup older than the copy grace period with no DR copy recorded') }),
  z.strictObject({ kind: z.literal('retention-missing'), at: time, backupId: z.string(), rules: z.array(z.string()).describe('the retention rules that should have kept it') }),
  z.strictObject({ kind: z.literal('failed-event'), at: time, type: z.string(), backupId: z.string().nullable(), executionId: z.string().nullable(), reason: z.string() }),
]);
export type Lapse = z.output<typeof LapseSchema>;
export type LapseKind = Lapse['kind'];

export const PlanLapseSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('drill-failed'), at: time, executionId: z.string(), reason: z.string() }),
  z.strictObject({ kind: z.literal('drill-objective-missed'), at: time, executionId: z.string(), missed: z.array(z.enum(['rto', 'rpo'])) }),
]);
export type PlanLapse = z.output<typeof PlanLapseSchema>;

const DrillSchema = z.strictObject({
  executionId: z.string(),
  mode: z.enum(['real', 'drill']),
  startedAt: time,
  outcome: z.enum(['passed', 'failed']),
  rtoMinutes: z.number().nullable(),
  rpoMinutes: z.number().nullable(),
  objectives: z.strictObject({ rtoMinutes: z.number(), rpoMinutes: z.number() }),
  met: z.strictObject({ rto: z.boolean(), rpo: z.boolean() }),
});

export const SourceReportSchema = z.strictObject({
  sourceId: z.string(),
  objectives: z.strictObject({ rpoMinutes: z.number(), rtoMinutes: z.number() }),
  rpo: z.strictObject({
    met: z.boolean().describe('the newest good backup was never older than the RPO in the period'),
    metShare: z.number().min(0).max(1).describe('share of the period during which the RPO was met'),
    worstAgeMinutes: z.number().nullable().describe('the oldest the newest good backup got; null when there was none at all'),
  }),
  backups: z.strictObject({
    taken: z.int().nonnegative(),
    verified: z.int().nonnegative(),
    failedVerification: z.int().nonnegative(),
    copied: z.int().nonnegative(),
    failed: z.int().nonnegative().describe('backup runs that failed (audit events)'),
    pruned: z.int().nonnegative(),
  }),
  retention: z.strictObject({
    adherent: z.boolean(),
    expected: z.int().nonnegative().describe('backups the retention policy keeps at the end of the period'),
    missing: z.array(z.string()),
  }),
  lastRestoreTest: z
    .strictObject({ backupId: z.string(), at: time, status: z.enum(['passed', 'failed']), target: z.string().nullable() })
    .nullable(),
  /** Backup age in minutes at each change (rising between backups, 0 at a good backup); null before the first. */
  ageSeries: z.array(z.strictObject({ at: time, ageMinutes: z.number().nullable() })),
  sizeSeries: z.array(z.strictObject({ at: time, backupId: z.string(), storedBytes: z.number(), rawBytes: z.number() })),
  lapses: z.array(LapseSchema),
});
export type SourceReport = z.output<typeof SourceReportSchema>;

export const PlanReportSchema = z.strictObject({
  plan: z.string(),
  lastDrill: DrillSchema.nullable(),
  lastReal: DrillSchema.nullable(),
  drillsInPeriod: z.int().nonnegative(),
  lapses: z.array(PlanLapseSchema),
});
export type PlanReport = z.output<typeof PlanReportSchema>;
export type DrillSummary = z.output<typeof DrillSchema>;

export const ReportSchema = z.strictObject({
  format: z.literal(REPORT_FORMAT),
  formatVersion: z.literal(REPORT_FORMAT_VERSION),
  generatedAt: time,
  vault: z.string(),
  period: z.strictObject({ since: time, until: time }),
  objectLock: z.strictObject({
    state: z.enum(['in-force', 'off', 'unknown']),
    mode: z.string().nullable(),
    retentionDays: z.number().nullable(),
    detail: z.string(),
  }),
  audit: z.strictObject({
    events: z.int().nonnegative(),
    unauthenticated: z.array(z.strictObject({ key: z.string(), problem: z.string() })),
  }),
  sources: z.array(SourceReportSchema),
  plans: z.array(PlanReportSchema),
  summary: z.strictObject({
    ok: z.boolean().describe('no lapse anywhere, Object Lock not off and every audit event authentic'),
    lapses: z.int().nonnegative(),
    text: z.string().describe('the one-paragraph summary sent to the alert topic'),
  }),
});
export type ComplianceReport = z.output<typeof ReportSchema>;
export type ObjectLockState = ComplianceReport['objectLock'];

/** The date a report is filed under: the period's last day (UTC), so the report of 2026-11-21 covers that day. */
export function reportDate(report: Pick<ComplianceReport, 'period'>): string {
  return new Date(Date.parse(report.period.until) - 1).toISOString().slice(0, 10);
}

/** The JSON Schema (draft 2020-12) of `reports/<date>.json`. */
export function reportJsonSchema(): Record<string, unknown> {
  return {
    $id: 'https://lifeboat.dev/schemas/report-1.0.json',
    title: 'Lifeboat compliance report 1.0',
    ...(z.toJSONSchema(ReportSchema, { target: 'draft-2020-12' }) as Record<string, unknown>),
  };
}
