/**
 * The DR plan compiler (infra/plans/compile.ts): the ASL it produces for sample plans, run by the local
 * interpreter through test/harness with recording stubs behind every Task (the step executor, the approval
 * request, the backup state machine). The real handlers are tested on their own and together later.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AlertPublishFailedError,
  RestoreFailedError,
  ValidationFailedError,
} from '../../functions/lib/errors.ts';
import type { PlanConfig } from '../../infra/config/plans.ts';
import { compilePlan, planLevels, PLAN_ERRORS, type AslDefinition, type AslMachine } from '../../infra/plans/compile.ts';
import { ordersRestoreSteps } from '../fixtures/plans.ts';
import { runStateMachine, type StateMachineDefinition, type StateMachineRun, type TaskHandler } from '../harness/index.ts';
import { ACCOUNT, CONTACTS, REGION, SUBSTITUTIONS, deployed, plan, statesOf, taskHandlers } from './support.ts';

const EXECUTION_NAME = 'drill-20261122T053327Z-k3x7q2ab';
const EXECUTION_ID = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-plan-orders-restore:${EXECUTION_NAME}`;
const CONTEXT = { Execution: { Id: EXECUTION_ID, Name: EXECUTION_NAME } };
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-AbCdEf';
const SNAPSHOT_RESTORE = { source: 'orders-db', targetIdentifier: 'orders-new', subnetGroupName: 'orders-private', securityGroupIds: ['sg-0a1b2c3d'] };

/** The plan of docs/dr-plans.md: backup ▸ approval ▸ restore-dump ▸ validate ▸ notify. */
const LINEAR = plan('orders-restore', ordersRestoreSteps(SECRET));

/** a → b, a → c, b + c → d. */
const DIAMOND = plan('diamond', [
  { id: 'a', kind: 'notify', parameters: { message: 'starting' } },
  { id: 'b', kind: 'restore-dump', dependsOn: ['a'], parameters: { source: 'orders-db', target: { host: 'b.internal', port: 5432, database: 'orders', credentialsSecretArn: SECRET } } },
  { id: 'c', kind: 'restore-dump', dependsOn: ['a'], parameters: { source: 'orders-db', target: { host: 'c.internal', port: 5432, database: 'orders_c', credentialsSecretArn: SECRET } } },
  { id: 'd', kind: 'notify', dependsOn: ['b', 'c'], parameters: { message: 'both restored' } },
]);

