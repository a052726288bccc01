/** The compliance report (docs/audit-trail.md, "Compliance report"): built from the vault alone, rendered as JSON, HTML and Markdown. */
export { ageOverPeriod, buildReport, type BuildReportOptions, type ReportSourceConfig } from './build.ts';
export * from './model.ts';
export { renderHtml, renderMarkdown } from './render.ts';
export { describeLapse, summaryText } from './summary.ts';
export { reportKeys, writeReport } from './store.ts';
