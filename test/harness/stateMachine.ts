import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type RunOptions,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';

export type { StateMachineDefinition };

/** One entry of the interpreter's event log (StateEntered, StateRetried, ExecutionFailed, ...). */
export type ExecutionEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer Event> ? Event : never;

/**
 * The local stand-in for a Lambda behind a Task state: JSON in, JSON out, a thrown Error's `name` is the ASL error.
 * Behind `lambda:invoke.waitForTaskToken` it stands for the whole round trip: it receives the `Payload` (with the
 * `$$.Task.Token` in it) and what it resolves to is what `SendTaskSuccess` would send (a throw: `SendTaskFailure`).
 */
export type TaskHandler = (input: unknown) => Promise<unknown>;

export interface RunStateMachineOptions {
  /** One handler per Task state, keyed by state name; every Task state must have one. */
  readonly handlers: Readonly<Record<string, TaskHandler>>;
  /** Milliseconds a Wait state pauses, by state name. @default 0 for every Wait state */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /** Milliseconds before each retry, by state name (or per retrier). @default 0 for every Retry */
  readonly retryIntervalOverrides?: Readonly<Record<string, number | readonly number[]>>;
  /**
   * Milliseconds after which a Task state fails with `States.Timeout`, by state name, instead of its
   * `TimeoutSeconds` (a handler that never settles then times out as it would in Step Functions).
   * @default each state's own TimeoutSeconds (60 s without one)
   */
  readonly taskTimeoutOverrides?: Readonly<Record<string, number>>;
  /** Honour the ASL's own Wait durations and Retry back-offs instead of defaulting them to 0 ms. @default false */
  readonly realTime?: boolean;
  /**
   * Context object fields (`$$.Execution.Id`, ...); `Execution.Input` and `StartTime` are always set by the interpreter.
   * Unless given here, the harness adds `$$.Task.Token` (a fresh token each time a state reads it) and
   * `$$.State.EnteredTime` (the time a state reads it: its entry, for Parameters), which the interpreter lacks.
   */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Aborts the execution; the run then ends ABORTED. */
  readonly signal?: AbortSignal;
}

export interface StateMachineRun {
  /** TIMED_OUT when the definition's TimeoutSeconds elapsed, as Step Functions reports it. */
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  /** The execution's output, when it succeeded. */
  readonly output?: unknown;
  /** The ASL error name (`StoreWriteFailedError`, `States.Timeout`, ...) when it did not succeed. */
  readonly error?: string;
  /** The error message, or a Fail state's Cause. */
  readonly cause?: string;
  /** Names of the states entered, in order, including those inside Parallel branches and Map iterations. */
  readonly visitedStates: string[];
  /** The interpreter's full event log, for assertions on retries and catches. */
  readonly events: ExecutionEvent[];
}

interface AslValidationResult {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
type AslValidator = (definition: unknown, options: { checkPaths: boolean; checkArn: boolean }) => AslValidationResult;

// asl-validator is CommonJS without type declarations.
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

const STATE_MACHINES_DIRECTORY = new URL('../../statemachines/', import.meta.url);
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN = `${LAMBDA_INVOKE}.waitForTaskToken`;

/**
 * Reads and validates an ASL file: `name` is resolved inside the repository's `statemachines/` directory
 * (`.asl.json` is appended when the name has no `.json` extension); an absolute path is read as is.
 * `substitutions` replaces `${Name}` placeholders, as CDK's `definitionSubstitutions` does.
 */
export async function loadStateMachine(
  name: string,
  options: { readonly substitutions?: Readonly<Record<string, string>> } = {},
): Promise<StateMachineDefinition> {
  const fileName = name.endsWith('.json') ? name : `${name}.asl.json`;
  const path = isAbsolute(fileName) ? fileName : fileURLToPath(new URL(fileName, STATE_MACHINES_DIRECTORY));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`State machine file ${path} cannot be read`, { cause: error });
  }
  for (const [key, value] of Object.entries(options.substitutions ?? {})) {
    text = text.replaceAll(`\${${key}}`, value);
  }
  let definition: unknown;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    throw new Error(`State machine file ${path} is not valid JSON`, { cause: error });
  }
  return validateStateMachine(definition, path);
}

/** Definitions already validated in this process, by their JSON text: asl-validator compiles its schema on every call (~300 ms). */
const validDefinitions = new Set<string>();

