import type { VaultStore } from '../vault/store.ts';
import { REPORTS_PREFIX, reportDate, type ComplianceReport } from './model.ts';
import { renderHtml } from './render.ts';

/** `reports/<date>.json` and `reports/<date>.html`, the date being the period's last day (UTC). */
export function reportKeys(report: Pick<ComplianceReport, 'period'>): { json: string; html: string } {
  const last = reportDate(report);
  return { json: `${REPORTS_PREFIX}${last}.json`, html: `${REPORTS_PREFIX}${last}.html` };
}

/** Writes both renderings create-only: a day's report, once written, is the record of that day. */
export async function writeReport(store: VaultStore, report: ComplianceReport): Promise<{ json: string; html: string }> {
  const keys = reportKeys(report);
  const write = store.createObject?.bind(store) ?? store.putObject.bind(store);
  await write(keys.json, `${JSON.stringify(report, null, 2)}\n`);
  await write(keys.html, renderHtml(report));
  return keys;
}
