import { readFileSync } from 'node:fs';
import { ArnFormat, Aws, Duration, RemovalPolicy, Stack, Tags, TimeZone, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { retentionPolicyTag } from '../../functions/lib/aws/rdsSnapshot.ts';
import type { BackupFunctions } from './backup-functions.ts';
import { attachToVpcStatement, lambdaNetwork, toolsImageCode, type DumpNetwork, type GrantedStatement } from './dump-function.ts';
import { DEFAULT_TASK_CPU, DEFAULT_TASK_MEMORY_MIB, type RunnerTask } from './fargate-runner.ts';
import type { ConfigSelection } from './config-backup.ts';
import { PipelineFunction, repoRoot } from './pipeline-function.ts';
import { nagResourceName, ReviewedPolicy } from './reviewed-policy.ts';
import { standardStateMachine, stateMachineLogGroup, stateMachineRole } from './state-machine.ts';
import { KEY_USE_TAGS } from './vault-key.ts';
import { auditWriteStatements } from './audit-trail.ts';

/**
 * What a source's backups hold: a PostgreSQL or MySQL database (dumps, snapshots), a DocumentDB cluster (snapshots
 * only), or an ElastiCache cache (its snapshot exported into a `redis-keys` payload).
 */
export type SourceEngine = 'postgresql' | 'mysql' | 'docdb' | 'redis' | 'fileset' | 'config';

/** A source as the pipeline sees it: identifiers, schedule and policy; never credentials. */
export type PipelineSource = DatabasePipelineSource | CachePipelineSource | FileSetPipelineSource | ConfigPipelineSource;

/** An RDS, Aurora or DocumentDB source. */
export interface DatabasePipelineSource extends PipelineSourceCommon {
  readonly engine: 'postgresql' | 'mysql' | 'docdb';
  readonly method: 'dump' | 'snapshot' | 'both';
  /** The database a dump takes; absent for snapshot-only sources. */
  readonly database?: string;
  readonly credentialsSecretArn: string;
  readonly rds: { readonly type: 'instance' | 'cluster'; readonly identifier: string };
}

/** An ElastiCache (Redis OSS / Valkey) cache: the dump function exports its snapshot through the staging bucket. */
export interface CachePipelineSource extends PipelineSourceCommon {
  readonly engine: 'redis';
  readonly method: 'dump';
  readonly elasticache: { readonly replicationGroupId: string } | { readonly cacheClusterId: string };
}

/**
 * An S3 file set (a bucket and prefix): the file-set backup function snapshots it under `filesets/<source>/`; the
 * verify, copy and prune functions follow it there. It starts on Lambda; with a network, a run out of time goes on as its Fargate task.
 */
export interface FileSetPipelineSource extends PipelineSourceCommon {
  readonly engine: 'fileset';
  readonly method: 'dump';
  readonly s3: { readonly bucket: string; readonly prefix: string };
  /** Share of older packs each verification reads in full (the snapshot's own are always read). @default 10 */
  readonly readDataPercent?: number;
  /** Where a backup that runs out of Lambda's time goes on as a Fargate task. @default none: Lambda only */
  readonly network?: DumpNetwork;
}

/**
 * An application's configuration (SSM paths, secrets by prefix or tag, CloudFormation stacks): the config backup
 * function writes it under `backups/<source>/` like a dump, and the rest of the pipeline follows it there. Always on Lambda.
 */
export interface ConfigPipelineSource extends PipelineSourceCommon {
  readonly engine: 'config';
  readonly method: 'dump';
  readonly selection: ConfigSelection;
}

interface PipelineSourceCommon {
  readonly id: string;
  /** Six cron fields (without `cron(...)`), an IANA time zone and the flexible window in minutes. */
  readonly schedule: { readonly cron: string; readonly timeZone: string; readonly flexibleWindowMinutes: number };
  readonly retention: { readonly days: number; readonly keepLast: number; readonly gfs: { readonly daily: number; readonly weekly: number; readonly monthly: number; readonly yearly: number } };
  readonly sqlChecks: readonly string[];
  /** Where its dumps run: `auto` moves it to Fargate once it outgrows Lambda. @default 'auto' */
  readonly runner?: 'auto' | 'lambda' | 'fargate';
  /** The Fargate task's size and the thresholds of `auto`. @default 4096 CPU units, 8192 MiB, 10 minutes, 40 GiB */
  readonly fargate?: { readonly cpu: number; readonly memoryMiB: number; readonly autoAfterMinutes: number; readonly autoAboveRawGiB: number };
}

export interface VerificationServer {
  readonly host: string;
  readonly port: number;
  readonly credentialsSecretArn: string;
}

export interface BackupPipelineProps {
  /** The deployment's name: the state machine is `<name>-backup`, the schedule group `<name>-backups`. */
  readonly name: string;
  readonly sources: readonly PipelineSource[];
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  /** The DR vault, by name: the DR stack depends on this one (for the key replica), so no reference back. */
  readonly dr: { readonly region: string; readonly bucketName: string; readonly keyArn: string };
  readonly alerts: { readonly topic: sns.ITopic; readonly key: kms.IKey };
  /** The operations key, the dead-letter queue and the dump functions. */
  readonly functions: BackupFunctions;
  /** Test-restore servers for dumps and the network that reaches them. @default - integrity and structure checks only */
  readonly verification?: { readonly network: DumpNetwork; readonly servers: { readonly postgresql?: VerificationServer; readonly mysql?: VerificationServer } };
  /** RDS allows 20 snapshot copies in flight to one destination region per account. @default 20 */
  readonly maxSnapshotCopiesInFlight?: number;
  /** The evidence key: the verify function and task record audit events with it. @default no audit trail */
  readonly evidenceKey?: kms.IKey;
  /**
   * The verification key (an HMAC key): the verify function and task sign every result with it; retention checks
   * results with it (`VERIFICATION_KEY_ARN`). No other role of the pipeline may sign with it.
   */
  readonly verificationKey: kms.IKey;
  /**
   * The air-gapped vault in another account (`vaultAccount` with its `keyArn`): the copy function copies every
   * verified dump there too, and may only add objects there. @default none
   */
  readonly airGap?: AirGapDestination;
}

/** Where the air-gapped vault is: its account, region, bucket and key (docs/air-gapped-vault.md). */
export interface AirGapDestination {
  readonly account: string;
  readonly region: string;
  readonly bucketName: string;
  readonly keyArn: string;
}

/** The prefix of every snapshot Lifeboat names (`lifeboat-<source>-<backup id>`), see functions/lib/aws/rdsSnapshot.ts. */
const SNAPSHOT_PREFIX = 'lifeboat-';
const METRICS_NAMESPACE = 'Lifeboat';
/** The copy task's size: 1 vCPU and 2 GiB (about 200 MiB in use: 8 part copies and 5 ranged reads of 16 MiB in flight). */
export const COPY_TASK_CPU = 1024;
export const COPY_TASK_MEMORY_MIB = 2048;

/**
 * The scheduled backup pipeline: one shared state machine (`statemachines/backup.asl.json`) with the
 * functions it calls, and one EventBridge Scheduler schedule per source. Adding a source adds its schedule
 * and nothing else (a source in a network no dump function serves yet also adds that dump function).
 *
 * @example
 * new BackupPipeline(this, 'Pipeline', { name: 'lifeboat', sources, vault, vaultKey, dr, alerts, functions });
 */
export class BackupPipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly resolveSource: PipelineFunction;
  readonly snapshot: PipelineFunction;
  readonly copy: PipelineFunction;
  readonly prune: PipelineFunction;
  readonly startBackup: PipelineFunction;
  readonly verify: lambda.DockerImageFunction;
  /** The verify Fargate task: verification of a backup taken on Fargate runs there too. */
  readonly verifyTask: RunnerTask;
  /** The copy Fargate task: a DR (or air-gapped) copy that one Lambda run cannot finish goes on there. */
  readonly copyTask: RunnerTask;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly schedules: ReadonlyMap<string, scheduler.Schedule>;
  readonly scheduleDeadLetters: sqs.Queue;

  private readonly props: BackupPipelineProps;
  private readonly stack: Stack;

  constructor(scope: Construct, id: string, props: BackupPipelineProps) {
    super(scope, id);
    validatePipelineProps(id, props);
    this.props = props;
    this.stack = Stack.of(this);

    this.verify = this.buildVerify();
    this.verifyTask = this.buildVerifyTask();
    // The copy before resolve-source: the routes name the copy task that takes over a copy Lambda cannot finish.
    this.copy = this.buildCopy();
    this.copyTask = this.buildCopyTask();
    this.resolveSource = this.buildResolveSource();
    this.snapshot = this.buildSnapshot();
    this.prune = this.buildPrune();
    this.stateMachine = this.buildStateMachine();
    this.startBackup = this.buildStartBackup();

    this.scheduleDeadLetters = new sqs.Queue(this, 'ScheduleDeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.functions.operationsKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.scheduleDeadLetters).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the backup schedules; a queue for its own failures would only move the problem.',
    });
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Schedules', { scheduleGroupName: `${props.name}-backups` });
    this.schedules = this.buildSchedules();
  }

  // -------------------------------------------------------------------------------------------
  // ARNs

  private rdsArn(region: string, resource: string, name: string): string {
    return this.stack.formatArn({ service: 'rds', region, resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  }

  /** Lifeboat's snapshots (and their copies) of every source, in a region: `lifeboat-*`. */
  private lifeboatSnapshots(region: string, type: 'instance' | 'cluster', sourceId?: string): string {
    return this.rdsArn(region, type === 'instance' ? 'snapshot' : 'cluster-snapshot', `${SNAPSHOT_PREFIX}${sourceId ? `${sourceId}-` : ''}*`);
  }

  /** Where the DR copies are: the DR vault bucket, its region and the key replica. */
  get drVault(): BackupPipelineProps['dr'] {
    return this.props.dr;
  }

  private get drBucketArn(): string {
    return `arn:${Aws.PARTITION}:s3:::${this.props.dr.bucketName}`;
  }

  private get snapshotSources(): DatabasePipelineSource[] {
    return this.props.sources.filter((s): s is DatabasePipelineSource => s.method !== 'dump');
  }

  /** Sources whose backups are folders under `backups/`: dumps, cache exports and configuration backups. */
  private get dumpSources(): (DatabasePipelineSource | CachePipelineSource | ConfigPipelineSource)[] {
    return this.props.sources.filter((s): s is DatabasePipelineSource | CachePipelineSource | ConfigPipelineSource => s.method !== 'snapshot' && s.engine !== 'fileset');
  }

  /** Sources whose snapshots are under `filesets/`. */
  private get fileSetSources(): FileSetPipelineSource[] {
    return this.props.sources.filter((s): s is FileSetPipelineSource => s.engine === 'fileset');
  }

  private snapshotTypes(): ('instance' | 'cluster')[] {
    return (['instance', 'cluster'] as const).filter((type) => this.snapshotSources.some((s) => s.rds.type === type));
  }

  /**
   * One pipeline function; one that `audited` (it acts: snapshot, copy, prune) records its audit events when the
   * deployment has an evidence key: the statements and EVIDENCE_KEY_ARN are part of its grants and environment, so
   * a runner task of the same core (the copy task) gets them too.
   */
  private pipelineFunction(
    id: string,
    handler: string,
    props: { description: string; environment: Record<string, string>; keyUse: ('encrypt' | 'decrypt')[]; timeout?: Duration; memorySize?: number; outsideVpcReason: string; audited?: boolean },
  ): PipelineFunction {
    const { audited, ...rest } = props;
    const { evidenceKey } = this.props;
    const fn = new PipelineFunction(this, id, {
      handler,
      ...rest,
      environment: { ...rest.environment, ...(audited && evidenceKey ? { EVIDENCE_KEY_ARN: evidenceKey.keyArn } : {}) },
      logKey: this.props.functions.operationsKey,
      deadLetterQueue: this.props.functions.deadLetterQueue,
    });
    if (audited && evidenceKey) {
      for (const { statement, wildcardReason } of auditWriteStatements(this.stack, { vault: this.props.vault, vaultKey: this.props.vaultKey, evidenceKey })) fn.addToRolePolicy(statement, wildcardReason);
    }
    return fn;
  }

  /** Reading SSE-KMS objects (and assembling multipart uploads) under a vault key, only through S3 in that key's region. */
  private static decryptThroughS3(sid: string, keyArn: string, region: string): iam.PolicyStatement {
    return new iam.PolicyStatement({ sid, actions: ['kms:Decrypt'], resources: [keyArn], conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` } } });
  }

  // -------------------------------------------------------------------------------------------
  // Functions

  private buildResolveSource(): PipelineFunction {
    const { functions, verification } = this.props;
    // A route's Fargate target: the task and its network; verification runs where the verification servers are, else there too.
    const fargateTarget = (task: RunnerTask, network: DumpNetwork, size: PipelineSourceCommon['fargate']) => ({
      cluster: functions.runner.clusterArn,
      dumpTaskDefinition: task.taskDefinition.taskDefinitionArn,
      verifyTaskDefinition: this.verifyTask.taskDefinition.taskDefinitionArn,
      copyTaskDefinition: this.copyTask.taskDefinition.taskDefinitionArn,
      subnets: network.subnetIds,
      securityGroups: network.securityGroupIds,
      verifySubnets: (verification?.network ?? network).subnetIds,
      verifySecurityGroups: (verification?.network ?? network).securityGroupIds,
      ...(size ?? { cpu: DEFAULT_TASK_CPU, memoryMiB: DEFAULT_TASK_MEMORY_MIB, autoAfterMinutes: 10, autoAboveRawGiB: 40 }),
    });
    const routes = this.props.sources.map((s) => {
      if (s.method === 'snapshot') return { id: s.id, method: s.method };
      // A file set starts on Lambda; with a network, a run that gives up in time goes on as its Fargate task.
      if (s.engine === 'fileset') {
        const task = functions.dumpTaskFor.get(s.id);
        if (!task || !s.network) return { id: s.id, method: s.method, dumpFunctionArn: functions.fileSetBackup!.functionArn, runner: 'lambda' };
        return { id: s.id, kind: 'fileset', method: s.method, dumpFunctionArn: functions.fileSetBackup!.functionArn, runner: 'auto', fargate: fargateTarget(task, s.network, s.fargate) };
      }
      // A configuration backup reads a few thousand items at most: Lambda only.
      if (s.engine === 'config') return { id: s.id, method: s.method, dumpFunctionArn: functions.configBackup!.functionArn, runner: 'lambda' };
      const dump = functions.dumpFunctionFor.get(s.id)!;
      return { id: s.id, method: s.method, dumpFunctionArn: dump.function.functionArn, runner: s.runner ?? 'auto', fargate: fargateTarget(functions.dumpTaskFor.get(s.id)!, dump.network, s.fargate) };
    });
    const fn = this.pipelineFunction('ResolveSource', 'resolve-source', {
      description: 'Lifeboat: how a source is backed up (dump, snapshot or both), which dump function serves it, and whether its dump runs on Lambda or Fargate',
      environment: { LIFEBOAT_ROUTES: this.stack.toJsonString(routes), VAULT_BUCKET: this.props.vault.bucketName },
      // Reads manifests, which S3 decrypts under the vault key for roles the key policy admits (writers, through S3 only).
      keyUse: ['encrypt'],
      timeout: Duration.seconds(30),
      memorySize: 256,
      outsideVpcReason: 'It reads its environment and lists manifests through the S3 API; a VPC would need an S3 endpoint and add nothing.',
    });
    // `auto` reads the last backups of the sources that may move to Fargate: a configuration source never does.
    const autoSources = this.dumpSources.filter((s) => s.engine !== 'config');
    const manifests = autoSources.map((s) => this.props.vault.arnForObjects(`backups/${s.id}/*/manifest.json`));
    if (manifests.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadDumpManifests', actions: ['s3:GetObject'], resources: manifests }),
        'Only manifests (`<backup id>/manifest.json`) under a dump source\'s own prefix: the wildcard is the backup id.',
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [this.props.vault.bucketArn], conditions: { StringLike: { 's3:prefix': autoSources.map((s) => `backups/${s.id}/*`) } } }));
    }
    // A file set that went on on Fargate: its snapshot's manifest, read back for the state machine.
    const fileSetsOnFargate = this.fileSetSources.filter((s) => s.network && functions.dumpTaskFor.has(s.id));
    if (fileSetsOnFargate.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadFileSetManifests', actions: ['s3:GetObject'], resources: fileSetsOnFargate.map((s) => this.props.vault.arnForObjects(`filesets/${s.id}/snapshots/*/manifest.json`)) }),
        'Only snapshot manifests (`snapshots/<backup id>/manifest.json`) of a file set that may run on Fargate: the wildcard is the backup id.',
      );
    }
    if (manifests.length + fileSetsOnFargate.length > 0) fn.addToRolePolicy(BackupPipeline.decryptThroughS3('ReadManifests', this.props.vaultKey.keyArn, this.stack.region));
    return fn;
  }

  private buildSnapshot(): PipelineFunction {
    const sources = this.snapshotSources.map((s) => ({
      id: s.id,
      engine: s.engine,
      ...(s.database ? { database: s.database } : {}),
      rds: s.rds,
      policy: retentionPolicyTag(s.retention),
    }));
    const fn = this.pipelineFunction('Snapshot', 'snapshot', {
      description: 'Lifeboat: creates and describes RDS snapshots, and records them in the vault',
      environment: { VAULT_BUCKET: this.props.vault.bucketName, VAULT_KEY_ARN: this.props.vaultKey.keyArn, LIFEBOAT_SOURCES: JSON.stringify(sources) },
      keyUse: ['encrypt'],
      outsideVpcReason: 'It calls only the RDS and S3 APIs (no database connection); a VPC would need endpoints for both and add nothing.',
      audited: true,
    });
    const region = this.stack.region;
    for (const type of this.snapshotTypes()) {
      const ofType = this.snapshotSources.filter((s) => s.rds.type === type);
      const [create, describe, sourceResource] =
        type === 'instance' ? (['rds:CreateDBSnapshot', 'rds:DescribeDBSnapshots', 'db'] as const) : (['rds:CreateDBClusterSnapshot', 'rds:DescribeDBClusterSnapshots', 'cluster'] as const);
      const snapshots = ofType.map((s) => this.lifeboatSnapshots(region, type, s.id));
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: type === 'instance' ? 'SnapshotOwnInstances' : 'SnapshotOwnClusters',
          actions: [create],
          resources: [...ofType.map((s) => this.rdsArn(region, sourceResource, s.rds.identifier)), ...snapshots],
        }),
        'Snapshot names are `lifeboat-<source>-<backup id>`, new for every backup: the wildcard is the backup id within this source\'s own name prefix.',
      );
      // Tags are set at creation (CreateDBSnapshot's Tags), which RDS authorizes as AddTagsToResource.
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: type === 'instance' ? 'TagAndDescribeOwnSnapshots' : 'TagAndDescribeOwnClusterSnapshots', actions: ['rds:AddTagsToResource', describe], resources: snapshots }),
        'Snapshot names are `lifeboat-<source>-<backup id>`, new for every backup: the wildcard is the backup id within this source\'s own name prefix.',
      );
    }
    this.grantVaultObjects(fn, 'RecordSnapshots', ['s3:GetObject', 's3:PutObject'], this.snapshotSources.map((s) => `backups/${s.id}/*`));
    // As for the dump roles: the prefix grant never covers the verify function's results.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'NeverWriteVerificationResults',
        effect: iam.Effect.DENY,
        actions: ['s3:PutObject', 's3:DeleteObject'],
        resources: this.snapshotSources.map((s) => this.props.vault.arnForObjects(`backups/${s.id}/*/verifications/*`)),
      }),
      'Deny statements: the wildcards are the backup id and result name under each snapshot source; a deny can only take away.',
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'EncryptManifests', actions: ['kms:GenerateDataKey'], resources: [this.props.vaultKey.keyArn] }));
    fn.addToRolePolicy(BackupPipeline.decryptThroughS3('ReadManifests', this.props.vaultKey.keyArn, region));
    return fn;
  }

  /** Object actions under the given prefixes of the primary vault, and ListBucket so a missing object is a 404, not a 403. */
  private grantVaultObjects(fn: PipelineFunction, sid: string, actions: string[], prefixes: string[]): void {
    if (prefixes.length === 0) return;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid, actions, resources: prefixes.map((p) => this.props.vault.arnForObjects(p)) }),
      'Each backup is a new folder under its source\'s own prefix: the wildcard is the backup id and file name within that prefix.',
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: `${sid}List`, actions: ['s3:ListBucket'], resources: [this.props.vault.bucketArn] }));
  }

  private buildCopy(): PipelineFunction {
    const { dr } = this.props;
    const region = this.stack.region;
    const fn = this.pipelineFunction('Copy', 'copy', {
      description: 'Lifeboat: copies backups to the DR vault (checksum-confirmed) and RDS snapshots to the DR region',
      environment: {
        PRIMARY_VAULT_BUCKET: this.props.vault.bucketName,
        DR_VAULT_BUCKET: dr.bucketName,
        DR_REGION: dr.region,
        DR_VAULT_KEY_ARN: dr.keyArn,
        MAX_SNAPSHOT_COPIES_IN_FLIGHT: String(this.props.maxSnapshotCopiesInFlight ?? 20),
        ...(this.props.airGap
          ? { AIR_GAP_BUCKET: this.props.airGap.bucketName, AIR_GAP_REGION: this.props.airGap.region, AIR_GAP_ACCOUNT: this.props.airGap.account, AIR_GAP_KEY_ARN: this.props.airGap.keyArn }
          : {}),
        ...(this.makesShareCopies ? { SNAPSHOT_SHARE_KEY_ARN: this.props.vaultKey.keyArn } : {}),
      },
      keyUse: ['encrypt'],
      timeout: Duration.minutes(15),
      memorySize: 1024,
      outsideVpcReason: 'It calls only the S3 and RDS APIs, server-side copies included; no data passes through a VPC.',
      audited: true,
    });
    const everySource = 'The copy function serves every source: the wildcard is any backup under the vault\'s backups/ prefix, and nothing outside it.';
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadPrimaryVault', actions: ['s3:GetObject'], resources: [this.props.vault.arnForObjects('backups/*')] }), everySource);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WriteDrVault',
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
        resources: [`${this.drBucketArn}/backups/*`],
      }),
      everySource,
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListBothVaults', actions: ['s3:ListBucket'], resources: [this.props.vault.bucketArn, this.drBucketArn] }));
    if (this.fileSetSources.length > 0) {
      // File sets: their chunk-id keys, packs, snapshots and results, read in the primary, added in the DR vault.
      const fileSets = 'The file sets\' own prefixes (`filesets/<source>/`): the wildcard is the object name within each.';
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadPrimaryFileSets', actions: ['s3:GetObject'], resources: this.fileSetSources.map((s) => this.props.vault.arnForObjects(`filesets/${s.id}/*`)) }),
        fileSets,
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'WriteDrFileSets', actions: ['s3:GetObject', 's3:PutObject'], resources: this.fileSetSources.map((s) => `${this.drBucketArn}/filesets/${s.id}/*`) }),
        fileSets,
      );
    }
    // A copy cut off by its timeout is continued, not restarted: the rerun finds the upload and its copied parts.
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ResumeDrUploads', actions: ['s3:ListBucketMultipartUploads'], resources: [this.drBucketArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ResumeDrUploadParts', actions: ['s3:ListMultipartUploadParts'], resources: [`${this.drBucketArn}/backups/*`] }),
      everySource,
    );
    // The copies are requested from the DR (and air-gapped vault's) region's S3, which reads the sources under the primary key.
    const copyRegions = [...new Set([region, dr.region, ...(this.props.airGap ? [this.props.airGap.region] : [])])];
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadPrimaryObjects',
        actions: ['kms:Decrypt'],
        resources: [this.props.vaultKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': copyRegions.map((r) => `s3.${r}.amazonaws.com`) } },
      }),
    );
    const airGap = this.props.airGap;
    if (airGap) {
      // Add objects, nothing else: the air-gapped vault's bucket policy denies the rest to this account anyway.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'AddToAirGappedVault',
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [`arn:${this.stack.partition}:s3:::${airGap.bucketName}/backups/*`, ...(this.fileSetSources.length > 0 ? [`arn:${this.stack.partition}:s3:::${airGap.bucketName}/filesets/*`] : [])],
        }),
        everySource,
      );
      // S3 stores each copy under the vault account's key, which lets this account do so through S3 only, into that
      // bucket only. Decrypt as well: S3 needs it to assemble a multipart copy (a payload object above 5 GiB).
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'EncryptAirGappedObjects',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [airGap.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `s3.${airGap.region}.amazonaws.com` },
            StringLike: { 'kms:EncryptionContext:aws:s3:arn': `arn:${this.stack.partition}:s3:::${airGap.bucketName}/*` },
          },
        }),
      );
    }
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'EncryptDrObjects', actions: ['kms:GenerateDataKey'], resources: [dr.keyArn] }));
    fn.addToRolePolicy(BackupPipeline.decryptThroughS3('ReadDrObjects', dr.keyArn, dr.region));
    const types = this.snapshotTypes();
    if (types.length > 0) {
      const copyActions = types.map((t) => (t === 'instance' ? 'rds:CopyDBSnapshot' : 'rds:CopyDBClusterSnapshot'));
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'CopySnapshotsToDr',
          actions: copyActions,
          resources: types.flatMap((t) => [this.lifeboatSnapshots(region, t), this.lifeboatSnapshots(dr.region, t)]),
        }),
        'Only snapshots Lifeboat names (`lifeboat-<source>-<backup id>`), in the primary and DR regions: the wildcard is the source and backup id.',
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'TagSnapshotCopies', actions: ['rds:AddTagsToResource'], resources: types.map((t) => this.lifeboatSnapshots(dr.region, t)) }),
        'CopyTags puts the backup\'s tags on the new copy, which only ever has a Lifeboat name (`lifeboat-<source>-<backup id>`).',
      );
      // Counting the copies in flight lists every manual snapshot in the DR region, instance and cluster
      // snapshots alike whatever the sources are: no narrower resource.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ListDrSnapshots',
          actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'],
          resources: [this.rdsArn(dr.region, 'snapshot', '*'), this.rdsArn(dr.region, 'cluster-snapshot', '*')],
        }),
        'Counting the snapshot copies in flight lists every manual snapshot in the DR region (RDS filters by tag only after listing); describing is read-only.',
      );
      // RDS encrypts the copy under the DR vault key with a grant it creates in the caller's name.
      const viaRds = { StringEquals: { 'kms:ViaService': `rds.${dr.region}.amazonaws.com` } };
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'GrantRdsTheDrKey',
          actions: ['kms:CreateGrant'],
          resources: [dr.keyArn],
          conditions: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'DescribeDrKeyForRds', actions: ['kms:DescribeKey'], resources: [dr.keyArn], conditions: viaRds }));
      // An air-gapped vault in the DR region: each DR copy is shared with its account, whose copier copies it there.
      if (this.props.airGap && this.props.airGap.region === dr.region) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'ShareSnapshotCopiesWithAirGap',
            actions: types.map((t) => (t === 'instance' ? 'rds:ModifyDBSnapshotAttribute' : 'rds:ModifyDBClusterSnapshotAttribute')),
            resources: types.map((t) => this.lifeboatSnapshots(dr.region, t)),
          }),
          'Only the DR copies Lifeboat names (`lifeboat-<source>-<backup id>`): the wildcard is the source and backup id.',
        );
      }
      if (this.makesShareCopies) this.grantShareCopies(fn, types);
    }
    return fn;
  }

  /** An air-gapped vault in this (the primary) region and snapshot sources: their backups reach it as share copies made here. */
  private get makesShareCopies(): boolean {
    const airGap = this.props.airGap;
    return airGap !== undefined && airGap.region === this.stack.region && airGap.region !== this.props.dr.region && this.snapshotTypes().length > 0;
  }

  /**
   * Share copies (functions/copy/shareCopy.ts): copied here from the primary snapshot under the vault key (the copy
   * itself is allowed by CopySnapshotsToDr, whose resources include this region's `lifeboat-*`), tagged, shared with
   * the vault account, and deleted after a few days; only snapshots named `lifeboat-<source>-<backup id>-ag`.
   */
  private grantShareCopies(fn: PipelineFunction, types: ('instance' | 'cluster')[]): void {
    const region = this.stack.region;
    const shareCopies = types.map((t) => this.rdsArn(region, t === 'instance' ? 'snapshot' : 'cluster-snapshot', `${SNAPSHOT_PREFIX}*-ag`));
    const why = 'Only share copies, which Lifeboat names `lifeboat-<source>-<backup id>-ag`: the wildcard is the source and backup id.';
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'TagShareCopies', actions: ['rds:AddTagsToResource'], resources: shareCopies }), why);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ShareCopiesWithAirGap',
        actions: types.map((t) => (t === 'instance' ? 'rds:ModifyDBSnapshotAttribute' : 'rds:ModifyDBClusterSnapshotAttribute')),
        resources: shareCopies,
      }),
      why,
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'DeleteOldShareCopies', actions: types.map((t) => (t === 'instance' ? 'rds:DeleteDBSnapshot' : 'rds:DeleteDBClusterSnapshot')), resources: shareCopies }),
      why,
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ListPrimarySnapshots',
        actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'],
        resources: [this.rdsArn(region, 'snapshot', '*'), this.rdsArn(region, 'cluster-snapshot', '*')],
      }),
      'Finding a source\'s old share copies lists the manual snapshots of this region (RDS has no name-prefix filter); describing is read-only.',
    );
    // RDS encrypts the share copy under the vault key with a grant it creates in the caller's name.
    const viaRds = { StringEquals: { 'kms:ViaService': `rds.${region}.amazonaws.com` } };
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'GrantRdsTheVaultKey',
        actions: ['kms:CreateGrant'],
        resources: [this.props.vaultKey.keyArn],
        conditions: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'DescribeVaultKeyForRds', actions: ['kms:DescribeKey'], resources: [this.props.vaultKey.keyArn], conditions: viaRds }));
  }

  private buildPrune(): PipelineFunction {
    const { dr } = this.props;
    const region = this.stack.region;
    const retention = this.props.sources.map((s) => ({
      id: s.id,
      timeZone: s.schedule.timeZone,
      retention: s.retention,
      snapshots: s.method !== 'dump',
      ...(s.engine === 'fileset' ? { kind: 'fileset' } : {}),
    }));
    const fileSets = this.fileSetSources.map((s) => s.id);
    const fn = this.pipelineFunction('Prune', 'prune', {
      description: 'Lifeboat: applies each source\'s retention to both vaults and its RDS snapshots in both regions',
      environment: {
        VAULT_BUCKET: this.props.vault.bucketName,
        DR_VAULT_BUCKET: dr.bucketName,
        DR_REGION: dr.region,
        LIFEBOAT_RETENTION: JSON.stringify(retention),
        VERIFICATION_KEY_ARN: this.props.verificationKey.keyArn,
        // File sets: a kept snapshot's index says which packs stay, and reading it takes each region's key.
        ...(fileSets.length > 0 ? { VAULT_KEY_ARN: this.props.vaultKey.keyArn, DR_VAULT_KEY_ARN: dr.keyArn } : {}),
      },
      keyUse: fileSets.length > 0 ? ['encrypt', 'decrypt'] : ['encrypt'],
      timeout: Duration.minutes(10),
      outsideVpcReason: 'It calls only the S3 and RDS APIs; a VPC would need endpoints for both and add nothing.',
      audited: true,
    });
    const objects = [
      this.props.vault.arnForObjects('backups/*'),
      `${this.drBucketArn}/backups/*`,
      ...fileSets.flatMap((id) => [this.props.vault.arnForObjects(`filesets/${id}/*`), `${this.drBucketArn}/filesets/${id}/*`]),
    ];
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PruneBothVaults',
        // Object Lock is read before a delete: on a versioned, locked bucket a delete only adds a marker.
        actions: ['s3:GetObject', 's3:DeleteObject', 's3:GetObjectRetention', 's3:GetObjectLegalHold'],
        resources: objects,
      }),
      'Retention serves every source: the wildcard is any backup under the backups/ prefix of the two vaults. Object Lock still protects locked versions from deletion.',
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListBothVaults', actions: ['s3:ListBucket'], resources: [this.props.vault.bucketArn, this.drBucketArn] }));
    fn.addToRolePolicy(BackupPipeline.decryptThroughS3('ReadPrimaryManifests', this.props.vaultKey.keyArn, region));
    fn.addToRolePolicy(BackupPipeline.decryptThroughS3('ReadDrManifests', dr.keyArn, dr.region));
    if (fileSets.length > 0) {
      // The indexes of the file sets' snapshots, in both vaults: only data keys whose context names a file set.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadFileSetIndexes',
          actions: ['kms:Decrypt'],
          resources: [this.props.vaultKey.keyArn, dr.keyArn],
          conditions: { StringEquals: { 'kms:EncryptionContext:lifeboat:source': fileSets } },
        }),
      );
    }
    // Only results the verifier signed count: checking one is all retention may do with the key.
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'AuthenticateVerificationResults', actions: ['kms:VerifyMac'], resources: [this.props.verificationKey.keyArn] }));
    const types = this.snapshotTypes();
    if (types.length > 0) {
      const regions = [region, dr.region];
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ListSnapshots',
          // Retention lists both kinds of manual snapshot in both regions, whatever the sources are.
          actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'],
          resources: regions.flatMap((r) => [this.rdsArn(r, 'snapshot', '*'), this.rdsArn(r, 'cluster-snapshot', '*')]),
        }),
        'Retention lists the manual snapshots of both regions to find Lifeboat\'s (by tag); describing is read-only.',
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DeleteOwnSnapshots',
          actions: types.map((t) => (t === 'instance' ? 'rds:DeleteDBSnapshot' : 'rds:DeleteDBClusterSnapshot')),
          resources: types.flatMap((t) => regions.map((r) => this.lifeboatSnapshots(r, t))),
          conditions: { StringEquals: { 'aws:ResourceTag/lifeboat:managed-by': 'lifeboat' } },
        }),
        'Only snapshots with a Lifeboat name (`lifeboat-*`) and the lifeboat:managed-by tag, in the primary and DR regions.',
      );
    }
    return fn;
  }

  private buildVerify(): lambda.DockerImageFunction {
    const { functions, verification } = this.props;
    const role = new iam.Role(this, 'VerifyRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'Lifeboat verify function' });
    // It decrypts backups (the Encryption SDK's data keys) and writes verification results under SSE-KMS.
    for (const tag of Object.values(KEY_USE_TAGS)) Tags.of(role).add(tag, 'true');
    const logGroup = new logs.LogGroup(this, 'VerifyLogs', { retention: logs.RetentionDays.THREE_MONTHS, encryptionKey: functions.operationsKey, removalPolicy: RemovalPolicy.RETAIN });
    const fileSets = this.fileSetSources.map((s) => ({ id: s.id, kind: 'fileset', s3: s.s3, ...(s.readDataPercent === undefined ? {} : { readDataPercent: s.readDataPercent }) }));
    const backups = this.dumpSources.map((s) =>
      s.engine === 'config'
        ? { id: s.id, kind: 'config' }
        : s.engine === 'redis'
        ? { id: s.id, engine: s.engine, elasticache: s.elasticache }
        : {
            id: s.id,
            engine: s.engine,
            database: s.database!,
            credentialsSecretArn: s.credentialsSecretArn,
            rds: s.rds,
            ...(s.sqlChecks.length > 0 ? { sqlChecks: s.sqlChecks } : {}),
          },
    );
    const servers = Object.fromEntries(
      Object.entries(verification?.servers ?? {}).map(([engine, server]) => [engine, { host: server.host, port: server.port, secretArn: server.credentialsSecretArn }]),
    );
    this.verifyEnvironment = {
      VAULT_BUCKET: this.props.vault.bucketName,
      VAULT_KEY_ARN: this.props.vaultKey.keyArn,
      ALERT_TOPIC_ARN: this.props.alerts.topic.topicArn,
      LIFEBOAT_SOURCES: JSON.stringify([...backups, ...fileSets]),
      VERIFY_SERVERS: JSON.stringify(servers),
      VERIFICATION_KEY_ARN: this.props.verificationKey.keyArn,
      ...(this.props.evidenceKey ? { EVIDENCE_KEY_ARN: this.props.evidenceKey.keyArn } : {}),
    };
    const fn = new lambda.DockerImageFunction(this, 'Verify', {
      description: 'Lifeboat: verifies a dump (hash, decrypt, structure, test restore into a scratch database, counts, SQL checks)',
      code: toolsImageCode('verify'),
      architecture: lambda.Architecture.X86_64,
      memorySize: 2048,
      timeout: Duration.minutes(15),
      reservedConcurrentExecutions: 2,
      role,
      logGroup,
      ...(verification ? lambdaNetwork(this, verification.network) : {}),
      deadLetterQueue: functions.deadLetterQueue,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        ...this.verifyEnvironment,
        POWERTOOLS_SERVICE_NAME: 'lifeboat-verify',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
    });
    logGroup.grantWrite(role);
    functions.deadLetterQueue.encryptionMasterKey?.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
    const reviewed = new ReviewedPolicy(role, "The verify function's own statements, scoped to the dump sources' prefixes, the vault key, the alert topic and the verification servers' secrets.");
    // Every statement but the Lambda plumbing is recorded for the verify task's role, which gets exactly these.
    const policy = {
      add: (statement: iam.PolicyStatement, wildcardReason?: string) => {
        reviewed.add(statement, wildcardReason);
        this.verifyGrants.push({ statement, wildcardReason });
      },
      acknowledge: (names: readonly string[], reason: string) => reviewed.acknowledge(names, reason),
    };
    policy.acknowledge(
      ['*'],
      verification
        ? 'Resource "*" only where the actions support no narrower resource: Lambda attaching the function to the verification VPC (network interfaces) and X-Ray trace upload.'
        : 'The one statement with Resource "*" is X-Ray trace upload (added by active tracing): its actions support no narrower resource.',
    );
    if (verification) reviewed.add(attachToVpcStatement('AttachToVerificationVpc'), 'Lambda manages the function\'s network interfaces in the verification VPC; these actions take no narrower resource.');
    const prefixes = this.dumpSources.map((s) => `backups/${s.id}/*`);
    if (prefixes.length > 0) {
      policy.add(
        new iam.PolicyStatement({ sid: 'ReadDumps', actions: ['s3:GetObject'], resources: prefixes.map((p) => this.props.vault.arnForObjects(p)) }),
        'Backups of the dump sources, each under its own prefix: the wildcard is the backup id and file name within that prefix.',
      );
      // A payload lifecycle moved to Deep Archive is restored from archive when verification reads it.
      policy.add(
        new iam.PolicyStatement({ sid: 'RestoreArchivedDumps', actions: ['s3:RestoreObject'], resources: prefixes.map((p) => this.props.vault.arnForObjects(p)) }),
        'Restores from archive of the dump sources\' backups only, each under its own prefix: the wildcard is the backup id and file name.',
      );
      policy.add(
        new iam.PolicyStatement({
          sid: 'WriteVerificationResults',
          actions: ['s3:PutObject'],
          resources: this.dumpSources.map((s) => this.props.vault.arnForObjects(`backups/${s.id}/*/verifications/*`)),
        }),
        'Only verification results (`verifications/<time>.json`) inside a dump source\'s backups: the wildcards are the backup id and the result\'s time.',
      );
    }
    const fileSetPrefixes = this.fileSetSources.map((s) => `filesets/${s.id}/*`);
    if (fileSetPrefixes.length > 0) {
      policy.add(
        new iam.PolicyStatement({ sid: 'ReadFileSets', actions: ['s3:GetObject'], resources: fileSetPrefixes.map((p) => this.props.vault.arnForObjects(p)) }),
        'Snapshots and packs of the file sets, each under its own prefix: the wildcard is the object name within that prefix.',
      );
      policy.add(
        new iam.PolicyStatement({
          sid: 'WriteFileSetVerificationResults',
          actions: ['s3:PutObject'],
          resources: this.fileSetSources.map((s) => this.props.vault.arnForObjects(`filesets/${s.id}/snapshots/*/verifications/*`)),
        }),
        'Only verification results (`verifications/<time>.json`) inside a file set\'s snapshots: the wildcards are the snapshot id and the result\'s time.',
      );
    }
    if (prefixes.length + fileSetPrefixes.length > 0) policy.add(new iam.PolicyStatement({ sid: 'ListVault', actions: ['s3:ListBucket'], resources: [this.props.vault.bucketArn] }));
    policy.add(new iam.PolicyStatement({ sid: 'DecryptBackups', actions: ['kms:Decrypt'], resources: [this.props.vaultKey.keyArn] }));
    policy.add(new iam.PolicyStatement({ sid: 'EncryptVerificationResults', actions: ['kms:GenerateDataKey'], resources: [this.props.vaultKey.keyArn] }));
    policy.add(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [this.props.alerts.topic.topicArn] }));
    // The verifier alone signs results (and checks earlier ones for the size comparison).
    policy.add(new iam.PolicyStatement({ sid: 'SignVerificationResults', actions: ['kms:GenerateMac', 'kms:VerifyMac'], resources: [this.props.verificationKey.keyArn] }));
    if (this.props.evidenceKey) {
      for (const { statement, wildcardReason } of auditWriteStatements(this.stack, { vault: this.props.vault, vaultKey: this.props.vaultKey, evidenceKey: this.props.evidenceKey })) policy.add(statement, wildcardReason);
    }
    policy.add(new iam.PolicyStatement({ sid: 'EncryptAlerts', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.props.alerts.key.keyArn] }));
    const secrets = Object.values(verification?.servers ?? {}).map((s) => s.credentialsSecretArn);
    if (secrets.length > 0) policy.add(new iam.PolicyStatement({ sid: 'ReadVerificationServerCredentials', actions: ['secretsmanager:GetSecretValue'], resources: secrets }));
    if (!verification) {
      Validations.of(fn).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC',
        reason: 'No verification servers are configured, so this function only reads the vault and publishes alerts (S3, KMS and SNS APIs); it joins their VPC once `verification` is set.',
      });
    }
    this.verifyRole = role;
    return fn;
  }

  /** The verify function's role (a DockerImageFunction, so not a PipelineFunction). */
  verifyRole!: iam.Role;
  /** The verify role's own statements (no Lambda plumbing): the verify task's role gets exactly these. */
  private readonly verifyGrants: GrantedStatement[] = [];
  private verifyEnvironment: Record<string, string> = {};

  private buildVerifyTask(): RunnerTask {
    return this.props.functions.runner.addTask('Verify', {
      role: 'verify',
      image: 'verify',
      description: 'verification of backups taken on Fargate',
      environment: this.verifyEnvironment,
      statements: this.verifyGrants,
      // Like its Lambda: it decrypts backups and writes verification results under SSE-KMS.
      tags: Object.fromEntries(Object.values(KEY_USE_TAGS).map((tag) => [tag, 'true'])),
    });
  }

  /**
   * The copy function's core as a Fargate task, with exactly its grants and environment. It runs in the network of
   * the source whose copy it continues (S3 only: server-side copies and the re-hash). A small task: the copy is
   * S3's work, and hashing one stream takes one core.
   */
  private buildCopyTask(): RunnerTask {
    return this.props.functions.runner.addTask('Copy', {
      role: 'copy',
      image: 'dump',
      description: 'DR and air-gapped copies that one Lambda run cannot finish',
      environment: this.copy.environment,
      statements: this.copy.grants,
      // Like its Lambda: the DR copies are encrypted under the DR key, never decrypted by the role itself.
      tags: { [KEY_USE_TAGS.encrypt]: 'true' },
      cpu: COPY_TASK_CPU,
      memoryMiB: COPY_TASK_MEMORY_MIB,
    });
  }

  // -------------------------------------------------------------------------------------------
  // The state machine

  private buildStateMachine(): sfn.StateMachine {
    const { name, alerts, functions } = this.props;
    const stateMachineName = `${name}-backup`;
    const logGroup = stateMachineLogGroup(this, 'StateMachineLogs', stateMachineName, { encryptionKey: functions.operationsKey, retention: logs.RetentionDays.THREE_MONTHS });
    const role = stateMachineRole(this, 'StateMachineRole', 'Lifeboat backup state machine');
    const invoked = [
      this.resolveSource.function,
      this.snapshot.function,
      this.verify,
      this.copy.function,
      this.prune.function,
      ...functions.dumpFunctions.map((d) => d.function),
      ...(functions.fileSetBackup ? [functions.fileSetBackup.function.function] : []),
      ...(functions.configBackup ? [functions.configBackup.function.function] : []),
    ];
    const policy = new ReviewedPolicy(role, 'Exactly the calls the backup state machine\'s tasks make; a managed policy would be shared and so wider.');
    // The tasks invoke unqualified function ARNs, so no `:*` (version or alias) resource is needed.
    policy.add(new iam.PolicyStatement({ sid: 'InvokeBackupFunctions', actions: ['lambda:InvokeFunction'], resources: invoked.map((f) => f.functionArn) }));
    policy.add(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [alerts.topic.topicArn] }));
    policy.add(new iam.PolicyStatement({ sid: 'EncryptAlerts', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [alerts.key.keyArn] }));
    this.grantRunTaskSync(policy, [...functions.dumpTaskFor.values(), this.verifyTask, this.copyTask]);
    policy.acknowledge(
      ['*'],
      'Resource "*" only where the action takes no narrower resource: cloudwatch:PutMetricData (limited to the Lifeboat namespace by condition), and the log delivery and X-Ray statements CDK adds for logging and tracing.',
    );
    policy.add(
      new iam.PolicyStatement({
        sid: 'PutSuccessMetric',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
      }),
      'cloudwatch:PutMetricData takes no resource; the condition limits it to the Lifeboat namespace.',
    );
    return standardStateMachine(this, 'StateMachine', {
      stateMachineName,
      definitionBody: sfn.DefinitionBody.fromString(readFileSync(`${repoRoot}statemachines/backup.asl.json`, 'utf8')),
      definitionSubstitutions: {
        ResolveSourceFunctionArn: this.resolveSource.functionArn,
        SnapshotFunctionArn: this.snapshot.functionArn,
        VerifyFunctionArn: this.verify.functionArn,
        CopyFunctionArn: this.copy.functionArn,
        PruneFunctionArn: this.prune.functionArn,
        AlertTopicArn: alerts.topic.topicArn,
        Region: this.stack.region,
      },
      role,
      logGroup,
    });
  }

  /**
   * What `ecs:runTask.sync` needs: RunTask of exactly these task definitions in the runner's cluster, PassRole
   * of exactly their task roles and the execution role (to ECS only), StopTask and DescribeTasks of the
   * cluster's tasks (Step Functions stops a task at the state's timeout), and the managed EventBridge rule
   * through which Step Functions learns that a task stopped.
   */
  private grantRunTaskSync(policy: ReviewedPolicy, tasks: readonly RunnerTask[]): void {
    const { runner } = this.props.functions;
    const unique = [...new Set(tasks)];
    policy.add(
      new iam.PolicyStatement({
        sid: 'RunFargateTasks',
        actions: ['ecs:RunTask'],
        resources: unique.map((t) => t.taskDefinition.taskDefinitionArn),
        conditions: { ArnEquals: { 'ecs:cluster': runner.clusterArn } },
      }),
    );
    policy.add(
      new iam.PolicyStatement({
        sid: 'PassFargateTaskRoles',
        actions: ['iam:PassRole'],
        resources: [...unique.map((t) => t.taskRole.roleArn), runner.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    policy.add(
      new iam.PolicyStatement({
        sid: 'WatchFargateTasks',
        actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
        resources: [this.stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.props.name}-runner/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
      }),
      'Tasks of the runner\'s own cluster: the wildcard is the task id, new for every task.',
    );
    policy.add(
      new iam.PolicyStatement({
        sid: 'ManagedRuleForTaskEvents',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [this.stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForECSTaskRule' })],
      }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Starting runs: the start-backup function and one schedule per source

  private buildStartBackup(): PipelineFunction {
    const fn = this.pipelineFunction('StartBackup', 'start-backup', {
      description: 'Lifeboat: starts one backup execution per scheduled run, named after the source and the scheduled time',
      environment: { BACKUP_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn, LIFEBOAT_SOURCE_IDS: JSON.stringify(this.props.sources.map((s) => s.id)) },
      keyUse: [],
      timeout: Duration.seconds(30),
      memorySize: 256,
      outsideVpcReason: 'It calls only the Step Functions API to start an execution; a VPC would need an endpoint for it and add nothing.',
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StartBackups', actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }));
    // A second delivery of the same scheduled run finds the execution it already started.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DescribeBackups',
        actions: ['states:DescribeExecution'],
        resources: [this.stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${this.props.name}-backup:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
      'Executions of the backup state machine only: the wildcard is the execution name, which is new for every run.',
    );
    return fn;
  }

  private buildSchedules(): Map<string, scheduler.Schedule> {
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: 'Lifeboat backup schedules: invoke the start-backup function',
    });
    const policy = new ReviewedPolicy(role, 'The schedules\' own role: invoke the start-backup function and write its dead letters, nothing else.');
    policy.add(new iam.PolicyStatement({ sid: 'DeadLetterEncryption', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.props.functions.operationsKey.keyArn] }));
    const schedules = new Map<string, scheduler.Schedule>();
    for (const source of this.props.sources) {
      const target = new targets.LambdaInvoke(this.startBackup.function, {
        role,
        deadLetterQueue: this.scheduleDeadLetters,
        input: scheduler.ScheduleTargetInput.fromObject({ sourceId: source.id, trigger: 'schedule', scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        // A start that cannot be delivered within the hour goes to the dead letters (and the next run comes).
        maxEventAge: Duration.hours(1),
        retryAttempts: 10,
      });
      const window = source.schedule.flexibleWindowMinutes;
      schedules.set(
        source.id,
        new scheduler.Schedule(this, `Schedule-${source.id}`, {
          scheduleName: source.id,
          scheduleGroup: this.scheduleGroup,
          description: `Lifeboat: back up ${source.id} (${source.method})`,
          schedule: scheduler.ScheduleExpression.expression(`cron(${source.schedule.cron})`, TimeZone.of(source.schedule.timeZone)),
          timeWindow: window > 0 ? scheduler.TimeWindow.flexible(Duration.minutes(window)) : scheduler.TimeWindow.off(),
          target,
        }),
      );
      // The group is passed by name: without this CloudFormation may create the schedule first.
      schedules.get(source.id)!.node.addDependency(this.scheduleGroup);
    }
    // The target grants invoke on the function and its versions (`<arn>:*`); Scheduler calls the unqualified ARN.
    policy.acknowledge([`${nagResourceName(role, this.startBackup.functionArn)}:*`], 'Added by the schedule target\'s grant: the start-backup function\'s own versions and aliases, nothing else.');
    return schedules;
  }
}

function validatePipelineProps(id: string, props: BackupPipelineProps): void {
  const problems: string[] = [];
  if (props.sources.length === 0) problems.push('sources: at least one source is required');
  for (const source of props.sources) {
    if (source.engine === 'fileset') {
      if (!props.functions.fileSetBackup?.sources.some((s) => s.id === source.id)) problems.push(`sources '${source.id}': no file-set backup function serves it`);
      continue;
    }
    if (source.engine === 'config') {
      if (!props.functions.configBackup?.sources.some((s) => s.id === source.id)) problems.push(`sources '${source.id}': no config backup function serves it`);
      continue;
    }
    if (source.method !== 'snapshot' && !props.functions.dumpFunctionFor.has(source.id)) problems.push(`sources '${source.id}': no dump function serves it`);
    if (source.method !== 'snapshot' && source.engine !== 'redis' && !source.database) problems.push(`sources '${source.id}': a dump needs a database`);
  }
  if (props.maxSnapshotCopiesInFlight !== undefined && (!Number.isInteger(props.maxSnapshotCopiesInFlight) || props.maxSnapshotCopiesInFlight < 1)) {
    problems.push('maxSnapshotCopiesInFlight: must be a positive integer');
  }
  if (problems.length > 0) throw new Error(`BackupPipeline ${id}: invalid props:\n- ${problems.join('\n- ')}`);
}
