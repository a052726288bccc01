/** The report's one paragraph: what the alert topic receives and what the HTML and Markdown open with. */
import { EVIDENCE_PREFIX } from '../vault/layout.ts';
import type { ComplianceReport, Lapse, PlanLapse } from './model.ts';

/** Singular and plural, in the order the summary lists them. */
const LAPSE_WORDS: Record<Lapse['kind'] | PlanLapse['kind'], readonly [string, string]> = {
  'rpo-breach': ['RPO breach', 'RPO breaches'],
  'backup-failed': ['failed backup', 'failed backups'],
  'verification-failed': ['failed verification', 'failed verifications'],
  'copy-failed': ['failed DR copy', 'failed DR copies'],
  'copy-missing': ['missing DR copy', 'missing DR copies'],
  'retention-missing': ['backup missing that retention keeps', 'backups missing that retention keeps'],
  'failed-event': ['other failure', 'other failures'],
  'drill-objective-missed': ['drill that missed its objectives', 'drills that missed their objectives'],
  'drill-failed': ['failed drill', 'failed drills'],
};

export function summaryText(report: Omit<ComplianceReport, 'summary'>, ok: boolean): string {
  const period = `${report.period.since.slice(0, 16).replace('T', ' ')}Z to ${report.period.until.slice(0, 16).replace('T', ' ')}Z`;
  const met = report.sources.filter((s) => s.rpo.met).length;
  const parts = [
    `Lifeboat compliance report for ${report.vault}, ${period}: ${met} of ${report.sources.length} source${report.sources.length === 1 ? '' : 's'} met their RPO throughout.`,
  ];
  for (const source of report.sources.filter((s) => s.lapses.length > 0)) {
    parts.push(`${source.sourceId}: ${describeLapses(source.lapses)} (RPO met ${percent(source.rpo.metShare)} of the time).`);
  }
  for (const plan of report.plans.filter((p) => p.lapses.length > 0)) parts.push(`Plan ${plan.plan}: ${describeLapses(plan.lapses)}.`);
  if (report.objectLock.state === 'off') parts.push(`Object Lock is OFF on the vault (${report.objectLock.detail}).`);
  const forgedEvidence = report.audit.unauthenticated.filter((entry) => entry.key.startsWith(EVIDENCE_PREFIX)).length;
  const forgedEvents = report.audit.unauthenticated.length - forgedEvidence;
  if (forgedEvents > 0) parts.push(`${forgedEvents} audit event(s) failed to authenticate.`);
  if (forgedEvidence > 0) parts.push(`${forgedEvidence} DR evidence document(s) failed to authenticate and were not counted.`);
  if (ok) parts.push('No lapses: every backup was on time, verified, copied and retained as its policy says.');
  return parts.join(' ');
}

function describeLapses(lapses: readonly (Lapse | PlanLapse)[]): string {
  return (Object.keys(LAPSE_WORDS) as (keyof typeof LAPSE_WORDS)[])
    .map((kind) => [kind, lapses.filter((lapse) => lapse.kind === kind).length] as const)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${count} ${LAPSE_WORDS[kind][count === 1 ? 0 : 1]}`)
    .join(', ');
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(share === 1 || share === 0 ? 0 : 1)}%`;
}

/** One line per lapse, for Markdown, the HTML table and the CLI. */
export function describeLapse(lapse: Lapse | PlanLapse): string {
  switch (lapse.kind) {
    case 'rpo-breach':
      return `RPO breached from ${lapse.at} to ${lapse.until} (${lapse.minutes} min)`;
    case 'backup-failed':
      return `backup failed: ${lapse.reason}${execution(lapse.executionId)}`;
    case 'verification-failed':
      return `verification of ${lapse.backupId} failed: ${lapse.reason}${execution(lapse.executionId)}`;
    case 'copy-failed':
      return `DR copy${lapse.backupId ? ` of ${lapse.backupId}` : ''} failed: ${lapse.reason}${execution(lapse.executionId)}`;
    case 'copy-missing':
      return `no DR copy of ${lapse.backupId}`;
    case 'retention-missing':
      return `${lapse.backupId} is gone although retention keeps it (${lapse.rules.join('; ')})`;
    case 'failed-event':
      return `${lapse.type} failed${lapse.backupId ? ` for ${lapse.backupId}` : ''}: ${lapse.reason}${execution(lapse.executionId)}`;
    case 'drill-failed':
      return `drill failed${execution(lapse.executionId)}`;
    case 'drill-objective-missed':
      return `drill missed its ${lapse.missed.join(' and ').toUpperCase()} objective${lapse.missed.length > 1 ? 's' : ''}${execution(lapse.executionId)}`;
  }
}

function execution(id: string | null): string {
  return id ? ` (execution ${id})` : '';
}
