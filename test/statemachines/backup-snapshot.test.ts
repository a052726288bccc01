/**
 * The real statemachines/backup.asl.json run locally for a snapshot source (RDS instance `orders-prod`,
 * source `orders-db`), every Task bound to a real core: the snapshot function against a mocked RDS in the
 * primary region, the copy function against a mocked RDS in the DR region, the prune function against
 * both; the primary and DR vaults are two buckets on one local S3 server (s3rver). The RDS mocks keep
 * state, so the snapshot and its DR copy progress as the state machine polls them.
 */
import 'aws-sdk-client-mock-vitest/extend';
import {
  CopyDBSnapshotCommand,
  CreateDBSnapshotCommand,
  DBSnapshotNotFoundFault,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBInstanceStateFault,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
  SnapshotQuotaExceededFault,
  type DBSnapshot,
  type Tag,
} from '@aws-sdk/client-rds';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../functions/copy/copy.ts';
import { PruneIncompleteError } from '../../functions/lib/errors.ts';
import { listBackups } from '../../functions/lib/vault/catalog.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { pruneSource, type PruneDeps } from '../../functions/prune/prune.ts';
import { derivedBackupId, handleSnapshotEvent, type SnapshotDeps } from '../../functions/snapshot/snapshot.ts';
import { loadStateMachine, runStateMachine, startLocalS3, type LocalS3, type StateMachineDefinition, type StateMachineRun, type TaskHandler } from '../harness/index.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS } from './support.ts';

