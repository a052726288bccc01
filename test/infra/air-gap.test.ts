// The air-gapped vault (config `vaultAccount`): a third stack in another account whose vault the workload account
// may only add objects to (exact bucket policy), under a key only that account administers, with a reader role
// the workload account may assume; and the config refuses an air gap that is none.
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ordersRestorePlan } from '../fixtures/plans.ts';
import { buildLifeboat } from '../../infra/lifeboat.ts';
import { KEY_ADMIN_ACTIONS } from '../../infra/constructs/vault-key.ts';
import { exampleConfig, SYNTH_TIMEOUT_MS, testApp } from './support.ts';

const WORKLOAD = '111122223333';
const VAULT_ACCOUNT = '444455556666';

type Statement = { Sid?: string; Effect: string; [key: string]: unknown };

describe('with vaultAccount', () => {
  let template: Template;
  let stackAccount: string;
  let stackRegion: string;
  beforeAll(() => {
    const app = testApp({ compliance: true });
    const stacks = buildLifeboat(app, exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT };
    }));
    expect(stacks.airGap).toBeDefined();
    stackAccount = stacks.airGap!.account;
    stackRegion = stacks.airGap!.region;
    template = Template.fromStack(stacks.airGap!);
  }, SYNTH_TIMEOUT_MS);

  const only = (type: string, props?: object) => {
    const found = Object.entries(template.findResources(type, props ? { Properties: props } : undefined));
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };
  const vaultBucket = () => only('AWS::S3::Bucket', { BucketName: `lifeboat-airgap-${VAULT_ACCOUNT}-eu-west-1` });

  it('deploys into the vault account, in the primary region by default', () => {
    expect(stackAccount).toBe(VAULT_ACCOUNT);
    expect(stackRegion).toBe('eu-west-1');
  });

  it('holds a versioned vault with COMPLIANCE Object Lock (90 days by default) under its own key', () => {
    const [, bucket] = vaultBucket();
    const [keyId] = only('AWS::KMS::Key', { Description: 'Lifeboat air-gapped vault key (administered by this account only)' });

    expect(bucket.Properties.ObjectLockEnabled).toBe(true);
    expect(bucket.Properties.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 90 } } });
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  it('lets the workload account add objects under backups/ and filesets/ and nothing else: no read, list, delete, retention or policy change', () => {
    const [bucketId] = vaultBucket();
    const [keyId] = only('AWS::KMS::Key', { Description: 'Lifeboat air-gapped vault key (administered by this account only)' });
    const [, policy] = only('AWS::S3::BucketPolicy', { Bucket: { Ref: bucketId } });
    const workload = { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${WORKLOAD}:root`]] } };
    const objects = (suffix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, suffix]] });
    const statements: Statement[] = policy.Properties.PolicyDocument.Statement;

    expect(statements.filter((s) => JSON.stringify(s.Principal) === JSON.stringify(workload))).toEqual([
      { Sid: 'WorkloadAddsBackupsUnderTheKey', Effect: 'Allow', Principal: workload, Action: ['s3:AbortMultipartUpload', 's3:PutObject'], Resource: [objects('/backups/*'), objects('/filesets/*')] },
      // Another key or kind of encryption named is refused; none named is the bucket's default, this key. The headers
      // cannot be required: a multipart copy's UploadPartCopy and Complete (s3:PutObject too) never carry them.
      {
        Sid: 'WorkloadWritesOnlyUnderThisKey',
        Effect: 'Deny',
        Principal: workload,
        Action: 's3:PutObject',
        Resource: objects('/*'),
        Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': { 'Fn::GetAtt': [keyId, 'Arn'] } } },
      },
      { Sid: 'WorkloadWritesOnlyWithKms', Effect: 'Deny', Principal: workload, Action: 's3:PutObject', Resource: objects('/*'), Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
      { Sid: 'WorkloadWritesNoCustomerKeys', Effect: 'Deny', Principal: workload, Action: 's3:PutObject', Resource: objects('/*'), Condition: { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } } },
      { Sid: 'WorkloadMayDoNothingElse', Effect: 'Deny', Principal: workload, NotAction: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, objects('/*')] },
    ]);
  });

  it('its key is administered by the vault account alone; the workload account may only encrypt through S3 into this bucket, and wrap backup data keys', () => {
    const [, key] = only('AWS::KMS::Key', { Description: 'Lifeboat air-gapped vault key (administered by this account only)' });
    const statements: Statement[] = key.Properties.KeyPolicy.Statement;
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));

    // And (the example has snapshot sources, and the vault is in the primary region) the snapshot copier's two, through RDS only (air-gap-snapshots.test.ts).
    expect(statements.map((s) => s.Sid)).toEqual([
      'KeyAdministrationByThisAccountOnly', 'WorkloadEncryptsThroughS3Only', 'WorkloadWrapsBackupDataKeys', 'WorkloadWrapsFileSetDataKeys', 'ReaderDecrypts', 'CopierEncryptsSnapshotCopies', 'CopierGrantsRdsOnly',
    ]);
    // Encrypt only (never Decrypt), and only with a Lifeboat backup's encryption context.
    expect(bySid.WorkloadWrapsBackupDataKeys).toEqual({
      Sid: 'WorkloadWrapsBackupDataKeys',
      Effect: 'Allow',
      Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${WORKLOAD}:root`]] } },
      Action: 'kms:Encrypt',
      Resource: '*',
      Condition: { StringLike: { 'kms:EncryptionContext:lifeboat:backup': '*', 'kms:EncryptionContext:lifeboat:source': '*' } },
    });
    // A file set's packs and chunk-id key: their context names the pack or the object, not a backup.
    expect(bySid.WorkloadWrapsFileSetDataKeys).toEqual({
      Sid: 'WorkloadWrapsFileSetDataKeys',
      Effect: 'Allow',
      Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${WORKLOAD}:root`]] } },
      Action: 'kms:Encrypt',
      Resource: '*',
      Condition: {
        StringLike: { 'kms:EncryptionContext:lifeboat:source': '*' },
        'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': ['lifeboat:pack', 'lifeboat:object'] },
      },
    });
    expect(bySid.KeyAdministrationByThisAccountOnly).toEqual({
      Sid: 'KeyAdministrationByThisAccountOnly',
      Effect: 'Allow',
      Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${VAULT_ACCOUNT}:root`]] } },
      // In CloudFormation's (sorted) order; none of them granted to the workload account.
      Action: [...KEY_ADMIN_ACTIONS].sort(),
      Resource: '*',
    });
    expect(bySid.WorkloadEncryptsThroughS3Only).toEqual({
      Sid: 'WorkloadEncryptsThroughS3Only',
      Effect: 'Allow',
      Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${WORKLOAD}:root`]] } },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::lifeboat-airgap-${VAULT_ACCOUNT}-eu-west-1/*`]] } },
      },
    });
  });

  it('has a reader role the workload account may assume, which may read, list and restore backups and decrypt them', () => {
    const [roleId, role] = only('AWS::IAM::Role', { RoleName: 'lifeboat-airgap-reader' });
    const [bucketId] = vaultBucket();
    const [keyId] = only('AWS::KMS::Key', { Description: 'Lifeboat air-gapped vault key (administered by this account only)' });
    const [, policy] = only('AWS::IAM::Policy', { Roles: [{ Ref: roleId }] });

    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${WORKLOAD}:root`]] } }, Action: 'sts:AssumeRole' },
    ]);
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'ReadBackups',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:RestoreObject'],
        Resource: [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/backups/*']] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/filesets/*']] }],
      },
      { Sid: 'ListBackups', Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] } },
      { Sid: 'DecryptBackups', Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });
});

describe('the vaultAccount setting', () => {
  it('needs the workload account named, naming the field', () => {
    expect(() => exampleConfig((raw) => {
      delete raw.account;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT };
    })).toThrow(/account: required when vaultAccount is set/);
  });

  it('refuses the workload account itself', () => {
    expect(() => exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: WORKLOAD };
    })).toThrow(/vaultAccount\.accountId: must be another account than account \(111122223333\)/);
  });

  it('refuses an account id that is not 12 digits', () => {
    expect(() => exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: '4444' };
    })).toThrow(/vaultAccount\.accountId: must be a 12-digit AWS account id/);
  });

  it('without it, no third stack', () => {
    const stacks = buildLifeboat(testApp(), exampleConfig());
    expect(stacks.airGap).toBeUndefined();
  });

  it('refuses a keyArn of another account or region than the air-gap stack', () => {
    expect(() => exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, keyArn: `arn:aws:kms:eu-west-1:${WORKLOAD}:key/0a1b2c3d-1111-2222-3333-444455556666` };
    })).toThrow(/vaultAccount\.keyArn: must be a key of the vault account 444455556666 in eu-west-1/);
    expect(() => exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, keyArn: 'alias/airgap' };
    })).toThrow(/vaultAccount\.keyArn: must be a KMS key ARN/);
  });
});

describe('with vaultAccount.keyArn (the second deploy): the workload side', () => {
  const KEY_ARN = `arn:aws:kms:eu-west-1:${VAULT_ACCOUNT}:key/0a1b2c3d-1111-2222-3333-444455556666`;
  const BUCKET = `lifeboat-airgap-${VAULT_ACCOUNT}-eu-west-1`;
  let primary: Template;
  beforeAll(() => {
    const app = testApp({ compliance: true });
    const stacks = buildLifeboat(app, exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, keyArn: KEY_ARN };
    }));
    primary = Template.fromStack(stacks.primary);
  }, SYNTH_TIMEOUT_MS);

  const functions = (service: string) =>
    Object.values(primary.findResources('AWS::Lambda::Function')).filter((fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === service);
  const statementsOfRole = (roleRef: unknown) => {
    const roleId = (roleRef as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    return [...Object.values(primary.findResources('AWS::IAM::Policy')), ...Object.values(primary.findResources('AWS::IAM::ManagedPolicy'))]
      .filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  };

  it('wraps every dump, configuration backup and file-set snapshot under the air-gapped key too: Encrypt only, on that key alone', () => {
    expect(functions('lifeboat-config-backup')).toHaveLength(1);
    expect(functions('lifeboat-fileset-backup')).toHaveLength(1);
    const dumps = [...functions('lifeboat-dump'), ...functions('lifeboat-config-backup'), ...functions('lifeboat-fileset-backup')];
    expect(dumps.length).toBeGreaterThan(0);
    for (const fn of dumps) {
      expect(fn.Properties.Environment.Variables.AIR_GAP_KEY_ARN).toBe(KEY_ARN);
      const uses = statementsOfRole(fn.Properties.Role).filter((st) => JSON.stringify(st.Resource).includes(KEY_ARN));
      expect(uses).toEqual([{ Sid: 'WrapForAirGappedVault', Effect: 'Allow', Action: 'kms:Encrypt', Resource: KEY_ARN }]);
    }
    // The Fargate dump tasks get the same variable and statement.
    const tasks = Object.values(primary.findResources('AWS::ECS::TaskDefinition')).filter((t) => /dump|fileset/.test(String(t.Properties.Family)));
    expect(tasks.some((t) => /fileset/.test(String(t.Properties.Family)))).toBe(true);
    expect(tasks.length).toBeGreaterThan(0);
    for (const task of tasks) expect(task.Properties.ContainerDefinitions[0].Environment).toContainEqual({ Name: 'AIR_GAP_KEY_ARN', Value: KEY_ARN });
  });

  it('lets the copy function add objects to the air-gapped vault and encrypt them there through S3, nothing more', () => {
    const [copy] = functions('lifeboat-copy');
    expect(copy!.Properties.Environment.Variables).toMatchObject({ AIR_GAP_BUCKET: BUCKET, AIR_GAP_REGION: 'eu-west-1', AIR_GAP_ACCOUNT: VAULT_ACCOUNT, AIR_GAP_KEY_ARN: KEY_ARN });
    const airGap = statementsOfRole(copy!.Properties.Role).filter((st) => JSON.stringify(st).includes(BUCKET) || JSON.stringify(st).includes(KEY_ARN));
    expect(airGap).toEqual([
      {
        Sid: 'AddToAirGappedVault',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:PutObject'],
        Resource: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${BUCKET}/backups/*`]] }, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${BUCKET}/filesets/*`]] }],
      },
      {
        Sid: 'EncryptAirGappedObjects',
        Effect: 'Allow',
        // Decrypt: S3 assembles a multipart copy (a payload object above 5 GiB) under SSE-KMS with it.
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: KEY_ARN,
        Condition: {
          StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' },
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${BUCKET}/*`]] } },
        },
      },
    ]);
  });

  it('gives no function anything in the air-gapped vault when no plan restores from it', () => {
    const [drStep] = functions('lifeboat-dr-step');
    expect(drStep).toBeDefined();
    expect(drStep!.Properties.Environment.Variables.AIR_GAP_READER_ROLE_ARN).toBeUndefined();
    expect(statementsOfRole(drStep!.Properties.Role).filter((st) => st.Sid === 'ReadAirGappedVault')).toEqual([]);
  });

  it('gives no other function anything in the air-gapped vault or on its key', () => {
    const others = Object.values(primary.findResources('AWS::Lambda::Function')).filter(
      (fn) => !['lifeboat-dump', 'lifeboat-config-backup', 'lifeboat-fileset-backup', 'lifeboat-copy'].includes(fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME),
    );
    for (const fn of others) {
      if (!fn.Properties.Role) continue;
      expect(statementsOfRole(fn.Properties.Role).filter((st) => JSON.stringify(st).includes(BUCKET) || JSON.stringify(st).includes(KEY_ARN))).toEqual([]);
    }
  });
});

type RawPlan = { steps: { kind: string; parameters: Record<string, unknown> }[] };

/** A plan step of each kind that may read the air-gapped vault: a dump (the orders restore plan), a cache and a file set (the example's plans). */
describe.each([
  {
    kind: 'restore-dump',
    plans: (_raw: Record<string, unknown>): RawPlan[] => [{ ...ordersRestorePlan('arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-new-Ab12Cd'), contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }] } as RawPlan],
  },
  { kind: 'restore-cache', plans: (raw: Record<string, unknown>): RawPlan[] => (raw.plans as RawPlan[]).filter((plan) => plan.steps.some((step) => step.kind === 'restore-cache')) },
  { kind: 'restore-files', plans: (raw: Record<string, unknown>): RawPlan[] => (raw.plans as RawPlan[]).filter((plan) => plan.steps.some((step) => step.kind === 'restore-files')) },
])('a DR plan whose $kind step reads the air-gapped vault', ({ kind, plans }) => {
  const KEY_ARN = `arn:aws:kms:eu-west-1:${VAULT_ACCOUNT}:key/0a1b2c3d-1111-2222-3333-444455556666`;
  const withAirGapPlan = (keyArn: string | undefined) =>
    exampleConfig((raw) => {
      raw.account = WORKLOAD;
      raw.vaultAccount = { accountId: VAULT_ACCOUNT, ...(keyArn ? { keyArn } : {}) };
      raw.plans = plans(raw);
      expect(raw.plans).toHaveLength(1);
      (raw.plans as RawPlan[])[0]!.steps.find((step) => step.kind === kind)!.parameters['region'] = 'air-gap';
    });

  it('is refused until the air-gapped key is known, naming the step', () => {
    expect(() => withAirGapPlan(undefined)).toThrow(/plans\[0\]\.steps\[\d+\]\.parameters\.region: "air-gap" needs vaultAccount with its keyArn/);
  });

  it('lets the DR step (Lambda and task) assume the reader role, and nothing else there; the reads are the role\'s', () => {
    const stacks = buildLifeboat(testApp({ compliance: true }), withAirGapPlan(KEY_ARN));
    const primary = Template.fromStack(stacks.primary);
    const readerRole = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${VAULT_ACCOUNT}:role/lifeboat-airgap-reader`]] };
    const [drStep] = Object.values(primary.findResources('AWS::Lambda::Function')).filter((fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'lifeboat-dr-step');
    expect(drStep!.Properties.Environment.Variables).toMatchObject({
      AIR_GAP_BUCKET: `lifeboat-airgap-${VAULT_ACCOUNT}-eu-west-1`,
      AIR_GAP_REGION: 'eu-west-1',
      AIR_GAP_KEY_ARN: KEY_ARN,
      AIR_GAP_READER_ROLE_ARN: readerRole,
    });
    const statements = [...Object.values(primary.findResources('AWS::IAM::Policy')), ...Object.values(primary.findResources('AWS::IAM::ManagedPolicy'))]
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((st) => st.Sid === 'ReadAirGappedVault');
    // The DR step Lambda's role and its Fargate task's role, each exactly this.
    expect(statements).toEqual([
      { Sid: 'ReadAirGappedVault', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: readerRole },
      { Sid: 'ReadAirGappedVault', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: readerRole },
    ]);
  }, SYNTH_TIMEOUT_MS);
});
