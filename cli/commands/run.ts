import type { DescribeExecutionOutput, SFNClient } from '@aws-sdk/client-sfn';
import type { StartBackupResult } from '../../functions/start-backup/start.ts';
import { assertSourceId } from '../../functions/lib/vault/layout.ts';
import { booleanFlag, type FlagValues, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { BackupRunFailedError, ExitCode, UsageError } from '../errors.ts';
import type { CliDeps } from '../options.ts';

type Sfn = Pick<SFNClient, 'send'>;

const DEFAULT_STATE_MACHINE = 'lifeboat-backup';
const DEFAULT_POLL_SECONDS = 10;

export const runCommand: Command = {
  name: 'run',
  summary: 'Start a backup of a source on the deployed backup state machine now; --wait for its outcome.',
  synopsis: 'lifeboat run SOURCE [--state-machine NAME_OR_ARN] [--region REGION] [--wait [--poll-seconds N]] [--json]',
  description:
    'Starts one execution of the backup state machine with {"sourceId": SOURCE, "trigger": "manual"}, named\n' +
    '<SOURCE>-<yyyymmdd>T<hhmmss>Z-manual-<4 random base32>, as the start-backup function would. Prints the\n' +
    'execution ARN; with --wait, polls the execution until it stops and prints its final status.',
  positionals: [{ name: 'SOURCE', description: 'The source id to back up, as the deployment names it.' }],
  flags: {
    'state-machine': {
      type: 'string',
      value: 'NAME_OR_ARN',
      description: `The backup state machine: an ARN, or a name looked up in the Region. Default: $LIFEBOAT_STATE_MACHINE, else ${DEFAULT_STATE_MACHINE}.`,
    },
    region: { type: 'string', value: 'REGION', description: "Step Functions Region. Default: the state machine ARN's, else the AWS SDK chain's." },
    wait: { type: 'boolean', description: 'Wait until the execution stops; exit 0 only if it SUCCEEDED.' },
    'poll-seconds': { type: 'string', value: 'N', description: `Seconds between DescribeExecution polls with --wait (default ${DEFAULT_POLL_SECONDS}).` },
    json: { type: 'boolean', description: 'Print JSON: the start result, and with --wait the status, stopDate, error and cause.' },
  },
  notes:
    'Credentials come from the AWS SDK chain. The caller needs states:StartExecution (and states:ListStateMachines\n' +
    'for a name, states:DescribeExecution for --wait).\n' +
    'Exit codes: 0 started (with --wait: SUCCEEDED), 1 the run ended FAILED, TIMED_OUT or ABORTED\n' +
    '(BackupRunFailedError) or Step Functions refused the start, 2 bad flags or no such state machine.',
  maxPositionals: 1,
  async run({ flags, positionals }, { output, env, deps }) {
    const sourceId = sourceArgument(positionals);
    const wait = booleanFlag(flags, 'wait');
    const pollSeconds = pollSecondsFlag(flags, wait);
    const given = stringFlag(flags, 'state-machine');
    const stateMachine = given ?? (env['LIFEBOAT_STATE_MACHINE'] || DEFAULT_STATE_MACHINE);
    const { STATE_MACHINE_ARN_PATTERN, startBackup } = await import('../../functions/start-backup/start.ts');
    const arnRegion = STATE_MACHINE_ARN_PATTERN.exec(stateMachine)?.[2];
    if (arnRegion === undefined && stateMachine.startsWith('arn:')) {
      throw new UsageError('--state-machine: an ARN must look like arn:aws:states:REGION:ACCOUNT:stateMachine:NAME');
    }
    const region = stringFlag(flags, 'region') ?? arnRegion;
    if (arnRegion !== undefined && region !== arnRegion) {
      throw new UsageError(`--region ${region} differs from the Region of the state machine ARN (${arnRegion})`);
    }
    const sfn = await sfnClient(deps, region);
    const stateMachineArn = arnRegion !== undefined ? stateMachine : await stateMachineArnByName(sfn, stateMachine);
    if (stateMachineArn === undefined) {
      const origin = given !== undefined ? '' : env['LIFEBOAT_STATE_MACHINE'] ? ' (from LIFEBOAT_STATE_MACHINE)' : ' (the default)';
      throw new UsageError(`--state-machine: no state machine named "${stateMachine}"${origin} in ${region ?? "the AWS SDK's default Region"}`);
    }

    let started: StartBackupResult;
    try {
      started = await startBackup({ sourceId, trigger: 'manual' }, { sfn, stateMachineArn });
    } catch (error) {
      if ((error as { name?: unknown }).name !== 'StateMachineDoesNotExist') throw error;
      throw new UsageError(`--state-machine: ${stateMachineArn} does not exist`, { cause: error });
    }
    const json = booleanFlag(flags, 'json');
    const notices = output.stderrIsTTY && !booleanFlag(flags, 'quiet');
    if (!json) output.out(started.executionArn);
    const link = consoleLink(started.executionArn);
    if (notices && link) output.error(`Started ${started.executionName}: ${link}`);
    if (!wait) {
      if (json) output.out(JSON.stringify(started, null, 2));
      return ExitCode.ok;
    }

    if (notices) output.error(`Waiting for it to stop (polling every ${pollSeconds} s)…`);
    const finished = await waitForExecution(sfn, started.executionArn, pollSeconds, deps);
    const outcome = {
      status: finished.status!,
      ...(finished.stopDate ? { stopDate: finished.stopDate.toISOString() } : {}),
      ...(finished.error ? { error: finished.error } : {}),
      ...(finished.cause ? { cause: finished.cause } : {}),
    };
    output.out(json ? JSON.stringify({ ...started, ...outcome }, null, 2) : outcome.status);
    if (outcome.status === 'SUCCEEDED') return ExitCode.ok;
    const why = outcome.error ? `: ${outcome.error}${outcome.cause ? `: ${causeMessage(outcome.cause)}` : ''}` : '';
    throw new BackupRunFailedError(`${started.executionName} ended ${outcome.status}${why}`);
  },
};

function sourceArgument(positionals: readonly string[]): string {
  const sourceId = positionals[0];
  if (sourceId === undefined) throw new UsageError('"lifeboat run" needs a source id');
  try {
    assertSourceId(sourceId);
  } catch (error) {
    throw new UsageError(`SOURCE: ${(error as Error).message}`, { cause: error });
  }
  return sourceId;
}

function pollSecondsFlag(flags: FlagValues, wait: boolean): number {
  const text = stringFlag(flags, 'poll-seconds');
  if (text === undefined) return DEFAULT_POLL_SECONDS;
  if (!wait) throw new UsageError('--poll-seconds needs --wait');
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 3600) throw new UsageError('--poll-seconds must be a whole number from 1 to 3600');
  return Number(text);
}

