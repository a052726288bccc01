/**
 * The Fargate runner in the template from the example config: one cluster with Container Insights, a task
 * definition per tools role running the same image as its Lambda with the runner entrypoint, task roles with
 * exactly their Lambda roles' grants, a least-privilege execution role, encrypted logs, and resolve-source
 * told where each source's tasks run.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, any> };

const asList = <T,>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function statementsOf(template: Template, roleId: string): Statement[] {
  const policies = [...Object.values(template.findResources('AWS::IAM::Policy')), ...Object.values(template.findResources('AWS::IAM::ManagedPolicy'))].filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId));
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

const roleIdOf = (arn: unknown) => (arn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;

/** A Lambda role's statements without its Lambda plumbing: logs, network interfaces, X-Ray, the dead letters' key. */
function ownStatements(template: Template, roleId: string, logGroupIds: string[]): Statement[] {
  return statementsOf(template, roleId).filter((s) => {
    const actions = asList(s.Action);
    if (actions.every((a) => a.startsWith('xray:') || a.startsWith('ec2:'))) return false;
    if (actions.every((a) => a.startsWith('logs:')) && logGroupIds.some((id) => JSON.stringify(s.Resource).includes(id))) return false;
    // The dead-letter queue and its key (CDK's grants: no Sid).
    if (s.Sid === undefined && actions.every((a) => a === 'sqs:SendMessage')) return false;
    if (s.Sid === undefined && actions.every((a) => a === 'kms:GenerateDataKey' || a === 'kms:Decrypt') && JSON.stringify(s.Resource).includes('OperationsKey')) return false;
    return true;
  });
}