/** An approval gate before a destructive step, then a polled restore, validation and a wait. */
const GATED_SNAPSHOT = plan('orders-snapshot', [
  { id: 'backup', kind: 'backup-now', parameters: { source: 'orders-db' } },
  { id: 'restore', kind: 'restore-snapshot', dependsOn: ['backup'], approval: { question: 'Restore the snapshot?' }, parameters: SNAPSHOT_RESTORE },
  { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore' } },
  { id: 'settle', kind: 'wait', dependsOn: ['restore'], parameters: { minutes: 5 } },
  { id: 'tell', kind: 'notify', dependsOn: ['check', 'settle'], parameters: { message: 'snapshot restored' } },
]);

// ---------------------------------------------------------------------------------------------
// Running a compiled plan with recording stubs

interface Call {
  readonly to: 'dr-step' | 'approval' | 'backup';
  readonly input: any;
}

/** What a stub does for one step; the default succeeds. */
interface Behaviour {
  /** run-step (or, for backup-now, the backup state machine) throws this. */
  readonly failRun?: Error;
  /** describe-step throws this. */
  readonly failPoll?: Error;
  /** describe-step answers `creating` this many times before `available`. @default 2 */
  readonly pollsUntilAvailable?: number;
  /** Awaited before run-step answers (to hold a step open). */
  readonly during?: () => Promise<void>;
}

interface Stubs {
  readonly calls: Call[];
  readonly handlers: Record<string, TaskHandler>;
  /** Calls to the step executor with this action, in order. */
  readonly actions: (action: string) => any[];
}

const record = (input: any, status: string, result: unknown) => ({
  stepId: input.stepId,
  kind: input.kind,
  status,
  startedAt: '2026-11-22T05:40:00.000Z',
  endedAt: '2026-11-22T05:41:00.000Z',
  result,
});

/**
 * One recording stub per Task resource, bound to every Task state by its resource (as CDK substitutes it):
 * the step executor (run-step, describe-step, cleanup, record-evidence), the approval request (its
 * decision is what `decide` resolves to) and the backup state machine.
 */
function stubs(
  definition: AslDefinition,
  options: { behaviour?: Record<string, Behaviour>; decide?: (payload: any) => Promise<unknown> } = {},
): Stubs {
  const calls: Call[] = [];
  const behaviour = (stepId: string): Behaviour => options.behaviour?.[stepId] ?? {};
  const polls = new Map<string, number>();
  const decide = options.decide ?? (async () => ({ approved: true, approver: 'Ana Lima', comment: 'go', decidedAt: '2026-11-22T05:35:00.000Z' }));

  const drStep: TaskHandler = async (input: any) => {
    calls.push({ to: 'dr-step', input });
    switch (input.action) {
      case 'run-step': {
        const step = behaviour(input.stepId);
        await step.during?.();
        if (step.failRun) throw step.failRun;
        if (input.kind === 'promote-replica' && input.mode === 'drill') return record(input, 'skipped', { wouldPromote: input.parameters });
        if (['restore-snapshot', 'restore-point-in-time', 'promote-replica'].includes(input.kind)) {
          return { ...record(input, 'creating', null), step: { stepId: input.stepId, kind: input.kind, status: 'creating' } };
        }
        return record(input, 'succeeded', { ran: input.stepId });
      }
      case 'describe-step': {
        const stepId = input.step.stepId as string;
        const step = behaviour(stepId);
        if (step.failPoll) throw step.failPoll;
        const count = (polls.get(stepId) ?? 0) + 1;
        polls.set(stepId, count);
        const available = count >= (step.pollsUntilAvailable ?? 2);
        const shape = { stepId, kind: input.step.kind };
        return available
          ? { ...record(shape, 'succeeded', { polls: count }), step: { ...input.step, status: 'available' } }
          : { ...record(shape, 'creating', null), step: { ...input.step, status: 'creating' } };
      }
      case 'cleanup':
        return { deleted: [] };
      case 'record-evidence':
        return { key: `evidence/${input.plan}/${EXECUTION_NAME}.json` };
      default:
        throw new Error(`unexpected action ${input.action}`);
    }
  };
  const approval: TaskHandler = async (payload: any) => {
    calls.push({ to: 'approval', input: payload });
    return decide(payload);
  };
  const backup: TaskHandler = async (input: any) => {
    calls.push({ to: 'backup', input });
    const failure = behaviour(input.Input.sourceId === 'orders-db' ? 'backup' : input.Input.sourceId).failRun;
    if (failure) throw failure;
    return {
      ExecutionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:b-1`,
      Status: 'SUCCEEDED',
      Output: { sourceId: input.Input.sourceId, backupId: '20261122T053400Z-abcdefgh' },
    };
  };

  return {
    calls,
    handlers: taskHandlers(definition, { drStep, approval, backup }),
    actions: (action) => calls.filter((call) => call.to === 'dr-step' && call.input.action === action).map((call) => call.input),
  };
}

const compiled = new Map<PlanConfig, AslDefinition>();
function definitionOf(planConfig: PlanConfig): AslDefinition {
  let definition = compiled.get(planConfig);
  if (!definition) {
    definition = deployed(compilePlan(planConfig, { name: 'lifeboat' }));
    compiled.set(planConfig, definition);
  }
  return definition;
}

async function run(
  planConfig: PlanConfig,
  input: unknown,
  options: Parameters<typeof stubs>[1] & { taskTimeoutOverrides?: Record<string, number> } = {},
): Promise<{ run: StateMachineRun; stubs: Stubs }> {
  const definition = definitionOf(planConfig);
  const recorded = stubs(definition, options);
  const result = await runStateMachine(definition as unknown as StateMachineDefinition, input, {
    handlers: recorded.handlers,
    context: CONTEXT,
    ...(options.taskTimeoutOverrides ? { taskTimeoutOverrides: options.taskTimeoutOverrides } : {}),
  });
  return { run: result, stubs: recorded };
}

function evidenceOf(recorded: Stubs): any {
  const evidence = recorded.actions('record-evidence');
  expect(evidence).toHaveLength(1);
  return evidence[0];
}

/** The top-level states a run entered, in order (the interpreter forwards the events of Parallel branches late). */
const topLevel = (planConfig: PlanConfig, result: StateMachineRun) =>
  result.visitedStates.filter((name) => Object.hasOwn(definitionOf(planConfig).States, name));

/** The order the step executor saw its actions, and which steps it ran. */
const actionsInOrder = (recorded: Stubs) => recorded.calls.filter((call) => call.to === 'dr-step').map((call) => call.input.action as string);
const ranSteps = (recorded: Stubs) => recorded.actions('run-step').map((input) => input.stepId as string);

// ---------------------------------------------------------------------------------------------

describe('compilePlan: the shape of the ASL', () => {
  it('compiles the linear plan of docs/dr-plans.md into Initialize, RunPlan with one level per step, then Finish', () => {
    const definition = compilePlan(LINEAR, { name: 'lifeboat' });

    expect(Object.keys(definition.States)).toEqual([
      'CheckInput',
      'RejectInput',
      'DefaultMode',
      'Initialize',
      'RunPlan',
      'Finish',
      'Cleanup',
      'CleanupFailed?',
      'RecordCleanupFailure',
      'RecordEvidence',
      'Passed?',
      'PlanPassed',
      'PlanFailed',
    ]);
    const runPlan = definition.States['RunPlan'] as unknown as { Branches: AslMachine[]; Catch: unknown };
    expect(runPlan.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Finish' }]);
    const levels = runPlan.Branches[0]!.States as Record<string, { Branches?: AslMachine[]; ResultSelector?: unknown; ResultPath?: string }>;
    expect(Object.keys(levels)).toEqual(['Level1', 'Level2', 'Level3', 'Level4', 'Level5', 'RunStopped']);
    expect(Object.values(levels).slice(0, 5).map((level) => level.Branches!.map((branch) => Object.keys(branch.States)))).toEqual([
      [['Startbackup', 'Backupbackup', 'Donebackup']],
      [['Startgo', 'Approvego', 'Escalatego', 'Approvedgo?', 'Rejectedgo', 'RejectedFailgo', 'ApprovalTimedOutgo', 'Donego']],
      [['Runrestore', 'Donerestore']],
      [['Runcheck', 'Donecheck']],
      [['Runtell', 'Donetell']],
    ]);
    expect(levels['Level2']).toMatchObject({ ResultSelector: { 'go.$': '$[0]' }, ResultPath: '$.levels.L2' });
  });

  it('passes run-step exactly the fields of the contract, with the timeout and Lambda retries', () => {
    const definition = compilePlan(LINEAR, { name: 'lifeboat' });

    const [, runRestore] = [...statesOf(definition)].find(([name]) => name === 'Runrestore')!;

    expect(runRestore).toEqual({
      Type: 'Task',
      Resource: '${DrStepFunctionArn}',
      Parameters: {
        action: 'run-step',
        plan: 'orders-restore',
        stepId: 'restore',
        kind: 'restore-dump',
        parameters: LINEAR.steps[2]!.parameters,
        'mode.$': '$.mode',
        'suffix.$': '$.suffix',
        'executionId.$': '$$.Execution.Id',
        'levels.$': '$.levels',
      },
      ResultPath: '$.record',
      TimeoutSeconds: 7200,
      Retry: [
        {
          ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
          IntervalSeconds: 2,
          MaxAttempts: 3,
          BackoffRate: 2,
        },
        // A payload in Deep Archive: waited for (the store started its restore), 30 minutes at a time for 15 hours.
        { ErrorEquals: ['ArchiveRestoreInProgressError'], IntervalSeconds: 1800, MaxAttempts: 30, BackoffRate: 1 },
      ],
      Next: 'Donerestore',
    });
  });

  it('times the approval out after escalateAfterMinutes, then after the rest of timeoutMinutes', () => {
    const definition = compilePlan(
      plan('timed', [{ id: 'go', kind: 'approval', parameters: { question: 'Go?', timeoutMinutes: 90, escalateAfterMinutes: 20 } }]),
      { name: 'lifeboat' },
    );
    const states = Object.fromEntries(statesOf(definition));

    expect(states['Approvego']).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      TimeoutSeconds: 1200,
      Parameters: {
        FunctionName: '${RequestApprovalFunctionArn}',
        Payload: { 'taskToken.$': '$$.Task.Token', question: 'Go?', escalation: false, contacts: ['ana@example.com', 'ben@example.com'] },
      },
      Catch: [{ ErrorEquals: ['States.Timeout'], Next: 'Escalatego' }],
    });
    expect(states['Escalatego']).toMatchObject({
      TimeoutSeconds: 4200,
      Parameters: { Payload: { escalation: true } },
      Catch: [{ ErrorEquals: ['States.Timeout'], Next: 'ApprovalTimedOutgo' }],
    });
    expect(states['ApprovalTimedOutgo']).toMatchObject({ Type: 'Fail', Error: 'ApprovalTimedOutError' });
  });

  it('runs steps whose dependencies are in earlier levels side by side, in plan order', () => {
    expect(planLevels(DIAMOND).map((level) => level.map((step) => step.id))).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(planLevels(GATED_SNAPSHOT).map((level) => level.map((step) => step.id))).toEqual([['backup'], ['restore'], ['check', 'settle'], ['tell']]);
  });

  it('keeps every state name unique and at most 80 characters, with 40-character step ids, and runs such a plan', async () => {
    const id = (letter: string) => `${letter}${'-x'.repeat(19)}z`;
    const long = plan('a'.repeat(40), [
      { id: id('a'), kind: 'approval', parameters: { question: 'Go?' } },
      { id: id('b'), kind: 'restore-snapshot', dependsOn: [id('a')], approval: {}, parameters: SNAPSHOT_RESTORE },
      { id: id('c'), kind: 'wait', dependsOn: [id('b')], parameters: { minutes: 1 } },
    ]);

    const names = [...statesOf(compilePlan(long, { name: 'lifeboat' }))].map(([name]) => name);

    expect(id('a')).toHaveLength(40);
    expect(new Set(names).size).toBe(names.length);
    expect(Math.max(...names.map((name) => name.length))).toBeLessThanOrEqual(80);
    const { run: result, stubs: recorded } = await run(long, { mode: 'drill' });
    expect(result.status).toBe('SUCCEEDED');
    expect(Object.values(evidenceOf(recorded).levels).map((level: any) => Object.keys(level))).toEqual([[id('a')], [id('b')], [id('c')]]);
  });

  it('refuses, naming the plan, a plan with a cycle, a state machine name over 80 characters, or output asl-validator rejects', () => {
    const cyclic: PlanConfig = { ...DIAMOND, steps: DIAMOND.steps.map((step) => (step.id === 'a' ? { ...step, dependsOn: ['d'] } : step)) };
    const zeroTimeout: PlanConfig = { ...LINEAR, steps: LINEAR.steps.map((step) => (step.id === 'check' ? { ...step, timeoutMinutes: 0 } : step)) };

    expect(() => compilePlan(cyclic, { name: 'lifeboat' })).toThrow("DR plan 'diamond' cannot be compiled:\n  steps: the steps form a cycle: a → b → d → a");
    expect(() => compilePlan(LINEAR, { name: 'l'.repeat(61) })).toThrow(/^DR plan 'orders-restore' cannot be compiled: its state machine name 'l+-plan-orders-restore' has 81 characters/);
    expect(() => compilePlan(zeroTimeout, { name: 'lifeboat' })).toThrow(/^DR plan 'orders-restore' compiled to invalid ASL:\n {2}.*TimeoutSeconds/s);
  });
});

describe('a compiled plan, run locally', () => {
  it('runs the linear plan for real: every step once in order, and RecordEvidence gets every step record by level', async () => {
    const { run: result, stubs: recorded } = await run(LINEAR, {});

    expect(result.status).toBe('SUCCEEDED');
    expect(actionsInOrder(recorded)).toEqual(['run-step', 'run-step', 'run-step', 'record-evidence']);
    expect(ranSteps(recorded)).toEqual(['restore', 'check', 'tell']);
    const evidence = evidenceOf(recorded);
    expect(evidence).toMatchObject({
      action: 'record-evidence',
      plan: 'orders-restore',
      mode: 'real',
      executionId: EXECUTION_ID,
      failure: null,
      objectives: { rtoMinutes: 60, rpoMinutes: 240 },
      contacts: CONTACTS,
    });
    expect(Date.parse(evidence.startedAt)).not.toBeNaN();
    expect(Object.keys(evidence.levels)).toEqual(['L1', 'L2', 'L3', 'L4', 'L5']);
    expect(evidence.levels.L1.backup).toEqual({
      stepId: 'backup',
      kind: 'backup-now',
      status: 'succeeded',
      startedAt: expect.any(String),
      endedAt: expect.any(String),
      result: {
        executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:b-1`,
        output: { sourceId: 'orders-db', backupId: '20261122T053400Z-abcdefgh' },
      },
    });
    expect(evidence.levels.L2.go).toMatchObject({
      stepId: 'go',
      kind: 'approval',
      status: 'succeeded',
      result: { approved: true, approver: 'Ana Lima', comment: 'go', decidedAt: '2026-11-22T05:35:00.000Z' },
    });
    expect(evidence.levels.L3.restore).toEqual(record({ stepId: 'restore', kind: 'restore-dump' }, 'succeeded', { ran: 'restore' }));
    expect(evidence.levels.L4.check).toMatchObject({ stepId: 'check', status: 'succeeded' });
    expect(evidence.levels.L5.tell).toMatchObject({ stepId: 'tell', status: 'succeeded' });
    expect(result.output).toMatchObject({ mode: 'real', failure: null, levels: evidence.levels });
  });

  it('gives run-step the records of every earlier level, the mode, the execution and one 8-character suffix', async () => {
    const { stubs: recorded } = await run(LINEAR, { mode: 'drill' });

    const [restore, check, tell] = recorded.actions('run-step');
    expect(Object.keys(restore.levels)).toEqual(['L1', 'L2']);
    expect(Object.keys(check.levels)).toEqual(['L1', 'L2', 'L3']);
    expect(tell.levels.L4.check.stepId).toBe('check');
    expect(restore).toMatchObject({ mode: 'drill', executionId: EXECUTION_ID, plan: 'orders-restore', kind: 'restore-dump' });
    expect(restore.suffix).toMatch(/^[0-9a-f]{8}$/);
    expect(new Set([restore, check, tell, ...recorded.actions('cleanup')].map((input) => input.suffix))).toEqual(new Set([restore.suffix]));
    expect(recorded.calls.find((call) => call.to === 'backup')!.input).toEqual({
      StateMachineArn: SUBSTITUTIONS.BackupStateMachineArn,
      Input: { sourceId: 'orders-db', trigger: 'manual', AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: EXECUTION_ID },
    });
  });

  it('runs the two middle steps of a diamond in parallel: both start before either ends', async () => {
    const started = new Map<string, number>();
    const ended = new Map<string, number>();
    let bothStarted: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (bothStarted = resolve));
    /** Each middle step waits, at most 5 s, for the other to start: run one after the other, they would fail. */
    const meetTheOther = (id: string) => async () => {
      started.set(id, performance.now());
      if (started.size === 2) bothStarted();
      const met = await Promise.race([barrier.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000))]);
      ended.set(id, performance.now());
      if (!met) throw new Error(`step ${id} ran alone`);
    };

    const { run: result, stubs: recorded } = await run(DIAMOND, {}, { behaviour: { b: { during: meetTheOther('b') }, c: { during: meetTheOther('c') } } });

    expect(result.status).toBe('SUCCEEDED');
    expect(Math.max(started.get('b')!, started.get('c')!)).toBeLessThan(Math.min(ended.get('b')!, ended.get('c')!));
    expect(ranSteps(recorded)[0]).toBe('a');
    expect(ranSteps(recorded)[3]).toBe('d');
    expect(Object.keys(evidenceOf(recorded).levels.L2).sort()).toEqual(['b', 'c']);
    expect(recorded.actions('run-step')[3].levels.L2.c.stepId).toBe('c');
  });

  it('runs a drill: Cleanup once, before RecordEvidence, and passes', async () => {
    const { run: result, stubs: recorded } = await run(LINEAR, { mode: 'drill' });

    expect(result.status).toBe('SUCCEEDED');
    expect(actionsInOrder(recorded)).toEqual(['run-step', 'run-step', 'run-step', 'cleanup', 'record-evidence']);
    expect(recorded.actions('cleanup')).toEqual([{ action: 'cleanup', plan: 'orders-restore', suffix: expect.stringMatching(/^[0-9a-f]{8}$/), executionId: EXECUTION_ID }]);
    expect(evidenceOf(recorded)).toMatchObject({ mode: 'drill', failure: null });
  });

  /** The failure injected at each step of the gated snapshot plan, and what the evidence then holds. */
  const INJECTED: [step: string, Behaviour | 'reject', error: string, recordedLevels: string[]][] = [
    ['backup', { failRun: Object.assign(new Error('the backup execution failed'), { name: 'States.TaskFailed' }) }, 'States.TaskFailed', []],
    ['restore (its approval)', 'reject', 'ApprovalRejectedError', ['L1']],
    ['restore', { failPoll: new RestoreFailedError('snapshot restore failed: incompatible-parameters') }, 'RestoreFailedError', ['L1']],
    ['check', { failRun: new ValidationFailedError('SELECT count(*) > 0 FROM orders returned false') }, 'ValidationFailedError', ['L1', 'L2']],
    ['tell', { failRun: new AlertPublishFailedError('SNS said no') }, 'AlertPublishFailedError', ['L1', 'L2', 'L3']],
  ];

  it.each(INJECTED)('fails a drill at %s: Cleanup exactly once, then RecordEvidence with the failure, then PlanFailedError', async (step, injected, error, recordedLevels) => {
    const behaviour = injected === 'reject' ? {} : { [step]: injected };
    const decide = async () => ({ approved: injected !== 'reject', approver: 'Ben Okafor', comment: 'checked', decidedAt: '2026-11-22T05:35:00.000Z' });

    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, { mode: 'drill' }, { behaviour, decide });

    expect(result).toMatchObject({ status: 'FAILED', error: PLAN_ERRORS.planFailed });
    expect(actionsInOrder(recorded).slice(-2)).toEqual(['cleanup', 'record-evidence']);
    expect(recorded.actions('cleanup')).toHaveLength(1);
    const evidence = evidenceOf(recorded);
    expect(evidence.failure).toEqual({ Error: error, Cause: expect.any(String) });
    expect(Object.keys(evidence.levels)).toEqual(recordedLevels);
    expect(topLevel(GATED_SNAPSHOT, result).slice(-6)).toEqual(['RunPlan', 'Finish', 'Cleanup', 'RecordEvidence', 'Passed?', 'PlanFailed']);
  });

  it('never runs the steps after the failed one', async () => {
    const { stubs: recorded } = await run(GATED_SNAPSHOT, { mode: 'drill' }, { behaviour: { restore: { failPoll: new RestoreFailedError('no') } } });

    expect(ranSteps(recorded)).toEqual(['restore']);
    expect(recorded.actions('describe-step')).toHaveLength(1);
  });

  it.each([
    ['passes', {}],
    ['fails', { check: { failRun: new ValidationFailedError('no rows') } }],
  ])('never calls Cleanup in a real run that %s', async (_outcome, behaviour) => {
    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, { mode: 'real' }, { behaviour });

    expect(recorded.actions('cleanup')).toEqual([]);
    expect(topLevel(GATED_SNAPSHOT, result)).not.toContain('Cleanup');
    expect(evidenceOf(recorded).mode).toBe('real');
  });

  it('fails the plan on a rejected approval before the destructive step runs, with the rejection recorded', async () => {
    const decide = async () => ({ approved: false, approver: 'Ben Okafor', comment: 'not during the sale', decidedAt: '2026-11-22T05:35:00.000Z' });

    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, {}, { decide });

    expect(result).toMatchObject({ status: 'FAILED', error: 'PlanFailedError' });
    expect(evidenceOf(recorded).failure).toEqual({ Error: 'ApprovalRejectedError', Cause: expect.stringContaining('Step restore of plan orders-snapshot was rejected') });
    expect(ranSteps(recorded)).toEqual([]);
    expect(result.visitedStates).toContain('Rejectedrestore');
    expect(result.events).toContainEqual(
      expect.objectContaining({ type: 'StateExited', state: expect.objectContaining({ name: 'Approverestore', output: expect.objectContaining({ gate: { approval: expect.objectContaining({ comment: 'not during the sale' }) } }) }) }),
    );
  });

  it('runs the destructive step once approved, with the decision in its record', async () => {
    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, {});

    const approvals = recorded.calls.filter((call) => call.to === 'approval').map((call) => call.input);
    expect(result.status).toBe('SUCCEEDED');
    expect(approvals).toEqual([
      {
        taskToken: expect.stringMatching(/.+/),
        plan: 'orders-snapshot',
        stepId: 'restore',
        question: 'Restore the snapshot?',
        mode: 'real',
        executionId: EXECUTION_ID,
        escalation: false,
        contacts: ['ana@example.com', 'ben@example.com'],
        expiresInSeconds: 1800,
      },
    ]);
    expect(evidenceOf(recorded).levels.L2.restore).toMatchObject({ stepId: 'restore', status: 'succeeded', approval: { approved: true, approver: 'Ana Lima' } });
  });

  it('escalates an undecided approval exactly once, then fails it with ApprovalTimedOutError', async () => {
    const undecided = () => new Promise<never>(() => undefined);

    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, { mode: 'drill' }, {
      decide: undecided,
      taskTimeoutOverrides: { Approverestore: 20, Escalaterestore: 20 },
    });

    const approvals = recorded.calls.filter((call) => call.to === 'approval').map((call) => call.input);
    expect(approvals.map((payload) => [payload.stepId, payload.escalation, payload.mode])).toEqual([
      ['restore', false, 'drill'],
      ['restore', true, 'drill'],
    ]);
    expect(approvals[0].taskToken).not.toBe(approvals[1].taskToken);
    expect(result).toMatchObject({ status: 'FAILED', error: 'PlanFailedError' });
    expect(evidenceOf(recorded).failure).toEqual({ Error: 'ApprovalTimedOutError', Cause: expect.stringContaining('within 60 minutes') });
    expect(ranSteps(recorded)).toEqual([]);
    expect(recorded.actions('cleanup')).toHaveLength(1);
  });

  it('goes on when the escalated approval is granted', async () => {
    const decide = async (payload: any) =>
      payload.escalation ? { approved: true, approver: 'Ben Okafor', comment: 'late but fine', decidedAt: '2026-11-22T06:10:00.000Z' } : new Promise(() => undefined);

    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, {}, { decide, taskTimeoutOverrides: { Approverestore: 20 } });

    expect(result.status).toBe('SUCCEEDED');
    expect(evidenceOf(recorded).levels.L2.restore.approval).toMatchObject({ approver: 'Ben Okafor', comment: 'late but fine' });
  });

  it('polls restore-snapshot every interval until available, then records the final record', async () => {
    const { run: result, stubs: recorded } = await run(GATED_SNAPSHOT, {}, { behaviour: { restore: { pollsUntilAvailable: 3 } } });

    expect(result.status).toBe('SUCCEEDED');
    expect(recorded.actions('describe-step')).toEqual(
      Array.from({ length: 3 }, () => ({ action: 'describe-step', step: { stepId: 'restore', kind: 'restore-snapshot', status: 'creating' } })),
    );
    expect(result.visitedStates.filter((name) => name === 'WaitForrestore')).toHaveLength(3);
    expect(result.visitedStates.filter((name) => name === 'Readyrestore?')).toHaveLength(4);
    expect(evidenceOf(recorded).levels.L2.restore).toMatchObject({ stepId: 'restore', kind: 'restore-snapshot', status: 'succeeded', result: { polls: 3 } });
  });

  it('gives up polling after the step timeout worth of polls with StepTimedOutError', async () => {
    const quick = plan('quick', [{ id: 'restore', kind: 'restore-snapshot', timeoutMinutes: 2, parameters: SNAPSHOT_RESTORE }]);

    const { run: result, stubs: recorded } = await run(quick, {}, { behaviour: { restore: { pollsUntilAvailable: 1_000 } } });

    expect(recorded.actions('describe-step')).toHaveLength(4);
    expect(evidenceOf(recorded).failure).toEqual({ Error: 'StepTimedOutError', Cause: 'Step restore (restore-snapshot) was not done within its timeout of 2 minutes.' });
    expect(result.error).toBe('PlanFailedError');
  });

  it('records a promote-replica skipped in a drill without polling', async () => {
    const promote = plan('failover', [{ id: 'promote', kind: 'promote-replica', parameters: { replicaIdentifier: 'orders-replica' } }]);

    const { run: result, stubs: recorded } = await run(promote, { mode: 'drill' });

    expect(result.status).toBe('SUCCEEDED');
    expect(recorded.actions('describe-step')).toEqual([]);
    expect(evidenceOf(recorded).levels.L1.promote).toMatchObject({ status: 'skipped', result: { wouldPromote: { replicaIdentifier: 'orders-replica' } } });
  });

  it('records a wait step with its times, and a drill whose clean-up fails as failed with the clean-up error', async () => {
    const definition = definitionOf(GATED_SNAPSHOT);
    const recorded = stubs(definition);
    const cleanupFails: TaskHandler = async () => {
      throw new RestoreFailedError('could not delete orders-new-drill-1a2b3c4d');
    };

    const result = await runStateMachine(definition as unknown as StateMachineDefinition, { mode: 'drill' }, {
      handlers: { ...recorded.handlers, Cleanup: cleanupFails },
      context: CONTEXT,
    });

    const evidence = evidenceOf(recorded);
    expect(evidence.levels.L3.settle).toEqual({
      stepId: 'settle',
      kind: 'wait',
      status: 'succeeded',
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      endedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      result: { minutes: 5 },
    });
    expect(evidence.levels.L3.settle.startedAt <= evidence.levels.L3.settle.endedAt).toBe(true);
    expect(evidence.failure).toEqual({ Error: 'RestoreFailedError', Cause: 'could not delete orders-new-drill-1a2b3c4d' });
    expect(result).toMatchObject({ status: 'FAILED', error: 'PlanFailedError' });
  });

  it('defaults an absent mode to real and refuses any other mode before running anything', async () => {
    const { run: defaulted } = await run(DIAMOND, {});
    const { run: refused, stubs: recorded } = await run(DIAMOND, { mode: 'test' });

    expect(topLevel(DIAMOND, defaulted)).toEqual(['CheckInput', 'DefaultMode', 'Initialize', 'RunPlan', 'Finish', 'RecordEvidence', 'Passed?', 'PlanPassed']);
    expect(refused).toMatchObject({ status: 'FAILED', error: PLAN_ERRORS.invalidInput });
    expect(recorded.calls).toEqual([]);
  });
});

