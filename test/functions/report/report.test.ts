import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditKey } from '../../../functions/lib/audit/event.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { signDrEvidence } from '../../../functions/lib/plans/evidenceMac.ts';
import { evidenceKey } from '../../../functions/lib/vault/layout.ts';
import {
  ageOverPeriod,
  buildReport,
  renderHtml,
  renderMarkdown,
  reportJsonSchema,
  reportKeys,
  writeReport,
  type ComplianceReport,
  type ReportSourceConfig,
} from '../../../functions/lib/report/index.ts';
import { DAY, generateHistory, MINUTE, POLICY, RPO_MINUTES, SINCE, UNTIL, type History } from './history.ts';

const execFileAsync = promisify(execFile);

const SOURCES: ReportSourceConfig[] = ['orders-db', 'billing-db'].map((id) => ({ id, rpoMinutes: RPO_MINUTES, rtoMinutes: 60, retention: POLICY, timeZone: 'UTC' }));

let history: History;
let report: ComplianceReport;

beforeAll(async () => {
  history = await generateHistory();
  report = await buildReport({
    store: history.store,
    signer: history.signer,
    sources: SOURCES,
    since: SINCE,
    until: UNTIL,
    objectLock: async () => ({ state: 'in-force', mode: 'GOVERNANCE', retentionDays: 35, detail: 'bucket default retention' }),
  });
}, 120_000);

/** The expected RPO breaches, minute by minute from the generator's ground truth (not from the engine's intervals). */
function expectedBreaches(sourceId: string): { at: string; until: string }[] {
  const good = history.backups.filter((b) => b.sourceId === sourceId && b.verification === 'verified').map((b) => b.completedAt);
  const breaches: { at: string; until: string }[] = [];
  let open: number | undefined;
  for (let t = SINCE.getTime(); t <= UNTIL.getTime(); t += MINUTE) {
    const newest = Math.max(...good.filter((g) => g <= t));
    const breaching = t - newest > RPO_MINUTES * MINUTE;
    if (breaching && open === undefined) open = t - MINUTE; // the last minute at which the age was still within the RPO
    if (!breaching && open !== undefined) {
      breaches.push({ at: new Date(open).toISOString(), until: new Date(t).toISOString() });
      open = undefined;
    }
  }
  if (open !== undefined) breaches.push({ at: new Date(open).toISOString(), until: UNTIL.toISOString() });
  return breaches;
}

function expectedLapses(sourceId: string): string[] {
  const inPeriod = (at: number) => at >= SINCE.getTime() && at < UNTIL.getTime();
  const own = history.backups.filter((b) => b.sourceId === sourceId);
  return [
    ...expectedBreaches(sourceId).map((b) => `rpo-breach ${b.at} until ${b.until}`),
    ...history.failedRuns.filter((r) => r.sourceId === sourceId && inPeriod(r.at)).map((r) => `backup-failed ${r.executionId}`),
    ...own.filter((b) => b.verification === 'failed' && inPeriod(b.completedAt)).map((b) => `verification-failed ${b.backupId}`),
    ...own.filter((b) => !b.copied && inPeriod(b.completedAt)).map((b) => `copy-missing ${b.backupId}`),
    ...own.filter((b) => history.vanished.includes(b.backupId)).map((b) => `retention-missing ${b.backupId}`),
  ].sort();
}

function statedLapses(sourceId: string): string[] {
  const source = report.sources.find((s) => s.sourceId === sourceId)!;
  return source.lapses
    .map((lapse) => {
      switch (lapse.kind) {
        case 'rpo-breach':
          return `rpo-breach ${lapse.at} until ${lapse.until}`;
        case 'backup-failed':
          return `backup-failed ${lapse.executionId}`;
        case 'verification-failed':
        case 'copy-missing':
        case 'retention-missing':
          return `${lapse.kind} ${lapse.backupId}`;
        default:
          return `${lapse.kind} ${JSON.stringify(lapse)}`;
      }
    })
    .sort();
}

