/**
 * Shared pieces of the DR plan tests: sample plans as the config parses them, the values CDK substitutes into
 * a compiled plan, walking its states, and binding each Task, by its resource, to what runs it (recording
 * stubs in compile.test.ts, the real cores in plans-e2e.test.ts).
 */
import { PlanSchema, type PlanConfig, type PlanConfigInput } from '../../infra/config/plans.ts';
import type { AslDefinition, AslMachine, AslState } from '../../infra/plans/compile.ts';
import { ACCOUNT, REGION } from '../functions/dr-step/support.ts';
import type { TaskHandler } from '../harness/index.ts';

export { ACCOUNT, DR_REGION, REGION } from '../functions/dr-step/support.ts';

/** What CDK substitutes for the compiled plan's placeholders (`PLAN_SUBSTITUTIONS`). */
export const SUBSTITUTIONS = {
  DrStepFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:lifeboat-dr-step`,
  RequestApprovalFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:lifeboat-request-approval`,
  BackupStateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:lifeboat-backup`,
  Region: REGION,
  RunnerClusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/lifeboat-runner`,
  DrStepTaskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/lifeboat-drstep:1`,
};

export const CONTACTS = [
  { name: 'Ana Lima', email: 'ana@example.com' },
  { name: 'Ben Okafor', email: 'ben@example.com' },
];

/** A critical plan for {@link CONTACTS}, parsed as the config parses it (every default filled in). */
export function plan(name: string, steps: PlanConfigInput['steps'], objectives = { rtoMinutes: 60, rpoMinutes: 240 }): PlanConfig {
  return PlanSchema.parse({ name, priority: 'critical', objectives, contacts: CONTACTS, steps });
}

/** Every state of the machine, those inside Parallel branches included, as `[name, state]`. */
export function* statesOf(machine: AslMachine): Generator<[string, AslState]> {
  for (const [name, state] of Object.entries(machine.States)) {
    yield [name, state];
    for (const branch of (state['Branches'] as AslMachine[] | undefined) ?? []) yield* statesOf(branch);
  }
}

/** The definition as CDK deploys it: placeholders substituted. */
export function deployed(definition: AslDefinition): AslDefinition {
  let text = JSON.stringify(definition);
  for (const [key, value] of Object.entries(SUBSTITUTIONS)) text = text.replaceAll(`\${${key}}`, value);
  return JSON.parse(text) as AslDefinition;
}

/** What runs a plan's Tasks: the step executor, the approval request (its output is the decision), the backup state machine. */
export interface PlanTasks {
  readonly drStep: TaskHandler;
  readonly approval: TaskHandler;
  readonly backup: TaskHandler;
  /** The DR step task (`ecs:runTask.sync`) of a step too long for Lambda: receives the RunTask request. */
  readonly fargate?: TaskHandler;
}

/** A handler for every Task state of a {@link deployed} definition, chosen by the resource it calls; throws on a Task nothing runs. */
export function taskHandlers(definition: AslDefinition, tasks: PlanTasks): Record<string, TaskHandler> {
  const handlers: Record<string, TaskHandler> = {};
  for (const [name, state] of statesOf(definition)) {
    if (state.Type !== 'Task') continue;
    const parameters = state['Parameters'] as { FunctionName?: string; StateMachineArn?: string };
    if (state['Resource'] === SUBSTITUTIONS.DrStepFunctionArn) handlers[name] = tasks.drStep;
    else if (state['Resource'] === 'arn:aws:states:::lambda:invoke.waitForTaskToken' && parameters.FunctionName === SUBSTITUTIONS.RequestApprovalFunctionArn) handlers[name] = tasks.approval;
    else if (state['Resource'] === 'arn:aws:states:::states:startExecution.sync:2' && parameters.StateMachineArn === SUBSTITUTIONS.BackupStateMachineArn) handlers[name] = tasks.backup;
    else if (state['Resource'] === 'arn:aws:states:::ecs:runTask.sync' && tasks.fargate) handlers[name] = tasks.fargate;
    else throw new Error(`nothing runs Task ${name} (${String(state['Resource'])})`);
  }
  return handlers;
}
