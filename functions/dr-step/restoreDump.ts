/**
 * The `restore-dump` step: the latest verified dump of a source (at or before a point in time) from the
 * chosen region's vault, restored by the engine (`runRestore`: checksum, decryption, pg_restore / mysql).
 * Real runs restore into the plan's target, which must be empty; drills into the engine's verification
 * server, database `<target.database>_drill_<suffix>`, and never touch the target host.
 */
import { readDatabaseSecret } from '../lib/aws/databaseSecret.ts';
import type { DumpManifest } from '../lib/engine/backup.ts';
import type { ConnectionInfo, Engine } from '../lib/engine/connection.ts';
import { resolveJobs } from '../lib/engine/jobs.ts';
import { DEFAULT_DATABASE_TLS, databaseTlsSettings } from '../lib/engine/tls.ts';
import { asDumpManifest, runRestore } from '../lib/engine/restore.ts';
import { ConfigError, NoRecoveryPointError } from '../lib/errors.ts';
import { listBackups } from '../lib/vault/catalog.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { readLatestVerification } from '../lib/vault/verification.ts';
import { type DrStepDeps, type RegionResources, regionResources } from './deps.ts';
import type { RestoreDumpParameters, RestoredTarget, RunStepEvent, StepRecord } from './events.ts';
import { now, succeededRecord } from './records.ts';

/** PostgreSQL's identifier limit (MySQL allows 64): a drill database name must fit both. */
const MAX_DATABASE_NAME_LENGTH = 63;

/** `orders_drill_7f3a9c2e`: what a drill restores into, and what clean-up drops. */
export function drillDatabaseName(database: string, suffix: string): string {
  return `${database}${drillDatabaseSuffix(suffix)}`;
}

export function drillDatabaseSuffix(suffix: string): string {
  return `_drill_${suffix}`;
}

export async function runRestoreDumpStep(event: RunStepEvent, parameters: RestoreDumpParameters, deps: DrStepDeps): Promise<StepRecord> {
  const startedAt = now(deps);
  const region = regionResources(deps, parameters.region);
  const found = await latestVerifiedDump(region, parameters.source, parameters.region, parameters.pointInTime, deps.verificationKey);
  if (found.engine === 'redis') {
    throw new ConfigError(`Step '${event.stepId}': ${found.sourceId} is a Redis source; restore it with lifeboat restore --target redis://… (README, "Redis")`);
  }
  if (found.engine === 'docdb') {
    // Unreachable from a config (a DocumentDB source has no dumps, and the config refuses restore-dump for it).
    throw new ConfigError(`Step '${event.stepId}': ${found.sourceId} is a DocumentDB source; restore its snapshot with a restore-snapshot step`);
  }
  const manifest = { ...found, engine: found.engine };
  const drill = event.mode === 'drill';

  let connection: ConnectionInfo;
  let target: RestoredTarget;
  if (drill) {
    const server = deps.servers[manifest.engine];
    if (!server) {
      throw new ConfigError(
        `Step '${event.stepId}': a drill restores ${manifest.engine} dumps into the verification server, and VERIFY_SERVERS has none for ${manifest.engine}`,
      );
    }
    const database = drillDatabaseName(parameters.target.database, event.suffix);
    if (database.length > MAX_DATABASE_NAME_LENGTH) {
      throw new ConfigError(
        `Step '${event.stepId}': parameters.target.database: the drill database ${database} is longer than ${MAX_DATABASE_NAME_LENGTH} characters`,
      );
    }
    connection = await serverConnection(deps, manifest.engine, server, database);
    target = { host: server.host, port: server.port, database, engine: manifest.engine, credentialsSecretArn: server.secretArn };
  } else {
    const secret = await readDatabaseSecret(deps.secrets, parameters.target.credentialsSecretArn, `the target of step ${event.stepId}`);
    connection = {
      engine: manifest.engine,
      host: parameters.target.host,
      port: parameters.target.port,
      user: secret.username,
      password: secret.password,
      database: parameters.target.database,
      ...databaseTlsSettings(manifest.engine, deps.tls ?? DEFAULT_DATABASE_TLS, deps.caBundle),
    };
    target = { ...parameters.target, engine: manifest.engine };
  }

  await runRestore({
    store: region.store,
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    keyring: region.keyring,
    target: connection,
    // The drill database's name is this execution's: anything in it is an earlier attempt of this very step.
    // A real target is never dropped: the engine refuses one that is not empty.
    dropExisting: drill,
    // A multi-part backup loads its data and builds its indexes over one connection per vCPU of the runner.
    jobs: resolveJobs(deps.jobs),
  });

  return succeededRecord(
    event.stepId,
    'restore-dump',
    startedAt.toISOString(),
    { ...restoredBackup(manifest, parameters.region), target, drill },
    deps,
  );
}

