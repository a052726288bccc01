/**
 * record-evidence: RTO and RPO computed from step records with known times, the `met` flags, the object
 * written to the vault at evidence/<plan>/<execution name>.json, and the exact summary sent to the contacts.
 * Also the vault layout's evidence key.
 */
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { authenticateDrEvidence, drEvidenceMacMessage } from '../../../functions/lib/plans/evidenceMac.ts';
import 'aws-sdk-client-mock-vitest/extend';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import type { Evidence } from '../../../functions/dr-step/evidence.ts';
import { AlertPublishFailedError, InvalidIdentifierError } from '../../../functions/lib/errors.ts';
import { EVIDENCE_PREFIX, evidenceKey, parseBackupKey } from '../../../functions/lib/vault/layout.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { PLAN, REGION, TOPIC, executionIdFor, newSuffix } from './support.ts';

const START = '2026-03-02T06:00:00.000Z';
const NOW = new Date('2026-03-02T06:44:10.000Z');
const OBJECTIVES = { rtoMinutes: 60, rpoMinutes: 240 };
const CONTACTS = [{ name: 'Ana Lima', email: 'ana@example.com' }];

const target = { host: '10.0.4.21', port: 5432, database: 'orders_drill_x', engine: 'postgresql', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:v-Ab12Cd' };
const restore = {
  stepId: 'restore',
  kind: 'restore-dump',
  status: 'succeeded',
  startedAt: '2026-03-02T06:20:00.000Z',
  endedAt: '2026-03-02T06:35:00.000Z',
  // 1 h 35 min 12 s before the start: an RPO of 95.2 minutes.
  result: { sourceId: 'orders-db', region: 'primary', backupId: '20260302T041500Z-k3x7q2ab', backupCompletedAt: '2026-03-02T04:24:48.000Z', restoredDataAt: '2026-03-02T04:24:48.000Z', target, drill: true },
};
const check = {
  stepId: 'check',
  kind: 'validate',
  status: 'succeeded',
  startedAt: '2026-03-02T06:35:00.000Z',
  // 41 min 30 s after the start: an RTO of 41.5 minutes.
  endedAt: '2026-03-02T06:41:30.000Z',
  result: { validatedStep: 'restore', target: { host: '10.0.4.21', port: 5432, database: 'orders_drill_x' }, tables: [], sqlChecks: [{ sql: 'SELECT true', status: 'passed' }] },
};
const tell = {
  stepId: 'tell',
  kind: 'notify',
  status: 'succeeded',
  startedAt: '2026-03-02T06:41:30.000Z',
  endedAt: '2026-03-02T06:42:00.000Z',
  result: { topicArn: TOPIC, messageId: 'm-1', drill: true },
};

describe('record-evidence', () => {
  const sns = mockClient(SNSClient);
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let deps: DrStepDeps;

  beforeAll(async () => {
    vault = await tempVault();
    deps = {
      sources: [],
      regions: { primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: vault.store, keyring: testKeyring() } },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: {},
      planTopics: { [PLAN]: TOPIC },
      now: () => NOW,
    };
  });
  afterAll(() => vault?.remove());
  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'summary-1' });
  });

  const event = (suffix: string, overrides: Record<string, unknown> = {}) => ({
    action: 'record-evidence',
    plan: PLAN,
    mode: 'drill',
    executionId: executionIdFor(suffix),
    startedAt: START,
    levels: { L1: { restore }, L2: { check }, L3: { tell } },
    failure: null,
    objectives: OBJECTIVES,
    contacts: CONTACTS,
    ...overrides,
  });

  it('measures RTO to the end of the last validate and RPO from the restored backup, writes the evidence, and publishes the exact summary', async () => {
    const suffix = newSuffix();

    const evidence = (await handleDrStepEvent(event(suffix), deps)) as Evidence;

    const expected: Evidence = {
      format: 'lifeboat-dr-evidence',
      formatVersion: '1.0',
      plan: PLAN,
      mode: 'drill',
      executionId: executionIdFor(suffix),
      startedAt: START,
      endedAt: NOW.toISOString(),
      outcome: 'passed',
      failure: null,
      steps: [restore, check, tell],
      measured: { rtoMinutes: 41.5, rpoMinutes: 95.2, restoredDataAt: '2026-03-02T04:24:48.000Z', validatedAt: '2026-03-02T06:41:30.000Z' },
      objectives: OBJECTIVES,
      met: { rto: true, rpo: true },
    };
    expect(evidence).toEqual(expected);
    const key = `evidence/${PLAN}/drill-${suffix}.json`;
    expect(JSON.parse((await vault.store.getObject(key)).toString('utf8'))).toEqual(expected);
    // Evidence is not a backup: the catalog never lists it.
    expect(await listBackups(vault.store)).toEqual([]);

    const message = [
      `[DRILL] Lifeboat DR plan ${PLAN}: drill passed.`,
      '',
      `Plan:       ${PLAN}`,
      'Mode:       drill (restored into drill copies, nothing promoted; removed at clean-up)',
      'Outcome:    passed',
      `Execution:  ${executionIdFor(suffix)}`,
      `Started:    ${START}`,
      `Ended:      ${NOW.toISOString()}`,
      '',
      'Measured against the objectives:',
      '  RTO  41.5 min (objective 60 min): met',
      '  RPO  95.2 min (objective 240 min): met',
      '  Restored data from 2026-03-02T04:24:48.000Z',
      '  Validated at      2026-03-02T06:41:30.000Z',
      '',
      'Steps:',
      '  restore  restore-dump  succeeded  2026-03-02T06:20:00.000Z -> 2026-03-02T06:35:00.000Z (15.0 min)',
      '  check    validate      succeeded  2026-03-02T06:35:00.000Z -> 2026-03-02T06:41:30.000Z (6.5 min)',
      '  tell     notify        succeeded  2026-03-02T06:41:30.000Z -> 2026-03-02T06:42:00.000Z (0.5 min)',
      '',
      `Evidence: ${vault.store.location}/${key}`,
      '',
      '-- ',
      `Sent by Lifeboat to the contacts of DR plan ${PLAN}.`,
      '',
    ].join('\n');
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input).toEqual({
      TopicArn: TOPIC,
      Subject: `[DRILL] Lifeboat plan ${PLAN} passed: RTO 41.5/60 min, RPO 95.2/240 min`,
      Message: message,
      MessageAttributes: { plan: { DataType: 'String', StringValue: PLAN }, severity: { DataType: 'String', StringValue: 'INFO' } },
    });
  });

  it('with the DR evidence key, writes the evidence signed (format 1.1), and a reader with the key counts it', async () => {
    const suffix = newSuffix();
    const drEvidenceKey = localHmacSigner(Buffer.alloc(32, 7));

    const evidence = (await handleDrStepEvent(event(suffix), { ...deps, drEvidenceKey })) as Evidence;

    const key = `evidence/${PLAN}/drill-${suffix}.json`;
    const stored = JSON.parse((await vault.store.getObject(key)).toString('utf8')) as Record<string, unknown>;
    expect(stored).toEqual(evidence);
    expect(stored).toMatchObject({ formatVersion: '1.1', outcome: 'passed', mac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(await drEvidenceKey.verify(drEvidenceMacMessage(stored), stored['mac'] as string)).toBe(true);
    expect(await authenticateDrEvidence(stored, key, drEvidenceKey)).toEqual({ authentic: true });
  });

  it("keeps a gated step's decision in its evidence record", async () => {
    const approval = { approved: true, approver: 'Ana Lima', comment: 'go', decidedAt: '2026-03-02T06:19:00.000Z' };

    const evidence = (await handleDrStepEvent(event(newSuffix(), { levels: { L1: { restore: { ...restore, approval } } } }), deps)) as Evidence;

    expect(evidence.steps).toEqual([{ ...restore, approval }]);
  });

  it('met compares each measure with its objective', async () => {
    const evidence = (await handleDrStepEvent(event(newSuffix(), { objectives: { rtoMinutes: 41, rpoMinutes: 96 } }), deps)) as Evidence;
    expect(evidence.met).toEqual({ rto: false, rpo: true });

    const other = (await handleDrStepEvent(event(newSuffix(), { objectives: { rtoMinutes: 42, rpoMinutes: 95 } }), deps)) as Evidence;
    expect(other.met).toEqual({ rto: true, rpo: false });
  });

  it('several restores: RPO is the worst; without a validate, RTO ends with the last restore (a polled record keeps no polling state)', async () => {
    const snapshotRestore = {
      stepId: 'snap',
      kind: 'restore-snapshot',
      status: 'succeeded',
      startedAt: '2026-03-02T06:20:00.000Z',
      endedAt: '2026-03-02T06:52:00.000Z',
      result: { identifier: 'orders-recovered-drill-x', endpoint: 'e', port: 5432, restoredDataAt: '2026-03-02T05:00:00.000Z' },
      step: { status: 'available', resource: { type: 'instance', identifier: 'orders-recovered-drill-x' } },
    };

    const evidence = (await handleDrStepEvent(event(newSuffix(), { levels: { L1: { restore, snap: snapshotRestore } } }), deps)) as Evidence;

    expect(evidence.measured).toEqual({ rtoMinutes: 52, rpoMinutes: 95.2, restoredDataAt: '2026-03-02T04:24:48.000Z', validatedAt: null });
    expect(evidence.steps[1]).toEqual({
      stepId: 'snap',
      kind: 'restore-snapshot',
      status: 'succeeded',
      startedAt: '2026-03-02T06:20:00.000Z',
      endedAt: '2026-03-02T06:52:00.000Z',
      result: snapshotRestore.result,
    });
    expect(evidence.met).toEqual({ rto: true, rpo: true });
  });

  it('a failed run meets neither objective, records the error and the message of its cause (never a stack), and alerts at ERROR', async () => {
    const suffix = newSuffix();
    const cause = JSON.stringify({
      errorType: 'ValidationFailedError',
      errorMessage: "Step 'check' found the database restored by 'restore' wrong: table public.orders has 117 rows, the manifest says 120",
      trace: ['ValidationFailedError: …', '    at runValidateStep (/var/task/index.mjs:1:2)'],
    });

    const evidence = (await handleDrStepEvent(
      event(suffix, { mode: 'real', levels: { L1: { restore } }, failure: { Error: 'ValidationFailedError', Cause: cause } }),
      deps,
    )) as Evidence;

    expect(evidence).toMatchObject({
      mode: 'real',
      outcome: 'failed',
      failure: { error: 'ValidationFailedError', cause: "Step 'check' found the database restored by 'restore' wrong: table public.orders has 117 rows, the manifest says 120" },
      measured: { rtoMinutes: 35, rpoMinutes: 95.2 },
      met: { rto: false, rpo: false },
    });
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe(`Lifeboat plan ${PLAN} failed: RTO 35.0/60 min, RPO 95.2/240 min`);
    expect(input.MessageAttributes).toEqual({ plan: { DataType: 'String', StringValue: PLAN }, severity: { DataType: 'String', StringValue: 'ERROR' } });
    expect(input.Message).toContain(
      "\nFailure: ValidationFailedError\n  Step 'check' found the database restored by 'restore' wrong: table public.orders has 117 rows, the manifest says 120\n",
    );
    expect(input.Message).toContain('  RTO  35.0 min (objective 60 min): NOT met\n');
    expect(input.Message).not.toContain('index.mjs');
  });

  it('skipped steps measure nothing: a drill whose every recovery was skipped passes its steps but measures no RTO or RPO, and meets neither', async () => {
    const skipped = (stepId: string, kind: string) => ({
      stepId,
      kind,
      status: 'skipped',
      startedAt: '2026-03-02T06:01:00.000Z',
      endedAt: '2026-03-02T06:01:00.000Z',
      result: { wouldHave: 'restore it', skippedBy: 'lifeboat drill --local', restoredDataAt: '2026-03-02T05:59:00.000Z' },
    });

    const evidence = (await handleDrStepEvent(event(newSuffix(), { levels: { L1: { snap: skipped('snap', 'restore-snapshot') }, L2: { promote: skipped('promote', 'promote-replica') } } }), deps)) as Evidence;

    expect(evidence).toMatchObject({ outcome: 'passed', measured: { rtoMinutes: null, rpoMinutes: null, restoredDataAt: null, validatedAt: null }, met: { rto: false, rpo: false } });
    // Beside a restore that ran, a skipped promotion does not stretch the RTO either.
    const withRestore = (await handleDrStepEvent(event(newSuffix(), { levels: { L1: { restore }, L2: { promote: { ...skipped('promote', 'promote-replica'), endedAt: '2026-03-02T06:50:00.000Z' } } } }), deps)) as Evidence;
    expect(withRestore.measured).toMatchObject({ rtoMinutes: 35, rpoMinutes: 95.2 });
  });

  it('nothing restored (a failure before any level ended): no measures, neither objective met', async () => {
    const evidence = (await handleDrStepEvent(
      event(newSuffix(), { levels: undefined, failure: { Error: 'ApprovalRejectedError', Cause: 'Rejected by Ana Lima' } }),
      deps,
    )) as Evidence;

    expect(evidence).toMatchObject({
      outcome: 'failed',
      failure: { error: 'ApprovalRejectedError', cause: 'Rejected by Ana Lima' },
      steps: [],
      measured: { rtoMinutes: null, rpoMinutes: null, restoredDataAt: null, validatedAt: null },
      met: { rto: false, rpo: false },
    });
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input.Subject).toBe(`[DRILL] Lifeboat plan ${PLAN} failed: RTO -/60 min, RPO -/240 min`);
  });

  it('the evidence is written before the summary: SNS refusing it is a retryable AlertPublishFailedError, the evidence stays', async () => {
    const suffix = newSuffix();
    sns.on(PublishCommand).rejects(new Error('Rate exceeded'));

    await expect(handleDrStepEvent(event(suffix), deps)).rejects.toThrow(AlertPublishFailedError);
    expect(await vault.store.head(`evidence/${PLAN}/drill-${suffix}.json`)).toBeDefined();
  });
});

