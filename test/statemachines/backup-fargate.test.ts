/**
 * statemachines/backup.asl.json with the Fargate runner, run locally: the real resolve-source core choosing
 * the runner from the vault, the real dump and verify cores behind the `ecs:runTask.sync` states (fed the event
 * from the RunTask container overrides, as the runner entrypoint reads it), local PostgreSQL and s3rver.
 * Retention and the metric are stubs here, and so is the copy except where it outgrows Lambda and goes on as the copy
 * task: then the real copy core runs on both sides, between two buckets of the same S3 server.
 */
import { createHash } from 'node:crypto';
import 'aws-sdk-client-mock-vitest/extend';
import { RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DumpDeps, DumpSource } from '../../functions/dump/dump.ts';
import { dumpSource } from '../../functions/dump/dump.ts';
import { OutOfTimeError } from '../../functions/lib/errors.ts';
import { listBackups, writeManifest } from '../../functions/lib/vault/catalog.ts';
import { newBackupId, payloadKey } from '../../functions/lib/vault/layout.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../functions/lib/vault/verification.ts';
import { dumpResult, resolveSource, type SourceRoute } from '../../functions/resolve-source/resolve.ts';
import { fargateDump } from '../../functions/runner/roles.ts';
import { handleCopyEvent, type CopyDeps, type CopyResult } from '../../functions/copy/copy.ts';
import { verifySourceBackup, type VerifyDeps } from '../../functions/verify/verify.ts';
import { testKeyring } from '../functions/engine/helpers.ts';
import { sampleManifest } from '../functions/vault/fixtures.ts';
import {
  createPostgresDatabase,
  loadStateMachine,
  postgresSettings,
  runStateMachine,
  startLocalS3,
  type LocalS3,
  type PostgresDatabase,
  type StateMachineDefinition,
  type TaskHandler,
} from '../harness/index.ts';
import { ACCOUNT, REGION, SUBSTITUTIONS, lambdaArn } from './support.ts';

const SOURCE = 'orders-db';
const SOURCE_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:orders-Ab12Cd`;
const SERVER_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:lifeboat-verify-pg-Ab12Cd`;
const EXECUTION_ID = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:orders-db-20261122T053327Z`;
const CONTEXT = { Execution: { Id: EXECUTION_ID, Name: 'orders-db-20261122T053327Z' } };
const CLUSTER = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/lifeboat-runner`;
const DUMP_TASK = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/lifeboat-dump1:4`;
const VERIFY_TASK = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/lifeboat-verify:4`;
const COPY_TASK = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/lifeboat-copy:4`;
const DR_REGION = 'eu-central-1';
const ROUTES: SourceRoute[] = [
  {
    id: SOURCE,
    method: 'dump',
    dumpFunctionArn: lambdaArn('dump-postgresql'),
    runner: 'auto',
    fargate: {
      cluster: CLUSTER,
      dumpTaskDefinition: DUMP_TASK,
      verifyTaskDefinition: VERIFY_TASK,
      copyTaskDefinition: COPY_TASK,
      subnets: ['subnet-0a1b2c3d'],
      securityGroups: ['sg-0a1b2c3d'],
      verifySubnets: ['subnet-0a1b2c3e'],
      verifySecurityGroups: ['sg-0a1b2c3e'],
      cpu: 8192,
      memoryMiB: 16384,
      autoAfterMinutes: 10,
      autoAboveRawGiB: 40,
    },
  },
];

const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);

/** What Step Functions' `.sync` raises for a task whose essential container exited non-zero: the task, as JSON. */
function taskFailed(exitCode: number): Error {
  const task = { Containers: [{ Name: 'runner', ExitCode: exitCode, LastStatus: 'STOPPED' }], StopCode: 'EssentialContainerExited', StoppedReason: 'Essential container in task exited', TaskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/lifeboat-runner/0123456789abcdef` };
  return Object.assign(new Error(JSON.stringify(task)), { name: 'States.TaskFailed' });
}

