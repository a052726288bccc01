// Tamper alarms: in both regions, EventBridge rules with exact CloudTrail patterns on the vault key and bucket,
// each sending to the publisher that raises the CRITICAL alert, whose role may only publish to the alert topic.
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/lifeboat-break-glass';

type Resource = { [key: string]: any };

function only(resources: Record<string, Resource>, what: string): [string, Resource] {
  const entries = Object.entries(resources);
  expect(entries, what).toHaveLength(1);
  return entries[0]!;
}

describe('tamper alarms', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig((raw) => (raw.vault = { ...raw.vault, breakGlassRoleArn: BREAK_GLASS })));
  }, SYNTH_TIMEOUT_MS);

  const regions = { primary: 'eu-west-1', dr: 'eu-central-1' } as const;

  function setting(region: 'primary' | 'dr') {
    const template = lifeboat[region];
    const bucketName = lifeboat.stacks[region].vault.bucket.bucketName;
    const rules = template.findResources('AWS::Events::Rule');
    const rule = (description: RegExp) => only(Object.fromEntries(Object.entries(rules).filter(([, r]) => description.test(r.Properties.Description))) as Record<string, Resource>, String(description))[1];
    const [publisherId] = only(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-tamper-alert' } } } }), 'publisher');
    return { template, bucketName: lifeboat.stacks[region].resolve(bucketName), rule, publisherId };
  }

  it('the example config synthesizes with the regions the tests assume', () => {
    expect(lifeboat.stacks.primary.region).toBe(regions.primary);
    expect(lifeboat.stacks.dr.region).toBe(regions.dr);
  });

  it.each(['primary', 'dr'] as const)('%s: a rule on the vault key matches DisableKey, ScheduleKeyDeletion and PutKeyPolicy on that key alone', (region) => {
    const { rule, template } = setting(region);
    const keyArn = region === 'primary'
      ? { 'Fn::GetAtt': [Object.keys(template.findResources('AWS::KMS::Key', { Properties: { MultiRegion: true } }))[0], 'Arn'] }
      : { 'Fn::GetAtt': [Object.keys(template.findResources('AWS::KMS::ReplicaKey'))[0], 'Arn'] };

    expect(rule(/vault key is disabled/).Properties.EventPattern).toEqual({
      source: ['aws.kms'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['kms.amazonaws.com'], eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'], resources: { ARN: [keyArn] } },
    });
  });

  it.each(['primary', 'dr'] as const)('%s: a rule on the vault bucket matches policy and Object Lock configuration changes to that bucket alone', (region) => {
    const { rule, bucketName } = setting(region);

    expect(rule(/bucket policy/).Properties.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['s3.amazonaws.com'], eventName: ['PutBucketPolicy', 'DeleteBucketPolicy', 'PutObjectLockConfiguration'], requestParameters: { bucketName: [bucketName] } },
    });
  });

  it.each(['primary', 'dr'] as const)('%s: a rule matches deletes and retention changes on the vault that bypass governance retention or remove a version', (region) => {
    const { rule, bucketName } = setting(region);

    expect(rule(/Object Lock on the vault is bypassed/).Properties.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['s3.amazonaws.com'],
        eventName: ['DeleteObject', 'DeleteObjects', 'PutObjectRetention'],
        requestParameters: { bucketName: [bucketName] },
        $or: [
          { requestParameters: { 'x-amz-bypass-governance-retention': [{ exists: true }] } },
          { requestParameters: { versionId: [{ exists: true }] } },
          { eventName: ['PutObjectRetention'] },
        ],
      },
    });
  });

  it.each(['primary', 'dr'] as const)('%s: every rule targets the publisher, which publishes to this region\'s alert topic and knows the break-glass role', (region) => {
    const { template, rule, publisherId } = setting(region);
    const topicId = only(template.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Lifeboat alerts' } }), 'alert topic')[0];

    for (const description of [/vault key is disabled/, /bucket policy/, /Object Lock on the vault is bypassed/]) {
      expect(rule(description).Properties.Targets).toEqual([
        { Arn: { 'Fn::GetAtt': [publisherId, 'Arn'] }, Id: 'Target0', RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 } },
      ]);
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ALERT_TOPIC_ARN: { Ref: topicId }, BREAK_GLASS_ROLE_ARN: BREAK_GLASS }) },
    });
  });

  it.each(['primary', 'dr'] as const)('%s: the publisher role may publish to the alert topic and use its key, nothing else of Lifeboat\'s', (region) => {
    const { template, publisherId } = setting(region);
    const roleId = template.toJSON().Resources[publisherId].Properties.Role['Fn::GetAtt'][0];
    const topicId = only(template.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Lifeboat alerts' } }), 'alert topic')[0];
    const topicKeyId = Object.entries(template.findResources('AWS::KMS::Key')).find(([, k]) => k.Properties.Description === 'Lifeboat alert topic key')![0];
    const [, policy] = only(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }), 'publisher policy');
    const statements: { Sid?: string }[] = policy.Properties.PolicyDocument.Statement;

    expect(statements.filter((s) => s.Sid !== undefined)).toEqual([
      { Sid: 'PublishAlerts', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } },
      { Sid: 'EncryptAlerts', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [topicKeyId, 'Arn'] } },
    ]);
    // The rest is Lambda's own plumbing: logs, dead letters and X-Ray, never S3 or the vault key.
    const actions = statements.filter((s) => s.Sid === undefined).flatMap((s: any) => [s.Action].flat());
    expect(actions.filter((a: string) => /^(s3|secretsmanager|rds):/.test(a))).toEqual([]);
  });
});

