/**
 * What a DR step task leaves in the vault and the plan reads back (functions/dr-step/taskStep.ts, stepOutcome.ts):
 * the record of a step that succeeded, the named error of one that failed, and a clear error when nothing was left.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DrStepDeps } from '../../../functions/dr-step/deps.ts';
import { readStepRecord, StepRecordMissingError } from '../../../functions/dr-step/stepOutcome.ts';
import { runDrStepTask } from '../../../functions/dr-step/taskStep.ts';
import { InvalidIdentifierError } from '../../../functions/lib/errors.ts';
import { stepRecordKey } from '../../../functions/lib/vault/layout.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';

const EXECUTION_ID = 'arn:aws:states:eu-west-1:123456789012:execution:lifeboat-plan-orders:real-7f3a9c2e';
const read = { action: 'read-step-record' as const, plan: 'orders', stepId: 'restore', executionId: EXECUTION_ID };

describe('DR step outcomes left by Fargate tasks', () => {
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let deps: DrStepDeps;
  beforeEach(async () => {
    vault = await tempVault();
    const unused = { send: async () => { throw new Error('not called'); } };
    deps = {
      sources: [{ id: 'orders-db', engine: 'postgresql', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-Ab12Cd', rds: { type: 'instance', identifier: 'orders' } }],
      servers: {},
      planTopics: {},
      secrets: unused,
      sns: unused,
      regions: { primary: { name: 'eu-west-1', rds: unused, store: vault.store, keyring: testKeyring() } },
    };
  });
  afterEach(async () => vault.remove());

  it('keys a step\'s outcome under its execution, and refuses a step id that could name another key', () => {
    expect(stepRecordKey('orders', 'real-7f3a9c2e', 'restore')).toBe('evidence/orders/real-7f3a9c2e/steps/restore.json');
    expect(() => stepRecordKey('orders', 'real-7f3a9c2e', '../x')).toThrow(InvalidIdentifierError);
  });

  it('records a failed step\'s error by name, scrubbed, and raises it again on read; the task still fails', async () => {
    // The source has no verified dump in this vault: the restore fails with NoRecoveryPointError.
    const event = { action: 'run-step', plan: 'orders', stepId: 'restore', kind: 'restore-dump', mode: 'real', suffix: '7f3a9c2e', executionId: EXECUTION_ID, parameters: { source: 'orders-db', target: { host: 'db.internal', port: 5432, database: 'orders', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-Ab12Cd' } } };
    const failure = await runDrStepTask(event, deps).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    const left = JSON.parse((await vault.store.getObject(stepRecordKey('orders', 'real-7f3a9c2e', 'restore'))).toString('utf8'));
    expect(left).toEqual({ outcome: 'failed', error: { name: (failure as Error).name, message: (failure as Error).message } });
    await expect(readStepRecord(read, deps)).rejects.toMatchObject({ name: (failure as Error).name, message: (failure as Error).message });
  });

  it('returns the record a task left, and names the step when its task left nothing', async () => {
    await expect(readStepRecord(read, deps)).rejects.toThrow(StepRecordMissingError);
    await expect(readStepRecord(read, deps)).rejects.toThrow("Step 'restore' of plan orders: its Fargate task ended without recording an outcome");
    const record = { stepId: 'restore', kind: 'restore-dump', status: 'succeeded', startedAt: '2026-11-22T06:00:00.000Z', endedAt: '2026-11-22T06:50:00.000Z', result: { backupId: 'b' } };
    await vault.store.putObject(stepRecordKey('orders', 'real-7f3a9c2e', 'restore'), JSON.stringify({ outcome: 'succeeded', record }));
    await expect(readStepRecord(read, deps)).resolves.toEqual(record);
  });

  it('runs other actions as the Lambda does, leaving nothing', async () => {
    const cleanup = await runDrStepTask({ action: 'read-step-record', plan: 'orders', stepId: 'restore', executionId: EXECUTION_ID }, deps).catch((error: Error) => error.name);
    expect(cleanup).toBe('StepRecordMissingError');
    const keys: string[] = [];
    for await (const key of vault.store.list('evidence/')) keys.push(key);
    expect(keys).toEqual([]);
  });
});
