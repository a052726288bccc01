/**
 * A DR plan rehearsed on this machine (`lifeboat drill PLAN --local`): the plan compiled exactly as it is
 * deployed (infra/plans/compile.ts), run by the local state-machine interpreter (aws-local-stepfunctions),
 * with the real DR step executor (`handleDrStepEvent`) behind its Tasks, a directory vault with a local key,
 * and local database servers standing in for the verification servers.
 *
 * Real, as in a deployed drill: restore-dump (into `<database>_drill_<suffix>`), validate, notify (printed on
 * the terminal instead of mailed), approvals (asked on the terminal), the drill's clean-up and the evidence
 * (written to the vault with the same key and format). Skipped, with what they would have done: the steps
 * that need AWS (restore-snapshot, restore-point-in-time, backup-now; promote-replica is skipped by every
 * drill) and the validate steps of restores that were skipped.
 */
import { drStepAuditEvents } from '../functions/dr-step/audit.ts';
import { audited, type AuditTrail } from '../functions/lib/audit/index.ts';
import '../functions/lib/polyfills.ts';
import { createInterface } from 'node:readline';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { ExecutionAbortedError, ExecutionError, StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { DrStepDeps } from '../functions/dr-step/deps.ts';
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import { handleDrStepEvent } from '../functions/dr-step/drStep.ts';
import type { StepRecord } from '../functions/dr-step/events.ts';
import type { Evidence } from '../functions/dr-step/evidence.ts';
import type { RdsSender } from '../functions/lib/aws/rdsSnapshot.ts';
import type { BackupKeyring } from '../functions/lib/crypto/keyring.ts';
import type { ConnectionInfo, Engine } from '../functions/lib/engine/connection.ts';
import { ConfigError, LifeboatError } from '../functions/lib/errors.ts';
import { isPolledKind } from '../functions/lib/plans/kinds.ts';
import { compactUtc, evidenceKey, randomBase32 } from '../functions/lib/vault/layout.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import type { LifeboatConfig } from '../infra/config/config.ts';
import { planStateMachineName, type PlanConfig, type PlanStepConfig } from '../infra/config/plans.ts';
import { compilePlan, type AslMachine, type AslState } from '../infra/plans/compile.ts';

/** Step Functions' own name for the topic a notify step would publish to; locally, the terminal. */
const LOCAL_TOPIC = 'local:terminal';
/** Node's timers hold at most 2^31-1 ms (~24.8 days); the interpreter's task timeouts are timers. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';
const MAX_APPROVER_LENGTH = 100;
const MAX_COMMENT_LENGTH = 1_000;

/** Nobody answered an approval on the terminal before its input ended: nothing was decided, the plan stops. */
export class ApprovalUnansweredError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApprovalUnansweredError';
  }
}

/** The local drill was stopped (SIGINT, SIGTERM) before it ended: it cleaned up, and wrote no evidence. */
export class DrillInterruptedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DrillInterruptedError';
  }
}

/** A server a local drill restores into: where it is and whom it logs in as (the verification server's secret, locally). */
export interface LocalServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** What an approval step asks, as the compiled plan's approval task sends it. */
export interface ApprovalRequest {
  readonly plan: string;
  readonly stepId: string;
  readonly question: string;
  readonly mode: string;
  /** The second request for the same step: nobody decided within escalateAfterMinutes. */
  readonly escalation: boolean;
  readonly contacts: readonly string[];
  readonly expiresInSeconds: number;
}

/** A decision, exactly as the approval endpoint sends it to the waiting task (`SendTaskSuccess`). */
export interface ApprovalDecision {
  readonly approved: boolean;
  readonly approver: string;
  readonly comment: string;
  readonly decidedAt: string;
}

/** Who decides the plan's approvals in a local drill. */
export interface Approver {
  decide(request: ApprovalRequest): Promise<ApprovalDecision>;
  /** Stops asking (the run is over). */
  close(): void;
}

