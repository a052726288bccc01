import { audited, failureDetails, idsOf, type AuditDescription } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import type { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runElastiCacheBackup } from '../lib/elasticache/export.ts';
import { readDatabaseSecret } from '../lib/aws/databaseSecret.ts';
import { z } from 'zod';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import { runBackup, type DumpManifest } from '../lib/engine/backup.ts';
import type { ConnectionInfo } from '../lib/engine/connection.ts';
import { DEFAULT_DATABASE_TLS, databaseTlsSettings, type DatabaseTls } from '../lib/engine/tls.ts';
import { ConfigError, SourceUnreachableError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import type { VaultStore } from '../lib/vault/store.ts';

/** A database as the dump function is told of it (see infra/constructs/dump-function.ts): identifiers only. */
export const DatabaseSourceSchema = z.object({
  id: z.string().min(1),
  engine: z.enum(['postgresql', 'mysql']),
  database: z.string().min(1),
  credentialsSecretArn: z.string().startsWith('arn:'),
  rds: z.object({ type: z.enum(['instance', 'cluster']), identifier: z.string().min(1) }),
});
export type DumpSource = z.infer<typeof DatabaseSourceSchema>;

/**
 * An ElastiCache (Redis OSS / Valkey) cache: backed up through the service's own snapshot, exported to the
 * deployment's staging bucket and sealed as a `redis-keys` payload (functions/lib/elasticache/export.ts).
 */
export const CacheSourceSchema = z.object({
  id: z.string().min(1),
  engine: z.literal('redis'),
  elasticache: z.union([z.strictObject({ replicationGroupId: z.string().min(1) }), z.strictObject({ cacheClusterId: z.string().min(1) })]),
});
export type CacheSource = z.infer<typeof CacheSourceSchema>;

/** Every source a dump function may serve: a database it dumps, or a cache whose snapshot it exports. */
export const DumpSourceSchema = z.discriminatedUnion('engine', [DatabaseSourceSchema, CacheSourceSchema]);
export type BackupSource = z.infer<typeof DumpSourceSchema>;

/** What the backup state machine (or a person) sends. Extra fields are ignored. */
export const DumpEventSchema = z.object({
  sourceId: z.string().min(1),
  trigger: z.enum(['schedule', 'manual']).default('manual'),
});
export type DumpEvent = z.input<typeof DumpEventSchema>;

export interface DumpDeps {
  /** Records `backup` events (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
  readonly sources: readonly BackupSource[];
  readonly secrets: Pick<SecretsManagerClient, 'send'>;
  readonly rds: Pick<RDSClient, 'send'>;
  /** Caches: the ElastiCache API and the staging bucket their snapshots are exported to. @default - no cache sources */
  readonly elasticache?: {
    readonly client: Pick<ElastiCacheClient, 'send'>;
    readonly staging: { readonly s3: Pick<S3Client, 'send'>; readonly bucket: string };
    /** How the snapshot is waited for. @default every 15 s, with setTimeout */
    readonly poll?: { readonly intervalMs: number; readonly sleep: (ms: number) => Promise<void> };
  };
  /**
   * How long this run may still take (ms), asked when waiting starts: a Lambda's remaining time. A cache whose
   * snapshot is not exported by then is given up with `OutOfTimeError` (the state machine retries it on Fargate).
   * @default no limit (Fargate)
   */
  readonly remainingMs?: () => number;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly now?: () => Date;
  /**
   * TLS to the database: `verify-full` checks the certificate against the RDS CAs and the host name; `require`
   * encrypts without checking; `disable` is for local servers without TLS (tests, a laptop).
   * @default 'verify-full'
   */
  readonly tls?: DatabaseTls;
  /** The RDS CA bundle's path, which `verify-full` needs (LIFEBOAT_RDS_CA_BUNDLE in the tools image). @default - none */
  readonly caBundle?: string;
  /** PostgreSQL: parallel dump streams. @default the runner's vCPUs */
  readonly jobs?: number;
}

export interface DumpResult {
  readonly sourceId: string;
  readonly backupId: string;
  readonly kind: 'dump';
  readonly rawBytes: number;
  readonly storedBytes: number;
  readonly sha256: string;
  readonly startedAt: string;
  readonly completedAt: string;
}

/** Parses the event, finds the source, fetches its credentials and endpoint, and runs a streamed backup. */
export async function dumpSource(event: unknown, deps: DumpDeps): Promise<DumpResult> {
  return audited(deps.audit, () => dumpSourceNow(event, deps), backupAuditEvents(event));
}

/** The `backup` event of a dump, in Lambda or on Fargate (docs/audit-trail.md). */
export function backupAuditEvents(event: unknown): AuditDescription<DumpResult> {
  return {
    succeeded: (r) => ({
      type: 'backup', outcome: 'succeeded', ...idsOf(event), sourceId: r.sourceId, backupId: r.backupId,
      details: { kind: r.kind, startedAt: r.startedAt, completedAt: r.completedAt, rawBytes: r.rawBytes, storedBytes: r.storedBytes, sha256: r.sha256 },
    }),
    failed: (error) => ({ type: 'backup', outcome: 'failed', ...idsOf(event), details: failureDetails(error) }),
  };
}

async function dumpSourceNow(event: unknown, deps: DumpDeps): Promise<DumpResult> {
  const { sourceId } = parseOrConfigError(DumpEventSchema, event, 'Invalid dump event');
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) {
    throw new ConfigError(`sourceId: unknown source '${sourceId}'; this function backs up ${deps.sources.map((s) => s.id).join(', ')}`);
  }
  return backUpSource(source, deps);
}

