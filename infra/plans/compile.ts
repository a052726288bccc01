/**
 * Compiles a DR plan from the config into its Step Functions state machine (Amazon States Language,
 * JSONPath), as docs/dr-plans.md "Compiled state machine" describes. The definition keeps the
 * `${DrStepFunctionArn}`, `${RequestApprovalFunctionArn}`, `${BackupStateMachineArn}` (and, with steps on
 * Fargate, `${RunnerClusterArn}` and `${DrStepTaskDefinitionArn}`) placeholders for CDK's
 * `definitionSubstitutions`, exactly as the files in `statemachines/` do.
 *
 * A `restore-dump` or `validate` step whose timeout is longer than a Lambda invocation can last (15 minutes)
 * runs as a Fargate task of the DR step role when the context names the runner (docs/dr-plans.md, "Steps on
 * Fargate"): its timeout then means what it says.
 *
 * Shape: CheckInput ▸ [DefaultMode ▸] Initialize ▸ RunPlan (Parallel, one branch: Level1 ▸ Level2 ▸ …)
 * ▸ Finish ▸ [Cleanup ▸] RecordEvidence ▸ Passed? ▸ PlanPassed | PlanFailed.
 *
 * @example
 * const definition = compilePlan(config.plans[0], { name: config.name });
 * new sfn.StateMachine(this, 'Plan', { definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition)), definitionSubstitutions });
 */
import { createRequire } from 'node:module';
import { isPolledKind } from '../../functions/lib/plans/kinds.ts';
import {
  approvalOf,
  MAX_STATE_MACHINE_NAME,
  planStateMachineName,
  planStructureProblems,
  type ApprovalConfig,
  type PlanConfig,
  type PlanStepConfig,
} from '../config/plans.ts';

/** One ASL state, as a plain JSON object. */
export type AslState = { readonly Type: 'Task' | 'Pass' | 'Choice' | 'Wait' | 'Parallel' | 'Succeed' | 'Fail'; readonly [field: string]: unknown };

/** A state machine or a Parallel branch. */
export interface AslMachine {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
}

/** A whole compiled definition. */
export interface AslDefinition extends AslMachine {
  readonly Comment: string;
}

/** What the compiled ASL needs beyond the plan. */
export interface PlanCompileContext {
  /** The deployment name (the config's `name`): the state machine is `<name>-plan-<plan>`. */
  readonly name: string;
  /**
   * The deployment's Fargate runner: where a DR step task runs for each source a step restores (or validates
   * the restore of). @default none: every step runs on the step executor, as in a local run (`lifeboat drill
   * --local`), where no 15-minute limit applies
   */
  readonly fargate?: { readonly networks: Readonly<Record<string, FargateNetwork>> };
}

/** The subnets and security groups a Fargate task is placed in (never with a public IP). */
export interface FargateNetwork {
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
}

/** The `definitionSubstitutions` a compiled plan needs. */
export const PLAN_SUBSTITUTIONS = ['DrStepFunctionArn', 'RequestApprovalFunctionArn', 'BackupStateMachineArn', 'Region', 'RunnerClusterArn', 'DrStepTaskDefinitionArn'] as const;

/** The longest a Lambda invocation lasts: a step allowed longer runs on Fargate. */
export const LAMBDA_MAX_SECONDS = 900;
/** The kinds that do their work inside the step executor (the RDS kinds only start and poll). */
export const FARGATE_KINDS: readonly PlanStepConfig['kind'][] = ['restore-dump', 'restore-files', 'validate'];
/** `StartedBy` of every task a plan runs: the execution name's MD5 (ECS allows 36 characters; a name may have 80). */
export const STARTED_BY = "States.Hash($$.Execution.Name, 'MD5')";
/** The container the runner's task definitions name (infra/constructs/fargate-runner.ts RUNNER_CONTAINER). */
const RUNNER_CONTAINER = 'runner';

