import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { ChecksumMismatchError, StoreWriteFailedError } from '../../functions/lib/errors.ts';
import {
  loadStateMachine,
  runStateMachine,
  validateStateMachine,
  type StateMachineDefinition,
  type TaskHandler,
} from './stateMachine.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/statemachines/${name}.asl.json`, import.meta.url));
const SAMPLE = fixture('sample');

/** Records every call so tests can assert how often a Task ran and with what. */
function recorder(behaviour: (input: unknown, call: number) => Promise<unknown>): TaskHandler & { calls: unknown[] } {
  const calls: unknown[] = [];
  const handler = async (input: unknown) => {
    calls.push(input);
    return behaviour(input, calls.length);
  };
  return Object.assign(handler, { calls });
}

function sampleHandlers(write: TaskHandler) {
  return {
    WriteBackup: write,
    Verify: recorder(async (input) => ({ verified: true, checked: input })),
    CopyToDrRegion: recorder(async (input) => ({ copied: true, copiedAt: new Date('2025-01-02T03:04:05Z'), from: input })),
  };
}

describe('loadStateMachine', () => {
  it('reads and validates a fixture by absolute path', async () => {
    const definition = await loadStateMachine(SAMPLE);

    expect(definition.StartAt).toBe('WriteBackup');
    expect(Object.keys(definition.States)).toContain('VerifyAndCopy');
  });

  it('resolves names inside the repository statemachines/ directory, whatever the working directory', async () => {
    const expected = fileURLToPath(new URL('../../statemachines/no-such-machine.asl.json', import.meta.url));
    const cwd = process.cwd();
    process.chdir('/tmp');
    try {
      await expect(loadStateMachine('no-such-machine')).rejects.toThrow(`State machine file ${expected} cannot be read`);
    } finally {
      process.chdir(cwd);
    }
  });

  it('rejects an invalid file with every validator error listed', async () => {
    const failure = loadStateMachine(fixture('invalid'));

    await expect(failure).rejects.toThrow(`${fixture('invalid')} is invalid ASL`);
    await expect(failure).rejects.toThrow("MISSING_TRANSITION_TARGET: Missing 'StartAt'|'Next'|'Default' target: NoSuchState");
    await expect(failure).rejects.toThrow('MISSING_TERMINAL_STATE');
  });

  it('applies definition substitutions before validating', async () => {
    const template = fixture('substituted');

    const definition = await loadStateMachine(template, {
      substitutions: { WriteBackupFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:write' },
    });

    expect(definition.States['WriteBackup']).toMatchObject({
      Resource: 'arn:aws:lambda:eu-west-1:123456789012:function:write',
    });
  });
});

describe('validateStateMachine', () => {
  it('rejects an inline definition naming the offending field', () => {
    const definition = { StartAt: 'Dump', States: { Dump: { Type: 'Wait', Next: 'Done' }, Done: { Type: 'Succeed' } } };

    expect(() => validateStateMachine(definition)).toThrow(/State machine definition is invalid ASL:\n {2}WAIT_DURATION/);
  });

  it('leaves the caller definition unmodified', () => {
    const definition = {
      Comment: 'asl-validator 4 writes QueryLanguage into every state it checks',
      StartAt: 'Pause',
      States: { Pause: { Type: 'Wait', Seconds: 1, Next: 'Done' }, Done: { Type: 'Succeed' } },
    };
    const before = structuredClone(definition);

    validateStateMachine(definition);

    expect(definition).toEqual(before);
  });
});

describe('runStateMachine with the sample fixture', () => {
  it('runs the success path through Task, Choice, Wait and Parallel', async () => {
    const write = recorder(async () => ({ stored: true, key: 'orders/b-1/payload' }));
    const handlers = sampleHandlers(write);
    const started = Date.now();

    const run = await runStateMachine(SAMPLE, { sourceId: 'orders' }, { handlers });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual({
      sourceId: 'orders',
      write: { stored: true, key: 'orders/b-1/payload' },
      checks: [
        { verified: true, checked: { key: 'orders/b-1/payload' } },
        { copied: true, copiedAt: '2025-01-02T03:04:05.000Z', from: { key: 'orders/b-1/payload' } },
      ],
    });
    expect(run.visitedStates.filter((name) => !['Verify', 'CopyToDrRegion'].includes(name))).toEqual([
      'WriteBackup',
      'IsVerificationDue',
      'WaitForConsistency',
      'VerifyAndCopy',
      'BackupComplete',
    ]);
    expect(run.visitedStates).toEqual(expect.arrayContaining(['Verify', 'CopyToDrRegion']));
    expect(write.calls).toEqual([{ sourceId: 'orders' }]);
    // The fixture's Wait is 30 s; by default the harness makes it instant.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('takes the Choice default branch', async () => {
    const handlers = sampleHandlers(recorder(async () => ({ stored: false })));

    const run = await runStateMachine(SAMPLE, {}, { handlers });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.visitedStates).toEqual(['WriteBackup', 'IsVerificationDue', 'NothingStored']);
    expect(handlers.Verify.calls).toEqual([]);
  });

  it('pauses a Wait state for the overridden time', async () => {
    const handlers = sampleHandlers(recorder(async () => ({ stored: true, key: 'k' })));

    const run = await runStateMachine(SAMPLE, {}, { handlers, waitTimeOverrides: { WaitForConsistency: 300 } });

    const entered = run.events.find((event) => event.type === 'StateEntered' && event.state.name === 'WaitForConsistency');
    const exited = run.events.find((event) => event.type === 'StateExited' && event.state.name === 'WaitForConsistency');
    expect(run.status).toBe('SUCCEEDED');
    expect((exited?.timestamp ?? 0) - (entered?.timestamp ?? 0)).toBeGreaterThanOrEqual(290);
  });

  it('retries a named error and then succeeds', async () => {
    const write = recorder(async (_input, call) => {
      if (call === 1) throw new StoreWriteFailedError('vault returned 503');
      return { stored: true, key: 'orders/b-2/payload' };
    });
    const started = Date.now();

    const run = await runStateMachine(SAMPLE, { sourceId: 'orders' }, { handlers: sampleHandlers(write) });

    expect(run.status).toBe('SUCCEEDED');
    expect(write.calls).toHaveLength(2);
    // The fixture backs off 5 s before retrying; by default the harness retries at once.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(run.events.filter((event) => event.type === 'StateRetried').map((event) => event.state.name)).toEqual([
      'WriteBackup',
    ]);
    expect(run.events).toContainEqual(
      expect.objectContaining({ type: 'StateFailed', Error: 'StoreWriteFailedError', state: expect.objectContaining({ name: 'WriteBackup' }) }),
    );
  });

  it('stops retrying after MaxAttempts and ends in the Fail state with the error name', async () => {
    const write = recorder(async () => {
      throw new StoreWriteFailedError('vault keeps returning 503');
    });

    const run = await runStateMachine(SAMPLE, {}, { handlers: sampleHandlers(write) });

    expect(write.calls).toHaveLength(3);
    expect(run).toMatchObject({ status: 'FAILED', error: 'StoreWriteFailedError', cause: 'vault keeps returning 503' });
    expect(run.visitedStates).toEqual(['WriteBackup', 'BackupFailed']);
  });

  it('catches an error it does not retry and fails with that error name', async () => {
    const write = recorder(async () => {
      throw new ChecksumMismatchError('stored SHA-256 differs from the manifest');
    });

    const run = await runStateMachine(SAMPLE, {}, { handlers: sampleHandlers(write) });

    expect(write.calls).toHaveLength(1);
    expect(run).toMatchObject({
      status: 'FAILED',
      error: 'ChecksumMismatchError',
      cause: 'stored SHA-256 differs from the manifest',
    });
    expect(run.output).toBeUndefined();
    expect(run.visitedStates).toEqual(['WriteBackup', 'BackupFailed']);
    expect(run.events).toContainEqual(expect.objectContaining({ type: 'StateCaught' }));
  });

  it('catches a failure inside a Parallel branch', async () => {
    const handlers = {
      ...sampleHandlers(recorder(async () => ({ stored: true, key: 'k' }))),
      CopyToDrRegion: recorder(async () => {
        throw new StoreWriteFailedError('DR bucket unreachable');
      }),
    };

    const run = await runStateMachine(SAMPLE, {}, { handlers });

    expect(run).toMatchObject({ status: 'FAILED', error: 'StoreWriteFailedError', cause: 'DR bucket unreachable' });
    expect(run.visitedStates.at(-1)).toBe('BackupFailed');
  });

  it('ends ABORTED when the signal fires', async () => {
    const controller = new AbortController();
    const handlers = sampleHandlers(
      recorder(async () => {
        controller.abort();
        return new Promise(() => undefined);
      }),
    );

    const run = await runStateMachine(SAMPLE, {}, { handlers, signal: controller.signal });

    expect(run.status).toBe('ABORTED');
    expect(run.visitedStates).toEqual(['WriteBackup']);
  });
});

