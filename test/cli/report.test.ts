import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditKey, type AuditEvent } from '../../functions/lib/audit/event.ts';
import { auditWriter } from '../../functions/lib/audit/writer.ts';
import { localHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { buildReport, reportJsonSchema, type ComplianceReport } from '../../functions/lib/report/index.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import { generateHistory, SIGNING_KEY, SINCE, UNTIL, type History } from '../functions/report/history.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

let history: History;
let dir: Awaited<ReturnType<typeof tempDir>>;
let keyFile: string;

/** A key file as `lifeboat keygen` writes it, holding the key the history was signed with. */
async function writeKeyFile(file: string, key: Buffer): Promise<void> {
  await writeFile(file, JSON.stringify({ format: 'lifeboat-key', version: 1, keyNamespace: 'lifeboat', keyName: 'evidence', key: key.toString('base64'), createdAt: '2026-11-01T00:00:00.000Z' }), { mode: 0o600 });
  await chmod(file, 0o600);
}

beforeAll(async () => {
  history = await generateHistory();
  dir = await tempDir('report');
  keyFile = path.join(dir.path, 'evidence.key');
  await writeKeyFile(keyFile, SIGNING_KEY);
}, 120_000);
afterAll(() => dir.remove());

describe('lifeboat report', () => {
  it('builds the JSON report of a local vault over --since/--until; it validates and states what the engine states', async () => {
    const result = await lifeboat(['report', '--vault', history.store.location, '--since', '2026-11-01', '--until', '2026-11-22', '--rpo-minutes', '1500', '--evidence-key-file', keyFile, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as ComplianceReport;
    const validate = new Ajv2020({ strict: false });
    addFormats.default(validate);
    expect(validate.validate(reportJsonSchema(), json)).toBe(true);
    // Without a config: every source of the vault, held to --rpo-minutes.
    expect(json.sources.map((s) => s.sourceId)).toEqual(['billing-db', 'orders-db']);
    const engine = await buildReport({
      store: history.store, signer: localHmacSigner(SIGNING_KEY), since: SINCE, until: UNTIL,
      sources: ['billing-db', 'orders-db'].map((id) => ({ id, rpoMinutes: 1500, rtoMinutes: 1500, retention: { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, timeZone: 'UTC' })),
    });
    expect(json.sources).toEqual(engine.sources);
    expect(json.objectLock).toEqual({ state: 'unknown', mode: null, retentionDays: null, detail: 'a local directory vault has no Object Lock' });
    expect(result.stderr).toMatch(/^\d+ lapses in 2 sources\.\n$/);
  });

  it('writes a self-contained HTML file with --out, the format taken from its extension', async () => {
    const out = path.join(dir.path, 'report.html');
    const result = await lifeboat(['report', '--vault', history.store.location, '--since', '2026-11-01', '--until', '2026-11-22', '--evidence-key-file', keyFile, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    const html = await readFile(out, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html.match(/<svg class="chart age-chart"/g)).toHaveLength(2);
    expect(result.stderr).toContain(`report written to ${out}`);
  });

  it('prints Markdown by default', async () => {
    const result = await lifeboat(['report', '--vault', history.store.location, '--since', '2026-11-01', '--until', '2026-11-22', '--evidence-key-file', keyFile, '--rpo-minutes', '1500']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^# Lifeboat compliance report 2026-11-21\n/);
    expect(result.stdout).toContain('| orders-db | 1500 min | no (');
  });

  it.each([
    [['--format', 'pdf'], /--format must be one of html, json, md, not "pdf"/],
    [['--since', '2026-13-01'], /--since must be a date/],
    [['--since', '2026-11-22', '--until', '2026-11-01'], /--since .* must be before --until/],
    [['--rpo-minutes', '0'], /--rpo-minutes must be a whole number/],
  ])('refuses %j with a usage error naming the flag', async (flags, message) => {
    const result = await lifeboat(['report', '--vault', history.store.location, '--evidence-key-file', keyFile, ...flags]);
    expect(result.code).toBe(2);
    expect(errorLine(result.stderr)).toMatchObject({ name: 'UsageError', message: expect.stringMatching(message) });
  });

  it('needs the evidence key', async () => {
    const result = await lifeboat(['report', '--vault', history.store.location]);
    expect(result.code).toBe(2);
    expect(errorLine(result.stderr)?.message).toMatch(/an evidence key is required .* --evidence-key-file FILE or --evidence-key ARN/);
  });
});

describe('lifeboat audit', () => {
  let vault: LocalStore;
  let genuine: AuditEvent[];

  beforeAll(async () => {
    vault = new LocalStore(path.join(dir.path, 'audit-vault'));
    const signer = localHmacSigner(SIGNING_KEY);
    let now = new Date('2026-11-21T01:00:00.000Z');
    const writer = auditWriter({ store: vault, signer, actor: { kind: 'function', name: 'lifeboat-dump' }, clock: () => now });
    genuine = [];
    for (const [minute, input] of [
      [0, { type: 'backup', outcome: 'succeeded', sourceId: 'orders-db', backupId: '20261121T005000Z-abcdabcd', details: { completedAt: '2026-11-21T00:58:00.000Z' } }],
      [5, { type: 'verification', outcome: 'failed', sourceId: 'orders-db', backupId: '20261121T005000Z-abcdabcd', details: { reason: 'row-counts: 119 rows, manifest 120' } }],
      [9, { type: 'backup', outcome: 'failed', sourceId: 'billing-db', executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:x', details: { reason: 'DumpFailedError' } }],
    ] as const) {
      now = new Date(now.getTime() + minute * 60_000);
      const result = await writer.record(input);
      if (!result.written) throw result.error;
      genuine.push(result.event);
    }
  });

  it('lists every event, oldest first, each authenticated', async () => {
    const result = await lifeboat(['audit', '--vault', vault.location, '--evidence-key-file', keyFile]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+TYPE\s+OUTCOME\s+SOURCE\/PLAN\s+BACKUP\s+ACTOR\s+AUTH$/);
    expect(lines.slice(1).map((line) => line.split(/\s{2,}/).slice(1, 4))).toEqual([
      ['backup', 'succeeded', 'orders-db'],
      ['verification', 'failed', 'orders-db'],
      ['backup', 'failed', 'billing-db'],
    ]);
    expect(lines.slice(1).every((line) => line.endsWith('  ok'))).toBe(true);
    expect(result.stderr).toBe('3 audit events, 0 failed to authenticate.\n');
  });

  it('filters by --source and --since', async () => {
    const result = await lifeboat(['audit', '--vault', vault.location, '--evidence-key-file', keyFile, '--source', 'orders-db', '--since', genuine[1]!.time, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ key: auditKey(genuine[1]!), authentic: true, event: genuine[1] }]);
  });

  it('reports a forged event (a changed outcome under the original MAC) and exits 4', async () => {
    const forged = { ...genuine[1]!, outcome: 'succeeded' };
    const key = auditKey(forged);
    await writeFile(path.join(vault.location, ...key.split('/')), JSON.stringify(forged));
    const result = await lifeboat(['audit', '--vault', vault.location, '--evidence-key-file', keyFile]);
    expect(result.code).toBe(4);
    expect(result.stdout).toContain(`UNAUTHENTICATED: its MAC does not verify with the evidence key (forged or altered) (${key})`);
    expect(result.stdout.match(/ ok$/gm)).toHaveLength(2);
    expect(errorLine(result.stderr.split('\n').slice(1).join('\n'))).toMatchObject({ name: 'AuditEventUnauthenticatedError' });

    const json = JSON.parse((await lifeboat(['audit', '--vault', vault.location, '--evidence-key-file', keyFile, '--json'])).stdout) as { key: string; authentic: boolean }[];
    expect(json.filter((entry) => !entry.authentic).map((entry) => entry.key)).toEqual([key]);
  });

  it('refuses the events with another key: none authenticates', async () => {
    const other = path.join(dir.path, 'other.key');
    await writeKeyFile(other, Buffer.alloc(32, 9));
    const result = await lifeboat(['audit', '--vault', vault.location, '--evidence-key-file', other, '--source', 'billing-db']);
    expect(result.code).toBe(4);
    expect(result.stdout.match(/UNAUTHENTICATED/g)).toHaveLength(1);
  });
});

