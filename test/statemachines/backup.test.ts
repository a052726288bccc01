/**
 * The real statemachines/backup.asl.json run locally (aws-local-stepfunctions through test/harness):
 * end to end for a dump source with the real function cores (local PostgreSQL, s3rver as both vaults),
 * the snapshot path with recording stubs, a failure injected at every step, and retries on retryable errors only.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { readFile } from 'node:fs/promises';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../functions/copy/copy.ts';
import { dumpSource, type DumpDeps, type DumpSource } from '../../functions/dump/dump.ts';
import { createS3Client } from '../../functions/lib/aws/s3Client.ts';
import {
  ChecksumMismatchError,
  ConfigError,
  DecryptionFailedError,
  DumpFailedError,
  PruneIncompleteError,
  SnapshotAlreadyRunningError,
  SnapshotCopyQuotaError,
  SnapshotFailedError,
  SnapshotNotReadyError,
  SnapshotQuotaExceededError,
  SourceUnreachableError,
  StoreWriteFailedError,
  VerificationFailedError,
} from '../../functions/lib/errors.ts';
import { listBackups } from '../../functions/lib/vault/catalog.ts';
import { manifestKey } from '../../functions/lib/vault/layout.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../functions/lib/vault/verification.ts';
import { pruneSource, type PruneDeps } from '../../functions/prune/prune.ts';
import { verifySourceBackup, type VerifyDeps } from '../../functions/verify/verify.ts';
import { testKeyring } from '../functions/engine/helpers.ts';
import {
  createPostgresDatabase,
  loadStateMachine,
  postgresSettings,
  runStateMachine,
  startLocalS3,
  type LocalS3,
  type PostgresDatabase,
  type StateMachineDefinition,
  type StateMachineRun,
  type TaskHandler,
} from '../harness/index.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS, lambdaArn } from './support.ts';

const DUMP_FUNCTION = lambdaArn('dump-postgresql');
const DR_KEY = `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-1234abcd`;
const EXECUTION_ID = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:orders-db-20261122T053327Z`;
const CONTEXT = { Execution: { Id: EXECUTION_ID, Name: 'orders-db-20261122T053327Z' } };
const SOURCE = 'orders-db';
const BACKUP_ID = '20261122T053327Z-k3x7q2ab';
const SNAPSHOT_BACKUP_ID = '20261122T053327Z-abcdefgh';
const SNAPSHOT_NAME = `lifeboat-${SOURCE}-${SNAPSHOT_BACKUP_ID.toLowerCase()}`;

let definition: StateMachineDefinition;
beforeAll(async () => {
  definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
});

interface Recorded {
  readonly calls: { state: string; input: unknown }[];
  of(state: string): unknown[];
}
function recorder(): Recorded {
  const calls: { state: string; input: unknown }[] = [];
  return { calls, of: (state) => calls.filter((c) => c.state === state).map((c) => c.input) };
}

/** Wraps every handler so the test sees what each Task was sent, in order. */
function recording(handlers: Record<string, TaskHandler>, into: Recorded): Record<string, TaskHandler> {
  return Object.fromEntries(
    Object.entries(handlers).map(([state, handler]) => [
      state,
      async (input: unknown) => {
        into.calls.push({ state, input });
        return handler(input);
      },
    ]),
  );
}

function retriesOf(run: StateMachineRun, state?: string): number {
  return run.events.filter((e) => e.type === 'StateRetried' && (state === undefined || (e as { state: { name: string } }).state.name === state)).length;
}

interface PublishParams {
  TopicArn: string;
  Subject: string;
  Message: string;
  MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
}

// ---------------------------------------------------------------------------------------------------------
// Stubs: small handlers that answer as the real functions do, for the paths without a real core here.
// ---------------------------------------------------------------------------------------------------------

