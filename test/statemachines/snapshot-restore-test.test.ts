import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  CreateDBInstanceCommand,
  DBClusterNotFoundFault,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  RDSClient,
  RDSServiceException,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  StorageQuotaExceededFault,
  type CreateDBInstanceCommandInput,
  type DeleteDBClusterCommandInput,
  type DeleteDBInstanceCommandInput,
  type DescribeDBClustersCommandInput,
  type DescribeDBClusterSnapshotsCommandInput,
  type DescribeDBInstancesCommandInput,
  type RestoreDBClusterFromSnapshotCommandInput,
  type RestoreDBInstanceFromDBSnapshotCommandInput,
} from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateRestore, type ValidateRestoreDeps } from '../../functions/validate-restore/validate.ts';
import {
  createMariaDbDatabase,
  createPostgresDatabase,
  loadStateMachine,
  mariaDbSettings,
  postgresSettings,
  runStateMachine,
  type MariaDbDatabase,
  type PostgresDatabase,
  type StateMachineDefinition,
  type StateMachineRun,
  type TaskHandler,
} from '../harness/index.ts';

const SUBSTITUTIONS = {
  RestoreTestInstanceClass: 'db.t4g.micro',
  AuroraRestoreTestInstanceClass: 'db.t4g.medium',
  DbSubnetGroupName: 'lifeboat-isolated',
  IsolatedSecurityGroupId: 'sg-0a1b2c3d4e5f60718',
  ValidateRestoreFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeboat-validate-restore',
};
const EXECUTION_ID = 'arn:aws:states:eu-west-1:123456789012:execution:lifeboat-snapshot-restore-test:nightly-orders-db';
// The local interpreter fills in only $$.Execution.Input and StartTime; Step Functions sets the rest.
const CONTEXT = {
  Execution: { Id: EXECUTION_ID, Name: 'nightly-orders-db' },
  State: { EnteredTime: '2025-03-04T05:06:07.000Z', Name: 'any' },
};
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-Xy7Q2k';
const TEMPORARY_ID = /^lb-rt-orders-db-[0-9a-f]{8}$/;
const TAGS = [
  { Key: 'lifeboat:source', Value: 'orders-db' },
  { Key: 'lifeboat:purpose', Value: 'restore-test' },
  { Key: 'lifeboat:execution', Value: EXECUTION_ID },
];

/*
 * Step Functions' AWS SDK integrations use the AWS SDK for Java's names, not the API's: parameters and
 * results are `DbInstanceIdentifier`, `DbInstances[0].DbInstanceStatus`, and errors are
 * `Rds.DbInstanceNotFoundException` (Fault becomes Exception, acronyms are cased as words; unmodelled
 * errors such as throttling are `Rds.RdsException`). The ASL is written in those names; these helpers
 * translate at the boundary so the handlers can call the real SDK v3 commands on a mocked RDSClient.
 */
function toSdkParameters(parameters: unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(parameters as Record<string, unknown>).map(([key, value]) => [key.replace(/^Db(?=[A-Z])/, 'DB'), value]));
}

function toStepFunctionsResult(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toStepFunctionsResult);
  if (value instanceof Date) return value.toISOString();
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '$metadata')
      .map(([key, field]) => [key.replace(/^([A-Z])([A-Z]+)(?=[A-Z][a-z])/, (_, first: string, rest: string) => first + rest.toLowerCase()), toStepFunctionsResult(field)]),
  );
}

function toStepFunctionsError(error: unknown): Error {
  const modelled = error instanceof RDSServiceException && error.constructor !== RDSServiceException;
  const shape = modelled ? error.name.replace(/Fault$/, '').replace(/([A-Z])([A-Z]+)(?=[A-Z][a-z]|$)/g, (_, first: string, rest: string) => first + rest.toLowerCase()) : 'Rds';
  const failure = new Error(`${error instanceof Error ? error.message : String(error)} (Service: Rds, Status Code: 400)`);
  failure.name = modelled && !shape.endsWith('Exception') ? `Rds.${shape}Exception` : `Rds.${shape === 'Rds' ? 'RdsException' : shape}`;
  return failure;
}

