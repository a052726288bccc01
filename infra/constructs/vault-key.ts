import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * Principal tags that gate use of the vault key. The key policy lets a role encrypt only if it carries
 * `lifeboat:key-use-encrypt=true` and decrypt only if it carries `lifeboat:key-use-decrypt=true`, on top
 * of the IAM grant, so a writer that can back up cannot read a backup back and vice versa.
 */
export const KEY_USE_TAGS = {
  encrypt: 'lifeboat:key-use-encrypt',
  decrypt: 'lifeboat:key-use-decrypt',
} as const;

/** Actions that manage the key but never touch data. */
export const KEY_ADMIN_ACTIONS = [
  // Not kms:Create*: that includes CreateGrant, through which a principal could grant itself data use and
  // step around the key-use tags. Grants are allowed below, only for AWS services acting for a caller.
  'kms:CreateAlias',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:ReplicateKey',
  'kms:UpdatePrimaryRegion',
];

/** What only the break-glass role may do to a vault key: make it unusable, or rewrite who may use it. */
export const KEY_DESTRUCTIVE_ACTIONS = ['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy'];

export const KEY_ENCRYPT_ACTIONS = ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:DescribeKey'];
export const KEY_DECRYPT_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'];

/**
 * The vault key policy: administration for the account, data use split by principal tag. Writers may also
 * decrypt, but only through S3 and only S3's own data keys: S3 needs that to assemble a multipart upload
 * under SSE-KMS, and it cannot open a backup's Encryption SDK data key.
 */
export function vaultKeyPolicy(account: string, region: string, copyRegions: readonly string[] = [], breakGlassRoleArn?: string, snapshotShareAccount?: string): iam.PolicyDocument {
  // A server-side copy sent to another region's S3 reads the source under this key: which S3 endpoint KMS
  // then reports is not documented, so S3 in the regions backups are copied to is admitted too.
  const viaS3 = [region, ...copyRegions].map((r) => `s3.${r}.amazonaws.com`);
  const accountRoot = new iam.AccountRootPrincipal();
  const callerInAccount = { StringEquals: { 'aws:PrincipalAccount': account } };
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'KeyAdministration',
        principals: [accountRoot],
        actions: KEY_ADMIN_ACTIONS,
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'GrantsOnlyForAwsServices',
        principals: [accountRoot],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        // RDS encrypting a snapshot copy or a restore under this key creates a grant in the caller's name.
        conditions: { ...callerInAccount, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
      new iam.PolicyStatement({
        sid: 'EncryptOnlyForBackupWriters',
        principals: [accountRoot],
        actions: KEY_ENCRYPT_ACTIONS,
        resources: ['*'],
        conditions: { ...callerInAccount, StringEqualsIgnoreCase: { [`aws:PrincipalTag/${KEY_USE_TAGS.encrypt}`]: 'true' } },
      }),
      new iam.PolicyStatement({
        sid: 'DecryptOnlyForBackupReaders',
        principals: [accountRoot],
        actions: KEY_DECRYPT_ACTIONS,
        resources: ['*'],
        conditions: { ...callerInAccount, StringEqualsIgnoreCase: { [`aws:PrincipalTag/${KEY_USE_TAGS.decrypt}`]: 'true' } },
      }),
      new iam.PolicyStatement({
        sid: 'WritersDecryptOnlyThroughS3',
        principals: [accountRoot],
        actions: ['kms:Decrypt'],
        resources: ['*'],
        conditions: {
          ...callerInAccount,
          StringEqualsIgnoreCase: { [`aws:PrincipalTag/${KEY_USE_TAGS.encrypt}`]: 'true' },
          StringLike: { 'kms:ViaService': viaS3.length === 1 ? viaS3[0]! : viaS3, 'kms:EncryptionContext:aws:s3:arn': 'arn:*:s3:::*' },
        },
      }),
      ...(snapshotShareAccount === undefined ? [] : airGapSnapshotStatements(snapshotShareAccount, region)),
      ...(breakGlassRoleArn === undefined ? [] : [breakGlassKeyStatement(breakGlassRoleArn)]),
    ],
  });
}

/**
 * What the air-gapped vault's account needs to copy a snapshot shared with it that is encrypted under this key (the DR
 * copies of snapshot backups): describe and use the key, and let RDS hold a grant for the copy, only through RDS in this
 * key's region. Nothing else: that account cannot decrypt a backup's data keys (those calls do not go through RDS).
 */