describe('runStateMachine guards', () => {
  it('refuses to run when a Task state has no handler, naming it', async () => {
    const failure = runStateMachine(SAMPLE, {}, { handlers: { WriteBackup: async () => ({}) } });

    await expect(failure).rejects.toThrow('no handler for Task state(s): Verify, CopyToDrRegion');
  });

  it('refuses a handler for a state that is not a Task', async () => {
    const handlers = { ...sampleHandlers(async () => ({})), IsVerificationDue: async () => ({}) };

    await expect(runStateMachine(SAMPLE, {}, { handlers })).rejects.toThrow(
      'handler(s) for states that are not Task states: IsVerificationDue',
    );
  });

  it('refuses JSONata, which the interpreter does not evaluate', async () => {
    const definition = {
      QueryLanguage: 'JSONata',
      StartAt: 'Done',
      States: { Done: { Type: 'Succeed' } },
    } as unknown as StateMachineDefinition;

    await expect(runStateMachine(definition, {}, { handlers: {} })).rejects.toThrow('does not evaluate JSONata');
  });

  it('emulates the lambda:invoke integration: Payload in, wrapped result out', async () => {
    const definition: StateMachineDefinition = {
      StartAt: 'Snapshot',
      States: {
        Snapshot: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:snapshot', 'Payload.$': '$' },
          ResultSelector: { 'snapshotId.$': '$.Payload.snapshotId', 'status.$': '$.StatusCode' },
          End: true,
        },
      },
    };
    const snapshot = recorder(async () => ({ snapshotId: 'snap-1' }));

    const run = await runStateMachine(definition, { dbInstance: 'orders' }, { handlers: { Snapshot: snapshot } });

    expect(snapshot.calls).toEqual([{ dbInstance: 'orders' }]);
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { snapshotId: 'snap-1', status: 200 } });
  });
});

