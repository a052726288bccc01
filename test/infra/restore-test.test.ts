import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { RestoreTest, type RestoreTestProps, type RestoreTestSource } from '../../infra/constructs/restore-test.ts';
import { acknowledgedFindings, synthNagReport, testApp } from './support.ts';

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

const aslText = readFileSync(fileURLToPath(new URL('../../statemachines/snapshot-restore-test.asl.json', import.meta.url)), 'utf8');

const SECRET = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!${name}-AbCdEf`;
const ORDERS: RestoreTestSource = { id: 'orders-db', engine: 'postgresql', credentialsSecretArn: SECRET('db-orders'), rds: { type: 'instance', identifier: 'orders' } };
const BILLING: RestoreTestSource = { id: 'billing-db', engine: 'mysql', credentialsSecretArn: SECRET('db-billing'), rds: { type: 'instance', identifier: 'billing' } };
/** Aurora PostgreSQL on a non-default port: the restore keeps the snapshot's port. */
const REPORTS: RestoreTestSource = { id: 'reports-db', engine: 'postgresql', port: 6432, credentialsSecretArn: SECRET('cluster-reports'), rds: { type: 'cluster', identifier: 'reports' } };
const SNAPSHOT_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/66666666-7777-8888-9999-000000000000';
const NETWORK = { vpcId: 'vpc-0a1b2c3d', subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'] };

interface Built {
  readonly app: App;
  readonly stack: Stack;
  readonly restoreTest: RestoreTest;
}

/** The construct in a bare stack, with a log key and dead-letter queue of the test's own. */
function build(props: Partial<RestoreTestProps> = {}, options: { compliance?: boolean } = {}): Built {
  const app = testApp(options);
  const stack = new Stack(app, 'RestoreTestStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const logKey = new kms.Key(stack, 'LogKey', { enableKeyRotation: true, description: 'test log key' });
  const deadLetterQueue = new sqs.Queue(stack, 'DeadLetters', { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: logKey, enforceSSL: true });
  const restoreTest = new RestoreTest(stack, 'RestoreTest', { name: 'lifeboat', sources: [ORDERS, BILLING, REPORTS], network: NETWORK, logKey, deadLetterQueue, ...props });
  return { app, stack, restoreTest };
}

function synth(props: Partial<RestoreTestProps> = {}): Built & { template: Template } {
  const built = build(props);
  return { ...built, template: Template.fromStack(built.stack) };
}

function only(template: Template, type: string, props?: Record<string, unknown>): [string, Resource] {
  const found = Object.entries(template.findResources(type, props ? { Properties: props } : undefined));
  expect(found, `exactly one ${type} matching ${JSON.stringify(props)}`).toHaveLength(1);
  return found[0] as [string, Resource];
}

const asList = <T,>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
/** JSON with object keys sorted, so equal values compare equal whatever order their keys were written in. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
const byJson = (a: unknown, b: unknown) => canonical(a).localeCompare(canonical(b));

/** A role's statements with actions and resources as sorted lists, so the comparison ignores CDK's ordering. */
function statementsOf(template: Template, roleId: string): Statement[] {
  const policies = [...Object.values(template.findResources('AWS::IAM::Policy')), ...Object.values(template.findResources('AWS::IAM::ManagedPolicy'))].filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId));
  return policies
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
    .map((s) => ({ ...s, Action: asList(s.Action).sort(), Resource: asList(s.Resource).sort(byJson) }))
    .sort(byJson);
}

const roleOf = (resource: Resource, property = 'Role'): string => (resource.Properties[property] as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;

// The ARNs of the doc's table, as CloudFormation renders them in eu-west-1 / 123456789012.
const rds = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:rds:eu-west-1:123456789012:${resource}`]] });
const subnetGroupArn = (name: unknown) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:eu-west-1:123456789012:subgrp:', ...asList(name)]] });
const RESTORE_TAG = { StringEquals: { 'aws:RequestTag/lifeboat:purpose': 'restore-test' } };
const OWN_TAG = { StringEquals: { 'aws:ResourceTag/lifeboat:purpose': 'restore-test' } };

/**
 * docs/snapshot-restore-test.md, "State machine role", row by row; `aurora` rows only with a cluster source.
 * The snapshots are Lifeboat's (`lifeboat-*`), the doc's "prefix Lifeboat names its snapshots with".
 */
