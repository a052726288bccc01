import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat, SYNTH_TIMEOUT_MS } from './support.ts';

const ACCOUNT = '123456789012';
const accountRoot = { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${ACCOUNT}:root`]] } };

const expectedVaultKeyPolicy = (region: string, copyRegion?: string) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'KeyAdministration',
      Effect: 'Allow',
      Principal: accountRoot,
      Resource: '*',
      Action: [
        'kms:CancelKeyDeletion',
        'kms:CreateAlias',
        'kms:Delete*',
        'kms:Describe*',
        'kms:Disable*',
        'kms:Enable*',
        'kms:Get*',
        'kms:List*',
        'kms:Put*',
        'kms:ReplicateKey',
        'kms:Revoke*',
        'kms:ScheduleKeyDeletion',
        'kms:TagResource',
        'kms:UntagResource',
        'kms:Update*',
        'kms:UpdatePrimaryRegion',
      ],
    },
    {
      // Not through kms:Create*: a grant would step around the key-use tags.
      Sid: 'GrantsOnlyForAwsServices',
      Effect: 'Allow',
      Principal: accountRoot,
      Resource: '*',
      Action: 'kms:CreateGrant',
      Condition: { StringEquals: { 'aws:PrincipalAccount': ACCOUNT }, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    },
    {
      Sid: 'EncryptOnlyForBackupWriters',
      Effect: 'Allow',
      Principal: accountRoot,
      Resource: '*',
      Action: ['kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
      Condition: {
        StringEquals: { 'aws:PrincipalAccount': ACCOUNT },
        StringEqualsIgnoreCase: { 'aws:PrincipalTag/lifeboat:key-use-encrypt': 'true' },
      },
    },
    {
      Sid: 'DecryptOnlyForBackupReaders',
      Effect: 'Allow',
      Principal: accountRoot,
      Resource: '*',
      Action: ['kms:Decrypt', 'kms:DescribeKey'],
      Condition: {
        StringEquals: { 'aws:PrincipalAccount': ACCOUNT },
        StringEqualsIgnoreCase: { 'aws:PrincipalTag/lifeboat:key-use-decrypt': 'true' },
      },
    },
    {
      Sid: 'WritersDecryptOnlyThroughS3',
      Effect: 'Allow',
      Principal: accountRoot,
      Resource: '*',
      Action: 'kms:Decrypt',
      Condition: {
        StringEquals: { 'aws:PrincipalAccount': ACCOUNT },
        StringEqualsIgnoreCase: { 'aws:PrincipalTag/lifeboat:key-use-encrypt': 'true' },
        // The primary key also admits S3 in the DR region, where the server-side copies are requested.
        StringLike: {
          'kms:ViaService': copyRegion ? [`s3.${region}.amazonaws.com`, `s3.${copyRegion}.amazonaws.com`] : `s3.${region}.amazonaws.com`,
          'kms:EncryptionContext:aws:s3:arn': 'arn:*:s3:::*',
        },
      },
    },
  ],
});

function tlsOnlyStatements(bucketLogicalIdPrefix: string) {
  const arn = { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${bucketLogicalIdPrefix}`), 'Arn'] };
  const resources = [arn, { 'Fn::Join': ['', [arn, '/*']] }];
  return [
    { Sid: Match.absent(), Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: resources, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    { Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: resources, Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } },
  ];
}

