import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compilePlan, PLAN_SUBSTITUTIONS } from '../../infra/plans/compile.ts';
import { plansWithDefaults } from '../../infra/config/index.ts';
import { APPROVAL_LIMITS } from '../../functions/approval/limits.ts';
import { ordersRestorePlan } from '../fixtures/plans.ts';
import { exampleConfig, snapshotPlanConfig, synthLifeboat, testApp, type SynthesizedLifeboat, SYNTH_TIMEOUT_MS } from './support.ts';
import { buildLifeboat } from '../../infra/lifeboat.ts';

type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };

function only(template: Template, type: string, props: Record<string, unknown>): [string, Resource] {
  const found = Object.entries(template.findResources(type, { Properties: props }));
  expect(found, `exactly one ${type} matching ${JSON.stringify(props)}`).toHaveLength(1);
  return found[0] as [string, Resource];
}

const asList = <T,>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function statementsOf(template: Template, roleId: string): { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  return [...Object.values(template.findResources('AWS::IAM::Policy')), ...Object.values(template.findResources('AWS::IAM::ManagedPolicy'))]
    .filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** The example config plus the plan of docs/dr-plans.md for orders-db (backup, approval, restore into a named target, validate, notify), with two contacts. */
const withPlan = () =>
  exampleConfig((raw) => {
    raw.plans = [
      {
        ...ordersRestorePlan('arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd'),
        contacts: [
          { name: 'Ana Lima', email: 'ana@example.com' },
          { name: 'Ben Ode', email: 'ben@example.com' },
        ],
      },
    ];
  });

describe('DR plans in the primary stack', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(withPlan());
  }, SYNTH_TIMEOUT_MS);

  it('deploys one state machine per plan, default plans included, logging errors without execution data (the task token) and traced, only in the primary region', () => {
    const names = Object.values(lifeboat.primary.findResources('AWS::StepFunctions::StateMachine'))
      .map((m) => m.Properties.StateMachineName as string)
      .filter((n) => n.includes('-plan-'))
      .sort();
    // orders-db has a plan naming it; billing-db and catalog-docdb get their default plans.
    expect(names).toEqual(['lifeboat-plan-billing-db-default', 'lifeboat-plan-catalog-docdb-default', 'lifeboat-plan-orders-restore']);
    for (const name of names) {
      const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: name });
      expect(machine.Properties).toMatchObject({ StateMachineType: 'STANDARD', TracingConfiguration: { Enabled: true } });
      // Exactly: no level that logs inputs, no execution data.
      expect(machine.Properties.LoggingConfiguration.Level).toBe('ERROR');
      expect(machine.Properties.LoggingConfiguration.IncludeExecutionData).toBe(false);
    }
    expect(Object.keys(lifeboat.dr.findResources('AWS::StepFunctions::StateMachine'))).toHaveLength(0);
  });

  it('deploys exactly the compiled plan, with the substitutions the compiler asks for', () => {
    const config = withPlan();
    const plan = plansWithDefaults(config).find((p) => p.name === 'orders-restore')!;
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-plan-orders-restore' });
    // The example's verification network: where the DR step Lambda runs, and so its Fargate task.
    const network = { subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'], securityGroups: ['sg-0a1b2c3d4e5f60005'] };
    const fargate = { networks: { 'orders-db': network, 'billing-db': network } };
    expect(JSON.parse(machine.Properties.DefinitionString)).toEqual(compilePlan(plan, { name: 'lifeboat', fargate }));
    expect(Object.keys(machine.Properties.DefinitionSubstitutions).sort()).toEqual([...PLAN_SUBSTITUTIONS].sort());
  });

  it('mails each contact through the plan’s own encrypted topic', () => {
    const [topicId, topic] = only(lifeboat.primary, 'AWS::SNS::Topic', { TopicName: 'lifeboat-plan-orders-restore-contacts' });
    expect(topic.Properties.KmsMasterKeyId).toBeDefined();
    const endpoints = Object.values(lifeboat.primary.findResources('AWS::SNS::Subscription', { Properties: { TopicArn: { Ref: topicId } } })).map((s) => [s.Properties.Protocol, s.Properties.Endpoint]);
    expect(endpoints.sort()).toEqual([
      ['email', 'ana@example.com'],
      ['email', 'ben@example.com'],
    ]);
  });

  it("lets a plan's role invoke only the DR step and approval functions and start and follow only the backup state machine", () => {
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-plan-orders-restore' });
    const roleId = machine.Properties.RoleArn['Fn::GetAtt'][0] as string;
    const [backupId] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-backup' });
    const [drStepId] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: runs DR plan steps') });
    const [requestId] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: stores an approval task token') });
    const ours = statementsOf(lifeboat.primary, roleId).filter((s) => asList(s.Action).some((a) => !a.startsWith('logs:') && !a.startsWith('xray:')));
    // Its restore-dump step has the default 120 minutes: the DR step task on Fargate (see the next describe).
    expect(ours.map((s) => s.Sid)).toEqual(['InvokePlanFunctions', 'StartBackups', 'FollowBackups', 'SyncExecutionEvents', 'RunDrStepTask', 'PassDrStepTaskRoles', 'WatchDrStepTasks', 'ManagedRuleForTaskEvents']);
    expect(ours[0]!.Resource).toEqual([{ 'Fn::GetAtt': [drStepId, 'Arn'] }, { 'Fn::GetAtt': [requestId, 'Arn'] }]);
    expect(ours[1]).toMatchObject({ Action: 'states:StartExecution', Resource: { Ref: backupId } });
  });

  it('serves approvals only through a regional REST API (GET and POST of /approvals/{approvalId}, exp and sig required), no function URL', () => {
    const [endpointId, endpoint] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: the approval page') });
    expect(Object.keys(lifeboat.primary.findResources('AWS::Lambda::Url'))).toHaveLength(0);
    const [apiId, api] = only(lifeboat.primary, 'AWS::ApiGateway::RestApi', {});
    expect(api.Properties).toMatchObject({ Name: 'lifeboat-approvals', EndpointConfiguration: { Types: ['REGIONAL'] } });
    const methods = Object.values(lifeboat.primary.findResources('AWS::ApiGateway::Method'));
    expect(methods.map((m) => m.Properties.HttpMethod).sort()).toEqual(['GET', 'POST']);
    for (const method of methods) {
      expect(method.Properties).toMatchObject({
        AuthorizationType: 'NONE',
        RequestParameters: { 'method.request.querystring.exp': true, 'method.request.querystring.sig': true, 'method.request.path.approvalId': true },
        Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' },
      });
    }
    const [, resource] = only(lifeboat.primary, 'AWS::ApiGateway::Resource', { PathPart: '{approvalId}' });
    expect(resource.Properties.ParentId.Ref).toMatch(/ApprovalApiapprovals/);
    // Only API Gateway may invoke the endpoint, and only through this API's methods.
    const permissions = Object.values(lifeboat.primary.findResources('AWS::Lambda::Permission', { Properties: { FunctionName: { 'Fn::GetAtt': [endpointId, 'Arn'] } } }));
    expect(permissions.length).toBeGreaterThan(0);
    for (const permission of permissions) {
      expect(permission.Properties.Principal).toBe('apigateway.amazonaws.com');
      expect(JSON.stringify(permission.Properties.SourceArn)).toContain(apiId);
    }
    const [, request] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: stores an approval task token') });
    expect(JSON.stringify(request.Properties.Environment.Variables.APPROVAL_BASE_URL)).toContain(apiId);
    expect(endpoint.Properties.ReservedConcurrentExecutions).toBe(APPROVAL_LIMITS.reservedConcurrency);
    // The endpoint knows no base URL and names the plans by pattern: no cycle through the request function.
    expect(endpoint.Properties.Environment.Variables.APPROVAL_BASE_URL).toBeUndefined();
    const roleId = endpoint.Properties.Role['Fn::GetAtt'][0] as string;
    const decide = statementsOf(lifeboat.primary, roleId).find((s) => s.Sid === 'AnswerPlanTasks')!;
    // A refusal is a success with `approved: false`: the endpoint never sends SendTaskFailure.
    expect(decide.Action).toBe('states:SendTaskSuccess');
    expect(decide.Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:stateMachine:lifeboat-plan-*']] });
    const verify = statementsOf(lifeboat.primary, roleId).find((s) => s.Sid === 'VerifyLinks')!;
    const [keyId, key] = only(lifeboat.primary, 'AWS::KMS::Key', { KeySpec: 'HMAC_256', Description: 'Lifeboat approval links: HMAC-SHA-256 signatures' });
    expect(key.Properties.KeyUsage).toBe('GENERATE_VERIFY_MAC');
    expect(verify).toMatchObject({ Action: 'kms:VerifyMac', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } });
  });

  it('puts the API behind a regional WAF web ACL: a rate limit per client first, approval-link paths only, IP reputation; stage throttling; logs without the query', () => {
    const [aclId, acl] = only(lifeboat.primary, 'AWS::WAFv2::WebACL', {});
    expect(acl.Properties).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    const rules = acl.Properties.Rules as { Name: string; Priority: number; Statement: unknown; Action?: unknown; OverrideAction?: unknown }[];
    expect(rules.map((r) => [r.Priority, r.Name])).toEqual([[0, 'RequestsPerClient'], [1, 'ApprovalLinksOnly'], [2, 'IpReputation']]);
    expect(rules[0]).toMatchObject({
      Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: APPROVAL_LIMITS.requestsPerClient, EvaluationWindowSec: APPROVAL_LIMITS.windowSeconds } },
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
    });
    expect(rules[1]!.Statement).toEqual({
      NotStatement: { Statement: { RegexMatchStatement: { RegexString: '^/approve/approvals/[A-Za-z0-9_-]{22,64}$', FieldToMatch: { UriPath: {} }, TextTransformations: [{ Priority: 0, Type: 'NONE' }] } } },
    });
    expect(rules[2]!.Statement).toEqual({ ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' } });
    const [stageId, stage] = only(lifeboat.primary, 'AWS::ApiGateway::Stage', { StageName: 'approve' });
    const [, association] = only(lifeboat.primary, 'AWS::WAFv2::WebACLAssociation', {});
    expect(association.Properties.WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(JSON.stringify(association.Properties.ResourceArn)).toContain(stageId);
    expect(stage.Properties.MethodSettings).toEqual([
      {
        DataTraceEnabled: false,
        HttpMethod: '*',
        LoggingLevel: 'ERROR',
        MetricsEnabled: true,
        ResourcePath: '/*',
        ThrottlingBurstLimit: APPROVAL_LIMITS.stageBurstLimit,
        ThrottlingRateLimit: APPROVAL_LIMITS.stageRateLimit,
      },
    ]);
    expect(stage.Properties.TracingEnabled).toBe(true);
    const accessLogFormat = JSON.parse(stage.Properties.AccessLogSetting.Format);
    expect(Object.values(accessLogFormat)).not.toContain('$context.requestOverride.querystring');
    expect(JSON.stringify(accessLogFormat)).not.toMatch(/querystring|queryString/i);
    const [, logging] = only(lifeboat.primary, 'AWS::WAFv2::LoggingConfiguration', {});
    expect(logging.Properties.RedactedFields).toEqual([{ QueryString: {} }]);
  });

  it('keeps pending approvals in a table keyed by approval id, expiring with their step', () => {
    const [, table] = only(lifeboat.primary, 'AWS::DynamoDB::Table', {});
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'approvalId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
    });
  });

  it('lets the DR step function delete only drill-named, drill-tagged databases, and read the secrets of the targets it restores into', () => {
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat DR step function' });
    const statements = statementsOf(lifeboat.primary, roleId);
    const deletes = statements.find((s) => s.Sid === 'DeleteDrillDatabases')!;
    expect(asList(deletes.Action).sort()).toEqual(['rds:DeleteDBCluster', 'rds:DeleteDBInstance']);
    expect(JSON.stringify(deletes.Resource)).not.toMatch(/:(db|cluster):\*"/);
    expect(JSON.stringify(deletes.Resource)).toContain(':db:*-drill-*');
    expect(deletes.Condition).toEqual({ Null: { 'aws:ResourceTag/lifeboat:drill': 'false' } });
    expect(asList(statements.find((s) => s.Sid === 'ReadCredentials')!.Resource)).toContain('arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd');
    // The one snapshot restore here is catalog-docdb's default plan's: restores and tags name only its target (and drills of it).
    for (const sid of ['RestoreNamedDatabases', 'TagNamedDatabases']) {
      const named = JSON.stringify(statements.find((s) => s.Sid === sid)!.Resource).match(/:(db|cluster):[^"]*/g) ?? [];
      expect(new Set(named), sid).toEqual(new Set([':cluster:catalog-docdb-recovered', ':cluster:catalog-docdb-recovered-drill-*', ':db:catalog-docdb-recovered', ':db:catalog-docdb-recovered-drill-*']));
    }
  });

  it('lets a plan without approvals invoke only the DR step function', () => {
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-plan-billing-db-default' });
    const [drStepId] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: runs DR plan steps') });
    const invoke = statementsOf(lifeboat.primary, machine.Properties.RoleArn['Fn::GetAtt'][0]).find((s) => s.Sid === 'InvokePlanFunctions')!;
    expect(invoke.Resource).toEqual({ 'Fn::GetAtt': [drStepId, 'Arn'] });
  });

  it('lets snapshot restores create and tag only the databases the plans name, and grant RDS the DR key', () => {
    const lifeboat = synthLifeboat(
      exampleConfig((raw) => {
        raw.plans = [
          {
            name: 'orders-standby',
            priority: 'high',
            objectives: { rtoMinutes: 120, rpoMinutes: 1440 },
            contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }],
            steps: [{ id: 'restore', kind: 'restore-snapshot', parameters: { source: 'orders-db', region: 'dr', targetIdentifier: 'orders-standby', subnetGroupName: 'dr-private', securityGroupIds: ['sg-0a1b2c3d4e5f60009'] } }],
          },
        ];
      }),
    );
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat DR step function' });
    const statements = statementsOf(lifeboat.primary, roleId);
    const tag = statements.find((s) => s.Sid === 'TagNamedDatabases')!;
    const names = JSON.stringify(tag.Resource);
    for (const name of [':db:orders-standby"', ':db:orders-standby-drill-*', ':cluster:orders-standby"', ':cluster:orders-standby-drill-*']) expect(names).toContain(name);
    expect(names).not.toMatch(/:(db|cluster):\*"/);
    expect(tag.Condition).toEqual({ StringLike: { 'aws:RequestTag/lifeboat:plan': '*' }, 'ForAllValues:StringLike': { 'aws:TagKeys': ['lifeboat:*'] } });
    expect(statements.find((s) => s.Sid === 'GrantRdsTheDrKey')!.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'rds.eu-central-1.amazonaws.com' },
      Bool: { 'kms:GrantIsForAWSResource': 'true' },
    });
  });

  it('fails the synth on an invalid plan, naming the field', () => {
    expect(() =>
      synthLifeboat(
        exampleConfig((raw) => {
          raw.plans = [{ name: 'bad', priority: 'high', objectives: { rtoMinutes: 60, rpoMinutes: 60 }, contacts: [{ name: 'A', email: 'a@example.com' }], steps: [{ id: 'a', kind: 'wait', dependsOn: ['b'], parameters: { minutes: 1 } }] }];
        }),
      ),
    ).toThrow("plans[0].steps[0].dependsOn[0]: unknown step 'b'");
  });
});