describe('runStateMachine callbacks and context', () => {
  const approvalMachine = (timeoutSeconds = 60): StateMachineDefinition =>
    ({
      StartAt: 'Ask',
      States: {
        Ask: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: {
            FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:ask',
            Payload: { 'taskToken.$': '$$.Task.Token', 'question.$': '$.question', 'askedAt.$': '$$.State.EnteredTime' },
          },
          TimeoutSeconds: timeoutSeconds,
          ResultPath: '$.decision',
          Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.timedOut', Next: 'AskAgain' }],
          Next: 'Decided',
        },
        AskAgain: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: { FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:ask', Payload: { 'taskToken.$': '$$.Task.Token' } },
          ResultPath: '$.decision',
          Next: 'Decided',
        },
        Decided: { Type: 'Succeed' },
      },
    }) as unknown as StateMachineDefinition;

  it('emulates lambda:invoke.waitForTaskToken: Payload with a task token in, the callback output unwrapped', async () => {
    let decide: (decision: unknown) => void = () => undefined;
    const decided = new Promise((resolve) => (decide = resolve));
    const ask = recorder(async () => decided);
    const before = new Date().toISOString();

    const running = runStateMachine(approvalMachine(), { question: 'go?' }, { handlers: { Ask: ask, AskAgain: recorder(async () => ({})) } });
    await vi.waitFor(() => expect(ask.calls).toHaveLength(1));
    decide({ approved: true });
    const run = await running;

    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { question: 'go?', decision: { approved: true } } });
    const payload = ask.calls[0] as { taskToken: string; question: string; askedAt: string };
    expect(payload.question).toBe('go?');
    expect(payload.taskToken).toMatch(/^local-task-token-\d+$/);
    expect(payload.askedAt >= before && payload.askedAt <= new Date().toISOString()).toBe(true);
  });

  it('gives every read of $$.Task.Token a new token, and keeps a token the caller sets', async () => {
    const ask = recorder(async () => {
      throw Object.assign(new Error('no decision'), { name: 'States.Timeout' });
    });
    const again = recorder(async () => ({ approved: false }));

    await runStateMachine(approvalMachine(), { question: 'go?' }, { handlers: { Ask: ask, AskAgain: again } });
    const tokens = [...ask.calls, ...again.calls].map((call) => (call as { taskToken: string }).taskToken);
    await runStateMachine(approvalMachine(), { question: 'go?' }, { handlers: { Ask: ask, AskAgain: again }, context: { Task: { Token: 'fixed' } } });

    expect(new Set(tokens).size).toBe(2);
    expect((ask.calls[1] as { taskToken: string }).taskToken).toBe('fixed');
  });

  it('times a never-settling task out with States.Timeout after the overridden milliseconds', async () => {
    const ask = recorder(() => new Promise(() => undefined));
    const again = recorder(async () => ({ approved: true }));
    const started = Date.now();

    const run = await runStateMachine(approvalMachine(3600), { question: 'go?' }, {
      handlers: { Ask: ask, AskAgain: again },
      taskTimeoutOverrides: { Ask: 20 },
    });

    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { timedOut: { Error: 'States.Timeout' }, decision: { approved: true } } });
    expect(run.visitedStates).toEqual(['Ask', 'AskAgain', 'Decided']);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a task timeout override for a state that is not a Task', async () => {
    const handlers = { Ask: async () => ({}), AskAgain: async () => ({}) };

    await expect(runStateMachine(approvalMachine(), {}, { handlers, taskTimeoutOverrides: { Decided: 1 } })).rejects.toThrow(
      'task timeout override(s) for states that are not Task states: Decided',
    );
  });

  it('still refuses the .sync Lambda integration it cannot emulate', async () => {
    const definition = {
      StartAt: 'Sync',
      States: { Sync: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.sync', Parameters: { FunctionName: 'f' }, End: true } },
    } as unknown as StateMachineDefinition;

    await expect(runStateMachine(definition, {}, { handlers: { Sync: async () => ({}) } })).rejects.toThrow('no .sync support for Lambda');
  });
});
