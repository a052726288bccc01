import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

export interface VaultProps {
  /** The region's vault key (multi-Region primary or replica). */
  readonly key: kms.IKey;
  /** A fixed bucket name, so the other region's stack can name this bucket without a reference. @default - generated */
  readonly bucketName?: string;
  /** @default 'GOVERNANCE' */
  readonly objectLockMode?: ObjectLockMode;
  /** Default Object Lock retention applied to every new object version. @default 35 */
  readonly objectLockRetentionDays?: number;
  /** Days after creation to move backups to Glacier Instant Retrieval; `null` disables. @default 30 */
  readonly glacierInstantRetrievalAfterDays?: number | null;
  /** Days after creation to move backups to Deep Archive; `null` disables. @default 180 */
  readonly deepArchiveAfterDays?: number | null;
  /** Days a replaced or deleted object version is kept before it expires. @default 90 */
  readonly noncurrentVersionExpiryDays?: number;
  /** Days server access logs are kept. @default 365 */
  readonly accessLogRetentionDays?: number;
  /**
   * The only role that may bypass governance retention, change retention, legal holds or the Object Lock
   * configuration, delete object versions, or change or delete the bucket policy (the config's
   * `vault.breakGlassRoleArn`). Deploy changes to the bucket policy with it as the CloudFormation role.
   * @default - no such restriction: any account administrator may
   */
  readonly breakGlassRoleArn?: string;
}

/** What only the break-glass role may do to the vault: everything that unlocks, shortens or erases what Object Lock keeps. */
export const VAULT_GUARDED_ACTIONS = [
  's3:BypassGovernanceRetention',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:PutBucketObjectLockConfiguration',
  's3:DeleteObjectVersion',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
];

/**
 * The vault bucket's name in a region: `<deployment>-<account>-<region>` (at most 59 characters). Both regions'
 * stacks derive it, so the primary stack's copy and prune functions can name the DR vault while the DR stack
 * depends on the primary (for the key replica), and no reference runs back.
 */
export function vaultBucketName(deployment: string, region: string): string {
  return `${deployment}-${Aws.ACCOUNT_ID}-${region}`;
}

/**
 * The backup vault of one region: an SSE-KMS, versioned, Object-Locked S3 bucket that only accepts TLS,
 * with server access logs in a bucket of their own. Both buckets outlive the stack.
 *
 * @example
 * const vault = new Vault(this, 'Vault', { key: vaultKey.key, objectLockRetentionDays: 35 });
 */
export class Vault extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: VaultProps) {
    super(scope, id);
    const objectLockMode = props.objectLockMode ?? 'GOVERNANCE';
    const retentionDays = props.objectLockRetentionDays ?? 35;
    const glacierIrDays = props.glacierInstantRetrievalAfterDays === undefined ? 30 : props.glacierInstantRetrievalAfterDays;
    const deepArchiveDays = props.deepArchiveAfterDays === undefined ? 180 : props.deepArchiveAfterDays;
    const noncurrentDays = props.noncurrentVersionExpiryDays ?? 90;
    const accessLogDays = props.accessLogRetentionDays ?? 365;
    validateVaultProps(id, { retentionDays, glacierIrDays, deepArchiveDays, noncurrentDays, accessLogDays });

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logs can only be delivered to a bucket encrypted with SSE-S3.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(accessLogDays), noncurrentVersionExpiration: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogBucket).acknowledge(
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason: 'S3 server access log delivery only supports SSE-S3 on the destination bucket; the logs hold request metadata, never backup data.',
      },
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled',
        reason: "Access logs audit this region's vault; each region keeps its own log bucket, and copying them elsewhere adds nothing to recovery.",
      },
    );

    const transitions: s3.Transition[] = [];
    if (glacierIrDays !== null) {
      transitions.push({ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(glacierIrDays) });
    }
    if (deepArchiveDays !== null) {
      transitions.push({ storageClass: s3.StorageClass.DEEP_ARCHIVE, transitionAfter: Duration.days(deepArchiveDays) });
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.key,
      bucketKeyEnabled: true,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention:
        objectLockMode === 'COMPLIANCE'
          ? s3.ObjectLockRetention.compliance(Duration.days(retentionDays))
          : s3.ObjectLockRetention.governance(Duration.days(retentionDays)),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'vault/',
      lifecycleRules: [
        // Only dump and snapshot backups are tiered: each is read whole or not at all. A file set's packs are shared
        // by every later snapshot (a pack from last year is part of today's), and audit events, evidence and
        // reports are read by the functions that check them, so none of those may go to Deep Archive.
        {
          id: 'tier-backups',
          prefix: 'backups/',
          transitions,
          noncurrentVersionExpiration: Duration.days(noncurrentDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        { id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(noncurrentDays), abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.breakGlassRoleArn !== undefined) {
      // A Deny in the bucket policy wins over any IAM Allow, an administrator's `s3:*` included.
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyBreakGlassMayUnlock',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: VAULT_GUARDED_ACTIONS,
          resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
          conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.breakGlassRoleArn } },
        }),
      );
    }
    Validations.of(this.bucket).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled',
      reason:
        "Backups reach the DR region through Lifeboat's copy step, which records a copy only after its checksum matches the original and writes it under the DR vault's own Object Lock; bucket replication would also carry incomplete uploads.",
    });
  }
}

function validateVaultProps(
  id: string,
  p: { retentionDays: number; glacierIrDays: number | null; deepArchiveDays: number | null; noncurrentDays: number; accessLogDays: number },
): void {
  const problems: string[] = [];
  const positive = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1) problems.push(`${name} must be a whole number of days >= 1, got ${value}`);
  };
  positive('objectLockRetentionDays', p.retentionDays);
  positive('noncurrentVersionExpiryDays', p.noncurrentDays);
  positive('accessLogRetentionDays', p.accessLogDays);
  if (p.glacierIrDays !== null && (!Number.isInteger(p.glacierIrDays) || p.glacierIrDays < 0)) {
    problems.push(`glacierInstantRetrievalAfterDays must be a whole number of days >= 0, got ${p.glacierIrDays}`);
  }
  if (p.deepArchiveDays !== null) {
    if (!Number.isInteger(p.deepArchiveDays) || p.deepArchiveDays < 0) {
      problems.push(`deepArchiveAfterDays must be a whole number of days >= 0, got ${p.deepArchiveDays}`);
    } else if (p.glacierIrDays !== null && p.deepArchiveDays < p.glacierIrDays + 90) {
      problems.push(
        `deepArchiveAfterDays (${p.deepArchiveDays}) must be at least 90 days after glacierInstantRetrievalAfterDays (${p.glacierIrDays}): S3 keeps objects 90 days in Glacier Instant Retrieval before the next transition`,
      );
    }
  }
  if (problems.length > 0) throw new Error(`Vault ${id}: invalid props:\n- ${problems.join('\n- ')}`);
}