/** One source's backup, in Lambda or on Fargate (under `backupId` when given): a database's dump, or a cache's export. */
export async function backUpSource(source: BackupSource, deps: DumpDeps, backupId?: string): Promise<DumpResult> {
  if (source.engine === 'redis') return exportCache(source, deps, backupId);
  const connection = await resolveConnection(source, deps);
  const { manifest } = await runBackup({
    source: connection,
    sourceId: source.id,
    store: deps.store,
    keyring: deps.keyring,
    ...(backupId ? { backupId } : {}),
    ...(deps.now ? { now: deps.now() } : {}),
    ...(deps.jobs ? { jobs: deps.jobs } : {}),
  });
  return dumpResultOf(manifest);
}

/** What the state machine keeps of a stored backup (`$.backup`): the same for a dump and a cache's export, in Lambda or on Fargate. */
export function dumpResultOf(manifest: DumpManifest): DumpResult {
  return {
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    kind: 'dump',
    rawBytes: manifest.payload.rawBytes,
    storedBytes: manifest.payload.storedBytes,
    sha256: manifest.payload.sha256,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
  };
}

/**
 * Loading, sealing and cleaning up after the export: left out of the time the snapshot may be waited for, so a
 * Lambda gives up (and removes its snapshot) before it is stopped.
 */
export const CACHE_SEAL_RESERVE_MS = 4 * 60_000;

/** A cache's backup: its ElastiCache snapshot exported, loaded and sealed (under `backupId` when given). */
async function exportCache(source: CacheSource, deps: DumpDeps, backupId?: string): Promise<DumpResult> {
  if (!deps.elasticache) throw new ConfigError(`Source ${source.id} is an ElastiCache cache, but this function has no staging bucket (STAGING_BUCKET)`);
  const remaining = deps.remainingMs?.();
  const clock = () => (deps.now ? deps.now() : new Date()).getTime();
  const { poll } = deps.elasticache;
  const { manifest } = await runElastiCacheBackup({
    elasticache: deps.elasticache.client,
    staging: deps.elasticache.staging,
    target: source.elasticache,
    sourceId: source.id,
    store: deps.store,
    keyring: deps.keyring,
    ...(deps.now ? { now: deps.now() } : {}),
    ...(backupId ? { backupId } : {}),
    ...(remaining === undefined ? {} : { waitDeadline: clock() + remaining - CACHE_SEAL_RESERVE_MS, clock }),
    ...(poll ? { pollIntervalMs: poll.intervalMs, sleep: poll.sleep } : {}),
  });
  return dumpResultOf(manifest);
}

/** Credentials from Secrets Manager, endpoint from the secret or from RDS; always over TLS. */
export async function resolveConnection(source: DumpSource, deps: Pick<DumpDeps, 'secrets' | 'rds' | 'tls' | 'caBundle'>): Promise<ConnectionInfo> {
  const secret = await readDatabaseSecret(deps.secrets, source.credentialsSecretArn, `source ${source.id}`);
  const endpoint = secret.host ? { host: secret.host, port: secret.port } : await describeEndpoint(source, deps.rds);
  return {
    engine: source.engine,
    host: endpoint.host,
    port: endpoint.port ?? (source.engine === 'postgresql' ? 5432 : 3306),
    user: secret.username,
    password: secret.password,
    database: source.database,
    ...databaseTlsSettings(source.engine, deps.tls ?? DEFAULT_DATABASE_TLS, deps.caBundle),
  };
}

async function describeEndpoint(source: DumpSource, rds: DumpDeps['rds']): Promise<{ host: string; port?: number }> {
  if (source.rds.type === 'instance') {
    const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: source.rds.identifier }));
    const endpoint = out.DBInstances?.[0]?.Endpoint;
    if (!endpoint?.Address) throw new SourceUnreachableError(`DB instance ${source.rds.identifier} of source ${source.id} has no endpoint yet`);
    return { host: endpoint.Address, port: endpoint.Port };
  }
  const out = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: source.rds.identifier }));
  const cluster = out.DBClusters?.[0];
  if (!cluster?.Endpoint) throw new SourceUnreachableError(`DB cluster ${source.rds.identifier} of source ${source.id} has no endpoint yet`);
  return { host: cluster.Endpoint, port: cluster.Port };
}