/** Checks a definition with asl-validator and throws one error listing every problem. */
export function validateStateMachine(definition: unknown, label = 'State machine definition'): StateMachineDefinition {
  const json = JSON.stringify(definition);
  if (validDefinitions.has(json)) return definition as StateMachineDefinition;
  // The validator fills in QueryLanguage on every state; keep the caller's object untouched.
  const { isValid, errorsText } = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  if (!isValid) {
    throw new Error(`${label} is invalid ASL:\n  ${errorsText('\n  ')}`);
  }
  validDefinitions.add(json);
  return definition as StateMachineDefinition;
}

/**
 * Runs a state machine locally with aws-local-stepfunctions, each Task state bound to a local handler.
 * Handlers see their input and return their output through JSON, as a Lambda would. For the optimised
 * `arn:aws:states:::lambda:invoke` integration the handler receives `Payload` and its result comes back
 * wrapped as `{ ExecutedVersion, Payload, StatusCode }`, as in Step Functions. For
 * `arn:aws:states:::lambda:invoke.waitForTaskToken` the handler receives `Payload` and its result is the
 * task's output unwrapped, as the callback's `SendTaskSuccess` output is.
 *
 * @example
 * const run = await runStateMachine('backup', { sourceId: 'orders' }, { handlers: { Dump: (input) => dump(input, deps) } });
 * expect(run.status).toBe('SUCCEEDED');
 */
export async function runStateMachine(
  definitionOrName: StateMachineDefinition | string,
  input: unknown,
  options: RunStateMachineOptions,
): Promise<StateMachineRun> {
  const definition =
    typeof definitionOrName === 'string'
      ? await loadStateMachine(definitionOrName)
      : validateStateMachine(definitionOrName);
  const states = [...allStates(definition)];
  assertJsonPathOnly(definition, states);
  const taskResourceLocalHandlers = bindHandlers(states, options.handlers, options.taskTimeoutOverrides ?? {});

  const zeroWaits = options.realTime ? {} : zeroFor(states, (state) => state.Type === 'Wait');
  const zeroRetries = options.realTime ? {} : zeroFor(states, (state) => Array.isArray(state.Retry));
  const runOptions: RunOptions = {
    overrides: {
      taskResourceLocalHandlers,
      waitTimeOverrides: { ...zeroWaits, ...options.waitTimeOverrides },
      retryIntervalOverrides: { ...zeroRetries, ...copyRetryOverrides(options.retryIntervalOverrides) },
    },
    context: withEmulatedContext(options.context) as RunOptions['context'],
  };

  // Validated above with asl-validator 4; the interpreter's own check (its bundled 3.x validator) would repeat it.
  const execution = new StateMachine(definition, { validationOptions: { noValidate: true } }).run(toJson(input) as never, runOptions);
  const onAbort = () => execution.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) execution.abort();

  const events: ExecutionEvent[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) events.push(event);
  })();

  let outcome: Pick<StateMachineRun, 'status' | 'output' | 'error' | 'cause'>;
  try {
    outcome = { status: 'SUCCEEDED', output: await execution.result };
  } catch (thrown) {
    outcome = describeFailure(thrown);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  await collecting;

  const visitedStates = events.flatMap((event) => (event.type === 'StateEntered' ? [event.state.name] : []));
  return { ...outcome, visitedStates, events };
}