function expectedStateMachineStatements(options: { aurora: boolean; subnetGroup: unknown; functionId: string; snapshotKeys: boolean }): Statement[] {
  const subgrp = subnetGroupArn(options.subnetGroup);
  const fnArn = { 'Fn::GetAtt': [options.functionId, 'Arn'] };
  const rows: (Statement & { aurora?: true; kms?: true })[] = [
    { Sid: 'RestoreTemporaryInstances', Effect: 'Allow', Action: ['rds:RestoreDBInstanceFromDBSnapshot'], Resource: [rds('db:lb-rt-*'), rds('snapshot:lifeboat-*'), subgrp, rds('og:*'), rds('pg:*')], Condition: RESTORE_TAG },
    {
      aurora: true,
      Sid: 'RestoreTemporaryClusters',
      Effect: 'Allow',
      Action: ['rds:RestoreDBClusterFromSnapshot'],
      Resource: [rds('cluster:lb-rt-*'), rds('cluster-snapshot:lifeboat-*'), subgrp, rds('cluster-pg:*'), rds('og:*')],
      Condition: RESTORE_TAG,
    },
    {
      aurora: true,
      Sid: 'CreateTemporaryClusterInstances',
      Effect: 'Allow',
      Action: ['rds:CreateDBInstance'],
      Resource: [rds('db:lb-rt-*'), rds('cluster:lb-rt-*'), rds('pg:*'), rds('og:*'), subgrp],
      Condition: RESTORE_TAG,
    },
    { Sid: 'TagTemporaryDatabases', Effect: 'Allow', Action: ['rds:AddTagsToResource'], Resource: options.aurora ? [rds('db:lb-rt-*'), rds('cluster:lb-rt-*')] : [rds('db:lb-rt-*')], Condition: RESTORE_TAG },
    { Sid: 'DescribeTemporaryInstances', Effect: 'Allow', Action: ['rds:DescribeDBInstances'], Resource: [rds('db:lb-rt-*')] },
    { aurora: true, Sid: 'DescribeTemporaryClusters', Effect: 'Allow', Action: ['rds:DescribeDBClusters'], Resource: [rds('cluster:lb-rt-*')] },
    { aurora: true, Sid: 'DescribeClusterSnapshots', Effect: 'Allow', Action: ['rds:DescribeDBClusterSnapshots'], Resource: [rds('cluster-snapshot:lifeboat-*')] },
    { Sid: 'DeleteTemporaryInstances', Effect: 'Allow', Action: ['rds:DeleteDBInstance'], Resource: [rds('db:lb-rt-*')], Condition: OWN_TAG },
    { aurora: true, Sid: 'DeleteTemporaryClusters', Effect: 'Allow', Action: ['rds:DeleteDBCluster'], Resource: [rds('cluster:lb-rt-*')], Condition: OWN_TAG },
    // fn.grantInvoke(role): the function and its versions and aliases.
    { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [fnArn, { 'Fn::Join': ['', [fnArn, ':*']] }] },
    {
      kms: true,
      Sid: 'GrantSnapshotKeysToRds',
      Effect: 'Allow',
      Action: ['kms:CreateGrant'],
      Resource: [SNAPSHOT_KEY],
      Condition: { StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' }, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    },
    { kms: true, Sid: 'DescribeSnapshotKeys', Effect: 'Allow', Action: ['kms:DescribeKey'], Resource: [SNAPSHOT_KEY], Condition: { StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' } } },
    // Log delivery and X-Ray, as CDK adds them for `logs` and `tracingEnabled`.
    {
      Effect: 'Allow',
      Action: [
        'logs:CreateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:DescribeLogGroups',
        'logs:DescribeResourcePolicies',
        'logs:GetLogDelivery',
        'logs:ListLogDeliveries',
        'logs:PutResourcePolicy',
        'logs:UpdateLogDelivery',
        'xray:GetSamplingRules',
        'xray:GetSamplingTargets',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ],
      Resource: ['*'],
    },
  ];
  return rows
    .filter((row) => (options.aurora || !row.aurora) && (options.snapshotKeys || !row.kms))
    .map(({ aurora: _aurora, kms: _kms, ...statement }) => ({ ...statement, Action: asList(statement.Action).sort(), Resource: asList(statement.Resource).sort(byJson) }))
    .sort(byJson);
}

const AURORA_ACTIONS = ['rds:RestoreDBClusterFromSnapshot', 'rds:CreateDBInstance', 'rds:DescribeDBClusters', 'rds:DescribeDBClusterSnapshots', 'rds:DeleteDBCluster'];

describe('RestoreTest: the snapshot restore test state machine and its validation function', () => {
  const { template, restoreTest, stack } = synth({ snapshotKeyArns: [SNAPSHOT_KEY], secretKeyArns: [SECRET_KEY] });
  const [machineId, machine] = only(template, 'AWS::StepFunctions::StateMachine');
  const [functionId, fn] = only(template, 'AWS::Lambda::Function');
  const [subnetGroupId, subnetGroup] = only(template, 'AWS::RDS::DBSubnetGroup');
  const [isolatedId, isolated] = only(template, 'AWS::EC2::SecurityGroup', { GroupDescription: 'Lifeboat lifeboat restore test: temporary databases, reachable only from the validation function' });
  const [functionSgId, functionSg] = only(template, 'AWS::EC2::SecurityGroup', { GroupDescription: 'Lifeboat lifeboat restore test: the validation function' });

  it('deploys statemachines/snapshot-restore-test.asl.json as it is, with exactly the substitutions it asks for', () => {
    expect(machine.Properties.DefinitionString).toBe(aslText);
    const asked = [...new Set([...aslText.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort();
    expect(asked).toEqual(['AuroraRestoreTestInstanceClass', 'DbSubnetGroupName', 'IsolatedSecurityGroupId', 'RestoreTestInstanceClass', 'ValidateRestoreFunctionArn']);
    expect(Object.keys(machine.Properties.DefinitionSubstitutions).sort()).toEqual(asked);
    expect(machine.Properties.DefinitionSubstitutions).toEqual({
      RestoreTestInstanceClass: 'db.t4g.micro',
      AuroraRestoreTestInstanceClass: 'db.t4g.medium',
      DbSubnetGroupName: { Ref: subnetGroupId },
      IsolatedSecurityGroupId: { 'Fn::GetAtt': [isolatedId, 'GroupId'] },
      ValidateRestoreFunctionArn: { 'Fn::GetAtt': [functionId, 'Arn'] },
    });
  });

  it('is a STANDARD state machine named <name>-restore-test with no timeout, logging ALL with execution data to an encrypted vended-logs group, traced by X-Ray', () => {
    expect(machine.Properties).toMatchObject({
      StateMachineName: 'lifeboat-restore-test',
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
      TracingConfiguration: { Enabled: true },
    });
    // No top-level TimeoutSeconds: a timed-out execution runs no more states, so no cleanup.
    expect(JSON.parse(machine.Properties.DefinitionString as string)).not.toHaveProperty('TimeoutSeconds');
    const [logGroupId, logGroup] = only(template, 'AWS::Logs::LogGroup', { LogGroupName: '/aws/vendedlogs/states/lifeboat-restore-test' });
    expect(logGroup.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [only(template, 'AWS::KMS::Key')[0], 'Arn'] });
    expect(logGroup.DeletionPolicy).toBe('Retain');
    expect(JSON.stringify(machine.Properties.LoggingConfiguration.Destinations)).toContain(logGroupId);
    expect(stack.resolve(restoreTest.stateMachine.stateMachineArn)).toEqual({ Ref: machineId });
  });

  it("allows the state machine's role exactly the doc's table: RDS on lb-rt-* with the restore-test tag, invoke, the snapshot keys through RDS", () => {
    const roleId = roleOf(machine, 'RoleArn');
    const [, role] = only(template, 'AWS::IAM::Role', { Description: 'Lifeboat snapshot restore test state machine' });
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(statementsOf(template, roleId)).toEqual(expectedStateMachineStatements({ aurora: true, subnetGroup: { Ref: subnetGroupId }, functionId, snapshotKeys: true }));
  });

  it('runs the validation function in the VPC with its own security group, the doc\'s environment, 900 s and 256 MB', () => {
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Timeout: 900,
      MemorySize: 256,
      TracingConfig: { Mode: 'Active' },
      ReservedConcurrentExecutions: 5,
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [only(template, 'AWS::SQS::Queue')[0], 'Arn'] } },
      VpcConfig: { SubnetIds: NETWORK.subnetIds, SecurityGroupIds: [{ 'Fn::GetAtt': [functionSgId, 'GroupId'] }] },
    });
    expect(fn.Properties.Environment.Variables).toEqual({
      LIFEBOAT_SOURCES: JSON.stringify([
        { id: 'orders-db', credentialsSecretArn: SECRET('db-orders') },
        { id: 'billing-db', credentialsSecretArn: SECRET('db-billing') },
        { id: 'reports-db', credentialsSecretArn: SECRET('cluster-reports') },
      ]),
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      POWERTOOLS_SERVICE_NAME: 'lifeboat-validate-restore',
      POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
      NODE_OPTIONS: '--enable-source-maps',
    });
    const logGroupId = (fn.Properties.LoggingConfig.LogGroup as { Ref: string }).Ref;
    expect(template.toJSON().Resources[logGroupId].Properties).toEqual({ KmsKeyId: { 'Fn::GetAtt': [only(template, 'AWS::KMS::Key')[0], 'Arn'] }, RetentionInDays: 90 });
  });

  it("gives the validation function's role its secrets, its VPC attachment, logs, X-Ray and dead letters, and no RDS permission", () => {
    const roleId = roleOf(fn);
    const keyArn = { 'Fn::GetAtt': [only(template, 'AWS::KMS::Key')[0], 'Arn'] };
    const logGroupId = (fn.Properties.LoggingConfig.LogGroup as { Ref: string }).Ref;
    const queueArn = { 'Fn::GetAtt': [only(template, 'AWS::SQS::Queue')[0], 'Arn'] };
    const [, role] = only(template, 'AWS::IAM::Role', { Description: 'Lifeboat validate-restore function' });
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const expected: Statement[] = [
      { Sid: 'ReadSourceCredentials', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [SECRET('db-orders'), SECRET('db-billing'), SECRET('cluster-reports')] },
      { Sid: 'DecryptSourceCredentials', Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [SECRET_KEY], Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } },
      {
        Sid: 'AttachToRestoreTestVpc',
        Effect: 'Allow',
        Action: ['ec2:AssignPrivateIpAddresses', 'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:UnassignPrivateIpAddresses'],
        Resource: ['*'],
      },
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: [{ 'Fn::GetAtt': [logGroupId, 'Arn'] }] },
      { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: ['*'] },
      { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: [queueArn] },
      // The dead-letter queue is encrypted under the test's key.
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: [keyArn] },
    ];
    expect(statementsOf(template, roleId)).toEqual(expected.map((s) => ({ ...s, Action: [...(s.Action as string[])].sort(), Resource: [...(s.Resource as unknown[])].sort(byJson) })).sort(byJson));
    expect(statementsOf(template, roleId).flatMap((s) => s.Action as string[]).filter((a) => a.startsWith('rds:'))).toEqual([]);
  });

  it("isolates the temporary databases: ingress only from the function's security group on the sources' ports, no egress", () => {
    const disallowAll = [{ CidrIp: '255.255.255.255/32', Description: 'Disallow all traffic', FromPort: 252, IpProtocol: 'icmp', ToPort: 86 }];
    expect(isolated.Properties.SecurityGroupEgress).toEqual(disallowAll);
    expect(isolated.Properties.SecurityGroupIngress).toBeUndefined();
    const rulesOn = (type: string, groupId: string) =>
      Object.values(template.findResources(type))
        .map((r) => r.Properties)
        .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [groupId, 'GroupId'] }))
        .map(({ Description: _description, ...rule }) => rule)
        .sort(byJson);
    const fromFunction = (port: number) => ({ GroupId: { 'Fn::GetAtt': [isolatedId, 'GroupId'] }, IpProtocol: 'tcp', FromPort: port, ToPort: port, SourceSecurityGroupId: { 'Fn::GetAtt': [functionSgId, 'GroupId'] } });
    // postgresql 5432 (orders-db), mysql 3306 (billing-db), 6432 (reports-db's own port).
    expect(rulesOn('AWS::EC2::SecurityGroupIngress', isolatedId)).toEqual([fromFunction(3306), fromFunction(5432), fromFunction(6432)].sort(byJson));
    expect(rulesOn('AWS::EC2::SecurityGroupEgress', isolatedId)).toEqual([]);
    expect(restoreTest.ports).toEqual([3306, 5432, 6432]);

    // The function's group: egress to the isolated group on those ports and HTTPS for Secrets Manager, nothing in.
    const toIsolated = (port: number) => ({ GroupId: { 'Fn::GetAtt': [functionSgId, 'GroupId'] }, IpProtocol: 'tcp', FromPort: port, ToPort: port, DestinationSecurityGroupId: { 'Fn::GetAtt': [isolatedId, 'GroupId'] } });
    expect(rulesOn('AWS::EC2::SecurityGroupEgress', functionSgId)).toEqual([toIsolated(3306), toIsolated(5432), toIsolated(6432)].sort(byJson));
    expect(functionSg.Properties.SecurityGroupEgress).toEqual([{ CidrIp: '0.0.0.0/0', Description: 'Read source credentials from Secrets Manager', FromPort: 443, IpProtocol: 'tcp', ToPort: 443 }]);
    expect(functionSg.Properties.SecurityGroupIngress).toBeUndefined();
    expect(rulesOn('AWS::EC2::SecurityGroupIngress', functionSgId)).toEqual([]);
    for (const sg of [isolated, functionSg]) expect(sg.Properties.VpcId).toBe(NETWORK.vpcId);
  });

  it('creates the DB subnet group <name>-restore-test over the given subnets', () => {
    expect(subnetGroup.Properties).toMatchObject({ DBSubnetGroupName: 'lifeboat-restore-test', SubnetIds: NETWORK.subnetIds });
    expect(stack.resolve(restoreTest.dbSubnetGroupName)).toEqual({ Ref: subnetGroupId });
  });
});