/** The RunTask request a `runTask.sync` state sent, and the event its container override carries. */
interface RunTaskRequest {
  Cluster: string;
  TaskDefinition: string;
  LaunchType: string;
  PlatformVersion: string;
  NetworkConfiguration: { AwsvpcConfiguration: { Subnets: string[]; SecurityGroups: string[]; AssignPublicIp: string } };
  Overrides: { Cpu: string; Memory: string; ContainerOverrides: { Name: string; Environment: { Name: string; Value: string }[] }[] };
  StartedBy: string;
}
const eventOf = (request: RunTaskRequest): unknown => {
  const [container] = request.Overrides.ContainerOverrides;
  expect(container!.Name).toBe('runner');
  const variable = container!.Environment.find((e) => e.Name === 'LIFEBOAT_TASK_EVENT');
  return JSON.parse(variable!.Value);
};

describe('backup.asl.json on Fargate (real resolve-source, dump and verify cores, PostgreSQL, s3rver)', () => {
  let s3: LocalS3;
  let db: PostgresDatabase;
  let store: S3Store;
  let definition: StateMachineDefinition;
  let dumpDeps: DumpDeps;
  let verifyDeps: VerifyDeps;
  let copyDeps: CopyDeps;
  let drStore: S3Store;
  let runTasks: RunTaskRequest[];
  let published: { Subject: string; MessageAttributes: Record<string, { StringValue: string }> }[];
  let now: Date;

  beforeAll(async () => {
    definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
    s3 = await startLocalS3();
    db = await createPostgresDatabase('bsmf');
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, note text)');
    await db.query("INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 120) g");
    const bucket = await s3.createBucket();
    store = new S3Store({ client: s3.client, bucket });
    const drBucket = await s3.createBucket();
    drStore = new S3Store({ client: s3.client, bucket: drBucket });
    copyDeps = {
      primary: { client: s3.client, bucket },
      dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-1234abcd` },
      drRds: new RDSClient({ region: DR_REGION }),
    };
    const source: DumpSource = { id: SOURCE, engine: 'postgresql', database: db.name, credentialsSecretArn: SOURCE_SECRET, rds: { type: 'instance', identifier: 'orders-prod' } };
    const keyring = testKeyring();
    const local = postgresSettings();
    dumpDeps = { sources: [source], secrets: new SecretsManagerClient({ region: REGION }), rds: new RDSClient({ region: REGION }), store, keyring, tls: 'disable' };
    verifyDeps = {
      sources: [{ ...source, sqlChecks: ['SELECT count(*) = 120 FROM orders'] }],
      servers: { postgresql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
      store,
      keyring,
      tls: 'disable',
    };
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
    await s3?.stop();
  });
  beforeEach(() => {
    secrets.reset();
    sns.reset();
    runTasks = [];
    published = [];
    now = new Date();
    const local = postgresSettings();
    const login = { SecretString: JSON.stringify({ username: local.user, password: local.password ?? 'unused-locally', host: local.host, port: local.port }) };
    secrets.on(GetSecretValueCommand, { SecretId: SOURCE_SECRET }).resolves(login);
    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves(login);
    sns.on(PublishCommand).resolves({ MessageId: 'm-verify' });
  });

  function handlers(overrides: Record<string, TaskHandler> = {}): Record<string, TaskHandler> {
    const onFargate = (run: (event: unknown) => Promise<unknown>): TaskHandler => async (input) => {
      const request = input as RunTaskRequest;
      runTasks.push(request);
      await run(eventOf(request));
      // What runTask.sync returns: the stopped task (the state discards it with ResultPath null).
      return { Containers: [{ Name: 'runner', ExitCode: 0 }], LastStatus: 'STOPPED' };
    };
    const notReached = (state: string): TaskHandler => async () => {
      throw new Error(`${state} is not reached by a dump source`);
    };
    return {
      DescribeSource: (input) => resolveSource(input, ROUTES, { store, now: () => now }),
      Dump: (input) => dumpSource(input, dumpDeps),
      DumpOnFargate: onFargate((event) => fargateDump(event, dumpDeps)),
      ReadFargateDump: (input) => dumpResult(input, store),
      Verify: (input) => verifySourceBackup(input, verifyDeps),
      VerifyOnFargate: onFargate((event) => verifySourceBackup(event, verifyDeps)),
      CopyToDr: async (input) => ({ sourceId: SOURCE, backupId: (input as { backupId: string }).backupId, alreadyCopied: false }),
      CopyOnFargate: notReached('CopyOnFargate'),
      ApplyRetention: async () => ({ kept: 1, deleted: 0, protected: 0 }),
      RecordSuccess: async () => ({}),
      PublishAlert: async (input) => {
        published.push(input as (typeof published)[number]);
        return { MessageId: 'm-1' };
      },
      CreateSnapshot: notReached('CreateSnapshot'),
      DescribeSnapshot: notReached('DescribeSnapshot'),
      RecordSnapshot: notReached('RecordSnapshot'),
      CopySnapshotToDr: notReached('CopySnapshotToDr'),
      DescribeSnapshotCopy: notReached('DescribeSnapshotCopy'),
      RecordSnapshotCopy: notReached('RecordSnapshotCopy'),
      ...overrides,
    };
  }

  /** A completed backup that took `minutes` (ended just now), as a long Lambda or Fargate dump leaves it in the vault. */
  async function previousBackup(minutes: number): Promise<void> {
    const startedAt = new Date(Date.now() - minutes * 60_000);
    const backupId = newBackupId(startedAt);
    const base = sampleManifest();
    await store.putObject(payloadKey(SOURCE, backupId), 'payload');
    await writeManifest(
      store,
      sampleManifest({
        backupId,
        startedAt: startedAt.toISOString(),
        completedAt: new Date().toISOString(),
        payload: { ...base.payload!, storedBytes: 7 },
        encryption: { ...base.encryption!, encryptionContext: { 'lifeboat:source': SOURCE, 'lifeboat:backup': backupId } },
      }),
    );
  }

  it('sends a source whose last backup took 12 minutes to Fargate: dump and verification as tasks in its network, sized by its settings', async () => {
    await previousBackup(12);
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers: handlers(), context: CONTEXT });
    expect(run.error ? `${run.error}: ${run.cause}` : run.status).toBe('SUCCEEDED');
    expect(run.visitedStates).toEqual([
      'CheckInput', 'Initialize', 'DescribeSource', 'RouteByMethod', 'DumpWhere?', 'PrepareFargateDump', 'DumpOnFargate', 'ReadFargateDump', 'AlsoSnapshot?',
      'VerifyWhere?', 'PrepareFargateVerify', 'VerifyOnFargate', 'VerifiedWhere?', 'VerifiedOnFargate', 'Verified?', 'CopyToDr', 'SnapshotToCopy?', 'ApplyRetention', 'RecordSuccess', 'Succeeded',
    ]);
    const output = run.output as { source: { runnerReason: string; fargate: { backupId: string } }; backup: { backupId: string; kind: string; storedBytes: number } };
    expect(output.source.runnerReason).toMatch(/^auto: the last dump \(\S+\) took 12\.\d minutes, more than 10$/);
    const [dumpTask, verifyTask] = runTasks;
    expect(runTasks).toHaveLength(2);
    expect(dumpTask).toEqual({
      Cluster: CLUSTER,
      TaskDefinition: DUMP_TASK,
      LaunchType: 'FARGATE',
      PlatformVersion: 'LATEST',
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3d'], SecurityGroups: ['sg-0a1b2c3d'], AssignPublicIp: 'DISABLED' } },
      Overrides: {
        Cpu: '8192',
        Memory: '16384',
        ContainerOverrides: [
          {
            Name: 'runner',
            // 8 vCPUs: 8 streams, and a libuv pool as wide.
            Environment: [
              { Name: 'LIFEBOAT_TASK_EVENT', Value: expect.any(String) },
              { Name: 'LIFEBOAT_JOBS', Value: '8' },
              { Name: 'UV_THREADPOOL_SIZE', Value: '8' },
            ],
          },
        ],
      },
      // ECS takes 36 characters at most, an execution name up to 80: its MD5 (32 hex characters).
      StartedBy: createHash('md5').update(CONTEXT.Execution.Name).digest('hex'),
    });
    // The backup id DescribeSource chose is the one the dump wrote and the state machine read back.
    expect(eventOf(dumpTask!)).toEqual({ sourceId: SOURCE, trigger: 'schedule', backupId: output.source.fargate.backupId });
    expect(output.backup).toMatchObject({ backupId: output.source.fargate.backupId, kind: 'dump' });
    expect(verifyTask).toMatchObject({ TaskDefinition: VERIFY_TASK, NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3e'], SecurityGroups: ['sg-0a1b2c3e'], AssignPublicIp: 'DISABLED' } } });
    expect(eventOf(verifyTask!)).toEqual({ sourceId: SOURCE, backupId: output.source.fargate.backupId, executionArn: EXECUTION_ID });
    // Really verified, by the real core, with the row counts and the SQL check.
    const verification = await readLatestVerification(store, SOURCE, output.backup.backupId);
    expect(verification.status).toBe('verified');
    expect(verification.result?.checks.find((c) => c.name === 'sql-checks')?.status).toBe('passed');
    expect(published).toEqual([]);
  }, 60_000);

  it.each([
    ['States.Timeout', 'the Task state\'s own timeout'],
    ['Sandbox.Timedout', 'Lambda\'s timeout'],
  ])('retries a Lambda dump stopped by %s (%s) on Fargate once, succeeds, and sends the next run to Fargate from the start', async (errorName) => {
    const lambdaDumps: unknown[] = [];
    const cutOff = newBackupId(new Date());
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, {
      handlers: handlers({
        // A Lambda cut off mid-dump: its partial payload stays (it cannot clean up), and it never returns.
        Dump: async (input) => {
          lambdaDumps.push(input);
          await store.putObject(payloadKey(SOURCE, cutOff), 'partial');
          if (errorName === 'Sandbox.Timedout') throw Object.assign(new Error('Task timed out after 900.00 seconds'), { name: 'Sandbox.Timedout' });
          return new Promise(() => {});
        },
      }),
      taskTimeoutOverrides: { Dump: 200 },
      context: CONTEXT,
    });
    // This source's last dumps fit Lambda, so the dump started there.
    expect(run.error ? `${run.error}: ${run.cause}` : run.status).toBe('SUCCEEDED');
    expect(lambdaDumps).toHaveLength(1);
    expect(run.visitedStates.slice(4, 10)).toEqual(['DumpWhere?', 'Dump', 'DumpTimedOut', 'PrepareFargateDump', 'DumpOnFargate', 'ReadFargateDump']);
    expect(runTasks.map((t) => t.TaskDefinition)).toEqual([DUMP_TASK, VERIFY_TASK]);
    expect(published).toEqual([]);
    const output = run.output as { backup: { backupId: string } };
    expect((await listBackups(store, { sourceId: SOURCE })).map((m) => m.backupId)).toContain(output.backup.backupId);
    // Hours later, the next run: the cut-off folder in the vault sends it to Fargate.
    const next = await resolveSource({ sourceId: SOURCE }, ROUTES, { store, now: () => new Date(Date.now() + 4 * 3_600_000) });
    expect(next).toMatchObject({ runner: 'fargate', runnerReason: expect.stringMatching(new RegExp(`^auto: dump ${cutOff} was cut off`)) });
    await store.delete(payloadKey(SOURCE, cutOff));
  }, 60_000);

  it('retries on Fargate once a Lambda that gave up before its timeout (OutOfTimeError: a cache snapshot still exporting, cleaned up), and succeeds', async () => {
    const lambdaDumps: unknown[] = [];
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, {
      handlers: handlers({
        Dump: async (input) => {
          lambdaDumps.push(input);
          throw new OutOfTimeError('ElastiCache snapshot lifeboat-x is still creating (snapshot) and this run\'s time is nearly up');
        },
      }),
      context: CONTEXT,
    });
    expect(run.error ? `${run.error}: ${run.cause}` : run.status).toBe('SUCCEEDED');
    expect(lambdaDumps).toHaveLength(1);
    expect(run.visitedStates.slice(4, 10)).toEqual(['DumpWhere?', 'Dump', 'DumpTimedOut', 'PrepareFargateDump', 'DumpOnFargate', 'ReadFargateDump']);
    expect(runTasks.map((t) => t.TaskDefinition)).toEqual([DUMP_TASK, VERIFY_TASK]);
    expect(published).toEqual([]);
  }, 60_000);

  it('a Fargate dump task that fails raises the one alert naming DumpOnFargate, and reads nothing back', async () => {
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'manual' }, {
      handlers: handlers({
        DescribeSource: async (input) => ({ ...(await resolveSource(input, ROUTES, { store, now: () => now })), runner: 'fargate' }),
        DumpOnFargate: async (input) => {
          runTasks.push(input as RunTaskRequest);
          throw taskFailed(1);
        },
      }),
      context: CONTEXT,
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed' });
    expect(runTasks).toHaveLength(1);
    expect(run.visitedStates).not.toContain('ReadFargateDump');
    expect(published).toHaveLength(1);
    expect(published[0]!.Subject).toBe(`[ERROR] Lifeboat ${SOURCE}: backup failed at DumpOnFargate`);
    expect(published[0]!.MessageAttributes.step).toEqual({ DataType: 'String', StringValue: 'DumpOnFargate' });
  }, 60_000);

  it('a failed verification on Fargate (exit 3) ends without a second alert; any other failed verify task alerts once as VerifyOnFargate', async () => {
    const pinned = handlers({ DescribeSource: async (input) => ({ ...(await resolveSource(input, ROUTES, { store, now: () => now })), runner: 'fargate' }) });
    const verdict = await runStateMachine(definition, { sourceId: SOURCE }, { handlers: { ...pinned, VerifyOnFargate: async () => Promise.reject(taskFailed(3)) }, context: CONTEXT });
    expect(verdict).toMatchObject({ status: 'FAILED', error: 'VerificationFailedError' });
    expect(verdict.visitedStates.slice(-2)).toEqual(['VerifyTaskFailed?', 'VerificationFailedOnFargate']);
    expect(published).toEqual([]);

    const broken = await runStateMachine(definition, { sourceId: SOURCE }, { handlers: { ...pinned, VerifyOnFargate: async () => Promise.reject(taskFailed(1)) }, context: CONTEXT });
    expect(broken).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed' });
    expect(published.map((p) => p.MessageAttributes.step?.StringValue)).toEqual(['VerifyOnFargate']);
  }, 60_000);
  it('a DR copy that runs out of Lambda\'s time goes on as the copy task in the source\'s network: the real core resumes it, proves the copy and records the backup in the DR vault', async () => {
    const lambdaCopies: string[] = [];
    let taskResult: CopyResult | undefined;
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, {
      handlers: handlers({
        // The Lambda's clock says a second is left once it has copied the payload: it stops re-hashing the DR copy after
        // its first range (ranges of 256 bytes, one at a time, stand in for an object too large for one run).
        CopyToDr: async (input) => {
          const lambda = { ...copyDeps, hashRangeBytes: 256, hashConcurrency: 1, remainingTimeMs: () => 1_000 };
          const outcome = await handleCopyEvent(input, lambda).catch((error: Error) => error);
          lambdaCopies.push(outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : 'copied');
          if (outcome instanceof Error) throw outcome;
          return outcome;
        },
        CopyOnFargate: async (input) => {
          const request = input as RunTaskRequest;
          runTasks.push(request);
          // No deadline on Fargate: the task runs the copy to its end.
          taskResult = await handleCopyEvent(eventOf(request), copyDeps);
          return { Containers: [{ Name: 'runner', ExitCode: 0 }], LastStatus: 'STOPPED' };
        },
      }),
      context: CONTEXT,
    });
    expect(run.error ? `${run.error}: ${run.cause}` : run.status).toBe('SUCCEEDED');
    // The first run stored the payload, then ran out while re-hashing it: run again on Lambda. The second stored
    // nothing before it ran out at the same place: another Lambda run would too, so the copy task takes over.
    expect(lambdaCopies).toEqual([
      expect.stringMatching(/^CopyInterruptedError: Stopped re-hashing the DR copy of backups\/orders-db\/\S+\/payload/),
      expect.stringMatching(/^CopyOutgrewLambdaError: Stopped re-hashing the DR copy .* This run stored nothing before its time ran out, so another run as long would stop at the same place/),
    ]);
    expect(run.visitedStates.slice(run.visitedStates.indexOf('CopyToDr'))).toEqual([
      'CopyToDr', 'CopyRunsLeft?', 'CountCopyRun', 'CopyToDr', 'CopyWhere?', 'PrepareFargateCopy', 'CopyOnFargate', 'SnapshotToCopy?', 'ApplyRetention', 'RecordSuccess', 'Succeeded',
    ]);
    const output = run.output as { backup: { backupId: string } };
    const copyTask = runTasks.find((t) => t.TaskDefinition === COPY_TASK)!;
    expect(copyTask).toEqual({
      Cluster: CLUSTER,
      TaskDefinition: COPY_TASK,
      LaunchType: 'FARGATE',
      PlatformVersion: 'LATEST',
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3d'], SecurityGroups: ['sg-0a1b2c3d'], AssignPublicIp: 'DISABLED' } },
      // The copy task's own size (its task definition's): the source's Fargate size is for dumps and verification.
      Overrides: { ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: 'LIFEBOAT_TASK_EVENT', Value: expect.any(String) }] }] },
      StartedBy: createHash('md5').update(CONTEXT.Execution.Name).digest('hex'),
    });
    expect(eventOf(copyTask)).toEqual({ action: 'copy-backup', sourceId: SOURCE, backupId: output.backup.backupId, kind: 'dump' });
    // The task proved the Lambda's copy by its hash instead of copying it again, then wrote the DR manifest.
    expect(taskResult).toMatchObject({ backupId: output.backup.backupId, payloadObjectsReused: 1, alreadyCopied: false });
    expect((await listBackups(drStore, { sourceId: SOURCE })).map((m) => m.backupId)).toContain(output.backup.backupId);
    expect(published).toEqual([]);
  }, 60_000);

  it('a copy task that fails raises the one alert naming CopyOnFargate, and the DR vault does not list the backup', async () => {
    const copied: string[] = [];
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, {
      handlers: handlers({
        CopyToDr: async (input) => {
          copied.push((input as { backupId: string }).backupId);
          throw Object.assign(new Error('Stopped re-hashing the DR copy after 80 of 300 GB. This run stored nothing'), { name: 'CopyOutgrewLambdaError' });
        },
        CopyOnFargate: async (input) => {
          runTasks.push(input as RunTaskRequest);
          throw taskFailed(1);
        },
      }),
      context: CONTEXT,
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed' });
    expect(copied).toHaveLength(1);
    expect(runTasks.map((t) => t.TaskDefinition).filter((t) => t === COPY_TASK)).toHaveLength(1);
    expect(run.visitedStates).not.toContain('ApplyRetention');
    expect(published.map((p) => p.Subject)).toEqual([`[ERROR] Lifeboat ${SOURCE}: backup failed at CopyOnFargate`]);
    expect((await listBackups(drStore, { sourceId: SOURCE })).map((m) => m.backupId)).not.toContain(copied[0]);
  }, 60_000);
});
