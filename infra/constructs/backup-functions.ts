import type { Duration } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { ElastiCacheStaging } from './elasticache-staging.ts';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DumpFunction, type DumpNetwork, type DumpSource } from './dump-function.ts';
import { FargateRunner, type RunnerTask } from './fargate-runner.ts';
import { ConfigBackupFunction, type ConfigBackupSource } from './config-backup.ts';
import { FileSetBackupFunction, type FileSetBackupSource } from './fileset-backup.ts';
import { KEY_USE_TAGS } from './vault-key.ts';
import { deadLetterQueue, operationsKey } from './function-support.ts';

export interface BackupFunctionsProps {
  readonly sources: readonly (DumpSource & { readonly network: DumpNetwork })[];
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  /** @default 14 days */
  readonly deadLetterRetention?: Duration;
  /** The deployment's name, for the runner's cluster and task families. @default 'lifeboat' */
  readonly name?: string;
  /** The evidence key: the dump functions and tasks record audit events with it. @default no audit trail */
  readonly evidenceKey?: kms.IKey;
  /** The air-gapped vault's key: every dump is also wrapped under it. @default none */
  readonly airGapKeyArn?: string;
  /** Where the staging bucket for cache exports sends its access logs: required when a source is a cache. */
  readonly accessLogBucket?: s3.IBucket;
  /** S3 file sets: one file-set backup function serves them all (it runs outside any VPC). @default none */
  readonly fileSets?: readonly FileSetBackupSource[];
  /** Configuration sources: one config backup function, outside any VPC. @default none */
  readonly configSources?: readonly ConfigBackupSource[];
}

/** Sources that share VPC, subnets and security groups share one dump function. */
export function groupByNetwork<T extends { readonly network: DumpNetwork }>(sources: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const source of sources) {
    const n = source.network;
    const key = [n.vpcId, [...n.subnetIds].sort().join(','), [...n.securityGroupIds].sort().join(',')].join('|');
    groups.set(key, [...(groups.get(key) ?? []), source]);
  }
  return [...groups.values()];
}

/**
 * The functions that make backups, with what they share: a key for their logs and dead letters, and the
 * dead-letter queue. One dump function serves every source in the same network placement, so adding a
 * source in a known VPC adds no function.
 *
 * @example
 * new BackupFunctions(this, 'Backup', { sources, vault: vault.bucket, vaultKey: key.key });
 */
export class BackupFunctions extends Construct {
  readonly operationsKey: kms.Key;
  readonly deadLetterQueue: sqs.Queue;
  readonly dumpFunctions: readonly DumpFunction[];
  /** The dump function that serves each source id. */
  readonly dumpFunctionFor: ReadonlyMap<string, DumpFunction>;
  /** The Fargate runner: its cluster, and the task definitions of the dumps (and of verify, added by the pipeline). */
  readonly runner: FargateRunner;
  /** The dump task (same network group, same grants as its dump function) for each source id. */
  readonly dumpTaskFor: ReadonlyMap<string, RunnerTask>;
  /** Where ElastiCache exports the caches' snapshots; absent without cache sources. */
  readonly staging?: ElastiCacheStaging;
  /** The file-set backup function; absent without file sets. */
  readonly fileSetBackup?: FileSetBackupFunction;
  /** The config backup function, when there are configuration sources. */
  readonly configBackup?: ConfigBackupFunction;

