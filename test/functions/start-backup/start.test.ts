import 'aws-sdk-client-mock-vitest/extend';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionLimitExceeded,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { BackupConflictError, ConfigError } from '../../../functions/lib/errors.ts';
import {
  EXECUTION_NAME_PATTERN,
  executionArnFor,
  executionName,
  startBackup,
  type StartBackupDeps,
} from '../../../functions/start-backup/start.ts';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:lifeboat-backup';
const NOW = new Date('2026-11-29T09:30:12.345Z');
const SCHEDULED = '2026-11-29T01:00:00Z';

const sfnClient = new SFNClient({ region: 'eu-west-1' });
const sfn = mockClient(sfnClient);

function deps(overrides: Partial<StartBackupDeps> = {}): StartBackupDeps {
  return { sfn: sfnClient, stateMachineArn: STATE_MACHINE, sourceIds: ['orders-db', 'ledger'], now: () => NOW, random: () => 'k3x7', ...overrides };
}

function alreadyExists(): ExecutionAlreadyExists {
  return new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });
}

/** The input of every StartExecution the client received, exactly. */
function startCalls() {
  return sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
}

beforeEach(() => {
  sfn.reset();
});

describe('startBackup', () => {
  it('starts a scheduled backup under a name made from the scheduled time alone', async () => {
    sfn.on(StartExecutionCommand).resolves({
      executionArn: `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:orders-db-20261129T010000Z-schedule`,
      startDate: new Date('2026-11-29T01:00:02.120Z'),
    });

    const result = await startBackup({ sourceId: 'orders-db', trigger: 'schedule', scheduledTime: SCHEDULED }, deps());

    expect(startCalls()).toEqual([
      {
        stateMachineArn: STATE_MACHINE,
        name: 'orders-db-20261129T010000Z-schedule',
        input: '{"sourceId":"orders-db","trigger":"schedule","scheduledTime":"2026-11-29T01:00:00Z"}',
      },
    ]);
    expect(result).toEqual({
      sourceId: 'orders-db',
      trigger: 'schedule',
      executionName: 'orders-db-20261129T010000Z-schedule',
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:orders-db-20261129T010000Z-schedule',
      startDate: '2026-11-29T01:00:02.120Z',
      alreadyStarted: false,
    });
  });

  it('starts a manual backup (the default trigger) under the current time and a random suffix', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x`, startDate: NOW });

    const result = await startBackup({ sourceId: 'ledger' }, deps());

    expect(startCalls()).toEqual([
      { stateMachineArn: STATE_MACHINE, name: 'ledger-20261129T093012Z-manual-k3x7', input: '{"sourceId":"ledger","trigger":"manual"}' },
    ]);
    expect(result).toMatchObject({ trigger: 'manual', executionName: 'ledger-20261129T093012Z-manual-k3x7', alreadyStarted: false });
  });

  it('gives two manual starts in the same second different names with the default random suffix', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x`, startDate: NOW });
    const { random: _fixed, ...defaults } = deps();

    await startBackup({ sourceId: 'ledger', trigger: 'manual' }, defaults);
    await startBackup({ sourceId: 'ledger', trigger: 'manual' }, defaults);

    const names = startCalls().map((input) => input.name!);
    for (const name of names) expect(name).toMatch(/^ledger-20261129T093012Z-manual-[a-z2-7]{4}$/);
    // 32^4 suffixes: a collision here fails about once in a million runs.
    expect(names[0]).not.toBe(names[1]);
  });

  it('treats a repeated Scheduler delivery as already started: describes the existing execution, starts nothing new', async () => {
    const existingArn = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:orders-db-20261129T010000Z-schedule';
    sfn.on(StartExecutionCommand).rejects(alreadyExists());
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: existingArn, status: 'SUCCEEDED', startDate: new Date('2026-11-29T01:00:02.120Z') });

    const result = await startBackup({ sourceId: 'orders-db', trigger: 'schedule', scheduledTime: SCHEDULED }, deps());

    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([{ executionArn: existingArn }]);
    expect(result).toEqual({
      sourceId: 'orders-db',
      trigger: 'schedule',
      executionName: 'orders-db-20261129T010000Z-schedule',
      executionArn: existingArn,
      startDate: '2026-11-29T01:00:02.120Z',
      alreadyStarted: true,
    });
  });

  it('sends the same name and byte-identical input for every delivery of one scheduled time, whenever it arrives', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x`, startDate: NOW });
    const event = { sourceId: 'orders-db', trigger: 'schedule', scheduledTime: SCHEDULED };

    await startBackup(event, deps({ now: () => new Date('2026-11-29T01:00:01Z'), random: () => 'aaaa' }));
    await startBackup(event, deps({ now: () => new Date('2026-11-29T01:07:44Z'), random: () => 'zzzz' }));

    const [first, second] = startCalls();
    expect(second).toEqual(first);
  });

  it('refuses a manual start whose name already exists, with BackupConflictError', async () => {
    sfn.on(StartExecutionCommand).rejects(alreadyExists());

    const error = await startBackup({ sourceId: 'orders-db', trigger: 'manual' }, deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BackupConflictError);
    expect(error).toMatchObject({ name: 'BackupConflictError', message: expect.stringContaining('orders-db-20261129T093012Z-manual-k3x7') });
    expect((error as Error).cause).toBeInstanceOf(ExecutionAlreadyExists);
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });

  it('lets any other Step Functions error out with its own name', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionLimitExceeded({ message: 'too many', $metadata: {} }));

    await expect(startBackup({ sourceId: 'orders-db', trigger: 'schedule', scheduledTime: SCHEDULED }, deps())).rejects.toMatchObject({
      name: 'ExecutionLimitExceeded',
    });
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });

  it('refuses a source this deployment does not back up, naming the known ones, and starts nothing', async () => {
    const error = await startBackup({ sourceId: 'billing', trigger: 'manual' }, deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe("sourceId: unknown source 'billing'; this deployment backs up orders-db, ledger");
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('starts any well-formed source when no list of sources is given', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x`, startDate: NOW });
    const { sourceIds: _all, ...withoutSources } = deps();

    await startBackup({ sourceId: 'billing' }, withoutSources);

    expect(startCalls()).toEqual([
      { stateMachineArn: STATE_MACHINE, name: 'billing-20261129T093012Z-manual-k3x7', input: '{"sourceId":"billing","trigger":"manual"}' },
    ]);
  });

  it('passes only sourceId, trigger and scheduledTime to the state machine', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:x`, startDate: NOW });

    await startBackup({ sourceId: 'ledger', trigger: 'manual', scheduledTime: SCHEDULED, backupId: 'x', extra: { a: 1 } }, deps());

    expect(startCalls()[0]!.input).toBe('{"sourceId":"ledger","trigger":"manual","scheduledTime":"2026-11-29T01:00:00Z"}');
  });

  describe('refuses a bad event with ConfigError naming each bad field, and starts nothing', () => {
    it.each([
      ['no sourceId', { trigger: 'manual' }, [/sourceId: /]],
      ['an upper-case sourceId', { sourceId: 'Orders' }, [/sourceId: must be 1-40 characters/]],
      ['a 41-character sourceId', { sourceId: 'a'.repeat(41) }, [/sourceId: must be 1-40 characters/]],
      ['a sourceId with a colon', { sourceId: 'orders:db' }, [/sourceId: must be 1-40 characters/]],
      ['an unknown trigger', { sourceId: 'orders-db', trigger: 'cron' }, [/trigger: /]],
      ['a schedule without scheduledTime', { sourceId: 'orders-db', trigger: 'schedule' }, [/scheduledTime: is required when trigger is "schedule"/]],
      ['a scheduledTime with an offset', { sourceId: 'orders-db', trigger: 'schedule', scheduledTime: '2026-11-29T02:00:00+01:00' }, [/scheduledTime: must be an ISO 8601 UTC timestamp/]],
      ['a scheduledTime on 30 February', { sourceId: 'orders-db', trigger: 'schedule', scheduledTime: '2026-02-30T01:00:00Z' }, [/scheduledTime: must be an ISO 8601 UTC timestamp/]],
      ['a scheduledTime that is not a time', { sourceId: 'orders-db', trigger: 'schedule', scheduledTime: 'tomorrow' }, [/scheduledTime: must be an ISO 8601 UTC timestamp/]],
      ['two bad fields', { sourceId: 'Orders', trigger: 'cron' }, [/sourceId: /, /trigger: /]],
      ['not an object', 'orders-db', [/\(event\): /]],
    ] as const)('%s', async (_label, event, fields) => {
      const error = await startBackup(event, deps()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/^Invalid start-backup event: /);
      for (const field of fields) expect((error as Error).message).toMatch(field);
      expect(sfn).not.toHaveReceivedAnyCommand();
    });
  });
});

describe('executionName', () => {
  const random = () => 'q2ab';

  it('truncates a scheduled time to the second, in UTC', () => {
    expect(executionName({ sourceId: 'orders-db', trigger: 'schedule', scheduledTime: '2026-02-28T23:59:59.999Z' }, NOW, random)).toBe(
      'orders-db-20260228T235959Z-schedule',
    );
  });

  it('refuses a random suffix that is not 4 base32 characters', () => {
    expect(() => executionName({ sourceId: 'orders-db', trigger: 'manual' }, NOW, () => 'AB:1')).toThrow(/not 4 lowercase base32 characters/);
    expect(() => executionName({ sourceId: 'orders-db', trigger: 'manual' }, NOW, () => 'ab')).toThrow(/not 4 lowercase base32 characters/);
  });

  it('is at most 80 characters of 0-9A-Za-z-_ for every source id, time and suffix (seeded sweep)', () => {
    let seed = 20261129;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const pick = (alphabet: string, length: number) => Array.from({ length }, () => alphabet[next() % alphabet.length]).join('');
    const forbidden = /[\s:<>{}[\]?*"#%\\^|~`$&,;/]/;
    const from = Date.UTC(1970, 0, 1);
    const to = Date.UTC(9999, 11, 31, 23, 59, 59);
    const sourceIds = ['a', 'a'.repeat(40), `z${'9'.repeat(39)}`, 'orders-db'];
    for (let i = 0; i < 2000; i++) sourceIds.push(`${pick('abcdefghijklmnopqrstuvwxyz', 1)}${pick('abcdefghijklmnopqrstuvwxyz0123456789-', next() % 40)}`);

    for (const sourceId of sourceIds) {
      const at = new Date(from + (next() % 2 ** 20) * Math.floor((to - from) / 2 ** 20));
      const names = [
        executionName({ sourceId, trigger: 'schedule', scheduledTime: at.toISOString() }, NOW, random),
        executionName({ sourceId, trigger: 'manual' }, at, () => pick('abcdefghijklmnopqrstuvwxyz234567', 4)),
      ];
      for (const name of names) {
        expect(name.length, name).toBeLessThanOrEqual(80);
        expect(name, name).toMatch(EXECUTION_NAME_PATTERN);
        expect(name, name).not.toMatch(forbidden);
        expect(name.startsWith(`${sourceId}-`), name).toBe(true);
      }
    }
  });
});

describe('executionArnFor', () => {
  it.each([
    [STATE_MACHINE, 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:n1'],
    ['arn:aws-cn:states:cn-north-1:111122223333:stateMachine:lifeboat-backup', 'arn:aws-cn:states:cn-north-1:111122223333:execution:lifeboat-backup:n1'],
    ['arn:aws:states:eu-west-1:111122223333:stateMachine:lifeboat-backup:prod', 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:n1'],
  ])('%s → %s', (stateMachineArn, expected) => {
    expect(executionArnFor(stateMachineArn, 'n1')).toBe(expected);
  });

  it('refuses anything that is not a state machine ARN', () => {
    expect(() => executionArnFor('lifeboat-backup', 'n1')).toThrow(ConfigError);
    expect(() => executionArnFor('arn:aws:states:eu-west-1:111122223333:activity:x', 'n1')).toThrow(/not a Step Functions state machine ARN/);
  });
});
