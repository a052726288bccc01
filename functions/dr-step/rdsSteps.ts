/**
 * The RDS steps: `restore-snapshot` (the latest Lifeboat snapshot of a source, from the region's vault),
 * `restore-point-in-time` and `promote-replica`. `run-step` starts the operation and returns at once with
 * `status: "creating"` and the `step` to poll; the state machine waits and calls `describe-step` until
 * `step.status` is `available`, when the record is final. Nothing here waits in the Lambda.
 *
 * Every instance or cluster a step creates is private (`PubliclyAccessible: false`) and tagged
 * `lifeboat:plan`, `lifeboat:execution` and, in drills, `lifeboat:drill` = the suffix, under the identifier
 * `<targetIdentifier>-drill-<suffix>`: clean-up deletes exactly what carries that tag. A drill never
 * promotes a replica or fails a global database over: the step is recorded as skipped.
 */
import {
  CreateDBInstanceCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  PromoteReadReplicaCommand,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type DBCluster,
  type DBInstance,
  type GlobalCluster,
  type Tag,
} from '@aws-sdk/client-rds';
import { describeSnapshot, parseSnapshotArn, rdsErrorCode, rdsErrorMessage, type RdsSender } from '../lib/aws/rdsSnapshot.ts';
import { ConfigError, FailoverFailedError, NoRecoveryPointError, RestoreFailedError, SnapshotFailedError } from '../lib/errors.ts';
import { listBackups } from '../lib/vault/catalog.ts';
import type { BackupManifest } from '../lib/vault/manifest.ts';
import { type DrSource, type DrStepDeps, type RegionResources, regionResources } from './deps.ts';
import {
  executionNameOf,
  type PolledStep,
  type PolledStepRecord,
  type PromoteReplicaParameters,
  type RegionChoice,
  type RestorePointInTimeParameters,
  type RestoreSnapshotParameters,
  type RunStepEvent,
} from './events.ts';
import { now, succeededRecord } from './records.ts';

export const PLAN_TAG = 'lifeboat:plan';
export const EXECUTION_TAG = 'lifeboat:execution';
export const DRILL_TAG = 'lifeboat:drill';
/** Aurora needs an instance in a restored cluster before anything can connect; used when the step names no class. */
export const DEFAULT_AURORA_INSTANCE_CLASS = 'db.r6g.large';

const RDS_IDENTIFIER = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}$/;
/** Statuses a restored instance or cluster never becomes available from. */
const DEAD_END_STATUSES = new Set([
  'failed',
  'restore-error',
  'storage-full',
  'deleting',
  'deleted',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
]);

// ---------------------------------------------------------------------------------------------------------
// run-step
// ---------------------------------------------------------------------------------------------------------