const SOURCE = 'orders-db';
const INSTANCE = 'orders-prod';
const POLICY = 'keep-last=7 days=35 gfs=7/4/12/0';
const DR_KEY = `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-5678efgh`;
const EXECUTION_ID = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:orders-db-snapshot-e2e`;
// The interpreter always sets $$.Execution.StartTime itself (to the real start), so only the id is given here.
const CONTEXT = { Execution: { Id: EXECUTION_ID, Name: 'orders-db-snapshot-e2e' } };
/** DescribeSnapshot polls of a successful run: RDS says `creating` on all but the last. */
const SNAPSHOT_POLLS = 3;
/** DescribeSnapshotCopy polls of a successful run: RDS says `creating` on all but the last. */
const COPY_POLLS = 2;
/** The copy function's in-flight limit here (20 in AWS), so a full copy queue needs only two snapshots. */
const MAX_COPIES_IN_FLIGHT = 2;
const SUCCESS_METRIC = {
  Namespace: 'Lifeboat',
  MetricData: [{ MetricName: 'BackupSucceeded', Dimensions: [{ Name: 'sourceId', Value: SOURCE }], Value: 1, Unit: 'Count' }],
};

const snapshotArn = (region: string, name: string) => `arn:aws:rds:${region}:${ACCOUNT}:snapshot:${name}`;
const snapshotName = (sourceId: string, backupId: string) => `lifeboat-${sourceId}-${backupId.toLowerCase()}`;

// ---------------------------------------------------------------------------------------------------------
// RDS, one region at a time: manual snapshots that move on each time RDS is asked about them.
// ---------------------------------------------------------------------------------------------------------

interface FakeSnapshot {
  snapshot: DBSnapshot;
  /** Describes (by name or in a listing) still answered with the current status before `outcome` is reached. */
  describesLeft: number;
  outcome: 'available' | 'failed';
}

/** A mocked RDSClient for one region whose snapshots behave as RDS's do while they are being made or copied. */
class FakeRdsRegion {
  readonly client: RDSClient;
  readonly mock: AwsClientStub<RDSClient>;
  readonly snapshots = new Map<string, FakeSnapshot>();
  /** Thrown, one per call, by the next CreateDBSnapshot calls. */
  createFaults: Error[] = [];
  /** Describes a new snapshot (or copy) is `creating` for. */
  describesUntilDone = 0;
  /** What a new snapshot (or copy) ends as. */
  outcome: FakeSnapshot['outcome'] = 'available';

  readonly region: string;
  /** The region a CopyDBSnapshot here pulls from. */
  readonly #copiesFrom: FakeRdsRegion | undefined;

  constructor(region: string, copiesFrom?: FakeRdsRegion) {
    this.region = region;
    this.#copiesFrom = copiesFrom;
    this.client = new RDSClient({ region });
    this.mock = mockClient(this.client);
  }

  reset(): void {
    this.mock.reset();
    this.snapshots.clear();
    this.createFaults = [];
    this.describesUntilDone = 0;
    this.outcome = 'available';
    this.mock.on(CreateDBSnapshotCommand).callsFake((input: { DBSnapshotIdentifier: string; DBInstanceIdentifier: string; Tags?: Tag[] }) => {
      const fault = this.createFaults.shift();
      if (fault) throw fault;
      return { DBSnapshot: this.start(input.DBSnapshotIdentifier, { DBInstanceIdentifier: input.DBInstanceIdentifier, TagList: input.Tags ?? [] }) };
    });
    this.mock.on(CopyDBSnapshotCommand).callsFake((input: { SourceDBSnapshotIdentifier: string; TargetDBSnapshotIdentifier: string; CopyTags?: boolean }) => {
      // From the other region (a DR copy), or from this one (a share copy, made within the region).
      const from = [...(this.#copiesFrom?.snapshots.values() ?? []), ...this.snapshots.values()].find((s) => s.snapshot.DBSnapshotArn === input.SourceDBSnapshotIdentifier);
      if (!from) throw new DBSnapshotNotFoundFault({ message: `${input.SourceDBSnapshotIdentifier} not found`, $metadata: {} });
      const { DBInstanceIdentifier, EngineVersion, TagList } = from.snapshot;
      const region = from.snapshot.DBSnapshotArn!.split(':')[3];
      return {
        DBSnapshot: this.start(input.TargetDBSnapshotIdentifier, { DBInstanceIdentifier, EngineVersion, TagList: input.CopyTags ? TagList : [], SourceRegion: region }),
      };
    });
    this.mock.on(DescribeDBSnapshotsCommand).callsFake((input: { DBSnapshotIdentifier?: string }) => {
      if (input.DBSnapshotIdentifier === undefined) return { DBSnapshots: [...this.snapshots.values()].map((s) => this.observe(s)) };
      const found = this.snapshots.get(input.DBSnapshotIdentifier);
      if (!found) throw new DBSnapshotNotFoundFault({ message: `DBSnapshot ${input.DBSnapshotIdentifier} not found.`, $metadata: {} });
      return { DBSnapshots: [this.observe(found)] };
    });
    this.mock.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    this.mock.on(ModifyDBSnapshotAttributeCommand).resolves({});
  }

  /** A snapshot made outside this run (another source's copy in flight, say). */
  add(name: string, fields: Partial<DBSnapshot>, describesLeft: number, outcome: FakeSnapshot['outcome'] = 'available'): void {
    this.snapshots.set(name, { snapshot: this.described(name, fields), describesLeft, outcome });
  }

  /** How many DescribeDBSnapshots named this snapshot (a listing does not). */
  describesOf(name: string): number {
    return this.mock.commandCalls(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: name }).length;
  }

  private start(name: string, fields: Partial<DBSnapshot>): DBSnapshot {
    this.add(name, fields, this.describesUntilDone, this.outcome);
    return structuredClone(this.snapshots.get(name)!.snapshot);
  }

  private described(name: string, fields: Partial<DBSnapshot>): DBSnapshot {
    return {
      DBSnapshotIdentifier: name,
      DBSnapshotArn: snapshotArn(this.region, name),
      SnapshotType: 'manual',
      Status: 'creating',
      PercentProgress: 0,
      Engine: 'postgres',
      EngineVersion: '16.4',
      SnapshotCreateTime: new Date(),
      ...fields,
    };
  }

  /** What RDS answers now; the snapshot then moves one step on. */
  private observe(entry: FakeSnapshot): DBSnapshot {
    const answer = structuredClone(entry.snapshot);
    if (entry.describesLeft > 0 && --entry.describesLeft === 0) {
      entry.snapshot.Status = entry.outcome;
      entry.snapshot.PercentProgress = entry.outcome === 'available' ? 100 : entry.snapshot.PercentProgress;
    } else if (entry.describesLeft > 0) {
      entry.snapshot.PercentProgress = Math.min(90, (entry.snapshot.PercentProgress ?? 0) + 30);
    }
    return answer;
  }
}

// ---------------------------------------------------------------------------------------------------------

interface TaskCall {
  readonly state: string;
  readonly input: unknown;
  readonly output?: unknown;
  /** The error name the Task failed with. */
  readonly error?: string;
}
interface PublishedAlert {
  Subject: string;
  Message: string;
  MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
}

const primaryRds = new FakeRdsRegion(REGION);
const drRds = new FakeRdsRegion(DR_REGION, primaryRds);
let s3: LocalS3;
let definition: StateMachineDefinition;
let primaryStore: S3Store;
let drStore: S3Store;
let primaryBucket: string;
let drBucket: string;

beforeAll(async () => {
  definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.stop();
});
beforeEach(async () => {
  primaryRds.reset();
  drRds.reset();
  primaryRds.describesUntilDone = SNAPSHOT_POLLS - 1;
  drRds.describesUntilDone = COPY_POLLS - 1;
  // Fresh vaults for every run: what a run recorded (or did not) is all there is to list.
  primaryBucket = await s3.createBucket();
  drBucket = await s3.createBucket();
  primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
  drStore = new S3Store({ client: s3.client, bucket: drBucket });
});

/** Runs the backup of `orders-db` with every Task on its real core; each Task call is logged in order. */
async function runSnapshotBackup(extraCopyDeps: Partial<CopyDeps> = {}): Promise<{ run: StateMachineRun; calls: TaskCall[]; alerts: PublishedAlert[]; metrics: unknown[] }> {
  const snapshotDeps: SnapshotDeps = {
    sources: [{ id: SOURCE, engine: 'postgresql', database: 'orders', rds: { type: 'instance', identifier: INSTANCE }, policy: POLICY }],
    rds: primaryRds.client,
    store: primaryStore,
    region: REGION,
  };
  const copyDeps: CopyDeps = {
    primary: { client: s3.client, bucket: primaryBucket },
    dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
    // The copy function gets one RDS client, the DR region's: cross-region copies are requested by the destination.
    drRds: drRds.client,
    maxCopiesInFlight: MAX_COPIES_IN_FLIGHT,
    ...extraCopyDeps,
  };
  // The real prune core, with both vaults and both regions' snapshots.
  const pruneDeps: PruneDeps = {
    sources: [{ id: SOURCE, timeZone: 'UTC', retention: { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, snapshots: true }],
    vaults: [{ store: primaryStore }, { store: drStore }],
    rds: { [REGION]: primaryRds.client, [DR_REGION]: drRds.client },
  };
  const alerts: PublishedAlert[] = [];
  const metrics: unknown[] = [];
  const snapshotFunction: TaskHandler = (input) => handleSnapshotEvent(input, snapshotDeps);
  const copyFunction: TaskHandler = (input) => handleCopyEvent(input, copyDeps);
  const notForSnapshots: TaskHandler = async () => {
    throw new Error('a snapshot source never reaches the dump path');
  };
  const handlers: Record<string, TaskHandler> = {
    // A stand-in for the resolve-source function (written elsewhere): this source is snapshot-only.
    DescribeSource: async (input) => ({ sourceId: (input as { sourceId: string }).sourceId, method: 'snapshot' }),
    CreateSnapshot: snapshotFunction,
    DescribeSnapshot: snapshotFunction,
    RecordSnapshot: snapshotFunction,
    Dump: notForSnapshots,
    Verify: notForSnapshots,
    DumpOnFargate: notForSnapshots,
    ReadFargateDump: notForSnapshots,
    VerifyOnFargate: notForSnapshots,
    CopyOnFargate: notForSnapshots,
    CopyToDr: copyFunction,
    CopySnapshotToDr: copyFunction,
    DescribeSnapshotCopy: copyFunction,
    RecordSnapshotCopy: copyFunction,
    // As functions/prune/handler.ts does: a summary with errors is a failed step.
    ApplyRetention: async (input) => {
      const { reports, ...summary } = await pruneSource(input, pruneDeps);
      if (summary.errors.length > 0) throw new PruneIncompleteError(summary.errors.join('; '));
      return { ...summary, subjects: reports.map((r) => r.subject) };
    },
    RecordSuccess: async (input) => {
      metrics.push(input);
      return {};
    },
    PublishAlert: async (input) => {
      alerts.push(input as PublishedAlert);
      return { MessageId: `alert-${alerts.length}` };
    },
  };
  const calls: TaskCall[] = [];
  const logged = Object.fromEntries(
    Object.entries(handlers).map(([state, handler]): [string, TaskHandler] => [
      state,
      async (input) => {
        try {
          const output = await handler(input);
          calls.push({ state, input, output: structuredClone(output) });
          return output;
        } catch (error) {
          calls.push({ state, input, error: (error as Error).name });
          throw error;
        }
      },
    ]),
  );
  const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers: logged, context: CONTEXT });
  return { run, calls, alerts, metrics };
}

const callsOf = (calls: readonly TaskCall[], state: string) => calls.filter((c) => c.state === state);
const retriesOf = (run: StateMachineRun, state: string) =>
  run.events.filter((e) => e.type === 'StateRetried' && (e as { state: { name: string } }).state.name === state).length;
const outcome = (run: StateMachineRun) => (run.error === undefined ? run.status : `${run.status} ${run.error}: ${run.cause}`);

/** The backup id the snapshot function derives from this execution: its id and the start time it was given. */
function backupIdOf(calls: readonly TaskCall[]): string {
  const create = callsOf(calls, 'CreateSnapshot')[0]?.input as { executionId: string; executionStartTime: string };
  expect(create).toMatchObject({ executionId: EXECUTION_ID, executionStartTime: expect.any(String) });
  return derivedBackupId(create.executionId, SOURCE, new Date(create.executionStartTime));
}

/** CreateDBSnapshot exactly as the snapshot function must send it for this backup. */
function expectedCreate(backupId: string) {
  return {
    DBSnapshotIdentifier: snapshotName(SOURCE, backupId),
    DBInstanceIdentifier: INSTANCE,
    Tags: [
      { Key: 'lifeboat:source', Value: SOURCE },
      { Key: 'lifeboat:backup-id', Value: backupId },
      { Key: 'lifeboat:policy', Value: POLICY },
      { Key: 'lifeboat:managed-by', Value: 'lifeboat' },
    ],
  };
}

function expectOneAlert(alerts: readonly PublishedAlert[], step: string, error: string): void {
  expect(alerts).toHaveLength(1);
  expect(alerts[0]!.Subject).toBe(`[ERROR] Lifeboat ${SOURCE}: backup failed at ${step}`);
  expect(alerts[0]!.MessageAttributes).toEqual({
    severity: { DataType: 'String', StringValue: 'ERROR' },
    sourceId: { DataType: 'String', StringValue: SOURCE },
    step: { DataType: 'String', StringValue: step },
  });
  expect(alerts[0]!.Message).toContain(`Error: ${error}`);
  expect(alerts[0]!.Message).toContain(`#/v2/executions/details/${EXECUTION_ID}`);
}