export function airGapSnapshotStatements(vaultAccount: string, region: string): iam.PolicyStatement[] {
  const principals = [new iam.AccountPrincipal(vaultAccount)];
  const viaRds = { StringEquals: { 'kms:ViaService': `rds.${region}.amazonaws.com` } };
  return [
    new iam.PolicyStatement({ sid: 'AirGapAccountCopiesSharedSnapshots', principals, actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: ['*'], conditions: viaRds }),
    new iam.PolicyStatement({
      sid: 'AirGapAccountGrantsRdsOnly',
      principals,
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
  ];
}

/**
 * Nobody but the break-glass role may disable the key, schedule its deletion or replace its policy: one
 * compromised administrator cannot make every backup unreadable. A Deny wins over any IAM Allow.
 */
export function breakGlassKeyStatement(breakGlassRoleArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'OnlyBreakGlassMayDestroyKey',
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions: KEY_DESTRUCTIVE_ACTIONS,
    resources: ['*'],
    conditions: { ArnNotEquals: { 'aws:PrincipalArn': breakGlassRoleArn } },
  });
}

export interface VaultKeyProps {
  /**
   * ARN of the multi-Region primary key to replicate. Without it this construct creates the primary.
   * @default - create the primary key
   */
  readonly replicaOf?: string;
  /**
   * Regions whose S3 may decrypt under this key on a writer's behalf: where server-side copies of the vault go.
   * @default - none
   */
  readonly copyRegions?: readonly string[];
  /**
   * Days KMS waits before deleting the key after it is scheduled for deletion.
   * @default 30
   */
  readonly pendingWindowInDays?: number;
  /** @default 'Lifeboat vault key' */
  readonly description?: string;
  /**
   * The only role that may disable the key, schedule its deletion or change its policy (the config's
   * `vault.breakGlassRoleArn`). Deploy changes to the key with it as the CloudFormation role.
   * @default - no such restriction: any account administrator may
   */
  readonly breakGlassRoleArn?: string;
  /**
   * The air-gapped vault's account, when its snapshot copier copies the snapshots shared with it from this key's
   * region (the DR replica's, or the primary's when the air-gapped vault is there): it may use the key through RDS
   * here, nothing more.
   * @default - no other account
   */
  readonly snapshotShareAccount?: string;
}

/**
 * The KMS multi-Region key that encrypts the vault: the primary in the primary region, a replica in the
 * DR region, so a backup copied across regions stays decryptable there without re-encryption.
 *
 * @example
 * const primary = new VaultKey(this, 'Key');
 * const replica = new VaultKey(drStack, 'Key', { replicaOf: primary.keyArn });
 */
export class VaultKey extends Construct {
  readonly key: kms.IKey;
  readonly keyArn: string;
  readonly isReplica: boolean;

  constructor(scope: Construct, id: string, props: VaultKeyProps = {}) {
    super(scope, id);
    const { account, region } = Stack.of(this);
    const description = props.description ?? 'Lifeboat vault key';
    const pendingWindowInDays = props.pendingWindowInDays ?? 30;
    if (!Number.isInteger(pendingWindowInDays) || pendingWindowInDays < 7 || pendingWindowInDays > 30) {
      throw new Error(`VaultKey ${id}: pendingWindowInDays must be a whole number from 7 to 30, got ${pendingWindowInDays}`);
    }
    const keyPolicy = vaultKeyPolicy(account, region, props.copyRegions, props.breakGlassRoleArn, props.snapshotShareAccount);
    this.isReplica = props.replicaOf !== undefined;

    if (props.replicaOf === undefined) {
      const key = new kms.Key(this, 'Resource', {
        description,
        multiRegion: true,
        enableKeyRotation: true,
        pendingWindow: Duration.days(pendingWindowInDays),
        policy: keyPolicy,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.key = key;
      this.keyArn = key.keyArn;
    } else {
      const replica = new kms.CfnReplicaKey(this, 'Resource', {
        primaryKeyArn: props.replicaOf,
        description: `${description} (replica)`,
        pendingWindowInDays,
        keyPolicy,
      });
      replica.applyRemovalPolicy(RemovalPolicy.RETAIN);
      this.keyArn = replica.attrArn;
      this.key = kms.Key.fromKeyArn(this, 'Imported', replica.attrArn);
    }
  }
}