describe('compliance report over a generated history', () => {
  it('states exactly the lapses of the source that had them, checked against an independent computation', () => {
    const expected = expectedLapses('orders-db');
    // The history has them all: two gaps, a failed verification, a missed copy, a vanished point.
    expect(expected.filter((l) => l.startsWith('rpo-breach'))).toHaveLength(3);
    expect(expected.filter((l) => l.startsWith('backup-failed'))).toHaveLength(3);
    expect(expected.filter((l) => l.startsWith('verification-failed'))).toHaveLength(1);
    expect(expected.filter((l) => l.startsWith('copy-missing'))).toHaveLength(1);
    expect(expected.filter((l) => l.startsWith('retention-missing'))).toHaveLength(1);
    expect(statedLapses('orders-db')).toEqual(expected);
  });

  it('states no lapse for the source that had none', () => {
    expect(expectedLapses('billing-db')).toEqual([]);
    const billing = report.sources.find((s) => s.sourceId === 'billing-db')!;
    expect(billing.lapses).toEqual([]);
    expect(billing.rpo).toEqual({ met: true, metShare: 1, worstAgeMinutes: 24 * 60 });
    expect(billing.retention.adherent).toBe(true);
  });

  it('gives the share of the period the RPO was met, from the breach minutes', () => {
    const minutes = expectedBreaches('orders-db').reduce((sum, b) => sum + (Date.parse(b.until) - Date.parse(b.at)) / MINUTE, 0);
    const total = (UNTIL.getTime() - SINCE.getTime()) / MINUTE;
    const orders = report.sources.find((s) => s.sourceId === 'orders-db')!;
    expect(orders.rpo.met).toBe(false);
    expect(orders.rpo.metShare).toBeCloseTo(1 - minutes / total, 4);
    // The longest gap: Nov 4 → Nov 7 (two failed runs), three days of age.
    expect(orders.rpo.worstAgeMinutes).toBe(3 * 24 * 60);
  });

  it('counts backups taken, verified, copied, failed and pruned in the period', () => {
    const inPeriod = (at: number) => at >= SINCE.getTime() && at < UNTIL.getTime();
    for (const source of report.sources) {
      const own = history.backups.filter((b) => b.sourceId === source.sourceId && inPeriod(b.completedAt));
      expect(source.backups).toEqual({
        taken: own.length,
        verified: own.filter((b) => b.verification === 'verified').length,
        failedVerification: own.filter((b) => b.verification === 'failed').length,
        copied: own.filter((b) => b.copied).length,
        failed: history.failedRuns.filter((r) => r.sourceId === source.sourceId && inPeriod(r.at)).length,
        pruned: expect.any(Number),
      });
    }
    const pruned = report.sources.reduce((sum, s) => sum + s.backups.pruned, 0);
    expect(pruned).toBe(history.pruneEvents);
    expect(pruned).toBeGreaterThan(0);
  });

  it('reports the last restore test and each drill against its objectives', () => {
    const orders = report.sources.find((s) => s.sourceId === 'orders-db')!;
    const last = history.backups.filter((b) => b.sourceId === 'orders-db').at(-1)!;
    expect(orders.lastRestoreTest).toMatchObject({ backupId: last.backupId, status: 'passed' });
    expect(report.plans).toHaveLength(1);
    const [plan] = report.plans;
    expect(plan!.drillsInPeriod).toBe(3);
    expect(plan!.lastDrill).toMatchObject({ executionId: history.drills[2]!.executionId, outcome: 'failed' });
    expect(plan!.lapses).toEqual([
      { kind: 'drill-objective-missed', at: history.drills[1]!.startedAt, executionId: history.drills[1]!.executionId, missed: ['rto'] },
      { kind: 'drill-failed', at: history.drills[2]!.startedAt, executionId: history.drills[2]!.executionId, reason: 'the plan execution failed' },
    ]);
  });

  it('summarizes the lapses in one paragraph and is not ok', () => {
    expect(report.summary.ok).toBe(false);
    expect(report.summary.lapses).toBe(expectedLapses('orders-db').length + 2);
    expect(report.summary.text).toContain('1 of 2 sources met their RPO throughout');
    expect(report.summary.text).toMatch(/orders-db: 3 RPO breaches, 3 failed backups, 1 failed verification, 1 missing DR copy, 1 backup missing that retention keeps/);
    expect(report.summary.text).toContain('Plan orders-restore: 1 drill that missed its objectives, 1 failed drill.');
    expect(report.summary.text).not.toContain('billing-db:');
    expect(report.summary.text).not.toContain('\n');
  });

  it('validates against its JSON schema, and the schema refuses a report missing a field', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv);
    const validate = ajv.compile(reportJsonSchema());
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    delete (json['sources'] as Record<string, unknown>[])[0]!['rpo'];
    expect(validate(json)).toBe(false);
    expect(JSON.stringify(validate.errors)).toContain('rpo');
  });

  it('publishes its schema as docs/report.schema.json, kept equal to the zod schema', async () => {
    const published = JSON.parse(await readFile(new URL('../../../docs/report.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(published).toEqual(reportJsonSchema());
  });

  it('renders Markdown and HTML naming every lapse; the HTML has one age and one size chart per source', () => {
    const markdown = renderMarkdown(report);
    expect(markdown).toContain('| orders-db | 1500 min | no (');
    expect(markdown).toContain(`no DR copy of ${history.backups.find((b) => !b.copied)!.backupId}`);
    const html = renderHtml(report);
    expect(html.match(/<svg class="chart age-chart"/g)).toHaveLength(2);
    expect(html.match(/<svg class="chart size-chart"/g)).toHaveLength(2);
    expect(html.match(/class="lapse lapse-rpo-breach"/g)).toHaveLength(3);
    // Self-contained: nothing fetched from anywhere.
    expect(html).not.toMatch(/<script|<link|src=|url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('writes reports/<date>.json and .html create-only', async () => {
    const keys = await writeReport(history.store, report);
    expect(keys).toEqual(reportKeys(report));
    expect(keys.json).toBe('reports/2026-11-21.json');
    expect(JSON.parse((await history.store.getObject(keys.json)).toString())).toEqual(report);
    expect((await history.store.getObject(keys.html)).toString()).toContain('<svg');
    await expect(writeReport(history.store, report)).rejects.toThrow(/already exists/);
  });

  it('reports an audit event that does not authenticate and stays not ok', async () => {
    const event = JSON.parse((await history.store.getObject(await firstAuditKey())).toString()) as Record<string, unknown>;
    const forged = { ...event, eventId: 'zzzzzzzzzzzz', outcome: 'succeeded', type: 'copy' };
    const key = auditKey(forged as never);
    await history.store.putObject(key, JSON.stringify(forged));
    const again = await buildReport({ store: history.store, signer: history.signer, sources: SOURCES, since: SINCE, until: UNTIL });
    expect(again.audit.unauthenticated).toEqual([{ key, problem: 'its MAC does not verify with the evidence key (forged or altered)' }]);
    expect(again.summary.text).toContain('1 audit event(s) failed to authenticate.');
    await history.store.delete(key);
  });

  it('with the DR evidence key, reports only plan runs whose evidence authenticates, and lists forged evidence', async () => {
    const drEvidenceKey = localHmacSigner(Buffer.alloc(32, 7));
    const genuineKey = evidenceKey('orders-restore', 'drill-a1');
    const original = await history.store.getObject(genuineKey);
    // The first drill signed as the DR step function signs it; a forged pass planted after the failed drill.
    await history.store.putObject(genuineKey, JSON.stringify(await signDrEvidence(JSON.parse(original.toString()) as { formatVersion: string }, drEvidenceKey)));
    const forgedKey = evidenceKey('orders-restore', 'drill-z9');
    const forged = { ...(JSON.parse(original.toString()) as Record<string, unknown>), executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:drill-z9', startedAt: '2026-11-18T10:00:00.000Z' };
    await history.store.putObject(forgedKey, JSON.stringify(await signDrEvidence(forged as unknown as { formatVersion: string }, localHmacSigner(Buffer.alloc(32, 1)))));
    try {
      const keyed = await buildReport({ store: history.store, signer: history.signer, drEvidenceKey, sources: SOURCES, since: SINCE, until: UNTIL });
      // The two unsigned drills are passed over quietly, the forged one with a problem: only the signed drill counts.
      expect(keyed.plans).toHaveLength(1);
      expect(keyed.plans[0]).toMatchObject({ drillsInPeriod: 1, lastDrill: { executionId: history.drills[0]!.executionId, outcome: 'passed' }, lapses: [] });
      expect(keyed.audit.unauthenticated).toEqual([{ key: forgedKey, problem: `${forgedKey} does not authenticate with the DR evidence key: not counted` }]);
      expect(keyed.summary.ok).toBe(false);
      expect(keyed.summary.text).toContain('1 DR evidence document(s) failed to authenticate and were not counted.');
      expect(keyed.summary.text).not.toContain('audit event(s) failed');
      // Without the key, the forgery counts as the plan's last drill.
      const asStored = await buildReport({ store: history.store, signer: history.signer, sources: SOURCES, since: SINCE, until: UNTIL });
      expect(asStored.plans[0]!.lastDrill).toMatchObject({ executionId: forged.executionId, outcome: 'passed' });
    } finally {
      await history.store.putObject(genuineKey, original);
      await history.store.delete(forgedKey);
    }
  });
});

describe('ageOverPeriod', () => {
  it('treats a source that never had a backup as breaching the whole period', () => {
    expect(ageOverPeriod([], 0, DAY, MINUTE)).toEqual({ series: [[0, undefined], [DAY, undefined]], breaches: [[0, DAY]], worst: undefined });
  });
});

async function firstAuditKey(): Promise<string> {
  for await (const key of history.store.list('audit/')) return key;
  throw new Error('no audit event');
}

describe('the HTML report in headless Chromium', () => {
  it('renders offline with its SVG charts in the DOM, and a screenshot is taken', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-report-html-'));
    const page = path.join(dir, 'report.html');
    await writeFile(page, renderHtml(report));
    const dom = await chromium(dir, ['--dump-dom', pathToFileURL(page).href]);
    // Parsed and laid out by the browser: the SVG elements are in its DOM, two charts per source.
    expect(dom.match(/<svg [^>]*class="chart age-chart"/g)).toHaveLength(2);
    expect(dom.match(/<svg [^>]*class="chart size-chart"/g)).toHaveLength(2);
    expect(dom.match(/<polyline class="age-line"/g)).toHaveLength(2);
    expect(dom.match(/<line class="rpo-line"/g)).toHaveLength(2);
    expect(dom).toContain('id="summary"');

    const png = path.join(dir, 'report.png');
    await chromium(dir, [`--screenshot=${png}`, '--window-size=800,1400', pathToFileURL(page).href]);
    const image = await readFile(png);
    expect(image.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([image.readUInt32BE(16), image.readUInt32BE(20)]).toEqual([800, 1400]);
    // A blank page compresses to a few KB; text, tables and charts do not.
    expect(image.length).toBeGreaterThan(40_000);
  }, 120_000);
});

/** Debian's chromium, headless, isolated profile, no network beyond the file. */
async function chromium(dir: string, args: string[]): Promise<string> {
  const profile = await mkdtemp(path.join(dir, 'profile-'));
  const { stdout } = await execFileAsync(
    '/usr/bin/chromium',
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--hide-scrollbars', ...args],
    { timeout: 90_000, maxBuffer: 32 * 1024 * 1024 },
  );
  return stdout;
}