export async function startSnapshotRestore(event: RunStepEvent, parameters: RestoreSnapshotParameters, deps: DrStepDeps): Promise<PolledStepRecord> {
  const startedAt = now(deps);
  const source = findSource(deps, parameters.source, event.stepId);
  const region = regionResources(deps, parameters.region);
  const manifest = await latestSnapshot(region, source.id, parameters.region);
  const snapshot = manifest.snapshot!;
  const type = parseSnapshotArn(snapshot.arn).type;
  const identifier = targetIdentifierFor(event, parameters.targetIdentifier);
  const tags = stepTags(event);
  const placement = {
    DBSubnetGroupName: parameters.subnetGroupName,
    VpcSecurityGroupIds: parameters.securityGroupIds,
  };

  let status: string;
  let resource: PolledStep['resource'];
  let restoredDataAt: Date;
  if (type === 'instance') {
    const described = await describeSnapshot(region.rds, 'instance', snapshot.identifier);
    if (!described) throw new SnapshotFailedError(`Snapshot ${snapshot.identifier} of source ${source.id} recorded in the ${parameters.region} vault no longer exists in ${region.name}`);
    restoredDataAt = described.createdAt ?? new Date(manifest.startedAt);
    status = await createOrAdopt(event, region.rds, 'instance', identifier, async () => {
      const out = await region.rds.send(
        new RestoreDBInstanceFromDBSnapshotCommand({
          DBInstanceIdentifier: identifier,
          DBSnapshotIdentifier: snapshot.identifier,
          ...(parameters.instanceClass === undefined ? {} : { DBInstanceClass: parameters.instanceClass }),
          ...placement,
          PubliclyAccessible: false,
          Tags: tags,
        }),
      );
      return out.DBInstance?.DBInstanceStatus ?? 'creating';
    });
    resource = { type: 'instance', identifier };
  } else {
    const out = await region.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshot.identifier }));
    const described = out.DBClusterSnapshots?.[0];
    if (!described?.Engine) {
      throw new SnapshotFailedError(`Cluster snapshot ${snapshot.identifier} of source ${source.id} recorded in the ${parameters.region} vault no longer exists in ${region.name}`);
    }
    restoredDataAt = described.SnapshotCreateTime ?? new Date(manifest.startedAt);
    const engine = described.Engine;
    status = await createOrAdopt(event, region.rds, 'cluster', identifier, async () => {
      const restored = await region.rds.send(
        new RestoreDBClusterFromSnapshotCommand({
          DBClusterIdentifier: identifier,
          SnapshotIdentifier: snapshot.identifier,
          Engine: engine,
          ...(described.EngineVersion === undefined ? {} : { EngineVersion: described.EngineVersion }),
          ...placement,
          Tags: tags,
        }),
      );
      return restored.DBCluster?.Status ?? 'creating';
    });
    await addClusterInstance(event, region.rds, identifier, engine, parameters.instanceClass ?? deps.auroraInstanceClass ?? DEFAULT_AURORA_INSTANCE_CLASS, tags);
    resource = { type: 'cluster', identifier, instanceIdentifier: identifier };
  }

  return progress({
    plan: event.plan,
    stepId: event.stepId,
    kind: 'restore-snapshot',
    mode: event.mode,
    suffix: event.suffix,
    startedAt: startedAt.toISOString(),
    region: parameters.region,
    status: notYetAvailable(status),
    resource,
    restore: {
      sourceId: source.id,
      backupId: manifest.backupId,
      restoredDataAt: restoredDataAt.toISOString(),
      engine: source.engine,
      database: databaseOf(source),
      credentialsSecretArn: source.credentialsSecretArn,
    },
  });
}

export async function startPointInTimeRestore(
  event: RunStepEvent,
  parameters: RestorePointInTimeParameters,
  deps: DrStepDeps,
): Promise<PolledStepRecord> {
  const startedAt = now(deps);
  const source = findSource(deps, parameters.source, event.stepId);
  const region = regionResources(deps, 'primary');
  const identifier = targetIdentifierFor(event, parameters.targetIdentifier);
  const started =
    source.rds.type === 'cluster'
      ? await restoreClusterToPointInTime(event, parameters, source, region, identifier, deps)
      : await restoreInstanceToPointInTime(event, parameters, source, region, identifier);
  return progress({
    plan: event.plan,
    stepId: event.stepId,
    kind: 'restore-point-in-time',
    mode: event.mode,
    suffix: event.suffix,
    startedAt: startedAt.toISOString(),
    region: 'primary',
    status: notYetAvailable(started.status),
    resource: started.resource,
    restore: {
      sourceId: source.id,
      restoredDataAt: started.restoreTime.toISOString(),
      engine: source.engine,
      database: databaseOf(source),
      credentialsSecretArn: source.credentialsSecretArn,
    },
  });
}

interface PointInTimeStart {
  readonly status: string;
  readonly resource: PolledStep['resource'];
  /** The time restored: the evidence's RPO is exact, not "latest at some point". */
  readonly restoreTime: Date;
}