/** What a restore step's record says of the backup it restored; the data is as of the backup's completion. */
export function restoredBackup(manifest: DumpManifest, region: string): Record<string, string> {
  return { sourceId: manifest.sourceId, region, backupId: manifest.backupId, backupCompletedAt: manifest.completedAt, restoredDataAt: manifest.completedAt };
}

/**
 * The newest dump of `sourceId` whose latest verification passed, completed at or before `pointInTime`
 * when given. Backups whose manifest cannot be read are passed over; none fitting is `NoRecoveryPointError`.
 */
/** How far the dump's clock may run ahead of the verify function's before a completedAt is implausible. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export async function latestVerifiedDump(
  region: RegionResources,
  sourceId: string,
  regionName: string,
  pointInTime?: string,
  authenticator?: Pick<MacSigner, 'verify'>,
): Promise<DumpManifest> {
  const limit = pointInTime === undefined ? undefined : Date.parse(pointInTime);
  const candidates = (await listBackups(region.store, { sourceId, onUnreadable: () => {} }))
    .filter((manifest) => manifest.kind === 'dump' && (limit === undefined || Date.parse(manifest.completedAt) <= limit))
    .sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt));
  for (const manifest of candidates) {
    const verification = await readLatestVerification(region.store, manifest.sourceId, manifest.backupId, authenticator ? { authenticator, manifest } : {});
    // A result that failed authentication next to it is tampering: that backup is not the one to restore.
    if (verification.status !== 'verified' || (authenticator && verification.problem !== undefined)) continue;
    // The order above is the manifest's completedAt, which whoever wrote the backup controls; the result is the
    // verify function's own. A backup cannot have completed after its verification began: one that claims to
    // (a far-future completedAt, to be picked before every real backup) is passed over.
    const verifiedAt = Date.parse(verification.result!.startedAt);
    if (Date.parse(manifest.completedAt) > verifiedAt + CLOCK_SKEW_MS) continue;
    return asDumpManifest(manifest);
  }
  const when = pointInTime === undefined ? '' : ` completed at or before ${new Date(limit!).toISOString()}`;
  throw new NoRecoveryPointError(
    `No verified dump of source ${sourceId}${when} in the ${regionName} vault (${region.store.location}); ` +
      (candidates.length === 0 ? 'it holds no such dump' : `none of the ${candidates.length} such dump(s) passed its latest verification`),
  );
}

/** A verification server of `engine`, logged in with its secret, on `database`. */
export async function serverConnection(
  deps: Pick<DrStepDeps, 'secrets' | 'tls' | 'caBundle'>,
  engine: Engine,
  server: { readonly secretArn: string; readonly host: string; readonly port: number },
  database: string,
): Promise<ConnectionInfo> {
  const secret = await readDatabaseSecret(deps.secrets, server.secretArn, `the ${engine} verification server`);
  return {
    engine,
    host: server.host,
    port: server.port,
    user: secret.username,
    password: secret.password,
    database,
    ...databaseTlsSettings(engine, deps.tls ?? DEFAULT_DATABASE_TLS, deps.caBundle),
  };
}