describe('evidenceKey (vault layout)', () => {
  it('puts an execution under evidence/<plan>/<execution name>.json, outside backups/', () => {
    expect(evidenceKey('orders-restore', 'drill-7f3a9c2e')).toBe('evidence/orders-restore/drill-7f3a9c2e.json');
    expect(evidenceKey('orders-restore', '3f1c9a2e-5b7d-4e21-9a0c-1d2e3f4a5b6c')).toBe('evidence/orders-restore/3f1c9a2e-5b7d-4e21-9a0c-1d2e3f4a5b6c.json');
    expect(EVIDENCE_PREFIX).toBe('evidence/');
    expect(parseBackupKey(evidenceKey('orders-restore', 'run_1'))).toBeUndefined();
  });

  it('refuses a plan or execution name that is not one, or that could name another key', () => {
    expect(() => evidenceKey('Orders', 'run-1')).toThrow(InvalidIdentifierError);
    expect(() => evidenceKey('../backups', 'run-1')).toThrow(InvalidIdentifierError);
    for (const name of ['..', '.', 'a/b', 'a b', '', 'a:b', 'tab\there']) {
      expect(() => evidenceKey('orders-restore', name), name).toThrow(new InvalidIdentifierError(`"${name}" is not a Step Functions execution name`));
    }
    expect(() => evidenceKey('orders-restore', 'x'.repeat(81))).toThrow(/^"x{77}\.\.\." is not a Step Functions execution name$/);
  });
});