const createCalls = () => primaryRds.mock.commandCalls(CreateDBSnapshotCommand).map((c) => c.args[0].input);
const copyCalls = () => drRds.mock.commandCalls(CopyDBSnapshotCommand).map((c) => c.args[0].input);

// ---------------------------------------------------------------------------------------------------------

describe('backup.asl.json end to end: a snapshot source with the real snapshot, copy and prune cores', () => {
  it('snapshots the instance, records it, copies it to the DR region under the DR key and records the copy', async () => {
    const { run, calls, alerts, metrics } = await runSnapshotBackup();

    expect(outcome(run)).toBe('SUCCEEDED');
    const backupId = backupIdOf(calls);
    const name = snapshotName(SOURCE, backupId);
    const primaryArn = snapshotArn(REGION, name);
    const drArn = snapshotArn(DR_REGION, name);
    expect(name).toMatch(/^lifeboat-orders-db-\d{8}t\d{6}z-[a-z2-7]{8}$/);
    expect(calls.map((c) => c.state)).toEqual([
      'DescribeSource',
      'CreateSnapshot',
      ...Array<string>(SNAPSHOT_POLLS).fill('DescribeSnapshot'),
      'RecordSnapshot',
      'CopySnapshotToDr',
      ...Array<string>(COPY_POLLS).fill('DescribeSnapshotCopy'),
      'RecordSnapshotCopy',
      'ApplyRetention',
      'RecordSuccess',
    ]);

    // Primary region: one create, exactly as specified; described until available, then once more by record.
    expect(createCalls()).toEqual([expectedCreate(backupId)]);
    expect(callsOf(calls, 'CreateSnapshot')[0]!.output).toMatchObject({ snapshotArn: primaryArn, status: 'creating', backupId });
    expect(callsOf(calls, 'DescribeSnapshot').map((c) => (c.output as { status: string }).status)).toEqual([
      ...Array<string>(SNAPSHOT_POLLS - 1).fill('creating'),
      'available',
    ]);
    expect(primaryRds.describesOf(name)).toBe(SNAPSHOT_POLLS + 1);

    // DR region: the copy requested once, pulled from the primary ARN under the DR key with the tags.
    expect(copyCalls()).toEqual([{ SourceDBSnapshotIdentifier: primaryArn, TargetDBSnapshotIdentifier: name, KmsKeyId: DR_KEY, CopyTags: true }]);
    expect(callsOf(calls, 'CopySnapshotToDr')[0]!.output).toMatchObject({ snapshotArn: drArn, region: DR_REGION, copiesInFlight: 0, alreadyStarted: false });
    expect(callsOf(calls, 'DescribeSnapshotCopy').map((c) => (c.output as { status: string }).status)).toEqual([
      ...Array<string>(COPY_POLLS - 1).fill('creating'),
      'available',
    ]);
    expect(drRds.describesOf(name)).toBe(COPY_POLLS + 1);
    expect(drRds.snapshots.get(name)?.snapshot.TagList).toEqual(expectedCreate(backupId).Tags);

    // Retention listed both regions and both vaults, kept the fresh backup everywhere and deleted nothing.
    expect(primaryRds.mock).toHaveReceivedCommandWith(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' });
    expect(drRds.mock).toHaveReceivedCommandWith(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' });
    for (const region of [primaryRds, drRds]) {
      expect(region.mock).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
      expect(region.mock).not.toHaveReceivedCommand(DeleteDBClusterSnapshotCommand);
    }
    expect((run.output as { retention: unknown }).retention).toEqual({ kept: 4, deleted: 0, protected: 0 });

    // The vaults, as `lifeboat list` reads them: the primary points at the primary snapshot, the DR at its copy.
    const [primary, ...otherPrimary] = await listBackups(primaryStore, { sourceId: SOURCE });
    expect(otherPrimary).toEqual([]);
    expect(primary).toMatchObject({ sourceId: SOURCE, backupId, kind: 'snapshot', engine: 'postgresql', snapshot: { arn: primaryArn, identifier: name, region: REGION } });
    expect(primary!.payload).toBeUndefined();
    const drBackups = await listBackups(drStore, { sourceId: SOURCE });
    expect(drBackups).toEqual([{ ...primary, snapshot: { arn: drArn, identifier: name, region: DR_REGION } }]);

    expect(alerts).toEqual([]);
    expect(metrics).toEqual([SUCCESS_METRIC]);
  });

  it('with the air-gapped vault in the primary region: also makes the share copy there, waits for it, shares it, and retention counts it as no backup', async () => {
    const vaultKey = `arn:aws:kms:${REGION}:${ACCOUNT}:key/mrk-5678efgh`;
    const vaultAccount = '444455556666';
    const { run, calls, alerts } = await runSnapshotBackup({ shareCopy: { rds: primaryRds.client, region: REGION, kmsKeyId: vaultKey, account: vaultAccount } });

    expect(outcome(run)).toBe('SUCCEEDED');
    const name = snapshotName(SOURCE, backupIdOf(calls));
    const share = `${name}-ag`;
    expect(primaryRds.mock).toHaveReceivedCommandExactlyOnceWith(CopyDBSnapshotCommand, { SourceDBSnapshotIdentifier: snapshotArn(REGION, name), TargetDBSnapshotIdentifier: share, KmsKeyId: vaultKey, CopyTags: true });
    // The share copy takes longer here than the DR copy: the wait goes on until both are available.
    const polled = callsOf(calls, 'DescribeSnapshotCopy').map((c) => (c.output as { status: string; shareCopy: { status: string } }));
    expect(polled.at(-1)).toMatchObject({ status: 'available', shareCopy: { status: 'available' } });
    expect(polled.slice(0, -1).every((p) => p.status !== 'available')).toBe(true);
    expect(polled.length).toBeGreaterThan(COPY_POLLS);
    expect(primaryRds.mock).toHaveReceivedCommandExactlyOnceWith(ModifyDBSnapshotAttributeCommand, { DBSnapshotIdentifier: share, AttributeName: 'restore', ValuesToAdd: [vaultAccount] });
    expect(callsOf(calls, 'RecordSnapshotCopy')[0]!.output).toMatchObject({ snapshotSharedWith: vaultAccount, shareCopy: { snapshotIdentifier: share, deleted: [] } });
    // Retention kept the backup in both regions and both vaults, as without share copies: the share copy is not a backup.
    expect((run.output as { retention: unknown }).retention).toEqual({ kept: 4, deleted: 0, protected: 0 });
    expect(primaryRds.mock).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(alerts).toEqual([]);
  });

  // RDS's wire code, and the SDK's modelled fault for it: rdsErrorCode() reads both as InvalidDBInstanceState.
  const instanceBusy: { label: string; fault: () => Error }[] = [
    { label: 'InvalidDBInstanceState', fault: () => Object.assign(new Error('Instance orders-prod is not in available state'), { name: 'InvalidDBInstanceState' }) },
    { label: 'InvalidDBInstanceStateFault', fault: () => new InvalidDBInstanceStateFault({ message: 'Instance orders-prod is not in available state', $metadata: {} }) },
  ];
  it.each(instanceBusy)('retries a create refused with $label (SnapshotAlreadyRunningError), asking again for the same snapshot name', async ({ fault }) => {
    primaryRds.createFaults = [fault()];

    const { run, calls, alerts, metrics } = await runSnapshotBackup();

    expect(outcome(run)).toBe('SUCCEEDED');
    expect(callsOf(calls, 'CreateSnapshot').map((c) => c.error)).toEqual(['SnapshotAlreadyRunningError', undefined]);
    expect(retriesOf(run, 'CreateSnapshot')).toBe(1);
    // Both attempts asked for the same snapshot: the backup id comes from the execution, not from the clock.
    const backupId = backupIdOf(calls);
    expect(createCalls()).toEqual([expectedCreate(backupId), expectedCreate(backupId)]);
    expect(callsOf(calls, 'CreateSnapshot')[1]!.input).toEqual(callsOf(calls, 'CreateSnapshot')[0]!.input);
    expect(copyCalls()).toHaveLength(1);
    expect((await listBackups(primaryStore, { sourceId: SOURCE })).map((b) => b.backupId)).toEqual([backupId]);
    expect(alerts).toEqual([]);
    expect(metrics).toEqual([SUCCESS_METRIC]);
  });

  it('a full manual snapshot quota fails at once: one alert naming CreateSnapshot, no retry, no copy', async () => {
    primaryRds.createFaults = [new SnapshotQuotaExceededFault({ message: 'Cannot create more than 100 manual snapshots', $metadata: {} })];

    const { run, calls, alerts, metrics } = await runSnapshotBackup();

    expect(run).toMatchObject({ status: 'FAILED', error: 'SnapshotQuotaExceededError' });
    expect(run.cause).toContain('manual snapshot quota');
    expect(run.visitedStates.at(-1)).toBe('BackupFailed');
    expect(createCalls()).toEqual([expectedCreate(backupIdOf(calls))]);
    expect(retriesOf(run, 'CreateSnapshot')).toBe(0);
    expect(calls.map((c) => c.state)).toEqual(['DescribeSource', 'CreateSnapshot', 'PublishAlert']);
    expect(drRds.mock).not.toHaveReceivedAnyCommand();
    expect(primaryRds.mock).not.toHaveReceivedCommand(DescribeDBSnapshotsCommand);
    expectOneAlert(alerts, 'CreateSnapshot', 'SnapshotQuotaExceededError');
    expect(metrics).toEqual([]);
  });

  it('waits out a full DR copy queue: SnapshotCopyQuotaError is retried until the copies in flight finish, then copies once', async () => {
    // Two Lifeboat copies of another source in flight to the DR region (at the limit) for two more listings.
    for (const backupId of ['20261121T010000Z-aaaaaaaa', '20261121T020000Z-bbbbbbbb']) {
      const tags = [{ Key: 'lifeboat:source', Value: 'billing-db' }, { Key: 'lifeboat:backup-id', Value: backupId }];
      drRds.add(snapshotName('billing-db', backupId), { TagList: tags, PercentProgress: 40 }, 2);
    }

    const { run, calls, alerts, metrics } = await runSnapshotBackup();

    expect(outcome(run)).toBe('SUCCEEDED');
    const attempts = callsOf(calls, 'CopySnapshotToDr');
    expect(attempts.map((c) => c.error)).toEqual(['SnapshotCopyQuotaError', 'SnapshotCopyQuotaError', undefined]);
    expect(retriesOf(run, 'CopySnapshotToDr')).toBe(2);
    expect(attempts[2]!.output).toMatchObject({ copiesInFlight: 0, alreadyStarted: false });
    // Each attempt listed the DR region's manual snapshots; only the last one asked RDS for the copy.
    expect(drRds.mock.commandCalls(DescribeDBSnapshotsCommand, { SnapshotType: 'manual' }).length).toBe(3 + 1); // + retention's listing
    const name = snapshotName(SOURCE, backupIdOf(calls));
    expect(copyCalls()).toEqual([{ SourceDBSnapshotIdentifier: snapshotArn(REGION, name), TargetDBSnapshotIdentifier: name, KmsKeyId: DR_KEY, CopyTags: true }]);
    // The other source's copies are not this source's to prune.
    expect(drRds.mock).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect((await listBackups(drStore, { sourceId: SOURCE })).map((b) => b.snapshot?.arn)).toEqual([snapshotArn(DR_REGION, name)]);
    expect(alerts).toEqual([]);
    expect(metrics).toEqual([SUCCESS_METRIC]);
  });

  it('a snapshot that fails while being made alerts once as DescribeSnapshot and records nothing', async () => {
    primaryRds.outcome = 'failed';

    const { run, calls, alerts, metrics } = await runSnapshotBackup();

    expect(run).toMatchObject({ status: 'FAILED', error: 'SnapshotFailedError' });
    const name = snapshotName(SOURCE, backupIdOf(calls));
    expect(run.cause).toContain(`Snapshot ${name} of source ${SOURCE} is failed`);
    expect(callsOf(calls, 'DescribeSnapshot').map((c) => c.error ?? (c.output as { status: string }).status)).toEqual([
      ...Array<string>(SNAPSHOT_POLLS - 1).fill('creating'),
      'SnapshotFailedError',
    ]);
    expect(primaryRds.describesOf(name)).toBe(SNAPSHOT_POLLS);
    expect(callsOf(calls, 'RecordSnapshot')).toEqual([]);
    expect(drRds.mock).not.toHaveReceivedAnyCommand();
    expectOneAlert(alerts, 'DescribeSnapshot', 'SnapshotFailedError');
    expect(await listBackups(primaryStore, { sourceId: SOURCE })).toEqual([]);
    expect(await listBackups(drStore, { sourceId: SOURCE })).toEqual([]);
    expect(metrics).toEqual([]);
  });
});