describe('backup-now and wait steps: timeouts in seconds, and their approval gates run', () => {
  const stateNamed = (definition: AslDefinition, name: string) => [...statesOf(definition)].find(([n]) => n === name)?.[1];

  it('gives backup-now, by default, the backup state machine\'s own bound: 172800 seconds (48 h), over its 6 h snapshot wait and 24 h copy poll', () => {
    const backupAsl = JSON.parse(readFileSync(new URL('../../statemachines/backup.asl.json', import.meta.url), 'utf8')) as { TimeoutSeconds: number };
    const definition = definitionOf(plan('bn-default', [{ id: 'backup', kind: 'backup-now', parameters: { source: 'orders-db' } }]));
    expect(stateNamed(definition, 'Backupbackup')).toMatchObject({ Type: 'Task', Resource: 'arn:aws:states:::states:startExecution.sync:2', TimeoutSeconds: 172_800 });
    expect(backupAsl.TimeoutSeconds).toBe(172_800);
  });

  it('turns a configured timeout of minutes into seconds (90 minutes is 5400 s), for backup-now and wait alike', () => {
    const definition = definitionOf(
      plan('bn-set', [
        { id: 'backup', kind: 'backup-now', timeoutMinutes: 90, parameters: { source: 'orders-db' } },
        { id: 'settle', kind: 'wait', dependsOn: ['backup'], parameters: { minutes: 7 } },
      ]),
    );
    expect(stateNamed(definition, 'Backupbackup')).toMatchObject({ TimeoutSeconds: 5_400 });
    expect(stateNamed(definition, 'Waitsettle')).toEqual({ Type: 'Wait', Seconds: 420, Next: 'Donesettle' });
  });

  const gated = plan('gated', [
    { id: 'backup', kind: 'backup-now', approval: { question: 'Take a fresh backup first?' }, parameters: { source: 'orders-db' } },
    { id: 'settle', kind: 'wait', dependsOn: ['backup'], approval: { question: 'Wait for the replicas?' }, parameters: { minutes: 1 } },
  ]);

  it('runs an approval-gated backup-now and wait: each asks first, then runs', async () => {
    const { run: result, stubs: recorded } = await run(gated, { mode: 'drill' });
    expect(result.error ? `${result.error}: ${result.cause}` : result.status).toBe('SUCCEEDED');
    const order = recorded.calls.filter((c) => c.to !== 'dr-step').map((c) => (c.to === 'approval' ? `ask:${c.input.stepId}` : `run:${c.to}`));
    expect(order).toEqual(['ask:backup', 'run:backup', 'ask:settle']);
    // The wait ran after its approval: its entered states, in order.
    const waited = result.visitedStates.filter((s) => s.endsWith('settle'));
    expect(waited.indexOf('Waitsettle')).toBeGreaterThan(waited.indexOf('Approvesettle'));
    expect(evidenceOf(recorded).levels.L1.backup).toMatchObject({ stepId: 'backup', status: 'succeeded', approval: { approved: true } });
  });

  it('never starts the backup when its approval is refused', async () => {
    const { run: result, stubs: recorded } = await run(gated, { mode: 'drill' }, { decide: async () => ({ approved: false, approver: 'Ben Okafor', comment: 'not now', decidedAt: '2026-11-22T05:35:00.000Z' }) });
    expect(result.status).toBe('FAILED');
    expect(recorded.calls.filter((c) => c.to === 'backup')).toEqual([]);
    expect(result.visitedStates).not.toContain('Waitsettle');
  });
});

