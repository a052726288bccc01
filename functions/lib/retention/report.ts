/**
 * What a prune did (or, in a dry run, would do), and its text form for `lifeboat prune --dry-run`:
 * exactly what goes and why each kept backup is kept.
 */
import { formatLocalTime } from './calendar.ts';
import type { RetentionPolicy, VerificationStatus } from './plan.ts';

export interface RetentionReportEntry {
  /** A backup id, or `<region>/<snapshot identifier>` for an RDS snapshot. */
  readonly id: string;
  /** When it completed; for an incomplete backup, when it started. */
  readonly at: Date;
  readonly status: VerificationStatus | 'incomplete';
  /** Why it is kept, protected or deleted. */
  readonly reasons: readonly string[];
}

export interface RetentionReportError {
  /** The backup or snapshot concerned; absent for a failure of the whole step (e.g. a region's listing). */
  readonly id?: string | undefined;
  readonly step: 'list' | 'read-manifest' | 'read-verification' | 'read-protection' | 'delete';
  /** The error's name, e.g. `AccessDenied`. */
  readonly error: string;
  readonly message: string;
}

export interface RetentionReport {
  /** What was pruned, e.g. `vault backups of orders-db in s3://bucket/vault`. */
  readonly subject: string;
  readonly sourceId: string;
  readonly dryRun: boolean;
  readonly now: Date;
  readonly timeZone: string;
  readonly policy: RetentionPolicy;
  /** Newest first, like every list here. */
  readonly kept: readonly RetentionReportEntry[];
  /** Deleted, or in a dry run, what a real run would delete. */
  readonly deleted: readonly RetentionReportEntry[];
  /** The policy would delete these; Object Lock or a legal hold forbids it. Reported, not failed. */
  readonly protected: readonly RetentionReportEntry[];
  readonly errors: readonly RetentionReportError[];
}

/** A readable, line-oriented report; times are shown in the source's time zone, as GFS counts them. */
export function formatRetentionReport(report: RetentionReport): string {
  const { policy } = report;
  const lines = [
    `Retention of ${report.subject}${report.dryRun ? ' (dry run: nothing was deleted)' : ''}`,
    `Policy: keep-last ${policy.keepLast}, ${policy.days} days, daily ${policy.gfs.daily}, weekly ${policy.gfs.weekly}, ` +
      `monthly ${policy.gfs.monthly}, yearly ${policy.gfs.yearly}; time zone ${report.timeZone}; now ${report.now.toISOString()}`,
  ];
  const idWidth = Math.max(0, ...[...report.kept, ...report.deleted, ...report.protected].map((e) => e.id.length));
  const statusWidth = 'unverified'.length;
  const section = (title: string, entries: readonly RetentionReportEntry[]) => {
    lines.push('', `${title} (${entries.length}):${entries.length === 0 ? ' none' : ''}`);
    for (const entry of entries) {
      lines.push(
        `  ${entry.id.padEnd(idWidth)}  ${formatLocalTime(entry.at, report.timeZone)}  ` +
          `${entry.status.padEnd(statusWidth)}  ${entry.reasons.join(', ')}`,
      );
    }
  };
  section(report.dryRun ? 'Would delete' : 'Deleted', report.deleted);
  section('Kept', report.kept);
  section('Protected, kept although the policy would delete them', report.protected);
  lines.push('', `Errors (${report.errors.length}):${report.errors.length === 0 ? ' none' : ''}`);
  for (const error of report.errors) {
    lines.push(`  ${error.id ? `${error.id}  ` : ''}${error.step}: ${error.error}: ${error.message}`);
  }
  const deleted = `${report.deleted.length} ${report.dryRun ? 'would be deleted' : 'deleted'}`;
  lines.push(
    '',
    `Summary: ${deleted}, ${report.kept.length} kept, ${report.protected.length} protected, ${report.errors.length} errors`,
  );
  return `${lines.join('\n')}\n`;
}

/** An error's name and message for a report; never its stack. */
export function describeError(error: unknown): { error: string; message: string } {
  if (error instanceof Error) return { error: error.name, message: error.message };
  return { error: 'Error', message: String(error) };
}