/** An RDS instance to the time given, else to its latest restorable time, read first. */
async function restoreInstanceToPointInTime(
  event: RunStepEvent,
  parameters: RestorePointInTimeParameters,
  source: DrSource,
  region: RegionResources,
  identifier: string,
): Promise<PointInTimeStart> {
  let restoreTime: Date;
  if (parameters.restoreTime !== undefined) {
    restoreTime = new Date(parameters.restoreTime);
  } else {
    const out = await region.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: source.rds.identifier }));
    const latest = out.DBInstances?.[0]?.LatestRestorableTime;
    if (!latest) {
      throw new NoRecoveryPointError(
        `RDS instance ${source.rds.identifier} (source ${source.id}) has no latest restorable time: automated backups are off or not started`,
      );
    }
    restoreTime = latest;
  }
  const status = await createOrAdopt(event, region.rds, 'instance', identifier, async () => {
    const out = await region.rds.send(
      new RestoreDBInstanceToPointInTimeCommand({
        SourceDBInstanceIdentifier: source.rds.identifier,
        TargetDBInstanceIdentifier: identifier,
        RestoreTime: restoreTime,
        ...(parameters.instanceClass === undefined ? {} : { DBInstanceClass: parameters.instanceClass }),
        DBSubnetGroupName: parameters.subnetGroupName,
        VpcSecurityGroupIds: parameters.securityGroupIds,
        PubliclyAccessible: false,
        Tags: stepTags(event),
      }),
    );
    return out.DBInstance?.DBInstanceStatus ?? 'creating';
  });
  return { status, resource: { type: 'instance', identifier }, restoreTime };
}

/**
 * An Aurora or DocumentDB cluster to a point in time: RestoreDBClusterToPointInTime into a new cluster (at the time
 * given, else the source's latest restorable time, read first), then one instance in it of the source's engine.
 */
async function restoreClusterToPointInTime(
  event: RunStepEvent,
  parameters: RestorePointInTimeParameters,
  source: DrSource,
  region: RegionResources,
  identifier: string,
  deps: DrStepDeps,
): Promise<PointInTimeStart> {
  const out = await region.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: source.rds.identifier }));
  const cluster = out.DBClusters?.[0];
  if (!cluster?.Engine) throw new NoRecoveryPointError(`Cluster ${source.rds.identifier} (source ${source.id}) was not found in ${region.name}`);
  const engine = cluster.Engine;
  let restoreTime: Date;
  if (parameters.restoreTime !== undefined) {
    restoreTime = new Date(parameters.restoreTime);
  } else {
    if (!cluster.LatestRestorableTime) {
      throw new NoRecoveryPointError(`Cluster ${source.rds.identifier} (source ${source.id}) has no latest restorable time: its backups are not started`);
    }
    restoreTime = cluster.LatestRestorableTime;
  }
  const tags = stepTags(event);
  const status = await createOrAdopt(event, region.rds, 'cluster', identifier, async () => {
    const restoredCluster = await region.rds.send(
      new RestoreDBClusterToPointInTimeCommand({
        SourceDBClusterIdentifier: source.rds.identifier,
        DBClusterIdentifier: identifier,
        RestoreToTime: restoreTime,
        DBSubnetGroupName: parameters.subnetGroupName,
        VpcSecurityGroupIds: parameters.securityGroupIds,
        Tags: tags,
      }),
    );
    return restoredCluster.DBCluster?.Status ?? 'creating';
  });
  await addClusterInstance(event, region.rds, identifier, engine, parameters.instanceClass ?? deps.auroraInstanceClass ?? DEFAULT_AURORA_INSTANCE_CLASS, tags);
  return { status, resource: { type: 'cluster', identifier, instanceIdentifier: identifier }, restoreTime };
}

