/**
 * The report as a self-contained HTML page (inline CSS and SVG charts, no script, no external asset: it opens
 * offline and from an email attachment) and as Markdown.
 */
import { reportDate, type ComplianceReport, type PlanReport, type SourceReport } from './model.ts';
import { describeLapse, percent } from './summary.ts';

const WIDTH = 720;
const HEIGHT = 180;
const PAD = { left: 64, right: 12, top: 22, bottom: 28 };

export function renderHtml(report: ComplianceReport): string {
  const title = `Lifeboat compliance report ${reportDate(report)}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:780px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.muted{color:#57606a;font-size:13px}.summary{padding:10px 14px;border-radius:6px;margin:14px 0}
.ok{background:#dafbe1;border:1px solid #4ac26b}.bad{background:#fff1e5;border:1px solid #fb8f44}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}ul.lapses{font-size:13px;padding-left:18px}
svg{display:block;margin:6px 0}svg text{font-size:10px;fill:#57606a}
</style></head><body>
<h1>${esc(title)}</h1>
<div class="muted">Vault ${esc(report.vault)} · ${esc(report.period.since)} to ${esc(report.period.until)} · generated ${esc(report.generatedAt)}</div>
<div class="summary ${report.summary.ok ? 'ok' : 'bad'}" id="summary">${esc(report.summary.text)}</div>
<table><tr><th>Object Lock</th><td class="${report.objectLock.state === 'off' ? 'fail' : report.objectLock.state === 'in-force' ? 'pass' : ''}">${esc(report.objectLock.state)}${report.objectLock.mode ? ` (${esc(report.objectLock.mode)}, ${report.objectLock.retentionDays} days)` : ''}</td><td class="muted">${esc(report.objectLock.detail)}</td></tr>
<tr><th>Audit events</th><td>${report.audit.events}</td><td class="${report.audit.unauthenticated.length > 0 ? 'fail' : 'muted'}">${report.audit.unauthenticated.length} failed to authenticate</td></tr></table>
${report.audit.unauthenticated.length > 0 ? `<ul class="lapses">${report.audit.unauthenticated.map((u) => `<li><code>${esc(u.key)}</code>: ${esc(u.problem)}</li>`).join('')}</ul>` : ''}
${report.sources.map((source) => sourceSection(source, report)).join('\n')}
${report.plans.length > 0 ? `<h2>DR plans</h2>${planTable(report.plans)}` : ''}
</body></html>
`;
}

function sourceSection(source: SourceReport, report: ComplianceReport): string {
  const b = source.backups;
  const restore = source.lastRestoreTest;
  return `<h2 id="source-${esc(source.sourceId)}">${esc(source.sourceId)}</h2>
<table>
<tr><th>RPO</th><td class="${source.rpo.met ? 'pass' : 'fail'}">${source.rpo.met ? 'met' : 'breached'}</td><td>met ${percent(source.rpo.metShare)} of the period; objective ${source.objectives.rpoMinutes} min, worst age ${source.rpo.worstAgeMinutes ?? 'n/a'} min</td></tr>
<tr><th>Backups</th><td>${b.taken} taken</td><td>${b.verified} verified, ${b.failedVerification} failed verification, ${b.copied} copied to DR, ${b.failed} failed runs, ${b.pruned} pruned</td></tr>
<tr><th>Retention</th><td class="${source.retention.adherent ? 'pass' : 'fail'}">${source.retention.adherent ? 'adherent' : 'points missing'}</td><td>${source.retention.expected} backups kept by policy${source.retention.missing.length > 0 ? `; missing ${source.retention.missing.map(esc).join(', ')}` : ''}</td></tr>
<tr><th>Last restore test</th><td class="${restore?.status === 'passed' ? 'pass' : restore ? 'fail' : ''}">${restore ? esc(restore.status) : 'none'}</td><td>${restore ? `${esc(restore.backupId)} at ${esc(restore.at)}${restore.target ? ` into ${esc(restore.target)}` : ''}` : ''}</td></tr>
</table>
${ageChart(source, report)}
${sizeChart(source, report)}
${source.lapses.length > 0 ? `<ul class="lapses">${source.lapses.map((l) => `<li class="lapse lapse-${l.kind}">${esc(`${l.at.slice(0, 16).replace('T', ' ')}Z`)} ${esc(describeLapse(l))}</li>`).join('')}</ul>` : '<p class="muted">No lapses.</p>'}`;
}

