import { Annotations, type App } from 'aws-cdk-lib';
import { effectiveFlexibleWindowMinutes, plansWithDefaults, sourceEngine, type LifeboatConfig, type SourceConfig } from './config/index.ts';
import type { AirGapDestination } from './constructs/backup-pipeline.ts';
import { airGapBucketName } from './constructs/air-gapped-vault.ts';
import type { AlertSubscriber } from './constructs/alerts.ts';
import type { MonitoringConfigProps } from './constructs/monitoring.ts';
import { RegionStack, type RegionSource } from './stacks/region-stack.ts';
import { AirGapStack } from './stacks/air-gap-stack.ts';

export interface LifeboatStacks {
  readonly primary: RegionStack;
  readonly dr: RegionStack;
  /** The air-gapped vault in `vaultAccount`, when the config has one. */
  readonly airGap?: AirGapStack;
}

/** Composes Lifeboat's stacks from a validated config: one in the primary region, one in the DR region. */
export function buildLifeboat(app: App, config: LifeboatConfig): LifeboatStacks {
  const account = config.account ?? process.env.CDK_DEFAULT_ACCOUNT;
  const vault = {
    objectLockMode: config.vault.objectLock.mode,
    objectLockRetentionDays: config.vault.objectLock.retentionDays,
    glacierInstantRetrievalAfterDays: config.vault.lifecycle.glacierInstantRetrievalAfterDays,
    deepArchiveAfterDays: config.vault.lifecycle.deepArchiveAfterDays,
    noncurrentVersionExpiryDays: config.vault.lifecycle.noncurrentVersionExpiryDays,
    ...(config.vault.breakGlassRoleArn === undefined ? {} : { breakGlassRoleArn: config.vault.breakGlassRoleArn }),
    createTrail: config.vault.createTrail,
  };
  const alertSubscribers: AlertSubscriber[] = [
    ...config.alerts.emails.map((e) => ({ protocol: 'email' as const, endpoint: e.address, minSeverity: e.minSeverity })),
    ...config.alerts.webhooks.map((w) => ({ protocol: 'https' as const, endpoint: w.url, minSeverity: w.minSeverity })),
  ];
  const tags = { 'lifeboat:app': config.name };

  const primary = new RegionStack(app, `${config.name}-primary`, {
    env: { account, region: config.regions.primary },
    description: `Lifeboat (${config.name}): vault, vault key and alerts in the primary region`,
    crossRegionReferences: true,
    deployment: config.name,
    role: 'primary',
    vault,
    alertSubscribers,
    ...(snapshotAirGapRegion(config) === 'primary' ? { snapshotShareAccount: config.vaultAccount!.accountId } : {}),
    backup: {
      sources: config.sources.map(pipelineSource),
      drRegion: config.regions.dr,
      verification: config.verification,
      snapshotRestoreTest: config.snapshotRestoreTest,
      plans: plansWithDefaults(config),
      monitoring: monitoringOf(config),
      report: {
        schedule: config.reports.schedule,
        sources: config.sources.map((s) => ({ id: s.id, rpoMinutes: s.objectives.rpoMinutes, rtoMinutes: s.objectives.rtoMinutes, timeZone: s.schedule.timeZone, retention: s.retention })),
      },
      ...airGapDestination(config),
    },
    tags,
  });
  const dr = new RegionStack(app, `${config.name}-dr`, {
    env: { account, region: config.regions.dr },
    description: `Lifeboat (${config.name}): DR vault, vault key replica and alerts in the DR region`,
    crossRegionReferences: true,
    deployment: config.name,
    role: 'dr',
    primaryKeyArn: primary.vaultKey.keyArn,
    vault,
    alertSubscribers,
    drWatch: { sources: config.sources.map((s) => ({ id: s.id, rpoMinutes: s.objectives.rpoMinutes, ...(s.kind === 's3' ? { kind: 'fileset' as const } : {}) })), everyMinutes: config.monitoring.freshnessEveryMinutes },
    // Only the primary's copy function writes verification results into the DR vault (a cross-region reference).
    ...(primary.pipeline ? { verificationCopiers: [primary.pipeline.copy.role.roleArn] } : {}),
    ...(snapshotAirGapRegion(config) === 'dr' ? { snapshotShareAccount: config.vaultAccount!.accountId } : {}),
    tags,
  });
  if (config.vaultAccount === undefined) return { primary, dr };
  const airGap = new AirGapStack(app, `${config.name}-air-gap`, {
    env: { account: config.vaultAccount.accountId, region: config.vaultAccount.region ?? config.regions.primary },
    description: `Lifeboat (${config.name}): air-gapped vault in its own account`,
    deployment: config.name,
    workloadAccount: config.account!,
    objectLockMode: config.vaultAccount.objectLock.mode,
    objectLockRetentionDays: config.vaultAccount.objectLock.retentionDays,
    ...(snapshotAirGap(config) ? { snapshotCopies: { retentionDays: config.vaultAccount.objectLock.retentionDays, alertSubscribers } } : {}),
    tags,
  });
  if (config.sources.some((s) => s.backup.method !== 'dump') && !snapshotAirGap(config)) {
    Annotations.of(airGap).addWarningV2(
      'lifeboat:snapshots-not-air-gapped',
      `Snapshot backups are not copied to the air-gapped vault: it is in ${config.vaultAccount.region ?? config.regions.primary}, neither the primary region ${config.regions.primary} nor the DR region ${config.regions.dr}, where Lifeboat has a key to share them under (docs/air-gapped-vault.md)`,
    );
  }
  return { primary, dr, airGap };
}