function rdsTask(call: (parameters: Record<string, unknown>) => Promise<object>): TaskHandler {
  return async (input) => {
    try {
      return toStepFunctionsResult(await call(toSdkParameters(input)));
    } catch (error) {
      throw toStepFunctionsError(error);
    }
  };
}

/** An RDS error Step Functions cannot map to a modelled shape (throttling, access denied). */
function unmodelled(name: string, message: string): RDSServiceException {
  return new RDSServiceException({ name, message, $fault: 'client', $metadata: {} });
}

const rds = mockClient(RDSClient);
const secrets = mockClient(SecretsManagerClient);

function handlers(validationDeps: ValidateRestoreDeps): Record<string, TaskHandler> {
  const client = new RDSClient({ region: 'eu-west-1' });
  return {
    RestoreInstance: rdsTask((p) => client.send(new RestoreDBInstanceFromDBSnapshotCommand(p as unknown as RestoreDBInstanceFromDBSnapshotCommandInput))),
    FindOrphanedInstance: rdsTask((p) => client.send(new DescribeDBInstancesCommand(p as DescribeDBInstancesCommandInput))),
    DescribeClusterSnapshot: rdsTask((p) => client.send(new DescribeDBClusterSnapshotsCommand(p as DescribeDBClusterSnapshotsCommandInput))),
    RestoreCluster: rdsTask((p) => client.send(new RestoreDBClusterFromSnapshotCommand(p as unknown as RestoreDBClusterFromSnapshotCommandInput))),
    RestoreDocdbCluster: rdsTask((p) => client.send(new RestoreDBClusterFromSnapshotCommand(p as unknown as RestoreDBClusterFromSnapshotCommandInput))),
    FindOrphanedCluster: rdsTask((p) => client.send(new DescribeDBClustersCommand(p as DescribeDBClustersCommandInput))),
    CreateClusterInstance: rdsTask((p) => client.send(new CreateDBInstanceCommand(p as unknown as CreateDBInstanceCommandInput))),
    CreateDocdbClusterInstance: rdsTask((p) => client.send(new CreateDBInstanceCommand(p as unknown as CreateDBInstanceCommandInput))),
    DescribeInstance: rdsTask((p) => client.send(new DescribeDBInstancesCommand(p as DescribeDBInstancesCommandInput))),
    ReadInstanceEndpoint: rdsTask((p) => client.send(new DescribeDBInstancesCommand(p as DescribeDBInstancesCommandInput))),
    ValidateRestore: (payload) => validateRestore(payload, validationDeps),
    DeleteTemporaryInstance: rdsTask((p) => client.send(new DeleteDBInstanceCommand(p as unknown as DeleteDBInstanceCommandInput))),
    ConfirmInstanceDeletion: rdsTask((p) => client.send(new DescribeDBInstancesCommand(p as DescribeDBInstancesCommandInput))),
    DeleteClusterInstance: rdsTask((p) => client.send(new DeleteDBInstanceCommand(p as unknown as DeleteDBInstanceCommandInput))),
    DeleteTemporaryCluster: rdsTask((p) => client.send(new DeleteDBClusterCommand(p as unknown as DeleteDBClusterCommandInput))),
    ConfirmClusterDeletion: rdsTask((p) => client.send(new DescribeDBClustersCommand(p as DescribeDBClustersCommandInput))),
  };
}

const instanceIn = (status: string, endpoint?: { Address: string; Port: number }) => ({
  DBInstances: [{ DBInstanceIdentifier: 'from-the-request', DBInstanceStatus: status, ...(endpoint ? { Endpoint: endpoint } : {}) }],
});

