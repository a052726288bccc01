import { LifeboatError } from '../../functions/lib/errors.ts';
import { compactUtc, evidenceKey, PLAN_NAME_PATTERN, randomBase32 } from '../../functions/lib/vault/layout.ts';
import { booleanFlag, type FlagValues, stringFlag } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import { UsageError } from '../errors.ts';
import { EXECUTION_FLAGS, pollSecondsFlag, reportExecution, resolveStateMachine, startOn } from '../stepFunctions.ts';
import { LOCAL_DRILL_FLAGS, runLocalDrillCommand } from './localDrill.ts';

const DEFAULT_DEPLOYMENT = 'lifeboat';

/** `drill --wait`: the plan's execution ended in a status other than SUCCEEDED (FAILED, TIMED_OUT, ABORTED). Exit 1. */
export class PlanRunFailedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlanRunFailedError';
  }
}

type PlanMode = 'drill' | 'real';

export const drill: Command = {
  name: 'drill',
  summary: "Start a DR plan's state machine as a drill (or --real --yes for real); --wait for its outcome.",
  synopsis:
    'lifeboat drill PLAN [--deployment NAME | --state-machine NAME_OR_ARN] [--real --yes] [--region REGION] [--wait [--poll-seconds N]] [--json]\n' +
    '       lifeboat drill PLAN --local --config FILE --vault DIR --key-file FILE [--pg-server URL] [--mysql-server URL] [--approve-as NAME] [--json]',
  description:
    'Starts one execution of the DR plan\'s state machine, <deployment>-plan-<PLAN>, with input {"mode":"drill"}\n' +
    '(restores go to drill targets that are cleaned up, promotions are skipped), named\n' +
    '<PLAN>-<yyyymmdd>T<hhmmss>Z-drill-<4 random base32>. --real --yes starts it with {"mode":"real"} instead.\n' +
    'Prints the execution ARN; with --wait, polls the execution until it stops and prints its final status.\n' +
    '\n' +
    'With --local, rehearses the plan on this machine instead, without AWS: the plan compiled as it is deployed,\n' +
    'run by the local state-machine interpreter with the real DR step executor. restore-dump (into\n' +
    '<database>_drill_<suffix> on the --pg-server / --mysql-server, default the config\'s verification servers),\n' +
    'validate, notify (printed here), approvals (asked here, or --approve-as), clean-up and the evidence (written\n' +
    'to the vault, as a deployed drill writes it) are real; the steps that need AWS (restore-snapshot,\n' +
    'restore-point-in-time, promote-replica, backup-now) are skipped and say what they would do.',
  positionals: [{ name: 'PLAN', description: 'The plan name, as the config names it.' }],
  flags: {
    deployment: {
      type: 'string',
      value: 'NAME',
      description: `The deployment (config) name the plan's state machine is named after. Default: $LIFEBOAT_DEPLOYMENT, else ${DEFAULT_DEPLOYMENT}.`,
    },
    'state-machine': {
      type: 'string',
      value: 'NAME_OR_ARN',
      description: "The plan's state machine itself: an ARN, or a name looked up in the Region (instead of --deployment).",
    },
    real: { type: 'boolean', description: "Run the plan for real: restores into the plan's production targets, promotes replicas. Needs --yes." },
    yes: { type: 'boolean', description: 'Confirm --real.' },
    ...EXECUTION_FLAGS,
    ...LOCAL_DRILL_FLAGS,
  },
  notes:
    'Approval steps mail the plan\'s contacts a signed link; answer it with lifeboat approve LINK --name NAME\n' +
    '(--reject to refuse), or open it. Evidence is written to evidence/<PLAN>/<execution name>.json in the vault.\n' +
    'Credentials come from the AWS SDK chain. The caller needs states:StartExecution, states:ListStateMachines\n' +
    'for a name, states:DescribeExecution for --wait.\n' +
    'Exit codes: 0 started (with --wait: SUCCEEDED), 1 the execution ended FAILED, TIMED_OUT or ABORTED\n' +
    '(PlanRunFailedError) or Step Functions refused the start, 2 bad flags, --real without --yes, or no such\n' +
    'state machine. With --local: 0 the plan passed, 1 it failed (PlanRunFailedError; the evidence says why) or\n' +
    'the drill could not finish (DrillInterruptedError and the like), 2 bad flags, config or plan name.',
  maxPositionals: 1,
  async run(commandLine, context) {
    const { flags, positionals } = commandLine;
    const { output, env, deps } = context;
    const plan = planArgument(positionals);
    if (booleanFlag(flags, 'local')) return runLocal(plan, flags, context);
    const localOnly = Object.keys(LOCAL_DRILL_FLAGS).filter((name) => flags[name] !== undefined);
    if (localOnly.length > 0) throw new UsageError(`--${localOnly[0]} is for a local drill: add --local`);
    const mode = modeFlags(flags);
    const pollSeconds = pollSecondsFlag(flags);
    const given = stringFlag(flags, 'state-machine');
    const deploymentFlag = stringFlag(flags, 'deployment');
    if (given !== undefined && deploymentFlag !== undefined) throw new UsageError('give either --deployment or --state-machine, not both');
    const deployment = deploymentFlag ?? (env['LIFEBOAT_DEPLOYMENT'] || DEFAULT_DEPLOYMENT);
    const { planStateMachineName } = await import('../../infra/config/plans.ts');
    const stateMachine = given ?? planStateMachineName(deployment, plan);
    const { sfn, stateMachineArn } = await resolveStateMachine(stateMachine, flags, deps, (region) => {
      if (given !== undefined) return `--state-machine: no state machine named "${stateMachine}" in ${region}`;
      const origin = deploymentFlag !== undefined ? '' : env['LIFEBOAT_DEPLOYMENT'] ? ', from LIFEBOAT_DEPLOYMENT' : ', the default';
      return (
        `no state machine named "${stateMachine}" (plan "${plan}" of deployment "${deployment}"${origin}) in ${region}: ` +
        'is the plan in the config and deployed? Give --deployment, --region or --state-machine'
      );
    });

    // At most 40 + 28 characters of a-z, 0-9, T, Z and "-": always a legal execution name.
    const executionName = `${plan}-${compactUtc(new Date(), false)}-${mode}-${randomBase32(4)}`;
    const { StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    const accepted = await startOn(stateMachineArn, () =>
      sfn.send(new StartExecutionCommand({ stateMachineArn, name: executionName, input: JSON.stringify({ mode }) })),
    );
    const started = {
      plan,
      mode,
      executionName,
      executionArn: accepted.executionArn!,
      startDate: accepted.startDate!.toISOString(),
      evidenceKey: evidenceKey(plan, executionName),
    };
    const notes = [
      mode === 'drill'
        ? 'Drill: restores go to drill targets, cleaned up at the end; promotions are skipped.'
        : "REAL run: restores go into the plan's production targets and replicas may be promoted.",
      "Approval steps mail the plan's contacts a link: answer with lifeboat approve 'LINK' --name 'YOUR NAME' (--reject to refuse).",
      `Evidence: ${started.evidenceKey} in the vault, once the run ends.`,
    ];
    return reportExecution(started, { flags, output, deps, sfn, pollSeconds, notes, failed: (message) => new PlanRunFailedError(message) });
  },
};

function planArgument(positionals: readonly string[]): string {
  const plan = positionals[0];
  if (plan === undefined) throw new UsageError('"lifeboat drill" needs a plan name');
  if (!PLAN_NAME_PATTERN.test(plan)) {
    const shown = plan.length > 60 ? `${plan.slice(0, 57)}...` : plan;
    throw new UsageError(`PLAN: "${shown}" is not a plan name: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter`);
  }
  return plan;
}

/** `drill` by default; `real` only with `--real --yes`, since it restores into production and may fail over. */
function modeFlags(flags: FlagValues): PlanMode {
  const real = booleanFlag(flags, 'real');
  const yes = booleanFlag(flags, 'yes');
  if (real && !yes) {
    throw new UsageError(
      "--real needs --yes: a real run restores into the plan's production targets and may promote replicas " +
        '(a failover); nothing was started. Leave out --real for a drill',
    );
  }
  if (yes && !real) throw new UsageError('--yes confirms --real; a drill needs no confirmation');
  return real ? 'real' : 'drill';
}

/** `drill PLAN --local`: the flags of a deployed drill are refused, the plan's outcome is the exit code. */
async function runLocal(plan: string, flags: FlagValues, context: CommandContext): Promise<number> {
  for (const name of ['deployment', 'state-machine', 'region', 'wait', 'poll-seconds', 'real', 'yes']) {
    if (flags[name] !== undefined) throw new UsageError(`--${name} is for a deployed drill; a local drill (--local) runs here, always as a drill`);
  }
  return runLocalDrillCommand(plan, flags, context, (message) => new PlanRunFailedError(message));
}
