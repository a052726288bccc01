import { assertSourceId } from '../../functions/lib/vault/layout.ts';
import { stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { BackupRunFailedError, UsageError } from '../errors.ts';
import { originNote } from '../settings.ts';
import { EXECUTION_FLAGS, pollSecondsFlag, reportExecution, resolveStateMachine, startOn } from '../stepFunctions.ts';

const DEFAULT_STATE_MACHINE = 'lifeboat-backup';

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
      description: `The backup state machine: an ARN, or a name looked up in the Region. Default: $LIFEBOAT_STATE_MACHINE, else <name>-backup of the config, else ${DEFAULT_STATE_MACHINE}.`,
    },
    ...EXECUTION_FLAGS,
  },
  notes:
    'Credentials come from the AWS SDK chain. The caller needs states:StartExecution (and states:ListStateMachines\n' +
    'for a name, states:DescribeExecution for --wait).\n' +
    'Exit codes: 0 started (with --wait: SUCCEEDED), 1 the run ended FAILED, TIMED_OUT or ABORTED\n' +
    '(BackupRunFailedError) or Step Functions refused the start, 2 bad flags or no such state machine.',
  maxPositionals: 1,
  async run({ flags, positionals, origins }, { output, deps, settings }) {
    const sourceId = sourceArgument(positionals);
    const config = await settings.config();
    if (config !== undefined && !config.sources.some((source) => source.id === sourceId)) {
      throw new UsageError(`SOURCE ${sourceId} is not a source of ${settings.configPath} (its sources: ${config.sources.map((s) => s.id).join(', ')})`);
    }
    const pollSeconds = pollSecondsFlag(flags);
    // --state-machine, else LIFEBOAT_STATE_MACHINE, else the config's deployment (settings.ts), else the default.
    const given = stringFlag(flags, 'state-machine');
    const stateMachine = given ?? DEFAULT_STATE_MACHINE;
    const { sfn, stateMachineArn } = await resolveStateMachine(stateMachine, flags, deps, (region) => {
      const origin = given === undefined ? ' (the default)' : originNote({ origins }, 'state-machine');
      return `--state-machine: no state machine named "${stateMachine}"${origin} in ${region}${originNote({ origins }, 'region')}`;
    });

    const { startBackup } = await import('../../functions/start-backup/start.ts');
    const started = await startOn(stateMachineArn, () => startBackup({ sourceId, trigger: 'manual' }, { sfn, stateMachineArn }));
    return reportExecution(started, { flags, output, deps, sfn, pollSeconds, failed: (message) => new BackupRunFailedError(message) });
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
