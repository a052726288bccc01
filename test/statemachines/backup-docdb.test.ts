/**
 * The real statemachines/backup.asl.json run locally for a DocumentDB source (cluster `catalog-prod`, source
 * `catalog-docdb`), every Task bound to a real core: the snapshot function against a mocked RDS in the primary
 * region (DocumentDB's API is RDS's), the copy function against a mocked RDS in the DR region, the prune function
 * against both; the primary and DR vaults are two buckets on the local S3 server. The RDS mocks keep state: a
 * cluster snapshot (and its copy) is `creating` for one describe, then `available`.
 */
import 'aws-sdk-client-mock-vitest/extend';
import {
  CopyDBClusterSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  DBClusterSnapshotNotFoundFault,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
  type DBClusterSnapshot,
  type Tag,
} from '@aws-sdk/client-rds';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../functions/copy/copy.ts';
import { listBackups } from '../../functions/lib/vault/catalog.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { pruneSource, type PruneDeps } from '../../functions/prune/prune.ts';
import { handleSnapshotEvent, type SnapshotDeps } from '../../functions/snapshot/snapshot.ts';
import { loadStateMachine, runStateMachine, startLocalS3, type LocalS3, type StateMachineDefinition, type TaskHandler } from '../harness/index.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS } from './support.ts';