export async function startPromotion(event: RunStepEvent, parameters: PromoteReplicaParameters, deps: DrStepDeps): Promise<PolledStepRecord> {
  const startedAt = now(deps).toISOString();
  const base = { plan: event.plan, stepId: event.stepId, kind: 'promote-replica' as const, mode: event.mode, suffix: event.suffix, startedAt };

  if ('replicaIdentifier' in parameters) {
    const { region: choice, identifier } = replicaLocation(deps, parameters.replicaIdentifier, parameters.region);
    const step: PolledStep = { ...base, region: choice, status: 'modifying', resource: { type: 'replica', identifier } };
    if (event.mode === 'drill') return skipped(step, `promote read replica ${identifier} in ${regionResources(deps, choice).name}`, deps);
    const rds = regionResources(deps, choice).rds;
    try {
      await rds.send(new PromoteReadReplicaCommand({ DBInstanceIdentifier: identifier }));
    } catch (error) {
      // A retried call finds the replica already promoted (or being promoted): that is this step's own work.
      const instance = rdsErrorCode(error) === 'InvalidDBInstanceState' ? await describeInstance(rds, identifier) : undefined;
      if (!instance || instance.ReadReplicaSourceDBInstanceIdentifier !== undefined) {
        throw new FailoverFailedError(`RDS refused to promote read replica ${identifier}: ${rdsErrorMessage(error)}`, { cause: error });
      }
    }
    return progress(step);
  }

  const choice = regionOfArn(deps, parameters.targetClusterArn);
  const step: PolledStep = {
    ...base,
    region: choice,
    status: 'failing-over',
    resource: { type: 'global-cluster', globalClusterIdentifier: parameters.globalClusterIdentifier, targetClusterArn: parameters.targetClusterArn },
  };
  if (event.mode === 'drill') {
    return skipped(step, `fail global database ${parameters.globalClusterIdentifier} over to ${parameters.targetClusterArn}`, deps);
  }
  const rds = regionResources(deps, choice).rds;
  try {
    await rds.send(
      new FailoverGlobalClusterCommand({
        GlobalClusterIdentifier: parameters.globalClusterIdentifier,
        TargetDbClusterIdentifier: parameters.targetClusterArn,
        // A DR failover is for when the primary region is gone: a switchover (no data loss) needs it healthy.
        AllowDataLoss: true,
      }),
    );
  } catch (error) {
    const global = rdsErrorCode(error) === 'InvalidGlobalClusterState' ? await describeGlobalCluster(rds, parameters.globalClusterIdentifier) : undefined;
    const ours = global && (global.FailoverState?.ToDbClusterArn === parameters.targetClusterArn || writerOf(global) === parameters.targetClusterArn);
    if (!ours) {
      throw new FailoverFailedError(
        `RDS refused to fail global database ${parameters.globalClusterIdentifier} over to ${parameters.targetClusterArn}: ${rdsErrorMessage(error)}`,
        { cause: error },
      );
    }
  }
  return progress(step);
}

// ---------------------------------------------------------------------------------------------------------
// describe-step
// ---------------------------------------------------------------------------------------------------------

