import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat, SYNTH_TIMEOUT_MS } from './support.ts';

const vaultArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] };
const vaultKeyArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultKey'), 'Arn'] };

function dumpFunctions(lifeboat: SynthesizedLifeboat) {
  // The verify function runs the same image (HANDLER=verify) but belongs to the pipeline.
  return lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { PackageType: 'Image', Description: Match.stringLikeRegexp('pg_dump') } });
}

describe('dump functions from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat();
  }, SYNTH_TIMEOUT_MS);

  it('creates one container-image function per network placement, only in the primary region', () => {
    // orders-db and billing-db share a VPC and subnets but not security groups.
    expect(Object.keys(dumpFunctions(lifeboat))).toHaveLength(2);
    // Only CDK's cross-region export reader, the tamper alert publisher and the DR watch (its freshness function and alarm forwarder).
    lifeboat.dr.resourceCountIs('AWS::Lambda::Function', 4);
  });

  it('runs the orders-db dump in its VPC, subnets and security group, with tracing, a DLQ and bounded concurrency', () => {
    lifeboat.primary.hasResourceProperties('AWS::Lambda::Function', {
      PackageType: 'Image',
      Timeout: 900,
      MemorySize: 3008,
      ReservedConcurrentExecutions: 2,
      TracingConfig: { Mode: 'Active' },
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupDeadLetters'), 'Arn'] } },
      VpcConfig: { SubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'], SecurityGroupIds: ['sg-0a1b2c3d4e5f60003'] },
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^BackupDump1Logs') } },
    });
  });

  it('passes identifiers in the environment, never credentials', () => {
    for (const fn of Object.values(dumpFunctions(lifeboat))) {
      const variables = fn.Properties.Environment.Variables;
      const sources = JSON.parse(variables.LIFEBOAT_SOURCES);
      const caches = sources.filter((s: { engine: string }) => s.engine === 'redis');
      // A function that exports a cache's snapshot is told the staging bucket ElastiCache exports into.
      expect(Object.keys(variables).sort()).toEqual([
        'EVIDENCE_KEY_ARN', 'LIFEBOAT_SOURCES', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME', ...(caches.length > 0 ? ['STAGING_BUCKET'] : []), 'VAULT_BUCKET', 'VAULT_KEY_ARN',
      ]);
      for (const source of sources) {
        expect(Object.keys(source).sort()).toEqual(source.engine === 'redis' ? ['elasticache', 'engine', 'id'] : ['credentialsSecretArn', 'database', 'engine', 'id', 'rds']);
      }
      expect(JSON.stringify(variables)).not.toMatch(/password/i);
    }
  });

  it('tags the role as a vault-key encrypter and never as a decrypter', () => {
    const roles = lifeboat.primary.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp('^Lifeboat dump function') } });
    expect(Object.keys(roles)).toHaveLength(2);
    for (const role of Object.values(roles)) {
      expect(role.Properties.Tags).toContainEqual({ Key: 'lifeboat:key-use-encrypt', Value: 'true' });
      expect(role.Properties.Tags).not.toContainEqual(expect.objectContaining({ Key: 'lifeboat:key-use-decrypt' }));
    }
  });

  it('grants exactly what a dump of orders-db needs', () => {
    lifeboat.primary.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^BackupDump1Role') }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: Match.exact([
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupDeadLetters'), 'Arn'] } },
          { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupDump1Logs'), 'Arn'] } },
          { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupOperationsKey'), 'Arn'] } },
          {
            Sid: 'AttachToSourceVpc',
            Effect: 'Allow',
            Action: ['ec2:AssignPrivateIpAddresses', 'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:UnassignPrivateIpAddresses'],
            Resource: '*',
          },
          {
            Sid: 'ReadSourceCredentials',
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f2a9c4e-8b1d-4e6f-a0c2-7d5e9b1f3a68-Xy7Q2k',
          },
          {
            Sid: 'DescribeSourceInstances',
            Effect: 'Allow',
            Action: 'rds:DescribeDBInstances',
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:eu-west-1:123456789012:db:orders-prod']] },
          },
          {
            Sid: 'WriteOwnSourcePrefixes',
            Effect: 'Allow',
            Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
            Resource: { 'Fn::Join': ['', [vaultArn, '/backups/orders-db/*']] },
          },
          // What the wide prefix grant must never cover: the verifier's results, and a completed backup's manifest.
          {
            Sid: 'NeverWriteVerificationResults',
            Effect: 'Deny',
            Action: ['s3:DeleteObject', 's3:PutObject'],
            Resource: { 'Fn::Join': ['', [vaultArn, '/backups/orders-db/*/verifications/*']] },
          },
          { Sid: 'NeverHideCompletedBackups', Effect: 'Deny', Action: 's3:DeleteObject', Resource: { 'Fn::Join': ['', [vaultArn, '/backups/orders-db/*/manifest.json']] } },
          { Sid: 'ListVault', Effect: 'Allow', Action: 's3:ListBucket', Resource: vaultArn },
          { Sid: 'GenerateBackupDataKeys', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: vaultKeyArn },
          {
            Sid: 'CompleteSseKmsMultipartUploads',
            Effect: 'Allow',
            Action: 'kms:Decrypt',
            Resource: vaultKeyArn,
            Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
          },
          // Its audit events (docs/audit-trail.md): new objects under audit/ only, signed with the evidence key.
          { Sid: 'WriteAuditEvents', Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [vaultArn, '/audit/*']] } },
          { Sid: 'EncryptAuditEvents', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: vaultKeyArn, Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } },
          { Sid: 'SignAuditEvents', Effect: 'Allow', Action: 'kms:GenerateMac', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EvidenceKey'), 'Arn'] } },
        ]),
      },
    });
  });

  it('lets the function that exports sessions-cache snapshot only that cache, under its own names, and read and remove only its own exports', () => {
    const staging = { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupElastiCacheStagingBucket'), 'Arn'] };
    const elasticache = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:elasticache:eu-west-1:123456789012:${resource}`]] });
    lifeboat.primary.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^BackupDump2Role') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Sid: 'SnapshotOwnCaches', Effect: 'Allow', Action: 'elasticache:CreateSnapshot', Resource: [elasticache('replicationgroup:sessions-prod'), elasticache('snapshot:lifeboat-sessions-cache-*')] },
          {
            Sid: 'ExportAndRemoveOwnCacheSnapshots',
            Effect: 'Allow',
            Action: ['elasticache:AddTagsToResource', 'elasticache:CopySnapshot', 'elasticache:DeleteSnapshot', 'elasticache:DescribeSnapshots'],
            Resource: elasticache('snapshot:lifeboat-sessions-cache-*'),
          },
          // Listed by its group before each run, to remove the snapshots a stopped run left.
          { Sid: 'ListOwnCacheSnapshots', Effect: 'Allow', Action: 'elasticache:DescribeSnapshots', Resource: elasticache('replicationgroup:sessions-prod') },
          { Sid: 'FindStagingBucket', Effect: 'Allow', Action: ['s3:GetBucketLocation', 's3:ListAllMyBuckets'], Resource: '*' },
          { Sid: 'ListStagedExports', Effect: 'Allow', Action: 's3:ListBucket', Resource: staging },
          { Sid: 'ReadAndRemoveStagedExports', Effect: 'Allow', Action: ['s3:DeleteObject', 's3:GetObject'], Resource: { 'Fn::Join': ['', [staging, '/lifeboat-sessions-cache-*']] } },
        ]),
      },
    });
    // The function serving orders-db alone gets none of it.
    const orders = Object.values(lifeboat.primary.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^BackupDump1Role') }] } }));
    expect(JSON.stringify(orders)).not.toMatch(/elasticache|Staging/);
  });

  it('gives ElastiCache a staging bucket of its own: SSE-S3, TLS only, no public access, exports expired after a day, written only by the regional service principal under lifeboat-*', () => {
    lifeboat.primary.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: { Rules: [{ Id: 'expire-exports', Status: 'Enabled', ExpirationInDays: 1, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^VaultAccessLogs') }, LogFilePrefix: 'elasticache-staging/' },
    });
    const staging = { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupElastiCacheStagingBucket'), 'Arn'] };
    const service = { Service: 'eu-west-1.elasticache-snapshot.amazonaws.com' };
    lifeboat.primary.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^BackupElastiCacheStagingBucket') },
      PolicyDocument: {
        Statement: Match.exact([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          { Sid: 'ElastiCacheReadsTheBucket', Effect: 'Allow', Principal: service, Action: ['s3:GetBucketAcl', 's3:ListBucket', 's3:ListBucketMultipartUploads'], Resource: staging },
          { Sid: 'ElastiCacheWritesExports', Effect: 'Allow', Principal: service, Action: ['s3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'], Resource: { 'Fn::Join': ['', [staging, '/lifeboat-*']] } },
        ]),
      },
    });
  });

  it('describes Aurora clusters (not instances) for cluster sources', () => {
    lifeboat.primary.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^BackupDump2Role') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DescribeSourceClusters',
            Effect: 'Allow',
            Action: 'rds:DescribeDBClusters',
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:eu-west-1:123456789012:cluster:billing-prod']] },
          },
          Match.objectLike({ Sid: 'WriteOwnSourcePrefixes', Resource: Match.arrayWith([{ 'Fn::Join': ['', [vaultArn, '/backups/billing-db/*']] }]) }),
        ]),
      },
    });
  });

  it('encrypts logs and dead letters with the operations key and keeps logs for 90 days', () => {
    lifeboat.primary.hasResourceProperties('AWS::Logs::LogGroup', {
      RetentionInDays: 90,
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupOperationsKey'), 'Arn'] },
    });
    lifeboat.primary.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupOperationsKey'), 'Arn'] },
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    lifeboat.primary.hasResourceProperties('AWS::KMS::Key', {
      Description: 'Lifeboat function logs and dead letters',
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowCloudWatchLogsForThisAccount',
            Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
            Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });
});

describe('dump function grouping', () => {
  it('adds no function for a new source in a network that already has one', () => {
    const before = Object.keys(dumpFunctions(synthLifeboat())).length;
    const after = synthLifeboat(
      exampleConfig((raw) => {
        const orders = raw.sources[0];
        raw.sources.push({ ...orders, id: 'orders-replica', instanceIdentifier: 'orders-prod-2' });
      }),
    );
    expect(Object.keys(dumpFunctions(after))).toHaveLength(before);
    after.primary.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^BackupDump1Role') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'WriteOwnSourcePrefixes',
            Resource: [{ 'Fn::Join': ['', [vaultArn, '/backups/orders-db/*']] }, { 'Fn::Join': ['', [vaultArn, '/backups/orders-replica/*']] }],
          }),
        ]),
      },
    });
  });

  it('creates no dump function for snapshot-only sources', () => {
    const lifeboat = synthLifeboat(
      exampleConfig((raw) => {
        raw.sources = raw.sources.filter((source: { kind: string }) => source.kind !== 'elasticache-redis' && source.kind !== 's3' && source.kind !== 'config');
        for (const source of raw.sources) source.backup = { method: 'snapshot' };
        // The example's plan restores orders-db's dump, which a snapshot-only source does not have.
        delete raw.plans;
      }),
    );
    expect(Object.keys(dumpFunctions(lifeboat))).toHaveLength(0);
  });
});

describe('what a dump role can do in the vault, evaluated from its synthesized statements', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat();
  }, SYNTH_TIMEOUT_MS);

  type Statement = { Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: unknown };
  const VAULT = 'arn:aws:s3:::lifeboat-vault';

  /** The role's statements with the vault bucket's ARN resolved to VAULT, every other token left unmatched. */
  function statementsOf(roleId: string): Statement[] {
    const vaultId = Object.keys(lifeboat.primary.findResources('AWS::S3::Bucket')).find((id) => id.startsWith('VaultBucket'))!;
    const resolve = (value: unknown): string => {
      if (typeof value === 'string') return value;
      const v = value as Record<string, unknown>;
      if (v['Fn::Join']) return (v['Fn::Join'] as [string, unknown[]])[1].map(resolve).join((v['Fn::Join'] as [string])[0]);
      if (v['Fn::GetAtt'] && (v['Fn::GetAtt'] as string[])[0] === vaultId) return VAULT;
      return '<token>';
    };
    return Object.values(lifeboat.primary.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .map((s) => ({ ...s, Resource: [s.Resource].flat().map(resolve) }));
  }

  /** IAM's rule for one identity policy: an explicit deny wins, else some allow must match. */
  function allowed(statements: Statement[], action: string, resource: string): boolean {
    const glob = (pattern: string, text: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(text);
    const matches = (s: Statement) => [s.Action].flat().some((a) => glob(a, action)) && (s.Resource as string[]).some((r) => glob(r, resource));
    if (statements.some((s) => s.Effect === 'Deny' && matches(s))) return false;
    return statements.some((s) => s.Effect === 'Allow' && matches(s));
  }

  it('may write and clean up its own backups, but never write or remove a verification result, remove a completed backup\'s manifest, or touch another source or the evidence', () => {
    const stack = lifeboat.stacks.primary;
    const dumpRoles = stack.backup!.dumpFunctions.map((fn) => stack.getLogicalId(fn.role.node.defaultChild as never));
    // The dump function (and its Fargate task role) that backs up orders-db.
    const ordersRole = dumpRoles.find((role) => statementsOf(role).some((st) => (st.Resource as string[]).includes(`${VAULT}/backups/orders-db/*`)))!;
    expect(ordersRole).toBeDefined();
    const roles = [ordersRole, stack.getLogicalId(stack.backup!.dumpTaskFor.get('orders-db')!.taskRole.node.defaultChild as never)];
    const id = '20261202T020000Z-k3x7q2ab';
    for (const role of roles) {
      const statements = statementsOf(role);
      const can = (action: string, key: string) => allowed(statements, action, `${VAULT}/${key}`);
      expect(can('s3:PutObject', `backups/orders-db/${id}/payload`)).toBe(true);
      expect(can('s3:PutObject', `backups/orders-db/${id}/manifest.json`)).toBe(true);
      expect(can('s3:DeleteObject', `backups/orders-db/${id}/payload`)).toBe(true);
      // The forged result of the attack: a far-future name that would sort last.
      expect(can('s3:PutObject', `backups/orders-db/${id}/verifications/99991231T235959.999Z.json`)).toBe(false);
      expect(can('s3:DeleteObject', `backups/orders-db/${id}/verifications/20261202T021500.000Z.json`)).toBe(false);
      expect(can('s3:DeleteObject', `backups/orders-db/${id}/manifest.json`)).toBe(false);
      expect(can('s3:PutObject', `backups/billing-db/${id}/payload`)).toBe(false);
      expect(can('s3:PutObject', 'evidence/orders-failover/drill-1.json')).toBe(false);
      expect(can('s3:DeleteObject', 'audit/2026/12/02/20261202T021500.000Z-backup-abcdefghijkl.json')).toBe(false);
    }
  });
});
