import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { AirGapSnapshotCopier } from './air-gap-snapshot-copier.ts';
import type { AlertSubscriber } from './alerts.ts';
import { ReviewedPolicy } from './reviewed-policy.ts';
import { Vault, type ObjectLockMode } from './vault.ts';
import { KEY_ADMIN_ACTIONS } from './vault-key.ts';

/** What the workload account may do to the air-gapped vault: add new objects (multipart included), nothing else. */
export const WORKLOAD_WRITE_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload'];
/** What the reader role (assumed by plans from the workload account) may do: read and restore from archive. */
export const AIR_GAP_READ_ACTIONS = ['s3:GetObject', 's3:RestoreObject'];

/** The air-gapped vault's bucket: the workload stacks name it from the config alone. */
export function airGapBucketName(deployment: string, account: string, region: string): string {
  return `${deployment}-airgap-${account}-${region}`;
}

/** The reader role the workload account's plans assume to read the air-gapped vault. */
export function airGapReaderRoleName(deployment: string): string {
  return `${deployment}-airgap-reader`;
}

export interface AirGappedVaultProps {
  /** The deployment's name: names the bucket and the reader role. */
  readonly deployment: string;
  /** The workload account, which writes backups here and whose plans read them through the reader role. */
  readonly workloadAccount: string;
  /** @default 'COMPLIANCE': nobody, this account's root included, can shorten or remove retention */
  readonly objectLockMode?: ObjectLockMode;
  /** @default 90 */
  readonly objectLockRetentionDays?: number;
  /** @default 180 */
  readonly deepArchiveAfterDays?: number | null;
  /**
   * Copy the snapshot backups the workload account shares with this one (its DR copies, in this region), keeping
   * them this many days. @default - no snapshot copier
   */
  readonly snapshotCopies?: { readonly retentionDays: number; readonly alertSubscribers?: readonly AlertSubscriber[] };
}

/**
 * The air-gapped copy (issue 12, item 4), deployed into an account of its own: an Object-Locked vault under a
 * key only this account administers. The workload account may only add objects under `backups/` (never read,
 * delete, or change retention or policy: an explicit deny for everything else); a reader role in this account,
 * which the workload account's roles may assume, reads for restores. Retention here is this account's own.
 *
 * @example
 * new AirGappedVault(stack, 'AirGap', { deployment: 'lifeboat', workloadAccount: '111122223333' });
 */
export class AirGappedVault extends Construct {
  readonly key: kms.Key;
  readonly vault: Vault;
  readonly readerRole: iam.Role;
  /** The snapshot copier, when `snapshotCopies` is set. */
  readonly snapshotCopier?: AirGapSnapshotCopier;