function planTable(plans: readonly PlanReport[]): string {
  const run = (r: PlanReport['lastDrill']) =>
    r
      ? `<span class="${r.outcome === 'passed' && r.met.rto && r.met.rpo ? 'pass' : 'fail'}">${esc(r.outcome)}</span> ${esc(r.startedAt.slice(0, 10))}: RTO ${r.rtoMinutes ?? 'n/a'}/${r.objectives.rtoMinutes} min, RPO ${r.rpoMinutes ?? 'n/a'}/${r.objectives.rpoMinutes} min`
      : 'none';
  return `<table><tr><th>Plan</th><th>Last drill</th><th>Last real run</th><th>Drills in period</th></tr>
${plans.map((p) => `<tr><td>${esc(p.plan)}</td><td>${run(p.lastDrill)}</td><td>${run(p.lastReal)}</td><td>${p.drillsInPeriod}</td></tr>`).join('\n')}</table>
${plans.flatMap((p) => p.lapses.map((l) => `<li class="lapse lapse-${l.kind}">${esc(p.plan)}: ${esc(describeLapse(l))}</li>`)).join('') ? `<ul class="lapses">${plans.flatMap((p) => p.lapses.map((l) => `<li class="lapse lapse-${l.kind}">${esc(p.plan)} ${esc(l.at.slice(0, 10))}: ${esc(describeLapse(l))}</li>`)).join('')}</ul>` : ''}`;
}

/** Backup age (minutes, rising between backups) against the RPO line; breaches shaded red. */
function ageChart(source: SourceReport, report: ComplianceReport): string {
  const t0 = Date.parse(report.period.since);
  const t1 = Date.parse(report.period.until);
  const rpo = source.objectives.rpoMinutes;
  const ages = source.ageSeries.map((p) => p.ageMinutes ?? Number.NaN);
  const max = Math.max(rpo * 1.5, ...ages.filter((a) => !Number.isNaN(a))) || 1;
  const x = scale(t0, t1, PAD.left, WIDTH - PAD.right);
  const y = scale(0, max, HEIGHT - PAD.bottom, PAD.top);
  const line = source.ageSeries
    .map((p) => `${x(Date.parse(p.at)).toFixed(1)},${y(p.ageMinutes === null ? max : Math.min(p.ageMinutes, max)).toFixed(1)}`)
    .join(' ');
  const bands = source.lapses
    .filter((l): l is Extract<typeof l, { kind: 'rpo-breach' }> => l.kind === 'rpo-breach')
    .map((l) => `<rect class="breach" x="${x(Date.parse(l.at)).toFixed(1)}" y="${PAD.top}" width="${Math.max(1, x(Date.parse(l.until)) - x(Date.parse(l.at))).toFixed(1)}" height="${HEIGHT - PAD.top - PAD.bottom}" fill="#ffebe9"/>`)
    .join('');
  return `<svg class="chart age-chart" role="img" aria-label="Backup age of ${esc(source.sourceId)} against its RPO" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">
<title>Backup age of ${esc(source.sourceId)} (minutes) against the RPO of ${rpo} minutes</title>
${frame(t0, t1, x, y, max, 'age, min')}${bands}
<line class="rpo-line" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(rpo).toFixed(1)}" y2="${y(rpo).toFixed(1)}" stroke="#cf222e" stroke-dasharray="5 3"/>
<text x="${WIDTH - PAD.right - 4}" y="${(y(rpo) - 3).toFixed(1)}" text-anchor="end" style="fill:#cf222e">RPO ${rpo} min</text>
<polyline class="age-line" fill="none" stroke="#0969da" stroke-width="1.5" points="${line}"/>
</svg>`;
}

/** Stored and raw size of each backup over the period. */
function sizeChart(source: SourceReport, report: ComplianceReport): string {
  const t0 = Date.parse(report.period.since);
  const t1 = Date.parse(report.period.until);
  const max = Math.max(1, ...source.sizeSeries.map((p) => Math.max(p.rawBytes, p.storedBytes)));
  const x = scale(t0, t1, PAD.left, WIDTH - PAD.right);
  const y = scale(0, max, HEIGHT - PAD.bottom, PAD.top);
  const points = (field: 'rawBytes' | 'storedBytes') => source.sizeSeries.map((p) => `${x(Date.parse(p.at)).toFixed(1)},${y(p[field]).toFixed(1)}`).join(' ');
  const dots = source.sizeSeries.map((p) => `<circle cx="${x(Date.parse(p.at)).toFixed(1)}" cy="${y(p.storedBytes).toFixed(1)}" r="2" fill="#8250df"/>`).join('');
  return `<svg class="chart size-chart" role="img" aria-label="Backup sizes of ${esc(source.sourceId)}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">
<title>Backup sizes of ${esc(source.sourceId)}: raw (grey) and stored (purple)</title>
${frame(t0, t1, x, y, max, bytesLabel(max))}
<polyline fill="none" stroke="#8c959f" stroke-width="1" points="${points('rawBytes')}"/>
<polyline class="size-line" fill="none" stroke="#8250df" stroke-width="1.5" points="${points('storedBytes')}"/>${dots}
</svg>`;
}