function snapshotRef(status: string) {
  return {
    sourceId: SOURCE,
    backupId: SNAPSHOT_BACKUP_ID,
    type: 'instance',
    snapshotIdentifier: SNAPSHOT_NAME,
    snapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${SNAPSHOT_NAME}`,
    region: REGION,
    startedAt: '2026-11-22T05:33:27.000Z',
    status,
    percentProgress: status === 'available' ? 100 : 40,
  };
}
function snapshotCopyRef(status: string) {
  return {
    sourceId: SOURCE,
    backupId: SNAPSHOT_BACKUP_ID,
    type: 'instance',
    sourceSnapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${SNAPSHOT_NAME}`,
    snapshotIdentifier: SNAPSHOT_NAME,
    snapshotArn: `arn:aws:rds:${DR_REGION}:${ACCOUNT}:snapshot:${SNAPSHOT_NAME}`,
    region: DR_REGION,
    status,
    percentProgress: status === 'available' ? 100 : 10,
  };
}
const copyBackupResult = (backupId: string, kind: 'dump' | 'snapshot') => ({
  sourceId: SOURCE,
  backupId,
  kind,
  drBucket: 'lifeboat-dr-vault',
  drRegion: DR_REGION,
  manifestKey: manifestKey(SOURCE, backupId),
  verificationsCopied: kind === 'dump' ? 1 : 0,
  alreadyCopied: false,
  completedAt: '2026-11-22T05:41:02.907Z',
  copiedAt: '2026-11-22T05:43:02.907Z',
  replicationLagSeconds: 120,
});

/** The Fargate states, never reached by a source DescribeSource keeps on Lambda (test/statemachines/backup-fargate.test.ts runs them). */
const notOnFargate: Record<string, TaskHandler> = Object.fromEntries(
  ['DumpOnFargate', 'ReadFargateDump', 'VerifyOnFargate', 'CopyOnFargate'].map((state) => [
    state,
    async () => {
      throw new Error(`${state} reached for a source on Lambda`);
    },
  ]),
);

/** Every Task state bound to a stub that succeeds; snapshot and copy describes report "available" on the 3rd poll. */
function stubHandlers(method: 'dump' | 'snapshot' | 'both'): Record<string, TaskHandler> {
  let snapshotPolls = 0;
  let copyPolls = 0;
  return {
    DescribeSource: async () => ({ sourceId: SOURCE, method, ...(method === 'snapshot' ? {} : { dumpFunctionArn: DUMP_FUNCTION }) }),
    Dump: async () => ({
      sourceId: SOURCE,
      backupId: BACKUP_ID,
      kind: 'dump',
      rawBytes: 7301,
      storedBytes: 2048,
      sha256: 'a'.repeat(64),
      startedAt: '2026-11-22T05:33:27.000Z',
      completedAt: '2026-11-22T05:41:02.907Z',
    }),
    CreateSnapshot: async () => snapshotRef('creating'),
    DescribeSnapshot: async () => snapshotRef(++snapshotPolls >= 3 ? 'available' : 'creating'),
    RecordSnapshot: async () => ({ ...snapshotRef('available'), kind: 'snapshot', completedAt: '2026-11-22T05:50:00.000Z', manifestKey: manifestKey(SOURCE, SNAPSHOT_BACKUP_ID), alreadyRecorded: false }),
    Verify: async (input) => ({ sourceId: SOURCE, backupId: (input as { backupId: string }).backupId, status: 'verified', checks: { checksum: 'passed' }, warnings: [], alerted: false }),
    CopyToDr: async (input) => copyBackupResult((input as { backupId: string }).backupId, 'dump'),
    CopySnapshotToDr: async () => ({ ...snapshotCopyRef('pending'), copiesInFlight: 0, alreadyStarted: false }),
    DescribeSnapshotCopy: async () => snapshotCopyRef(++copyPolls >= 3 ? 'available' : 'copying'),
    RecordSnapshotCopy: async (input) => copyBackupResult((input as { backupId: string }).backupId, 'snapshot'),
    ApplyRetention: async () => ({ sourceId: SOURCE, dryRun: false, kept: 3, deleted: 1, protected: 0, errors: [], reports: [] }),
    RecordSuccess: async () => ({}),
    PublishAlert: async () => ({ MessageId: 'm-1' }),
    ...notOnFargate,
  };
}

async function runStubbed(method: 'dump' | 'snapshot' | 'both', overrides: Record<string, TaskHandler> = {}, input: unknown = { sourceId: SOURCE, trigger: 'schedule' }) {
  const calls = recorder();
  const run = await runStateMachine(definition, input, { handlers: recording({ ...stubHandlers(method), ...overrides }, calls), context: CONTEXT });
  return { run, calls, alerts: calls.of('PublishAlert') as PublishParams[] };
}

// ---------------------------------------------------------------------------------------------------------

