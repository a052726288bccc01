import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_WILDCARD_REASON, auditWriteStatements } from './audit-trail.ts';
import type { DumpNetwork, GrantedStatement } from './dump-function.ts';
import { PipelineFunction } from './pipeline-function.ts';

/** An S3 file set as the backup function is told of it (LIFEBOAT_SOURCES): the bucket and prefix only. */
export interface FileSetSourceEntry {
  readonly id: string;
  readonly kind: 'fileset';
  readonly s3: { readonly bucket: string; readonly prefix: string };
}

/** A file set to back up, with the key of its bucket when the bucket is encrypted with a customer managed key. */
export interface FileSetBackupSource extends FileSetSourceEntry {
  /** The source bucket's SSE-KMS key: read through S3 only. @default the bucket uses SSE-S3 (or an AWS managed key) */
  readonly bucketKeyArn?: string;
  /** Where its runs that give up before Lambda's end go on as a Fargate task (BackupFunctions adds the task). @default Lambda only */
  readonly network?: DumpNetwork;
  /** That task's size. @default the runner's default */
  readonly fargate?: { readonly cpu: number; readonly memoryMiB: number };
}

export interface FileSetBackupFunctionProps {
  readonly sources: readonly FileSetBackupSource[];
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  readonly logKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  /** The evidence key: the function records its audit events with it. @default no audit trail */
  readonly evidenceKey?: kms.IKey;
  /** The air-gapped vault's key (`vaultAccount.keyArn`): every data key is wrapped under it too, Encrypt only. @default none */
  readonly airGapKeyArn?: string;
}

/** Where a file set's objects live in the vault (docs/vault-format.md, "File sets"). */
export const fileSetPrefix = (sourceId: string): string => `filesets/${sourceId}/`;

/**
 * The file-set backup function (`functions/fileset-backup`): reads the source buckets and writes deduplicated,
 * encrypted snapshots under `filesets/<source>/` in the vault. Unlike a dump function it must decrypt, to read the
 * parent snapshot's index and file list and the source's chunk-id key; its `kms:Decrypt` is limited by encryption
 * context to its own sources' objects (`lifeboat:source`), so it can read no dump and no other file set. It has no
 * `s3:DeleteObject` at all (a failed run's packs are left for retention) and may never write a verification result.
 * It calls only the S3 and KMS APIs, so it runs outside any VPC.
 *
 * @example
 * new FileSetBackupFunction(this, 'FileSetBackup', { sources: [{ id: 'uploads', kind: 'fileset', s3: { bucket: 'app-uploads', prefix: 'media/' } }], vault, vaultKey, logKey, deadLetterQueue });
 */
