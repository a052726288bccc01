/**
 * The RDS steps with mocked RDS clients, one per region: the exact requests for restore-snapshot (instance
 * and Aurora cluster), restore-point-in-time and promote-replica, the describe loop to the final record,
 * a drill's promotion making no call at all, and clean-up deleting only what carries the drill's tags.
 */
import 'aws-sdk-client-mock-vitest/extend';
import {
  CreateDBInstanceCommand,
  DBInstanceAlreadyExistsFault,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  PromoteReadReplicaCommand,
  RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import type { PolledStepRecord } from '../../../functions/dr-step/events.ts';
import { ConfigError, FailoverFailedError, NoRecoveryPointError, RestoreFailedError } from '../../../functions/lib/errors.ts';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey } from '../../../functions/lib/vault/layout.ts';
import { type BackupManifest, serializeManifest } from '../../../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { tempVault, testKeyring } from '../engine/helpers.ts';
import { sampleManifest } from '../vault/fixtures.ts';
import { ACCOUNT, DR_REGION, PLAN, REGION, TOPIC, commandsOf, executionIdFor, newSuffix, runStep, snapshotManifest, snapshotName } from './support.ts';

const NOW = new Date('2026-03-02T09:00:00.000Z');
const LATER = new Date('2026-03-02T09:24:30.000Z');
const ORDERS_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-orders-Ab12Cd`;
const LEDGER_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!cluster-ledger-Ef34Gh`;
const CATALOG_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:catalog-docdb-master-Ij56Kl`;
const OLD_BACKUP = '20260301T000000Z-aaaaaaaa';
const NEW_BACKUP = '20260301T120000Z-bbbbbbbb';
const SNAPSHOT_CREATED = new Date('2026-03-01T12:00:04.000Z');
const PLACEMENT = { subnetGroupName: 'lifeboat-private', securityGroupIds: ['sg-0abc1234'] };

/** A dump's manifest alone (its payload is not needed here): listed like any backup, never restored. */
function putDumpManifest(store: VaultStore, manifest: BackupManifest): Promise<void> {
  return store.putObject(manifestKey(manifest.sourceId, manifest.backupId), serializeManifest(manifest));
}

/** Polls as the state machine does (the step goes through JSON between states) until `step.status` is `available`. */
async function pollUntilAvailable(first: PolledStepRecord, deps: DrStepDeps, beforeLast?: () => void): Promise<{ statuses: string[]; last: PolledStepRecord }> {
  const statuses: string[] = [];
  let current = first;
  for (let polls = 0; current.step.status !== 'available'; polls++) {
    if (polls > 10) throw new Error('the step never became available');
    beforeLast?.();
    current = (await handleDrStepEvent({ action: 'describe-step', step: JSON.parse(JSON.stringify(current.step)) }, deps)) as PolledStepRecord;
    statuses.push(current.step.status);
  }
  return { statuses, last: current };
}

describe('the RDS steps', () => {
  const primaryClient = new RDSClient({ region: REGION });
  const drClient = new RDSClient({ region: DR_REGION });
  const primary = mockClient(primaryClient);
  const dr = mockClient(drClient);
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let drVault: Awaited<ReturnType<typeof tempVault>>;
  let clock: Date;
  let deps: DrStepDeps;

  beforeAll(async () => {
    vault = await tempVault();
    drVault = await tempVault();
    await writeManifest(vault.store, snapshotManifest('orders-db', OLD_BACKUP, 'instance', REGION, 'postgresql'));
    await writeManifest(vault.store, snapshotManifest('orders-db', NEW_BACKUP, 'instance', REGION, 'postgresql'));
    await putDumpManifest(vault.store, sampleManifest({ sourceId: 'orders-db', backupId: '20260301T180000Z-cccccccc' })); // a dump: not a snapshot
    await writeManifest(vault.store, snapshotManifest('ledger-db', NEW_BACKUP, 'cluster', REGION, 'mysql'));
    await writeManifest(vault.store, snapshotManifest('catalog-docdb', NEW_BACKUP, 'cluster', REGION, 'docdb'));
    await writeManifest(drVault.store, snapshotManifest('orders-db', OLD_BACKUP, 'instance', DR_REGION, 'postgresql'));
    const keyring = testKeyring();
    deps = {
      sources: [
        { id: 'orders-db', engine: 'postgresql', database: 'orders', credentialsSecretArn: ORDERS_SECRET, rds: { type: 'instance', identifier: 'orders-prod' } },
        { id: 'ledger-db', engine: 'mysql', credentialsSecretArn: LEDGER_SECRET, rds: { type: 'cluster', identifier: 'ledger-prod' } },
        { id: 'catalog-docdb', engine: 'docdb', credentialsSecretArn: CATALOG_SECRET, rds: { type: 'cluster', identifier: 'catalog-prod' } },
      ],
      regions: {
        primary: { name: REGION, rds: primaryClient, store: vault.store, keyring },
        dr: { name: DR_REGION, rds: drClient, store: drVault.store, keyring },
      },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: {},
      planTopics: { [PLAN]: TOPIC },
      now: () => clock,
    };
  });
  afterAll(async () => {
    await vault?.remove();
    await drVault?.remove();
  });
  beforeEach(() => {
    primary.reset();
    dr.reset();
    clock = NOW;
  });

  const tags = (suffix: string, drill: boolean) => [
    { Key: 'lifeboat:plan', Value: PLAN },
    { Key: 'lifeboat:execution', Value: `drill-${suffix}` },
    ...(drill ? [{ Key: 'lifeboat:drill', Value: suffix }] : []),
  ];

  describe('restore-snapshot', () => {
    it('drill, instance: restores the newest Lifeboat snapshot under <target>-drill-<suffix>, private and tagged, then describes until available', async () => {
      const suffix = newSuffix();
      const identifier = `orders-recovered-drill-${suffix}`;
      const snapshot = snapshotName('orders-db', NEW_BACKUP);
      primary.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: snapshot }).resolves({
        DBSnapshots: [{ DBSnapshotIdentifier: snapshot, DBSnapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${snapshot}`, Status: 'available', SnapshotCreateTime: SNAPSHOT_CREATED }],
      });
      primary.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({ DBInstance: { DBInstanceIdentifier: identifier, DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('restore', 'restore-snapshot', { source: 'orders-db', targetIdentifier: 'orders-recovered', instanceClass: 'db.t4g.medium', ...PLACEMENT }, { mode: 'drill', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary)).toEqual([
        ['DescribeDBSnapshots', { DBSnapshotIdentifier: snapshot }],
        [
          'RestoreDBInstanceFromDBSnapshot',
          {
            DBInstanceIdentifier: identifier,
            DBSnapshotIdentifier: snapshot,
            DBInstanceClass: 'db.t4g.medium',
            DBSubnetGroupName: 'lifeboat-private',
            VpcSecurityGroupIds: ['sg-0abc1234'],
            PubliclyAccessible: false,
            Tags: tags(suffix, true),
          },
        ],
      ]);
      expect(dr).not.toHaveReceivedAnyCommand();
      const step = {
        plan: PLAN,
        stepId: 'restore',
        kind: 'restore-snapshot',
        mode: 'drill',
        suffix,
        startedAt: NOW.toISOString(),
        region: 'primary',
        status: 'creating',
        resource: { type: 'instance', identifier },
        restore: {
          sourceId: 'orders-db',
          backupId: NEW_BACKUP,
          restoredDataAt: SNAPSHOT_CREATED.toISOString(),
          engine: 'postgresql',
          database: 'orders',
          credentialsSecretArn: ORDERS_SECRET,
        },
      };
      expect(record).toEqual({ stepId: 'restore', kind: 'restore-snapshot', status: 'creating', startedAt: NOW.toISOString(), endedAt: null, result: null, step });

      primary.reset();
      primary
        .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: identifier })
        .resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'creating' }] })
        .resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'backing-up' }] })
        .resolves({ DBInstances: [{ DBInstanceStatus: 'available', Endpoint: { Address: `${identifier}.abc.${REGION}.rds.amazonaws.com`, Port: 5432 } }] });
      const { statuses, last } = await pollUntilAvailable(record, deps, () => {
        clock = LATER;
      });

      expect(statuses).toEqual(['creating', 'backing-up', 'available']);
      expect(primary).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 3);
      const endpoint = `${identifier}.abc.${REGION}.rds.amazonaws.com`;
      expect(last).toEqual({
        stepId: 'restore',
        kind: 'restore-snapshot',
        status: 'succeeded',
        startedAt: NOW.toISOString(),
        endedAt: LATER.toISOString(),
        result: {
          identifier,
          endpoint,
          port: 5432,
          restoredDataAt: SNAPSHOT_CREATED.toISOString(),
          sourceId: 'orders-db',
          backupId: NEW_BACKUP,
          region: REGION,
          target: { host: endpoint, port: 5432, database: 'orders', engine: 'postgresql', credentialsSecretArn: ORDERS_SECRET },
          drill: true,
        },
        step: { ...step, status: 'available' },
      });
    });

    it('real, Aurora cluster: restores the cluster with the snapshot engine, adds its instance, and is done when both are available', async () => {
      const suffix = newSuffix();
      const snapshot = snapshotName('ledger-db', NEW_BACKUP);
      primary.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: snapshot }).resolves({
        DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: snapshot, Engine: 'aurora-mysql', EngineVersion: '8.0.mysql_aurora.3.05.2', SnapshotCreateTime: SNAPSHOT_CREATED }],
      });
      primary.on(RestoreDBClusterFromSnapshotCommand).resolves({ DBCluster: { Status: 'creating' } });
      primary.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('restore', 'restore-snapshot', { source: 'ledger-db', targetIdentifier: 'ledger-recovered', ...PLACEMENT }, { mode: 'real', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary)).toEqual([
        ['DescribeDBClusterSnapshots', { DBClusterSnapshotIdentifier: snapshot }],
        [
          'RestoreDBClusterFromSnapshot',
          {
            DBClusterIdentifier: 'ledger-recovered',
            SnapshotIdentifier: snapshot,
            Engine: 'aurora-mysql',
            EngineVersion: '8.0.mysql_aurora.3.05.2',
            DBSubnetGroupName: 'lifeboat-private',
            VpcSecurityGroupIds: ['sg-0abc1234'],
            Tags: tags(suffix, false),
          },
        ],
        [
          'CreateDBInstance',
          {
            DBInstanceIdentifier: 'ledger-recovered',
            DBClusterIdentifier: 'ledger-recovered',
            DBInstanceClass: 'db.r6g.large',
            Engine: 'aurora-mysql',
            PubliclyAccessible: false,
            Tags: tags(suffix, false),
          },
        ],
      ]);
      expect(record.step).toMatchObject({
        status: 'creating',
        resource: { type: 'cluster', identifier: 'ledger-recovered', instanceIdentifier: 'ledger-recovered' },
        restore: { sourceId: 'ledger-db', engine: 'mysql', database: 'mysql', credentialsSecretArn: LEDGER_SECRET, restoredDataAt: SNAPSHOT_CREATED.toISOString() },
      });

      primary.reset();
      primary
        .on(DescribeDBClustersCommand, { DBClusterIdentifier: 'ledger-recovered' })
        .resolvesOnce({ DBClusters: [{ Status: 'creating' }] })
        .resolves({ DBClusters: [{ Status: 'available', Endpoint: 'ledger-recovered.cluster-abc.eu-west-1.rds.amazonaws.com', Port: 3306 }] });
      primary
        .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'ledger-recovered' })
        .resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'creating' }] })
        .resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'creating' }] })
        .resolves({ DBInstances: [{ DBInstanceStatus: 'available' }] });
      const { statuses, last } = await pollUntilAvailable(record, deps);

      expect(statuses).toEqual(['creating', 'creating', 'available']);
      expect(last.status).toBe('succeeded');
      expect(last.result).toEqual({
        identifier: 'ledger-recovered',
        endpoint: 'ledger-recovered.cluster-abc.eu-west-1.rds.amazonaws.com',
        port: 3306,
        restoredDataAt: SNAPSHOT_CREATED.toISOString(),
        sourceId: 'ledger-db',
        backupId: NEW_BACKUP,
        region: REGION,
        target: { host: 'ledger-recovered.cluster-abc.eu-west-1.rds.amazonaws.com', port: 3306, database: 'mysql', engine: 'mysql', credentialsSecretArn: LEDGER_SECRET },
        drill: false,
      });
    });

    it('real, DocumentDB cluster: restores the cluster with the snapshot engine and adds its instance without PubliclyAccessible', async () => {
      const suffix = newSuffix();
      const snapshot = snapshotName('catalog-docdb', NEW_BACKUP);
      primary.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: snapshot }).resolves({
        DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: snapshot, Engine: 'docdb', EngineVersion: '5.0.0', SnapshotCreateTime: SNAPSHOT_CREATED }],
      });
      primary.on(RestoreDBClusterFromSnapshotCommand).resolves({ DBCluster: { Status: 'creating' } });
      primary.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('restore', 'restore-snapshot', { source: 'catalog-docdb', targetIdentifier: 'catalog-recovered', ...PLACEMENT }, { mode: 'real', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary)).toEqual([
        ['DescribeDBClusterSnapshots', { DBClusterSnapshotIdentifier: snapshot }],
        [
          'RestoreDBClusterFromSnapshot',
          {
            DBClusterIdentifier: 'catalog-recovered',
            SnapshotIdentifier: snapshot,
            Engine: 'docdb',
            EngineVersion: '5.0.0',
            DBSubnetGroupName: 'lifeboat-private',
            VpcSecurityGroupIds: ['sg-0abc1234'],
            Tags: tags(suffix, false),
          },
        ],
        // DocumentDB instances take no PubliclyAccessible: a cluster is only reachable inside its VPC.
        ['CreateDBInstance', { DBInstanceIdentifier: 'catalog-recovered', DBClusterIdentifier: 'catalog-recovered', DBInstanceClass: 'db.r6g.large', Engine: 'docdb', Tags: tags(suffix, false) }],
      ]);
      expect(record.step).toMatchObject({
        resource: { type: 'cluster', identifier: 'catalog-recovered', instanceIdentifier: 'catalog-recovered' },
        restore: { sourceId: 'catalog-docdb', engine: 'docdb', database: 'admin', credentialsSecretArn: CATALOG_SECRET, restoredDataAt: SNAPSHOT_CREATED.toISOString() },
      });
    });

    it('region dr: restores the DR copy recorded in the DR vault, through the DR region client', async () => {
      const suffix = newSuffix();
      const snapshot = snapshotName('orders-db', OLD_BACKUP);
      dr.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [{ DBSnapshotIdentifier: snapshot, Status: 'available', SnapshotCreateTime: SNAPSHOT_CREATED }] });
      dr.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('restore', 'restore-snapshot', { source: 'orders-db', region: 'dr', targetIdentifier: 'orders-recovered', ...PLACEMENT }, { mode: 'real', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(primary).not.toHaveReceivedAnyCommand();
      expect(dr).toHaveReceivedCommandExactlyOnceWith(RestoreDBInstanceFromDBSnapshotCommand, {
        DBInstanceIdentifier: 'orders-recovered',
        DBSnapshotIdentifier: snapshot,
        DBSubnetGroupName: 'lifeboat-private',
        VpcSecurityGroupIds: ['sg-0abc1234'],
        PubliclyAccessible: false,
        Tags: tags(suffix, false),
      });
      expect(record.step).toMatchObject({ region: 'dr', restore: { backupId: OLD_BACKUP } });
    });

    it('a retried call adopts the instance this execution already started, and refuses one it did not make', async () => {
      const suffix = newSuffix();
      const identifier = `orders-recovered-drill-${suffix}`;
      const exists = new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} });
      primary.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [{ DBSnapshotIdentifier: 'x', Status: 'available', SnapshotCreateTime: SNAPSHOT_CREATED }] });
      primary.on(RestoreDBInstanceFromDBSnapshotCommand).rejects(exists);
      primary.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: identifier }).resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'creating', TagList: tags(suffix, true) }] });
      const event = runStep('restore', 'restore-snapshot', { source: 'orders-db', targetIdentifier: 'orders-recovered', ...PLACEMENT }, { mode: 'drill', suffix });

      const adopted = (await handleDrStepEvent(event, deps)) as PolledStepRecord;
      expect(adopted.step).toMatchObject({ status: 'creating', resource: { type: 'instance', identifier } });

      primary.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: identifier }).resolves({
        DBInstances: [{ DBInstanceStatus: 'available', TagList: [{ Key: 'lifeboat:plan', Value: 'someone-else' }] }],
      });
      await expect(handleDrStepEvent(event, deps)).rejects.toThrow(
        new RestoreFailedError(
          `An RDS instance named ${identifier} already exists and was not created by this execution of plan ${PLAN}; choose another targetIdentifier or remove it`,
        ),
      );
    });

    it('fails with RestoreFailedError when the restored instance reaches a status it never leaves', async () => {
      primary.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'incompatible-restore' }] });
      const step = {
        plan: PLAN,
        stepId: 'restore',
        kind: 'restore-snapshot',
        mode: 'real',
        suffix: 'ab12cd34',
        startedAt: NOW.toISOString(),
        region: 'primary',
        status: 'creating',
        resource: { type: 'instance', identifier: 'orders-recovered' },
        restore: { sourceId: 'orders-db', restoredDataAt: NOW.toISOString(), engine: 'postgresql', database: 'orders', credentialsSecretArn: ORDERS_SECRET },
      };

      await expect(handleDrStepEvent({ action: 'describe-step', step }, deps)).rejects.toThrow(
        new RestoreFailedError("Restored instance orders-recovered of step 'restore' is incompatible-restore; it will never be available"),
      );
    });

    it('no snapshot of the source recorded in the vault: NoRecoveryPointError, no RDS call', async () => {
      const event = runStep('restore', 'restore-snapshot', { source: 'ledger-db', region: 'dr', targetIdentifier: 'ledger-recovered', ...PLACEMENT }, { suffix: newSuffix() });

      await expect(handleDrStepEvent(event, deps)).rejects.toThrow(
        new NoRecoveryPointError(`No Lifeboat snapshot of source ledger-db in ${DR_REGION} is recorded in the dr vault (${drVault.store.location})`),
      );
      expect(primary).not.toHaveReceivedAnyCommand();
      expect(dr).not.toHaveReceivedAnyCommand();
    });
  });

  describe('restore-point-in-time', () => {
    it('without restoreTime: restores the latest restorable time, read first and recorded as the restored data time', async () => {
      const suffix = newSuffix();
      const latest = new Date('2026-03-02T08:55:00.000Z');
      const identifier = `orders-pitr-drill-${suffix}`;
      primary.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-prod' }).resolves({ DBInstances: [{ LatestRestorableTime: latest }] });
      primary.on(RestoreDBInstanceToPointInTimeCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('pitr', 'restore-point-in-time', { source: 'orders-db', targetIdentifier: 'orders-pitr', instanceClass: 'db.m6g.large', ...PLACEMENT }, { mode: 'drill', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary)).toEqual([
        ['DescribeDBInstances', { DBInstanceIdentifier: 'orders-prod' }],
        [
          'RestoreDBInstanceToPointInTime',
          {
            SourceDBInstanceIdentifier: 'orders-prod',
            TargetDBInstanceIdentifier: identifier,
            RestoreTime: latest,
            DBInstanceClass: 'db.m6g.large',
            DBSubnetGroupName: 'lifeboat-private',
            VpcSecurityGroupIds: ['sg-0abc1234'],
            PubliclyAccessible: false,
            Tags: tags(suffix, true),
          },
        ],
      ]);
      expect(record.step).toEqual({
        plan: PLAN,
        stepId: 'pitr',
        kind: 'restore-point-in-time',
        mode: 'drill',
        suffix,
        startedAt: NOW.toISOString(),
        region: 'primary',
        status: 'creating',
        resource: { type: 'instance', identifier },
        restore: { sourceId: 'orders-db', restoredDataAt: latest.toISOString(), engine: 'postgresql', database: 'orders', credentialsSecretArn: ORDERS_SECRET },
      });
    });

    it('with restoreTime: restores exactly that time, reading nothing first; a cluster source is refused', async () => {
      const suffix = newSuffix();
      primary.on(RestoreDBInstanceToPointInTimeCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('pitr', 'restore-point-in-time', { source: 'orders-db', targetIdentifier: 'orders-pitr', restoreTime: '2026-03-02T08:00:00+01:00', ...PLACEMENT }, { suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary)).toEqual([
        [
          'RestoreDBInstanceToPointInTime',
          {
            SourceDBInstanceIdentifier: 'orders-prod',
            TargetDBInstanceIdentifier: 'orders-pitr',
            RestoreTime: new Date('2026-03-02T07:00:00.000Z'),
            DBSubnetGroupName: 'lifeboat-private',
            VpcSecurityGroupIds: ['sg-0abc1234'],
            PubliclyAccessible: false,
            Tags: tags(suffix, false),
          },
        ],
      ]);
      expect(record.step.restore?.restoredDataAt).toBe('2026-03-02T07:00:00.000Z');

    });

    it('Aurora cluster, latest time: reads the cluster first, restores it to that time, adds an instance of its engine, polls both', async () => {
      const suffix = newSuffix();
      const latest = new Date('2026-03-02T08:55:00.000Z');
      primary.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'ledger-prod' }).resolves({ DBClusters: [{ Engine: 'aurora-mysql', LatestRestorableTime: latest }] });
      primary.on(RestoreDBClusterToPointInTimeCommand).resolves({ DBCluster: { Status: 'creating' } });
      primary.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('pitr', 'restore-point-in-time', { source: 'ledger-db', targetIdentifier: 'ledger-pitr', instanceClass: 'db.r6g.xlarge', ...PLACEMENT }, { mode: 'real', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary)).toEqual([
        ['DescribeDBClusters', { DBClusterIdentifier: 'ledger-prod' }],
        [
          'RestoreDBClusterToPointInTime',
          { SourceDBClusterIdentifier: 'ledger-prod', DBClusterIdentifier: 'ledger-pitr', RestoreToTime: latest, DBSubnetGroupName: 'lifeboat-private', VpcSecurityGroupIds: ['sg-0abc1234'], Tags: tags(suffix, false) },
        ],
        ['CreateDBInstance', { DBInstanceIdentifier: 'ledger-pitr', DBClusterIdentifier: 'ledger-pitr', DBInstanceClass: 'db.r6g.xlarge', Engine: 'aurora-mysql', PubliclyAccessible: false, Tags: tags(suffix, false) }],
      ]);
      expect(record.step).toMatchObject({
        kind: 'restore-point-in-time',
        resource: { type: 'cluster', identifier: 'ledger-pitr', instanceIdentifier: 'ledger-pitr' },
        restore: { sourceId: 'ledger-db', restoredDataAt: latest.toISOString(), engine: 'mysql', credentialsSecretArn: LEDGER_SECRET },
      });

      primary.reset();
      primary.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'ledger-pitr' }).resolves({ DBClusters: [{ Status: 'available', Endpoint: 'ledger-pitr.cluster-abc.eu-west-1.rds.amazonaws.com', Port: 3306 }] });
      primary.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'ledger-pitr' }).resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'creating' }] }).resolves({ DBInstances: [{ DBInstanceStatus: 'available' }] });
      const { last } = await pollUntilAvailable(record, deps);
      expect(last.status).toBe('succeeded');
      expect(last.result).toMatchObject({ identifier: 'ledger-pitr', endpoint: 'ledger-pitr.cluster-abc.eu-west-1.rds.amazonaws.com', port: 3306, restoredDataAt: latest.toISOString() });
    });

    it('DocumentDB cluster at a given time: restores to exactly that time, and its instance takes no PubliclyAccessible', async () => {
      const suffix = newSuffix();
      primary.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'catalog-prod' }).resolves({ DBClusters: [{ Engine: 'docdb', LatestRestorableTime: new Date('2026-03-02T08:55:00.000Z') }] });
      primary.on(RestoreDBClusterToPointInTimeCommand).resolves({ DBCluster: { Status: 'creating' } });
      primary.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });

      const record = (await handleDrStepEvent(
        runStep('pitr', 'restore-point-in-time', { source: 'catalog-docdb', targetIdentifier: 'catalog-pitr', restoreTime: '2026-03-02T07:30:00Z', ...PLACEMENT }, { mode: 'real', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(primary).slice(1)).toEqual([
        [
          'RestoreDBClusterToPointInTime',
          { SourceDBClusterIdentifier: 'catalog-prod', DBClusterIdentifier: 'catalog-pitr', RestoreToTime: new Date('2026-03-02T07:30:00.000Z'), DBSubnetGroupName: 'lifeboat-private', VpcSecurityGroupIds: ['sg-0abc1234'], Tags: tags(suffix, false) },
        ],
        ['CreateDBInstance', { DBInstanceIdentifier: 'catalog-pitr', DBClusterIdentifier: 'catalog-pitr', DBInstanceClass: 'db.r6g.large', Engine: 'docdb', Tags: tags(suffix, false) }],
      ]);
      expect(record.step.restore).toMatchObject({ sourceId: 'catalog-docdb', restoredDataAt: '2026-03-02T07:30:00.000Z', engine: 'docdb', database: 'admin' });
    });

    it('a cluster without a restorable time: NoRecoveryPointError, nothing created', async () => {
      primary.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ Engine: 'aurora-mysql' }] });
      await expect(
        handleDrStepEvent(runStep('pitr', 'restore-point-in-time', { source: 'ledger-db', targetIdentifier: 'ledger-pitr', ...PLACEMENT }, { suffix: newSuffix() }), deps),
      ).rejects.toBeInstanceOf(NoRecoveryPointError);
      expect(commandsOf(primary).map(([name]) => name)).toEqual(['DescribeDBClusters']);
    });
  });

  describe('promote-replica', () => {
    it('real: promotes the read replica in the DR region and is done once it is available without a source', async () => {
      const suffix = newSuffix();
      dr.on(PromoteReadReplicaCommand).resolves({ DBInstance: { DBInstanceStatus: 'available' } });

      const record = (await handleDrStepEvent(runStep('promote', 'promote-replica', { replicaIdentifier: 'orders-replica' }, { mode: 'real', suffix }), deps)) as PolledStepRecord;

      expect(commandsOf(dr)).toEqual([['PromoteReadReplica', { DBInstanceIdentifier: 'orders-replica' }]]);
      expect(primary).not.toHaveReceivedAnyCommand();
      expect(record).toMatchObject({ status: 'creating', step: { status: 'modifying', region: 'dr', resource: { type: 'replica', identifier: 'orders-replica' } } });

      const replica: DBInstance = { DBInstanceStatus: 'available', ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:eu-west-1:111122223333:db:orders-prod' };
      dr.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-replica' })
        .resolvesOnce({ DBInstances: [replica] })
        .resolvesOnce({ DBInstances: [{ DBInstanceStatus: 'modifying' }] })
        .resolves({ DBInstances: [{ DBInstanceStatus: 'available', Endpoint: { Address: 'orders-replica.xyz.eu-central-1.rds.amazonaws.com', Port: 5432 } }] });
      const { statuses, last } = await pollUntilAvailable(record, deps, () => {
        clock = LATER;
      });

      expect(statuses).toEqual(['modifying', 'modifying', 'available']);
      expect(last).toMatchObject({
        status: 'succeeded',
        startedAt: NOW.toISOString(),
        endedAt: LATER.toISOString(),
        result: {
          promoted: 'read replica orders-replica',
          identifier: 'orders-replica',
          region: DR_REGION,
          endpoint: 'orders-replica.xyz.eu-central-1.rds.amazonaws.com',
          port: 5432,
        },
      });
    });

    it('drill: makes no RDS call at all and records what it would have done, for run-step and describe-step alike', async () => {
      const suffix = newSuffix();

      const replica = (await handleDrStepEvent(runStep('promote', 'promote-replica', { replicaIdentifier: 'orders-replica' }, { mode: 'drill', suffix }), deps)) as PolledStepRecord;
      const targetClusterArn = `arn:aws:rds:${DR_REGION}:${ACCOUNT}:cluster:ledger-dr`;
      const global = (await handleDrStepEvent(
        runStep('failover', 'promote-replica', { globalClusterIdentifier: 'ledger-global', targetClusterArn }, { mode: 'drill', suffix }),
        deps,
      )) as PolledStepRecord;
      const described = await handleDrStepEvent({ action: 'describe-step', step: JSON.parse(JSON.stringify(replica.step)) }, deps);

      expect(primary).not.toHaveReceivedAnyCommand();
      expect(dr).not.toHaveReceivedAnyCommand();
      expect(replica).toMatchObject({
        stepId: 'promote',
        kind: 'promote-replica',
        status: 'skipped',
        startedAt: NOW.toISOString(),
        endedAt: NOW.toISOString(),
        result: { wouldHave: `promote read replica orders-replica in ${DR_REGION}` },
        step: { status: 'available' },
      });
      expect(global).toMatchObject({ status: 'skipped', result: { wouldHave: `fail global database ledger-global over to ${targetClusterArn}` }, step: { status: 'available' } });
      expect(described).toEqual(replica);
    });

    it('real, global database: fails over to the target cluster allowing data loss, and waits until it is the writer', async () => {
      const suffix = newSuffix();
      const target = `arn:aws:rds:${DR_REGION}:${ACCOUNT}:cluster:ledger-dr`;
      const old = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:ledger-prod`;
      dr.on(FailoverGlobalClusterCommand).resolves({});

      const record = (await handleDrStepEvent(
        runStep('failover', 'promote-replica', { globalClusterIdentifier: 'ledger-global', targetClusterArn: target }, { mode: 'real', suffix }),
        deps,
      )) as PolledStepRecord;

      expect(commandsOf(dr)).toEqual([
        ['FailoverGlobalCluster', { GlobalClusterIdentifier: 'ledger-global', TargetDbClusterIdentifier: target, AllowDataLoss: true }],
      ]);
      dr.on(DescribeGlobalClustersCommand, { GlobalClusterIdentifier: 'ledger-global' })
        .resolvesOnce({ GlobalClusters: [{ Status: 'failing-over', FailoverState: { Status: 'failing-over', ToDbClusterArn: target }, GlobalClusterMembers: [{ DBClusterArn: old, IsWriter: true }] }] })
        .resolves({ GlobalClusters: [{ Status: 'available', GlobalClusterMembers: [{ DBClusterArn: old, IsWriter: false }, { DBClusterArn: target, IsWriter: true }] }] });
      const { statuses, last } = await pollUntilAvailable(record, deps);

      expect(statuses).toEqual(['failing-over', 'available']);
      expect(last.result).toEqual({ promoted: `global database ledger-global to ${target}`, globalClusterIdentifier: 'ledger-global', writer: target });
    });

    it('real: RDS refusing the promotion of a replica that is still a replica is FailoverFailedError', async () => {
      dr.on(PromoteReadReplicaCommand).rejects(Object.assign(new Error('not in a state to promote'), { name: 'InvalidDBInstanceStateFault' }));
      dr.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'storage-optimization', ReadReplicaSourceDBInstanceIdentifier: 'orders-prod' }] });

      await expect(
        handleDrStepEvent(runStep('promote', 'promote-replica', { replicaIdentifier: 'orders-replica' }, { suffix: newSuffix() }), deps),
      ).rejects.toThrow(FailoverFailedError);
    });
  });

  describe('cleanup', () => {
    it('deletes, in both regions, only the instances and clusters tagged with this plan and drill suffix, and finds nothing the second time', async () => {
      const suffix = newSuffix();
      const ours = [{ Key: 'lifeboat:plan', Value: PLAN }, { Key: 'lifeboat:execution', Value: `drill-${suffix}` }, { Key: 'lifeboat:drill', Value: suffix }];
      primary
        .on(DescribeDBInstancesCommand)
        .resolvesOnce({
          DBInstances: [
            { DBInstanceIdentifier: `orders-recovered-drill-${suffix}`, DBInstanceStatus: 'available', TagList: ours },
            { DBInstanceIdentifier: 'orders-prod', DBInstanceStatus: 'available', TagList: [{ Key: 'lifeboat:plan', Value: PLAN }] },
            { DBInstanceIdentifier: 'orders-other-drill', DBInstanceStatus: 'available', TagList: [{ Key: 'lifeboat:plan', Value: PLAN }, { Key: 'lifeboat:drill', Value: 'ffff0000' }] },
          ],
          Marker: 'page-2',
        })
        .resolvesOnce({
          DBInstances: [
            { DBInstanceIdentifier: `ledger-recovered-drill-${suffix}`, DBClusterIdentifier: `ledger-recovered-drill-${suffix}`, DBInstanceStatus: 'creating', TagList: ours },
            { DBInstanceIdentifier: 'other-plan-same-suffix', DBInstanceStatus: 'available', TagList: [{ Key: 'lifeboat:plan', Value: 'billing' }, { Key: 'lifeboat:drill', Value: suffix }] },
            { DBInstanceIdentifier: `gone-drill-${suffix}`, DBInstanceStatus: 'deleting', TagList: ours },
            { DBInstanceIdentifier: 'untagged', DBInstanceStatus: 'available' },
          ],
        })
        // The second clean-up: RDS has deleted them.
        .resolves({ DBInstances: [] });
      primary
        .on(DescribeDBClustersCommand)
        .resolvesOnce({
          DBClusters: [
            { DBClusterIdentifier: `ledger-recovered-drill-${suffix}`, Status: 'available', TagList: ours },
            { DBClusterIdentifier: 'ledger-prod', Status: 'available', TagList: [] },
          ],
        })
        .resolves({ DBClusters: [] });
      dr.on(DescribeDBInstancesCommand)
        .resolvesOnce({ DBInstances: [{ DBInstanceIdentifier: `orders-dr-drill-${suffix}`, DBInstanceStatus: 'available', TagList: ours }] })
        .resolves({ DBInstances: [] });
      dr.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
      primary.on(DeleteDBInstanceCommand).resolves({});
      primary.on(DeleteDBClusterCommand).resolves({});
      dr.on(DeleteDBInstanceCommand).resolves({});
      const cleanup = { action: 'cleanup', plan: PLAN, suffix, executionId: executionIdFor(suffix) };

      const removed = await handleDrStepEvent(cleanup, deps);

      expect(removed).toEqual({
        plan: PLAN,
        suffix,
        databases: [],
        instances: [
          { region: REGION, identifier: `orders-recovered-drill-${suffix}` },
          { region: REGION, identifier: `ledger-recovered-drill-${suffix}` },
          { region: DR_REGION, identifier: `orders-dr-drill-${suffix}` },
        ],
        clusters: [{ region: REGION, identifier: `ledger-recovered-drill-${suffix}` }],
      });
      expect(commandsOf(primary)).toEqual([
        ['DescribeDBInstances', {}],
        ['DescribeDBInstances', { Marker: 'page-2' }],
        ['DescribeDBClusters', {}],
        ['DeleteDBInstance', { DBInstanceIdentifier: `orders-recovered-drill-${suffix}`, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }],
        ['DeleteDBInstance', { DBInstanceIdentifier: `ledger-recovered-drill-${suffix}` }],
        ['DeleteDBCluster', { DBClusterIdentifier: `ledger-recovered-drill-${suffix}`, SkipFinalSnapshot: true }],
      ]);
      expect(commandsOf(dr)).toEqual([
        ['DescribeDBInstances', {}],
        ['DescribeDBClusters', {}],
        ['DeleteDBInstance', { DBInstanceIdentifier: `orders-dr-drill-${suffix}`, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }],
      ]);

      expect(await handleDrStepEvent(cleanup, deps)).toEqual({ plan: PLAN, suffix, databases: [], instances: [], clusters: [] });
      expect(primary).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 2);
      expect(dr).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 1);
    });
  });
});
