import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** The trail's name in each region: the deployment's, so two deployments in one account do not collide. */
export function vaultTrailName(deployment: string): string {
  return `${deployment}-vault`;
}

export interface VaultTrailProps {
  /** The trail's name, also what the tamper rule on the trail itself matches. */
  readonly trailName: string;
  /** The vault bucket whose object writes (deletes, retention changes) the trail records as data events. */
  readonly vaultBucket: s3.IBucket;
  /** Where the trail bucket's own server access logs go (the vault's access-log bucket). */
  readonly accessLogBucket: s3.IBucket;
  /** Records IAM and other global events too: true in one region only, or each is delivered twice. */
  readonly includeGlobalServiceEvents: boolean;
  /** Days the trail's log files are kept. @default 365 */
  readonly retentionDays?: number;
}

/**
 * A CloudTrail trail of this region's write management events and of the vault bucket's object writes: what
 * the tamper rules (`TamperAlarms`) need to fire. Single-region, so each region stack owns its own and neither
 * depends on the other. Its log files go to a bucket of their own, encrypted with a key of their own, with log
 * file validation; the events EventBridge receives do not depend on that delivery.
 *
 * Opt-in (`vault.createTrail`): an organization trail governed outside the workload account is stronger, since
 * an administrator of this account can stop a trail it owns. Stopping, deleting or narrowing this one alarms.
 *
 * @example
 * new VaultTrail(this, 'Trail', { trailName: 'lifeboat-vault', vaultBucket: vault.bucket, accessLogBucket: vault.accessLogBucket, includeGlobalServiceEvents: true });
 */
export class VaultTrail extends Construct {
  readonly trail: cloudtrail.Trail;
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;
  readonly trailArn: string;

  constructor(scope: Construct, id: string, props: VaultTrailProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.trailArn = stack.formatArn({ service: 'cloudtrail', resource: 'trail', resourceName: props.trailName });

    this.key = new kms.Key(this, 'Key', {
      description: `Lifeboat: encrypts the log files of trail ${props.trailName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudTrail encrypts with the key for this trail only (the encryption context names it), on this account's behalf.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailEncryptsThisTrailsLogs',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceArn': this.trailArn },
          StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': stack.formatArn({ service: 'cloudtrail', region: '*', resource: 'trail', resourceName: '*' }) },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailDescribesTheKey',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:DescribeKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceArn': this.trailArn } },
      }),
    );

    this.bucket = new s3.Bucket(this, 'Logs', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'trail/',
      lifecycleRules: [{ id: 'expire-trail-logs', expiration: Duration.days(props.retentionDays ?? 365), noncurrentVersionExpiration: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled',
      reason: "The trail records this region's vault; each region keeps its own trail and bucket, and copying the logs elsewhere adds nothing to recovery.",
    });

    this.trail = new cloudtrail.Trail(this, 'Trail', {
      trailName: props.trailName,
      bucket: this.bucket,
      encryptionKey: this.key,
      enableFileValidation: true,
      isMultiRegionTrail: false,
      includeGlobalServiceEvents: props.includeGlobalServiceEvents,
      // Reads are not tampering: write events only, which keeps the cost to a few events a day.
      managementEvents: cloudtrail.ReadWriteType.WRITE_ONLY,
      sendToCloudWatchLogs: false,
    });
    this.trail.addS3EventSelector([{ bucket: props.vaultBucket }], { readWriteType: cloudtrail.ReadWriteType.WRITE_ONLY, includeManagementEvents: false });
    Validations.of(this.trail).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-CloudTrailCloudWatchLogsEnabled',
      reason: 'EventBridge receives the trail\'s events directly and the tamper rules alarm on them; a CloudWatch Logs copy would add cost and nothing to the alarms.',
    });
  }
}