describe('RestoreTest with other props', () => {
  it('with instance-only sources has no Aurora actions or cluster resources, and without snapshot keys no KMS statement', () => {
    const { template } = synth({ sources: [ORDERS, BILLING] });
    const [, machine] = only(template, 'AWS::StepFunctions::StateMachine');
    const [subnetGroupId] = only(template, 'AWS::RDS::DBSubnetGroup');
    const [functionId] = only(template, 'AWS::Lambda::Function');
    const statements = statementsOf(template, roleOf(machine, 'RoleArn'));
    expect(statements).toEqual(expectedStateMachineStatements({ aurora: false, subnetGroup: { Ref: subnetGroupId }, functionId, snapshotKeys: false }));
    const actions = statements.flatMap((s) => s.Action as string[]);
    for (const action of AURORA_ACTIONS) expect(actions).not.toContain(action);
    expect(actions.filter((a) => a.startsWith('kms:'))).toEqual([]);
    expect(JSON.stringify(statements)).not.toMatch(/:cluster/);
    // The ASL still names the Aurora class: the substitution stays.
    expect(machine.Properties.DefinitionSubstitutions.AuroraRestoreTestInstanceClass).toBe('db.t4g.medium');
  });

  it('uses an existing DB subnet group by name, the given instance classes, snapshot prefix and extra function security groups', () => {
    const { template } = synth({
      dbSubnetGroupName: 'private-databases',
      instanceClass: 'db.t4g.small',
      auroraInstanceClass: 'db.r7g.large',
      snapshotNamePrefix: '',
      network: { ...NETWORK, securityGroupIds: ['sg-0e1d2c3b'] },
    });
    template.resourceCountIs('AWS::RDS::DBSubnetGroup', 0);
    const [, machine] = only(template, 'AWS::StepFunctions::StateMachine');
    expect(machine.Properties.DefinitionSubstitutions).toMatchObject({ RestoreTestInstanceClass: 'db.t4g.small', AuroraRestoreTestInstanceClass: 'db.r7g.large', DbSubnetGroupName: 'private-databases' });
    const [restore] = statementsOf(template, roleOf(machine, 'RoleArn')).filter((s) => s.Sid === 'RestoreTemporaryInstances');
    expect(restore!.Resource).toContainEqual(rds('subgrp:private-databases'));
    expect(restore!.Resource).toContainEqual(rds('snapshot:*'));
    const [, fn] = only(template, 'AWS::Lambda::Function');
    const [functionSgId] = only(template, 'AWS::EC2::SecurityGroup', { GroupDescription: 'Lifeboat lifeboat restore test: the validation function' });
    expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [functionSgId, 'GroupId'] }, 'sg-0e1d2c3b']);
  });

  it('rejects bad props with one error naming every problem', () => {
    expect(() =>
      build({
        name: 'Lifeboat',
        sources: [ORDERS, { ...BILLING, id: 'orders-db' }, { ...REPORTS, id: 'bad--id', port: 70_000, credentialsSecretArn: 'reports-secret' }],
        network: { vpcId: 'vpc-0a1b2c3d', subnetIds: ['subnet-0a1b2c3d'] },
        instanceClass: 't4g.micro',
        snapshotKeyArns: ['alias/aws/rds'],
      }),
    ).toThrow(
      [
        'RestoreTest RestoreTest: invalid props:',
        "- name: 'Lifeboat' must be 1-50 lowercase letters, digits or hyphens, starting with a letter",
        "- sources[1].id: duplicate source id 'orders-db'",
        "- sources[2].id: 'bad--id' must be 1-40 lowercase letters, digits or hyphens, start with a letter, and have no double or trailing hyphen (it becomes part of an RDS identifier)",
        '- sources[2].credentialsSecretArn: must be a secret ARN',
        '- sources[2].port: 70000 is not a port number 1-65535',
        '- network.subnetIds: a DB subnet group needs subnets in at least two availability zones; list two or more, or name an existing dbSubnetGroupName',
        "- instanceClass: 't4g.micro' is not an RDS instance class (e.g. db.t4g.micro)",
        "- snapshotKeyArns[0]: 'alias/aws/rds' is not a KMS key ARN (an alias does not match the key in IAM)",
      ].join('\n'),
    );
    expect(() => build({ sources: [] })).toThrow('- sources: at least one source is required');
  });
});