/** What the pipeline needs to know of a source: identifiers, schedule and policy, never credentials. */
function pipelineSource(source: SourceConfig): RegionSource {
  const schedule = { cron: source.schedule.cron, timeZone: source.schedule.timeZone, flexibleWindowMinutes: effectiveFlexibleWindowMinutes(source) };
  if (source.kind === 's3') {
    return {
      id: source.id,
      engine: 'fileset',
      method: 'dump',
      s3: { bucket: source.bucket, prefix: source.prefix },
      ...(source.bucketKeyArn ? { bucketKeyArn: source.bucketKeyArn } : {}),
      ...(source.network ? { network: source.network, fargate: source.fargate } : {}),
      readDataPercent: source.verification.readDataPercent,
      schedule,
      retention: source.retention,
      sqlChecks: [],
    };
  }
  if (source.kind === 'config') {
    const { ssmPaths, secretPrefixes, secretTags, stacks } = source;
    return { id: source.id, engine: 'config', method: 'dump', selection: { ssmPaths, secretPrefixes, secretTags, stacks }, schedule, retention: source.retention, sqlChecks: [] };
  }
  const common = {
    id: source.id,
    network: source.network,
    schedule,
    retention: source.retention,
    runner: source.runner,
    fargate: source.fargate,
  };
  if (source.kind === 'elasticache-redis') {
    const elasticache = source.replicationGroupId !== undefined ? { replicationGroupId: source.replicationGroupId } : { cacheClusterId: source.cacheClusterId! };
    return { ...common, engine: 'redis', method: 'dump', elasticache, sqlChecks: [] };
  }
  const rds =
    'instanceIdentifier' in source
      ? { type: 'instance' as const, identifier: source.instanceIdentifier }
      : { type: 'cluster' as const, identifier: source.clusterIdentifier };
  return {
    ...common,
    engine: sourceEngine(source),
    method: source.backup.method,
    ...(source.database !== undefined ? { database: source.database } : {}),
    credentialsSecretArn: source.credentialsSecretArn,
    rds,
    sqlChecks: source.sqlChecks,
  };
}

/** What monitoring watches: each source's RPO (and snapshot kind), each plan's objectives and drill interval. */
function monitoringOf(config: LifeboatConfig): MonitoringConfigProps {
  return {
    sources: config.sources.map((s) => ({
      id: s.id,
      rpoMinutes: s.objectives.rpoMinutes,
      ...(s.backup.method === 'dump' ? {} : { snapshotType: 'instanceIdentifier' in s ? ('instance' as const) : ('cluster' as const) }),
      ...(s.kind === 's3' ? { kind: 'fileset' as const } : {}),
    })),
    plans: plansWithDefaults(config).map((p) => ({ name: p.name, objectives: p.objectives, ...(p.drill ? { drillEveryDays: p.drill.everyDays } : {}) })),
    freshnessEveryMinutes: config.monitoring.freshnessEveryMinutes,
  };
}

/**
 * Whether the air-gapped account copies the snapshot backups: there are some, and its vault is in the DR region, where
 * their DR copies are under a key of Lifeboat's (a shared encrypted snapshot can be copied only within its region).
 */
function snapshotAirGap(config: LifeboatConfig): boolean {
  return snapshotAirGapRegion(config) !== undefined;
}

/**
 * Which region's vault key the air-gapped account copies shared snapshots under, if any: the DR region's (it copies
 * the DR copies), or, with the air-gapped vault in the primary region, the primary's (it copies share copies made
 * there). In a third region there is no Lifeboat key to share a snapshot under.
 */
function snapshotAirGapRegion(config: LifeboatConfig): 'primary' | 'dr' | undefined {
  const vaultAccount = config.vaultAccount;
  if (vaultAccount === undefined || !config.sources.some((s) => s.backup.method !== 'dump')) return undefined;
  const region = vaultAccount.region ?? config.regions.primary;
  if (region === config.regions.dr) return 'dr';
  return region === config.regions.primary ? 'primary' : undefined;
}

/** The air-gapped vault the primary stack wraps and copies dumps for: only once its key is known (the second deploy). */
function airGapDestination(config: LifeboatConfig): { airGap?: AirGapDestination } {
  const vaultAccount = config.vaultAccount;
  if (vaultAccount?.keyArn === undefined) return {};
  const region = vaultAccount.region ?? config.regions.primary;
  return { airGap: { account: vaultAccount.accountId, region, bucketName: airGapBucketName(config.name, vaultAccount.accountId, region), keyArn: vaultAccount.keyArn } };
}