/** The temporary identifier this run chose (it holds a random part), read from the restore call. */
function temporaryId(): string {
  const restore = rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0] ?? rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0];
  const input = restore?.args[0].input as { DBInstanceIdentifier?: string; DBClusterIdentifier?: string } | undefined;
  const id = input?.DBInstanceIdentifier ?? input?.DBClusterIdentifier;
  if (id === undefined) throw new Error('no restore call was made');
  return id;
}

function expectDeletedOnce(): void {
  expect(rds).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 1);
  expect(rds).toHaveReceivedCommandWith(DeleteDBInstanceCommand, {
    DBInstanceIdentifier: temporaryId(),
    SkipFinalSnapshot: true,
    DeleteAutomatedBackups: true,
  });
}

function retries(run: StateMachineRun, state: string): number {
  return run.events.filter((event) => event.type === 'StateRetried' && event.state.name === state).length;
}

describe('snapshot-restore-test state machine', () => {
  const server = postgresSettings();
  const endpoint = { Address: server.host, Port: server.port };
  let definition: StateMachineDefinition;
  let db: PostgresDatabase;
  let validationDeps: ValidateRestoreDeps;
  let request: Record<string, unknown>;
  const run = (input: unknown = request) => runStateMachine(definition, input, { handlers: handlers(validationDeps), context: CONTEXT });

  beforeAll(async () => {
    definition = await loadStateMachine('snapshot-restore-test', { substitutions: SUBSTITUTIONS });
    db = await createPostgresDatabase('restore_test_sfn');
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL)');
    await db.query('INSERT INTO orders (total) SELECT g FROM generate_series(1, 40) g');
    request = {
      sourceId: 'orders-db',
      snapshotIdentifier: 'lifeboat-orders-db-20250304t0300z',
      engine: 'postgres',
      database: db.name,
      expectedTables: [{ schema: 'public', name: 'orders', rows: 40 }],
      checks: ['SELECT count(*) > 0 FROM orders'],
      mode: 'test',
    };
  });

  afterAll(async () => {
    await db?.drop();
  });

  beforeEach(() => {
    rds.reset();
    secrets.reset();
    // Trust authentication ignores the password locally; in AWS it is the source's master password.
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      SecretString: JSON.stringify({ username: server.user, password: server.password ?? 'local-trust-auth' }),
    });
    validationDeps = {
      sources: [{ id: 'orders-db', credentialsSecretArn: SECRET_ARN }],
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      tls: 'disable',
    };
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });
    rds.on(DeleteDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'deleting' } });
  });

  it('asks its deployer for exactly these definition substitutions', async () => {
    const text = await readFile(new URL('../../statemachines/snapshot-restore-test.asl.json', import.meta.url), 'utf8');
    const placeholders = new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]));

    expect([...placeholders].sort()).toEqual(Object.keys(SUBSTITUTIONS).sort());
  });

  it('routes every Task state to the cleanup (or to a failure that created nothing) on any error', () => {
    const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');
    const withoutCatchAll = tasks
      .filter(([, state]) => !('Catch' in state && state.Catch?.some((catcher) => catcher.ErrorEquals.includes('States.ALL'))))
      .map(([name]) => name);

    expect(tasks.length).toBe(16);
    expect(withoutCatchAll).toEqual([]);
  });

  it('restores privately, polls until available, validates, deletes the instance and succeeds', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(instanceIn('creating'))
      .resolvesOnce(instanceIn('creating'))
      .resolves(instanceIn('available', endpoint));

    const result = await run();

    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    const id = temporaryId();
    expect(id).toMatch(TEMPORARY_ID);
    expect(rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand).map((call) => call.args[0].input)).toEqual([
      {
        DBInstanceIdentifier: id,
        DBSnapshotIdentifier: 'lifeboat-orders-db-20250304t0300z',
        DBInstanceClass: 'db.t4g.micro',
        DBSubnetGroupName: 'lifeboat-isolated',
        VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        PubliclyAccessible: false,
        MultiAZ: false,
        DeletionProtection: false,
        AutoMinorVersionUpgrade: false,
        CopyTagsToSnapshot: false,
        Tags: TAGS,
      },
    ]);
    // Three status checks, then one read of the endpoint of the available instance.
    expect(rds.commandCalls(DescribeDBInstancesCommand).map((call) => call.args[0].input)).toEqual(Array(4).fill({ DBInstanceIdentifier: id }));
    expectDeletedOnce();
    expect(rds.calls().at(-1)?.args[0]).toBeInstanceOf(DeleteDBInstanceCommand);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN });
    expect(result.output).toEqual({
      sourceId: 'orders-db',
      snapshotIdentifier: 'lifeboat-orders-db-20250304t0300z',
      engine: 'postgres',
      engineKind: 'instance',
      temporaryInstanceId: id,
      statusChecks: 3,
      timings: { restoreStartedAt: CONTEXT.State.EnteredTime, availableAt: CONTEXT.State.EnteredTime, validatedAt: CONTEXT.State.EnteredTime },
      validation: {
        sourceId: 'orders-db',
        database: db.name,
        passed: true,
        tables: [{ schema: 'public', name: 'orders', passed: true, expectedRows: 40, actualRows: 40 }],
        checks: [{ sql: 'SELECT count(*) > 0 FROM orders', passed: true }],
      },
    });
    expect(result.visitedStates).toEqual([
      'CheckRequest', 'PrepareInstanceRestore', 'RestoreInstance',
      'WaitForInstance', 'DescribeInstance', 'CountPoll', 'CheckInstanceStatus',
      'WaitForInstance', 'DescribeInstance', 'CountPoll', 'CheckInstanceStatus',
      'WaitForInstance', 'DescribeInstance', 'CountPoll', 'CheckInstanceStatus',
      'RecordInstanceAvailable', 'ReadInstanceEndpoint', 'ValidateRestore', 'CheckValidation', 'RecordValidated',
      'ChooseCleanup', 'DeleteTemporaryInstance', 'CleanupComplete', 'ReportSuccess', 'RestoreTestPassed',
    ]);
  });

  it('fails with the validation reason when a row count differs, after deleting the instance', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instanceIn('available', endpoint));

    const result = await run({ ...request, expectedTables: [{ schema: 'public', name: 'orders', rows: 41 }] });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreValidationFailedError');
    expect(result.cause).toBe('1 of 1 table(s) and 0 of 1 check(s) failed: table public.orders has 40 rows, the manifest says 41');
    expectDeletedOnce();
  });

  it('fails without deleting anything when the restore call is refused and nothing was created', async () => {
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).rejects(new StorageQuotaExceededFault({ message: 'Storage quota exceeded', $metadata: {} }));
    rds.on(DescribeDBInstancesCommand).rejects(new DBInstanceNotFoundFault({ message: 'DBInstance not found', $metadata: {} }));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rds.StorageQuotaExceededException');
    expect(result.cause).toBe('Storage quota exceeded (Service: Rds, Status Code: 400)');
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 1);
    expect(rds).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
  });

  it('deletes an instance that a failed-then-retried restore call did create', async () => {
    rds
      .on(RestoreDBInstanceFromDBSnapshotCommand)
      .rejectsOnce(unmodelled('InternalFailure', 'An internal error occurred'))
      .rejects(new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} }));
    rds.on(DescribeDBInstancesCommand).resolves(instanceIn('creating'));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rds.DbInstanceAlreadyExistsException');
    expect(retries(result, 'RestoreInstance')).toBe(1);
    expectDeletedOnce();
  });

  it('deletes the instance and keeps the error when a status check keeps failing after creation', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(unmodelled('AccessDenied', 'User is not authorized to perform rds:DescribeDBInstances'));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rds.RdsException');
    expect(result.cause).toBe('User is not authorized to perform rds:DescribeDBInstances (Service: Rds, Status Code: 400)');
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 4); // the first try and three retries
    expectDeletedOnce();
  });

  it.each(['failed', 'incompatible-restore', 'inaccessible-encryption-credentials', 'storage-full'])(
    'deletes the instance and fails when it goes to %s',
    async (status) => {
      rds.on(DescribeDBInstancesCommand).resolvesOnce(instanceIn('creating')).resolves(instanceIn(status));

      const result = await run();

      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('RestoreFailedError');
      expect(result.cause).toBe(
        `Temporary instance ${temporaryId()} restored from snapshot lifeboat-orders-db-20250304t0300z of source orders-db went to status ${status}`,
      );
      expect(result.visitedStates).not.toContain('ValidateRestore');
      expectDeletedOnce();
    },
  );

  it('gives up after 120 status checks, deletes the instance and fails with RestoreTimeoutError', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instanceIn('creating'));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreTimeoutError');
    expect(result.cause).toBe(
      `Temporary instance ${temporaryId()} restored from snapshot lifeboat-orders-db-20250304t0300z of source orders-db was not available after 120 status checks; last status creating`,
    );
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 120);
    expectDeletedOnce();
  });

  it('deletes the instance when the validation function cannot reach it, after retrying the connection', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instanceIn('available', { Address: '127.0.0.1', Port: 1 }));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreTargetUnreachableError');
    expect(result.cause).toContain(`Cannot connect to the restored database postgres://${server.user}@127.0.0.1:1/${db.name}`);
    expect(retries(result, 'ValidateRestore')).toBe(4);
    expectDeletedOnce();
  });

  it('retries a delete that RDS refuses while the instance is mid-transition, and still succeeds', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instanceIn('available', endpoint));
    rds
      .on(DeleteDBInstanceCommand)
      .rejectsOnce(new InvalidDBInstanceStateFault({ message: `Instance is currently backing-up`, $metadata: {} }))
      .resolves({ DBInstance: { DBInstanceStatus: 'deleting' } });

    const result = await run();

    expect(result.status).toBe('SUCCEEDED');
    expect(retries(result, 'DeleteTemporaryInstance')).toBe(1);
    expect(rds).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 2);
    expect(rds.commandCalls(DeleteDBInstanceCommand).map((call) => call.args[0].input)).toEqual(
      Array(2).fill({ DBInstanceIdentifier: temporaryId(), SkipFinalSnapshot: true, DeleteAutomatedBackups: true }),
    );
  });

  it('counts the instance as cleaned up when every delete is refused because it is already being deleted', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(instanceIn('available', endpoint))
      .resolvesOnce(instanceIn('available', endpoint))
      .resolves(instanceIn('deleting'));
    rds.on(DeleteDBInstanceCommand).rejects(new InvalidDBInstanceStateFault({ message: 'Instance is already being deleted.', $metadata: {} }));

    const result = await run({ ...request, checks: ['SELECT false'] });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreValidationFailedError');
    expect(retries(result, 'DeleteTemporaryInstance')).toBe(40);
    expect(result.visitedStates.slice(-4)).toEqual(['ConfirmInstanceDeletion', 'CheckInstanceDeleting', 'CleanupComplete', 'RestoreTestFailed']);
  });

  it('fails loudly with RestoreCleanupFailedError, naming the instance, when it cannot be deleted', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(instanceIn('available', endpoint));
    rds.on(DeleteDBInstanceCommand).rejects(unmodelled('AccessDenied', 'User is not authorized to perform rds:DeleteDBInstance'));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreCleanupFailedError');
    expect(result.cause).toBe(
      `Temporary instance ${temporaryId()} may still exist and must be deleted by hand (tag lifeboat:purpose=restore-test); ` +
        'deleting it failed with Rds.RdsException: User is not authorized to perform rds:DeleteDBInstance (Service: Rds, Status Code: 400)',
    );
  });

  it.each([
    ['an engine it cannot validate', { engine: 'oracle-ee' }],
    ['a source id RDS would reject', { sourceId: 'orders--db' }],
    ['a source id ending in a hyphen', { sourceId: 'orders-' }],
    ['no snapshot', { snapshotIdentifier: undefined }],
    ['a mode other than test', { mode: 'keep' }],
    ['an unknown engine kind', { engineKind: 'serverless' }],
  ])('rejects a request with %s before creating anything', async (_, change) => {
    const result = await run({ ...request, ...change });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ConfigError');
    expect(result.visitedStates).toEqual(['CheckRequest', 'RejectRequest']);
    expect(rds.calls()).toEqual([]);
  });
});