/** Error names of the plan's own Fail states; step errors (`RestoreFailedError`, …) come from the step executor. */
export const PLAN_ERRORS = {
  /** The execution's final error whenever the plan did not pass. */
  planFailed: 'PlanFailedError',
  approvalRejected: 'ApprovalRejectedError',
  approvalTimedOut: 'ApprovalTimedOutError',
  /** A polled step (restore-snapshot, restore-point-in-time, promote-replica) was not done within its timeout. */
  stepTimedOut: 'StepTimedOutError',
  /** run-step or describe-step returned neither a finished record nor a `step` to poll. */
  stepResultInvalid: 'StepResultInvalidError',
  /** The execution input's `mode` is neither "drill" nor "real". */
  invalidInput: 'InvalidPlanInputError',
} as const;

/** Seconds between two `describe-step` polls. */
export const POLL_INTERVAL_SECONDS = 30;
/** Lambda's own limit: Cleanup and RecordEvidence are single invocations. */
const CLEANUP_TIMEOUT_SECONDS = 900;
const EVIDENCE_TIMEOUT_SECONDS = 300;
/** Step Functions allows 80 characters in a state name. */
export const MAX_STATE_NAME = 80;

const DR_STEP = '${DrStepFunctionArn}';
const REQUEST_APPROVAL = '${RequestApprovalFunctionArn}';
const BACKUP_STATE_MACHINE = '${BackupStateMachineArn}';
const RUNNER_CLUSTER = '${RunnerClusterArn}';
const DR_STEP_TASK_DEFINITION = '${DrStepTaskDefinitionArn}';
const WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const RUN_TASK_SYNC = 'arn:aws:states:::ecs:runTask.sync';
/** Reading back what a Fargate step's task left in the vault: one small object. */
const READ_RECORD_TIMEOUT_SECONDS = 60;