/** Looks at the step's RDS resource again: the same shape back, final once it is `available`. */
export async function describePolledStep(step: PolledStep, deps: DrStepDeps): Promise<PolledStepRecord> {
  if (step.skipped) return skippedRecord(step, step.skipped);
  const rds = regionResources(deps, step.region).rds;
  const resource = step.resource;
  switch (resource.type) {
    case 'instance': {
      const instance = await describeInstance(rds, resource.identifier);
      if (!instance) throw new RestoreFailedError(`Restored instance ${resource.identifier} of step '${step.stepId}' no longer exists`);
      const status = instance.DBInstanceStatus ?? 'unknown';
      failIfDeadEnd(step, `instance ${resource.identifier}`, status);
      if (status !== 'available' || !instance.Endpoint?.Address) return progress({ ...step, status: notYetAvailable(status) });
      return restored(step, resource.identifier, instance.Endpoint.Address, instance.Endpoint.Port!, deps);
    }
    case 'cluster': {
      const cluster = await describeCluster(rds, resource.identifier);
      if (!cluster) throw new RestoreFailedError(`Restored cluster ${resource.identifier} of step '${step.stepId}' no longer exists`);
      const instance = await describeInstance(rds, resource.instanceIdentifier);
      if (!instance) throw new RestoreFailedError(`The instance ${resource.instanceIdentifier} of restored cluster ${resource.identifier} no longer exists`);
      const clusterStatus = cluster.Status ?? 'unknown';
      const instanceStatus = instance.DBInstanceStatus ?? 'unknown';
      failIfDeadEnd(step, `cluster ${resource.identifier}`, clusterStatus);
      failIfDeadEnd(step, `instance ${resource.instanceIdentifier} of cluster ${resource.identifier}`, instanceStatus);
      if (clusterStatus !== 'available') return progress({ ...step, status: notYetAvailable(clusterStatus) });
      if (instanceStatus !== 'available' || !cluster.Endpoint) return progress({ ...step, status: notYetAvailable(instanceStatus) });
      return restored(step, resource.identifier, cluster.Endpoint, cluster.Port!, deps);
    }
    case 'replica': {
      const instance = await describeInstance(rds, resource.identifier);
      if (!instance) throw new FailoverFailedError(`Read replica ${resource.identifier} being promoted by step '${step.stepId}' no longer exists`);
      const status = instance.DBInstanceStatus ?? 'unknown';
      if (DEAD_END_STATUSES.has(status) || status.startsWith('incompatible')) {
        throw new FailoverFailedError(`Promoting read replica ${resource.identifier} (step '${step.stepId}') left it ${status}`);
      }
      // Right after the call the replica may still say `available`: it is promoted once it has no source.
      if (status !== 'available' || instance.ReadReplicaSourceDBInstanceIdentifier !== undefined) {
        return progress({ ...step, status: status === 'available' ? 'modifying' : status });
      }
      return final(step, deps, {
        promoted: `read replica ${resource.identifier}`,
        identifier: resource.identifier,
        region: regionResources(deps, step.region).name,
        ...(instance.Endpoint?.Address ? { endpoint: instance.Endpoint.Address, port: instance.Endpoint.Port } : {}),
      });
    }
    case 'global-cluster': {
      const global = await describeGlobalCluster(rds, resource.globalClusterIdentifier);
      if (!global) throw new FailoverFailedError(`Global database ${resource.globalClusterIdentifier} (step '${step.stepId}') no longer exists`);
      const status = global.Status ?? 'unknown';
      if (DEAD_END_STATUSES.has(status)) {
        throw new FailoverFailedError(`Failing global database ${resource.globalClusterIdentifier} over (step '${step.stepId}') left it ${status}`);
      }
      if (global.FailoverState !== undefined || status !== 'available' || writerOf(global) !== resource.targetClusterArn) {
        return progress({ ...step, status: global.FailoverState?.Status ?? (status === 'available' ? 'failing-over' : status) });
      }
      return final(step, deps, {
        promoted: `global database ${resource.globalClusterIdentifier} to ${resource.targetClusterArn}`,
        globalClusterIdentifier: resource.globalClusterIdentifier,
        writer: resource.targetClusterArn,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------

/** `<targetIdentifier>-drill-<suffix>` in drills; the identifier as given for real runs. */
export function targetIdentifierFor(event: Pick<RunStepEvent, 'mode' | 'suffix' | 'stepId'>, targetIdentifier: string): string {
  const identifier = event.mode === 'drill' ? `${targetIdentifier}-drill-${event.suffix}` : targetIdentifier;
  if (!RDS_IDENTIFIER.test(identifier) || identifier.endsWith('-')) {
    throw new ConfigError(
      `Step '${event.stepId}': parameters.targetIdentifier: ${identifier} is not a valid RDS identifier ` +
        '(at most 63 letters, digits and single hyphens, starting with a letter; a drill adds "-drill-<suffix>")',
    );
  }
  return identifier;
}

/** `lifeboat:plan`, `lifeboat:execution` (the execution's name) and, in drills, `lifeboat:drill` = the suffix. */
export function stepTags(event: Pick<RunStepEvent, 'plan' | 'executionId' | 'mode' | 'suffix'>): Tag[] {
  return [
    { Key: PLAN_TAG, Value: event.plan },
    { Key: EXECUTION_TAG, Value: executionNameOf(event.executionId) },
    ...(event.mode === 'drill' ? [{ Key: DRILL_TAG, Value: event.suffix }] : []),
  ];
}

/** The newest snapshot backup of `sourceId` in the region's vault (its manifests name that region's copy). */
async function latestSnapshot(region: RegionResources, sourceId: string, choice: RegionChoice): Promise<BackupManifest> {
  const snapshots = (await listBackups(region.store, { sourceId, onUnreadable: () => {} }))
    .filter((manifest) => manifest.kind === 'snapshot' && manifest.snapshot !== undefined && manifest.snapshot.region === region.name)
    .sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt));
  const newest = snapshots[0];
  if (!newest) {
    throw new NoRecoveryPointError(`No Lifeboat snapshot of source ${sourceId} in ${region.name} is recorded in the ${choice} vault (${region.store.location})`);
  }
  return newest;
}

/**
 * Runs `create`; if RDS says the identifier is taken by what this very execution created (a retried
 * call), adopts it. Anything else under that name is never touched: the step fails.
 */
/**
 * The one instance of a restored cluster (Aurora or DocumentDB): a restored cluster has none, so nothing answers on
 * its endpoint until it is added. DocumentDB's takes no PubliclyAccessible: its clusters are only reachable in their VPC.
 */
function addClusterInstance(event: RunStepEvent, rds: RdsSender, identifier: string, engine: string, instanceClass: string, tags: Tag[]): Promise<string> {
  return createOrAdopt(event, rds, 'instance', identifier, async () => {
    const created = await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: identifier,
        DBClusterIdentifier: identifier,
        DBInstanceClass: instanceClass,
        Engine: engine,
        ...(engine === 'docdb' ? {} : { PubliclyAccessible: false }),
        Tags: tags,
      }),
    );
    return created.DBInstance?.DBInstanceStatus ?? 'creating';
  });
}

