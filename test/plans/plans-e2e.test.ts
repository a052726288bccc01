/**
 * DR plans end to end, locally: plans compiled by infra/plans/compile.ts, run by the local interpreter
 * (test/harness) with the REAL cores behind their Tasks — the step executor (`handleDrStepEvent`) against
 * the local PostgreSQL server and a local vault, the approval request (`requestApproval`) and endpoint
 * (`handleApprovalRequest`) with a memory store and the local signer, and backup-now as a real engine backup
 * verified by the real verification. AWS is mocked: RDS (with state, so describes progress and clean-up
 * sees what a drill made), SNS (every message captured), Secrets Manager, and SFN (SendTaskSuccess resumes
 * the waiting approval task with its output).
 */
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import {
  DBClusterNotFoundFault,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DBSnapshotNotFoundFault,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
  type DBInstance,
  type Tag,
} from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskSuccessCommand, SFNClient, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient, type PublishCommandInput } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApprovalEndpointDeps } from '../../functions/approval/endpoint.ts';
import { requestApproval, type RequestApprovalDeps } from '../../functions/approval/request.ts';
import { type DecidedApproval, memoryApprovalStore } from '../../functions/approval/store.ts';
import type { CleanupResult } from '../../functions/dr-step/cleanup.ts';
import { type DrStepDeps, handleDrStepEvent } from '../../functions/dr-step/drStep.ts';
import type { StepRecord } from '../../functions/dr-step/events.ts';
import type { Evidence } from '../../functions/dr-step/evidence.ts';
import type { ConnectionInfo } from '../../functions/lib/engine/connection.ts';
import { type DumpManifest, runBackup } from '../../functions/lib/engine/backup.ts';
import { readManifest, writeManifest } from '../../functions/lib/vault/catalog.ts';
import { evidenceKey, newBackupId } from '../../functions/lib/vault/layout.ts';
import { verifyBackup } from '../../functions/lib/verify/index.ts';
import type { PlanConfig } from '../../infra/config/plans.ts';
import { compilePlan, PLAN_ERRORS } from '../../infra/plans/compile.ts';
import { commandsOf, countRows, dropPostgres, snapshotManifest, snapshotName } from '../functions/dr-step/support.ts';
import { answerApproval, linkFromMessage, openApproval, testSigner } from '../functions/approval/support.ts';
import { connectionOf, tempVault, testKeyring } from '../functions/engine/helpers.ts';
import { createSource, restoreServerFor } from '../functions/verify/suite.ts';
import {
  type PostgresDatabase,
  type StateMachineDefinition,
  type StateMachineRun,
  type TaskHandler,
  createPostgresDatabase,
  listPostgresDatabases,
  postgresSettings,
  runStateMachine,
} from '../harness/index.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS, deployed, plan, taskHandlers } from './support.ts';