  constructor(scope: Construct, id: string, props: AirGappedVaultProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (!/^\d{12}$/.test(props.workloadAccount)) throw new Error(`AirGappedVault ${id}: workloadAccount must be a 12-digit account id, got '${props.workloadAccount}'`);
    const workload = new iam.AccountPrincipal(props.workloadAccount);
    const bucketName = airGapBucketName(props.deployment, stack.account, stack.region);
    const bucketArn = `arn:${stack.partition}:s3:::${bucketName}`;

    // Trusted by the workload account as a whole: the plans' own roles need sts:AssumeRole on it to use it.
    this.readerRole = new iam.Role(this, 'ReaderRole', {
      roleName: airGapReaderRoleName(props.deployment),
      assumedBy: workload,
      description: 'Lifeboat: reads the air-gapped vault for restores, assumed from the workload account',
      maxSessionDuration: Duration.hours(12),
    });

    this.key = new kms.Key(this, 'Key', {
      description: 'Lifeboat air-gapped vault key (administered by this account only)',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({ sid: 'KeyAdministrationByThisAccountOnly', principals: [new iam.AccountRootPrincipal()], actions: KEY_ADMIN_ACTIONS, resources: ['*'] }),
          new iam.PolicyStatement({
            sid: 'WorkloadEncryptsThroughS3Only',
            principals: [workload],
            // Decrypt too: S3 needs it to assemble a multipart upload under SSE-KMS; only through S3, only this bucket.
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: ['*'],
            conditions: {
              StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` },
              StringLike: { 'kms:EncryptionContext:aws:s3:arn': `${bucketArn}/*` },
            },
          }),
          // Every dump's data key is also wrapped under this key at backup time, so the copy here restores with this
          // account's key alone. Encrypt only, and only for a Lifeboat backup's encryption context: never Decrypt.
          new iam.PolicyStatement({
            sid: 'WorkloadWrapsBackupDataKeys',
            principals: [workload],
            actions: ['kms:Encrypt'],
            resources: ['*'],
            conditions: { StringLike: { 'kms:EncryptionContext:lifeboat:backup': '*', 'kms:EncryptionContext:lifeboat:source': '*' } },
          }),
          // A file set's packs and chunk-id key name the pack or the object instead of a backup (its index and file
          // list name the backup, above): the same Encrypt only, for those contexts only.
          new iam.PolicyStatement({
            sid: 'WorkloadWrapsFileSetDataKeys',
            principals: [workload],
            actions: ['kms:Encrypt'],
            resources: ['*'],
            conditions: {
              StringLike: { 'kms:EncryptionContext:lifeboat:source': '*' },
              'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': ['lifeboat:pack', 'lifeboat:object'] },
            },
          }),
          new iam.PolicyStatement({ sid: 'ReaderDecrypts', principals: [this.readerRole], actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: ['*'] }),
        ],
      }),
    });

    this.vault = new Vault(this, 'Vault', {
      key: this.key,
      bucketName,
      objectLockMode: props.objectLockMode ?? 'COMPLIANCE',
      objectLockRetentionDays: props.objectLockRetentionDays ?? 90,
      glacierInstantRetrievalAfterDays: null,
      deepArchiveAfterDays: props.deepArchiveAfterDays === undefined ? 180 : props.deepArchiveAfterDays,
    });
    const bucket = this.vault.bucket;
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WorkloadAddsBackupsUnderTheKey',
        principals: [workload],
        actions: WORKLOAD_WRITE_ACTIONS,
        resources: [bucket.arnForObjects('backups/*'), bucket.arnForObjects('filesets/*')],
      }),
    );
    // Every object the workload adds is under this account's key, never one the workload could destroy. The conditions
    // deny a request that names another key or another kind of encryption; they cannot require the headers, because a
    // multipart copy's UploadPartCopy and CompleteMultipartUpload (also s3:PutObject) never carry them. A request
    // naming none gets the bucket's default encryption, which is this key.
    const denyPuts = (sid: string, conditions: Record<string, Record<string, unknown>>) =>
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, principals: [workload], actions: ['s3:PutObject'], resources: [bucket.arnForObjects('*')], conditions }),
      );
    denyPuts('WorkloadWritesOnlyUnderThisKey', { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn } });
    denyPuts('WorkloadWritesOnlyWithKms', { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } });
    denyPuts('WorkloadWritesNoCustomerKeys', { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } });
    // Whatever the workload account's own IAM allows: no read, list, delete, retention or policy change here.
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WorkloadMayDoNothingElse',
        effect: iam.Effect.DENY,
        principals: [workload],
        notActions: WORKLOAD_WRITE_ACTIONS,
        resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      }),
    );
    const policy = new ReviewedPolicy(this.readerRole, "The air-gapped vault reader's own statements: this vault's backups and key, read only; a managed policy would be shared and so wider.");
    policy.add(
      new iam.PolicyStatement({ sid: 'ReadBackups', actions: AIR_GAP_READ_ACTIONS, resources: [bucket.arnForObjects('backups/*'), bucket.arnForObjects('filesets/*')] }),
      'Any backup or file-set snapshot of this vault, read only (or restored from archive): the wildcard is the source, backup id and file.',
    );
    policy.add(new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    policy.add(new iam.PolicyStatement({ sid: 'DecryptBackups', actions: ['kms:Decrypt'], resources: [this.key.keyArn] }));

    if (props.snapshotCopies) {
      this.snapshotCopier = new AirGapSnapshotCopier(this, 'SnapshotCopier', {
        name: props.deployment,
        workloadAccount: props.workloadAccount,
        key: this.key,
        retentionDays: props.snapshotCopies.retentionDays,
        ...(props.snapshotCopies.alertSubscribers ? { alertSubscribers: props.snapshotCopies.alertSubscribers } : {}),
      });
      // The copier's use of this key through RDS: each copy of a shared snapshot is encrypted under it.
      const copier = this.snapshotCopier.function.role;
      const viaRds = { StringEquals: { 'kms:ViaService': `rds.${stack.region}.amazonaws.com` } };
      this.key.addToResourcePolicy(new iam.PolicyStatement({ sid: 'CopierEncryptsSnapshotCopies', principals: [copier], actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: ['*'], conditions: viaRds }));
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({ sid: 'CopierGrantsRdsOnly', principals: [copier], actions: ['kms:CreateGrant'], resources: ['*'], conditions: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
      );
    }
  }
}
