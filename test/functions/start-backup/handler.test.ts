// The start-backup Lambda as Lambda loads it: environment read once at import, the SFN client at module scope
// (mocked here for every instance of its class), Powertools metrics and logs on stdout.
import 'aws-sdk-client-mock-vitest/extend';
import { DescribeExecutionCommand, ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { useHandlerEnvironment } from '../handlerHarness.ts';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:lifeboat-backup';
const ENV = {
  BACKUP_STATE_MACHINE_ARN: STATE_MACHINE,
  LIFEBOAT_SOURCE_IDS: JSON.stringify(['orders-db', 'ledger']),
  AWS_REGION: 'eu-west-1',
  POWERTOOLS_SERVICE_NAME: 'lifeboat-start-backup',
  POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
};
const NAME = 'orders-db-20261129T010000Z-schedule';
const EXECUTION = `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:${NAME}`;
const SCHEDULED = { sourceId: 'orders-db', trigger: 'schedule', scheduledTime: '2026-11-29T01:00:00Z' };
const context = { functionName: 'lifeboat-start-backup', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:lifeboat-start-backup' } as Context;

const sfn = mockClient(SFNClient);
const { metrics } = useHandlerEnvironment(ENV);

beforeEach(() => {
  sfn.reset();
});

const load = async () => (await import('../../../functions/start-backup/handler.ts')).handler;

describe('the start-backup handler', () => {
  it('fails at load naming every missing variable', async () => {
    vi.stubEnv('BACKUP_STATE_MACHINE_ARN', '');
    vi.stubEnv('LIFEBOAT_SOURCE_IDS', '');

    await expect(load()).rejects.toThrow('Missing environment variables: BACKUP_STATE_MACHINE_ARN, LIFEBOAT_SOURCE_IDS');
  });

  it.each([
    ['not JSON', 'orders-db', /LIFEBOAT_SOURCE_IDS: not valid JSON/],
    ['an empty list', '[]', /LIFEBOAT_SOURCE_IDS: \(root\): /],
    ['a bad id', '["orders-db","Ledger"]', /LIFEBOAT_SOURCE_IDS: 1: must be 1-40 characters/],
  ])('fails at load with ConfigError when LIFEBOAT_SOURCE_IDS is %s', async (_label, value, expected) => {
    vi.stubEnv('LIFEBOAT_SOURCE_IDS', value);

    await expect(load()).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(expected) });
  });

  it('fails at load when BACKUP_STATE_MACHINE_ARN is not a state machine ARN', async () => {
    vi.stubEnv('BACKUP_STATE_MACHINE_ARN', 'lifeboat-backup');

    await expect(load()).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/^BACKUP_STATE_MACHINE_ARN: /) });
  });

  it('starts the configured state machine and emits BackupStarted for the source', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date('2026-11-29T01:00:02Z') });
    const handler = await load();

    const result = await handler(SCHEDULED, context);

    expect(result).toMatchObject({ executionName: NAME, executionArn: EXECUTION, alreadyStarted: false });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: STATE_MACHINE, name: NAME });
    expect(metrics()).toContainEqual(expect.objectContaining({ sourceId: 'orders-db', BackupStarted: 1 }));
  });

  it('counts nothing for a repeated delivery', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION, status: 'RUNNING', startDate: new Date('2026-11-29T01:00:02Z') });
    const handler = await load();

    const result = await handler(SCHEDULED, context);

    expect(result).toMatchObject({ executionArn: EXECUTION, alreadyStarted: true });
    expect(metrics().filter((document) => 'BackupStarted' in document)).toEqual([]);
  });

  it('refuses a source outside LIFEBOAT_SOURCE_IDS with ConfigError and starts nothing', async () => {
    const handler = await load();

    await expect(handler({ sourceId: 'billing', trigger: 'manual' }, context)).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringContaining('orders-db, ledger'),
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});
