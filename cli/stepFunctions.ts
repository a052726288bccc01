/**
 * Step Functions for the commands that start a deployed state machine (`run`, `drill`): its flags, the
 * state machine found by ARN or by name, and the execution reported, and with `--wait` followed to its end.
 */
import type { DescribeExecutionOutput, SFNClient } from '@aws-sdk/client-sfn';
import { booleanFlag, type FlagSpecs, type FlagValues, stringFlag } from './args.ts';
import { ExitCode, UsageError } from './errors.ts';
import type { Output } from './io.ts';
import type { CliDeps } from './options.ts';

type Sfn = Pick<SFNClient, 'send'>;

const DEFAULT_POLL_SECONDS = 10;

/** `--region`, `--wait`, `--poll-seconds` and `--json`, the same on every command that starts an execution. */
export const EXECUTION_FLAGS: FlagSpecs = {
  region: { type: 'string', value: 'REGION', description: "Step Functions Region. Default: the state machine ARN's, else the AWS SDK chain's." },
  wait: { type: 'boolean', description: 'Wait until the execution stops; exit 0 only if it SUCCEEDED.' },
  'poll-seconds': { type: 'string', value: 'N', description: `Seconds between DescribeExecution polls with --wait (default ${DEFAULT_POLL_SECONDS}).` },
  json: { type: 'boolean', description: 'Print JSON: the start result, and with --wait the status, stopDate, error and cause.' },
};

/** Seconds between polls with `--wait`; `undefined` without it. */
export function pollSecondsFlag(flags: FlagValues): number | undefined {
  const wait = booleanFlag(flags, 'wait');
  const text = stringFlag(flags, 'poll-seconds');
  if (text === undefined) return wait ? DEFAULT_POLL_SECONDS : undefined;
  if (!wait) throw new UsageError('--poll-seconds needs --wait');
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 3600) throw new UsageError('--poll-seconds must be a whole number from 1 to 3600');
  return Number(text);
}

export interface StateMachineTarget {
  /** A client for the state machine's Region. */
  readonly sfn: Sfn;
  readonly stateMachineArn: string;
}

/**
 * The state machine `nameOrArn` (an ARN, or a name looked up on every page of ListStateMachines) and a
 * client for `--region`, else the ARN's Region, else the SDK chain's. A name with no state machine is a
 * usage error worded by `notFound`, which is given the Region searched.
 */
export async function resolveStateMachine(
  nameOrArn: string,
  flags: FlagValues,
  deps: CliDeps,
  notFound: (region: string) => string,
): Promise<StateMachineTarget> {
  const { STATE_MACHINE_ARN_PATTERN } = await import('../functions/start-backup/start.ts');
  const arnRegion = STATE_MACHINE_ARN_PATTERN.exec(nameOrArn)?.[2];
  if (arnRegion === undefined && nameOrArn.startsWith('arn:')) {
    throw new UsageError('--state-machine: an ARN must look like arn:aws:states:REGION:ACCOUNT:stateMachine:NAME');
  }
  const region = stringFlag(flags, 'region') ?? arnRegion;
  if (arnRegion !== undefined && region !== arnRegion) {
    throw new UsageError(`--region ${region} differs from the Region of the state machine ARN (${arnRegion})`);
  }
  const sfn = await sfnClient(deps, region);
  const stateMachineArn = arnRegion !== undefined ? nameOrArn : await withAwsSetup(() => stateMachineArnByName(sfn, nameOrArn));
  if (stateMachineArn === undefined) throw new UsageError(notFound(region ?? "the AWS SDK's default Region"));
  return { sfn, stateMachineArn };
}

/** Runs `start`; a state machine ARN that Step Functions does not know is a usage error naming it. */
export async function startOn<T>(stateMachineArn: string, start: () => Promise<T>): Promise<T> {
  try {
    return await withAwsSetup(start);
  } catch (error) {
    if ((error as { name?: unknown }).name !== 'StateMachineDoesNotExist') throw error;
    throw new UsageError(`--state-machine: ${stateMachineArn} does not exist`, { cause: error });
  }
}

/**
 * Runs a Step Functions call; no Region or no credentials is one line saying what to set (`AwsSetupError`,
 * exit 2) instead of the SDK's "Region is missing" or its credential-chain error.
 */
export async function withAwsSetup<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const { awsSetupProblem } = await import('./awsSetup.ts');
    throw awsSetupProblem(error, 'Step Functions') ?? error;
  }
}

export interface StartedExecution {
  readonly executionName: string;
  readonly executionArn: string;
}

export interface ReportOptions {
  readonly flags: FlagValues;
  readonly output: Output;
  readonly deps: CliDeps;
  readonly sfn: Sfn;
  /** From {@link pollSecondsFlag}: follow the execution to its end, polling this often. */
  readonly pollSeconds: number | undefined;
  /** Lines for the person at a terminal after the console link. */
  readonly notes?: readonly string[];
  /** The named error for an execution that ended other than SUCCEEDED (exit 1), given `<name> ended <STATUS>[: error[: cause]]`. */
  readonly failed: (message: string) => Error;
}

/**
 * After Step Functions accepted a start: the execution ARN alone on stdout (the console link and `notes` on
 * a terminal's stderr) or, with `--json`, `started` as JSON. With a `pollSeconds`, polls DescribeExecution
 * until the execution stops, then prints its status (or adds it to the JSON): exit 0 only for SUCCEEDED.
 */
export async function reportExecution(started: StartedExecution, options: ReportOptions): Promise<number> {
  const { flags, output, pollSeconds } = options;
  const json = booleanFlag(flags, 'json');
  const notices = output.stderrIsTTY && !booleanFlag(flags, 'quiet');
  if (!json) output.out(started.executionArn);
  if (notices) {
    const link = consoleLink(started.executionArn);
    if (link) output.error(`Started ${started.executionName}: ${link}`);
    for (const note of options.notes ?? []) output.error(note);
  }
  if (pollSeconds === undefined) {
    if (json) output.out(JSON.stringify(started, null, 2));
    return ExitCode.ok;
  }

  if (notices) output.error(`Waiting for it to stop (polling every ${pollSeconds} s)…`);
  const finished = await waitForExecution(options.sfn, started.executionArn, pollSeconds, options.deps);
  const outcome = {
    status: finished.status!,
    ...(finished.stopDate ? { stopDate: finished.stopDate.toISOString() } : {}),
    ...(finished.error ? { error: finished.error } : {}),
    ...(finished.cause ? { cause: finished.cause } : {}),
  };
  output.out(json ? JSON.stringify({ ...started, ...outcome }, null, 2) : outcome.status);
  if (outcome.status === 'SUCCEEDED') return ExitCode.ok;
  const why = outcome.error ? `: ${outcome.error}${outcome.cause ? `: ${causeMessage(outcome.cause)}` : ''}` : '';
  throw options.failed(`${started.executionName} ended ${outcome.status}${why}`);
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
    const execution = await withAwsSetup(() => sfn.send(new DescribeExecutionCommand({ executionArn })));
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