export interface LocalDrillOptions {
  readonly config: LifeboatConfig;
  readonly plan: PlanConfig;
  /** The primary vault: restores read it, the evidence is written to it. */
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  /** The DR region's vault (a copy), for restore-dump steps with `region: "dr"`. */
  readonly drStore?: VaultStore;
  /** The servers drills restore into, per engine. */
  readonly servers: Partial<Record<Engine, LocalServer>>;
  readonly tls: 'require' | 'disable';
  readonly approver: Approver;
  /** One line (or block) for the person at the terminal. */
  readonly say: (text: string) => void;
  readonly signal?: AbortSignal;
  /** Restores and the evidence are recorded here as the deployed DR step records them (cli/audit.ts). @default none */
  readonly audit?: AuditTrail;
  /** A restore-dump picks only a backup whose verification result authenticates with it. @default results as stored */
  readonly verificationKey?: Pick<MacSigner, 'verify'>;
  /** The DR evidence key the drill's evidence is signed with (format 1.1). @default unsigned evidence */
  readonly drEvidenceKey?: Pick<MacSigner, 'sign'>;
}

export interface LocalDrillResult {
  readonly executionName: string;
  readonly executionId: string;
  readonly evidenceKey: string;
  readonly evidence: Evidence;
}

/** The config's account; a config without one deploys to the CLI's account, unknown here. */
function accountOf(config: LifeboatConfig): string {
  return config.account ?? '000000000000';
}

/** The ARNs the compiled plan's placeholders get, as CDK would give them in the config's account and primary region. */
function substitutions(config: LifeboatConfig): Record<string, string> {
  const region = config.regions.primary;
  const account = accountOf(config);
  return {
    DrStepFunctionArn: `arn:aws:lambda:${region}:${account}:function:${config.name}-dr-step`,
    RequestApprovalFunctionArn: `arn:aws:lambda:${region}:${account}:function:${config.name}-request-approval`,
    BackupStateMachineArn: `arn:aws:states:${region}:${account}:stateMachine:${config.name}-backup`,
    Region: region,
  };
}

/**
 * Runs `plan` as a drill on this machine and returns its evidence (also written to the vault). Fails only
 * when the drill could not run to its evidence (a bad vault, an interruption); a plan that failed still has
 * evidence, with `outcome: "failed"`.
 */
