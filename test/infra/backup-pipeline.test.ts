import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat, SYNTH_TIMEOUT_MS } from './support.ts';

type Resource = { Type: string; Properties: Record<string, any> };

const asl = JSON.parse(readFileSync(fileURLToPath(new URL('../../statemachines/backup.asl.json', import.meta.url)), 'utf8')) as {
  States: Record<string, { Type: string; Resource?: string; Parameters?: Record<string, unknown> }>;
};

function only(template: Template, type: string, props: Record<string, unknown> = {}): [string, Resource] {
  const found = Object.entries(template.findResources(type, props ? { Properties: props } : undefined));
  expect(found, `exactly one ${type} matching ${JSON.stringify(props)}`).toHaveLength(1);
  return found[0] as [string, Resource];
}

/** The statements of the policy attached to a role, by the role's logical id. */
function statementsOf(template: Template, roleId: string): { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = [...Object.values(template.findResources('AWS::IAM::Policy')), ...Object.values(template.findResources('AWS::IAM::ManagedPolicy'))].filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId));
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const asList = <T,>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

describe('the backup pipeline from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat();
  }, SYNTH_TIMEOUT_MS);

  it('deploys one state machine, lifeboat-backup, only in the primary region, logging ALL with execution data and traced by X-Ray', () => {
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-backup' });
    expect(machine.Properties).toMatchObject({
      StateMachineName: 'lifeboat-backup',
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
      TracingConfiguration: { Enabled: true },
    });
    const [logGroupId, logGroup] = only(lifeboat.primary, 'AWS::Logs::LogGroup', { LogGroupName: '/aws/vendedlogs/states/lifeboat-backup' });
    expect(logGroup.Properties.KmsKeyId).toBeDefined();
    expect(JSON.stringify(machine.Properties.LoggingConfiguration.Destinations)).toContain(logGroupId);
    lifeboat.dr.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    // The DR region schedules only its own watch on the copies (infra/constructs/dr-watch.ts), no backup.
    expect(Object.values(lifeboat.dr.findResources('AWS::Scheduler::Schedule')).map((s) => s.Properties.Name)).toEqual(['lifeboat-dr-freshness']);
  });

  it('deploys statemachines/backup.asl.json as it is, with exactly the substitutions it asks for', () => {
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-backup' });
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    const text = readFileSync(fileURLToPath(new URL('../../statemachines/backup.asl.json', import.meta.url)), 'utf8');
    const asked = [...new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort();
    expect(Object.keys(machine.Properties.DefinitionSubstitutions).sort()).toEqual(asked);
    expect(definition).toContain('BackupFailed');
    expect(machine.Properties.DefinitionSubstitutions.Region).toBe('eu-west-1');
  });

  it("allows the state machine's role exactly what its tasks call, and nothing else", () => {
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-backup' });
    const substitutions = machine.Properties.DefinitionSubstitutions as Record<string, unknown>;
    const dumpFunctions = Object.keys(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('pg_dump') } }));
    expect(dumpFunctions).toHaveLength(2);
    const topicKey = only(lifeboat.primary, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('alert') })[0];

    // What the ASL's Task states call, resource by resource.
    const expected = new Set<string>();
    for (const state of Object.values(asl.States)) {
      if (state.Type !== 'Task') continue;
      const resource = state.Resource!;
      const placeholder = /^\$\{(\w+)\}$/.exec(resource)?.[1];
      if (placeholder) expected.add(`lambda:InvokeFunction ${JSON.stringify(substitutions[placeholder])}`);
      else if (resource === 'arn:aws:states:::lambda:invoke') {
        // FunctionName comes from DescribeSource: any of the dump functions, the file-set or the config backup function.
        expect(state.Parameters?.['FunctionName.$']).toBe('$.source.dumpFunctionArn');
        const [fileSetBackup] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('snapshots of S3 file sets') });
        const [configBackup] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('SSM parameters, Secrets Manager secrets') });
        for (const id of [...dumpFunctions, fileSetBackup, configBackup]) expected.add(`lambda:InvokeFunction ${JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] })}`);
      } else if (resource === 'arn:aws:states:::sns:publish') {
        expected.add(`sns:Publish ${JSON.stringify(substitutions.AlertTopicArn)}`);
        for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) expected.add(`${action} ${JSON.stringify({ 'Fn::GetAtt': [topicKey, 'Arn'] })}`);
      } else if (resource === 'arn:aws:states:::aws-sdk:cloudwatch:putMetricData') {
        expected.add('cloudwatch:PutMetricData "*"');
      } else if (resource === 'arn:aws:states:::ecs:runTask.sync') {
        // RunTask of exactly the runner's task definitions (dumps, the file-set task, verify and copy), PassRole of exactly their roles and
        // the execution role, stopping and describing the runner cluster's tasks, and the managed events rule.
        expect(state.Parameters).toMatchObject({ 'Cluster.$': '$.source.fargate.cluster', LaunchType: 'FARGATE', NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } } });
        // The backup's task definitions; the DR step task (lifeboat-drstep) is the plans' to run, not this machine's.
        const taskDefinitions = Object.fromEntries(Object.entries(lifeboat.primary.findResources('AWS::ECS::TaskDefinition')).filter(([, d]) => d.Properties.Family !== 'lifeboat-drstep'));
        expect(Object.keys(taskDefinitions)).toHaveLength(5);
        for (const [id, definition] of Object.entries(taskDefinitions)) {
          expected.add(`ecs:RunTask ${JSON.stringify({ Ref: id })}`);
          expected.add(`iam:PassRole ${JSON.stringify(definition.Properties.TaskRoleArn)}`);
          expected.add(`iam:PassRole ${JSON.stringify(definition.Properties.ExecutionRoleArn)}`);
        }
        const ecsTasks = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:eu-west-1:123456789012:task/lifeboat-runner/*']] };
        for (const action of ['ecs:StopTask', 'ecs:DescribeTasks']) expected.add(`${action} ${JSON.stringify(ecsTasks)}`);
        const rule = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule']] };
        for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule']) expected.add(`${action} ${JSON.stringify(rule)}`);
      } else {
        throw new Error(`a Task calls ${resource}: add what it needs to this test and to the role`);
      }
    }

    const roleId = (machine.Properties.RoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    const granted = new Set<string>();
    for (const statement of statementsOf(lifeboat.primary, roleId)) {
      const actions = asList(statement.Action);
      // Log delivery and X-Ray are what CDK adds for `logs` and `tracingEnabled`.
      if (actions.every((a) => a.startsWith('logs:') || a.startsWith('xray:'))) continue;
      for (const action of actions) for (const resource of asList(statement.Resource)) granted.add(`${action} ${JSON.stringify(resource)}`);
      if (actions.includes('cloudwatch:PutMetricData')) expect(statement.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'Lifeboat' } });
      if (actions.includes('ecs:RunTask')) expect(statement.Condition).toEqual({ ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/RunnerCluster/), 'Arn'] } } });
      if (actions.includes('iam:PassRole')) expect(statement.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    }
    expect([...granted].sort()).toEqual([...expected].sort());
  });

  it('has one schedule per source in one schedule group, with its cron, time zone, flexible window, retry policy, dead letters and input', () => {
    const [groupId, group] = only(lifeboat.primary, 'AWS::Scheduler::ScheduleGroup');
    expect(group.Properties.Name).toBe('lifeboat-backups');
    const [startId] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: starts one backup execution') });
    const [dlqId] = Object.entries(lifeboat.primary.findResources('AWS::SQS::Queue')).find(([id]) => id.includes('ScheduleDeadLetters'))!;
    // The group's schedules: the freshness schedule (docs/monitoring.md) is outside it.
    const schedules = lifeboat.primary.findResources('AWS::Scheduler::Schedule', { Properties: { GroupName: 'lifeboat-backups' } });
    expect(Object.keys(schedules)).toHaveLength(6);
    const byName = Object.fromEntries(Object.values(schedules).map((s) => [s.Properties.Name, s.Properties]));
    const expectSchedule = (sourceId: string, cron: string, timeZone: string, window: { Mode: string; MaximumWindowInMinutes?: number }) => {
      expect(byName[sourceId]).toMatchObject({
        GroupName: 'lifeboat-backups',
        ScheduleExpression: `cron(${cron})`,
        ScheduleExpressionTimezone: timeZone,
        FlexibleTimeWindow: window,
        State: 'ENABLED',
        Target: {
          Arn: { 'Fn::GetAtt': [startId, 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
        },
      });
      // The group is named, so CloudFormation needs the explicit dependency to create it first.
      const [, schedule] = Object.entries(schedules).find(([, s]) => s.Properties.Name === sourceId)!;
      expect(schedule.DependsOn).toContain(groupId);
      expect(JSON.parse(byName[sourceId].Target.Input)).toEqual({ sourceId, trigger: 'schedule', scheduledTime: '<aws.scheduler.scheduled-time>' });
    };
    // orders-db: every 4 hours with a 270-minute RPO leaves no slack beyond its 30 minutes of backing up, so no flexible window.
    expectSchedule('orders-db', '0 */4 * * ? *', 'Europe/Dublin', { Mode: 'OFF' });
    // billing-db: daily with a 1500-minute RPO leaves an hour: the default window of 15 minutes.
    expectSchedule('billing-db', '30 2 * * ? *', 'Europe/Berlin', { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
    // catalog-docdb (DocumentDB, snapshots only): the same, at 04:00.
    expectSchedule('catalog-docdb', '0 4 * * ? *', 'Europe/Berlin', { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
    // sessions-cache (ElastiCache): hourly at :15 with a 180-minute RPO leaves 90 minutes: the default window of 15.
    expectSchedule('sessions-cache', '15 * * * ? *', 'Europe/Berlin', { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
    // uploads (S3 file set): every 6 hours at :30 with a 420-minute RPO leaves 30 minutes beyond its 30 of backing up: 15.
    expectSchedule('uploads', '30 */6 * * ? *', 'Europe/Berlin', { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
    // orders-config: hourly at :15 with a 90-minute RPO leaves nothing beyond its 30 of backing up: no window.
    expectSchedule('orders-config', '15 * * * ? *', 'Europe/Berlin', { Mode: 'OFF' });
    expectSchedule('sessions-cache', '15 * * * ? *', 'Europe/Berlin', { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
  });

  it('lets the schedules invoke only the start-backup function, and start-backup start only the backup state machine', () => {
    const [startId, start] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: starts one backup execution') });
    const [machineId] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-backup' });
    expect(start.Properties.Environment.Variables).toMatchObject({ BACKUP_STATE_MACHINE_ARN: { Ref: machineId }, LIFEBOAT_SOURCE_IDS: '["orders-db","billing-db","catalog-docdb","sessions-cache","uploads","orders-config"]' });
    const [schedulerRoleId, schedulerRole] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('^Lifeboat backup schedules') });
    expect(schedulerRole.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } },
    ]);
    const schedulerActions = statementsOf(lifeboat.primary, schedulerRoleId).flatMap((s) => asList(s.Action));
    expect(schedulerActions.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 'lambda:InvokeFunction', 'sqs:SendMessage']);
    const startRoleId = (start.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    const startStatements = statementsOf(lifeboat.primary, startRoleId).filter((s) => s.Sid === 'StartBackups' || s.Sid === 'DescribeBackups');
    expect(startStatements).toEqual([
      { Sid: 'StartBackups', Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: machineId } },
      {
        Sid: 'DescribeBackups',
        Effect: 'Allow',
        Action: 'states:DescribeExecution',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:execution:lifeboat-backup:*']] },
      },
    ]);
    expect(startId).toBeDefined();
  });

  it('routes each source to its method and the dump function of its network', () => {
    const [, resolve] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: how a source is backed up') });
    const routes = JSON.stringify(lifeboat.stacks.primary.resolve(resolve.Properties.Environment.Variables.LIFEBOAT_ROUTES));
    expect(routes).toContain('\\"id\\":\\"orders-db\\",\\"method\\":\\"both\\"');
    expect(routes).toContain('\\"id\\":\\"billing-db\\",\\"method\\":\\"dump\\"');
    expect(routes).toMatch(/orders-db.*BackupDump1Function.*billing-db.*BackupDump2Function/);
    // The cache's export runs in the dump function of its network, with the same Fargate fallback as a dump.
    expect(routes).toMatch(/\\"id\\":\\"sessions-cache\\",\\"method\\":\\"dump\\",\\"dumpFunctionArn\\":.*BackupDump2Function.*\\"runner\\":\\"auto\\"/);
  });

  it('names the DR vault and DR key exactly as the DR stack creates them, without a reference back', () => {
    const [, copy] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: copies backups') });
    const env = copy.Properties.Environment.Variables;
    const [, drBucket] = only(lifeboat.dr, 'AWS::S3::Bucket', { ObjectLockEnabled: true });
    expect(env.DR_VAULT_BUCKET).toEqual(drBucket.Properties.BucketName);
    expect(env.DR_VAULT_BUCKET).toEqual({ 'Fn::Join': ['', ['lifeboat-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] });
    expect(env.DR_REGION).toBe('eu-central-1');
    expect(env.MAX_SNAPSHOT_COPIES_IN_FLIGHT).toBe('20');
    const [primaryKeyId] = only(lifeboat.primary, 'AWS::KMS::Key', { MultiRegion: true });
    // The replica of a multi-Region key keeps the primary's key id.
    expect(env.DR_VAULT_KEY_ARN).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:eu-central-1:', { Ref: 'AWS::AccountId' }, ':key/', { Ref: primaryKeyId }]] });
  });

  it('tags each pipeline role for the vault-key uses it needs: only the verify role may decrypt backups, prune only file sets\' indexes', () => {
    const tagsOf = (description: string) => {
      const [, role] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: description });
      return (role.Properties.Tags ?? []).filter((t: { Key: string }) => t.Key.startsWith('lifeboat:key-use')).map((t: { Key: string }) => t.Key).sort();
    };
    expect(tagsOf('Lifeboat verify function')).toEqual(['lifeboat:key-use-decrypt', 'lifeboat:key-use-encrypt']);
    // resolve-source reads manifests, which S3 decrypts only for writers (the key policy's WritersDecryptOnlyThroughS3).
    for (const name of ['snapshot', 'copy', 'resolve-source']) expect(tagsOf(`Lifeboat ${name} function`)).toEqual(['lifeboat:key-use-encrypt']);
    // Retention keeps a file set's packs that a kept snapshot's index names: it unwraps data keys whose context names a file set, nothing else.
    expect(tagsOf('Lifeboat prune function')).toEqual(['lifeboat:key-use-decrypt', 'lifeboat:key-use-encrypt']);
    const [, prunePolicy] = only(lifeboat.primary, 'AWS::IAM::Policy', { PolicyName: Match.stringLikeRegexp('^PipelinePruneRole') });
    const decrypts = prunePolicy.Properties.PolicyDocument.Statement.filter((st: { Action: unknown }) => st.Action === 'kms:Decrypt');
    for (const statement of decrypts) expect(statement.Condition).toBeDefined();
    expect(decrypts.find((st: { Sid: string }) => st.Sid === 'ReadFileSetIndexes').Condition).toEqual({ StringEquals: { 'kms:EncryptionContext:lifeboat:source': ['uploads'] } });
    for (const name of ['start-backup']) expect(tagsOf(`Lifeboat ${name} function`)).toEqual([]);
  });

  it('never lets the snapshot function write or remove a verification result, though it writes manifests under the same prefixes', () => {
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat snapshot function' });
    const denies = statementsOf(lifeboat.primary, roleId).filter((st) => (st as { Effect?: string }).Effect === 'Deny');
    expect(denies).toEqual([
      {
        Sid: 'NeverWriteVerificationResults',
        Effect: 'Deny',
        Action: ['s3:DeleteObject', 's3:PutObject'],
        // The snapshot sources' folders: orders-db (dump and snapshot) and catalog-docdb (snapshots only).
        Resource: ['catalog-docdb', 'orders-db'].map((id) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^VaultBucket/), 'Arn'] }, `/backups/${id}/*/verifications/*`]] })),
      },
    ]);
  });

  it('lets the prune function delete only Lifeboat-tagged snapshots, in both regions', () => {
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat prune function' });
    const [statement] = statementsOf(lifeboat.primary, roleId).filter((s) => s.Sid === 'DeleteOwnSnapshots');
    // Instance snapshots (orders-db) and cluster snapshots (catalog-docdb).
    expect(statement).toMatchObject({ Effect: 'Allow', Action: ['rds:DeleteDBClusterSnapshot', 'rds:DeleteDBSnapshot'], Condition: { StringEquals: { 'aws:ResourceTag/lifeboat:managed-by': 'lifeboat' } } });
    const arn = (region: string, type: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:rds:${region}:123456789012:${type}:lifeboat-*`]] });
    expect(asList(statement!.Resource)).toHaveLength(4);
    expect(asList(statement!.Resource)).toEqual(
      expect.arrayContaining([arn('eu-west-1', 'snapshot'), arn('eu-central-1', 'snapshot'), arn('eu-west-1', 'cluster-snapshot'), arn('eu-central-1', 'cluster-snapshot')]),
    );
  });

  it("lets the copy function resume its own DR uploads: list the DR vault's uploads and their parts under backups/", () => {
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat copy function' });
    const bySid = new Map(statementsOf(lifeboat.primary, roleId).map((s) => [s.Sid, s]));
    const drBucket = (suffix: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::lifeboat-', { Ref: 'AWS::AccountId' }, `-eu-central-1${suffix}`]] });
    expect(bySid.get('ResumeDrUploads')).toMatchObject({ Action: 's3:ListBucketMultipartUploads', Resource: drBucket('') });
    expect(bySid.get('ResumeDrUploadParts')).toMatchObject({ Action: 's3:ListMultipartUploadParts', Resource: drBucket('/backups/*') });
  });

  it('passes the verify function its dump sources with their SQL checks, the verification servers, their network and their credentials', () => {
    const [, verify] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: verifies a dump') });
    expect(verify.Properties.PackageType).toBe('Image');
    expect(verify.Properties.VpcConfig).toEqual({ SubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'], SecurityGroupIds: ['sg-0a1b2c3d4e5f60005'] });
    const env = verify.Properties.Environment.Variables;
    const pgSecret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeboat/scratch-pg-Qw3Er5';
    const mysqlSecret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeboat/scratch-mysql-Ty7Ui9';
    expect(JSON.parse(env.VERIFY_SERVERS)).toEqual({
      postgresql: { host: 'lifeboat-scratch-pg.cluster-c0ffee.eu-west-1.rds.amazonaws.com', port: 5432, secretArn: pgSecret },
      mysql: { host: 'lifeboat-scratch-mysql.cluster-c0ffee.eu-west-1.rds.amazonaws.com', port: 3306, secretArn: mysqlSecret },
    });
    const sources = JSON.parse(env.LIFEBOAT_SOURCES);
    expect(sources.map((s: { id: string }) => s.id)).toEqual(['orders-db', 'billing-db', 'sessions-cache', 'orders-config', 'uploads']);
    expect(sources[0].sqlChecks).toEqual(['SELECT count(*) > 0 FROM orders']);
    expect(sources[1].sqlChecks).toBeUndefined();
    // A cache is verified in a scratch redis-server inside this image: no server, no credentials.
    expect(sources[2]).toEqual({ id: 'sessions-cache', engine: 'redis', elasticache: { replicationGroupId: 'sessions-prod' } });
    // A file set is checked pack by pack: its location and the share of older packs each run reads.
    // A configuration backup is read back item by item: its id and kind are all the verifier needs.
    expect(sources[3]).toEqual({ id: 'orders-config', kind: 'config' });
    expect(sources[4]).toEqual({ id: 'uploads', kind: 'fileset', s3: { bucket: 'orders-app-uploads', prefix: 'media/' }, readDataPercent: 10 });
    expect(JSON.stringify(env)).not.toMatch(/password/i);
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat verify function' });
    const [statement] = statementsOf(lifeboat.primary, roleId).filter((s) => s.Sid === 'ReadVerificationServerCredentials');
    expect(statement).toMatchObject({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue' });
    expect(asList(statement!.Resource).sort()).toEqual([mysqlSecret, pgSecret]);
  });
});

describe('the backup pipeline as sources change', () => {
  // DR plans are counted apart: a source without a plan of its own gets a default plan, a state machine of
  // its own by design (test/infra/dr-plans.test.ts); the backup pipeline is what must not grow per source.
  // Monitoring too: a source's alarms and dashboard row, and its DR copy lag alarm in the DR region, are its own by design (test/infra/monitoring.test.ts).
  const outsidePlans = (template: Template) => Object.keys(template.toJSON().Resources).filter((id) => !id.startsWith('Plans') && !id.startsWith('Monitoring') && !id.startsWith('DrWatch'));
  const totalResources = (lifeboat: SynthesizedLifeboat) => outsidePlans(lifeboat.primary).length + outsidePlans(lifeboat.dr).length;
  const countOf = (lifeboat: SynthesizedLifeboat, type: string) => Object.keys(lifeboat.primary.findResources(type)).filter((id) => !id.startsWith('Plans') && !id.startsWith('Monitoring')).length;

  it.each([
    ['a dump source in a network a dump function already serves', { kind: 'rds-postgres', id: 'users-db', instanceIdentifier: 'users-prod', database: 'users', method: 'dump' }],
    // Of an engine the restore test already admits: the first source on a new port adds its security-group rules.
    ['a snapshot-only source', { kind: 'rds-postgres', id: 'ledger-db', instanceIdentifier: 'ledger-prod', method: 'snapshot' }],
  ])('adding %s adds at most two resources: its schedule, and no function or state machine', (_, added) => {
    const before = synthLifeboat();
    const after = synthLifeboat(
      exampleConfig((raw) => {
        const { method, ...source } = added;
        raw.sources.push({
          ...source,
          credentialsSecretArn: raw.sources[0].credentialsSecretArn,
          network: raw.sources[0].network,
          schedule: { cron: '0 3 * * ? *', timeZone: 'UTC' },
          backup: { method },
          objectives: { rpoMinutes: 1500, rtoMinutes: 60 },
        });
      }),
    );
    expect(totalResources(after) - totalResources(before)).toBeGreaterThanOrEqual(1);
    expect(totalResources(after) - totalResources(before)).toBeLessThanOrEqual(2);
    expect(countOf(after, 'AWS::Scheduler::Schedule')).toBe(countOf(before, 'AWS::Scheduler::Schedule') + 1);
    for (const type of ['AWS::Lambda::Function', 'AWS::StepFunctions::StateMachine', 'AWS::IAM::Role']) expect(countOf(after, type), type).toBe(countOf(before, type));
  });

  it('without verification servers, runs the verify function outside any VPC with no server (integrity and structure checks only)', () => {
    const lifeboat = synthLifeboat(
      exampleConfig((raw) => {
        delete raw.verification;
        // The example's plan restores a dump: a drill needs the verification servers this config drops.
        delete raw.plans;
      }),
    );
    const [, verify] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: verifies a dump') });
    expect(verify.Properties.VpcConfig).toBeUndefined();
    expect(verify.Properties.Environment.Variables.VERIFY_SERVERS).toBe('{}');
  });

  it('deploys the snapshot restore test for the snapshot sources only when configured', () => {
    const name = (lifeboat: SynthesizedLifeboat) =>
      Object.values(lifeboat.primary.findResources('AWS::StepFunctions::StateMachine'))
        .map((m) => m.Properties.StateMachineName)
        .filter((n) => !n.includes('-plan-'))
        .sort();
    expect(name(synthLifeboat())).toEqual(['lifeboat-backup', 'lifeboat-restore-test']);
    expect(name(synthLifeboat(exampleConfig((raw) => delete raw.snapshotRestoreTest)))).toEqual(['lifeboat-backup']);
  });

  it('a snapshot-only deployment still gets the whole pipeline, and no dump function', () => {
    const lifeboat = synthLifeboat(
      exampleConfig((raw) => {
        raw.sources = raw.sources.filter((source: { kind: string }) => source.kind !== 'elasticache-redis' && source.kind !== 's3' && source.kind !== 'config');
        for (const source of raw.sources) source.backup = { method: 'snapshot' };
        // The example's plan restores orders-db's dump, which a snapshot-only source does not have.
        delete raw.plans;
      }),
    );
    only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-backup' });
    expect(Object.keys(lifeboat.primary.findResources('AWS::Scheduler::Schedule', { Properties: { GroupName: 'lifeboat-backups' } }))).toHaveLength(3);
    const [, resolve] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: how a source is backed up') });
    expect(JSON.parse(resolve.Properties.Environment.Variables.LIFEBOAT_ROUTES)).toEqual([
      { id: 'orders-db', method: 'snapshot' },
      { id: 'billing-db', method: 'snapshot' },
      { id: 'catalog-docdb', method: 'snapshot' },
    ]);
  });
});