  constructor(scope: Construct, id: string, props: BackupFunctionsProps) {
    super(scope, id);
    this.operationsKey = operationsKey(this, 'OperationsKey', 'Lifeboat function logs and dead letters');
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetters', this.operationsKey, 'the backup functions', props.deadLetterRetention);

    if (props.sources.some((s) => s.engine === 'redis')) {
      if (!props.accessLogBucket) throw new Error(`BackupFunctions ${id}: accessLogBucket is required when a source is an ElastiCache cache`);
      this.staging = new ElastiCacheStaging(this, 'ElastiCacheStaging', { accessLogBucket: props.accessLogBucket });
    }

    const dumpFunctions: DumpFunction[] = [];
    const byId = new Map<string, DumpFunction>();
    groupByNetwork(props.sources).forEach((group, i) => {
      const fn = new DumpFunction(this, `Dump${i + 1}`, {
        sources: group.map(({ network: _network, ...source }) => source),
        network: group[0]!.network,
        vault: props.vault,
        vaultKey: props.vaultKey,
        deadLetterQueue: this.deadLetterQueue,
        logKey: this.operationsKey,
        ...(props.evidenceKey ? { evidenceKey: props.evidenceKey } : {}),
        ...(props.airGapKeyArn ? { airGapKeyArn: props.airGapKeyArn } : {}),
        ...(this.staging && group.some((s) => s.engine === 'redis') ? { staging: this.staging.bucket } : {}),
      });
      dumpFunctions.push(fn);
      for (const source of group) byId.set(source.id, fn);
    });
    this.dumpFunctions = dumpFunctions;
    this.dumpFunctionFor = byId;

    if (props.fileSets && props.fileSets.length > 0) {
      this.fileSetBackup = new FileSetBackupFunction(this, 'FileSetBackup', {
        sources: props.fileSets,
        vault: props.vault,
        vaultKey: props.vaultKey,
        logKey: this.operationsKey,
        deadLetterQueue: this.deadLetterQueue,
        ...(props.evidenceKey ? { evidenceKey: props.evidenceKey } : {}),
        ...(props.airGapKeyArn ? { airGapKeyArn: props.airGapKeyArn } : {}),
      });
    }

    if (props.configSources && props.configSources.length > 0) {
      this.configBackup = new ConfigBackupFunction(this, 'ConfigBackup', {
        sources: props.configSources,
        vault: props.vault,
        vaultKey: props.vaultKey,
        logKey: this.operationsKey,
        deadLetterQueue: this.deadLetterQueue,
        ...(props.evidenceKey ? { evidenceKey: props.evidenceKey } : {}),
        ...(props.airGapKeyArn ? { airGapKeyArn: props.airGapKeyArn } : {}),
      });
    }

    this.runner = new FargateRunner(this, 'Runner', { name: props.name ?? 'lifeboat', logKey: this.operationsKey });
    const tasks = new Map<string, RunnerTask>();
    dumpFunctions.forEach((fn, i) => {
      const task = this.runner.addTask(`Dump${i + 1}`, {
        role: 'dump',
        image: 'dump',
        description: `dumps of ${fn.sources.map((s) => s.id).join(', ')} that outgrow Lambda`,
        environment: fn.environment,
        statements: fn.grants,
        // Like its Lambda: the key policy lets it encrypt, never decrypt.
        tags: { [KEY_USE_TAGS.encrypt]: 'true' },
      });
      for (const source of fn.sources) tasks.set(source.id, task);
    });
    // File sets with a network: one task takes over any of their runs that gives up before Lambda's end.
    const fileSetsOnFargate = props.fileSets?.filter((s) => s.network) ?? [];
    if (this.fileSetBackup && fileSetsOnFargate.length > 0) {
      const task = this.runner.addTask('FileSet', {
        role: 'fileset-backup',
        image: 'dump',
        description: `file sets ${fileSetsOnFargate.map((s) => s.id).join(', ')} when a run outgrows Lambda`,
        environment: this.fileSetBackup.environment,
        statements: this.fileSetBackup.grants,
        // Like its Lambda: it reads the parent snapshot, so it decrypts (only its own file sets' objects, by condition).
        tags: { [KEY_USE_TAGS.encrypt]: 'true', [KEY_USE_TAGS.decrypt]: 'true' },
        ...(fileSetsOnFargate[0]!.fargate ? { cpu: fileSetsOnFargate[0]!.fargate.cpu, memoryMiB: fileSetsOnFargate[0]!.fargate.memoryMiB } : {}),
      });
      for (const source of fileSetsOnFargate) tasks.set(source.id, task);
    }
    this.dumpTaskFor = tasks;
  }
}
