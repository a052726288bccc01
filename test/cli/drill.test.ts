// `lifeboat drill`: the in-process CLI against a mocked Step Functions client, with exact commands.
import 'aws-sdk-client-mock-vitest/extend';
import { DescribeExecutionCommand, ListStateMachinesCommand, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { errorLine, lifeboat, mockedStepFunctions, type RunOptions } from './support.ts';

const ACCOUNT = '111122223333';
const PLAN_SM = 'lifeboat-plan-orders-restore';
const PLAN_ARN = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:${PLAN_SM}`;
const DRILL_NAME = /^orders-restore-\d{8}T\d{6}Z-drill-[a-z2-7]{4}$/;
const REAL_NAME = /^orders-restore-\d{8}T\d{6}Z-real-[a-z2-7]{4}$/;

const { sfn, deps, recorded, startInputs, stateMachine } = mockedStepFunctions(ACCOUNT);

const drill = (argv: readonly string[], options: Omit<RunOptions, 'deps'> = {}) => lifeboat(['drill', ...argv], { ...options, deps });
/** The name the CLI chose and the ARN Step Functions gave the execution on the state machine `machine`. */
const started = (machine = PLAN_SM) => {
  const name = startInputs()[0]!.name!;
  return { name, arn: `arn:aws:states:eu-west-1:${ACCOUNT}:execution:${machine}:${name}` };
};

beforeEach(() => {
  sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [stateMachine('lifeboat-backup'), stateMachine(PLAN_SM), stateMachine('prod-plan-orders-restore')] });
  sfn.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string }) => ({
    executionArn: `${input.stateMachineArn.replace(':stateMachine:', ':execution:')}:${input.name}`,
    startDate: new Date('2026-11-30T08:00:05.250Z'),
  }));
});

describe('lifeboat drill', () => {
  it('starts <deployment>-plan-<PLAN>, found by name, with exactly {"mode":"drill"} and prints the execution ARN alone', async () => {
    const result = await drill(['orders-restore', '--region', 'eu-west-1']);

    expect(result).toEqual({ code: ExitCode.ok, stdout: `${started().arn}\n`, stderr: '' });
    expect(sfn).toHaveReceivedCommandTimes(ListStateMachinesCommand, 1);
    const inputs = startInputs();
    expect(inputs).toEqual([{ stateMachineArn: PLAN_ARN, name: expect.stringMatching(DRILL_NAME), input: '{"mode":"drill"}' }]);
    expect(inputs[0]!.name!.length).toBeLessThanOrEqual(80);
    expect(recorded.regions).toEqual(['eu-west-1']);
  });

  it('names a 40-character plan\'s execution within 80 characters of [0-9A-Za-z_-]', async () => {
    const plan = `p${'x'.repeat(39)}`;
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [stateMachine(`lifeboat-plan-${plan}`)] });

    const result = await drill([plan, '--real', '--yes']);

    expect(result.code).toBe(ExitCode.ok);
    const { name } = started(`lifeboat-plan-${plan}`);
    expect(name).toMatch(/^[0-9A-Za-z_-]{1,80}$/);
    expect(name).toMatch(new RegExp(`^${plan}-\\d{8}T\\d{6}Z-real-[a-z2-7]{4}$`));
  });

  it('on a terminal prints the console link, what a drill does, how to answer approvals and where the evidence goes, on stderr', async () => {
    const result = await drill(['orders-restore'], { tty: true });

    const { name, arn } = started();
    expect(result.stdout).toBe(`${arn}\n`);
    expect(result.stderr.split('\n')).toEqual([
      `Started ${name}: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arn}`,
      'Drill: restores go to drill targets, cleaned up at the end; promotions are skipped.',
      "Approval steps mail the plan's contacts a link: answer with lifeboat approve 'LINK' --name 'YOUR NAME' (--reject to refuse).",
      `Evidence: evidence/orders-restore/${name}.json in the vault, once the run ends.`,
      '',
    ]);
  });

  it('names the state machine after --deployment, else $LIFEBOAT_DEPLOYMENT', async () => {
    await drill(['orders-restore', '--deployment', 'prod']);
    const fromFlag = startInputs()[0];
    sfn.resetHistory();
    await drill(['orders-restore'], { env: { LIFEBOAT_DEPLOYMENT: 'prod' } });
    const fromEnv = startInputs()[0];

    const prodArn = stateMachine('prod-plan-orders-restore').stateMachineArn;
    expect(fromFlag).toMatchObject({ stateMachineArn: prodArn });
    expect(fromEnv).toMatchObject({ stateMachineArn: prodArn });
  });

  it('starts --state-machine ARN directly, in its Region, without looking it up', async () => {
    const result = await drill(['orders-restore', '--state-machine', PLAN_ARN]);

    expect(result.code).toBe(ExitCode.ok);
    expect(startInputs()).toEqual([{ stateMachineArn: PLAN_ARN, name: expect.stringMatching(DRILL_NAME), input: '{"mode":"drill"}' }]);
    expect(sfn).not.toHaveReceivedCommand(ListStateMachinesCommand);
    expect(recorded.regions).toEqual(['eu-west-1']);
  });

  it('--real without --yes is refused with exit 2, saying what a real run does, and sends nothing', async () => {
    const result = await drill(['orders-restore', '--real', '--wait']);

    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toEqual({
      name: 'UsageError',
      message:
        "--real needs --yes: a real run restores into the plan's production targets and may promote replicas (a failover); " +
        'nothing was started. Leave out --real for a drill (see lifeboat drill --help)',
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(recorded.regions).toEqual([]);
  });

  it('--real --yes starts it with exactly {"mode":"real"}', async () => {
    const result = await drill(['orders-restore', '--real', '--yes']);

    expect(result).toEqual({ code: ExitCode.ok, stdout: `${started().arn}\n`, stderr: '' });
    expect(startInputs()).toEqual([{ stateMachineArn: PLAN_ARN, name: expect.stringMatching(REAL_NAME), input: '{"mode":"real"}' }]);
  });

  it('--wait polls DescribeExecution every --poll-seconds until the execution stops, prints SUCCEEDED and exits 0', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', stopDate: new Date('2026-11-30T08:41:00Z') });

    const result = await drill(['orders-restore', '--wait', '--poll-seconds', '30']);

    const { arn } = started();
    expect(result).toEqual({ code: ExitCode.ok, stdout: `${arn}\nSUCCEEDED\n`, stderr: '' });
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual(Array(3).fill({ executionArn: arn }));
    expect(recorded.sleeps).toEqual([30_000, 30_000]);
  });

  it.each(['FAILED', 'TIMED_OUT', 'ABORTED'] as const)('--wait prints %s and exits 1 with PlanRunFailedError, its error and cause', async (status) => {
    sfn.on(DescribeExecutionCommand).resolves({ status, error: 'ApprovalRejectedError', cause: 'Ana Lima rejected step go: not during the sale' });

    const result = await drill(['orders-restore', '--wait']);

    const { name, arn } = started();
    expect(result.code).toBe(ExitCode.failed);
    expect(result.stdout).toBe(`${arn}\n${status}\n`);
    expect(errorLine(result.stderr)).toEqual({
      name: 'PlanRunFailedError',
      message: `${name} ended ${status}: ApprovalRejectedError: Ana Lima rejected step go: not during the sale`,
    });
    expect(recorded.sleeps).toEqual([]);
  });

  it('--json prints the start result with the evidence key, and with --wait the outcome too', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED', stopDate: new Date('2026-11-30T08:41:00Z'), error: 'PlanFailedError', cause: 'step check failed' });

    const plain = await drill(['orders-restore', '--json']);
    const first = started();
    sfn.resetHistory();
    const waited = await drill(['orders-restore', '--json', '--wait']);
    const second = started();

    const start = { plan: 'orders-restore', mode: 'drill', startDate: '2026-11-30T08:00:05.250Z' };
    expect(plain.code).toBe(ExitCode.ok);
    expect(JSON.parse(plain.stdout)).toEqual({ ...start, executionName: first.name, executionArn: first.arn, evidenceKey: `evidence/orders-restore/${first.name}.json` });
    expect(waited.code).toBe(ExitCode.failed);
    expect(JSON.parse(waited.stdout)).toEqual({
      ...start,
      executionName: second.name,
      executionArn: second.arn,
      evidenceKey: `evidence/orders-restore/${second.name}.json`,
      status: 'FAILED',
      stopDate: '2026-11-30T08:41:00.000Z',
      error: 'PlanFailedError',
      cause: 'step check failed',
    });
  });

  it.each([
    ['the default deployment', [], {}, 'no state machine named "lifeboat-plan-nope" (plan "nope" of deployment "lifeboat", the default) in eu-west-1'],
    ['--deployment', ['--deployment', 'staging'], {}, 'no state machine named "staging-plan-nope" (plan "nope" of deployment "staging") in eu-west-1'],
    ['$LIFEBOAT_DEPLOYMENT', [], { LIFEBOAT_DEPLOYMENT: 'prod' }, 'no state machine named "prod-plan-nope" (plan "nope" of deployment "prod", from LIFEBOAT_DEPLOYMENT) in eu-west-1'],
  ])('an unknown plan (%s) exits 2 naming the state machine it looked for on every page, and starts nothing', async (_label, argv, env, expected) => {
    sfn
      .on(ListStateMachinesCommand, {})
      .resolves({ stateMachines: [stateMachine(PLAN_SM)], nextToken: 't2' })
      .on(ListStateMachinesCommand, { nextToken: 't2' })
      .resolves({ stateMachines: [stateMachine('lifeboat-backup')] });

    const result = await drill(['nope', '--region', 'eu-west-1', ...argv], { env });

    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toEqual({
      name: 'UsageError',
      message: `${expected}: is the plan in the config and deployed? Give --deployment, --region or --state-machine (see lifeboat drill --help)`,
    });
    expect(sfn).toHaveReceivedCommandTimes(ListStateMachinesCommand, 2);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('a --state-machine name with no state machine exits 2 naming it', async () => {
    const result = await drill(['orders-restore', '--state-machine', 'dr-orders', '--region', 'eu-west-1']);

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: '--state-machine: no state machine named "dr-orders" in eu-west-1 (see lifeboat drill --help)' });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('a state machine ARN Step Functions does not know exits 2 naming it', async () => {
    sfn.on(StartExecutionCommand).rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} }));

    const result = await drill(['orders-restore', '--state-machine', PLAN_ARN]);

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: expect.stringContaining(`--state-machine: ${PLAN_ARN} does not exist`) });
  });

  it.each([
    ['no plan', [], /"lifeboat drill" needs a plan name/],
    ['a bad plan name', ['Orders Restore'], /PLAN: "Orders Restore" is not a plan name/],
    ['--yes without --real', ['orders-restore', '--yes'], /--yes confirms --real; a drill needs no confirmation/],
    ['--deployment with --state-machine', ['orders-restore', '--deployment', 'prod', '--state-machine', PLAN_ARN], /either --deployment or --state-machine, not both/],
    ['--poll-seconds without --wait', ['orders-restore', '--poll-seconds', '5'], /--poll-seconds needs --wait/],
    ['a --region other than the ARN\'s', ['orders-restore', '--state-machine', PLAN_ARN, '--region', 'us-east-1'], /--region us-east-1 differs .*\(eu-west-1\)/],
  ])('%s is a usage error and calls nothing', async (_label, argv, expected) => {
    const result = await drill(argv);

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message: expect.stringMatching(expected) });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});