describe('cdk-nag: AWS Solutions and NIST 800-53 rev 5 over the construct', () => {
  const { app } = build({ snapshotKeyArns: [SNAPSHOT_KEY], secretKeyArns: [SECRET_KEY] }, { compliance: true });
  const report = synthNagReport(app);

  it('runs both packs and finds nothing left unacknowledged', () => {
    expect(report.pluginReports.map((p) => p.pluginName).sort()).toEqual(['AwsSolutions', 'NIST.800.53.R5']);
    for (const plugin of report.pluginReports) {
      expect({ plugin: plugin.pluginName, violations: plugin.violations }).toEqual({ plugin: plugin.pluginName, violations: [] });
      expect(plugin.conclusion).toBe('success');
    }
  });

  it('acknowledges only the reviewed findings, each with a written reason', () => {
    const acknowledged = acknowledgedFindings(report, /^RestoreTestStack\//);
    const stateMachinePolicy = 'RestoreTest/StateMachineRole/DefaultPolicy/Resource';
    const rdsName = (resource: string) => `arn:<AWS::Partition>:rds:eu-west-1:123456789012:${resource}`;
    expect([...new Set(acknowledged)].sort()).toEqual(
      [
        'AwsSolutions-IAM5[Resource::*] @ RestoreTest/ValidateRestoreRole/DefaultPolicy/Resource',
        `AwsSolutions-IAM5[Resource::*] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::<RestoreTestValidateRestore5D2DBCEC.Arn>:*] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('cluster-pg:*')}] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('cluster-snapshot:lifeboat-*')}] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('cluster:lb-rt-*')}] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('db:lb-rt-*')}] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('og:*')}] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('pg:*')}] @ ${stateMachinePolicy}`,
        `AwsSolutions-IAM5[Resource::${rdsName('snapshot:lifeboat-*')}] @ ${stateMachinePolicy}`,
        'NIST.800.53.R5-IAMNoInlinePolicy @ RestoreTest/ValidateRestoreRole/DefaultPolicy/Resource',
        `NIST.800.53.R5-IAMNoInlinePolicy @ ${stateMachinePolicy}`,
      ].sort(),
    );
    for (const violation of report.pluginReports.flatMap((p) => p.suppressedViolations)) {
      expect(violation.reason.length, `${violation.ruleName} needs a real reason`).toBeGreaterThan(60);
    }
  });
});