export class FileSetBackupFunction extends Construct {
  readonly function: PipelineFunction;
  readonly sources: readonly FileSetBackupSource[];
  /** The role's own statements (not its Lambda plumbing), for the Fargate task that takes over a run out of time. */
  readonly grants: GrantedStatement[] = [];
  /** The function's environment (identifiers only), which the Fargate task gets too. */
  readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: FileSetBackupFunctionProps) {
    super(scope, id);
    if (props.sources.length === 0) throw new Error(`FileSetBackupFunction ${id}: at least one source is required`);
    this.sources = props.sources;
    const stack = Stack.of(this);
    const entries: FileSetSourceEntry[] = props.sources.map(({ id: sourceId, kind, s3: location }) => ({ id: sourceId, kind, s3: location }));
    this.environment = {
      VAULT_BUCKET: props.vault.bucketName,
      VAULT_KEY_ARN: props.vaultKey.keyArn,
      LIFEBOAT_SOURCES: JSON.stringify(entries),
      ...(props.evidenceKey ? { EVIDENCE_KEY_ARN: props.evidenceKey.keyArn } : {}),
      ...(props.airGapKeyArn ? { AIR_GAP_KEY_ARN: props.airGapKeyArn } : {}),
    };
    const fn = new PipelineFunction(this, 'Backup', {
      handler: 'fileset-backup',
      serviceName: 'lifeboat-fileset-backup',
      description: 'Lifeboat: deduplicated, encrypted snapshots of S3 file sets into the vault',
      environment: this.environment,
      keyUse: ['encrypt', 'decrypt'],
      logKey: props.logKey,
      deadLetterQueue: props.deadLetterQueue,
      timeout: Duration.minutes(15),
      // The parent's chunk index is held in memory (about 200 bytes a chunk: 1 TB of 1 MiB chunks is 200 MB), plus a pack and the read-ahead.
      memorySize: 2048,
      reservedConcurrentExecutions: 2,
      outsideVpcReason: 'It calls only the S3 and KMS APIs (the source buckets and the vault); a VPC would need endpoints for both and add nothing.',
    });
    this.function = fn;
    const grant = (statement: iam.PolicyStatement, wildcardReason?: string): void => {
      fn.addToRolePolicy(statement, wildcardReason);
      this.grants.push({ statement, ...(wildcardReason ? { wildcardReason } : {}) });
    };
    const ids = props.sources.map((s) => s.id);

    // The source buckets: list under the prefix, read its objects (and their versions' ids), never write.
    for (const [i, source] of props.sources.entries()) {
      const bucketArn = `arn:${stack.partition}:s3:::${source.s3.bucket}`;
      grant(
        new iam.PolicyStatement({
          sid: `ListSource${i + 1}`,
          actions: ['s3:ListBucket'],
          resources: [bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${source.s3.prefix}*`] } },
        }),
      );
      grant(
        new iam.PolicyStatement({ sid: `ReadSource${i + 1}`, actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [`${bucketArn}/${source.s3.prefix}*`] }),
        `The objects of file set ${source.id} (s3://${source.s3.bucket}/${source.s3.prefix}): the wildcard is the object key under the configured prefix.`,
      );
      if (source.bucketKeyArn) {
        grant(
          new iam.PolicyStatement({
            sid: `DecryptSource${i + 1}`,
            actions: ['kms:Decrypt'],
            resources: [source.bucketKeyArn],
            conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
          }),
        );
      }
    }

    // The vault: new objects under its own sources' prefixes; reading them back (the parent snapshot, the key).
    grant(
      new iam.PolicyStatement({
        sid: 'WriteOwnFileSets',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject'],
        resources: ids.map((sourceId) => props.vault.arnForObjects(`${fileSetPrefix(sourceId)}*`)),
      }),
      'Snapshots and packs of these file sets are new objects under their own prefixes in the vault: the wildcard is the object name within a prefix.',
    );
    grant(
      new iam.PolicyStatement({
        sid: 'NeverWriteVerificationResults',
        effect: iam.Effect.DENY,
        actions: ['s3:PutObject', 's3:DeleteObject'],
        resources: ids.map((sourceId) => props.vault.arnForObjects(`${fileSetPrefix(sourceId)}snapshots/*/verifications/*`)),
      }),
      'Deny statements: the wildcards are the snapshot id and result name under each file set this role writes; a deny can only take away.',
    );
    grant(
      new iam.PolicyStatement({ sid: 'ListOwnFileSets', actions: ['s3:ListBucket'], resources: [props.vault.bucketArn], conditions: { StringLike: { 's3:prefix': ids.map((sourceId) => `${fileSetPrefix(sourceId)}*`) } } }),
    );
    grant(new iam.PolicyStatement({ sid: 'GenerateFileSetDataKeys', actions: ['kms:GenerateDataKey'], resources: [props.vaultKey.keyArn] }));
    // The Encryption SDK passes each message's context to KMS: packs, indexes, file lists and the chunk-id key of a
    // file set all carry lifeboat:source, so this role unwraps its own sources' data keys and nothing else's.
    grant(
      new iam.PolicyStatement({
        sid: 'ReadOwnFileSetObjects',
        actions: ['kms:Decrypt'],
        resources: [props.vaultKey.keyArn],
        conditions: { StringEquals: { 'kms:EncryptionContext:lifeboat:source': ids } },
      }),
    );
    grant(
      new iam.PolicyStatement({
        sid: 'SseKmsThroughS3',
        actions: ['kms:Decrypt'],
        resources: [props.vaultKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );
    // Wrapping each data key for the air-gapped vault too: Encrypt only, so this role never unwraps what it wraps there.
    if (props.airGapKeyArn) grant(new iam.PolicyStatement({ sid: 'WrapForAirGappedVault', actions: ['kms:Encrypt'], resources: [props.airGapKeyArn] }));
    if (props.evidenceKey) {
      for (const { statement, wildcardReason } of auditWriteStatements(stack, { vault: props.vault, vaultKey: props.vaultKey, evidenceKey: props.evidenceKey })) {
        grant(statement, wildcardReason ?? AUDIT_WILDCARD_REASON);
      }
    }
  }

  get functionArn(): string {
    return this.function.functionArn;
  }
}