describe('snapshot-restore-test state machine, Aurora cluster', () => {
  const server = mariaDbSettings();
  const endpoint = { Address: server.host, Port: server.port };
  // The master user of the snapshot: a user with a password, as RDS has.
  const user = `lb_rt_${randomBytes(4).toString('hex')}`;
  const PASSWORD = 'master-Pass-4e7d';
  let definition: StateMachineDefinition;
  let db: MariaDbDatabase;
  let validationDeps: ValidateRestoreDeps;
  let request: Record<string, unknown>;
  const run = (input: unknown = request) => runStateMachine(definition, input, { handlers: handlers(validationDeps), context: CONTEXT });

  beforeAll(async () => {
    definition = await loadStateMachine('snapshot-restore-test', { substitutions: SUBSTITUTIONS });
    db = await createMariaDbDatabase('restore_test_sfn');
    await db.query('CREATE TABLE invoices (id int PRIMARY KEY)');
    await db.query('INSERT INTO invoices VALUES (1), (2), (3)');
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${PASSWORD}'`);
    await db.query(`GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`);
    request = {
      sourceId: 'orders-db',
      snapshotIdentifier: 'lifeboat-orders-db-cluster-20250304t0300z',
      engine: 'mysql',
      engineKind: 'cluster',
      database: db.name,
      expectedTables: [{ schema: db.name, name: 'invoices', rows: 3 }],
    };
  });

  afterAll(async () => {
    await db?.drop();
    const admin = await mysql.createConnection({ ...server });
    await admin.query(`DROP USER IF EXISTS '${user}'@'%'`).finally(() => admin.end());
  });

  beforeEach(() => {
    rds.reset();
    secrets.reset();
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: JSON.stringify({ username: user, password: PASSWORD }) });
    validationDeps = {
      sources: [{ id: 'orders-db', credentialsSecretArn: SECRET_ARN }],
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      tls: 'disable',
    };
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [{ Engine: 'aurora-mysql', EngineVersion: '8.0.mysql_aurora.3.08.0' }],
    });
    rds.on(RestoreDBClusterFromSnapshotCommand).resolves({ DBCluster: { Status: 'creating' } });
    rds.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });
    rds.on(DescribeDBInstancesCommand).resolvesOnce(instanceIn('creating')).resolves(instanceIn('available', endpoint));
    rds.on(DeleteDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'deleting' } });
    rds.on(DeleteDBClusterCommand).resolves({ DBCluster: { Status: 'deleting' } });
  });

  it('restores the cluster and one private instance, validates, deletes both and succeeds', async () => {
    const result = await run();

    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    const id = temporaryId();
    expect(id).toMatch(TEMPORARY_ID);
    expect(rds).toHaveReceivedCommandWith(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: 'lifeboat-orders-db-cluster-20250304t0300z' });
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand).map((call) => call.args[0].input)).toEqual([
      {
        DBClusterIdentifier: id,
        SnapshotIdentifier: 'lifeboat-orders-db-cluster-20250304t0300z',
        Engine: 'aurora-mysql',
        EngineVersion: '8.0.mysql_aurora.3.08.0',
        DBSubnetGroupName: 'lifeboat-isolated',
        VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        DeletionProtection: false,
        CopyTagsToSnapshot: false,
        Tags: TAGS,
      },
    ]);
    expect(rds.commandCalls(CreateDBInstanceCommand).map((call) => call.args[0].input)).toEqual([
      {
        DBInstanceIdentifier: id,
        DBClusterIdentifier: id,
        DBInstanceClass: 'db.t4g.medium',
        Engine: 'aurora-mysql',
        PubliclyAccessible: false,
        AutoMinorVersionUpgrade: false,
        Tags: TAGS,
      },
    ]);
    expect(rds.commandCalls(DeleteDBInstanceCommand).map((call) => call.args[0].input)).toEqual([{ DBInstanceIdentifier: id }]);
    expect(rds.commandCalls(DeleteDBClusterCommand).map((call) => call.args[0].input)).toEqual([{ DBClusterIdentifier: id, SkipFinalSnapshot: true }]);
    expect(result.output).toMatchObject({ engineKind: 'cluster', temporaryInstanceId: id, validation: { passed: true } });
    expect(result.visitedStates.slice(-6)).toEqual([
      'ChooseCleanup', 'DeleteClusterInstance', 'DeleteTemporaryCluster', 'CleanupComplete', 'ReportSuccess', 'RestoreTestPassed',
    ]);
  });

  it('deletes the cluster once when its instance cannot be created', async () => {
    rds.on(CreateDBInstanceCommand).rejects(new StorageQuotaExceededFault({ message: 'Instance quota exceeded', $metadata: {} }));
    rds.on(DeleteDBInstanceCommand).rejects(new DBInstanceNotFoundFault({ message: 'DBInstance not found', $metadata: {} }));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rds.StorageQuotaExceededException');
    expect(rds).toHaveReceivedCommandTimes(DeleteDBClusterCommand, 1);
    expect(rds).toHaveReceivedCommandWith(DeleteDBClusterCommand, { DBClusterIdentifier: temporaryId(), SkipFinalSnapshot: true });
  });

  it('fails without deleting anything when the cluster restore is refused', async () => {
    rds.on(RestoreDBClusterFromSnapshotCommand).rejects(new StorageQuotaExceededFault({ message: 'Storage quota exceeded', $metadata: {} }));
    rds.on(DescribeDBClustersCommand).rejects(new DBClusterNotFoundFault({ message: 'DBCluster not found', $metadata: {} }));

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rds.StorageQuotaExceededException');
    expect(rds).toHaveReceivedCommandTimes(DescribeDBClustersCommand, 1);
    expect(rds).not.toHaveReceivedCommand(CreateDBInstanceCommand);
    expect(rds).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
    expect(rds).not.toHaveReceivedCommand(DeleteDBClusterCommand);
  });
});

