/** The report's one paragraph: what the alert topic receives and what the HTML and Markdown open with. */
import type { ComplianceReport, Lapse, PlanLapse } from './model.ts';

const LAPSE_WORDS: Record<Lapse['kind'] | PlanLapse['kind'], string> = {
  'rpo-breach': 'RPO breach',
  'backup-failed': 'failed backup',
  'verification-failed': 'failed verification',
  'copy-failed': 'failed DR copy',
  'copy-missing': 'missing DR copy',
  'retention-missing': 'backup missing that retention keeps',
  'failed-event': 'other failure',
  'drill-failed': 'failed drill',
  'drill-objective-missed': 'drill that missed its objectives',
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
  if (report.audit.unauthenticated.length > 0) parts.push(`${report.audit.unauthenticated.length} audit event(s) failed to authenticate.`);
  if (ok) parts.push('No lapses: every backup was on time, verified, copied and retained as its policy says.');
  return parts.join(' ');
}

function describeLapses(lapses: readonly (Lapse | PlanLapse)[]): string {
  const counts = new Map<string, number>();
  for (const lapse of lapses) counts.set(LAPSE_WORDS[lapse.kind], (counts.get(LAPSE_WORDS[lapse.kind]) ?? 0) + 1);
  return [...counts.entries()].map(([words, count]) => `${count} ${words}${count === 1 ? '' : 's'}`).join(', ');
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