describe('a DR plan whose restore-dump step is given 2 hours', () => {
  let lifeboat: SynthesizedLifeboat;
  const config = () =>
    exampleConfig((raw) => {
      const steps = ordersRestorePlan('arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd').steps;
      raw.plans = [
        {
          ...ordersRestorePlan('arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd'),
          // restore: 2 hours (Fargate); check: 15 minutes (fits one Lambda invocation, stays there).
          steps: steps.map((step) => (step.id === 'restore' ? { ...step, timeoutMinutes: 120 } : step.id === 'check' ? { ...step, timeoutMinutes: 15 } : step)),
        },
      ];
    });
  beforeAll(() => {
    lifeboat = synthLifeboat(config());
  }, SYNTH_TIMEOUT_MS);

  const machineOf = () => only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-plan-orders-restore' })[1];
  const drStepTaskDefinition = () => only(lifeboat.primary, 'AWS::ECS::TaskDefinition', { Family: 'lifeboat-drstep' });

  it('runs the restore as the DR step task (ecs:runTask.sync) for its whole 7200 s, in the verification network without a public IP, and reads its record back; the 15-minute validate stays on Lambda', () => {
    const definition = JSON.parse(machineOf().Properties.DefinitionString);
    const states = Object.fromEntries([...statesOfDefinition(definition)]);
    expect(states['Runrestore']).toEqual({
      Type: 'Task',
      Comment: 'Step restore as a DR step task on Fargate: its 120 minutes are more than a Lambda invocation lasts.',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      Parameters: {
        Cluster: '${RunnerClusterArn}',
        TaskDefinition: '${DrStepTaskDefinitionArn}',
        LaunchType: 'FARGATE',
        PlatformVersion: 'LATEST',
        NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'], SecurityGroups: ['sg-0a1b2c3d4e5f60005'], AssignPublicIp: 'DISABLED' } },
        Overrides: { ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: 'LIFEBOAT_TASK_EVENT', 'Value.$': 'States.JsonToString($.taskEvent)' }] }] },
        'StartedBy.$': "States.Hash($$.Execution.Name, 'MD5')",
      },
      ResultPath: null,
      TimeoutSeconds: 7200,
      Retry: [{ ErrorEquals: ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'], IntervalSeconds: 30, MaxAttempts: 3, BackoffRate: 2 }],
      Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.taskFailure', Next: 'Readrestore' }],
      Next: 'Readrestore',
    });
    expect(states['Preparerestore']).toMatchObject({ Type: 'Pass', Parameters: { action: 'run-step', plan: 'orders-restore', stepId: 'restore', kind: 'restore-dump' }, ResultPath: '$.taskEvent', Next: 'Runrestore' });
    expect(states['Readrestore']).toMatchObject({
      Type: 'Task',
      Resource: '${DrStepFunctionArn}',
      Parameters: { action: 'read-step-record', plan: 'orders-restore', stepId: 'restore', 'executionId.$': '$$.Execution.Id' },
      ResultPath: '$.record',
      Next: 'Donerestore',
    });
    // 15 minutes fit one invocation: the step executor Lambda, as before.
    expect(states['Runcheck']).toMatchObject({ Type: 'Task', Resource: '${DrStepFunctionArn}', TimeoutSeconds: 900 });
    expect(states['Preparecheck']).toBeUndefined();
    const [clusterId] = only(lifeboat.primary, 'AWS::ECS::Cluster', {});
    const [taskId] = drStepTaskDefinition();
    expect(machineOf().Properties.DefinitionSubstitutions).toMatchObject({ RunnerClusterArn: { 'Fn::GetAtt': [clusterId, 'Arn'] }, DrStepTaskDefinitionArn: { Ref: taskId } });
  });

  it('lets the plan role run only the DR step task definition in the runner cluster, pass only its task role and the execution role to ECS, follow its tasks and use the managed rule .sync needs', () => {
    const roleId = machineOf().Properties.RoleArn['Fn::GetAtt'][0] as string;
    const [clusterId] = only(lifeboat.primary, 'AWS::ECS::Cluster', {});
    const [taskId, task] = drStepTaskDefinition();
    const ours = statementsOf(lifeboat.primary, roleId).filter((s) => asList(s.Action).some((a) => !a.startsWith('logs:') && !a.startsWith('xray:')));
    expect(ours.map((s) => s.Sid)).toEqual(['InvokePlanFunctions', 'StartBackups', 'FollowBackups', 'SyncExecutionEvents', 'RunDrStepTask', 'PassDrStepTaskRoles', 'WatchDrStepTasks', 'ManagedRuleForTaskEvents']);
    const bySid = Object.fromEntries(ours.map((s) => [s.Sid, s]));
    expect(bySid.RunDrStepTask).toEqual({ Sid: 'RunDrStepTask', Effect: 'Allow', Action: 'ecs:RunTask', Resource: { Ref: taskId }, Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } } } });
    expect(bySid.PassDrStepTaskRoles).toEqual({
      Sid: 'PassDrStepTaskRoles',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: [task.Properties.TaskRoleArn, task.Properties.ExecutionRoleArn],
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    expect(bySid.WatchDrStepTasks).toEqual({
      Sid: 'WatchDrStepTasks',
      Effect: 'Allow',
      Action: ['ecs:DescribeTasks', 'ecs:StopTask'],
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:eu-west-1:123456789012:task/lifeboat-runner/*']] },
    });
    expect(bySid.ManagedRuleForTaskEvents).toEqual({
      Sid: 'ManagedRuleForTaskEvents',
      Effect: 'Allow',
      Action: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule']] },
    });
  });

  it('gives the DR step task the Lambda\'s environment, 4 vCPUs as LIFEBOAT_JOBS, and a role with exactly the DR step Lambda role\'s own statements, reading back only step records', () => {
    const [, task] = drStepTaskDefinition();
    const [, lambda] = only(lifeboat.primary, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Lifeboat: runs DR plan steps') });
    const env = Object.fromEntries((task.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    const lambdaEnv = lambda.Properties.Environment.Variables as Record<string, unknown>;
    for (const name of ['PRIMARY_VAULT_BUCKET', 'PRIMARY_VAULT_KEY_ARN', 'DR_REGION', 'DR_VAULT_BUCKET', 'DR_VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS', 'PLAN_TOPICS']) expect(env[name], name).toEqual(lambdaEnv[name]);
    expect(env).toMatchObject({ LIFEBOAT_RUNNER_ROLE: 'dr-step', POWERTOOLS_SERVICE_NAME: 'lifeboat-dr-step', LIFEBOAT_JOBS: '4', UV_THREADPOOL_SIZE: '4' });
    expect(task.Properties).toMatchObject({ Cpu: '4096', Memory: '8192' });
    const taskStatements = statementsOf(lifeboat.primary, task.Properties.TaskRoleArn['Fn::GetAtt'][0]);
    const lambdaOwn = statementsOf(lifeboat.primary, lambda.Properties.Role['Fn::GetAtt'][0]).filter((s) => s.Sid !== undefined && s.Sid !== 'AttachToVerificationVpc');
    // In any order: CDK moves statements of a large role into overflow managed policies, each role at its own points.
    const bySerial = (list: unknown[]) => list.map((s) => JSON.stringify(s)).sort();
    expect(bySerial(taskStatements)).toEqual(bySerial(lambdaOwn));
    expect(taskStatements.find((s) => s.Sid === 'ReadStepRecords')).toMatchObject({ Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [expect.anything(), '/evidence/*/steps/*']] } });
  });
});

function* statesOfDefinition(machine: { States: Record<string, any> }): Generator<[string, any]> {
  for (const [name, state] of Object.entries(machine.States)) {
    yield [name, state];
    for (const branch of state.Branches ?? []) yield* statesOfDefinition(branch);
  }
}

describe("a cache's plan (the example's sessions-recovery)", () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig());
  }, SYNTH_TIMEOUT_MS);
  const AUTH_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sessions-restore-auth-Zx9Yw8';

  it('runs restore-cache in the DR step Lambda (15 minutes), waiting out a backup being restored from Deep Archive', () => {
    const [, machine] = only(lifeboat.primary, 'AWS::StepFunctions::StateMachine', { StateMachineName: 'lifeboat-plan-sessions-recovery' });
    const definition = JSON.parse(machine.Properties.DefinitionString);
    const [, restore] = [...statesOfDefinition(definition)].find(([name]) => name === 'Runrestore')!;
    expect(restore).toMatchObject({
      Type: 'Task',
      Resource: '${DrStepFunctionArn}',
      TimeoutSeconds: 900,
      Parameters: { action: 'run-step', kind: 'restore-cache', stepId: 'restore', parameters: { source: 'sessions-cache', region: 'primary' } },
    });
    expect(restore.Retry).toContainEqual({ ErrorEquals: ['ArchiveRestoreInProgressError'], IntervalSeconds: 1800, MaxAttempts: 30, BackoffRate: 1 });
  });

  it('lets the DR step function read the target cache\'s AUTH token, and nothing of ElastiCache', () => {
    const [roleId] = only(lifeboat.primary, 'AWS::IAM::Role', { Description: 'Lifeboat DR step function' });
    const statements = statementsOf(lifeboat.primary, roleId);
    expect(asList(statements.find((s) => s.Sid === 'ReadCredentials')!.Resource)).toContain(AUTH_SECRET);
    expect(JSON.stringify(statements)).not.toMatch(/elasticache:/);
  });
});

describe('DR steps without a verification network', () => {
  const outsideVpc = Match.stringLikeRegexp('would run in the DR step Lambda outside any VPC');
  const steps = (config: ReturnType<typeof withPlan>) => {
    const stacks = buildLifeboat(testApp(), config);
    return Annotations.fromStack(stacks.primary)
      .findError('*', outsideVpc)
      .map((e) => String(e.entry.data).match(/^Plan (\S+), step (\S+) \(([a-z-]+)\)/)?.slice(1).join(' '));
  };

  it('are refused at synth, each named, when they connect to a database; with the network, or restoring snapshots only, nothing is refused', () => {
    expect(steps(withPlan())).toEqual([]);
    const without = (config: ReturnType<typeof withPlan>) => ({ ...config, verification: undefined }) as typeof config;
    // Steps that fit Lambda (15 minutes): the long ones run on Fargate, in the source's own network.
    const short = exampleConfig((raw) => {
      raw.plans = [{ ...ordersRestorePlan('arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd'), name: 'orders-quick' }];
      for (const step of raw.plans[0].steps) if (step.kind === 'restore-dump' || step.kind === 'validate') step.timeoutMinutes = 15;
    });
    expect(steps(without(short)).sort()).toMatchInlineSnapshot(`
      [
        "orders-quick check validate",
        "orders-quick restore restore-dump",
      ]
    `);
    expect(steps(without(withPlan()))).toEqual([]);
    // A cache's restore connects to the cache: refused outside the VPC like a dump's.
    expect(steps(without(exampleConfig())).sort()).toEqual(expect.arrayContaining(['sessions-recovery restore restore-cache']));
    expect(steps(without(snapshotPlanConfig()))).toEqual([]);
  }, SYNTH_TIMEOUT_MS);

  it('synthesize with cdk-nag when no step connects from the Lambda (snapshot restores; dump restores long enough for Fargate, in the source network): the DR step Lambda stays outside a VPC', () => {
    const config = snapshotPlanConfig();
    const lifeboat = synthLifeboat({ ...config, verification: undefined } as typeof config);
    const drStep = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function')).filter((f) => String(f.Properties.Description).includes('runs DR plan steps'));
    expect(drStep).toHaveLength(1);
    expect(drStep[0]!.Properties.VpcConfig).toBeUndefined();
  }, SYNTH_TIMEOUT_MS);
});
