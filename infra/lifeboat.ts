import type { App } from 'aws-cdk-lib';
import type { LifeboatConfig, SourceConfig } from './config/index.ts';
import type { DumpNetwork, DumpSource } from './constructs/dump-function.ts';
import type { AlertSubscriber } from './constructs/alerts.ts';
import { RegionStack } from './stacks/region-stack.ts';

export interface LifeboatStacks {
  readonly primary: RegionStack;
  readonly dr: RegionStack;
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
    role: 'primary',
    vault,
    alertSubscribers,
    backup: { sources: config.sources.filter((s) => s.backup.method !== 'snapshot').map(dumpSource) },
    tags,
  });
  const dr = new RegionStack(app, `${config.name}-dr`, {
    env: { account, region: config.regions.dr },
    description: `Lifeboat (${config.name}): DR vault, vault key replica and alerts in the DR region`,
    crossRegionReferences: true,
    role: 'dr',
    primaryKeyArn: primary.vaultKey.keyArn,
    vault,
    alertSubscribers,
    tags,
  });
  return { primary, dr };
}

/** What a dump function needs to know of a source: identifiers only, never credentials. */
function dumpSource(source: SourceConfig): DumpSource & { network: DumpNetwork } {
  const engine = source.kind.endsWith('postgres') ? 'postgresql' : 'mysql';
  const rds =
    'instanceIdentifier' in source
      ? { type: 'instance' as const, identifier: source.instanceIdentifier }
      : { type: 'cluster' as const, identifier: source.clusterIdentifier };
  return {
    id: source.id,
    engine,
    database: source.database ?? '',
    credentialsSecretArn: source.credentialsSecretArn,
    rds,
    network: source.network,
  };
}