const SOURCE = 'catalog-docdb';
const CLUSTER = 'catalog-prod';
const DR_KEY = `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-5678efgh`;
const EXECUTION_ID = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:catalog-docdb-e2e`;
const CONTEXT = { Execution: { Id: EXECUTION_ID, Name: 'catalog-docdb-e2e' } };
const clusterSnapshotArn = (region: string, name: string) => `arn:aws:rds:${region}:${ACCOUNT}:cluster-snapshot:${name}`;

/** One region's DocumentDB cluster snapshots, as RDS's API answers for them. */
class FakeDocdbRegion {
  readonly client: RDSClient;
  readonly mock: AwsClientStub<RDSClient>;
  readonly snapshots = new Map<string, { snapshot: DBClusterSnapshot; describesLeft: number }>();

  constructor(readonly region: string, copiesFrom?: FakeDocdbRegion) {
    this.client = new RDSClient({ region });
    this.mock = mockClient(this.client);
    const start = (name: string, fields: Partial<DBClusterSnapshot>): DBClusterSnapshot => {
      const snapshot: DBClusterSnapshot = {
        DBClusterSnapshotIdentifier: name,
        DBClusterSnapshotArn: clusterSnapshotArn(region, name),
        SnapshotType: 'manual',
        Status: 'creating',
        PercentProgress: 0,
        Engine: 'docdb',
        EngineVersion: '5.0.0',
        SnapshotCreateTime: new Date(),
        ...fields,
      };
      this.snapshots.set(name, { snapshot, describesLeft: 1 });
      return structuredClone(snapshot);
    };
    const observe = (entry: { snapshot: DBClusterSnapshot; describesLeft: number }): DBClusterSnapshot => {
      const answer = structuredClone(entry.snapshot);
      if (entry.describesLeft > 0 && --entry.describesLeft === 0) Object.assign(entry.snapshot, { Status: 'available', PercentProgress: 100 });
      return answer;
    };
    this.mock.on(CreateDBClusterSnapshotCommand).callsFake((input: { DBClusterSnapshotIdentifier: string; DBClusterIdentifier: string; Tags?: Tag[] }) => ({
      DBClusterSnapshot: start(input.DBClusterSnapshotIdentifier, { DBClusterIdentifier: input.DBClusterIdentifier, TagList: input.Tags ?? [] }),
    }));
    this.mock.on(CopyDBClusterSnapshotCommand).callsFake((input: { SourceDBClusterSnapshotIdentifier: string; TargetDBClusterSnapshotIdentifier: string; CopyTags?: boolean }) => {
      const from = [...(copiesFrom?.snapshots.values() ?? [])].find((s) => s.snapshot.DBClusterSnapshotArn === input.SourceDBClusterSnapshotIdentifier);
      if (!from) throw new DBClusterSnapshotNotFoundFault({ message: `${input.SourceDBClusterSnapshotIdentifier} not found`, $metadata: {} });
      const { DBClusterIdentifier, TagList } = from.snapshot;
      return { DBClusterSnapshot: start(input.TargetDBClusterSnapshotIdentifier, { DBClusterIdentifier, TagList: input.CopyTags ? TagList : [] }) };
    });
    this.mock.on(DescribeDBClusterSnapshotsCommand).callsFake((input: { DBClusterSnapshotIdentifier?: string }) => {
      if (input.DBClusterSnapshotIdentifier === undefined) return { DBClusterSnapshots: [...this.snapshots.values()].map(observe) };
      const found = this.snapshots.get(input.DBClusterSnapshotIdentifier);
      if (!found) throw new DBClusterSnapshotNotFoundFault({ message: `DBClusterSnapshot ${input.DBClusterSnapshotIdentifier} not found.`, $metadata: {} });
      return { DBClusterSnapshots: [observe(found)] };
    });
    this.mock.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
  }
}

let s3: LocalS3;
let definition: StateMachineDefinition;

beforeAll(async () => {
  definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.stop();
});

describe('backup.asl.json end to end: a DocumentDB source with the real snapshot, copy and prune cores', () => {
  it('snapshots the cluster, records it as format 1.3, copies it to the DR region under the DR key, records the copy, applies retention', async () => {
    const primaryRds = new FakeDocdbRegion(REGION);
    const drRds = new FakeDocdbRegion(DR_REGION, primaryRds);
    const [primaryBucket, drBucket] = [await s3.createBucket(), await s3.createBucket()];
    const primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    const snapshotDeps: SnapshotDeps = { sources: [{ id: SOURCE, engine: 'docdb', rds: { type: 'cluster', identifier: CLUSTER } }], rds: primaryRds.client, store: primaryStore, region: REGION };
    const copyDeps: CopyDeps = {
      primary: { client: s3.client, bucket: primaryBucket },
      dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
      drRds: drRds.client,
      maxCopiesInFlight: 2,
    };
    const pruneDeps: PruneDeps = {
      sources: [{ id: SOURCE, timeZone: 'UTC', retention: { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, snapshots: true }],
      vaults: [{ store: primaryStore }, { store: drStore }],
      rds: { [REGION]: primaryRds.client, [DR_REGION]: drRds.client },
    };
    const states: string[] = [];
    const snapshotFunction: TaskHandler = (input) => handleSnapshotEvent(input, snapshotDeps);
    const copyFunction: TaskHandler = (input) => handleCopyEvent(input, copyDeps);
    const never: TaskHandler = async () => {
      throw new Error('a DocumentDB source is never dumped or verified by dump');
    };
    const handlers: Record<string, TaskHandler> = {
      DescribeSource: async (input) => ({ sourceId: (input as { sourceId: string }).sourceId, method: 'snapshot' }),
      CreateSnapshot: snapshotFunction,
      DescribeSnapshot: snapshotFunction,
      RecordSnapshot: snapshotFunction,
      Dump: never,
      Verify: never,
      DumpOnFargate: never,
      ReadFargateDump: never,
      VerifyOnFargate: never,
      CopyOnFargate: never,
      CopyToDr: copyFunction,
      CopySnapshotToDr: copyFunction,
      DescribeSnapshotCopy: copyFunction,
      RecordSnapshotCopy: copyFunction,
      ApplyRetention: async (input) => {
        const { reports: _reports, ...summary } = await pruneSource(input, pruneDeps);
        return summary;
      },
      RecordSuccess: async () => ({}),
      PublishAlert: async (input) => {
        throw new Error(`unexpected alert: ${JSON.stringify(input)}`);
      },
    };
    const logged = Object.fromEntries(Object.entries(handlers).map(([state, handler]): [string, TaskHandler] => [state, async (input) => (states.push(state), handler(input))]));

    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers: logged, context: CONTEXT });

    expect(run.error === undefined ? run.status : `${run.status} ${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    expect(states).toEqual(['DescribeSource', 'CreateSnapshot', 'DescribeSnapshot', 'DescribeSnapshot', 'RecordSnapshot', 'CopySnapshotToDr', 'DescribeSnapshotCopy', 'DescribeSnapshotCopy', 'RecordSnapshotCopy', 'ApplyRetention', 'RecordSuccess']);
    const [created] = primaryRds.mock.commandCalls(CreateDBClusterSnapshotCommand).map((c) => c.args[0].input);
    expect(created).toMatchObject({ DBClusterIdentifier: CLUSTER, DBClusterSnapshotIdentifier: expect.stringMatching(/^lifeboat-catalog-docdb-\d{8}t\d{6}z-[a-z2-7]{8}$/) });
    const name = created!.DBClusterSnapshotIdentifier!;
    expect(drRds.mock.commandCalls(CopyDBClusterSnapshotCommand).map((c) => c.args[0].input)).toEqual([
      { SourceDBClusterSnapshotIdentifier: clusterSnapshotArn(REGION, name), TargetDBClusterSnapshotIdentifier: name, KmsKeyId: DR_KEY, CopyTags: true },
    ]);
    // Retention looked at both regions' cluster snapshots and kept the fresh one.
    for (const region of [primaryRds, drRds]) expect(region.mock).not.toHaveReceivedCommand(DeleteDBClusterSnapshotCommand);

    const [primary] = await listBackups(primaryStore, { sourceId: SOURCE });
    expect(primary).toMatchObject({ formatVersion: '1.3', kind: 'snapshot', engine: 'docdb', source: { database: '*', serverVersion: '5.0.0' }, snapshot: { arn: clusterSnapshotArn(REGION, name), identifier: name, region: REGION } });
    expect(await listBackups(drStore, { sourceId: SOURCE })).toEqual([{ ...primary, snapshot: { arn: clusterSnapshotArn(DR_REGION, name), identifier: name, region: DR_REGION } }]);
  });
});