/** RunTask refused for a passing reason (capacity, throttling): ask again, as the backup state machine does. */
const ECS_RETRY = [{ ErrorEquals: ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'], IntervalSeconds: 30, MaxAttempts: 3, BackoffRate: 2 }];
const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';

const LAMBDA_RETRY = [
  {
    ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
    IntervalSeconds: 2,
    MaxAttempts: 3,
    BackoffRate: 2,
  },
];

/**
 * A dump restore whose payload is in Deep Archive started its restore from archive (ArchiveRestoreInProgressError):
 * the step is tried again every 30 minutes for 15 hours, longer than a Standard retrieval from Deep Archive takes
 * (12 hours), and then fails like any other error. Each try only looks: the restore is started once.
 */
export const ARCHIVE_RETRY = { ErrorEquals: ['ArchiveRestoreInProgressError'], IntervalSeconds: 1800, MaxAttempts: 30, BackoffRate: 1 };

/** The levels a plan runs in: a step's level is the longest dependency path from a root; steps keep their plan order within a level. */
export function planLevels(plan: PlanConfig): PlanStepConfig[][] {
  refuseInvalid(plan);
  const byId = new Map(plan.steps.map((planStep) => [planStep.id, planStep]));
  const level = new Map<string, number>();
  const levelOf = (planStep: PlanStepConfig): number => {
    let known = level.get(planStep.id);
    if (known === undefined) {
      known = 1 + Math.max(0, ...planStep.dependsOn.map((id) => levelOf(byId.get(id)!)));
      level.set(planStep.id, known);
    }
    return known;
  };
  const levels: PlanStepConfig[][] = [];
  for (const planStep of plan.steps) (levels[levelOf(planStep) - 1] ??= []).push(planStep);
  return levels;
}

/**
 * The plan's state machine definition. Throws, naming the plan, if the plan's steps are inconsistent
 * (see planStructureProblems), its state machine name would be too long, or asl-validator rejects the result.
 */
export function compilePlan(plan: PlanConfig, context: PlanCompileContext): AslDefinition {
  refuseInvalid(plan);
  const stateMachineName = planStateMachineName(context.name, plan.name);
  if (stateMachineName.length > MAX_STATE_MACHINE_NAME) {
    throw new Error(
      `DR plan '${plan.name}' cannot be compiled: its state machine name '${stateMachineName}' has ${stateMachineName.length} characters; Step Functions allows ${MAX_STATE_MACHINE_NAME}`,
    );
  }

  const levels = planLevels(plan);
  const levelStates: Record<string, AslState> = {};
  levels.forEach((steps, i) => {
    const n = i + 1;
    levelStates[`Level${n}`] = {
      Type: 'Parallel',
      Comment: `Steps ${steps.map((s) => s.id).join(', ')}: their dependencies are all in earlier levels.`,
      Branches: steps.map((planStep) => stepBranch(plan, planStep, context)),
      ResultSelector: Object.fromEntries(steps.map((planStep, b) => [`${planStep.id}.$`, `$[${b}]`])),
      ResultPath: `$.levels.L${n}`,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'RunStopped' }],
      ...(n < levels.length ? { Next: `Level${n + 1}` } : { End: true }),
    };
  });
  levelStates['RunStopped'] = {
    Type: 'Succeed',
    Comment: 'A step failed: end the run with $.failure set, keeping the records of the levels that completed.',
  };

  const definition: AslDefinition = {
    Comment:
      `Lifeboat DR plan ${plan.name} (state machine ${stateMachineName})${plan.description ? `: ${plan.description}` : ''}. ` +
      'Compiled from the config by infra/plans/compile.ts; see docs/dr-plans.md. Input: {"mode": "drill"} or {"mode": "real"} (the default).',
    StartAt: 'CheckInput',
    States: {
      CheckInput: {
        Type: 'Choice',
        Choices: [
          { Not: { Variable: '$.mode', IsPresent: true }, Next: 'DefaultMode' },
          {
            Or: [
              { Variable: '$.mode', StringEquals: 'real' },
              { Variable: '$.mode', StringEquals: 'drill' },
            ],
            Next: 'Initialize',
          },
        ],
        Default: 'RejectInput',
      },
      RejectInput: {
        Type: 'Fail',
        Error: PLAN_ERRORS.invalidInput,
        Cause: `DR plan ${plan.name} takes {"mode": "drill"} or {"mode": "real"} (no mode means real). Nothing was run.`,
      },
      DefaultMode: { Type: 'Pass', Result: 'real', ResultPath: '$.mode', Next: 'Initialize' },
      Initialize: {
        Type: 'Pass',
        Comment: "suffix: 8 lowercase hex characters unique to this execution; it names a drill's targets and finds them again at clean-up.",
        Parameters: {
          'mode.$': '$.mode',
          plan: plan.name,
          'suffix.$': "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0)",
          'startedAt.$': '$$.Execution.StartTime',
          levels: {},
          failure: null,
        },
        Next: 'RunPlan',
      },
      RunPlan: {
        Type: 'Parallel',
        Comment: 'The levels in order; each level records its steps under $.levels.L<n>.',
        Branches: [{ StartAt: 'Level1', States: levelStates }],
        OutputPath: '$[0]',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Finish' }],
        Next: 'Finish',
      },
      Finish: {
        Type: 'Choice',
        Comment: 'A drill cleans up what it created, whether the run passed or failed.',
        Choices: [{ Variable: '$.mode', StringEquals: 'drill', Next: 'Cleanup' }],
        Default: 'RecordEvidence',
      },
      Cleanup: {
        Type: 'Task',
        Resource: DR_STEP,
        Parameters: { action: 'cleanup', plan: plan.name, 'suffix.$': '$.suffix', 'executionId.$': '$$.Execution.Id' },
        ResultPath: '$.cleanup',
        TimeoutSeconds: CLEANUP_TIMEOUT_SECONDS,
        Retry: LAMBDA_RETRY,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupFailure', Next: 'CleanupFailed?' }],
        Next: 'RecordEvidence',
      },
      'CleanupFailed?': {
        Type: 'Choice',
        Comment: 'A drill that leaves its targets behind has not passed; an earlier failure stays the one recorded.',
        Choices: [{ Variable: '$.failure', IsNull: true, Next: 'RecordCleanupFailure' }],
        Default: 'RecordEvidence',
      },
      RecordCleanupFailure: { Type: 'Pass', InputPath: '$.cleanupFailure', ResultPath: '$.failure', Next: 'RecordEvidence' },
      RecordEvidence: {
        Type: 'Task',
        Resource: DR_STEP,
        Parameters: {
          action: 'record-evidence',
          plan: plan.name,
          'mode.$': '$.mode',
          'executionId.$': '$$.Execution.Id',
          'startedAt.$': '$.startedAt',
          'levels.$': '$.levels',
          'failure.$': '$.failure',
          objectives: plan.objectives,
          contacts: plan.contacts,
        },
        ResultPath: '$.evidence',
        TimeoutSeconds: EVIDENCE_TIMEOUT_SECONDS,
        Retry: LAMBDA_RETRY,
        Next: 'Passed?',
      },
      'Passed?': {
        Type: 'Choice',
        Choices: [{ Variable: '$.failure', IsNull: true, Next: 'PlanPassed' }],
        Default: 'PlanFailed',
      },
      PlanPassed: { Type: 'Succeed' },
      PlanFailed: {
        Type: 'Fail',
        Error: PLAN_ERRORS.planFailed,
        Cause: `DR plan ${plan.name} failed: the failure is in the execution history and the evidence.`,
      },
    },
  };

  checkStateNames(plan, definition);
  return validated(plan, definition);
}

