// Snapshot backups into the air-gapped account (issue 12): with the air-gapped vault in the DR region, the workload's
// copy function shares each DR snapshot copy with the vault account (exact IAM), the DR key replica lets that account
// use it through RDS there and nothing more, and the vault account's copier copies, tags and expires Lifeboat snapshots
// only (exact IAM, key policy, schedule). Elsewhere, nothing of it is deployed and the synth says why.
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildLifeboat } from '../../infra/lifeboat.ts';
import { exampleConfig, SYNTH_TIMEOUT_MS, testApp } from './support.ts';

const WORKLOAD = '111122223333';
const VAULT_ACCOUNT = '444455556666';
const DR = 'eu-central-1';
const KEY_ARN = `arn:aws:kms:${DR}:${VAULT_ACCOUNT}:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9`;

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown; Principal?: unknown };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
/** CDK orders a statement's resources its own way: compared as sets. */
const unordered = (statements: Statement[]) => statements.map((s) => (Array.isArray(s.Resource) ? { ...s, Resource: expect.arrayContaining(s.Resource as unknown[]) } : s));
const sized = (statements: Statement[]) => statements.map((s) => (Array.isArray(s.Resource) ? s.Resource.length : 1));

function roleStatements(template: Template, roleRef: unknown): Statement[] {
  const roleId = (roleRef as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  return [...Object.values(template.findResources('AWS::IAM::Policy')), ...Object.values(template.findResources('AWS::IAM::ManagedPolicy'))]
    .filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

describe('snapshot backups with the air-gapped vault in the DR region', () => {
  let primary: Template;
  let dr: Template;
  let airGap: Template;
  beforeAll(() => {
    const app = testApp({ compliance: true });
    const stacks = buildLifeboat(app, exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, region: DR, keyArn: KEY_ARN };
    }));
    primary = Template.fromStack(stacks.primary);
    dr = Template.fromStack(stacks.dr);
    airGap = Template.fromStack(stacks.airGap!);
  }, SYNTH_TIMEOUT_MS);

  it('lets the copy function share the DR copies Lifeboat names with the vault account, nothing else', () => {
    const [copy] = Object.values(primary.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-copy' } } } }));
    const shares = roleStatements(primary, copy!.Properties.Role).filter((s) => JSON.stringify(s.Action).includes('Attribute'));
    const expected: Statement[] = [
      {
        Sid: 'ShareSnapshotCopiesWithAirGap',
        Effect: 'Allow',
        Action: ['rds:ModifyDBClusterSnapshotAttribute', 'rds:ModifyDBSnapshotAttribute'],
        Resource: [
          join('arn:', { Ref: 'AWS::Partition' }, `:rds:${DR}:${WORKLOAD}:snapshot:lifeboat-*`),
          join('arn:', { Ref: 'AWS::Partition' }, `:rds:${DR}:${WORKLOAD}:cluster-snapshot:lifeboat-*`),
        ],
      },
    ];
    expect(shares).toEqual(unordered(expected));
    expect(sized(shares)).toEqual(sized(expected));
  });

  it('lets the vault account use the DR key replica through RDS in the DR region only, and no other key', () => {
    const [replica] = Object.values(dr.findResources('AWS::KMS::ReplicaKey'));
    const statements = (replica!.Properties.KeyPolicy.Statement as Statement[]).filter((s) => JSON.stringify(s.Principal).includes(VAULT_ACCOUNT));
    const vaultRoot = { AWS: join('arn:', { Ref: 'AWS::Partition' }, `:iam::${VAULT_ACCOUNT}:root`) };
    expect(statements).toEqual([
      { Sid: 'AirGapAccountCopiesSharedSnapshots', Effect: 'Allow', Principal: vaultRoot, Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: '*', Condition: { StringEquals: { 'kms:ViaService': `rds.${DR}.amazonaws.com` } } },
      {
        Sid: 'AirGapAccountGrantsRdsOnly',
        Effect: 'Allow',
        Principal: vaultRoot,
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': `rds.${DR}.amazonaws.com` }, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      },
    ]);
    const [primaryKey] = Object.values(primary.findResources('AWS::KMS::Key', { Properties: { MultiRegion: true } }));
    expect(JSON.stringify(primaryKey!.Properties.KeyPolicy)).not.toContain(VAULT_ACCOUNT);
  });

  it('runs the copier hourly in the vault account with the workload account, the air-gapped key and the vault\'s retention', () => {
    const functions = airGap.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-air-gap-snapshots' } } } });
    const [[fnId, fn]] = Object.entries(functions) as [[string, { Properties: Record<string, any> }]];
    expect(fn.Properties.Environment.Variables).toMatchObject({ WORKLOAD_ACCOUNT: WORKLOAD, AIR_GAP_KEY_ARN: { 'Fn::GetAtt': [expect.stringMatching(/^AirGapKey/), 'Arn'] }, SNAPSHOT_RETENTION_DAYS: '90' });
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    airGap.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 1800 } })],
    });
  });

  it('lets the copier copy only the workload\'s Lifeboat snapshots into, tag and delete only its own, and use the keys only through RDS', () => {
    const [fn] = Object.values(airGap.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-air-gap-snapshots' } } } }));
    const own = roleStatements(airGap, fn!.Properties.Role).filter((s) => s.Sid !== undefined);
    const rds = (account: string, type: string, name: string) => join('arn:', { Ref: 'AWS::Partition' }, `:rds:${DR}:${account}:${type}:${name}`);
    const key = { 'Fn::GetAtt': [expect.stringMatching(/^AirGapKey/), 'Arn'] };
    const workloadKeys = join('arn:', { Ref: 'AWS::Partition' }, `:kms:${DR}:${WORKLOAD}:key/*`);
    const viaRds = { StringEquals: { 'kms:ViaService': `rds.${DR}.amazonaws.com` } };
    const expected: Statement[] = [
      {
        Sid: 'ListSnapshots',
        Effect: 'Allow',
        Action: ['rds:DescribeDBClusterSnapshots', 'rds:DescribeDBSnapshots'],
        Resource: [rds(VAULT_ACCOUNT, 'snapshot', '*'), rds(VAULT_ACCOUNT, 'cluster-snapshot', '*'), rds(WORKLOAD, 'snapshot', 'lifeboat-*'), rds(WORKLOAD, 'cluster-snapshot', 'lifeboat-*')],
      },
      {
        Sid: 'CopySharedSnapshots',
        Effect: 'Allow',
        Action: ['rds:CopyDBClusterSnapshot', 'rds:CopyDBSnapshot'],
        Resource: [rds(WORKLOAD, 'snapshot', 'lifeboat-*'), rds(WORKLOAD, 'cluster-snapshot', 'lifeboat-*'), rds(VAULT_ACCOUNT, 'snapshot', 'lifeboat-*'), rds(VAULT_ACCOUNT, 'cluster-snapshot', 'lifeboat-*')],
      },
      { Sid: 'TagCopies', Effect: 'Allow', Action: 'rds:AddTagsToResource', Resource: [rds(VAULT_ACCOUNT, 'snapshot', 'lifeboat-*'), rds(VAULT_ACCOUNT, 'cluster-snapshot', 'lifeboat-*')] },
      { Sid: 'DeleteExpiredCopies', Effect: 'Allow', Action: ['rds:DeleteDBClusterSnapshot', 'rds:DeleteDBSnapshot'], Resource: [rds(VAULT_ACCOUNT, 'snapshot', 'lifeboat-*'), rds(VAULT_ACCOUNT, 'cluster-snapshot', 'lifeboat-*')] },
      { Sid: 'UseKeysThroughRds', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: [key, workloadKeys], Condition: viaRds },
      { Sid: 'GrantRdsTheKeys', Effect: 'Allow', Action: 'kms:CreateGrant', Resource: [key, workloadKeys], Condition: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
    ];
    expect(own).toEqual(unordered(expected));
    expect(sized(own)).toEqual(sized(expected));
    // Nothing in the vault: the copier never reads or writes objects.
    expect(JSON.stringify(own)).not.toMatch(/s3:/);
  });

  it('alerts in the vault account itself: its own topic for the deployment\'s subscribers, an alarm on a failed run and one on no run for 3 hours', () => {
    const topicId = Object.keys(airGap.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Lifeboat air-gapped vault alerts' } }))[0]!;
    airGap.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: { Ref: topicId }, Protocol: 'email' });
    const [fnId] = Object.keys(airGap.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-air-gap-snapshots' } } } }));
    const alarms = Object.values(airGap.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.map((a) => a.Properties.AlarmName).sort()).toEqual(['lifeboat-air-gap-snapshot-copier-idle', 'lifeboat-air-gap-snapshot-copies-failed']);
    const byName = Object.fromEntries(alarms.map((a) => [a.Properties.AlarmName, a.Properties]));
    expect(byName['lifeboat-air-gap-snapshot-copies-failed']).toMatchObject({ MetricName: 'Errors', Statistic: 'Sum', Period: 3600, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }] });
    expect(byName['lifeboat-air-gap-snapshot-copier-idle']).toMatchObject({ MetricName: 'Invocations', Statistic: 'Sum', Period: 10800, Threshold: 1, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' });
    // Both go through the alarm forwarder (a severity for every subscriber), firing and clearing.
    const alarmTopicId = Object.keys(airGap.findResources('AWS::SNS::Topic', { Properties: { DisplayName: Match.stringLikeRegexp('^Lifeboat alarms') } }))[0]!;
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: alarmTopicId }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: alarmTopicId }]);
    }
  });

  it('admits the copier to the air-gapped key through RDS only', () => {
    const [key] = Object.values(airGap.findResources('AWS::KMS::Key', { Properties: { Description: Match.stringLikeRegexp('air-gapped vault key') } }));
    const copier = (key!.Properties.KeyPolicy.Statement as Statement[]).filter((s) => s.Sid?.startsWith('Copier'));
    const viaRds = { StringEquals: { 'kms:ViaService': `rds.${DR}.amazonaws.com` } };
    const principal = { AWS: { 'Fn::GetAtt': [expect.stringMatching(/^AirGapSnapshotCopierRole/), 'Arn'] } };
    expect(copier).toEqual([
      { Sid: 'CopierEncryptsSnapshotCopies', Effect: 'Allow', Principal: principal, Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: '*', Condition: viaRds },
      { Sid: 'CopierGrantsRdsOnly', Effect: 'Allow', Principal: principal, Action: 'kms:CreateGrant', Resource: '*', Condition: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
    ]);
  });
});

