// The DR step executor's audit events: each restore started and finished, and each execution's evidence,
// signed into a real local trail and read back through the reader that authenticates them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { audited, auditWriter, readAuditTrail, type AuditTrail } from '../../../functions/lib/audit/index.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { ArchiveRestoreInProgressError, TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { drStepAuditEvents } from '../../../functions/dr-step/audit.ts';
import type { DrStepResult } from '../../../functions/dr-step/drStep.ts';

const signer = localHmacSigner(Buffer.alloc(32, 9));
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:lifeboat-plan-orders-restore:drill-42';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd';
const BACKUP = '20261122T053327Z-k3x7q2ab';

let dir: string;
let store: LocalStore;
let trail: AuditTrail;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-drstep-audit-'));
  store = new LocalStore(dir);
  trail = auditWriter({ store, signer, actor: { kind: 'function', name: 'lifeboat-dr-step' }, onFailure: (error) => { throw error; } });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const events = async () => (await readAuditTrail(store, signer)).map((entry) => entry.event!);
const run = (event: Record<string, unknown>, work: () => Promise<unknown>) => audited(trail, work as () => Promise<DrStepResult>, drStepAuditEvents(event));

const runStep = (kind: string, extra: Record<string, unknown> = {}) => ({
  action: 'run-step', plan: 'orders-restore', stepId: 'restore', kind, mode: 'drill', suffix: 'd42', executionId: EXECUTION, levels: {}, parameters: { source: 'orders-db' }, ...extra,
});
const record = (kind: string, status: string, result: Record<string, unknown>) => ({ stepId: 'restore', kind, status, startedAt: '2026-11-22T06:00:00.000Z', endedAt: status === 'succeeded' ? '2026-11-22T06:20:00.000Z' : null, result });

describe('the DR step executor\'s audit events', () => {
  it('a dump restore: one restore-finished, naming the source, the backup and where it went, never the credentials\' secret', async () => {
    const target = { host: 'orders-new.internal', port: 5432, database: 'orders_drill_d42', engine: 'postgresql', credentialsSecretArn: SECRET };
    await run(runStep('restore-dump'), async () => record('restore-dump', 'succeeded', { sourceId: 'orders-db', backupId: BACKUP, restoredDataAt: '2026-11-22T05:40:00.000Z', target, drill: true }));
    const [event, ...rest] = await events();
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      type: 'restore-finished',
      outcome: 'succeeded',
      plan: 'orders-restore',
      executionId: EXECUTION,
      sourceId: 'orders-db',
      backupId: BACKUP,
      actor: { kind: 'function', name: 'lifeboat-dr-step' },
      details: { step: 'restore', kind: 'restore-dump', mode: 'drill', into: 'orders-new.internal:5432/orders_drill_d42', restoredDataAt: '2026-11-22T05:40:00.000Z' },
    });
    expect(JSON.stringify(event)).not.toContain('secretsmanager');
  });

  it('a failed dump restore is a failed restore-finished with the error\'s name; the error is the step\'s own', async () => {
    const failed = run(runStep('restore-dump'), async () => { throw new TargetNotEmptyError('Database orders_new on orders-new.internal:5432 is not empty'); });
    await expect(failed).rejects.toBeInstanceOf(TargetNotEmptyError);
    const [event] = await events();
    expect(event).toMatchObject({ type: 'restore-finished', outcome: 'failed', sourceId: 'orders-db', details: { step: 'restore', error: 'TargetNotEmptyError' } });
  });

  it('an archived backup being restored from Deep Archive is the plan\'s wait, not an outcome: nothing is recorded', async () => {
    await expect(run(runStep('restore-dump'), async () => { throw new ArchiveRestoreInProgressError('ready in ~12 hours', {} as never); })).rejects.toThrow();
    expect(await events()).toEqual([]);
  });

  it('a snapshot restore: restore-started when it starts, nothing while it is polled, restore-finished when the describe finds it done', async () => {
    await run(runStep('restore-snapshot'), async () => ({ ...record('restore-snapshot', 'creating', {}), step: {} }));
    const polled = { action: 'describe-step', step: { plan: 'orders-restore', stepId: 'restore', kind: 'restore-snapshot', mode: 'real', restore: { sourceId: 'orders-db' } } };
    await run(polled, async () => ({ ...record('restore-snapshot', 'creating', {}), step: {} }));
    await run(polled, async () => ({ ...record('restore-snapshot', 'succeeded', { identifier: 'orders-recovered', sourceId: 'orders-db', target: { host: 'orders-recovered.abc.eu-west-1.rds.amazonaws.com', port: 5432, database: 'orders', credentialsSecretArn: SECRET } }), step: {} }));
    const recorded = await events();
    expect(recorded.map((e) => [e.type, e.outcome, e.sourceId, e.details['kind'], e.details['mode']])).toEqual([
      ['restore-started', 'succeeded', 'orders-db', 'restore-snapshot', 'drill'],
      ['restore-finished', 'succeeded', 'orders-db', 'restore-snapshot', 'real'],
    ]);
    expect(recorded[1]!.details['into']).toBe('orders-recovered.abc.eu-west-1.rds.amazonaws.com:5432/orders');
  });

  it('recorded evidence is a drill-evidence event with its key, outcome and measured against objective RTO/RPO', async () => {
    const evidence = {
      format: 'lifeboat-dr-evidence', formatVersion: '1.0', plan: 'orders-restore', mode: 'drill', executionId: EXECUTION, startedAt: '2026-11-22T06:00:00.000Z', endedAt: '2026-11-22T06:30:00.000Z',
      outcome: 'passed', failure: null, steps: [],
      measured: { rtoMinutes: 30, rpoMinutes: 20.5, restoredDataAt: null, validatedAt: null }, objectives: { rtoMinutes: 60, rpoMinutes: 240 }, met: { rto: true, rpo: true },
    };
    await run({ action: 'record-evidence', plan: 'orders-restore', executionId: EXECUTION }, async () => evidence);
    const [event] = await events();
    expect(event).toMatchObject({
      type: 'drill-evidence',
      outcome: 'succeeded',
      plan: 'orders-restore',
      executionId: EXECUTION,
      details: { evidenceKey: 'evidence/orders-restore/drill-42.json', mode: 'drill', outcome: 'passed', measured: { rtoMinutes: 30, rpoMinutes: 20.5 }, objectives: { rtoMinutes: 60, rpoMinutes: 240 }, met: { rto: true, rpo: true } },
    });
  });

  it('validate, notify and clean-up record nothing of their own (the evidence holds them)', async () => {
    await run({ ...runStep('validate'), stepId: 'check' }, async () => record('validate', 'succeeded', {}));
    await run({ ...runStep('notify'), stepId: 'tell' }, async () => record('notify', 'succeeded', {}));
    await run({ action: 'cleanup', plan: 'orders-restore', suffix: 'd42' }, async () => ({ plan: 'orders-restore', suffix: 'd42', databases: [], instances: [], clusters: [] }));
    expect(await events()).toEqual([]);
  });
});