describe('the Fargate runner from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  let taskDefinitions: [string, Resource][];
  beforeAll(() => {
    lifeboat = synthLifeboat();
    taskDefinitions = Object.entries(lifeboat.primary.findResources('AWS::ECS::TaskDefinition')) as [string, Resource][];
  }, SYNTH_TIMEOUT_MS);

  it('deploys one cluster, lifeboat-runner, with Container Insights on, and nothing ECS in the DR region', () => {
    lifeboat.primary.resourceCountIs('AWS::ECS::Cluster', 1);
    lifeboat.primary.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: 'lifeboat-runner', ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    lifeboat.dr.resourceCountIs('AWS::ECS::Cluster', 0);
    lifeboat.dr.resourceCountIs('AWS::ECS::TaskDefinition', 0);
  });

  it('has a task definition per dump function, one for file sets that outgrow Lambda, one for verify, one for copies and one for DR steps (the default plans restore dumps for 120 minutes): Fargate, x86-64, the runner entrypoint, logs to the encrypted group', () => {
    const families = taskDefinitions.map(([, d]) => d.Properties.Family).sort();
    expect(families).toEqual(['lifeboat-copy', 'lifeboat-drstep', 'lifeboat-dump1', 'lifeboat-dump2', 'lifeboat-fileset', 'lifeboat-verify']);
    const [logGroupId, logGroup] = Object.entries(lifeboat.primary.findResources('AWS::Logs::LogGroup')).find(([id]) => id.startsWith('BackupRunnerLogs'))!;
    expect(logGroup.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^BackupOperationsKey/), 'Arn'] });
    for (const [, definition] of taskDefinitions) {
      // The copy is S3's work and one hash stream: 1 vCPU, 2 GiB, one stream. Every other task: 4 vCPU, 8 GiB.
      const copy = definition.Properties.Family === 'lifeboat-copy';
      expect(definition.Properties).toMatchObject({
        RequiresCompatibilities: ['FARGATE'],
        NetworkMode: 'awsvpc',
        Cpu: copy ? '1024' : '4096',
        Memory: copy ? '2048' : '8192',
        RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      });
      const [container] = definition.Properties.ContainerDefinitions;
      expect(definition.Properties.ContainerDefinitions).toHaveLength(1);
      expect(container).toMatchObject({ Name: 'runner', Essential: true, EntryPoint: ['/var/lang/bin/node', '--single-threaded-gc', '--min-semi-space-size=16', '--max-semi-space-size=32', '/var/task/runner.mjs'] });
      expect(container.LogConfiguration).toMatchObject({ LogDriver: 'awslogs', Options: { 'awslogs-group': { Ref: logGroupId } } });
      const names = (container.Environment as { Name: string }[]).map((e) => e.Name);
      // Local-run switches are never deployed: TLS stays required, S3 is AWS's.
      expect(names).not.toContain('LIFEBOAT_DATABASE_TLS');
      expect(names).not.toContain('LIFEBOAT_S3_ENDPOINT');
      expect(names.some((n) => /PASSWORD|SECRET_VALUE/i.test(n))).toBe(false);
      // 4096 CPU units: 4 parallel streams, and a libuv pool as wide (zstd runs there).
      const env = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
      expect({ jobs: env.LIFEBOAT_JOBS, pool: env.UV_THREADPOOL_SIZE }).toEqual(copy ? { jobs: '1', pool: '4' } : { jobs: '4', pool: '4' });
    }
  });

  it('overrides the streams with the size of each run: the backup state machine passes the source\'s jobs and thread pool with its CPU', () => {
    const [, machine] = Object.entries(lifeboat.primary.findResources('AWS::StepFunctions::StateMachine', { Properties: { StateMachineName: 'lifeboat-backup' } }))[0]!;
    const source = JSON.parse(machine.Properties.DefinitionString as string) as { States: Record<string, any> };
    const found: Record<string, unknown>[] = [];
    const walk = (states: Record<string, any>) => {
      for (const [name, state] of Object.entries(states)) {
        if (name === 'DumpOnFargate' || name === 'VerifyOnFargate') found.push(state.Parameters.Overrides);
        for (const branch of state.Branches ?? []) walk(branch.States);
      }
    };
    walk(source.States);
    expect(found).toHaveLength(2);
    for (const overrides of found) {
      expect(overrides).toEqual({
        'Cpu.$': '$.source.fargate.cpu',
        'Memory.$': '$.source.fargate.memory',
        ContainerOverrides: [
          {
            Name: 'runner',
            Environment: [
              { Name: 'LIFEBOAT_TASK_EVENT', 'Value.$': expect.stringMatching(/^States\.JsonToString\(\$\.fargate(Dump|Verify)\)$/) },
              { Name: 'LIFEBOAT_JOBS', 'Value.$': '$.source.fargate.jobs' },
              { Name: 'UV_THREADPOOL_SIZE', 'Value.$': '$.source.fargate.threadPoolSize' },
            ],
          },
        ],
      });
    }
  });

  it('gives each task the environment of its Lambda, plus its role and service name', () => {
    const lambdas = lifeboat.primary.findResources('AWS::Lambda::Function');
    const envOf = (definition: Resource) => Object.fromEntries((definition.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    const byFamily = Object.fromEntries(taskDefinitions.map(([, d]) => [d.Properties.Family, envOf(d)]));
    const dumpLambdas = Object.values(lambdas).filter((f) => String(f.Properties.Description).includes('pg_dump'));
    const lambdaEnvs = dumpLambdas.map((f) => f.Properties.Environment.Variables as Record<string, unknown>);
    for (const family of ['lifeboat-dump1', 'lifeboat-dump2']) {
      const env = byFamily[family]!;
      expect(env).toMatchObject({ LIFEBOAT_RUNNER_ROLE: 'dump', POWERTOOLS_SERVICE_NAME: 'lifeboat-dump', POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat' });
      const twin = lambdaEnvs.find((l) => l.LIFEBOAT_SOURCES === env.LIFEBOAT_SOURCES)!;
      expect(twin, `${family} has a dump Lambda with the same sources`).toBeDefined();
      expect({ VAULT_BUCKET: env.VAULT_BUCKET, VAULT_KEY_ARN: env.VAULT_KEY_ARN }).toEqual({ VAULT_BUCKET: twin.VAULT_BUCKET, VAULT_KEY_ARN: twin.VAULT_KEY_ARN });
    }
    const verify = Object.values(lambdas).find((f) => String(f.Properties.Description).startsWith('Lifeboat: verifies a dump'))!;
    const verifyEnv = verify.Properties.Environment.Variables as Record<string, unknown>;
    for (const name of ['VAULT_BUCKET', 'VAULT_KEY_ARN', 'ALERT_TOPIC_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS']) expect(byFamily['lifeboat-verify']![name]).toEqual(verifyEnv[name]);
    expect(byFamily['lifeboat-verify']!.LIFEBOAT_RUNNER_ROLE).toBe('verify');
  });

  it('gives each task role exactly the grants of its Lambda role, and the same vault-key tags', () => {
    const lambdas = lifeboat.primary.findResources('AWS::Lambda::Function');
    const logGroupIds = Object.keys(lifeboat.primary.findResources('AWS::Logs::LogGroup'));
    const roles = lifeboat.primary.findResources('AWS::IAM::Role');
    const tagKeys = (roleId: string) => ((roles[roleId]!.Properties.Tags ?? []) as { Key: string }[]).map((t) => t.Key).filter((k) => k.startsWith('lifeboat:key-use')).sort();
    const envOf = (definition: Resource) => Object.fromEntries((definition.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    for (const [, definition] of taskDefinitions) {
      const env = envOf(definition);
      const twin = Object.values(lambdas).find((f) => {
        const vars = f.Properties.Environment?.Variables ?? {};
        return vars.POWERTOOLS_SERVICE_NAME === env.POWERTOOLS_SERVICE_NAME && vars.LIFEBOAT_SOURCES === env.LIFEBOAT_SOURCES;
      })!;
      expect(twin, `${definition.Properties.Family} has a Lambda twin`).toBeDefined();
      const taskRoleId = roleIdOf(definition.Properties.TaskRoleArn);
      const lambdaRoleId = roleIdOf(twin.Properties.Role);
      const taskStatements = statementsOf(lifeboat.primary, taskRoleId);
      expect(taskStatements.length).toBeGreaterThan(3);
      // In any order: CDK moves statements of a large role into overflow managed policies, each role at its own points.
      const bySerial = (list: unknown[]) => list.map((s) => JSON.stringify(s)).sort();
      expect(bySerial(taskStatements)).toEqual(bySerial(ownStatements(lifeboat.primary, lambdaRoleId, logGroupIds)));
      expect(tagKeys(taskRoleId)).toEqual(tagKeys(lambdaRoleId));
      // Only ECS tasks of the runner's cluster assume it.
      expect(roles[taskRoleId]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:eu-west-1:123456789012:task/lifeboat-runner/*']] } } },
        },
      ]);
    }
  });

  it('lets the one execution role pull only the tools image and write only the runner log group', () => {
    const executionRoles = new Set(taskDefinitions.map(([, d]) => roleIdOf(d.Properties.ExecutionRoleArn)));
    expect(executionRoles.size).toBe(1);
    const [roleId] = [...executionRoles];
    const statements = statementsOf(lifeboat.primary, roleId!);
    const granted = statements.flatMap((s) => asList(s.Action).map((a) => `${a} ${JSON.stringify(s.Resource)}`)).sort();
    const pulls = granted.filter((g) => g.startsWith('ecr:') && !g.startsWith('ecr:GetAuthorizationToken'));
    expect(pulls.map((g) => g.split(' ')[0]).sort()).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    for (const pull of pulls) expect(pull).toMatch(/repository\/cdk-[a-z0-9]+-container-assets-123456789012-eu-west-1/);
    expect(granted.filter((g) => g.startsWith('ecr:GetAuthorizationToken'))).toEqual(['ecr:GetAuthorizationToken "*"']);
    const logs = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('logs:')));
    expect(logs.flatMap((s) => asList(s.Action)).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    for (const s of logs) expect(JSON.stringify(s.Resource)).toMatch(/BackupRunnerLogs/);
    expect(granted).toHaveLength(pulls.length + 1 + 2);
  });

  it('tells resolve-source, per dump source, the cluster, its task definitions, its network and size, and lets it read only manifests', () => {
    const [fnId, fn] = Object.entries(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Lifeboat: how a source is backed up') } }))[0]!;
    const routes = JSON.stringify(fn.Properties.Environment.Variables.LIFEBOAT_ROUTES).replace(/\\+"/g, '"');
    // The backup's task definitions (the DR step task is the plans', not resolve-source's).
    for (const [id, definition] of taskDefinitions) expect(routes.includes(id)).toBe(definition.Properties.Family !== 'lifeboat-drstep');
    expect(routes).toContain('subnet-0a1b2c3d4e5f60001');
    expect(routes).toContain('sg-0a1b2c3d4e5f60004');
    // The verification network of the example config.
    expect(routes).toContain('sg-0a1b2c3d4e5f60005');
    expect(routes).toContain('"runner":"auto"');
    const roleId = roleIdOf(fn.Properties.Role);
    const own = statementsOf(lifeboat.primary, roleId).filter((s) => s.Sid !== undefined);
    expect(own.map((s) => [s.Sid, asList(s.Action)])).toEqual([
      ['ReadDumpManifests', ['s3:GetObject']],
      ['ListBackups', ['s3:ListBucket']],
      // The uploads file set may go on on Fargate: its snapshot's manifest is read back from filesets/.
      ['ReadFileSetManifests', ['s3:GetObject']],
      ['ReadManifests', ['kms:Decrypt']],
    ]);
    const vaultArn = { 'Fn::GetAtt': [expect.stringMatching(/^VaultBucket/), 'Arn'] };
    expect(own[2]!.Resource).toEqual({ 'Fn::Join': ['', [vaultArn, '/filesets/uploads/snapshots/*/manifest.json']] });
    expect(asList(own[0]!.Resource)).toHaveLength(3);
    for (const id of ['orders-db', 'billing-db', 'sessions-cache']) expect(asList(own[0]!.Resource)).toContainEqual({ 'Fn::Join': ['', [vaultArn, `/backups/${id}/*/manifest.json`]] });
    expect(own[1]!.Condition).toEqual({ StringLike: { 's3:prefix': ['backups/orders-db/*', 'backups/billing-db/*', 'backups/sessions-cache/*'] } });
    expect(fnId).toMatch(/ResolveSource/);
  });

  it('sizes a source\'s task by its fargate settings and pins its runner', () => {
    const custom = synthLifeboat(
      exampleConfig((raw) => {
        raw.sources[0].runner = 'fargate';
        raw.sources[0].fargate = { cpu: 8192, memoryMiB: 32768 };
      }),
    );
    const [, fn] = Object.entries(custom.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Lifeboat: how a source is backed up') } }))[0]!;
    const routes = JSON.stringify(fn.Properties.Environment.Variables.LIFEBOAT_ROUTES).replace(/\\+"/g, '"');
    expect(routes).toMatch(/"id":"orders-db","method":"both",.*"runner":"fargate","fargate":\{.*"cpu":8192,"memoryMiB":32768,"autoAfterMinutes":10,"autoAboveRawGiB":40\}/);
  });
});