describe('snapshot backups with the air-gapped vault in the primary region', () => {
  const PRIMARY = 'eu-west-1';
  let primary: Template;
  let dr: Template;
  let airGap: Template;
  let stacks: ReturnType<typeof buildLifeboat>;
  beforeAll(() => {
    stacks = buildLifeboat(testApp({ compliance: true }), exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, keyArn: `arn:aws:kms:${PRIMARY}:${VAULT_ACCOUNT}:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9` };
    }));
    primary = Template.fromStack(stacks.primary);
    dr = Template.fromStack(stacks.dr);
    airGap = Template.fromStack(stacks.airGap!);
  }, SYNTH_TIMEOUT_MS);

  it('lets the copy function make share copies under the vault key, tag, share and delete only those, and describe snapshots here', () => {
    const [keyId] = Object.keys(primary.findResources('AWS::KMS::Key', { Properties: { MultiRegion: true } }));
    const vaultKey = { 'Fn::GetAtt': [keyId, 'Arn'] };
    const [copy] = Object.values(primary.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-copy' } } } }));
    expect(copy!.Properties.Environment.Variables.SNAPSHOT_SHARE_KEY_ARN).toEqual(vaultKey);
    const sids = ['TagShareCopies', 'ShareCopiesWithAirGap', 'DeleteOldShareCopies', 'ListPrimarySnapshots', 'GrantRdsTheVaultKey', 'DescribeVaultKeyForRds', 'ShareSnapshotCopiesWithAirGap'];
    const granted = roleStatements(primary, copy!.Properties.Role).filter((s) => sids.includes(s.Sid ?? ''));
    const arn = (kind: string, name: string) => join('arn:', { Ref: 'AWS::Partition' }, `:rds:${PRIMARY}:${WORKLOAD}:${kind}:${name}`);
    const shareCopies = [arn('snapshot', 'lifeboat-*-ag'), arn('cluster-snapshot', 'lifeboat-*-ag')];
    const viaRds = { StringEquals: { 'kms:ViaService': `rds.${PRIMARY}.amazonaws.com` } };
    const expected: Statement[] = [
      { Sid: 'TagShareCopies', Effect: 'Allow', Action: 'rds:AddTagsToResource', Resource: shareCopies },
      { Sid: 'ShareCopiesWithAirGap', Effect: 'Allow', Action: ['rds:ModifyDBClusterSnapshotAttribute', 'rds:ModifyDBSnapshotAttribute'], Resource: shareCopies },
      { Sid: 'DeleteOldShareCopies', Effect: 'Allow', Action: ['rds:DeleteDBClusterSnapshot', 'rds:DeleteDBSnapshot'], Resource: shareCopies },
      { Sid: 'ListPrimarySnapshots', Effect: 'Allow', Action: ['rds:DescribeDBClusterSnapshots', 'rds:DescribeDBSnapshots'], Resource: [arn('snapshot', '*'), arn('cluster-snapshot', '*')] },
      { Sid: 'GrantRdsTheVaultKey', Effect: 'Allow', Action: 'kms:CreateGrant', Resource: vaultKey, Condition: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
      { Sid: 'DescribeVaultKeyForRds', Effect: 'Allow', Action: 'kms:DescribeKey', Resource: vaultKey, Condition: viaRds },
    ];
    expect(granted).toEqual(unordered(expected));
    expect(sized(granted)).toEqual(sized(expected));
  });

  it('lets the vault account use the primary vault key through RDS in the primary region only; the DR replica not at all', () => {
    const [key] = Object.values(primary.findResources('AWS::KMS::Key', { Properties: { MultiRegion: true } }));
    const statements = (key!.Properties.KeyPolicy.Statement as Statement[]).filter((s) => JSON.stringify(s.Principal).includes(VAULT_ACCOUNT));
    const vaultRoot = { AWS: join('arn:', { Ref: 'AWS::Partition' }, `:iam::${VAULT_ACCOUNT}:root`) };
    const viaRds = { StringEquals: { 'kms:ViaService': `rds.${PRIMARY}.amazonaws.com` } };
    expect(statements).toEqual([
      { Sid: 'AirGapAccountCopiesSharedSnapshots', Effect: 'Allow', Principal: vaultRoot, Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: '*', Condition: viaRds },
      { Sid: 'AirGapAccountGrantsRdsOnly', Effect: 'Allow', Principal: vaultRoot, Action: 'kms:CreateGrant', Resource: '*', Condition: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
    ]);
    expect(JSON.stringify(dr.toJSON())).not.toContain(VAULT_ACCOUNT);
  });

  it('deploys the copier in the vault account, and says nothing about snapshots not being air-gapped', () => {
    expect(Object.keys(airGap.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { WORKLOAD_ACCOUNT: WORKLOAD } } } }))).toHaveLength(1);
    expect(Annotations.fromStack(stacks.airGap!).findWarning('*', Match.stringLikeRegexp('Snapshot backups are not copied'))).toEqual([]);
  });
});

