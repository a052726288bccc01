/**
 * A drill's clean-up: drops every database named `*_drill_<suffix>` on the verification servers, and
 * deletes every RDS instance and cluster tagged `lifeboat:drill` = `<suffix>` and `lifeboat:plan` = the plan,
 * in both regions, without a final snapshot. It finds what to remove afresh each time, so it is idempotent
 * (a second run finds nothing) and also removes what a failed run left half made. Nothing without the
 * drill's exact suffix is touched.
 */
import {
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  type DBCluster,
  type DBInstance,
} from '@aws-sdk/client-rds';
import type mysql from 'mysql2/promise';
import { rdsErrorCode, type RdsSender } from '../lib/aws/rdsSnapshot.ts';
import { type ConnectionInfo, type Engine, withDatabase } from '../lib/engine/connection.ts';
import { connectMysql } from '../lib/engine/mysql.ts';
import { connectPostgres } from '../lib/engine/postgres.ts';
import { dropDatabase } from '../lib/verify/scratch.ts';
import type { DrStepDeps, RegionResources } from './deps.ts';
import type { CleanupEvent, RegionChoice } from './events.ts';
import { DRILL_TAG, PLAN_TAG, tagMap } from './rdsSteps.ts';
import { drillDatabaseSuffix, serverConnection } from './restoreDump.ts';

export interface CleanupResult {
  readonly plan: string;
  readonly suffix: string;
  /** Databases dropped, by verification server (`host:port`). */
  readonly databases: { engine: Engine; server: string; database: string }[];
  readonly instances: { region: string; identifier: string }[];
  readonly clusters: { region: string; identifier: string }[];
}

const ENGINES: readonly Engine[] = ['postgresql', 'mysql'];

export async function cleanupDrill(event: CleanupEvent, deps: DrStepDeps): Promise<CleanupResult> {
  const result: CleanupResult = { plan: event.plan, suffix: event.suffix, databases: [], instances: [], clusters: [] };
  for (const engine of ENGINES) {
    const server = deps.servers[engine];
    if (!server) continue;
    const admin = await serverConnection(deps, engine, server, engine === 'postgresql' ? 'postgres' : 'mysql');
    for (const database of await drillDatabases(admin, event.suffix)) {
      await dropDatabase(withDatabase(admin, database));
      result.databases.push({ engine, server: `${server.host}:${server.port}`, database });
    }
  }
  for (const choice of ['primary', 'dr'] as const satisfies readonly RegionChoice[]) {
    const region = deps.regions[choice];
    if (!region) continue;
    const removed = await deleteDrillResources(region, event);
    result.instances.push(...removed.instances);
    result.clusters.push(...removed.clusters);
  }
  return result;
}

/** Databases on the server whose name ends in `_drill_<suffix>`: compared in code, never as a LIKE pattern. */
async function drillDatabases(admin: ConnectionInfo, suffix: string): Promise<string[]> {
  const ending = drillDatabaseSuffix(suffix);
  let names: string[];
  if (admin.engine === 'postgresql') {
    const client = await connectPostgres(admin);
    try {
      names = (await client.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((row) => row.datname);
    } finally {
      await client.end().catch(() => {});
    }
  } else {
    const connection = await connectMysql(admin, null);
    try {
      const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA');
      names = rows.map((row) => String(row['name']));
    } finally {
      await connection.end().catch(() => {});
    }
  }
  return names.filter((name) => name.endsWith(ending) && name.length > ending.length).sort();
}

/**
 * Instances first (an Aurora cluster cannot be deleted while it has instances), then clusters. What is
 * already being deleted is left alone: asking again would fail, and it is on its way out.
 */
async function deleteDrillResources(
  region: RegionResources,
  event: CleanupEvent,
): Promise<Pick<CleanupResult, 'instances' | 'clusters'>> {
  const isDrills = (tags: Record<string, string>) => tags[DRILL_TAG] === event.suffix && tags[PLAN_TAG] === event.plan;
  const instances = (await listInstances(region.rds)).filter(
    (instance) => isDrills(tagMap(instance.TagList)) && instance.DBInstanceStatus !== 'deleting',
  );
  const clusters = (await listClusters(region.rds)).filter((cluster) => isDrills(tagMap(cluster.TagList)) && cluster.Status !== 'deleting');

  const removed: Pick<CleanupResult, 'instances' | 'clusters'> = { instances: [], clusters: [] };
  for (const instance of instances) {
    const identifier = instance.DBInstanceIdentifier!;
    // Aurora instances take no final snapshot of their own; a standalone instance is told to skip it.
    const options = instance.DBClusterIdentifier === undefined ? { SkipFinalSnapshot: true, DeleteAutomatedBackups: true } : {};
    if (await deleted(() => region.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: identifier, ...options })), 'DBInstanceNotFound')) {
      removed.instances.push({ region: region.name, identifier });
    }
  }
  for (const cluster of clusters) {
    const identifier = cluster.DBClusterIdentifier!;
    if (await deleted(() => region.rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: identifier, SkipFinalSnapshot: true })), 'DBClusterNotFound')) {
      removed.clusters.push({ region: region.name, identifier });
    }
  }
  return removed;
}

/** Whether the delete was accepted; gone already (a concurrent clean-up) is not an error, and not a removal. */
async function deleted(send: () => Promise<unknown>, notFound: string): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (error) {
    if (rdsErrorCode(error) === notFound) return false;
    throw error;
  }
}

async function listInstances(rds: RdsSender): Promise<DBInstance[]> {
  return allPages(async (page) => {
    const out = await rds.send(new DescribeDBInstancesCommand(page));
    return { items: out.DBInstances, marker: out.Marker };
  });
}

async function listClusters(rds: RdsSender): Promise<DBCluster[]> {
  return allPages(async (page) => {
    const out = await rds.send(new DescribeDBClustersCommand(page));
    return { items: out.DBClusters, marker: out.Marker };
  });
}

/** Every item of a paged RDS describe: each page asked with the previous page's `Marker` until there is none. */
async function allPages<T>(describe: (page: { Marker?: string }) => Promise<{ items: T[] | undefined; marker: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  do {
    const page = await describe(marker === undefined ? {} : { Marker: marker });
    all.push(...(page.items ?? []));
    marker = page.marker;
  } while (marker);
  return all;
}
