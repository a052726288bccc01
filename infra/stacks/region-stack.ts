import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { Alerts, type AlertSubscriber } from '../constructs/alerts.ts';
import { BackupFunctions } from '../constructs/backup-functions.ts';
import { BackupPipeline, type AirGapDestination, type BackupPipelineProps, type CachePipelineSource, type ConfigPipelineSource, type DatabasePipelineSource, type FileSetPipelineSource } from '../constructs/backup-pipeline.ts';
import type { DumpNetwork } from '../constructs/dump-function.ts';
import type { PlanConfig } from '../config/plans.ts';
import { DrPlans } from '../constructs/dr-plans.ts';
import { ComplianceReport, type ReportSource } from '../constructs/compliance-report.ts';
import { EvidenceKey } from '../constructs/evidence-key.ts';
import { airGapReaderRoleName } from '../constructs/air-gapped-vault.ts';
import { Monitoring, type MonitoringConfigProps } from '../constructs/monitoring.ts';
import { RestoreTest, type RestoreTestNetwork } from '../constructs/restore-test.ts';
import { DrWatch } from '../constructs/dr-watch.ts';
import { TamperAlarms } from '../constructs/tamper-alarms.ts';
import { Vault, vaultBucketName, type VaultProps } from '../constructs/vault.ts';
import { VaultKey } from '../constructs/vault-key.ts';
import { VaultTrail, vaultTrailName } from '../constructs/vault-trail.ts';

/** What the primary region backs up: every source, and where its copies go. */
/** A database or cache: its dump function runs in its network. */
export type NetworkedSource = (DatabasePipelineSource | CachePipelineSource) & { readonly network: DumpNetwork };
/** An S3 file set, with its bucket's key when that is a customer managed key. */
export type FileSetRegionSource = FileSetPipelineSource & { readonly bucketKeyArn?: string };
/** A source as the region stack is given it: a configuration source has no network either (its function calls only AWS APIs). */
export type RegionSource = NetworkedSource | FileSetRegionSource | ConfigPipelineSource;

export interface RegionBackupProps {
  readonly sources: readonly RegionSource[];
  readonly drRegion: string;
  readonly verification?: BackupPipelineProps['verification'];
  readonly maxSnapshotCopiesInFlight?: number;
  /** Deploys the snapshot restore test for the snapshot sources. @default - not deployed */
  readonly snapshotRestoreTest?: { readonly network: RestoreTestNetwork; readonly instanceClass: string; readonly auroraInstanceClass: string };
  /** DR plans, default plans included, each deployed as its own state machine. @default - none */
  readonly plans?: readonly PlanConfig[];
  /** Freshness metrics, alarms and the dashboard. @default - not deployed */
  readonly monitoring?: MonitoringConfigProps;
  /** The daily compliance report: its schedule and what it holds each source to. @default none */
  readonly report?: { readonly schedule: { readonly cron: string; readonly timeZone: string }; readonly sources: readonly ReportSource[] };
  /** The air-gapped vault every dump is wrapped for and every verified dump copied to. @default none */
  readonly airGap?: AirGapDestination;
}

export interface RegionStackProps extends StackProps {
  /** The deployment's name (the config's `name`): prefixes the vault bucket, state machine and schedule group. */
  readonly deployment: string;
  /** `primary` creates the multi-Region vault key; `dr` replicates it from `primaryKeyArn`. */
  readonly role: 'primary' | 'dr';
  /** Required for the DR stack: the primary vault key's ARN. */
  readonly primaryKeyArn?: string;
  readonly vault: Omit<VaultProps, 'key' | 'bucketName'> & {
    /** Creates this region's CloudTrail trail for the tamper alarms (`VaultTrail`). @default false */
    readonly createTrail?: boolean;
  };
  readonly alertSubscribers: readonly AlertSubscriber[];
  /** The sources this region backs up (the primary region). @default - none */
  readonly backup?: RegionBackupProps;
  /** The DR region: watch its vault's copies of these sources, with alarms in this region. @default - none */
  readonly drWatch?: { readonly sources: readonly { readonly id: string; readonly rpoMinutes: number; readonly kind?: 'fileset' }[]; readonly everyMinutes?: number };
  /**
   * The DR region: the roles that copy verification results into this vault (the primary's copy function). Every
   * other principal is denied writing them here, as the primary vault denies all but the verifier. @default - no guard
   */
  readonly verificationCopiers?: readonly string[];
  /**
   * The air-gapped vault's account, which copies the snapshot backups shared with it under this region's vault key
   * (vault-key.ts): the DR stack's when that vault is in the DR region (the DR copies), the primary's when it is in
   * the primary region (the share copies).
   */
  readonly snapshotShareAccount?: string;
}