describe('the vault trail (vault.createTrail)', () => {
  const regions = { primary: 'eu-west-1', dr: 'eu-central-1' } as const;
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    // cdk-nag on (synthLifeboat): the trail, its bucket and key pass the compliance checks.
    lifeboat = synthLifeboat(exampleConfig((raw) => (raw.vault = { ...raw.vault, createTrail: true })));
  }, SYNTH_TIMEOUT_MS);

  it.each(['primary', 'dr'] as const)('%s: one single-region trail records write management events and the vault bucket\'s object writes, encrypted and validated', (region) => {
    const template = lifeboat[region];
    const [, trail] = only(template.findResources('AWS::CloudTrail::Trail'), 'trail');
    const bucketArn = lifeboat.stacks[region].resolve(lifeboat.stacks[region].vault.bucket.bucketArn);
    const trailKeyId = only(template.findResources('AWS::KMS::Key', { Properties: { Description: 'Lifeboat: encrypts the log files of trail lifeboat-vault' } }), 'trail key')[0];
    expect(trail.Properties).toMatchObject({
      TrailName: 'lifeboat-vault',
      IsLogging: true,
      IsMultiRegionTrail: false,
      // Global (IAM) events once, in the primary region.
      IncludeGlobalServiceEvents: region === 'primary',
      EnableLogFileValidation: true,
      KMSKeyId: { 'Fn::GetAtt': [trailKeyId, 'Arn'] },
    });
    expect(trail.Properties.EventSelectors).toEqual([
      { IncludeManagementEvents: true, ReadWriteType: 'WriteOnly' },
      { DataResources: [{ Type: 'AWS::S3::Object', Values: [{ 'Fn::Join': ['', [bucketArn, '/']] }] }], IncludeManagementEvents: false, ReadWriteType: 'WriteOnly' },
    ]);
  });

  it.each(['primary', 'dr'] as const)('%s: CloudTrail may encrypt with the trail key only for this trail', (region) => {
    const template = lifeboat[region];
    const [, key] = only(template.findResources('AWS::KMS::Key', { Properties: { Description: 'Lifeboat: encrypts the log files of trail lifeboat-vault' } }), 'trail key');
    const trailArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudtrail:${regions[region]}:123456789012:trail/lifeboat-vault`]] };
    const cloudTrail = key.Properties.KeyPolicy.Statement.filter((s: Resource) => s.Principal?.Service === 'cloudtrail.amazonaws.com');
    expect(cloudTrail).toEqual([
      {
        Sid: 'CloudTrailEncryptsThisTrailsLogs',
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 'kms:GenerateDataKey*',
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:SourceArn': trailArn },
          StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudtrail:*:123456789012:trail/*']] } },
        },
      },
      { Sid: 'CloudTrailDescribesTheKey', Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 'kms:DescribeKey', Resource: '*', Condition: { StringEquals: { 'aws:SourceArn': trailArn } } },
    ]);
  });

  it.each(['primary', 'dr'] as const)('%s: stopping, deleting or narrowing the trail alarms, through the same publisher', (region) => {
    const template = lifeboat[region];
    const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((r) => /trail these alarms need/.test(r.Properties.Description));
    expect(rules).toHaveLength(1);
    const trailArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudtrail:${regions[region]}:123456789012:trail/lifeboat-vault`]] };
    expect(rules[0]!.Properties.EventPattern).toEqual({
      source: ['aws.cloudtrail'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['cloudtrail.amazonaws.com'], eventName: ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'], requestParameters: { name: ['lifeboat-vault', trailArn] } },
    });
    const [publisherId] = only(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'lifeboat-tamper-alert' } } } }), 'publisher');
    expect(rules[0]!.Properties.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [publisherId, 'Arn'] } })]);
  });

  it('is not created by default: an organization trail is the stronger choice', () => {
    const plain = synthLifeboat(exampleConfig());
    for (const template of [plain.primary, plain.dr]) {
      expect(template.findResources('AWS::CloudTrail::Trail')).toEqual({});
      expect(Object.values(template.findResources('AWS::Events::Rule')).filter((r) => /trail these alarms need/.test(r.Properties.Description))).toEqual([]);
    }
  }, SYNTH_TIMEOUT_MS);
});