describe('snapshot backups with the air-gapped vault in neither region', () => {
  it('deploys no copier and no share, and says at synth that snapshots are not air-gapped', () => {
    const app = testApp();
    const stacks = buildLifeboat(app, exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, region: 'us-east-1', keyArn: `arn:aws:kms:us-east-1:${VAULT_ACCOUNT}:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9` };
    }));
    const airGap = Template.fromStack(stacks.airGap!);
    expect(Object.keys(airGap.findResources('AWS::Lambda::Function'))).toHaveLength(0);
    const primary = JSON.stringify(Template.fromStack(stacks.primary).toJSON());
    for (const sid of ['ShareSnapshotCopiesWithAirGap', 'ShareCopiesWithAirGap', 'SNAPSHOT_SHARE_KEY_ARN', 'AirGapAccountCopiesSharedSnapshots']) expect(primary).not.toContain(sid);
    expect(JSON.stringify(Template.fromStack(stacks.dr).toJSON())).not.toContain(VAULT_ACCOUNT);
    Annotations.fromStack(stacks.airGap!).hasWarning(
      '*',
      Match.stringLikeRegexp('Snapshot backups are not copied to the air-gapped vault: it is in us-east-1, neither the primary region eu-west-1 nor the DR region eu-central-1'),
    );
  }, SYNTH_TIMEOUT_MS);
});