async function createOrAdopt(
  event: RunStepEvent,
  rds: RdsSender,
  type: 'instance' | 'cluster',
  identifier: string,
  create: () => Promise<string>,
): Promise<string> {
  try {
    return await create();
  } catch (error) {
    const code = rdsErrorCode(error);
    if (code !== 'DBInstanceAlreadyExists' && code !== 'DBClusterAlreadyExists') {
      throw new RestoreFailedError(`RDS refused to create ${type} ${identifier} for step '${event.stepId}': ${rdsErrorMessage(error)}`, { cause: error });
    }
    const existing = type === 'instance' ? await describeInstance(rds, identifier) : await describeCluster(rds, identifier);
    const tags = tagMap(existing?.TagList);
    if (!existing || tags[PLAN_TAG] !== event.plan || tags[EXECUTION_TAG] !== executionNameOf(event.executionId)) {
      throw new RestoreFailedError(
        `An RDS ${type} named ${identifier} already exists and was not created by this execution of plan ${event.plan}; ` +
          'choose another targetIdentifier or remove it',
        { cause: error },
      );
    }
    return (type === 'instance' ? (existing as DBInstance).DBInstanceStatus : (existing as DBCluster).Status) ?? 'creating';
  }
}

function restored(step: PolledStep, identifier: string, endpoint: string, port: number, deps: DrStepDeps): PolledStepRecord {
  const restore = step.restore!;
  return final(step, deps, {
    identifier,
    endpoint,
    port,
    restoredDataAt: restore.restoredDataAt,
    sourceId: restore.sourceId,
    ...(restore.backupId === undefined ? {} : { backupId: restore.backupId }),
    region: regionResources(deps, step.region).name,
    target: { host: endpoint, port, database: restore.database, engine: restore.engine, credentialsSecretArn: restore.credentialsSecretArn },
    drill: step.mode === 'drill',
  });
}

function final(step: PolledStep, deps: DrStepDeps, result: Record<string, unknown>): PolledStepRecord {
  return { ...succeededRecord(step.stepId, step.kind, step.startedAt, result, deps), step: { ...step, status: 'available' } };
}

function progress(step: PolledStep): PolledStepRecord {
  return { stepId: step.stepId, kind: step.kind, status: 'creating', startedAt: step.startedAt, endedAt: null, result: null, step };
}