describe('backup.asl.json: the definition', () => {
  it('asks for exactly the substitutions the stack provides', async () => {
    const text = await readFile(new URL('../../statemachines/backup.asl.json', import.meta.url), 'utf8');
    const asked = new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]));
    expect([...asked].sort()).toEqual(Object.keys(SUBSTITUTIONS).sort());
  });

  it('gives every Task a timeout, a Catch of States.ALL to its own Alert state, and retries only named retryable errors', () => {
    const states = (definition as unknown as { States: Record<string, Record<string, unknown>> }).States;
    const nonRetryable = ['ConfigError', 'ChecksumMismatchError', 'SizeMismatchError', 'DecryptionFailedError', 'SnapshotQuotaExceededError', 'SnapshotFailedError', 'VerificationFailedError', 'BackupConflictError', 'BackupNotFoundError', 'PruneIncompleteError', 'States.ALL', 'States.TaskFailed'];
    for (const [name, state] of Object.entries(states)) {
      if (state.Type !== 'Task') continue;
      expect(state.TimeoutSeconds, name).toEqual(expect.any(Number));
      const retried = ((state.Retry ?? []) as { ErrorEquals: string[]; BackoffRate: number }[]).flatMap((r) => r.ErrorEquals);
      for (const error of nonRetryable) expect(retried, `${name} retries ${error}`).not.toContain(error);
      if (name === 'PublishAlert') continue;
      const catches = state.Catch as { ErrorEquals: string[]; Next: string; ResultPath: string }[];
      expect(catches.at(-1), name).toEqual({ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `Alert${name}` });
      expect(states[`Alert${name}`], name).toMatchObject({ Type: 'Pass', Result: name, Next: 'FormatAlert' });
    }
    expect(states.Dump).toMatchObject({ Resource: 'arn:aws:states:::lambda:invoke', TimeoutSeconds: 900 });
  });
});