describe('snapshot-restore-test state machine, DocumentDB cluster', () => {
  // No DocumentDB server runs here: the check's MongoDB session is a stand-in that records the commands it gets.
  const endpoint = { Address: 'lb-rt-catalog.cluster-c0ffee.eu-west-1.docdb.amazonaws.com', Port: 27017 };
  const PASSWORD = 'master-Pass-9f2a';
  let definition: StateMachineDefinition;
  let validationDeps: ValidateRestoreDeps;
  let sent: { endpoint: unknown; options: unknown; commands: Record<string, unknown>[]; closed: number };
  const request = { sourceId: 'catalog', snapshotIdentifier: 'lifeboat-catalog-20250304t0300z', engine: 'docdb', engineKind: 'cluster', database: 'admin' };
  const run = (input: unknown = request) => runStateMachine(definition, input, { handlers: handlers(validationDeps), context: CONTEXT });

  beforeAll(async () => {
    definition = await loadStateMachine('snapshot-restore-test', { substitutions: SUBSTITUTIONS });
  });

  beforeEach(() => {
    rds.reset();
    secrets.reset();
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: JSON.stringify({ username: 'catalogadmin', password: PASSWORD }) });
    sent = { endpoint: undefined, options: undefined, commands: [], closed: 0 };
    validationDeps = {
      sources: [{ id: 'catalog', credentialsSecretArn: SECRET_ARN }],
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      ca: '/opt/rds-ca/global-bundle.pem',
      connectDocdb: async (where, options) => {
        sent.endpoint = where;
        sent.options = options;
        return {
          command: async (command) => {
            sent.commands.push({ ...command });
            return 'ping' in command ? { ok: 1 } : { ok: 1, databases: [{ name: 'catalog' }, { name: 'admin' }] };
          },
          close: async () => {
            sent.closed += 1;
          },
        };
      },
    };
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [{ Engine: 'docdb', EngineVersion: '5.0.0' }] });
    rds.on(RestoreDBClusterFromSnapshotCommand).resolves({ DBCluster: { Status: 'creating' } });
    rds.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });
    rds.on(DescribeDBInstancesCommand).resolvesOnce(instanceIn('creating')).resolves(instanceIn('available', endpoint));
    rds.on(DeleteDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'deleting' } });
    rds.on(DeleteDBClusterCommand).resolves({ DBCluster: { Status: 'deleting' } });
  });

  it('restores the cluster without CopyTagsToSnapshot and its instance without PubliclyAccessible, checks it answers over verified TLS, deletes both', async () => {
    const result = await run();

    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    const id = temporaryId();
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand).map((call) => call.args[0].input)).toEqual([
      {
        DBClusterIdentifier: id,
        SnapshotIdentifier: 'lifeboat-catalog-20250304t0300z',
        Engine: 'docdb',
        EngineVersion: '5.0.0',
        DBSubnetGroupName: 'lifeboat-isolated',
        VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        DeletionProtection: false,
        Tags: TAGS.map((tag) => (tag.Key === 'lifeboat:source' ? { ...tag, Value: 'catalog' } : tag)),
      },
    ]);
    expect(rds.commandCalls(CreateDBInstanceCommand).map((call) => call.args[0].input)).toEqual([
      { DBInstanceIdentifier: id, DBClusterIdentifier: id, DBInstanceClass: 'db.t4g.medium', Engine: 'docdb', AutoMinorVersionUpgrade: false, Tags: TAGS.map((tag) => (tag.Key === 'lifeboat:source' ? { ...tag, Value: 'catalog' } : tag)) },
    ]);
    expect(sent.endpoint).toEqual({ host: endpoint.Address, port: 27017, user: 'catalogadmin', password: PASSWORD });
    expect(sent.options).toMatchObject({ tls: 'verify', ca: '/opt/rds-ca/global-bundle.pem' });
    expect(sent.commands).toEqual([{ ping: 1 }, { listDatabases: 1, nameOnly: true }]);
    expect(sent.closed).toBe(1);
    expect(result.output).toMatchObject({ engineKind: 'cluster', temporaryInstanceId: id, validation: { passed: true, databases: ['admin', 'catalog'] } });
    expect(rds.commandCalls(DeleteDBInstanceCommand).map((call) => call.args[0].input)).toEqual([{ DBInstanceIdentifier: id }]);
    expect(rds.commandCalls(DeleteDBClusterCommand).map((call) => call.args[0].input)).toEqual([{ DBClusterIdentifier: id, SkipFinalSnapshot: true }]);
  });

  it('fails with RestoreTargetLoginFailedError when the master password was rotated since the snapshot, never naming it, and deletes both', async () => {
    validationDeps = {
      ...validationDeps,
      connectDocdb: async () => {
        throw Object.assign(new Error(`Authentication failed (password ${PASSWORD} rejected)`), { code: 18 });
      },
    };

    const result = await run();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreTargetLoginFailedError');
    expect(result.cause).toMatch(/as catalogadmin failed: Authentication failed \(password \*\*\* rejected\).*rotated since then/);
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
    expect(rds).toHaveReceivedCommandTimes(DeleteDBClusterCommand, 1);
  });

  it('refuses engine docdb without engineKind cluster before creating anything', async () => {
    const result = await run({ ...request, engineKind: 'instance' });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ConfigError');
    expect(rds.calls()).toHaveLength(0);
  });
});