function skipped(step: PolledStep, wouldHave: string, deps: DrStepDeps): PolledStepRecord {
  return skippedRecord(step, { wouldHave, endedAt: now(deps).toISOString() });
}

/** A drill's promotion: nothing was done; `step.status` is `available` so the poll loop ends at once. */
function skippedRecord(step: PolledStep, skip: NonNullable<PolledStep['skipped']>): PolledStepRecord {
  return {
    stepId: step.stepId,
    kind: step.kind,
    status: 'skipped',
    startedAt: step.startedAt,
    endedAt: skip.endedAt,
    result: { wouldHave: skip.wouldHave },
    step: { ...step, status: 'available', skipped: skip },
  };
}

/** RDS sometimes answers a create with `available` copied from the snapshot; only a describe may end the loop. */
function notYetAvailable(status: string): string {
  return status === 'available' ? 'creating' : status;
}

function failIfDeadEnd(step: PolledStep, what: string, status: string): void {
  if (DEAD_END_STATUSES.has(status) || status.startsWith('incompatible')) {
    throw new RestoreFailedError(`Restored ${what} of step '${step.stepId}' is ${status}; it will never be available`);
  }
}

function findSource(deps: DrStepDeps, sourceId: string, stepId: string): DrSource {
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) {
    throw new ConfigError(`Step '${stepId}': parameters.source: unknown source '${sourceId}'; this function knows ${deps.sources.map((s) => s.id).join(', ') || 'none'}`);
  }
  return source;
}

/** The database the validate step connects to: the source's, or the engine's always-present one for snapshot-only sources. */
function databaseOf(source: DrSource): string {
  return source.database ?? (source.engine === 'postgresql' ? 'postgres' : source.engine === 'docdb' ? 'admin' : 'mysql');
}

function replicaLocation(deps: DrStepDeps, replica: string, fallback: RegionChoice): { region: RegionChoice; identifier: string } {
  if (!replica.startsWith('arn:')) return { region: fallback, identifier: replica };
  const match = /^arn:aws[a-z-]*:rds:([a-z0-9-]+):\d{12}:db:([A-Za-z][A-Za-z0-9-]*)$/.exec(replica);
  if (!match) throw new ConfigError(`parameters.replicaIdentifier: "${replica}" is not an RDS instance ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME)`);
  return { region: regionOfArn(deps, replica), identifier: match[2]! };
}

function regionOfArn(deps: DrStepDeps, arn: string): RegionChoice {
  const name = arn.split(':')[3];
  if (deps.regions.primary.name === name) return 'primary';
  if (deps.regions.dr?.name === name) return 'dr';
  throw new ConfigError(`${arn} is in ${name ?? 'no region'}, neither the primary (${deps.regions.primary.name}) nor the DR region (${deps.regions.dr?.name ?? 'none'})`);
}

export async function describeInstance(rds: RdsSender, identifier: string): Promise<DBInstance | undefined> {
  return unlessNotFound('DBInstanceNotFound', async () => (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances?.[0]);
}

async function describeCluster(rds: RdsSender, identifier: string): Promise<DBCluster | undefined> {
  return unlessNotFound('DBClusterNotFound', async () => (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier }))).DBClusters?.[0]);
}

async function describeGlobalCluster(rds: RdsSender, identifier: string): Promise<GlobalCluster | undefined> {
  return unlessNotFound(
    'GlobalClusterNotFound',
    async () => (await rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: identifier }))).GlobalClusters?.[0],
  );
}

/** What `describe` finds, or `undefined` where RDS answers `notFound` (no such resource). */
async function unlessNotFound<T>(notFound: string, describe: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await describe();
  } catch (error) {
    if (rdsErrorCode(error) === notFound) return undefined;
    throw error;
  }
}

function writerOf(global: GlobalCluster): string | undefined {
  return global.GlobalClusterMembers?.find((member) => member.IsWriter)?.DBClusterArn;
}

export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) map[tag.Key] = tag.Value ?? '';
  return map;
}
