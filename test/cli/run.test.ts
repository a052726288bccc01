// `lifeboat run`: the in-process CLI against a mocked Step Functions client, with exact commands.
import 'aws-sdk-client-mock-vitest/extend';
import {
  DescribeExecutionCommand,
  ExecutionLimitExceeded,
  ListStateMachinesCommand,
  
  StartExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { errorLine, lifeboat, mockedStepFunctions, type RunOptions } from './support.ts';

const ACCOUNT = '111122223333';
const ARN = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:lifeboat-backup`;
const MANUAL_NAME = /^orders-db-\d{8}T\d{6}Z-manual-[a-z2-7]{4}$/;
const executionArn = (name: string) => `arn:aws:states:eu-west-1:${ACCOUNT}:execution:lifeboat-backup:${name}`;

const { sfn, deps, recorded, startInputs, stateMachine } = mockedStepFunctions(ACCOUNT);

const run = (argv: readonly string[], options: Omit<RunOptions, 'deps'> = {}) => lifeboat(['run', ...argv], { ...options, deps });
/** The name the CLI chose (the current time and a random suffix) and the ARN Step Functions gave it. */
const started = () => {
  const name = startInputs()[0]!.name!;
  return { name, arn: executionArn(name) };
};

beforeEach(() => {
  sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: executionArn(input.name), startDate: new Date('2026-11-29T09:30:12.500Z') }));
});

describe('lifeboat run', () => {
  it('starts a manual backup on the state machine ARN given and prints the execution ARN alone', async () => {
    const result = await run(['orders-db', '--state-machine', ARN]);

    expect(result).toEqual({ code: ExitCode.ok, stdout: `${started().arn}\n`, stderr: '' });
    const inputs = startInputs();
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toEqual({ stateMachineArn: ARN, name: expect.stringMatching(MANUAL_NAME), input: '{"sourceId":"orders-db","trigger":"manual"}' });
    expect(sfn).not.toHaveReceivedCommand(ListStateMachinesCommand);
    // The ARN's Region, for a client that must call that Region.
    expect(recorded.regions).toEqual(['eu-west-1']);
  });

  it('prints a console link on a terminal, on stderr, so stdout stays the ARN', async () => {
    const result = await run(['orders-db', '--state-machine', ARN], { tty: true });

    const { name, arn } = started();
    expect(result.stdout).toBe(`${arn}\n`);
    expect(result.stderr).toBe(`Started ${name}: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arn}\n`);
  });

  it('resolves the default name, lifeboat-backup, through every page of ListStateMachines', async () => {
    sfn
      .on(ListStateMachinesCommand, {})
      .resolves({ stateMachines: [stateMachine('lifeboat-restore-test'), stateMachine('lifeboat-backup-old')], nextToken: 'page-2' })
      .on(ListStateMachinesCommand, { nextToken: 'page-2' })
      .resolves({ stateMachines: [stateMachine('orders-etl'), stateMachine('lifeboat-backup')], nextToken: 'page-3' });

    const result = await run(['orders-db', '--region', 'eu-west-1']);

    expect(result.code).toBe(ExitCode.ok);
    expect(sfn.commandCalls(ListStateMachinesCommand).map((call) => call.args[0].input)).toEqual([{}, { nextToken: 'page-2' }]);
    expect(startInputs()[0]).toMatchObject({ stateMachineArn: ARN });
    expect(recorded.regions).toEqual(['eu-west-1']);
  });

  it('takes the name from LIFEBOAT_STATE_MACHINE and the Region from the SDK chain by default', async () => {
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [stateMachine('lifeboat-backup'), stateMachine('prod-backup')] });

    const result = await run(['orders-db'], { env: { LIFEBOAT_STATE_MACHINE: 'prod-backup' } });

    expect(result.code).toBe(ExitCode.ok);
    expect(startInputs()[0]).toMatchObject({ stateMachineArn: `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:prod-backup` });
    expect(recorded.regions).toEqual([undefined]);
  });

  it.each([
    ['a name given with --state-machine', ['--state-machine', 'nope', '--region', 'eu-west-1'], {}, /no state machine named "nope" in eu-west-1/],
    ['the default name', [], {}, /no state machine named "lifeboat-backup" \(the default\) in the AWS SDK's default Region/],
    ['a name from the environment', [], { LIFEBOAT_STATE_MACHINE: 'prod-backup' }, /no state machine named "prod-backup" \(from LIFEBOAT_STATE_MACHINE\)/],
  ])('refuses %s that names no state machine, after every page, and starts nothing', async (_label, argv, env, expected) => {
    sfn
      .on(ListStateMachinesCommand, {})
      .resolves({ stateMachines: [stateMachine('a')], nextToken: 't2' })
      .on(ListStateMachinesCommand, { nextToken: 't2' })
      .resolves({ stateMachines: [stateMachine('b')] });

    const result = await run(['orders-db', ...argv], { env });

    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: expect.stringMatching(expected) });
    expect(sfn).toHaveReceivedCommandTimes(ListStateMachinesCommand, 2);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a state machine ARN that does not exist as a usage error naming it', async () => {
    sfn.on(StartExecutionCommand).rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} }));

    const result = await run(['orders-db', '--state-machine', ARN]);

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: expect.stringContaining(`--state-machine: ${ARN} does not exist`) });
  });

  it('reports any other refusal by Step Functions under its own name, exit 1', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionLimitExceeded({ message: 'too many executions', $metadata: {} }));

    const result = await run(['orders-db', '--state-machine', ARN]);

    expect(result.code).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)).toEqual({ name: 'ExecutionLimitExceeded', message: 'too many executions' });
  });

  it('--wait polls DescribeExecution every --poll-seconds until the run stops, prints SUCCEEDED and exits 0', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', stopDate: new Date('2026-11-29T09:41:00Z') });

    const result = await run(['orders-db', '--state-machine', ARN, '--wait', '--poll-seconds', '3']);

    const { arn } = started();
    expect(result).toEqual({ code: ExitCode.ok, stdout: `${arn}\nSUCCEEDED\n`, stderr: '' });
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual(Array(3).fill({ executionArn: arn }));
    expect(recorded.sleeps).toEqual([3000, 3000]);
  });

  it('--wait polls every 10 seconds by default', async () => {
    sfn.on(DescribeExecutionCommand).resolvesOnce({ status: 'RUNNING' }).resolves({ status: 'SUCCEEDED' });

    await run(['orders-db', '--state-machine', ARN, '--wait']);

    expect(recorded.sleeps).toEqual([10_000]);
  });

  it.each(['FAILED', 'TIMED_OUT', 'ABORTED'] as const)('--wait prints %s and exits 1 with BackupRunFailedError', async (status) => {
    sfn.on(DescribeExecutionCommand).resolves({
      status,
      error: 'DumpFailedError',
      cause: JSON.stringify({ errorType: 'DumpFailedError', errorMessage: 'pg_dump exited with code 1', trace: ['DumpFailedError: pg_dump exited with code 1'] }),
    });

    const result = await run(['orders-db', '--state-machine', ARN, '--wait']);

    const { name, arn } = started();
    expect(result.code).toBe(ExitCode.failed);
    expect(result.stdout).toBe(`${arn}\n${status}\n`);
    expect(errorLine(result.stderr)).toEqual({
      name: 'BackupRunFailedError',
      message: `${name} ended ${status}: DumpFailedError: pg_dump exited with code 1`,
    });
  });

  it('--json prints the start result, and with --wait the outcome too', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED', stopDate: new Date('2026-11-29T09:41:00Z'), error: 'States.Timeout' });

    const plain = await run(['orders-db', '--state-machine', ARN, '--json']);
    const { name, arn } = started();
    sfn.resetHistory();
    const waited = await run(['orders-db', '--state-machine', ARN, '--json', '--wait']);
    const second = started();

    const start = { sourceId: 'orders-db', trigger: 'manual', startDate: '2026-11-29T09:30:12.500Z', alreadyStarted: false };
    expect(plain.code).toBe(ExitCode.ok);
    expect(JSON.parse(plain.stdout)).toEqual({ ...start, executionName: name, executionArn: arn });
    expect(waited.code).toBe(ExitCode.failed);
    expect(JSON.parse(waited.stdout)).toEqual({
      ...start,
      executionName: second.name,
      executionArn: second.arn,
      status: 'FAILED',
      stopDate: '2026-11-29T09:41:00.000Z',
      error: 'States.Timeout',
    });
  });

  it.each([
    ['no source', [], /"lifeboat run" needs a source id/],
    ['a bad source id', ['Orders DB'], /SOURCE: "Orders DB" is not a source id/],
    ['--poll-seconds without --wait', ['orders-db', '--poll-seconds', '5'], /--poll-seconds needs --wait/],
    ['--poll-seconds 0', ['orders-db', '--wait', '--poll-seconds', '0'], /--poll-seconds must be a whole number from 1 to 3600/],
    ['a malformed ARN', ['orders-db', '--state-machine', 'arn:aws:states:eu-west-1:1:activity:x'], /--state-machine: an ARN must look like/],
    ['a --region other than the ARN\'s', ['orders-db', '--state-machine', ARN, '--region', 'us-east-1'], /--region us-east-1 differs .*\(eu-west-1\)/],
  ])('%s is a usage error and calls nothing', async (_label, argv, expected) => {
    const result = await run(argv);

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: expect.stringMatching(expected) });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});