describe('backup.asl.json: routes by method (stub handlers)', () => {
  it('dump: DescribeSource, Dump, Verify, CopyToDr, ApplyRetention, RecordSuccess', async () => {
    const { run, calls } = await runStubbed('dump');
    expect(run.status).toBe('SUCCEEDED');
    expect(calls.calls.map((c) => c.state)).toEqual(['DescribeSource', 'Dump', 'Verify', 'CopyToDr', 'ApplyRetention', 'RecordSuccess']);
    expect(calls.of('Dump')).toEqual([{ sourceId: SOURCE, trigger: 'schedule' }]);
    expect(calls.of('Verify')).toEqual([{ sourceId: SOURCE, backupId: BACKUP_ID, executionArn: EXECUTION_ID }]);
    expect(calls.of('CopyToDr')).toEqual([{ action: 'copy-backup', sourceId: SOURCE, backupId: BACKUP_ID, kind: 'dump' }]);
    expect(calls.of('ApplyRetention')).toEqual([{ sourceId: SOURCE }]);
    expect(calls.of('RecordSuccess')).toEqual([
      { Namespace: 'Lifeboat', MetricData: [{ MetricName: 'BackupSucceeded', Dimensions: [{ Name: 'sourceId', Value: SOURCE }], Value: 1, Unit: 'Count' }] },
    ]);
  });

  it('defaults a missing trigger to manual (a start from the console)', async () => {
    const { run, calls } = await runStubbed('dump', {}, { sourceId: SOURCE });
    expect(run.status).toBe('SUCCEEDED');
    expect(calls.of('Dump')).toEqual([{ sourceId: SOURCE, trigger: 'manual' }]);
  });

  it('snapshot: create, poll until available, record, copy-snapshot, poll the copy, copy-backup; no dump, no verify', async () => {
    const { run, calls } = await runStubbed('snapshot');
    expect(run.status).toBe('SUCCEEDED');
    expect(calls.calls.map((c) => c.state)).toEqual([
      'DescribeSource',
      'CreateSnapshot',
      'DescribeSnapshot', 'DescribeSnapshot', 'DescribeSnapshot',
      'RecordSnapshot',
      'CopySnapshotToDr',
      'DescribeSnapshotCopy', 'DescribeSnapshotCopy', 'DescribeSnapshotCopy',
      'RecordSnapshotCopy',
      'ApplyRetention',
      'RecordSuccess',
    ]);
    expect(calls.of('CreateSnapshot')).toEqual([{ action: 'create', sourceId: SOURCE, executionId: EXECUTION_ID, executionStartTime: expect.any(String) }]);
    expect(calls.of('DescribeSnapshot')[0]).toEqual({ action: 'describe', snapshot: snapshotRef('creating') });
    expect(calls.of('RecordSnapshot')).toEqual([{ action: 'record', snapshot: snapshotRef('available') }]);
    expect(calls.of('CopySnapshotToDr')).toEqual([{ action: 'copy-snapshot', sourceId: SOURCE, snapshotArn: snapshotRef('available').snapshotArn, type: 'instance' }]);
    expect(calls.of('DescribeSnapshotCopy')[0]).toEqual({ action: 'describe-snapshot-copy', copy: { ...snapshotCopyRef('pending'), copiesInFlight: 0, alreadyStarted: false } });
    expect(calls.of('RecordSnapshotCopy')).toEqual([{ action: 'copy-backup', sourceId: SOURCE, backupId: SNAPSHOT_BACKUP_ID }]);
    expect(run.visitedStates.filter((s) => s === 'WaitForSnapshot')).toHaveLength(3);
  });

  it('both: the snapshot starts first, the dump runs while RDS works, the dump is verified, both are copied', async () => {
    const { run, calls } = await runStubbed('both');
    expect(run.status).toBe('SUCCEEDED');
    expect(calls.calls.map((c) => c.state)).toEqual([
      'DescribeSource',
      'CreateSnapshot',
      'Dump',
      'DescribeSnapshot', 'DescribeSnapshot', 'DescribeSnapshot',
      'RecordSnapshot',
      'Verify',
      'CopyToDr',
      'CopySnapshotToDr',
      'DescribeSnapshotCopy', 'DescribeSnapshotCopy', 'DescribeSnapshotCopy',
      'RecordSnapshotCopy',
      'ApplyRetention',
      'RecordSuccess',
    ]);
    expect(calls.of('Verify')).toEqual([{ sourceId: SOURCE, backupId: BACKUP_ID, executionArn: EXECUTION_ID }]);
    expect(calls.of('CopyToDr')).toEqual([{ action: 'copy-backup', sourceId: SOURCE, backupId: BACKUP_ID, kind: 'dump' }]);
    expect(calls.of('RecordSnapshotCopy')).toEqual([{ action: 'copy-backup', sourceId: SOURCE, backupId: SNAPSHOT_BACKUP_ID }]);
  });

  it('gives up on a snapshot that never becomes available after 360 polls, with one alert', async () => {
    const { run, calls, alerts } = await runStubbed('snapshot', { DescribeSnapshot: async () => snapshotRef('creating') });
    expect(run).toMatchObject({ status: 'FAILED', error: 'SnapshotTimeoutError' });
    expect(calls.of('DescribeSnapshot')).toHaveLength(361);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.MessageAttributes.step?.StringValue).toBe('DescribeSnapshot');
  });
});

