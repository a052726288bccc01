/**
 * A DR plan whose restore-dump step is given 2 hours, as deployed and run: the plan state machine is taken from the
 * synthesized template (definition and substitutions), run by the local interpreter; its `ecs:runTask.sync` states
 * start the Fargate runner's entrypoint (the bundle the tools image builds) as a process with exactly the DR step
 * task definition's environment plus the RunTask container overrides, and only what the platform and the local
 * stand-ins add (test/functions/runner/support.ts); its Lambda states run the step executor's core in-process. The
 * real engine restores a real two-part PostgreSQL backup from a vault on s3rver into the local server.
 */
import { createHash } from 'node:crypto';
import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KMS } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DrSourceSchema, type DrStepDeps, handleDrStepEvent } from '../../functions/dr-step/drStep.ts';
import type { Evidence } from '../../functions/dr-step/evidence.ts';
import { kmsKeyring } from '../../functions/lib/crypto/keyring.ts';
import { runBackup } from '../../functions/lib/engine/backup.ts';
import { evidenceKey, stepRecordKey } from '../../functions/lib/vault/layout.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { verifyBackup } from '../../functions/lib/verify/index.ts';
import { kmsHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { VerifyServersSchema } from '../../functions/verify/verify.ts';
import { buildLifeboat } from '../../infra/lifeboat.ts';
import { connectionOf } from '../functions/engine/helpers.ts';
import { restoreServerFor } from '../functions/verify/suite.ts';
import { bundleRunner, deployed, localTaskAdditions, REGION, ACCOUNT, repoRoot, runEntrypoint, startFakeAws, taskEnvironments, type TemplateResources } from '../functions/runner/support.ts';
import { exampleConfig, testApp } from '../infra/support.ts';
import { createPostgresDatabase, postgresSettings, runStateMachine, startLocalS3, type LocalS3, type PostgresDatabase, type StateMachineDefinition, type TaskHandler } from '../harness/index.ts';

const PLAN = 'orders-fargate';
const SOURCE = 'orders-db';
const TARGET_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:orders-fargate-target-Ab12Cd`;
const RUN_TASK_SYNC = 'arn:aws:states:::ecs:runTask.sync';
const CUSTOMERS = 40;
const ORDERS = 900;
const credentials = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-test-secret' };

/** What a `runTask.sync` state sends: the RunTask request. */
interface RunTaskRequest {
  Cluster: string;
  TaskDefinition: string;
  LaunchType: string;
  PlatformVersion: string;
  NetworkConfiguration: { AwsvpcConfiguration: { Subnets: string[]; SecurityGroups: string[]; AssignPublicIp: string } };
  Overrides: { ContainerOverrides: { Name: string; Environment: { Name: string; Value: string }[] }[] };
  StartedBy: string;
}

const sns = mockClient(SNSClient);

describe('a DR plan whose restore-dump step is given 2 hours, run locally on the Fargate runner', () => {
  let outdir: string;
  let runner: string;
  let s3: LocalS3;
  let aws: Awaited<ReturnType<typeof startFakeAws>>;
  let source: PostgresDatabase;
  let target: PostgresDatabase;
  let resources: TemplateResources;
  let taskEnv: Map<string, Record<string, string>>;
  let definition: StateMachineDefinition;
  let store: S3Store;
  let lambdaDeps: DrStepDeps;
  let backupId: string;

  beforeAll(async () => {
    outdir = await mkdtemp(join(repoRoot, '.vitest-tmp-plan-fargate-'));
    runner = await bundleRunner(outdir);
    s3 = await startLocalS3();
    source = await createPostgresDatabase('fargate_plan_src');
    await source.query('CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)');
    await source.query('CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), total numeric(10, 2))');
    await source.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, ${CUSTOMERS}) g`);
    await source.query(`INSERT INTO orders (customer_id, total) SELECT 1 + g % ${CUSTOMERS}, g * 1.5 FROM generate_series(1, ${ORDERS}) g`);
    target = await createPostgresDatabase('fargate_plan_target');
    const local = postgresSettings();

    // The example deployment with one plan: restore orders-db's latest verified dump into the (local) target, 2 hours allowed; validate it.
    const config = exampleConfig((raw) => {
      raw.sources[0].database = source.name;
      raw.verification.servers.postgresql.host = local.host;
      raw.verification.servers.postgresql.port = local.port;
      raw.plans = [
        {
          name: PLAN,
          priority: 'critical',
          objectives: { rtoMinutes: 240, rpoMinutes: 1440 },
          contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }],
          steps: [
            {
              id: 'restore',
              kind: 'restore-dump',
              timeoutMinutes: 120,
              parameters: { source: SOURCE, target: { host: local.host, port: local.port, database: target.name, credentialsSecretArn: TARGET_SECRET } },
            },
            // The default 30 minutes: longer than a Lambda invocation too, so on Fargate as well.
            { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore', sqlChecks: [`SELECT count(*) = ${ORDERS} FROM orders`] } },
          ],
        },
      ];
    });
    const stacks = buildLifeboat(testApp(), config);
    resources = (Template.fromStack(stacks.primary).toJSON() as { Resources: TemplateResources }).Resources;
    taskEnv = taskEnvironments(resources);
    const machine = Object.values(resources).find((r) => r.Type === 'AWS::StepFunctions::StateMachine' && r.Properties.StateMachineName === `lifeboat-plan-${PLAN}`)!;
    let text = machine.Properties.DefinitionString as string;
    for (const [name, value] of Object.entries(machine.Properties.DefinitionSubstitutions as Record<string, unknown>)) text = text.replaceAll(`\${${name}}`, deployed(value, resources));
    definition = JSON.parse(text) as StateMachineDefinition;

    const env = taskEnv.get('lifeboat-drstep')!;
    await s3.createBucket(env.PRIMARY_VAULT_BUCKET);
    store = new S3Store({ client: s3.client, bucket: env.PRIMARY_VAULT_BUCKET! });
    const login = JSON.stringify({ username: local.user, password: local.password ?? 'unused-locally', host: local.host, port: local.port });
    const serverSecret = (JSON.parse(env.VERIFY_SERVERS!) as { postgresql: { secretArn: string } }).postgresql.secretArn;
    aws = await startFakeAws({ [TARGET_SECRET]: login, [serverSecret]: login });

    // The step executor Lambda's side (Read*, RecordEvidence): the same vault, key and secrets, in-process.
    const kms = (region: string) => new KMS({ region, endpoint: aws.endpoint, credentials });
    const keyring = kmsKeyring({ keyIds: [env.PRIMARY_VAULT_KEY_ARN!], clientProvider: kms });
    // The verifier's signature, with the deployed verification key (the local KMS stand-in): the task counts only signed results.
    const verificationKey = kmsHmacSigner(kms(REGION), env.VERIFICATION_KEY_ARN!);
    lambdaDeps = {
      sources: (JSON.parse(env.LIFEBOAT_SOURCES!) as unknown[]).map((s) => DrSourceSchema.parse(s)),
      servers: VerifyServersSchema.parse(JSON.parse(env.VERIFY_SERVERS!)),
      planTopics: JSON.parse(env.PLAN_TOPICS!) as Record<string, string>,
      secrets: new SecretsManagerClient({ region: REGION, endpoint: aws.endpoint, credentials }),
      sns: new SNSClient({ region: REGION }),
      tls: 'disable',
      regions: { primary: { name: REGION, rds: new RDSClient({ region: REGION }), store, keyring } },
      verificationKey,
    };

    // A verified two-part backup of orders-db, encrypted under the vault key (the local KMS stand-in).
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: SOURCE, store, keyring, jobs: 2 });
    expect(manifest.payload.parts?.length).toBeGreaterThan(1);
    const verification = await verifyBackup({ store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: restoreServerFor('postgresql'), signer: verificationKey });
    expect(verification.status).toBe('verified');
    backupId = manifest.backupId;
  }, 600_000);

  afterAll(async () => {
    aws?.server.close();
    await source?.drop();
    await target?.drop();
    await s3?.stop();
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  });

  /** Runs the plan once, as execution `name`, recording the RunTask requests and what each task process did. */
  async function runPlan(name: string) {
    const executionId = `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-plan-${PLAN}:${name}`;
    const requests: RunTaskRequest[] = [];
    const tasks: Awaited<ReturnType<typeof runEntrypoint>>[] = [];
    const onFargate: TaskHandler = async (input) => {
      const request = input as RunTaskRequest;
      requests.push(request);
      const family = /task-definition\/([^:]+):\d+$/.exec(request.TaskDefinition)![1]!;
      const [container] = request.Overrides.ContainerOverrides;
      expect(container!.Name).toBe('runner');
      // Exactly the task definition's environment, the container overrides, and the platform's and stand-ins' additions.
      const env = { ...taskEnv.get(family)!, ...Object.fromEntries(container!.Environment.map((e) => [e.Name, e.Value])), ...localTaskAdditions(s3.endpoint, aws.endpoint) };
      const task = await runEntrypoint(runner, env);
      tasks.push(task);
      // What `.sync` does with a task whose essential container exited non-zero: States.TaskFailed, the task as the cause.
      if (task.code !== 0) throw Object.assign(new Error(JSON.stringify({ Containers: [{ Name: 'runner', ExitCode: task.code }], StopCode: 'EssentialContainerExited' })), { name: 'States.TaskFailed' });
      return { Containers: [{ Name: 'runner', ExitCode: 0, LastStatus: 'STOPPED' }], LastStatus: 'STOPPED' };
    };
    const handlers: Record<string, TaskHandler> = {};
    const visit = (states: Record<string, { Type: string; Resource?: string; Branches?: { States: Record<string, any> }[] }>) => {
      for (const [stateName, state] of Object.entries(states)) {
        if (state.Type === 'Task') handlers[stateName] = state.Resource === RUN_TASK_SYNC ? onFargate : (input) => handleDrStepEvent(input, lambdaDeps);
        for (const branch of state.Branches ?? []) visit(branch.States);
      }
    };
    visit(definition.States as never);
    const run = await runStateMachine(definition, { mode: 'real' }, { handlers, context: { Execution: { Id: executionId, Name: name } } });
    const evidence = JSON.parse((await store.getObject(evidenceKey(PLAN, name))).toString('utf8')) as Evidence;
    return { run, requests, tasks, evidence };
  }

  it('restores on Fargate in the verification network, validates there too, and the plan passes with the restore in its evidence', async () => {
    const { run, requests, tasks, evidence } = await runPlan('fargate-real-1');

    expect(run.error ? `${run.error}: ${run.cause}` : run.status).toBe('SUCCEEDED');
    expect(run.visitedStates.filter((s) => /^(Prepare|Run|Read|Done)(restore|check)$/.test(s))).toEqual([
      'Preparerestore', 'Runrestore', 'Readrestore', 'Donerestore', 'Preparecheck', 'Runcheck', 'Readcheck', 'Donecheck',
    ]);
    expect(requests).toHaveLength(2);
    const taskDefinition = Object.entries(resources).find(([, r]) => r.Type === 'AWS::ECS::TaskDefinition' && r.Properties.Family === 'lifeboat-drstep')!;
    expect(requests[0]).toEqual({
      Cluster: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/lifeboat-runner`,
      TaskDefinition: deployed({ Ref: taskDefinition[0] }, resources),
      LaunchType: 'FARGATE',
      PlatformVersion: 'LATEST',
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'], SecurityGroups: ['sg-0a1b2c3d4e5f60005'], AssignPublicIp: 'DISABLED' } },
      Overrides: { ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: 'LIFEBOAT_TASK_EVENT', Value: expect.any(String) }] }] },
      // ECS takes 36 characters at most: the execution name's MD5, computed by the state machine itself.
      StartedBy: createHash('md5').update('fargate-real-1').digest('hex'),
    });
    const event = JSON.parse(requests[0]!.Overrides.ContainerOverrides[0]!.Environment[0]!.Value) as Record<string, unknown>;
    expect(event).toMatchObject({ action: 'run-step', plan: PLAN, stepId: 'restore', kind: 'restore-dump', mode: 'real', executionId: `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-plan-${PLAN}:fargate-real-1` });
    // The validate task was told what the restore did: the levels travel in its event.
    const checkEvent = JSON.parse(requests[1]!.Overrides.ContainerOverrides[0]!.Environment[0]!.Value) as { stepId: string; levels: Record<string, Record<string, { result: { backupId: string } }>> };
    expect(checkEvent.stepId).toBe('check');
    expect(checkEvent.levels.L1!.restore!.result.backupId).toBe(backupId);

    for (const task of tasks) {
      expect(task.code).toBe(0);
      expect(task.lines.find((l) => l.message === 'task succeeded')).toMatchObject({ level: 'INFO', service: 'lifeboat-dr-step', role: 'dr-step' });
      expect(task.stdout + task.stderr).not.toContain('local-test-secret');
    }
    // Really restored, by the task: every row, in the plan's target.
    const [orders] = await target.query<{ count: string }>('SELECT count(*) FROM orders');
    const [customers] = await target.query<{ count: string }>('SELECT count(*) FROM customers');
    expect({ orders: Number(orders!.count), customers: Number(customers!.count) }).toEqual({ orders: ORDERS, customers: CUSTOMERS });
    // Each task left its record where the plan read it back; the evidence carries them.
    const record = JSON.parse((await store.getObject(stepRecordKey(PLAN, 'fargate-real-1', 'restore'))).toString('utf8')) as { outcome: string };
    expect(record.outcome).toBe('succeeded');
    expect(evidence.outcome).toBe('passed');
    expect(evidence.steps.map((s) => [s.stepId, s.kind, s.status])).toEqual([
      ['restore', 'restore-dump', 'succeeded'],
      ['check', 'validate', 'succeeded'],
    ]);
    expect(evidence.steps[0]!.result).toMatchObject({ sourceId: SOURCE, backupId, target: { database: target.name } });
  }, 900_000);

  it('fails the plan with the step\'s own error when the task fails: a second restore into the now non-empty target', async () => {
    const { run, requests, tasks, evidence } = await runPlan('fargate-real-2');

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('PlanFailedError');
    // Only the restore ran: its task exited 1, and Read raised its error by name.
    expect(requests).toHaveLength(1);
    expect(tasks[0]!.code).toBe(1);
    expect(tasks[0]!.lines.find((l) => l.message === 'task failed')).toMatchObject({ role: 'dr-step', errorName: 'TargetNotEmptyError' });
    expect(run.visitedStates).toEqual(expect.arrayContaining(['Runrestore', 'Readrestore']));
    expect(run.visitedStates).not.toContain('Runcheck');
    expect(evidence.outcome).toBe('failed');
    expect(evidence.failure).toMatchObject({ error: 'TargetNotEmptyError' });
    // The first restore is untouched.
    const [orders] = await target.query<{ count: string }>('SELECT count(*) FROM orders');
    expect(Number(orders!.count)).toBe(ORDERS);
  }, 900_000);
});