// ---------------------------------------------------------------------------------------------
// One branch per step: [Approve<id> ▸] the step's states ▸ Done<id>, whose output is the step record

function stepBranch(plan: PlanConfig, planStep: PlanStepConfig, context: PlanCompileContext): AslMachine {
  const id = planStep.id;
  const body = bodyStates(plan, planStep, context);
  const gate = planStep.kind === 'approval' ? undefined : planStep.approval;
  if (gate === undefined) return body;
  return { StartAt: `Approve${id}`, States: { ...approvalStates(plan, planStep, gate, body.StartAt), ...body.States } };
}

function bodyStates(plan: PlanConfig, planStep: PlanStepConfig, context: PlanCompileContext): AslMachine {
  const id = planStep.id;
  const gated = planStep.kind !== 'approval' && planStep.approval !== undefined;
  const timeoutSeconds = planStep.timeoutMinutes * 60;
  const start: AslState = {
    Type: 'Pass',
    Parameters: { 'at.$': '$$.State.EnteredTime' },
    ResultPath: '$.started',
    Next: planStep.kind === 'approval' ? `Approve${id}` : planStep.kind === 'wait' ? `Wait${id}` : `Backup${id}`,
  };
  /** A record built here, for the kinds that do not call run-step. */
  const done = (result: Record<string, unknown>): AslState => ({
    Type: 'Pass',
    Parameters: {
      stepId: id,
      kind: planStep.kind,
      status: 'succeeded',
      'startedAt.$': '$.started.at',
      'endedAt.$': '$$.State.EnteredTime',
      ...result,
      ...(gated ? { 'approval.$': '$.gate.approval' } : {}),
    },
    End: true,
  });

  switch (planStep.kind) {
    case 'approval':
      return {
        StartAt: `Start${id}`,
        States: {
          [`Start${id}`]: start,
          ...approvalStates(plan, planStep, planStep.parameters, `Done${id}`),
          [`Done${id}`]: done({ 'result.$': '$.gate.approval' }),
        },
      };
    case 'wait':
      return {
        StartAt: `Start${id}`,
        States: {
          [`Start${id}`]: start,
          [`Wait${id}`]: { Type: 'Wait', Seconds: planStep.parameters.minutes * 60, Next: `Done${id}` },
          [`Done${id}`]: done({ result: { minutes: planStep.parameters.minutes } }),
        },
      };
    case 'backup-now':
      return {
        StartAt: `Start${id}`,
        States: {
          [`Start${id}`]: start,
          [`Backup${id}`]: {
            Type: 'Task',
            Comment: 'The backup state machine, run to its end; in a drill too (a backup is harmless).',
            Resource: START_EXECUTION_SYNC,
            Parameters: {
              StateMachineArn: BACKUP_STATE_MACHINE,
              Input: { sourceId: planStep.parameters.source, trigger: 'manual', 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id' },
            },
            ResultSelector: { 'executionArn.$': '$.ExecutionArn', 'output.$': '$.Output' },
            ResultPath: '$.backup',
            TimeoutSeconds: timeoutSeconds,
            Retry: LAMBDA_RETRY,
            Next: `Done${id}`,
          },
          [`Done${id}`]: done({ 'result.$': '$.backup' }),
        },
      };
    default: {
      if (isPolledKind(planStep.kind)) return polledStates(plan, planStep);
      const network = fargateNetwork(plan, planStep, context);
      return network ? fargateStates(plan, planStep, network) : runStates(plan, planStep);
    }
  }
}

/** The run-step event, as the step executor (Lambda or Fargate task) receives it. */
function runStepEvent(plan: PlanConfig, planStep: PlanStepConfig): Record<string, unknown> {
  return {
    action: 'run-step',
    plan: plan.name,
    stepId: planStep.id,
    kind: planStep.kind,
    parameters: planStep.parameters,
    'mode.$': '$.mode',
    'suffix.$': '$.suffix',
    'executionId.$': '$$.Execution.Id',
    'levels.$': '$.levels',
  };
}

/** The run-step Task; `output` places its result (ResultSelector/ResultPath). */
function runStepTask(plan: PlanConfig, planStep: PlanStepConfig, output: Record<string, unknown>, next: string): AslState {
  return {
    Type: 'Task',
    Resource: DR_STEP,
    Parameters: runStepEvent(plan, planStep),
    ...output,
    TimeoutSeconds: planStep.timeoutMinutes * 60,
    // A backup in Deep Archive is being restored from it: waited for, hours at a time.
    Retry: planStep.kind === 'restore-dump' || planStep.kind === 'restore-cache' ? [...LAMBDA_RETRY, ARCHIVE_RETRY] : LAMBDA_RETRY,
    Next: next,
  };
}

/** run-step returns the step record; a gate's decision joins it. */
function recordOutput(planStep: PlanStepConfig, recordPath: string): AslState {
  const gated = planStep.kind !== 'approval' && planStep.approval !== undefined;
  return gated
    ? { Type: 'Pass', Parameters: { 'record.$': `States.JsonMerge(${recordPath}, $.gate, false)` }, OutputPath: '$.record', End: true }
    : { Type: 'Pass', OutputPath: recordPath, End: true };
}

function runStates(plan: PlanConfig, planStep: PlanStepConfig): AslMachine {
  const id = planStep.id;
  return {
    StartAt: `Run${id}`,
    States: {
      [`Run${id}`]: runStepTask(plan, planStep, { ResultPath: '$.record' }, `Done${id}`),
      [`Done${id}`]: recordOutput(planStep, '$.record'),
    },
  };
}

/**
 * Where a step runs as a Fargate task, or `undefined` for the step executor: only a restore-dump or validate
 * step allowed longer than a Lambda invocation, and only where the context names the runner. The task is
 * placed in the network given for the source the step restores (a validate step: its target's source).
 */
function fargateNetwork(plan: PlanConfig, planStep: PlanStepConfig, context: PlanCompileContext): FargateNetwork | undefined {
  if (!context.fargate || !FARGATE_KINDS.includes(planStep.kind) || planStep.timeoutMinutes * 60 <= LAMBDA_MAX_SECONDS) return undefined;
  const restoring = planStep.kind === 'validate' ? plan.steps.find((s) => s.id === (planStep.parameters as { target: string }).target) : planStep;
  const source = (restoring?.parameters as { source?: string } | undefined)?.source;
  const network = source === undefined ? undefined : context.fargate.networks[source];
  if (!network) {
    throw new Error(
      `DR plan '${plan.name}' cannot be compiled: step '${planStep.id}' (${planStep.kind}, ${planStep.timeoutMinutes} minutes) runs on Fargate, and no network is known for ${source === undefined ? 'its target' : `source '${source}'`}`,
    );
  }
  return network;
}

/** ECS's limit on a RunTask's overrides, in characters, and what a step's own parameters may take of it. */
export const ECS_OVERRIDES_LIMIT = 8192;
export const FARGATE_PARAMETERS_BUDGET = 4096;

/**
 * The event a Fargate step's task gets, in a container override: the run-step event with only the records
 * the step reads (a validate step: its target restore's; a restore-dump: none), not every earlier level's, so
 * its size does not grow with the plan. The step's own parameters (SQL checks…) are bounded at compile time,
 * leaving the rest of ECS's 8,192 characters for the execution ARN and that one record.
 */
function fargateTaskEvent(plan: PlanConfig, planStep: PlanStepConfig): Record<string, unknown> {
  const parameters = JSON.stringify(planStep.parameters);
  if (parameters.length > FARGATE_PARAMETERS_BUDGET) {
    throw new Error(
      `DR plan '${plan.name}' cannot be compiled: step '${planStep.id}' runs on Fargate, where its event travels in ECS container overrides (${ECS_OVERRIDES_LIMIT} characters in all), and its parameters take ${parameters.length} characters (at most ${FARGATE_PARAMETERS_BUDGET}): shorten its SQL checks, or split them over two validate steps`,
    );
  }
  const { 'levels.$': _everyLevel, ...event } = runStepEvent(plan, planStep);
  if (planStep.kind !== 'validate') return { ...event, levels: {} };
  const target = (planStep.parameters as { target: string }).target;
  const level = planLevels(plan).findIndex((steps) => steps.some((s) => s.id === target)) + 1;
  return { ...event, levels: { [`L${level}`]: { [`${target}.$`]: `$.levels.L${level}.${target}` } } };
}

/**
 * Prepare ▸ Run (the DR step task, `ecs:runTask.sync`, for the step's whole timeout) ▸ Read (the record the
 * task left in the vault; on the task's failure, its error raised again by name) ▸ Done.
 */
function fargateStates(plan: PlanConfig, planStep: PlanStepConfig, network: FargateNetwork): AslMachine {
  const id = planStep.id;
  return {
    StartAt: `Prepare${id}`,
    States: {
      [`Prepare${id}`]: { Type: 'Pass', Parameters: fargateTaskEvent(plan, planStep), ResultPath: '$.taskEvent', Next: `Run${id}` },
      [`Run${id}`]: {
        Type: 'Task',
        Comment: `Step ${id} as a DR step task on Fargate: its ${planStep.timeoutMinutes} minutes are more than a Lambda invocation lasts.`,
        Resource: RUN_TASK_SYNC,
        Parameters: {
          Cluster: RUNNER_CLUSTER,
          TaskDefinition: DR_STEP_TASK_DEFINITION,
          LaunchType: 'FARGATE',
          PlatformVersion: 'LATEST',
          NetworkConfiguration: { AwsvpcConfiguration: { Subnets: [...network.subnets], SecurityGroups: [...network.securityGroups], AssignPublicIp: 'DISABLED' } },
          Overrides: { ContainerOverrides: [{ Name: RUNNER_CONTAINER, Environment: [{ Name: 'LIFEBOAT_TASK_EVENT', 'Value.$': 'States.JsonToString($.taskEvent)' }] }] },
          // ECS takes at most 36 characters here; an execution name may have 80. Its MD5 has 32 and names it uniquely.
          'StartedBy.$': STARTED_BY,
        },
        ResultPath: null,
        TimeoutSeconds: planStep.timeoutMinutes * 60,
        Retry: ECS_RETRY,
        // A task that exited non-zero left its error in the vault: Read raises it by name.
        Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.taskFailure', Next: `Read${id}` }],
        Next: `Read${id}`,
      },
      [`Read${id}`]: {
        Type: 'Task',
        Resource: DR_STEP,
        Parameters: { action: 'read-step-record', plan: plan.name, stepId: id, 'executionId.$': '$$.Execution.Id' },
        ResultPath: '$.record',
        TimeoutSeconds: READ_RECORD_TIMEOUT_SECONDS,
        Retry: LAMBDA_RETRY,
        Next: `Done${id}`,
      },
      [`Done${id}`]: recordOutput(planStep, '$.record'),
    },
  };
}

/** Run ▸ Ready? ▸ (WaitFor ▸ Poll ▸ Count ▸ Ready?)…, at most the step's timeout's worth of polls. */
function polledStates(plan: PlanConfig, planStep: PlanStepConfig): AslMachine {
  const id = planStep.id;
  const record = '$.progress.record';
  const maxPolls = Math.ceil((planStep.timeoutMinutes * 60) / POLL_INTERVAL_SECONDS);
  const statusIs = (path: string, value: string) => ({
    And: [
      { Variable: path, IsPresent: true },
      { Variable: path, StringEquals: value },
    ],
  });
  return {
    StartAt: `Run${id}`,
    States: {
      [`Run${id}`]: runStepTask(plan, planStep, { ResultSelector: { 'record.$': '$', polls: 0 }, ResultPath: '$.progress' }, `Ready${id}?`),
      [`Ready${id}?`]: {
        Type: 'Choice',
        Comment: `Done once the record says succeeded (skipped: a drill does not promote) or its step is available; else poll every ${POLL_INTERVAL_SECONDS} s, ${maxPolls} times at most.`,
        Choices: [
          {
            Or: [statusIs(`${record}.status`, 'succeeded'), statusIs(`${record}.status`, 'skipped'), statusIs(`${record}.step.status`, 'available')],
            Next: `Done${id}`,
          },
          { Not: { Variable: `${record}.step`, IsPresent: true }, Next: `NothingToPoll${id}` },
          { Variable: '$.progress.polls', NumericGreaterThanEquals: maxPolls, Next: `StepTimedOut${id}` },
        ],
        Default: `WaitFor${id}`,
      },
      [`WaitFor${id}`]: { Type: 'Wait', Seconds: POLL_INTERVAL_SECONDS, Next: `Poll${id}` },
      [`Poll${id}`]: {
        Type: 'Task',
        Resource: DR_STEP,
        Parameters: { action: 'describe-step', 'step.$': `${record}.step` },
        ResultPath: record,
        TimeoutSeconds: planStep.timeoutMinutes * 60,
        Retry: LAMBDA_RETRY,
        Next: `Count${id}`,
      },
      [`Count${id}`]: {
        Type: 'Pass',
        Parameters: { 'record.$': record, 'polls.$': 'States.MathAdd($.progress.polls, 1)' },
        ResultPath: '$.progress',
        Next: `Ready${id}?`,
      },
      [`NothingToPoll${id}`]: {
        Type: 'Fail',
        Error: PLAN_ERRORS.stepResultInvalid,
        Cause: `Step ${id} (${planStep.kind}) returned neither a finished record nor a step to poll.`,
      },
      [`StepTimedOut${id}`]: {
        Type: 'Fail',
        Error: PLAN_ERRORS.stepTimedOut,
        Cause: `Step ${id} (${planStep.kind}) was not done within its timeout of ${planStep.timeoutMinutes} minutes.`,
      },
      [`Done${id}`]: recordOutput(planStep, record),
    },
  };
}

/**
 * Approve<id> (the contacts get a signed link) ▸ on States.Timeout after escalateAfterMinutes, Escalate<id>
 * (the contacts are told nobody decided) ▸ on States.Timeout after the rest of timeoutMinutes,
 * ApprovalTimedOutError. The decision lands in $.gate.approval; anything but `approved: true` is a rejection.
 */
function approvalStates(plan: PlanConfig, planStep: PlanStepConfig, approval: ApprovalConfig, next: string): Record<string, AslState> {
  const id = planStep.id;
  const request = (escalation: boolean, timeoutMinutes: number, onTimeout: string): AslState => ({
    Type: 'Task',
    Resource: WAIT_FOR_TASK_TOKEN,
    Parameters: {
      FunctionName: REQUEST_APPROVAL,
      Payload: {
        'taskToken.$': '$$.Task.Token',
        plan: plan.name,
        stepId: id,
        question: approval.question ?? `Approve step '${id}' (${planStep.kind}) of plan '${plan.name}'?`,
        'mode.$': '$.mode',
        'executionId.$': '$$.Execution.Id',
        escalation,
        contacts: plan.contacts.map((contact) => contact.email),
        // The link stops working when this task stops waiting for it.
        expiresInSeconds: timeoutMinutes * 60,
      },
    },
    ResultSelector: { 'approval.$': '$' },
    ResultPath: '$.gate',
    TimeoutSeconds: timeoutMinutes * 60,
    Retry: LAMBDA_RETRY,
    Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.approvalTimeout', Next: onTimeout }],
    Next: `Approved${id}?`,
  });
  return {
    [`Approve${id}`]: request(false, approval.escalateAfterMinutes, `Escalate${id}`),
    [`Escalate${id}`]: request(true, approval.timeoutMinutes - approval.escalateAfterMinutes, `ApprovalTimedOut${id}`),
    [`Approved${id}?`]: {
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.gate.approval.approved', IsPresent: true },
            { Variable: '$.gate.approval.approved', BooleanEquals: true },
          ],
          Next: next,
        },
      ],
      Default: `Rejected${id}`,
    },
    // Who refused, and why, go into the failure and so into the evidence.
    [`Rejected${id}`]: {
      Type: 'Pass',
      Parameters: {
        'cause.$': `States.Format('Step ${id} of plan ${plan.name} was rejected by {}: {}', $.gate.approval.approver, $.gate.approval.comment)`,
      },
      ResultPath: '$.rejection',
      Next: `RejectedFail${id}`,
    },
    [`RejectedFail${id}`]: {
      Type: 'Fail',
      Error: PLAN_ERRORS.approvalRejected,
      CausePath: '$.rejection.cause',
    },
    [`ApprovalTimedOut${id}`]: {
      Type: 'Fail',
      Error: PLAN_ERRORS.approvalTimedOut,
      Cause: `Nobody decided on step ${id} of plan ${plan.name} within ${approval.timeoutMinutes} minutes.`,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

function refuseInvalid(plan: PlanConfig): void {
  const problems = planStructureProblems(plan);
  if (problems.length > 0) {
    const lines = problems.map(({ path, message }) => `${path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${key}`)).join('').slice(1)}: ${message}`);
    throw new Error(`DR plan '${plan.name}' cannot be compiled:\n  ${lines.join('\n  ')}`);
  }
}

/** Every state in a machine, descending into Parallel branches. */
function* allStates(machine: AslMachine): Generator<[string, AslState]> {
  for (const [name, state] of Object.entries(machine.States)) {
    yield [name, state];
    for (const branch of (state['Branches'] as AslMachine[] | undefined) ?? []) yield* allStates(branch);
  }
}

/** Step Functions wants state names unique in the whole definition, Parallel branches included, and at most 80 characters. */
function checkStateNames(plan: PlanConfig, definition: AslDefinition): void {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const [name] of allStates(definition)) {
    if (seen.has(name)) problems.push(`state name '${name}' is used twice`);
    if ([...name].length > MAX_STATE_NAME) problems.push(`state name '${name}' is longer than ${MAX_STATE_NAME} characters`);
    seen.add(name);
  }
  if (problems.length > 0) throw new Error(`DR plan '${plan.name}' compiled to invalid ASL:\n  ${problems.join('\n  ')}`);
}

interface AslValidationResult {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
type AslValidator = (definition: unknown, options: { checkPaths: boolean; checkArn: boolean }) => AslValidationResult;

// asl-validator is CommonJS without type declarations; it writes QueryLanguage into what it checks, hence the clone.
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

function validated(plan: PlanConfig, definition: AslDefinition): AslDefinition {
  const { isValid, errorsText } = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  if (!isValid) throw new Error(`DR plan '${plan.name}' compiled to invalid ASL:\n  ${errorsText('\n  ')}`);
  return definition;
}