describe('compilePlan: steps too long for Lambda, given the Fargate runner', () => {
  const NETWORK = { subnets: ['subnet-0a1b2c3d'], securityGroups: ['sg-0a1b2c3d'] };
  const FARGATE = { networks: { 'orders-db': NETWORK } };
  const withTimeouts = (restore: number, check: number) =>
    plan('orders-restore', ordersRestoreSteps(SECRET).map((s) => (s.id === 'restore' ? { ...s, timeoutMinutes: restore } : s.id === 'check' ? { ...s, timeoutMinutes: check } : s)));
  const branchOf = (definition: AslDefinition, first: string) => [...statesOf(definition)].filter(([, state]) => Array.isArray(state['Branches'])).flatMap(([, state]) => state['Branches'] as AslMachine[]).find((b) => b.StartAt === first);

  it('runs a 2-hour restore-dump as the DR step task for 7200 s and reads its record back; 15 minutes stay on the step executor', () => {
    const definition = compilePlan(withTimeouts(120, 15), { name: 'lifeboat', fargate: FARGATE });
    const restore = branchOf(definition, 'Preparerestore')!;
    expect(Object.keys(restore.States)).toEqual(['Preparerestore', 'Runrestore', 'Readrestore', 'Donerestore']);
    expect(restore.States['Runrestore']).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSeconds: 7200,
      Parameters: { Cluster: '${RunnerClusterArn}', TaskDefinition: '${DrStepTaskDefinitionArn}', NetworkConfiguration: { AwsvpcConfiguration: { Subnets: NETWORK.subnets, SecurityGroups: NETWORK.securityGroups, AssignPublicIp: 'DISABLED' } } },
    });
    // The task gets the event the Lambda would, but for the earlier levels' records: a restore reads none, and
    // they would grow the container override (8,192 characters in ECS) with every step of the plan.
    const lambda = [...statesOf(compilePlan(withTimeouts(120, 15), { name: 'lifeboat' }))].find(([name]) => name === 'Runrestore')![1];
    const { 'levels.$': everyLevel, ...lambdaEvent } = lambda['Parameters'] as Record<string, unknown>;
    expect(everyLevel).toBe('$.levels');
    expect(restore.States['Preparerestore']).toEqual({ Type: 'Pass', Parameters: { ...lambdaEvent, levels: {} }, ResultPath: '$.taskEvent', Next: 'Runrestore' });
    const check = branchOf(definition, 'Runcheck')!;
    expect(Object.keys(check.States)).toEqual(['Runcheck', 'Donecheck']);
    expect(check.States['Runcheck']).toMatchObject({ Resource: '${DrStepFunctionArn}', TimeoutSeconds: 900 });
  });

  it('keeps 15 minutes (900 s, what Lambda allows) on Lambda and moves 16 to Fargate; a validate step follows the same rule', () => {
    const onLambda = compilePlan(withTimeouts(15, 16), { name: 'lifeboat', fargate: FARGATE });
    expect([...statesOf(onLambda)].find(([name]) => name === 'Runrestore')![1]).toMatchObject({ Resource: '${DrStepFunctionArn}', TimeoutSeconds: 900 });
    expect([...statesOf(onLambda)].find(([name]) => name === 'Runcheck')![1]).toMatchObject({ Resource: 'arn:aws:states:::ecs:runTask.sync', TimeoutSeconds: 960 });
    // Without the runner (a local drill) every step is the step executor's: no limit applies there.
    const local = compilePlan(withTimeouts(120, 30), { name: 'lifeboat' });
    expect([...statesOf(local)].filter(([, state]) => state['Resource'] === 'arn:aws:states:::ecs:runTask.sync')).toEqual([]);
  });

  it('gives a Fargate validate step only its target restore\'s record, from the level that restore ran in', () => {
    const definition = compilePlan(withTimeouts(120, 30), { name: 'lifeboat', fargate: FARGATE });
    const check = branchOf(definition, 'Preparecheck')!;
    // backup (L1) ▸ go (L2) ▸ restore (L3) ▸ check (L4).
    expect((check.States['Preparecheck']!['Parameters'] as Record<string, unknown>)['levels']).toEqual({ L3: { 'restore.$': '$.levels.L3.restore' } });
  });

  it('refuses to compile a Fargate step whose parameters would crowd ECS\'s 8,192-character overrides, naming the step and the sizes', () => {
    const sqlChecks = Array.from({ length: 60 }, (_, i) => `SELECT count(*) > ${i} FROM orders WHERE note <> '${'x'.repeat(40)}'`);
    const withChecks = (minutes: number) =>
      plan('orders-restore', ordersRestoreSteps(SECRET).map((s) => (s.id === 'check' ? ({ ...s, timeoutMinutes: minutes, parameters: { target: 'restore', sqlChecks } } as typeof s) : s)));
    expect(() => compilePlan(withChecks(30), { name: 'lifeboat', fargate: FARGATE })).toThrow(
      /^DR plan 'orders-restore' cannot be compiled: step 'check' runs on Fargate, where its event travels in ECS container overrides \(8192 characters in all\), and its parameters take \d{4} characters \(at most 4096\): shorten its SQL checks, or split them over two validate steps$/,
    );
    // The same checks on Lambda (15 minutes) compile: the limit is ECS's.
    const onLambda = withChecks(15);
    expect(() => compilePlan(onLambda, { name: 'lifeboat', fargate: FARGATE })).not.toThrow();
  });

  it('runs a restore-files step longer than Lambda on the DR step task, in the network known for its file set', () => {
    const files = (minutes: number) =>
      plan('uploads-restore', [{ id: 'files', kind: 'restore-files', timeoutMinutes: minutes, parameters: { source: 'uploads', target: { bucket: 'orders-app-uploads-restore' } } }]);
    const network = { subnets: ['subnet-0f1e2d3c'], securityGroups: ['sg-0f1e2d3c'] };
    const long = [...statesOf(compilePlan(files(120), { name: 'lifeboat', fargate: { networks: { uploads: network } } }))].find(([name]) => name === 'Runfiles')![1];
    expect(long).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSeconds: 7200,
      Parameters: { TaskDefinition: '${DrStepTaskDefinitionArn}', NetworkConfiguration: { AwsvpcConfiguration: { Subnets: network.subnets, SecurityGroups: network.securityGroups, AssignPublicIp: 'DISABLED' } } },
    });
    const short = [...statesOf(compilePlan(files(15), { name: 'lifeboat', fargate: { networks: { uploads: network } } }))].find(([name]) => name === 'Runfiles')![1];
    expect(short).toMatchObject({ Resource: '${DrStepFunctionArn}', TimeoutSeconds: 900 });
    expect(() => compilePlan(files(120), { name: 'lifeboat', fargate: { networks: {} } })).toThrow("step 'files' (restore-files, 120 minutes) runs on Fargate, and no network is known for source 'uploads'");
  });

  it('refuses to compile a Fargate step when no network is known for its source, naming the plan, step and source', () => {
    expect(() => compilePlan(withTimeouts(120, 15), { name: 'lifeboat', fargate: { networks: {} } })).toThrow(
      "DR plan 'orders-restore' cannot be compiled: step 'restore' (restore-dump, 120 minutes) runs on Fargate, and no network is known for source 'orders-db'",
    );
  });

  it('runs: the task\'s outcome is read back by read-step-record, and a failed task fails the plan with the error it recorded', async () => {
    const definition = deployed(compilePlan(withTimeouts(120, 15), { name: 'lifeboat', fargate: FARGATE }));
    const requests: unknown[] = [];
    const reads: unknown[] = [];
    const record = { stepId: 'restore', kind: 'restore-dump', status: 'succeeded', startedAt: '2026-11-22T05:40:00.000Z', endedAt: '2026-11-22T06:40:00.000Z', result: { backupId: 'b1' } };
    const run = async (outcome: 'ok' | 'failed') => {
      const handlers = taskHandlers(definition, {
        drStep: async (input) => {
          const event = input as Record<string, unknown>;
          if (event.action === 'read-step-record') {
            reads.push(event);
            if (outcome === 'failed') throw Object.assign(new Error('target orders is not empty'), { name: 'TargetNotEmptyError' });
            return record;
          }
          if (event.action === 'record-evidence') return { format: 'lifeboat-dr-evidence' };
          return { stepId: event.stepId, kind: event.kind, status: 'succeeded', startedAt: 'x', endedAt: 'y', result: {} };
        },
        approval: async () => ({ approved: true, approver: 'ana@example.com', comment: 'go' }),
        backup: async () => ({ ExecutionArn: 'arn:aws:states:eu-west-1:123456789012:execution:lifeboat-backup:x', Output: '{}' }),
        fargate: async (input) => {
          requests.push(input);
          if (outcome === 'failed') throw Object.assign(new Error('{"StopCode":"EssentialContainerExited"}'), { name: 'States.TaskFailed' });
          return { LastStatus: 'STOPPED' };
        },
      });
      return runStateMachine(definition as unknown as StateMachineDefinition, { mode: 'real' }, { handlers, context: CONTEXT });
    };
    const passed = await run('ok');
    expect(passed.status).toBe('SUCCEEDED');
    expect(reads.at(-1)).toEqual({ action: 'read-step-record', plan: 'orders-restore', stepId: 'restore', executionId: EXECUTION_ID });
    const event = JSON.parse(((requests.at(-1) as { Overrides: { ContainerOverrides: { Environment: { Value: string }[] }[] } }).Overrides.ContainerOverrides[0]!.Environment[0]!.Value)) as Record<string, unknown>;
    expect(event).toMatchObject({ action: 'run-step', stepId: 'restore', kind: 'restore-dump', mode: 'real', executionId: EXECUTION_ID });

    const failed = await run('failed');
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe(PLAN_ERRORS.planFailed);
    expect(failed.visitedStates).toEqual(expect.arrayContaining(['Runrestore', 'Readrestore']));
    expect(failed.visitedStates).not.toContain('Runcheck');
  });
});