function frame(t0: number, t1: number, x: (v: number) => number, y: (v: number) => number, max: number, unit: string): string {
  const days = Math.max(1, Math.round((t1 - t0) / 86_400_000));
  const step = Math.max(1, Math.ceil(days / 8)) * 86_400_000;
  const ticks: string[] = [];
  for (let t = t0; t <= t1; t += step) {
    ticks.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${PAD.top}" y2="${HEIGHT - PAD.bottom}" stroke="#eaeef2"/><text x="${x(t).toFixed(1)}" y="${HEIGHT - 10}" text-anchor="${x(t) > WIDTH - PAD.right - 20 ? 'end' : 'middle'}">${new Date(t).toISOString().slice(5, 10)}</text>`);
  }
  return `<rect x="${PAD.left}" y="${PAD.top}" width="${WIDTH - PAD.left - PAD.right}" height="${HEIGHT - PAD.top - PAD.bottom}" fill="#f6f8fa"/>${ticks.join('')}
<text x="${PAD.left - 4}" y="${(y(max) + 8).toFixed(1)}" text-anchor="end">${esc(unit === 'age, min' ? String(Math.round(max)) : unit)}</text><text x="${PAD.left - 4}" y="${y(0).toFixed(1)}" text-anchor="end">0</text>
<text x="${PAD.left}" y="14">${esc(unit === 'age, min' ? 'backup age, minutes' : 'size per backup: raw (grey), stored (purple)')}</text>`;
}

function bytesLabel(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderMarkdown(report: ComplianceReport): string {
  const lines = [
    `# Lifeboat compliance report ${reportDate(report)}`,
    '',
    `Vault \`${report.vault}\`, ${report.period.since} to ${report.period.until}.`,
    '',
    report.summary.text,
    '',
    `Object Lock: ${report.objectLock.state}${report.objectLock.mode ? ` (${report.objectLock.mode}, ${report.objectLock.retentionDays} days)` : ''}. Audit events: ${report.audit.events}, ${report.audit.unauthenticated.length} failed to authenticate.`,
    '',
    '| source | RPO | met | taken | verified | copied | failed | retention | last restore test | lapses |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...report.sources.map(
      (s) =>
        `| ${s.sourceId} | ${s.objectives.rpoMinutes} min | ${s.rpo.met ? 'yes' : 'no'} (${percent(s.rpo.metShare)}) | ${s.backups.taken} | ${s.backups.verified} | ${s.backups.copied} | ${s.backups.failed} | ${s.retention.adherent ? 'adherent' : `${s.retention.missing.length} missing`} | ${s.lastRestoreTest ? `${s.lastRestoreTest.status} ${s.lastRestoreTest.at.slice(0, 10)}` : 'none'} | ${s.lapses.length} |`,
    ),
  ];
  for (const source of report.sources.filter((s) => s.lapses.length > 0)) {
    lines.push('', `## ${source.sourceId}`, '', ...source.lapses.map((l) => `- ${l.at.slice(0, 16).replace('T', ' ')}Z ${describeLapse(l)}`));
  }
  if (report.plans.length > 0) {
    lines.push('', '## DR plans', '');
    for (const plan of report.plans) {
      const d = plan.lastDrill;
      lines.push(`- ${plan.plan}: last drill ${d ? `${d.outcome} ${d.startedAt.slice(0, 10)}, RTO ${d.rtoMinutes ?? 'n/a'}/${d.objectives.rtoMinutes} min, RPO ${d.rpoMinutes ?? 'n/a'}/${d.objectives.rpoMinutes} min` : 'none'}; ${plan.drillsInPeriod} drill(s) in the period`);
      for (const lapse of plan.lapses) lines.push(`  - ${lapse.at.slice(0, 16).replace('T', ' ')}Z ${describeLapse(lapse)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