describe('backup.asl.json: a failure at each step ends FAILED with exactly one alert naming it', () => {
  const cases: { method: 'dump' | 'snapshot' | 'both'; step: string; error: Error }[] = [
    { method: 'dump', step: 'DescribeSource', error: new ConfigError("sourceId: unknown source 'orders-db'") },
    { method: 'dump', step: 'Dump', error: new DumpFailedError('pg_dump exited with code 1: permission denied for table orders') },
    { method: 'dump', step: 'Verify', error: new ConfigError('The postgresql verification server secret is not JSON') },
    { method: 'dump', step: 'CopyToDr', error: new ChecksumMismatchError('the DR copy has SHA-256 3f…; the manifest records 9c…') },
    { method: 'dump', step: 'ApplyRetention', error: new PruneIncompleteError('1 retention step(s) failed for orders-db') },
    { method: 'snapshot', step: 'CreateSnapshot', error: new SnapshotQuotaExceededError('manual snapshot quota reached') },
    { method: 'snapshot', step: 'DescribeSnapshot', error: new SnapshotFailedError(`snapshot ${SNAPSHOT_NAME} is failed`) },
    { method: 'snapshot', step: 'RecordSnapshot', error: new ConfigError('bad snapshot reference') },
    { method: 'snapshot', step: 'CopySnapshotToDr', error: new ConfigError('not a Lifeboat snapshot ARN') },
    { method: 'snapshot', step: 'DescribeSnapshotCopy', error: new SnapshotFailedError('the DR copy failed') },
    { method: 'snapshot', step: 'RecordSnapshotCopy', error: new SnapshotFailedError('the DR copy vanished') },
    { method: 'both', step: 'Dump', error: new DecryptionFailedError('wrong key') },
    { method: 'dump', step: 'RecordSuccess', error: Object.assign(new Error('denied'), { name: 'CloudWatch.AccessDeniedException' }) },
  ];

  it.each(cases)('$method source, $step throws $error.name', async ({ method, step, error }) => {
    const { run, calls, alerts } = await runStubbed(method, {
      [step]: async () => {
        throw error;
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: error.name, cause: error.message });
    expect(run.visitedStates.at(-1)).toBe('BackupFailed');
    expect(calls.of(step)).toHaveLength(1); // none of these is retried
    expect(alerts).toHaveLength(1);
    const alert = alerts[0]!;
    expect(alert.TopicArn).toBe(SUBSTITUTIONS.AlertTopicArn);
    expect(alert.MessageAttributes).toEqual({
      severity: { DataType: 'String', StringValue: 'ERROR' },
      sourceId: { DataType: 'String', StringValue: SOURCE },
      step: { DataType: 'String', StringValue: step },
    });
    expect(alert.Subject).toBe(`[ERROR] Lifeboat ${SOURCE}: backup failed at ${step}`);
    expect(alert.Subject.length).toBeLessThan(100);
    expect(alert.Message).toContain('Severity: ERROR');
    expect(alert.Message).toContain(`Source: ${SOURCE}`);
    expect(alert.Message).toContain(`Step: ${step}`);
    expect(alert.Message).toContain(`Error: ${error.name}`);
    expect(alert.Message).toContain(`Why: ${error.message}`);
    expect(alert.Message).toContain(`https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/${EXECUTION_ID}`);
    // Nothing after the failed step ran.
    expect(calls.of('RecordSuccess')).toHaveLength(step === 'RecordSuccess' ? 1 : 0);
  });

  it('a failed verification ends FAILED without a second alert: the verify function has published it', async () => {
    const { run, calls, alerts } = await runStubbed('dump', {
      Verify: async () => {
        throw new VerificationFailedError('row-counts: table public.orders has 120 rows after the restore; the manifest records 121');
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'VerificationFailedError' });
    expect(calls.of('Verify')).toHaveLength(1);
    expect(alerts).toHaveLength(0);
    expect(calls.of('CopyToDr')).toHaveLength(0);
  });

  it('an unusable DescribeSource answer alerts as a DescribeSource failure', async () => {
    const { run, alerts } = await runStubbed('dump', { DescribeSource: async () => ({ sourceId: SOURCE, method: 'tape' }) });
    expect(run).toMatchObject({ status: 'FAILED', error: 'ConfigError' });
    expect(alerts.map((a) => a.MessageAttributes.step?.StringValue)).toEqual(['DescribeSource']);
  });

  it('an invalid input alerts once and calls nothing else', async () => {
    const { run, calls, alerts } = await runStubbed('dump', {}, { trigger: 'schedule' });
    expect(run).toMatchObject({ status: 'FAILED', error: 'ConfigError' });
    expect(calls.calls.map((c) => c.state)).toEqual(['PublishAlert']);
    expect(alerts[0]?.MessageAttributes.step?.StringValue).toBe('CheckInput');
  });

  it('still fails with the step error when the alert cannot be published', async () => {
    const { run } = await runStubbed('dump', {
      Dump: async () => {
        throw new ConfigError('bad');
      },
      PublishAlert: async () => {
        throw Object.assign(new Error('denied'), { name: 'SNS.AuthorizationErrorException' });
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'ConfigError', cause: 'bad' });
  });
});

describe('backup.asl.json: retries on retryable errors only', () => {
  const retryable: { method: 'dump' | 'snapshot'; step: string; error: Error }[] = [
    { method: 'dump', step: 'Dump', error: new StoreWriteFailedError('PutObject failed: SlowDown') },
    { method: 'dump', step: 'Dump', error: new SourceUnreachableError('ECONNRESET') },
    { method: 'dump', step: 'CopyToDr', error: new StoreWriteFailedError('CopyObject failed') },
    { method: 'dump', step: 'Verify', error: Object.assign(new Error('rate'), { name: 'Lambda.TooManyRequestsException' }) },
    { method: 'snapshot', step: 'CreateSnapshot', error: new SnapshotAlreadyRunningError('an automated backup is running') },
    { method: 'snapshot', step: 'RecordSnapshot', error: new SnapshotNotReadyError('not available yet') },
    { method: 'snapshot', step: 'CopySnapshotToDr', error: new SnapshotCopyQuotaError('20 copies in flight') },
    { method: 'snapshot', step: 'RecordSnapshotCopy', error: new SnapshotNotReadyError('DR copy not available yet') },
    { method: 'dump', step: 'DescribeSource', error: Object.assign(new Error('boom'), { name: 'Lambda.ServiceException' }) },
  ];

  it.each(retryable)('$step: $error.name once, then success → SUCCEEDED after one retry, no alert', async ({ method, step, error }) => {
    const real = stubHandlers(method)[step]!;
    let attempts = 0;
    const { run, calls, alerts } = await runStubbed(method, {
      [step]: async (input) => {
        if (++attempts === 1) throw error;
        return real(input);
      },
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(calls.of(step)).toHaveLength(2);
    expect(retriesOf(run, step)).toBe(1);
    expect(alerts).toHaveLength(0);
  });

  it('a DR copy that runs out of time (CopyInterruptedError) is invoked again until it finishes, without an alert', async () => {
    const real = stubHandlers('dump').CopyToDr!;
    let attempts = 0;
    const { run, calls, alerts } = await runStubbed('dump', {
      CopyToDr: async (input) => {
        if (++attempts <= 5) throw Object.assign(new Error(`stopped after part ${attempts * 10} of 60; a rerun continues`), { name: 'CopyInterruptedError' });
        return real(input);
      },
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(calls.of('CopyToDr')).toHaveLength(6);
    // A source without a Fargate copy task: each run is the copy Lambda again, counted, never a Task retry.
    expect(run.visitedStates.filter((state) => state === 'CountCopyRun')).toHaveLength(5);
    expect(retriesOf(run, 'CopyToDr')).toBe(0);
    expect(alerts).toHaveLength(0);
  });

  it('a DR copy still out of time after 96 Lambda runs (a day) fails with one alert that says so and quotes the last run', async () => {
    const { run, calls, alerts } = await runStubbed('dump', {
      CopyToDr: async () => {
        throw Object.assign(new Error('stopped re-hashing the DR copy after 80 GB'), { name: 'CopyInterruptedError' });
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'CopyInterruptedError' });
    expect(calls.of('CopyToDr')).toHaveLength(96);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.Subject).toContain('backup failed at CopyToDr');
    expect(alerts[0]!.Message).toContain('The DR copy stopped for lack of time in 96 Lambda runs in a row; the last said: stopped re-hashing the DR copy after 80 GB');
  }, 60_000);

  it('a DR copy that outgrew Lambda (stored nothing before its time ran out) alerts at once for a source without a copy task, saying why', async () => {
    const { run, calls, alerts } = await runStubbed('dump', {
      CopyToDr: async () => {
        throw Object.assign(new Error('Stopped re-hashing the DR copy after 80 of 300 GB. This run stored nothing.'), { name: 'CopyOutgrewLambdaError' });
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'CopyOutgrewLambdaError' });
    expect(calls.of('CopyToDr')).toHaveLength(1);
    expect(run.visitedStates).toContain('CopyCannotFinish');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.Message).toContain('Stopped re-hashing the DR copy after 80 of 300 GB. This run stored nothing. This source has no network for the copy task');
  });

  it('ChecksumMismatchError is not retried: FAILED with one alert', async () => {
    const { run, calls, alerts } = await runStubbed('dump', {
      CopyToDr: async () => {
        throw new ChecksumMismatchError('the DR copy differs');
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'ChecksumMismatchError' });
    expect(calls.of('CopyToDr')).toHaveLength(1);
    expect(retriesOf(run)).toBe(0);
    expect(alerts).toHaveLength(1);
  });

  it('a retryable error that persists exhausts the retries, then alerts once', async () => {
    const { run, calls, alerts } = await runStubbed('dump', {
      Dump: async () => {
        throw new StoreWriteFailedError('PutObject failed');
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'StoreWriteFailedError' });
    expect(calls.of('Dump')).toHaveLength(4); // 1 + MaxAttempts 3
    expect(alerts).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// End to end with the real cores.
// ---------------------------------------------------------------------------------------------------------

describe('backup.asl.json end to end: a dump source with the real dump, verify, copy and prune cores', () => {
  const secrets = mockClient(SecretsManagerClient);
  const rds = mockClient(RDSClient);
  const sns = mockClient(SNSClient);
  const SOURCE_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-orders-Xy7Q2k`;
  const SERVER_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:lifeboat-verify-pg-Ab12Cd`;
  let s3: LocalS3;
  let db: PostgresDatabase;
  let primaryStore: S3Store;
  let drStore: S3Store;
  let clients: S3Client[] = [];
  let handlers: Record<string, TaskHandler>;
  let metrics: unknown[];
  let published: unknown[];
  /** The one key of this suite: the backups are made and verified with it. */
  let keyring: ReturnType<typeof testKeyring>;

  beforeAll(async () => {
    s3 = await startLocalS3();
    db = await createPostgresDatabase('bsm');
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, note text)');
    await db.query("INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 250) g");
    const primaryBucket = await s3.createBucket();
    const drBucket = await s3.createBucket();
    primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
    drStore = new S3Store({ client: s3.client, bucket: drBucket });
    keyring = testKeyring();
    const source: DumpSource = { id: SOURCE, engine: 'postgresql', database: db.name, credentialsSecretArn: SOURCE_SECRET, rds: { type: 'instance', identifier: 'orders-prod' } };
    const local = postgresSettings();

    const dumpDeps: DumpDeps = {
      sources: [source],
      secrets: new SecretsManagerClient({ region: REGION }),
      rds: new RDSClient({ region: REGION }),
      store: primaryStore,
      keyring,
      tls: 'disable', // the local server has no TLS; in AWS the default is 'require'
    };
    const verifyDeps: VerifyDeps = {
      sources: [{ ...source, sqlChecks: ['SELECT count(*) = 250 FROM orders'] }],
      servers: { postgresql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
      store: primaryStore,
      keyring,
      tls: 'disable',
    };
    const primaryClient = createS3Client({ endpoint: s3.endpoint });
    const drClient = createS3Client({ endpoint: s3.endpoint });
    clients = [primaryClient, drClient];
    const copyDeps: CopyDeps = {
      primary: { client: primaryClient, bucket: primaryBucket },
      dr: { client: drClient, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
      drRds: new RDSClient({ region: DR_REGION }),
    };
    const pruneDeps: PruneDeps = {
      sources: [{ id: SOURCE, timeZone: 'UTC', retention: { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: primaryStore }, { store: drStore }],
      rds: {},
    };
    handlers = {
      DescribeSource: async (input) => ({ sourceId: (input as { sourceId: string }).sourceId, method: 'dump', dumpFunctionArn: DUMP_FUNCTION }),
      Dump: (input) => dumpSource(input, dumpDeps),
      CreateSnapshot: async () => {
        throw new Error('not a snapshot source');
      },
      DescribeSnapshot: async () => {
        throw new Error('not a snapshot source');
      },
      RecordSnapshot: async () => {
        throw new Error('not a snapshot source');
      },
      Verify: (input) => verifySourceBackup(input, verifyDeps),
      CopyToDr: (input) => handleCopyEvent(input, copyDeps),
      CopySnapshotToDr: (input) => handleCopyEvent(input, copyDeps),
      DescribeSnapshotCopy: (input) => handleCopyEvent(input, copyDeps),
      RecordSnapshotCopy: (input) => handleCopyEvent(input, copyDeps),
      // As functions/prune/handler.ts: a summary with errors is a PruneIncompleteError.
      ApplyRetention: async (input) => {
        const summary = await pruneSource(input, pruneDeps);
        if (summary.errors.length > 0) throw new PruneIncompleteError(summary.errors.join('; '));
        return summary;
      },
      RecordSuccess: async (input) => {
        metrics.push(input);
        return {};
      },
      PublishAlert: async (input) => {
        published.push(input);
        return { MessageId: 'm-1' };
      },
      ...notOnFargate,
    };
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await db?.drop();
    await s3?.stop();
  });
  beforeEach(() => {
    secrets.reset();
    rds.reset();
    sns.reset();
    metrics = [];
    published = [];
    const local = postgresSettings();
    secrets.on(GetSecretValueCommand, { SecretId: SOURCE_SECRET }).resolves({ SecretString: JSON.stringify({ username: local.user, password: local.password ?? 'unused-locally' }) });
    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves({ SecretString: JSON.stringify({ username: local.user, password: local.password ?? 'unused-locally' }) });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ Endpoint: { Address: local.host, Port: local.port } }] });
    sns.on(PublishCommand).resolves({ MessageId: 'm-verify' });
  });

  it('leaves a verified backup in the primary vault and a verified, checksum-equal copy in the DR vault', async () => {
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers, context: CONTEXT });
    expect(run.error ? `${run.error}: ${run.cause}` : run.status).toBe('SUCCEEDED');
    expect(run.visitedStates).toEqual([
      'CheckInput', 'Initialize', 'DescribeSource', 'RouteByMethod', 'DumpWhere?', 'Dump', 'AlsoSnapshot?', 'VerifyWhere?', 'Verify', 'Verified?', 'CopyToDr', 'SnapshotToCopy?', 'ApplyRetention', 'RecordSuccess', 'Succeeded',
    ]);
    const output = run.output as { backup: { backupId: string; sha256: string; storedBytes: number }; verification: { status: string }; drCopy: { sha256: string; payloadBytes: number; replicationLagSeconds: number } };
    const { backupId, sha256, storedBytes } = output.backup;

    // Primary vault: the backup, verified (row counts and the SQL check ran against a restore).
    const [primary] = await listBackups(primaryStore, { sourceId: SOURCE });
    expect(primary).toMatchObject({ backupId, kind: 'dump', payload: { sha256, storedBytes } });
    const primaryStatus = await readLatestVerification(primaryStore, SOURCE, backupId);
    expect(primaryStatus.status).toBe('verified');
    expect(primaryStatus.result?.checks.find((c) => c.name === 'row-counts')?.status).toBe('passed');
    expect(primaryStatus.result?.checks.find((c) => c.name === 'sql-checks')?.status).toBe('passed');

    // DR vault: the same manifest, the payload with the same SHA-256, and the verification result.
    const [dr] = await listBackups(drStore, { sourceId: SOURCE });
    expect(dr).toEqual(primary);
    expect(output.drCopy).toMatchObject({ sha256, payloadBytes: storedBytes, alreadyCopied: false, verificationsCopied: 1 });
    expect(output.drCopy.replicationLagSeconds).toBeGreaterThanOrEqual(0);
    expect((await readLatestVerification(drStore, SOURCE, backupId)).status).toBe('verified');

    // No alert from the machine or the verify function; the success metric recorded.
    expect(published).toEqual([]);
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
    expect(metrics).toEqual([
      { Namespace: 'Lifeboat', MetricData: [{ MetricName: 'BackupSucceeded', Dimensions: [{ Name: 'sourceId', Value: SOURCE }], Value: 1, Unit: 'Count' }] },
    ]);
  });

  it('a backup that fails verification stops before the copy, with the one alert from the verify function', async () => {
    const failing = { ...handlers };
    // A SQL check the restored data cannot meet: a real failed verdict from the real core.
    failing.Verify = (input) =>
      verifySourceBackup(input, {
        sources: [{ id: SOURCE, engine: 'postgresql', database: db.name, credentialsSecretArn: SOURCE_SECRET, rds: { type: 'instance', identifier: 'orders-prod' }, sqlChecks: ['SELECT count(*) = 999 FROM orders'] }],
        servers: { postgresql: { secretArn: SERVER_SECRET, host: postgresSettings().host, port: postgresSettings().port } },
        secrets: new SecretsManagerClient({ region: REGION }),
        sns: new SNSClient({ region: REGION }),
        alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
        store: primaryStore,
        keyring,
        tls: 'disable',
      });
    const before = (await listBackups(drStore, { sourceId: SOURCE })).length;
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'manual' }, { handlers: failing, context: CONTEXT });
    expect(run.status).toBe('FAILED');
    expect(run.visitedStates.at(-1), `${run.error}: ${run.cause}`).toBe('VerificationFailed');
    expect(published).toEqual([]);
    expect((await listBackups(drStore, { sourceId: SOURCE })).length).toBe(before);
    expect(metrics).toEqual([]);
    // The one alert: the verify function's own, naming the verify step.
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, { MessageAttributes: expect.objectContaining({ severity: { DataType: 'String', StringValue: 'ERROR' } }) });
  });
});