export async function runLocalDrill(options: LocalDrillOptions): Promise<LocalDrillResult> {
  const { config, plan, say } = options;
  const stateMachine = planStateMachineName(config.name, plan.name);
  const executionName = `${plan.name}-${compactUtc(new Date(), false)}-local-${randomBase32(4)}`;
  const executionId = `arn:aws:states:${config.regions.primary}:${accountOf(config)}:execution:${stateMachine}:${executionName}`;
  const definition = localDefinition(plan, config);
  const deps = localDeps(options);

  let suffix: string | undefined;
  let evidence: Evidence | undefined;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    return work.finally(() => inFlight.delete(work));
  };

  const drStep = async (input: unknown): Promise<unknown> => {
    const event = input as Record<string, unknown> & { action: string };
    if (typeof event['suffix'] === 'string') suffix = event['suffix'];
    // The same events, through the same describer, as the deployed DR step writes.
    const step = (actual: Record<string, unknown>) => audited(options.audit, () => handleDrStepEvent(actual, deps), drStepAuditEvents(actual));
    if (event.action === 'record-evidence') {
      const recorded = (await step({ ...event, levels: withSkippedBackups(event['levels'], plan, config) })) as Evidence;
      evidence = recorded;
      return recorded;
    }
    if (event.action === 'cleanup') {
      const cleaned = await handleDrStepEvent(event, deps);
      say(cleanupLine(cleaned as Awaited<ReturnType<typeof localCleanup>>));
      return cleaned;
    }
    if (event.action !== 'run-step') return step(event);
    const planStep = plan.steps.find((candidate) => candidate.id === event['stepId']);
    if (planStep === undefined) throw new ConfigError(`The plan has no step '${String(event['stepId'])}'`);
    const skip = localSkip(planStep, event['levels'], config, options);
    if (skip !== undefined) {
      say(`- ${planStep.id} (${planStep.kind}) skipped: needs AWS; it would ${skip}`);
      const at = new Date().toISOString();
      const record: StepRecord = { stepId: planStep.id, kind: planStep.kind, status: 'skipped', startedAt: at, endedAt: at, result: { wouldHave: skip, skippedBy: 'lifeboat drill --local' } };
      // The compiled poll loop ends on a skipped record, as for a drill's promotion.
      return isPolledKind(planStep.kind) ? { ...record, step: { status: 'available' } } : record;
    }
    say(`> ${planStep.id} (${planStep.kind})…`);
    const started = Date.now();
    try {
      const record = (await step(event)) as StepRecord;
      say(`  ${planStep.id} ${record.status} in ${((Date.now() - started) / 1000).toFixed(1)} s${stepSummary(record)}`);
      return record;
    } catch (error) {
      say(`  ${planStep.id} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      throw error;
    }
  };

  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, state] of tasksOf(definition)) {
    const resource = String(state['Resource']);
    if (resource === WAIT_FOR_TASK_TOKEN) {
      handlers[name] = (input) => track(options.approver.decide(approvalRequestOf(input)));
    } else if (resource === START_EXECUTION_SYNC) {
      // backup-now: the backup state machine is AWS; its record is marked skipped before the evidence is written.
      handlers[name] = async () => ({ ExecutionArn: 'not started (lifeboat drill --local)', Output: 'null' });
    } else {
      handlers[name] = (input) => track(drStep(input));
    }
  }

  say(`Drill of plan ${plan.name}, locally: execution ${executionName} (vault ${options.store.location}).`);
  const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
  const execution = machine.run({ mode: 'drill' } as never, {
    overrides: { taskResourceLocalHandlers: asLocalHandlers(handlers) },
    context: emulatedContext({ Execution: { Id: executionId, Name: executionName } }) as RunOptions['context'],
  });
  const onAbort = () => execution.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  let failure: unknown;
  try {
    await execution.result;
  } catch (thrown) {
    failure = thrown;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    options.approver.close();
  }

  if (failure instanceof ExecutionAbortedError || options.signal?.aborted) {
    // A step still running (a restore) finishes first, so clean-up sees everything it made.
    await Promise.allSettled([...inFlight]);
    const cleaned = suffix === undefined ? undefined : await localCleanup(plan.name, suffix, executionId, deps);
    const what = cleaned === undefined ? 'nothing had been restored' : cleanupLine(cleaned);
    throw new DrillInterruptedError(`the drill of plan ${plan.name} was interrupted before it ended; ${what}; no evidence was written`);
  }
  if (evidence === undefined) {
    // The evidence itself could not be written (or the run broke before it): the drill has no outcome.
    const cause = failure instanceof ExecutionError ? failure.cause : failure;
    if (cause instanceof Error) throw cause;
    throw new Error(`the drill of plan ${plan.name} ended without evidence: ${String(cause)}`);
  }
  return { executionName, executionId, evidenceKey: evidenceKey(plan.name, executionName), evidence };
}

// ---------------------------------------------------------------------------------------------
// The definition and the interpreter

/** The compiled plan with CDK's substitutions, and task timeouts the interpreter's timers can hold. */
function localDefinition(plan: PlanConfig, config: LifeboatConfig): StateMachineDefinition {
  let text = JSON.stringify(compilePlan(plan, { name: config.name }));
  for (const [key, value] of Object.entries(substitutions(config))) text = text.replaceAll(`\${${key}}`, value);
  const definition = JSON.parse(text) as AslMachine;
  for (const [, state] of allStates(definition)) {
    const mutable = state as Record<string, unknown>;
    if (typeof mutable['TimeoutSeconds'] === 'number' && mutable['TimeoutSeconds'] > MAX_TIMER_SECONDS) mutable['TimeoutSeconds'] = MAX_TIMER_SECONDS;
  }
  return definition as unknown as StateMachineDefinition;
}

function* allStates(machine: AslMachine): Generator<[string, AslState]> {
  for (const [name, state] of Object.entries(machine.States)) {
    yield [name, state];
    for (const branch of (state['Branches'] as AslMachine[] | undefined) ?? []) yield* allStates(branch);
  }
}

function tasksOf(definition: StateMachineDefinition): [string, AslState][] {
  return [...allStates(definition as unknown as AslMachine)].filter(([, state]) => state.Type === 'Task');
}

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

/**
 * What crosses a Task boundary is JSON, as with Lambda. The approval task's input is its `Parameters`
 * (`FunctionName`, `Payload`); the handler sees the `Payload`, and its decision is the task's output, as
 * `SendTaskSuccess` would give it.
 */
function asLocalHandlers(handlers: Record<string, (input: unknown) => Promise<unknown>>): LocalHandlers {
  const bound: LocalHandlers = {};
  for (const [name, handler] of Object.entries(handlers)) {
    bound[name] = async (input) => JSON.parse(JSON.stringify((await handler(JSON.parse(JSON.stringify(input)))) ?? null)) as never;
  }
  return bound;
}

/**
 * The context object with what aws-local-stepfunctions lacks: `$$.Task.Token` (a new one each read) and
 * `$$.State.EnteredTime` (the time a state reads it, on entry).
 */
function emulatedContext(context: Record<string, unknown>): Record<string, unknown> {
  let tokens = 0;
  return {
    ...context,
    Task: Object.defineProperty({}, 'Token', { enumerable: true, get: () => `local-task-token-${++tokens}` }),
    State: Object.defineProperty({}, 'EnteredTime', { enumerable: true, get: () => new Date().toISOString() }),
  };
}

function approvalRequestOf(input: unknown): ApprovalRequest {
  const payload = ((input as { Payload?: unknown } | null)?.Payload ?? {}) as Record<string, unknown>;
  return {
    plan: String(payload['plan']),
    stepId: String(payload['stepId']),
    question: String(payload['question']),
    mode: String(payload['mode']),
    escalation: payload['escalation'] === true,
    contacts: Array.isArray(payload['contacts']) ? payload['contacts'].map(String) : [],
    expiresInSeconds: Number(payload['expiresInSeconds']),
  };
}

// ---------------------------------------------------------------------------------------------
// The step executor's dependencies, locally

function localDeps(options: LocalDrillOptions): DrStepDeps {
  const { config } = options;
  const secretArn = (engine: Engine) =>
    config.verification?.servers[engine]?.credentialsSecretArn ??
    `arn:aws:secretsmanager:${config.regions.primary}:${accountOf(config)}:secret:lifeboat-local-${engine}`;
  const servers: DrStepDeps['servers'] = {};
  const credentials = new Map<string, LocalServer>();
  for (const engine of ['postgresql', 'mysql'] as const) {
    const server = options.servers[engine];
    if (server === undefined) continue;
    servers[engine] = { secretArn: secretArn(engine), host: server.host, port: server.port };
    credentials.set(secretArn(engine), server);
  }
  return {
    sources: [],
    regions: {
      primary: { name: config.regions.primary, rds: noRds, store: options.store, keyring: options.keyring },
      dr: { name: config.regions.dr, rds: noRds, store: options.drStore ?? options.store, keyring: options.keyring },
    },
    secrets: localSecrets(credentials),
    sns: terminalTopic(options.say),
    servers,
    planTopics: { [options.plan.name]: LOCAL_TOPIC },
    tls: options.tls,
    ...(options.verificationKey ? { verificationKey: options.verificationKey } : {}),
    ...(options.drEvidenceKey ? { drEvidenceKey: options.drEvidenceKey } : {}),
  };
}

/** Secrets Manager, locally: the verification servers' secrets hold the credentials given for the local servers. */
function localSecrets(credentials: ReadonlyMap<string, LocalServer>): Pick<SecretsManagerClient, 'send'> {
  const send = async (command: unknown) => {
    if (!(command instanceof GetSecretValueCommand)) throw new ConfigError('A local drill reads no secret but those of its servers');
    const server = credentials.get(String(command.input.SecretId));
    if (server === undefined) throw new ConfigError(`A local drill has no credentials for ${String(command.input.SecretId)}: give the server with --pg-server or --mysql-server`);
    return { SecretString: JSON.stringify({ username: server.user, password: server.password }) };
  };
  return { send } as unknown as Pick<SecretsManagerClient, 'send'>;
}

/** SNS, locally: each message to the plan's contacts is printed on the terminal. */
function terminalTopic(say: (text: string) => void): Pick<SNSClient, 'send'> {
  let sent = 0;
  const send = async (command: unknown) => {
    if (!(command instanceof PublishCommand)) throw new ConfigError('A local drill publishes nothing but messages to the contacts');
    const { Subject, Message } = command.input;
    say(['', `--- message to the contacts: ${Subject ?? ''}`, (Message ?? '').trimEnd(), '---', ''].join('\n'));
    return { MessageId: `local-${++sent}` };
  };
  return { send } as unknown as Pick<SNSClient, 'send'>;
}

/**
 * RDS, locally: there is none, so a drill made no RDS instance or cluster and clean-up lists none. The
 * steps that would call anything else are skipped before they reach the step executor.
 */
const noRds: RdsSender = {
  send: (async (command: { constructor: { name: string } }) => {
    switch (command.constructor.name) {
      case 'DescribeDBInstancesCommand':
        return { DBInstances: [] };
      case 'DescribeDBClustersCommand':
        return { DBClusters: [] };
      default:
        throw new ConfigError(`A local drill has no RDS to send ${command.constructor.name} to`);
    }
  }) as unknown as RdsSender['send'],
};

async function localCleanup(plan: string, suffix: string, executionId: string, deps: DrStepDeps) {
  return (await handleDrStepEvent({ action: 'cleanup', plan, suffix, executionId }, deps)) as {
    databases: { engine: Engine; server: string; database: string }[];
  };
}

function cleanupLine(cleaned: { databases: { server: string; database: string }[] }): string {
  return cleaned.databases.length === 0
    ? 'clean-up: no drill database to drop'
    : `clean-up: dropped ${cleaned.databases.map((d) => `${d.database} on ${d.server}`).join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// What a local drill skips, and what it would have done

/** Why a step is not run locally (what it would do), or `undefined` for a step that runs. */
function localSkip(planStep: PlanStepConfig, levels: unknown, config: LifeboatConfig, options: LocalDrillOptions): string | undefined {
  const regionName = (choice: 'primary' | 'dr') => config.regions[choice];
  switch (planStep.kind) {
    case 'restore-snapshot': {
      const p = planStep.parameters;
      return `restore the latest Lifeboat snapshot of ${p.source} in ${regionName(p.region)} as ${p.targetIdentifier}-drill-<suffix> (subnet group ${p.subnetGroupName}${p.instanceClass ? `, ${p.instanceClass}` : ''}), tagged for clean-up`;
    }
    case 'restore-point-in-time': {
      const p = planStep.parameters;
      return `restore ${p.source} to ${p.restoreTime ?? 'its latest restorable time'} as ${p.targetIdentifier}-drill-<suffix> (${p.instanceClass}, subnet group ${p.subnetGroupName}), tagged for clean-up`;
    }
    case 'restore-dump':
      if (planStep.parameters.region === 'air-gap') {
        return `restore the latest verified dump of ${planStep.parameters.source} from the air-gapped vault (account ${config.vaultAccount?.accountId ?? '?'}, through its reader role) into ${planStep.parameters.target.database}_drill_<suffix>`;
      }
      if (planStep.parameters.region === 'dr' && options.drStore === undefined) {
        throw new ConfigError(`Step '${planStep.id}' restores from the DR region's vault: give its copy with --dr-vault DIR`);
      }
      return undefined;
    case 'restore-config':
      // Its drill compares every item with the region's SSM and Secrets Manager, which a local drill does not reach.
      return `compare the latest verified configuration backup of ${planStep.parameters.source} with the ${planStep.parameters.region} region's SSM parameters and secrets (lifeboat verify checks the backup itself)`;
    case 'restore-files':
      if (planStep.parameters.region === 'air-gap') {
        return `restore the latest verified snapshot of ${planStep.parameters.source} from the air-gapped vault (account ${config.vaultAccount?.accountId ?? '?'}, through its reader role) into s3://${planStep.parameters.target.bucket}/${planStep.parameters.target.prefix}`;
      }
      if (planStep.parameters.region === 'dr' && options.drStore === undefined) {
        throw new ConfigError(`Step '${planStep.id}' restores from the DR region's vault: give its copy with --dr-vault DIR`);
      }
      return undefined;
    case 'restore-cache':
      if (planStep.parameters.region === 'air-gap') {
        return `restore the latest verified backup of ${planStep.parameters.source} from the air-gapped vault (account ${config.vaultAccount?.accountId ?? '?'}, through its reader role) into a scratch redis-server`;
      }
      if (planStep.parameters.region === 'dr' && options.drStore === undefined) {
        throw new ConfigError(`Step '${planStep.id}' restores from the DR region's vault: give its copy with --dr-vault DIR`);
      }
      return undefined;
    case 'validate': {
      const restored = recordOf(levels, planStep.parameters.target);
      if (restored?.['status'] !== 'skipped') return undefined;
      const checks = planStep.parameters.sqlChecks.length;
      return `validate what step '${planStep.parameters.target}' restored (${checks} SQL check${checks === 1 ? '' : 's'}), which this drill skipped`;
    }
    default:
      return undefined;
  }
}

/** A step's record among the levels the state machine passes on. */
function recordOf(levels: unknown, stepId: string): Record<string, unknown> | undefined {
  for (const level of Object.values((levels ?? {}) as Record<string, Record<string, unknown> | null>)) {
    const record = level?.[stepId];
    if (record !== undefined && record !== null) return record as Record<string, unknown>;
  }
  return undefined;
}

/**
 * The levels as the evidence gets them: a backup-now step (the backup state machine, in AWS) was not run, and
 * its record says so: `skipped`, with what it would have done.
 */
function withSkippedBackups(levels: unknown, plan: PlanConfig, config: LifeboatConfig): unknown {
  const out: Record<string, Record<string, unknown> | null> = {};
  for (const [name, level] of Object.entries((levels ?? {}) as Record<string, Record<string, unknown> | null>)) {
    if (level === null) {
      out[name] = null;
      continue;
    }
    out[name] = Object.fromEntries(
      Object.entries(level).map(([stepId, record]) => {
        const planStep = plan.steps.find((candidate) => candidate.id === stepId);
        if (planStep?.kind !== 'backup-now') return [stepId, record];
        const wouldHave = `run the backup state machine ${config.name}-backup for ${planStep.parameters.source} and wait for it`;
        return [stepId, { ...(record as Record<string, unknown>), status: 'skipped', result: { wouldHave, skippedBy: 'lifeboat drill --local' } }];
      }),
    );
  }
  return out;
}

/** `: restored <backup> into <db> on <host:port>` and the like, for the terminal. */
function stepSummary(record: StepRecord): string {
  const result = record.result ?? {};
  if (record.status === 'skipped' && typeof result['wouldHave'] === 'string') return `: a drill would ${result['wouldHave']}`;
  if (record.kind === 'restore-dump') {
    const target = result['target'] as { host?: string; port?: number; database?: string } | undefined;
    return `: backup ${String(result['backupId'])} of ${String(result['sourceId'])} restored into ${target?.database} on ${target?.host}:${target?.port}`;
  }
  if (record.kind === 'restore-cache') {
    return `: backup ${String(result['backupId'])} of ${String(result['sourceId'])}, ${String(result['keys'])} keys restored into a scratch redis-server`;
  }
  if (record.kind === 'restore-files') {
    return `: snapshot ${String(result['backupId'])} of ${String(result['sourceId'])}, ${String(result['files'])} files (${String(result['bytes'])} bytes) read and checked`;
  }
  if (record.kind === 'validate') {
    const tables = (result['tables'] as unknown[] | undefined)?.length ?? 0;
    const checks = (result['sqlChecks'] as unknown[] | undefined)?.length ?? 0;
    return `: ${tables} table${tables === 1 ? '' : 's'} and ${checks} SQL check${checks === 1 ? '' : 's'} passed`;
  }
  return '';
}

// ---------------------------------------------------------------------------------------------
// Approvers

/** Approves every step at once as `name`: `--approve-as NAME`, for a drill nobody sits at. */
export function approveAs(name: string, say: (text: string) => void): Approver {
  return {
    async decide(request) {
      say(`? ${request.stepId}: ${request.question} -> approved by ${name} (--approve-as)`);
      return { approved: true, approver: name, comment: 'approved with --approve-as', decidedAt: new Date().toISOString() };
    },
    close() {},
  };
}

/**
 * Asks on the terminal: the question, then yes or no, the approver's name and an optional comment, one line
 * each (so a script can answer on stdin). Questions are asked one at a time; an escalation (nobody answered
 * within escalateAfterMinutes) says so and keeps waiting for the same answer. Input that ends before a
 * decision is `ApprovalUnansweredError`: nothing is decided, and the plan stops there.
 */
export function terminalApprover(input: NodeJS.ReadableStream, prompt: (text: string) => void): Approver {
  const reader = lineReader(input);
  let awaitingAnswer = false;
  const lines = {
    async next(stepId: string, fallback?: string): Promise<string> {
      awaitingAnswer = true;
      try {
        return await reader.next(stepId, fallback);
      } finally {
        awaitingAnswer = false;
      }
    },
  };
  const pending = new Map<string, Promise<ApprovalDecision>>();
  let queue: Promise<unknown> = Promise.resolve();

  const ask = async (request: ApprovalRequest): Promise<ApprovalDecision> => {
    const minutes = Math.round(request.expiresInSeconds / 60);
    prompt(
      [
        '',
        `Approval needed: plan ${request.plan}, step ${request.stepId}${request.mode === 'drill' ? ' (drill)' : ''}`,
        `  ${request.question}`,
        `  Contacts: ${request.contacts.join(', ') || '-'}; escalated to them after ${minutes} min without an answer`,
        '',
      ].join('\n'),
    );
    let approved: boolean | undefined;
    while (approved === undefined) {
      prompt('Approve? [yes/no]: ');
      const answer = (await lines.next(request.stepId)).trim().toLowerCase();
      if (answer === 'y' || answer === 'yes') approved = true;
      else if (answer === 'n' || answer === 'no') approved = false;
      else prompt('Please answer yes or no.\n');
    }
    let approver = '';
    while (approver === '') {
      prompt('Your name: ');
      approver = (await lines.next(request.stepId)).trim();
      // eslint-disable-next-line no-control-regex
      if ([...approver].length > MAX_APPROVER_LENGTH || /[\u0000-\u001f\u007f]/.test(approver)) {
        prompt(`A name is one line of at most ${MAX_APPROVER_LENGTH} characters.\n`);
        approver = '';
      }
    }
    prompt('Comment (optional): ');
    const comment = (await lines.next(request.stepId, '')).trim().slice(0, MAX_COMMENT_LENGTH);
    prompt(`${approved ? 'Approved' : 'Rejected'} by ${approver}.\n`);
    return { approved, approver, comment, decidedAt: new Date().toISOString() };
  };

  return {
    decide(request) {
      const asked = pending.get(request.stepId);
      if (asked !== undefined) {
        if (request.escalation) prompt(`\n(No decision on step ${request.stepId} yet: the contacts are reminded. Still waiting for your answer.)\n`);
        return asked;
      }
      const decision = queue.then(() => ask(request));
      queue = decision.catch(() => {});
      pending.set(request.stepId, decision);
      return decision;
    },
    close() {
      // A question left unanswered (the run timed out or was stopped) ends its line.
      if (awaitingAnswer) prompt('\n');
      reader.close();
    },
  };
}

/** Lines of `input`, one per `next()`; at the end of the input `next` gives `fallback` or fails. */
function lineReader(input: NodeJS.ReadableStream) {
  const reader = createInterface({ input, terminal: false });
  const buffered: string[] = [];
  const waiting: { resolve: (line: string | undefined) => void }[] = [];
  let ended = false;
  reader.on('line', (line) => {
    const next = waiting.shift();
    if (next) next.resolve(line);
    else buffered.push(line);
  });
  reader.on('close', () => {
    ended = true;
    for (const next of waiting.splice(0)) next.resolve(undefined);
  });
  return {
    async next(stepId: string, fallback?: string): Promise<string> {
      const line = buffered.length > 0 ? buffered.shift() : ended ? undefined : await new Promise<string | undefined>((resolve) => waiting.push({ resolve }));
      if (line !== undefined) return line;
      if (fallback !== undefined) return fallback;
      throw new ApprovalUnansweredError(`the input ended before step ${stepId} was decided: nothing was decided (answer on the terminal, or give --approve-as NAME)`);
    },
    close() {
      reader.close();
    },
  };
}

/** A server from a `--pg-server` / `--mysql-server` connection. */
export function localServerOf(connection: ConnectionInfo): LocalServer {
  return { host: connection.host, port: connection.port, user: connection.user, password: connection.password ?? '' };
}