describe('region stacks from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat();
  }, SYNTH_TIMEOUT_MS);

  it('places one stack in each configured region', () => {
    expect(lifeboat.stacks.primary.region).toBe('eu-west-1');
    expect(lifeboat.stacks.dr.region).toBe('eu-central-1');
    expect(lifeboat.stacks.primary.stackName).toBe('lifeboat-primary');
    expect(lifeboat.stacks.dr.stackName).toBe('lifeboat-dr');
  });

  it('creates a multi-Region vault key with rotation and the exact key policy in the primary region', () => {
    lifeboat.primary.resourcePropertiesCountIs('AWS::KMS::Key', { MultiRegion: true }, 1);
    lifeboat.primary.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: {
        MultiRegion: true,
        EnableKeyRotation: true,
        PendingWindowInDays: 30,
        KeyPolicy: Match.objectEquals(expectedVaultKeyPolicy('eu-west-1', 'eu-central-1')),
      },
    });
  });

  it('replicates the primary key into the DR region with the same key policy', () => {
    lifeboat.dr.resourceCountIs('AWS::KMS::ReplicaKey', 1);
    lifeboat.dr.hasResource('AWS::KMS::ReplicaKey', {
      DeletionPolicy: 'Retain',
      Properties: {
        PrimaryKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ExportsReader'), Match.stringLikeRegexp('VaultKey')] },
        KeyPolicy: Match.objectEquals(expectedVaultKeyPolicy('eu-central-1')),
      },
    });
    // The DR stack creates no multi-Region primary of its own.
    lifeboat.dr.resourcePropertiesCountIs('AWS::KMS::Key', { MultiRegion: true }, 0);
  });

  for (const region of ['primary', 'dr'] as const) {
    describe(`${region} vault`, () => {
      const template = () => lifeboat[region];
      const keyRef = { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultKey'), 'Arn'] };

      it('encrypts with the region vault key (SSE-KMS, bucket key on)', () => {
        template().hasResourceProperties('AWS::S3::Bucket', {
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyRef } },
            ],
          },
        });
      });

      it('is versioned with Object Lock on and the configured default retention', () => {
        template().hasResourceProperties('AWS::S3::Bucket', {
          VersioningConfiguration: { Status: 'Enabled' },
          ObjectLockEnabled: true,
          ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 35 } } },
        });
      });

      it('blocks all public access and logs to a separate access-log bucket', () => {
        template().hasResourceProperties('AWS::S3::Bucket', {
          ObjectLockEnabled: true,
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
          LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^VaultAccessLogs') }, LogFilePrefix: 'vault/' },
        });
        template().hasResourceProperties('AWS::S3::Bucket', {
          ObjectLockEnabled: Match.absent(),
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        });
      });

      it('tiers dump and snapshot backups (never file-set packs, audit events or evidence) by the configured lifecycle and expires old versions of everything', () => {
        template().hasResourceProperties('AWS::S3::Bucket', {
          ObjectLockEnabled: true,
          LifecycleConfiguration: {
            Rules: [
              {
                Id: 'tier-backups',
                Prefix: 'backups/',
                Status: 'Enabled',
                Transitions: [
                  { StorageClass: 'GLACIER_IR', TransitionInDays: 30 },
                  { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 180 },
                ],
                NoncurrentVersionExpiration: { NoncurrentDays: 90 },
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
              },
              { Id: 'expire-old-versions', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 90 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
            ],
          },
        });
      });

      it('keeps both buckets when the stack is deleted', () => {
        const buckets = template().findResources('AWS::S3::Bucket');
        // The primary region also stages ElastiCache exports (sessions-cache) in a bucket of its own.
        expect(Object.keys(buckets)).toHaveLength(region === 'primary' ? 3 : 2);
        for (const bucket of Object.values(buckets)) {
          expect(bucket.DeletionPolicy).toBe('Retain');
          expect(bucket.UpdateReplacePolicy).toBe('Retain');
        }
      });

      it('has a vault bucket policy that denies non-TLS access and, where backups are made, evidence writes by anyone but its producer', () => {
        // Whatever any other principal's IAM allows: a Deny in the bucket policy wins over any Allow.
        const onlyWrittenBy = (sid: string, prefix: string, roles: string[]) => ({
          Sid: sid,
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:PutObject',
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] }, `/${prefix}`]] },
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': roles.map((role) => ({ 'Fn::GetAtt': [Match.stringLikeRegexp(`^${role}`), 'Arn'] })) } },
        });
        const evidence =
          region === 'primary'
            ? [
                onlyWrittenBy('OnlyTheVerifierWritesVerificationResults', 'backups/*/*/verifications/*', ['PipelineVerifyRole', 'BackupRunnerVerifyTaskRole']),
                onlyWrittenBy('OnlyTheVerifierWritesFileSetResults', 'filesets/*/snapshots/*/verifications/*', ['PipelineVerifyRole', 'BackupRunnerVerifyTaskRole']),
                onlyWrittenBy('OnlyTheDrStepWritesDrEvidence', 'evidence/*', ['PlansDrStepRole', 'BackupRunnerDrStepTaskRole']),
                onlyWrittenBy('OnlyTheReportFunctionWritesReports', 'reports/*', ['ReportFunctionRole']),
              ]
            : [
                // The DR vault: verification results only as the primary's copy function copies them (a cross-region reference).
                ...(
                  [
                    ['OnlyTheCopyFunctionWritesVerificationResults', '/backups/*/*/verifications/*'],
                    ['OnlyTheCopyFunctionWritesFileSetResults', '/filesets/*/snapshots/*/verifications/*'],
                  ] as const
                ).map(([Sid, prefix]) => ({
                  Sid,
                  Effect: 'Deny',
                  Principal: { AWS: '*' },
                  Action: 's3:PutObject',
                  Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] }, prefix]] },
                  Condition: {
                    ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ExportsReader'), Match.stringLikeRegexp('FnGetAttPipelineCopyRole[0-9A-F]{8}Arn')] }] },
                  },
                })),
              ];
        template().hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: Match.stringLikeRegexp('^VaultBucket') },
          PolicyDocument: { Version: '2012-10-17', Statement: Match.exact([...tlsOnlyStatements('VaultBucket'), ...evidence]) },
        });
      });

      it('lets S3 log delivery write only the vault access logs, over TLS', () => {
        template().hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: Match.stringLikeRegexp('^VaultAccessLogs') },
          PolicyDocument: {
            Statement: [
              ...tlsOnlyStatements('VaultAccessLogs'),
              {
                Effect: 'Allow',
                Principal: { Service: 'logging.s3.amazonaws.com' },
                Action: 's3:PutObject',
                Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultAccessLogs'), 'Arn'] }, '/vault/*']] },
                Condition: {
                  ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] } },
                  StringEquals: { 'aws:SourceAccount': ACCOUNT },
                },
              },
              // ... and the ElastiCache staging bucket's, under its own prefix (primary only).
              ...(region === 'primary'
                ? [
                    {
                      Effect: 'Allow',
                      Principal: { Service: 'logging.s3.amazonaws.com' },
                      Action: 's3:PutObject',
                      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultAccessLogs'), 'Arn'] }, '/elasticache-staging/*']] },
                      Condition: {
                        ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupElastiCacheStagingBucket'), 'Arn'] } },
                        StringEquals: { 'aws:SourceAccount': ACCOUNT },
                      },
                    },
                  ]
                : []),
            ],
          },
        });
      });

      it('has a KMS-encrypted, TLS-only alert topic', () => {
        // The primary stack also has one contacts topic per DR plan (test/infra/dr-plans.test.ts).
        expect(Object.keys(template().findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Lifeboat alerts' } }))).toHaveLength(1);
        template().hasResourceProperties('AWS::SNS::Topic', { DisplayName: 'Lifeboat alerts', KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsKey'), 'Arn'] } });
        template().hasResourceProperties('AWS::KMS::Key', { Description: 'Lifeboat alert topic key', EnableKeyRotation: true });
        template().hasResourceProperties('AWS::SNS::TopicPolicy', {
          PolicyDocument: {
            Statement: [
              Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ],
          },
        });
      });

      it('subscribes each alert target filtered to its minimum severity and above', () => {
        const alertSubscriptions = Object.values(template().findResources('AWS::SNS::Subscription')).filter((s) => JSON.stringify(s.Properties.TopicArn).includes('AlertsTopic'));
        expect(alertSubscriptions).toHaveLength(2);
        template().hasResourceProperties('AWS::SNS::Subscription', {
          Protocol: 'email',
          Endpoint: 'platform-oncall@example.com',
          FilterPolicy: { severity: ['WARNING', 'ERROR', 'CRITICAL'] },
        });
        template().hasResourceProperties('AWS::SNS::Subscription', {
          Protocol: 'https',
          Endpoint: 'https://hooks.example.com/lifeboat',
          FilterPolicy: { severity: ['ERROR', 'CRITICAL'] },
        });
      });
    });
  }
});

describe('config choices reach the templates', () => {
  it('uses COMPLIANCE mode and the retention days from config', () => {
    const { primary, dr } = synthLifeboat(
      exampleConfig((raw) => {
        raw.vault = { objectLock: { mode: 'COMPLIANCE', retentionDays: 400 } };
      }),
    );
    for (const t of [primary, dr]) {
      t.hasResourceProperties('AWS::S3::Bucket', {
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 400 } } },
      });
    }
  });

  it('drops a lifecycle transition that is disabled with null', () => {
    const { primary } = synthLifeboat(
      exampleConfig((raw) => {
        raw.vault = { lifecycle: { glacierInstantRetrievalAfterDays: null, deepArchiveAfterDays: 365, noncurrentVersionExpiryDays: 30 } };
      }),
    );
    primary.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({
            Transitions: [{ StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 365 }],
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          }),
          Match.objectLike({ Id: 'expire-old-versions', NoncurrentVersionExpiration: { NoncurrentDays: 30 } }),
        ],
      },
    });
  });

  it('creates no subscription when no alert targets are configured', () => {
    const { primary } = synthLifeboat(
      exampleConfig((raw) => {
        delete raw.alerts;
        // The example's plan has contacts of its own, with a topic and subscriptions of its own.
        delete raw.plans;
      }),
    );
    // The alert topic, and the monitoring alarm topic whose one subscription is the function that forwards alarms to it.
    primary.resourceCountIs('AWS::SNS::Topic', 2);
    const subscriptions = Object.values(primary.findResources('AWS::SNS::Subscription'));
    expect(subscriptions.filter((s) => JSON.stringify(s.Properties.TopicArn).includes('AlertsTopic'))).toEqual([]);
    expect(subscriptions.map((s) => s.Properties.Protocol)).toEqual(['lambda']);
  });
});

describe('synthesis offline', () => {
  it('needs no AWS lookups and leaves no error or warning annotation in either stack', () => {
    const { app, stacks } = synthLifeboat();
    const assembly = app.synth();
    // A lookup (AZs, VPCs, ...) would need credentials at synth time and show up as missing context.
    expect(assembly.manifest.missing ?? []).toEqual([]);
    for (const stack of [stacks.primary, stacks.dr]) {
      Annotations.fromStack(stack).hasNoError('*', Match.anyValue());
      Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
    }
  });
});