function describeFailure(thrown: unknown): Pick<StateMachineRun, 'status' | 'error' | 'cause'> {
  if (thrown instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (thrown instanceof ExecutionTimeoutError) {
    return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution exceeded its TimeoutSeconds' };
  }
  // ExecutionError wraps what the failing state threw: a handler's own Error or a Fail state's error.
  const failure = thrown instanceof ExecutionError ? thrown.cause : thrown;
  if (failure instanceof Error) return { status: 'FAILED', error: failure.name, cause: failure.message };
  return { status: 'FAILED', error: 'Error', cause: String(failure) };
}

/** The fields of a state the harness looks at, whatever its type. */
interface AslState {
  readonly Type?: string;
  readonly Resource?: string;
  readonly Retry?: unknown;
  readonly QueryLanguage?: string;
  readonly Branches?: readonly AslMachine[];
  readonly Iterator?: AslMachine;
  readonly ItemProcessor?: AslMachine;
}
interface AslMachine {
  readonly States?: Readonly<Record<string, AslState>>;
  readonly QueryLanguage?: string;
}

/** Every state with its name, descending into Parallel branches and Map processors. */
function* allStates(machine: AslMachine): Generator<[string, AslState]> {
  for (const [name, state] of Object.entries(machine.States ?? {})) {
    yield [name, state];
    for (const branch of state.Branches ?? []) yield* allStates(branch);
    if (state.Iterator) yield* allStates(state.Iterator);
    if (state.ItemProcessor) yield* allStates(state.ItemProcessor);
  }
}

function assertJsonPathOnly(definition: AslMachine, states: readonly [string, AslState][]): void {
  const jsonata = states.filter(([, state]) => state.QueryLanguage === 'JSONata').map(([name]) => name);
  if (definition.QueryLanguage === 'JSONata' || jsonata.length > 0) {
    const where = jsonata.length > 0 ? `states ${jsonata.join(', ')}` : 'the whole definition';
    throw new Error(`aws-local-stepfunctions does not evaluate JSONata (${where}); write Lifeboat's ASL in JSONPath`);
  }
}

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

/** Without a handler the interpreter would call the real Lambda, so a missing or misspelt name is an error. */
function bindHandlers(
  states: readonly [string, AslState][],
  handlers: Readonly<Record<string, TaskHandler>>,
  timeouts: Readonly<Record<string, number>>,
): LocalHandlers {
  const tasks = new Map(states.filter(([, state]) => state.Type === 'Task'));
  const missing = [...tasks.keys()].filter((name) => !(name in handlers));
  const unknown = Object.keys(handlers).filter((name) => !tasks.has(name));
  const unknownTimeouts = Object.keys(timeouts).filter((name) => !tasks.has(name));
  const problems = [
    ...(missing.length > 0 ? [`no handler for Task state(s): ${missing.join(', ')}`] : []),
    ...(unknown.length > 0 ? [`handler(s) for states that are not Task states: ${unknown.join(', ')}`] : []),
    ...(unknownTimeouts.length > 0 ? [`task timeout override(s) for states that are not Task states: ${unknownTimeouts.join(', ')}`] : []),
  ];
  if (problems.length > 0) throw new Error(`Cannot run the state machine locally: ${problems.join('; ')}`);

  const bound: LocalHandlers = {};
  for (const [name, state] of tasks) {
    const given = handlers[name];
    if (given === undefined) continue;
    const timeoutMs = timeouts[name];
    const handler: TaskHandler = timeoutMs === undefined ? given : (input) => timingOut(given(input), timeoutMs);
    const resource = state.Resource ?? '';
    if (resource.startsWith(`${LAMBDA_INVOKE}.`) && resource !== LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN) {
      throw new Error(`Task state ${name} uses ${resource}; the local interpreter has no .sync support for Lambda`);
    }
    const payloadOf = (input: unknown) => toJson((input as { Payload?: unknown } | null)?.Payload);
    bound[name] =
      resource === LAMBDA_INVOKE
        ? async (input) => {
            const result = toJson(await handler(payloadOf(input)));
            return { ExecutedVersion: '$LATEST', Payload: result, StatusCode: 200 } as never;
          }
        : resource === LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN
          ? async (input) => toJson(await handler(payloadOf(input))) as never
          : async (input) => toJson(await handler(toJson(input))) as never;
  }
  return bound;
}

/** What Step Functions raises when a Task exceeds its TimeoutSeconds; Retry and Catch match the name. */
class TaskTimeoutError extends Error {
  constructor(milliseconds: number) {
    super(`The task did not finish within ${milliseconds} ms (taskTimeoutOverrides)`);
    this.name = 'States.Timeout';
  }
}

function timingOut(work: Promise<unknown>, milliseconds: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TaskTimeoutError(milliseconds)), milliseconds);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The caller's context object, plus what aws-local-stepfunctions does not provide: `Task.Token` (a new
 * token each time it is read, as each task attempt gets its own) and `State.EnteredTime` (read when a
 * state evaluates its Parameters, i.e. on entry). The interpreter shares this object with Parallel branches.
 */
function withEmulatedContext(context: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const emulated = structuredClone(context ?? {}) as Record<string, unknown>;
  let tokens = 0;
  if (!('Task' in emulated)) {
    emulated['Task'] = Object.defineProperty({}, 'Token', { enumerable: true, get: () => `local-task-token-${++tokens}` });
  }
  if (!('State' in emulated)) {
    emulated['State'] = Object.defineProperty({}, 'EnteredTime', { enumerable: true, get: () => new Date().toISOString() });
  }
  return emulated;
}

function zeroFor(states: readonly [string, AslState][], include: (state: AslState) => boolean): Record<string, number> {
  return Object.fromEntries(states.filter(([, state]) => include(state)).map(([name]) => [name, 0]));
}

function copyRetryOverrides(
  overrides: RunStateMachineOptions['retryIntervalOverrides'],
): Record<string, number | number[]> {
  return Object.fromEntries(
    Object.entries(overrides ?? {}).map(([name, value]) => [name, typeof value === 'number' ? value : [...value]]),
  );
}

/** What crosses the Lambda boundary is JSON: Dates become strings, undefined becomes null. */
function toJson(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as unknown;
}
