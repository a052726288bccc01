import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface ElastiCacheStagingProps {
  /** Where the bucket's server access logs go (the vault's access log bucket). */
  readonly accessLogBucket: s3.IBucket;
}

/** The object names ElastiCache writes: `<export name>-000N.rdb`, and every export is named `lifeboat-<source>-…`. */
export const EXPORT_OBJECT_PATTERN = 'lifeboat-*';

/**
 * The bucket ElastiCache exports cache snapshots into (`CopySnapshot` with `TargetBucket`), in the cache's region.
 * The dump function reads each exported RDB once, seals it into the vault and deletes it; a run killed before that
 * leaves files that expire after a day. It is not the vault: an exported RDB is plaintext under SSE-S3, so it gets a
 * bucket of its own, without Object Lock, that only ElastiCache writes and only the dump functions read.
 *
 * The bucket policy is the one the ElastiCache user guide asks for ("Exporting a backup", step 2), for the regional
 * service principal `<region>.elasticache-snapshot.amazonaws.com`, narrowed to Lifeboat's export names.
 */
export class ElastiCacheStaging extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ElastiCacheStagingProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      // ElastiCache exports only into buckets encrypted with SSE-S3.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'elasticache-staging/',
      lifecycleRules: [{ id: 'expire-exports', expiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const elasticache = new iam.ServicePrincipal(`${region}.elasticache-snapshot.amazonaws.com`);
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ElastiCacheReadsTheBucket',
        principals: [elasticache],
        actions: ['s3:ListBucket', 's3:GetBucketAcl', 's3:ListBucketMultipartUploads'],
        resources: [this.bucket.bucketArn],
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ElastiCacheWritesExports',
        principals: [elasticache],
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts'],
        resources: [this.bucket.arnForObjects(EXPORT_OBJECT_PATTERN)],
      }),
    );
    Validations.of(this.bucket).acknowledge(
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason: 'ElastiCache exports snapshots only into SSE-S3 buckets; the files live here for minutes (deleted once sealed into the KMS-encrypted vault, expired after a day otherwise).',
      },
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled',
        reason: 'A staging area for exports that are sealed into the vault within minutes; the vault, not this bucket, is copied to the DR region.',
      },
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketVersioningEnabled',
        reason: 'Exports are read once and deleted; versions would keep plaintext cache contents after their deletion, the opposite of what this bucket is for.',
      },
    );
  }
}