/**
 * One region's share of Lifeboat: its vault key, its vault and its alert topic and, where backups are made,
 * the backup functions, the backup state machine and the schedules.
 */
export class RegionStack extends Stack {
  readonly vaultKey: VaultKey;
  readonly vault: Vault;
  readonly alerts: Alerts;
  /** Authenticates evidence (verification results, audit events, reports); where backups are made. */
  readonly evidenceKey?: EvidenceKey;
  /** Authenticates verification results: only the verifier signs with it; where backups are made. */
  readonly verificationKey?: EvidenceKey;
  /** Authenticates DR plan evidence: only the DR step function signs with it; where plans run. */
  readonly drEvidenceKey?: EvidenceKey;
  readonly backup?: BackupFunctions;
  readonly pipeline?: BackupPipeline;
  readonly restoreTest?: RestoreTest;
  readonly plans?: DrPlans;
  readonly monitoring?: Monitoring;
  /** The daily compliance report (primary region). */
  readonly report?: ComplianceReport;
  readonly tamperAlarms: TamperAlarms;
  /** The DR region's own watch on its copies (DR stack, with monitoring). */
  readonly drWatch?: DrWatch;
  /** This region's CloudTrail trail for the tamper alarms, when `vault.createTrail` is set. */
  readonly trail?: VaultTrail;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    super(scope, id, props);
    if (props.role === 'dr' && props.primaryKeyArn === undefined) {
      throw new Error(`RegionStack ${id}: a DR stack needs primaryKeyArn to replicate the vault key`);
    }
    const breakGlass = props.vault.breakGlassRoleArn === undefined ? {} : { breakGlassRoleArn: props.vault.breakGlassRoleArn };
    const shares = props.snapshotShareAccount ? { snapshotShareAccount: props.snapshotShareAccount } : {};
    this.vaultKey = new VaultKey(this, 'VaultKey', props.role === 'dr' ? { replicaOf: props.primaryKeyArn, ...breakGlass, ...shares } : { copyRegions: props.backup ? [props.backup.drRegion] : [], ...breakGlass, ...shares });
    const { createTrail, ...vaultProps } = props.vault;
    this.vault = new Vault(this, 'Vault', { ...vaultProps, key: this.vaultKey.key, bucketName: vaultBucketName(props.deployment, this.region) });
    this.alerts = new Alerts(this, 'Alerts', { subscribers: props.alertSubscribers });
    if (props.backup && props.backup.sources.length > 0) {
      const { sources, drRegion } = props.backup;
      this.evidenceKey = new EvidenceKey(this, 'EvidenceKey', { deployment: props.deployment });
      this.verificationKey = new EvidenceKey(this, 'VerificationKey', { deployment: props.deployment, purpose: 'verification' });
      // What the CLI is given to sign or check verification results (--verification-key) and audit events (--evidence-key).
      new CfnOutput(this, 'VerificationKeyArn', { value: this.verificationKey.key.keyArn, description: 'lifeboat --verification-key: the key verification results are signed with' });
      new CfnOutput(this, 'EvidenceKeyArn', { value: this.evidenceKey.key.keyArn, description: 'lifeboat --evidence-key: the key audit events are signed with' });
      if (props.backup.plans && props.backup.plans.length > 0) {
        this.drEvidenceKey = new EvidenceKey(this, 'DrEvidenceKey', { deployment: props.deployment, purpose: 'dr-evidence' });
        new CfnOutput(this, 'DrEvidenceKeyArn', { value: this.drEvidenceKey.key.keyArn, description: 'lifeboat --dr-evidence-key: the key DR plan evidence is signed with' });
      }
      // DocumentDB sources are snapshot-only: never dumped. A cache's snapshot is exported by a dump function too.
      const backups = sources.filter((s): s is NetworkedSource => s.engine !== 'fileset' && s.engine !== 'config');
      const dumpSources = backups
        .filter((s) => s.method !== 'snapshot' && s.engine !== 'docdb')
        .map((s) =>
          s.engine === 'redis'
            ? { id: s.id, engine: s.engine, elasticache: s.elasticache, network: s.network }
            : { id: s.id, engine: s.engine as 'postgresql' | 'mysql', database: s.database!, credentialsSecretArn: s.credentialsSecretArn, rds: s.rds, network: s.network },
        );
      // The DR plans' source entries and the snapshot restore test are databases' (credentials, RDS); a plan restores a cache from the vault alone.
      const databases = backups.filter((s): s is Extract<typeof s, { credentialsSecretArn: string }> => s.engine !== 'redis');
      // S3 file sets: one file-set backup function, outside any VPC.
      const fileSets = sources.filter((s): s is FileSetRegionSource => s.engine === 'fileset');
      this.backup = new BackupFunctions(this, 'Backup', {
        name: props.deployment,
        sources: dumpSources,
        fileSets: fileSets.map((s) => ({
          id: s.id,
          kind: 'fileset' as const,
          s3: s.s3,
          ...(s.bucketKeyArn ? { bucketKeyArn: s.bucketKeyArn } : {}),
          ...(s.network ? { network: s.network, ...(s.fargate ? { fargate: { cpu: s.fargate.cpu, memoryMiB: s.fargate.memoryMiB } } : {}) } : {}),
        })),
        // Configuration sources: one config backup function, outside any VPC.
        configSources: sources.filter((s): s is ConfigPipelineSource => s.engine === 'config').map((s) => ({ id: s.id, kind: 'config' as const, selection: s.selection })),
        vault: this.vault.bucket,
        vaultKey: this.vaultKey.key,
        evidenceKey: this.evidenceKey.key,
        ...(props.backup.airGap ? { airGapKeyArn: props.backup.airGap.keyArn } : {}),
        accessLogBucket: this.vault.accessLogBucket,
      });
      this.pipeline = new BackupPipeline(this, 'Pipeline', {
        name: props.deployment,
        sources: sources.map((source) => {
          if (source.engine === 'fileset') {
            const { bucketKeyArn: _key, ...pipelineSource } = source;
            return pipelineSource;
          }
          if (source.engine === 'config') return source;
          const { network: _network, ...pipelineSource } = source;
          return pipelineSource;
        }),
        vault: this.vault.bucket,
        vaultKey: this.vaultKey.key,
        dr: {
          region: drRegion,
          bucketName: vaultBucketName(props.deployment, drRegion),
          // A multi-Region key's replica has the primary's key id, in the other region.
          keyArn: `arn:${Aws.PARTITION}:kms:${drRegion}:${Aws.ACCOUNT_ID}:key/${this.vaultKey.key.keyId}`,
        },
        alerts: { topic: this.alerts.topic, key: this.alerts.key },
        functions: this.backup,
        verification: props.backup.verification,
        maxSnapshotCopiesInFlight: props.backup.maxSnapshotCopiesInFlight,
        evidenceKey: this.evidenceKey.key,
        verificationKey: this.verificationKey.key,
        ...(props.backup.airGap ? { airGap: props.backup.airGap } : {}),
      });
      if (props.backup.report) {
        this.report = new ComplianceReport(this, 'Report', {
          name: props.deployment,
          ...props.backup.report,
          vault: this.vault.bucket,
          vaultKey: this.vaultKey.key,
          evidenceKey: this.evidenceKey.key,
          verificationKey: this.verificationKey.key,
          ...(this.drEvidenceKey ? { drEvidenceKey: this.drEvidenceKey.key } : {}),
          alerts: { topic: this.alerts.topic, key: this.alerts.key },
          logKey: this.backup.operationsKey,
          deadLetterQueue: this.backup.deadLetterQueue,
        });
      }
      if (props.backup.plans && props.backup.plans.length > 0) {
        this.plans = new DrPlans(this, 'Plans', {
          name: props.deployment,
          plans: props.backup.plans,
          sources: databases.map((s) => ({ id: s.id, engine: s.engine, ...(s.database ? { database: s.database } : {}), credentialsSecretArn: s.credentialsSecretArn, rds: s.rds, network: s.network })),
          configSources: sources.filter((s): s is ConfigPipelineSource => s.engine === 'config').map((s) => ({ id: s.id, selection: s.selection })),
          fileSetNetworks: Object.fromEntries(fileSets.flatMap((s) => (s.network ? [[s.id, s.network]] : []))),
          vault: this.vault.bucket,
          vaultKey: this.vaultKey.key,
          dr: this.pipeline.drVault,
          backupStateMachine: this.pipeline.stateMachine,
          verification: props.backup.verification,
          topicKey: this.alerts.key,
          operationsKey: this.backup.operationsKey,
          deadLetterQueue: this.backup.deadLetterQueue,
          runner: this.backup.runner,
          evidenceKey: this.evidenceKey.key,
          verificationKey: this.verificationKey.key,
          drEvidenceKey: this.drEvidenceKey!.key,
          ...(props.backup.airGap
            ? { airGap: { ...props.backup.airGap, readerRoleArn: `arn:${Aws.PARTITION}:iam::${props.backup.airGap.account}:role/${airGapReaderRoleName(props.deployment)}` } }
            : {}),
        });
      }
      const snapshotSources = databases.filter((s) => s.method !== 'dump');
      if (props.backup.snapshotRestoreTest && snapshotSources.length > 0) {
        const { network, instanceClass, auroraInstanceClass } = props.backup.snapshotRestoreTest;
        this.restoreTest = new RestoreTest(this, 'RestoreTest', {
          name: props.deployment,
          sources: snapshotSources.map((s) => ({ id: s.id, engine: s.engine, credentialsSecretArn: s.credentialsSecretArn, rds: s.rds })),
          network,
          instanceClass,
          auroraInstanceClass,
          logKey: this.backup.operationsKey,
          deadLetterQueue: this.backup.deadLetterQueue,
        });
      }
    }
    this.guardEvidence(props.verificationCopiers);
    // Both regions: the vault key and bucket here are what an attacker would disable or unlock.
    if (createTrail) {
      this.trail = new VaultTrail(this, 'VaultTrail', {
        trailName: vaultTrailName(props.deployment),
        vaultBucket: this.vault.bucket,
        accessLogBucket: this.vault.accessLogBucket,
        includeGlobalServiceEvents: props.role === 'primary',
      });
    }
    this.tamperAlarms = new TamperAlarms(this, 'TamperAlarms', {
      ...(this.trail ? { trail: { name: vaultTrailName(props.deployment), arn: this.trail.trailArn } } : {}),
      vaultBucketName: this.vault.bucket.bucketName,
      vaultKeyArn: this.vaultKey.keyArn,
      topic: this.alerts.topic,
      topicKey: this.alerts.key,
      ...breakGlass,
      ...(this.backup ? { logKey: this.backup.operationsKey, deadLetterQueue: this.backup.deadLetterQueue } : {}),
    });
    if (props.drWatch && props.drWatch.sources.length > 0) {
      this.drWatch = new DrWatch(this, 'DrWatch', {
        name: props.deployment,
        sources: props.drWatch.sources,
        vault: this.vault.bucket,
        vaultKeyArn: this.vaultKey.keyArn,
        alerts: { topic: this.alerts.topic, key: this.alerts.key },
        logKey: this.tamperAlarms.logKey,
        deadLetterQueue: this.tamperAlarms.deadLetterQueue,
        ...(props.drWatch.everyMinutes === undefined ? {} : { everyMinutes: props.drWatch.everyMinutes }),
      });
    }
    // Last: monitoring watches every function above, the tamper-alert publisher included.
    if (props.backup?.monitoring && this.pipeline) this.monitoring = this.buildMonitoring(props.deployment, props.backup.monitoring, props.backup.drRegion);
  }

  /** Monitoring watches everything the stack made: every state machine, dead-letter queue and function. */
  private buildMonitoring(deployment: string, config: MonitoringConfigProps, drRegion: string): Monitoring {
    const pipeline = this.pipeline!;
    const backup = this.backup!;
    const stateMachines = [
      { label: 'backup', stateMachine: pipeline.stateMachine },
      ...[...(this.plans?.stateMachines ?? [])].map(([plan, stateMachine]) => ({ label: `plan-${plan}`, stateMachine })),
      ...(this.restoreTest ? [{ label: 'snapshot-restore-test', stateMachine: this.restoreTest.stateMachine }] : []),
    ];
    const functions = [
      { label: 'resolve-source', function: pipeline.resolveSource.function },
      { label: 'snapshot', function: pipeline.snapshot.function },
      { label: 'verify', function: pipeline.verify },
      { label: 'copy', function: pipeline.copy.function },
      { label: 'prune', function: pipeline.prune.function },
      { label: 'start-backup', function: pipeline.startBackup.function },
      ...backup.dumpFunctions.map((d, i) => ({ label: `dump-${i + 1}`, function: d.function })),
      ...(backup.fileSetBackup ? [{ label: 'fileset-backup', function: backup.fileSetBackup.function.function }] : []),
      ...(backup.configBackup ? [{ label: 'config-backup', function: backup.configBackup.function.function }] : []),
      ...(this.plans ? [{ label: 'dr-step', function: this.plans.drStep }, { label: 'request-approval', function: this.plans.requestApproval.function }, { label: 'approval-endpoint', function: this.plans.approvalEndpoint.function }] : []),
      ...(this.restoreTest ? [{ label: 'validate-restore', function: this.restoreTest.validateRestore }] : []),
      ...(this.report ? [{ label: 'report', function: this.report.function.function }] : []),
      { label: 'tamper-alert', function: this.tamperAlarms.publisher.function },
    ];
    return new Monitoring(this, 'Monitoring', {
      name: deployment,
      ...config,
      vault: this.vault.bucket,
      vaultKey: this.vaultKey.key,
      verificationKey: this.verificationKey!.key,
      ...(this.drEvidenceKey ? { drEvidenceKey: this.drEvidenceKey.key } : {}),
      dr: { ...pipeline.drVault, region: drRegion },
      alerts: { topic: this.alerts.topic, key: this.alerts.key },
      operationsKey: backup.operationsKey,
      deadLetterQueue: backup.deadLetterQueue,
      scheduleDeadLetterQueue: pipeline.scheduleDeadLetters,
      stateMachines,
      deadLetterQueues: [{ label: 'schedule', queue: pipeline.scheduleDeadLetters }, { label: 'functions', queue: backup.deadLetterQueue }],
      functions,
      ...(this.plans ? { approvalApi: this.plans.approvalApi.api } : {}),
    });
  }

  /**
   * Evidence only its producer writes, whatever any other principal's IAM allows (an administrator's `s3:*`, an
   * application role with the bucket, the break-glass role): bucket-policy denies of `s3:PutObject` on verification
   * results (but for the verify function and task), DR evidence (but for the DR step function and task) and reports
   * (but for the report function). A Deny in the bucket policy wins over any Allow. The MACs already make a forgery
   * count for nothing; this keeps it from being written at all. Deletion is left to retention and Object Lock.
   */
  private guardEvidence(copiers: readonly string[] = []): void {
    const bucket = this.vault.bucket;
    const deny = (sid: string, prefix: string, writers: readonly (iam.IRole | string)[]) =>
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [bucket.arnForObjects(prefix)],
          conditions: { ArnNotEquals: { 'aws:PrincipalArn': writers.map((role) => (typeof role === 'string' ? role : role.roleArn)) } },
        }),
      );
    // The DR vault: its verification results are the primary's signed ones, copied beside each backup by the copy function.
    if (copiers.length > 0) {
      deny('OnlyTheCopyFunctionWritesVerificationResults', 'backups/*/*/verifications/*', copiers);
      deny('OnlyTheCopyFunctionWritesFileSetResults', 'filesets/*/snapshots/*/verifications/*', copiers);
    }
    if (!this.pipeline) return;
    deny('OnlyTheVerifierWritesVerificationResults', 'backups/*/*/verifications/*', [this.pipeline.verifyRole, this.pipeline.verifyTask.taskRole]);
    deny('OnlyTheVerifierWritesFileSetResults', 'filesets/*/snapshots/*/verifications/*', [this.pipeline.verifyRole, this.pipeline.verifyTask.taskRole]);
    if (this.plans) deny('OnlyTheDrStepWritesDrEvidence', 'evidence/*', [this.plans.drStep.role!, ...(this.plans.drStepTask ? [this.plans.drStepTask.taskRole] : [])]);
    if (this.report) deny('OnlyTheReportFunctionWritesReports', 'reports/*', [this.report.function.role]);
  }

}