const SOURCE = 'orders-db';
const SERVER_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:lifeboat-verify-pg-Ab12Cd`;
const SOURCE_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-orders-Qw34Er`;
const TARGET_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:orders-new-Xy7Q2k`;
const PLANS = { drill: 'orders-restore', failing: 'orders-failing', snapshot: 'orders-snapshot', real: 'orders-real', undecided: 'orders-undecided' };
const topicOf = (plan: string) => `arn:aws:sns:${REGION}:${ACCOUNT}:lifeboat-plan-${plan}-contacts`;
const PLAN_TOPICS = Object.fromEntries(Object.values(PLANS).map((plan) => [plan, topicOf(plan)]));
const APPROVAL_BASE_URL = 'https://abcdefghij.lambda-url.eu-west-1.on.aws';
/** What the plans name as the dump target: unique to this file, so the database lists below see only ours. */
const TARGET_DATABASE = `lbplan_${randomBytes(3).toString('hex')}`;
/** Each reading of the step executor's clock is this much later than the last: every step visibly takes minutes. */
const EXECUTOR_TICK_MS = 4 * 60_000;
const OLD_BACKUP_AGE_MS = 3 * 3_600_000;
const SNAPSHOT_AGE_MS = 2 * 3_600_000;
const PLACEMENT = { subnetGroupName: 'lifeboat-private', securityGroupIds: ['sg-0abc1234'] };
const SQL_CHECKS = ['SELECT count(*) = 120 FROM orders', 'SELECT count(*) = 12 FROM customers'];

/** Minutes to one decimal, as docs/dr-plans.md's evidence reports them. */
const minutesOf = (ms: number) => Math.round(ms / 6_000) / 10;

// ---------------------------------------------------------------------------------------------
// Plans

const dumpTarget = (database = TARGET_DATABASE, host = 'orders-new.internal', port = 5432) => ({ host, port, database, credentialsSecretArn: TARGET_SECRET });

/**
 * backup-now ▸ approval ▸ [restore-snapshot standby ▸] restore-dump ▸ validate (row counts + SQL checks) ▸ notify.
 * The standby snapshot restore (failing plan only) leaves an RDS instance for clean-up to find after a later failure.
 */
function drillPlan(name: string, options: { pointInTime?: string; sqlChecks?: string[]; standby?: boolean } = {}): PlanConfig {
  return plan(name, [
    { id: 'backup', kind: 'backup-now', parameters: { source: SOURCE } },
    { id: 'go', kind: 'approval', dependsOn: ['backup'], parameters: { question: 'Restore orders into a drill copy now?' } },
    ...(options.standby
      ? [{ id: 'standby', kind: 'restore-snapshot' as const, dependsOn: ['go'], parameters: { source: SOURCE, targetIdentifier: 'orders-standby', ...PLACEMENT } }]
      : []),
    {
      id: 'restore',
      kind: 'restore-dump',
      dependsOn: [options.standby ? 'standby' : 'go'],
      parameters: { source: SOURCE, ...(options.pointInTime ? { pointInTime: options.pointInTime } : {}), target: dumpTarget() },
    },
    { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore', sqlChecks: options.sqlChecks ?? SQL_CHECKS } },
    { id: 'tell', kind: 'notify', dependsOn: ['check'], parameters: { message: 'orders restored' } },
  ]);
}

// ---------------------------------------------------------------------------------------------
// RDS with state: restores create instances that describes move creating → backing-up → available,
// deletes mark them deleting, and clean-up's listing sees them all with their tags.

interface FakeInstance {
  readonly identifier: string;
  status: string;
  readonly tags: Tag[];
  /** The statuses the next describes by identifier report, one each. */
  readonly upcoming: string[];
}

function fakeRds(regionName: string, endpoint: { host: string; port: number }) {
  const client = new RDSClient({ region: regionName });
  const mock = mockClient(client);
  const instances = new Map<string, FakeInstance>();
  const snapshots = new Map<string, Date>();
  const describe = (instance: FakeInstance): DBInstance => ({
    DBInstanceIdentifier: instance.identifier,
    DBInstanceStatus: instance.status,
    TagList: instance.tags,
    ...(instance.status === 'available' ? { Endpoint: { Address: endpoint.host, Port: endpoint.port } } : {}),
  });
  const notFound = (identifier: string) => new DBInstanceNotFoundFault({ message: `DBInstance ${identifier} not found.`, $metadata: {} });

  function install(): void {
    mock.reset();
    mock.on(DescribeDBSnapshotsCommand).callsFake(({ DBSnapshotIdentifier: id }: { DBSnapshotIdentifier?: string }) => {
      const created = id === undefined ? undefined : snapshots.get(id);
      if (created === undefined) throw new DBSnapshotNotFoundFault({ message: `DBSnapshot ${id} not found.`, $metadata: {} });
      return { DBSnapshots: [{ DBSnapshotIdentifier: id, DBSnapshotArn: `arn:aws:rds:${regionName}:${ACCOUNT}:snapshot:${id}`, Status: 'available', SnapshotCreateTime: created }] };
    });
    mock.on(RestoreDBInstanceFromDBSnapshotCommand).callsFake((input: { DBInstanceIdentifier: string; DBSnapshotIdentifier: string; Tags?: Tag[] }) => {
      if (instances.has(input.DBInstanceIdentifier)) {
        throw new DBInstanceAlreadyExistsFault({ message: `DB instance ${input.DBInstanceIdentifier} already exists`, $metadata: {} });
      }
      if (!snapshots.has(input.DBSnapshotIdentifier)) throw new DBSnapshotNotFoundFault({ message: `DBSnapshot ${input.DBSnapshotIdentifier} not found.`, $metadata: {} });
      const instance: FakeInstance = { identifier: input.DBInstanceIdentifier, status: 'creating', tags: input.Tags ?? [], upcoming: ['creating', 'backing-up', 'available'] };
      instances.set(instance.identifier, instance);
      return { DBInstance: describe(instance) };
    });
    mock.on(DescribeDBInstancesCommand).callsFake(({ DBInstanceIdentifier: id }: { DBInstanceIdentifier?: string }) => {
      if (id === undefined) return { DBInstances: [...instances.values()].map(describe) };
      const instance = instances.get(id);
      if (!instance) throw notFound(id);
      const next = instance.upcoming.shift();
      if (next !== undefined && instance.status !== 'deleting') instance.status = next;
      return { DBInstances: [describe(instance)] };
    });
    mock.on(DescribeDBClustersCommand).callsFake(({ DBClusterIdentifier: id }: { DBClusterIdentifier?: string }) => {
      if (id !== undefined) throw new DBClusterNotFoundFault({ message: `DBCluster ${id} not found.`, $metadata: {} });
      return { DBClusters: [] };
    });
    mock.on(DeleteDBInstanceCommand).callsFake(({ DBInstanceIdentifier: id }: { DBInstanceIdentifier: string }) => {
      const instance = instances.get(id);
      if (!instance) throw notFound(id);
      instance.status = 'deleting';
      return { DBInstance: describe(instance) };
    });
  }

  return {
    client,
    mock,
    instances,
    snapshots,
    /** Empties the state and re-installs the behaviour (after mock.reset()). */
    reset(): void {
      instances.clear();
      snapshots.clear();
      install();
    },
    add(identifier: string, tags: Tag[], status = 'available'): void {
      instances.set(identifier, { identifier, status, tags, upcoming: [] });
    },
    /** Instances tagged with this drill's suffix that are not on their way out. */
    remainingDrillInstances(suffix: string): string[] {
      return [...instances.values()]
        .filter((instance) => instance.tags.some((tag) => tag.Key === 'lifeboat:drill' && tag.Value === suffix) && instance.status !== 'deleting')
        .map((instance) => instance.identifier);
    },
  };
}

// ---------------------------------------------------------------------------------------------

interface DrStepEventSeen {
  readonly action: 'run-step' | 'describe-step' | 'cleanup' | 'record-evidence';
  readonly stepId?: string;
  readonly suffix?: string;
  readonly startedAt?: string;
  readonly [field: string]: unknown;
}
interface DrStepCall {
  readonly event: DrStepEventSeen;
  result?: unknown;
  error?: Error;
}
interface ApprovalPayload {
  readonly taskToken: string;
  readonly stepId: string;
  readonly escalation: boolean;
  readonly mode: string;
  readonly expiresInSeconds: number;
}
/** One approval request as the contacts received it. */
interface ApprovalSeen {
  readonly payload: ApprovalPayload;
  readonly approvalId: string;
  readonly link: string;
  readonly message: PublishCommandInput;
}
interface PlanRun {
  readonly executionName: string;
  readonly executionId: string;
  readonly calls: DrStepCall[];
  readonly finished: Promise<StateMachineRun>;
  readonly actions: (action: DrStepEventSeen['action']) => DrStepCall[];
}

/** Every database on the server whose name ends with this drill's marker. */
async function drillDatabasesOf(suffix: string): Promise<string[]> {
  return (await listPostgresDatabases('')).filter((name) => name.endsWith(`_drill_${suffix}`));
}

describe('DR plans end to end: compiled ASL with the real step executor, approvals and backups', () => {
  const local = postgresSettings();
  const keyring = testKeyring();
  const secrets = mockClient(SecretsManagerClient);
  const sns = mockClient(SNSClient);
  const sfn = mockClient(SFNClient);
  const primaryRds = fakeRds(REGION, local);
  const drRds = fakeRds(DR_REGION, local);
  const snsClient = new SNSClient({ region: REGION });
  const sfnClient = new SFNClient({ region: REGION });

  let source: PostgresDatabase;
  /** What the restored RDS instance "serves": a copy prepared to match the snapshot. */
  let snapshotDatabase: PostgresDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let drVault: Awaited<ReturnType<typeof tempVault>>;
  let drStepDeps: DrStepDeps;
  let approvalStore: ReturnType<typeof memoryApprovalStore>;
  let approvalDeps: RequestApprovalDeps;
  /** A verified dump of the source made hours before the tests: what a point-in-time restore picks. */
  let oldBackup: DumpManifest;
  let snapshotBackupId: string;
  let snapshotIdentifier: string;
  let snapshotCreated: Date;

  // Per test: what SNS accepted, the backups backup-now made, the approvals asked, and the injected faults.
  let published: PublishCommandInput[];
  let backupsMade: DumpManifest[];
  let backupSource: () => ConnectionInfo;
  let refusePublish: (input: PublishCommandInput) => boolean;
  /** Approval tasks waiting for their SendTaskSuccess, by task token. */
  let waitingTasks: Map<string, (output: unknown) => void>;
  /** Tokens of approval tasks that stopped waiting (their run ended): Step Functions refuses them. */
  let endedTasks: Set<string>;
  let approvalsSeen: ApprovalSeen[];
  let approvalBacklog: ApprovalSeen[];
  let approvalWaiters: ((seen: ApprovalSeen) => void)[];

  const endpointDeps = (now?: Date): ApprovalEndpointDeps => ({ store: approvalStore, signer: testSigner(), sfn: sfnClient, ...(now ? { now: () => now } : {}) });

  beforeAll(async () => {
    source = (await createSource('postgresql', 'plan_e2e_src')) as PostgresDatabase;
    snapshotDatabase = (await createSource('postgresql', 'plan_e2e_snap')) as PostgresDatabase;
    vault = await tempVault();
    drVault = await tempVault();

    ({ manifest: oldBackup } = await runBackup({ source: connectionOf(source), sourceId: SOURCE, store: vault.store, keyring, now: new Date(Date.now() - OLD_BACKUP_AGE_MS) }));
    const verification = await verifyBackup({ store: vault.store, sourceId: SOURCE, backupId: oldBackup.backupId, keyring, restoreServer: restoreServerFor('postgresql') });
    expect(verification.status).toBe('verified');

    // The source's latest Lifeboat snapshot, as the backup state machine records it.
    snapshotCreated = new Date(Math.floor((Date.now() - SNAPSHOT_AGE_MS) / 1000) * 1000);
    snapshotBackupId = newBackupId(snapshotCreated);
    snapshotIdentifier = snapshotName(SOURCE, snapshotBackupId);
    await writeManifest(vault.store, snapshotManifest(SOURCE, snapshotBackupId, 'instance', REGION, 'postgresql'));

    drStepDeps = {
      sources: [{ id: SOURCE, engine: 'postgresql', database: snapshotDatabase.name, credentialsSecretArn: SOURCE_SECRET, rds: { type: 'instance', identifier: 'orders-prod' } }],
      regions: {
        primary: { name: REGION, rds: primaryRds.client, store: vault.store, keyring },
        dr: { name: DR_REGION, rds: drRds.client, store: drVault.store, keyring },
      },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: snsClient,
      servers: { postgresql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      planTopics: PLAN_TOPICS,
      tls: 'disable', // the local server has no TLS; in AWS the default is 'require'
    };
  });

  afterAll(async () => {
    for (const name of await listPostgresDatabases(TARGET_DATABASE)) await dropPostgres(name);
    await source?.drop();
    await snapshotDatabase?.drop();
    await vault?.remove();
    await drVault?.remove();
  });

  beforeEach(() => {
    published = [];
    backupsMade = [];
    backupSource = () => connectionOf(source);
    refusePublish = () => false;
    waitingTasks = new Map();
    endedTasks = new Set();
    approvalsSeen = [];
    approvalBacklog = [];
    approvalWaiters = [];
    approvalStore = memoryApprovalStore();
    approvalDeps = { store: approvalStore, signer: testSigner(), sns: snsClient, topics: PLAN_TOPICS, baseUrl: APPROVAL_BASE_URL };

    secrets.reset();
    const credentials = { SecretString: JSON.stringify({ username: local.user, password: 'Never-Print-Plan-4e1d' }) };
    for (const secret of [SERVER_SECRET, SOURCE_SECRET, TARGET_SECRET]) secrets.on(GetSecretValueCommand, { SecretId: secret }).resolves(credentials);

    sns.reset();
    sns.on(PublishCommand).callsFake((input: PublishCommandInput) => {
      if (refusePublish(input)) throw Object.assign(new Error(`Topic does not exist: ${input.TopicArn}`), { name: 'NotFoundException' });
      published.push(input);
      return { MessageId: `message-${published.length}` };
    });

    sfn.reset();
    sfn.on(SendTaskSuccessCommand).callsFake((input: { taskToken: string; output: string }) => {
      if (endedTasks.has(input.taskToken)) throw new TaskTimedOut({ message: 'Task Timed Out: the task does not wait any more', $metadata: {} });
      const resume = waitingTasks.get(input.taskToken);
      if (!resume) throw new TaskDoesNotExist({ message: 'Task does not exist anymore', $metadata: {} });
      waitingTasks.delete(input.taskToken);
      resume(JSON.parse(input.output));
      return {};
    });

    primaryRds.reset();
    primaryRds.snapshots.set(snapshotIdentifier, snapshotCreated);
    // Production, and another execution's drill of the snapshot plan: neither is this drill's to delete.
    primaryRds.add('orders-prod', []);
    primaryRds.add('orders-new-drill-0badc0de', [
      { Key: 'lifeboat:plan', Value: PLANS.snapshot },
      { Key: 'lifeboat:execution', Value: 'drill-earlier' },
      { Key: 'lifeboat:drill', Value: '0badc0de' },
    ]);
    drRds.reset();
  });

  // -------------------------------------------------------------------------------------------
  // The Tasks' real cores

  /** backup-now: the backup state machine run to its end, i.e. a real engine dump of the source, verified for real. */
  const backupTask: TaskHandler = async (input) => {
    const { Input: request } = input as { Input: { sourceId: string; trigger: string; AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: string } };
    const name = `manual-${randomBytes(4).toString('hex')}`;
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:${name}`;
    const startDate = new Date();
    try {
      const { manifest } = await runBackup({ source: backupSource(), sourceId: request.sourceId, store: vault.store, keyring });
      const verification = await verifyBackup({ store: vault.store, sourceId: request.sourceId, backupId: manifest.backupId, keyring, restoreServer: restoreServerFor('postgresql') });
      if (verification.status !== 'verified') throw Object.assign(new Error(verification.reason ?? 'not verified'), { name: 'VerificationFailedError' });
      backupsMade.push(manifest);
      return {
        ExecutionArn: executionArn,
        StateMachineArn: SUBSTITUTIONS.BackupStateMachineArn,
        Name: name,
        Status: 'SUCCEEDED',
        StartDate: startDate.toISOString(),
        StopDate: new Date().toISOString(),
        Input: JSON.stringify(request),
        Output: {
          sourceId: request.sourceId,
          trigger: request.trigger,
          backup: { sourceId: manifest.sourceId, backupId: manifest.backupId, kind: manifest.kind },
          verification: { status: verification.status, checks: verification.checks.map((check) => check.name), warnings: [] },
        },
      };
    } catch (error) {
      // A failed child execution fails startExecution.sync with States.TaskFailed, its Cause the child's description.
      const failure = error as Error;
      throw Object.assign(new Error(JSON.stringify({ ExecutionArn: executionArn, Status: 'FAILED', Error: failure.name, Cause: failure.message })), {
        name: 'States.TaskFailed',
      });
    }
  };

  /**
   * Approve<id> / Escalate<id>: the real request task (store, sign, publish), then wait — as Step Functions
   * does — until the endpoint's SendTaskSuccess hands this task token its output.
   */
  const approvalTask: TaskHandler = async (input) => {
    const payload = input as ApprovalPayload;
    const requested = await requestApproval(payload, approvalDeps);
    const message = published.find((sent) => sent.Message?.includes(`/approvals/${requested.approvalId}?`));
    if (!message?.Message) throw new Error(`the approval request ${requested.approvalId} was not published`);
    const decision = new Promise<unknown>((resolve) => waitingTasks.set(payload.taskToken, resolve));
    const seen: ApprovalSeen = { payload, approvalId: requested.approvalId, link: linkFromMessage(message.Message), message };
    approvalsSeen.push(seen);
    const waiter = approvalWaiters.shift();
    if (waiter) waiter(seen);
    else approvalBacklog.push(seen);
    return decision;
  };

  /** The next approval request the contacts receive; fails if the run ends first. */
  function nextApproval(run: PlanRun): Promise<ApprovalSeen> {
    const backlog = approvalBacklog.shift();
    if (backlog) return Promise.resolve(backlog);
    const asked = new Promise<ApprovalSeen>((resolve) => approvalWaiters.push(resolve));
    const ended = run.finished.then((result): never => {
      throw new Error(`The plan ended ${result.status} (${result.error ?? ''}: ${result.cause ?? ''}) before asking for an approval`);
    });
    return Promise.race([asked, ended]);
  }

  /** Starts a compiled plan with every Task bound by its resource, as CDK substitutes them, to a real core. */
  function startPlan(
    planConfig: PlanConfig,
    input: unknown,
    options: {
      taskTimeoutOverrides?: Record<string, number>;
      beforeStep?: (event: DrStepEventSeen) => Promise<void> | void;
      afterStep?: (call: DrStepCall) => Promise<void>;
    } = {},
  ): PlanRun {
    const executionName = `drill-${randomBytes(6).toString('hex')}`;
    const executionId = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-plan-${planConfig.name}:${executionName}`;
    const calls: DrStepCall[] = [];
    const deps: DrStepDeps = { ...drStepDeps, now: tickingClock(EXECUTOR_TICK_MS) };
    const drStep: TaskHandler = async (event) => {
      const call: DrStepCall = { event: event as DrStepEventSeen };
      calls.push(call);
      await options.beforeStep?.(call.event);
      try {
        call.result = await handleDrStepEvent(event, deps);
      } catch (error) {
        call.error = error as Error;
        throw error;
      }
      await options.afterStep?.(call);
      return call.result;
    };

    const definition = deployed(compilePlan(planConfig, { name: 'lifeboat' }));
    const finished = runStateMachine(definition as unknown as StateMachineDefinition, input, {
      handlers: taskHandlers(definition, { drStep, approval: approvalTask, backup: backupTask }),
      context: { Execution: { Id: executionId, Name: executionName } },
      ...(options.taskTimeoutOverrides ? { taskTimeoutOverrides: options.taskTimeoutOverrides } : {}),
    });
    // Once the run is over, no approval task of it waits any more.
    void finished.then(() => {
      for (const seen of approvalsSeen) {
        if (waitingTasks.delete(seen.payload.taskToken)) endedTasks.add(seen.payload.taskToken);
      }
    });
    return { executionName, executionId, calls, finished, actions: (action) => calls.filter((call) => call.event.action === action) };
  }

  async function evidenceOf(planName: string, run: PlanRun): Promise<Evidence> {
    return JSON.parse((await vault.store.getObject(evidenceKey(planName, run.executionName))).toString('utf8')) as Evidence;
  }

  /** The one clean-up a drill ran: its event (with the suffix) and what it removed. */
  function cleanupOf(run: PlanRun): { suffix: string; result: CleanupResult } {
    const cleanups = run.actions('cleanup');
    expect(cleanups).toHaveLength(1);
    expect(cleanups[0]!.error).toBeUndefined();
    return { suffix: cleanups[0]!.event.suffix!, result: cleanups[0]!.result as CleanupResult };
  }

  /** The start time the step executor received (RecordEvidence's startedAt): $$.Execution.StartTime. */
  function executionStartOf(run: PlanRun, result: StateMachineRun): number {
    const evidenceEvents = run.actions('record-evidence');
    expect(evidenceEvents).toHaveLength(1);
    const start = Date.parse(evidenceEvents[0]!.event.startedAt!);
    // The interpreter sets StartTime as it logs ExecutionStarted: the two agree to the millisecond or so.
    const started = result.events.find((event) => event.type === 'ExecutionStarted') as { timestamp: number } | undefined;
    expect(started).toBeDefined();
    expect(Math.abs(start - started!.timestamp)).toBeLessThan(50);
    return start;
  }

  const ranSteps = (run: PlanRun) => run.actions('run-step').map((call) => call.event.stepId);
  const publishedTo = (planName: string) => published.filter((input) => input.TopicArn === topicOf(planName));
  const severityOf = (input: PublishCommandInput) => input.MessageAttributes?.['severity']?.StringValue;

  // -------------------------------------------------------------------------------------------

  it('drill: backup-now ▸ approval ▸ restore-dump ▸ validate ▸ notify passes, with the decision, RTO and RPO in the evidence', async () => {
    const drillPlanConfig = drillPlan(PLANS.drill);
    let drillDatabasesDuringRun: string[] = [];
    let drillRowsDuringRun = 0;
    const run = startPlan(drillPlanConfig, { mode: 'drill' }, {
      afterStep: async (call) => {
        if (call.event.action === 'run-step' && call.event.stepId === 'restore') {
          drillDatabasesDuringRun = await listPostgresDatabases(TARGET_DATABASE);
          drillRowsDuringRun = await countRows(drillDatabasesDuringRun[0]!, 'orders');
        }
      },
    });

    // The contacts get the link; opening it decides nothing.
    const request = await nextApproval(run);
    const opened = await openApproval(request.link, endpointDeps());
    expect(opened.statusCode).toBe(200);
    expect(opened.body).toContain('Restore orders into a drill copy now?');
    expect(approvalStore.records.get(request.approvalId)?.state).toBe('pending');
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(waitingTasks.has(request.payload.taskToken)).toBe(true);
    expect(ranSteps(run)).toEqual([]);

    // The POST decides, once.
    const answered = await answerApproval(request.link, { decision: 'approve', name: 'Ana Lima', comment: 'Drill window agreed with the orders team' }, endpointDeps());
    expect(answered.statusCode).toBe(200);
    expect(approvalStore.records.get(request.approvalId)).toMatchObject({ state: 'decided', decision: { approved: true, approver: 'Ana Lima' } });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: request.payload.taskToken });
    expect((await answerApproval(request.link, 'reject', endpointDeps())).statusCode).toBe(409);

    const result = await run.finished;

    expect(result.status).toBe('SUCCEEDED');
    expect(result.visitedStates).toContain('Cleanup');
    const { suffix, result: cleaned } = cleanupOf(run);
    const drillDatabase = `${TARGET_DATABASE}_drill_${suffix}`;
    // The drill copy existed with the data while the plan ran, and is gone now.
    expect(drillDatabasesDuringRun).toEqual([drillDatabase]);
    expect(drillRowsDuringRun).toBe(120);
    expect(cleaned.databases).toEqual([{ engine: 'postgresql', server: `${local.host}:${local.port}`, database: drillDatabase }]);
    expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([]);
    expect(await drillDatabasesOf(suffix)).toEqual([]);

    // What the state machine itself recorded, level by level.
    const levels = (result.output as { levels: Record<string, Record<string, StepRecord>> }).levels;
    const restore = levels['L3']!['restore']!;
    const check = levels['L4']!['check']!;
    expect(backupsMade).toHaveLength(1);
    expect(levels['L1']!['backup']!.result).toMatchObject({ output: { backup: { backupId: backupsMade[0]!.backupId } } });
    expect(restore.result).toMatchObject({ backupId: backupsMade[0]!.backupId, target: { database: drillDatabase, host: local.host }, drill: true });

    const evidence = await evidenceOf(PLANS.drill, run);
    expect(evidence).toMatchObject({ format: 'lifeboat-dr-evidence', plan: PLANS.drill, mode: 'drill', executionId: run.executionId, outcome: 'passed', failure: null });
    expect(evidence.steps.map((step) => [step.stepId, step.kind, step.status])).toEqual([
      ['backup', 'backup-now', 'succeeded'],
      ['go', 'approval', 'succeeded'],
      ['restore', 'restore-dump', 'succeeded'],
      ['check', 'validate', 'succeeded'],
      ['tell', 'notify', 'succeeded'],
    ]);
    for (const step of evidence.steps) {
      expect(Date.parse(step.startedAt!), step.stepId).not.toBeNaN();
      expect(Date.parse(step.endedAt!), step.stepId).toBeGreaterThanOrEqual(Date.parse(step.startedAt!));
    }
    expect(evidence.steps[1]!.result).toEqual({
      approved: true,
      approver: 'Ana Lima',
      comment: 'Drill window agreed with the orders team',
      decidedAt: (approvalStore.records.get(request.approvalId) as DecidedApproval).decision.decidedAt,
    });

    // RTO and RPO, computed here from the step records and the restored backup's manifest.
    const start = executionStartOf(run, result);
    const manifest = await readManifest(vault.store, SOURCE, restore.result!['backupId'] as string);
    const rtoMs = Date.parse(check.endedAt!) - start;
    // The backup was taken by the plan itself, after the start: nothing older than the start was lost.
    expect(Date.parse(manifest.completedAt)).toBeGreaterThan(start);
    const rpoMs = Math.max(0, start - Date.parse(manifest.completedAt));
    // Four readings of the executor's clock (restore and validate, start and end) after the start.
    expect(rtoMs).toBeGreaterThanOrEqual(4 * EXECUTOR_TICK_MS);
    expect(rtoMs).toBeLessThan(4 * EXECUTOR_TICK_MS + 60_000);
    expect(evidence.startedAt).toBe(new Date(start).toISOString());
    expect(evidence.measured).toEqual({
      rtoMinutes: minutesOf(rtoMs),
      rpoMinutes: minutesOf(rpoMs),
      restoredDataAt: manifest.completedAt,
      validatedAt: check.endedAt,
    });
    expect(evidence.met).toEqual({ rto: true, rpo: true });

    // Contacts: the approval request, the notify step, then the summary — all on the plan's topic.
    const messages = publishedTo(PLANS.drill);
    expect(messages.map((input) => [input.Subject, severityOf(input)])).toEqual([
      ['[DRILL] Lifeboat orders-restore: approval needed (step go)', 'WARNING'],
      ['[DRILL] Lifeboat plan orders-restore: orders restored', 'INFO'],
      [`[DRILL] Lifeboat plan orders-restore passed: RTO ${minutesOf(rtoMs).toFixed(1)}/60 min, RPO ${minutesOf(rpoMs).toFixed(1)}/240 min`, 'INFO'],
    ]);
    expect(messages[2]!.Message).toContain(`Evidence: ${vault.store.location}/${evidenceKey(PLANS.drill, run.executionName)}`);
    expect(published).toHaveLength(3);
  });

  /** Each step of the failing plan in turn, how it is made to fail, and the error the evidence records. */
  const FAILURES: [at: string, error: string, ran: (string | undefined)[]][] = [
    ['backup', 'States.TaskFailed', []],
    ['go', PLAN_ERRORS.approvalRejected, []],
    ['restore', 'NoRecoveryPointError', ['standby', 'restore']],
    ['check', 'ValidationFailedError', ['standby', 'restore', 'check']],
    ['tell', 'AlertPublishFailedError', ['standby', 'restore', 'check', 'tell']],
  ];

  it.each(FAILURES)('drill failing at %s: FAILED with PlanFailedError, clean-up removed every drill resource, evidence says %s', async (at, error, ran) => {
    const failingPlan = drillPlan(PLANS.failing, {
      standby: true,
      ...(at === 'restore' ? { pointInTime: '2020-01-01T00:00:00Z' } : {}),
      ...(at === 'check' ? { sqlChecks: ['SELECT count(*) = 120 FROM orders', 'SELECT count(*) > 1000 FROM orders'] } : {}),
    });
    if (at === 'backup') backupSource = () => ({ ...connectionOf(source), database: `lb_test_gone_${randomBytes(4).toString('hex')}` });
    if (at === 'tell') refusePublish = (input) => input.Subject?.endsWith(': orders restored') === true;

    const run = startPlan(failingPlan, { mode: 'drill' });
    if (at !== 'backup') {
      const request = await nextApproval(run);
      const decision = at === 'go' ? 'reject' : 'approve';
      expect((await answerApproval(request.link, { decision, name: 'Ben Okafor', comment: `${decision} in the drill` }, endpointDeps())).statusCode).toBe(200);
    }
    const result = await run.finished;

    expect(result).toMatchObject({ status: 'FAILED', error: PLAN_ERRORS.planFailed });
    expect(ranSteps(run)).toEqual(ran);
    expect(result.visitedStates).toContain('Cleanup');
    const { suffix } = cleanupOf(run);
    expect(await drillDatabasesOf(suffix)).toEqual([]);
    expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([]);
    expect(primaryRds.remainingDrillInstances(suffix)).toEqual([]);
    if (ran.includes('standby')) {
      // The snapshot restore made an instance; clean-up deleted exactly that one.
      expect(commandsOf(primaryRds.mock).filter(([name]) => name.startsWith('Delete'))).toEqual([
        ['DeleteDBInstance', { DBInstanceIdentifier: `orders-standby-drill-${suffix}`, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }],
      ]);
    } else {
      expect(primaryRds.mock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
    }
    expect(primaryRds.instances.get('orders-new-drill-0badc0de')?.status).toBe('available');

    const evidence = await evidenceOf(PLANS.failing, run);
    expect(evidence).toMatchObject({ mode: 'drill', outcome: 'failed', failure: { error }, met: { rto: false, rpo: false } });
    // A refusal is on record with who refused and why.
    if (at === 'go') expect(evidence.failure!.cause).toBe('Step go of plan orders-failing was rejected by Ben Okafor: reject in the drill');
    expect(evidence.steps.map((step) => step.stepId)).toEqual(['backup', 'go', 'standby', 'restore', 'check', 'tell'].slice(0, ['backup', 'go', 'standby', 'restore', 'check', 'tell'].indexOf(at)));
    const summary = publishedTo(PLANS.failing).at(-1)!;
    expect(summary.Subject).toMatch(/^\[DRILL\] Lifeboat plan orders-failing failed: /);
    expect(severityOf(summary)).toBe('ERROR');
    expect(summary.Message).toContain(`Failure: ${error}`);
  });

  it('drill with restore-snapshot: polls RDS until available, validates the restored instance, and clean-up deletes exactly the drill instance', async () => {
    const snapshotPlan = plan(PLANS.snapshot, [
      { id: 'restore', kind: 'restore-snapshot', parameters: { source: SOURCE, targetIdentifier: 'orders-new', instanceClass: 'db.t4g.medium', ...PLACEMENT } },
      { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore', sqlChecks: SQL_CHECKS } },
    ]);
    const run = startPlan(snapshotPlan, { mode: 'drill' }, {
      beforeStep: (event) => {
        // The same suffix under another plan's tag: not this drill's.
        if (event.action === 'cleanup') {
          primaryRds.add(`billing-new-drill-${event.suffix}`, [
            { Key: 'lifeboat:plan', Value: 'billing-restore' },
            { Key: 'lifeboat:drill', Value: event.suffix! },
          ]);
        }
      },
    });

    const result = await run.finished;

    expect(result.status).toBe('SUCCEEDED');
    const { suffix, result: cleaned } = cleanupOf(run);
    const identifier = `orders-new-drill-${suffix}`;
    expect(primaryRds.mock).toHaveReceivedCommandWith(RestoreDBInstanceFromDBSnapshotCommand, {
      DBInstanceIdentifier: identifier,
      DBSnapshotIdentifier: snapshotIdentifier,
      DBInstanceClass: 'db.t4g.medium',
      DBSubnetGroupName: 'lifeboat-private',
      VpcSecurityGroupIds: ['sg-0abc1234'],
      PubliclyAccessible: false,
      Tags: [
        { Key: 'lifeboat:plan', Value: PLANS.snapshot },
        { Key: 'lifeboat:execution', Value: run.executionName },
        { Key: 'lifeboat:drill', Value: suffix },
      ],
    });
    expect(run.actions('describe-step').map((call) => (call.result as { step: { status: string } }).step.status)).toEqual(['creating', 'backing-up', 'available']);
    expect(result.visitedStates.filter((name) => name === 'WaitForrestore')).toHaveLength(3);

    const levels = (result.output as { levels: Record<string, Record<string, StepRecord>> }).levels;
    const check = levels['L2']!['check']!;
    expect(check.result).toMatchObject({
      validatedStep: 'restore',
      target: { host: local.host, port: local.port, database: snapshotDatabase.name },
      sqlChecks: SQL_CHECKS.map((sql) => ({ sql, status: 'passed' })),
    });

    // Clean-up: exactly the drill instance, without a final snapshot; nothing else in either region.
    expect(commandsOf(primaryRds.mock).filter(([name]) => name.startsWith('Delete'))).toEqual([
      ['DeleteDBInstance', { DBInstanceIdentifier: identifier, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }],
    ]);
    expect(primaryRds.mock).not.toHaveReceivedCommand(DeleteDBClusterCommand);
    expect(commandsOf(drRds.mock).map(([name]) => name)).toEqual(['DescribeDBInstances', 'DescribeDBClusters']);
    expect(cleaned).toEqual({ plan: PLANS.snapshot, suffix, databases: [], instances: [{ region: REGION, identifier }], clusters: [] });
    expect([...primaryRds.instances.values()].map((instance) => [instance.identifier, instance.status])).toEqual([
      ['orders-prod', 'available'],
      ['orders-new-drill-0badc0de', 'available'],
      [identifier, 'deleting'],
      [`billing-new-drill-${suffix}`, 'available'],
    ]);
    // The database the "instance" served is no drill database: clean-up left it alone.
    expect(await countRows(snapshotDatabase.name, 'orders')).toBe(120);

    const evidence = await evidenceOf(PLANS.snapshot, run);
    const start = executionStartOf(run, result);
    const rtoMs = Date.parse(check.endedAt!) - start;
    const rpoMs = start - snapshotCreated.getTime();
    expect(evidence).toMatchObject({ outcome: 'passed', failure: null, mode: 'drill' });
    expect(evidence.measured).toEqual({
      rtoMinutes: minutesOf(rtoMs),
      rpoMinutes: minutesOf(rpoMs),
      restoredDataAt: snapshotCreated.toISOString(),
      validatedAt: check.endedAt,
    });
    expect(evidence.met).toEqual({ rto: true, rpo: true });
  });

  it('real run: restores the dump into the named empty target, validates it there, and never cleans up', async () => {
    const target = await createPostgresDatabase('plan_e2e_real');
    try {
      // At or before a minute after the old backup: that one, hours older than the start (an RPO objective it misses).
      const pointInTime = new Date(Date.parse(oldBackup.completedAt) + 60_000).toISOString();
      const realPlan = plan(
        PLANS.real,
        [
          { id: 'restore', kind: 'restore-dump', parameters: { source: SOURCE, pointInTime, target: dumpTarget(target.name, local.host, local.port) } },
          { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore', sqlChecks: SQL_CHECKS } },
        ],
        { rtoMinutes: 60, rpoMinutes: 120 },
      );
      const databasesBefore = await listPostgresDatabases('');

      const run = startPlan(realPlan, { mode: 'real' });
      const result = await run.finished;

      expect(result.status).toBe('SUCCEEDED');
      expect(await countRows(target.name, 'orders')).toBe(120);
      expect(await countRows(target.name, 'customers')).toBe(12);
      expect(run.actions('cleanup')).toEqual([]);
      expect(result.visitedStates).not.toContain('Cleanup');
      expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: TARGET_SECRET });
      expect(secrets).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SERVER_SECRET });
      expect((await listPostgresDatabases('')).filter((name) => name.includes('_drill_') && !databasesBefore.includes(name))).toEqual([]);

      const levels = (result.output as { levels: Record<string, Record<string, StepRecord>> }).levels;
      expect(levels['L1']!['restore']!.result).toMatchObject({ backupId: oldBackup.backupId, target: { database: target.name }, drill: false });
      const check = levels['L2']!['check']!;
      expect(check.result).toMatchObject({ target: { database: target.name }, tables: [expect.objectContaining({ status: 'passed' }), expect.objectContaining({ status: 'passed' })] });

      const evidence = await evidenceOf(PLANS.real, run);
      const start = executionStartOf(run, result);
      const manifest = await readManifest(vault.store, SOURCE, oldBackup.backupId);
      const rtoMs = Date.parse(check.endedAt!) - start;
      const rpoMs = start - Date.parse(manifest.completedAt);
      expect(rpoMs).toBeGreaterThan(OLD_BACKUP_AGE_MS);
      expect(evidence).toMatchObject({ mode: 'real', outcome: 'passed', failure: null });
      expect(evidence.measured).toEqual({ rtoMinutes: minutesOf(rtoMs), rpoMinutes: minutesOf(rpoMs), restoredDataAt: manifest.completedAt, validatedAt: check.endedAt });
      expect(evidence.met).toEqual({ rto: true, rpo: false });
      const summary = publishedTo(PLANS.real).at(-1)!;
      expect(summary.Subject).toBe(`Lifeboat plan orders-real passed: RTO ${minutesOf(rtoMs).toFixed(1)}/60 min, RPO ${minutesOf(rpoMs).toFixed(1)}/120 min`);
      expect(summary.Message).toContain('NOT met');
    } finally {
      await target.drop();
    }
  });

  it('approval nobody answers: escalated exactly once, then ApprovalTimedOutError; the first link can no longer decide', async () => {
    const undecidedPlan = plan(PLANS.undecided, [
      { id: 'go', kind: 'approval', parameters: { question: 'Fail orders over to the DR region?' } },
      { id: 'tell', kind: 'notify', dependsOn: ['go'], parameters: { message: 'failing over' } },
    ]);

    const run = startPlan(undecidedPlan, { mode: 'drill' }, { taskTimeoutOverrides: { Approvego: 150, Escalatego: 150 } });
    const result = await run.finished;

    expect(result).toMatchObject({ status: 'FAILED', error: PLAN_ERRORS.planFailed });
    expect(result.visitedStates).toEqual(expect.arrayContaining(['Approvego', 'Escalatego', 'ApprovalTimedOutgo', 'Cleanup', 'RecordEvidence']));
    expect(ranSteps(run)).toEqual([]);
    expect(approvalsSeen.map((seen) => [seen.payload.escalation, seen.payload.expiresInSeconds])).toEqual([
      [false, 30 * 60],
      [true, 30 * 60],
    ]);
    const escalations = publishedTo(PLANS.undecided).filter((input) => input.Subject?.includes('nobody decided'));
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({ Subject: '[DRILL] Lifeboat orders-undecided: nobody decided yet, approval still needed (step go)' });
    expect(escalations[0]!.Message).toContain('nobody decided in time');
    expect(severityOf(escalations[0]!)).toBe('WARNING');

    const evidence = await evidenceOf(PLANS.undecided, run);
    expect(evidence).toMatchObject({ outcome: 'failed', failure: { error: PLAN_ERRORS.approvalTimedOut } });
    expect(evidence.failure!.cause).toContain('within 60 minutes');

    // When the first task stopped waiting, its link died with it: nothing can be decided through it.
    const first = approvalsSeen[0]!;
    const stored = approvalStore.records.get(first.approvalId)!;
    const whenItTimedOut = new Date(stored.expiresAt * 1000);
    expect((await openApproval(first.link, endpointDeps(whenItTimedOut))).statusCode).toBe(410);
    expect((await answerApproval(first.link, { decision: 'approve', name: 'Ana Lima' }, endpointDeps(whenItTimedOut))).statusCode).toBe(410);
    expect(approvalStore.records.get(first.approvalId)).toMatchObject({ state: 'pending' });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });
});

/** Real time, except each reading is at least `tickMs` after the previous one: steps take minutes without waiting minutes. */
function tickingClock(tickMs: number): () => Date {
  let last = 0;
  return () => {
    last = Math.max(Date.now(), last) + tickMs;
    return new Date(last);
  };
}