async function sfnClient(deps: CliDeps, region: string | undefined): Promise<Sfn> {
  if (deps.sfnClient) return deps.sfnClient(region);
  const { SFNClient } = await import('@aws-sdk/client-sfn');
  return new SFNClient(region === undefined ? {} : { region });
}

/** The ARN of the state machine called `name`, looked for on every page of ListStateMachines. */
async function stateMachineArnByName(sfn: Sfn, name: string): Promise<string | undefined> {
  const { ListStateMachinesCommand } = await import('@aws-sdk/client-sfn');
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListStateMachinesCommand(nextToken === undefined ? {} : { nextToken }));
    const found = page.stateMachines?.find((stateMachine) => stateMachine.name === name);
    if (found?.stateMachineArn) return found.stateMachineArn;
    nextToken = page.nextToken;
  } while (nextToken);
  return undefined;
}

async function waitForExecution(sfn: Sfn, executionArn: string, pollSeconds: number, deps: CliDeps): Promise<DescribeExecutionOutput> {
  const { DescribeExecutionCommand } = await import('@aws-sdk/client-sfn');
  const sleep = deps.sleep ?? (await import('node:timers/promises')).setTimeout;
  for (;;) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING') return execution;
    await sleep(pollSeconds * 1000);
  }
}

/** The Step Functions console page of an execution (standard `aws` partition only). */
function consoleLink(executionArn: string): string | undefined {
  const region = /^arn:aws:states:([a-z0-9-]+):/.exec(executionArn)?.[1];
  if (region === undefined) return undefined;
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** A Lambda error's cause is `{"errorType","errorMessage",…}`: its message; any other cause as it is. */
function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: a cause the state machine wrote itself.
  }
  return cause;
}
