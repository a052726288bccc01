import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MonitoredSchema, publishDrVaultFreshness, publishFreshness } from '../../../functions/freshness/freshness.ts';
import { emfPublisher } from '../../../functions/freshness/publish.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { rdsSnapshotCheck } from '../../../functions/lib/monitoring/snapshots.ts';
import type { MetricDatum } from '../../../functions/lib/monitoring/metrics.ts';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { manifestKey, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { sampleManifest, sampleVerification } from '../vault/fixtures.ts';

const NOW = new Date('2026-12-02T12:00:00.000Z');
const DUMP_ID = '20261202T100000Z-aaaaaaaa';
const SNAPSHOT_ID = '20261202T113000Z-bbbbbbbb';
const INSTANCE_SNAPSHOT = 'lifeboat-orders-db-20261202t100000z-aaaaaaaa';
const CLUSTER_SNAPSHOT = 'lifeboat-billing-db-20261202t113000z-bbbbbbbb';

describe('the freshness function publishes what the vaults and RDS say', () => {
  let dir: string;
  let primary: LocalStore;
  let dr: LocalStore;
  const rdsPrimary = mockClient(RDSClient);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-freshness-fn-'));
    primary = new LocalStore(path.join(dir, 'primary'));
    dr = new LocalStore(path.join(dir, 'dr'));
    rdsPrimary.reset();
    // orders-db: a verified dump 120 minutes old, copied to DR.
    for (const store of [primary, dr]) {
      await store.putObject(payloadKey('orders-db', DUMP_ID), 'x');
      await writeManifest(store, sampleManifest({ sourceId: 'orders-db', backupId: DUMP_ID, startedAt: '2026-12-02T10:00:00.000Z', completedAt: '2026-12-02T10:05:00.000Z', payload: { ...sampleManifest().payload!, storedBytes: 1 } }));
    }
    const at = new Date('2026-12-02T10:10:00.000Z');
    await primary.putObject(verificationKey('orders-db', DUMP_ID, at), JSON.stringify(sampleVerification({ sourceId: 'orders-db', backupId: DUMP_ID, status: 'verified', at })));
    // billing-db: a cluster snapshot 30 minutes old, not copied yet.
    const { payload: _p, compression: _c, encryption: _e, ...base } = sampleManifest();
    await primary.putObject(
      manifestKey('billing-db', SNAPSHOT_ID),
      JSON.stringify({
        ...base,
        sourceId: 'billing-db',
        backupId: SNAPSHOT_ID,
        kind: 'snapshot',
        engine: 'mysql',
        startedAt: '2026-12-02T11:30:00.000Z',
        completedAt: '2026-12-02T11:40:00.000Z',
        tools: { lifeboat: '0.1.0' },
        content: { tables: [] },
        snapshot: { arn: `arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:${CLUSTER_SNAPSHOT}`, identifier: CLUSTER_SNAPSHOT, region: 'eu-west-1' },
      }),
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the DR region\'s run reads its own vault alone: each source\'s copy lag, none for a source with no copy there (the alarm breaches), and the count outside the RPO', async () => {
    const published: { data: readonly MetricDatum[]; at: Date }[] = [];
    // The primary vault is not given at all: this run must work while the primary region is down.
    const summary = await publishDrVaultFreshness(
      { trigger: 'schedule' },
      { monitored: MonitoredSchema.parse({ sources: [{ id: 'orders-db', rpoMinutes: 240 }, { id: 'billing-db', rpoMinutes: 1500 }] }), dr, publish: (data, at) => published.push({ data, at }), now: () => NOW },
    );
    expect(summary.sources.map((s) => [s.sourceId, s.drCopyLagMinutes, s.drWithinRpo, s.lastDrCopy?.backupId ?? null])).toEqual([
      ['orders-db', 120, true, DUMP_ID],
      ['billing-db', null, false, null],
    ]);
    expect(published).toEqual([
      {
        at: NOW,
        data: [
          { name: 'DrCopyLagMinutes', value: 120, unit: 'None', dimensions: { sourceId: 'orders-db' } },
          { name: 'SourcesDrCopyOutsideRpo', value: 1, unit: 'Count', dimensions: {} },
        ],
      },
    ]);
    // Past the RPO: 241 minutes after the copy's start.
    const later = await publishDrVaultFreshness({}, { monitored: MonitoredSchema.parse({ sources: [{ id: 'orders-db', rpoMinutes: 240 }] }), dr, publish: () => undefined, now: () => new Date('2026-12-02T14:01:00.000Z') });
    expect(later.sources[0]).toMatchObject({ drCopyLagMinutes: 241, drWithinRpo: false });
  });

  it('publishes every source, plan and fleet figure, and asks RDS exactly about the snapshot it relies on', async () => {
    // Prepare
    rdsPrimary.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: CLUSTER_SNAPSHOT }).resolves({ DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: CLUSTER_SNAPSHOT, Status: 'available' }] });
    const published: { data: readonly MetricDatum[]; at: Date }[] = [];
    const rds = new RDSClient({ region: 'eu-west-1' });

    // Act
    const summary = await publishFreshness(
      { trigger: 'schedule' },
      {
        monitored: MonitoredSchema.parse({ sources: [{ id: 'orders-db', rpoMinutes: 240 }, { id: 'billing-db', rpoMinutes: 1500 }], plans: ['orders-failover'] }),
        primary,
        dr,
        snapshots: rdsSnapshotCheck({ primary: rds, dr: rds }),
        publish: (data, at) => published.push({ data, at }),
        now: () => NOW,
      },
    );

    // Assess
    expect(rdsPrimary).toReceiveCommandTimes(DescribeDBClusterSnapshotsCommand, 1);
    expect(rdsPrimary).toReceiveCommandWith(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: CLUSTER_SNAPSHOT });
    expect(rdsPrimary).toReceiveCommandTimes(DescribeDBSnapshotsCommand, 0);
    expect(published).toEqual([
      {
        at: NOW,
        data: [
          { name: 'MinutesSinceLastBackup', value: 120, unit: 'None', dimensions: { sourceId: 'orders-db' } },
          { name: 'MinutesSinceLastVerifiedBackup', value: 120, unit: 'None', dimensions: { sourceId: 'orders-db' } },
          { name: 'DrCopyLagMinutes', value: 120, unit: 'None', dimensions: { sourceId: 'orders-db' } },
          { name: 'LastBackupVerified', value: 1, unit: 'Count', dimensions: { sourceId: 'orders-db' } },
          { name: 'MinutesSinceLastBackup', value: 30, unit: 'None', dimensions: { sourceId: 'billing-db' } },
          { name: 'MinutesSinceLastVerifiedBackup', value: 30, unit: 'None', dimensions: { sourceId: 'billing-db' } },
          { name: 'LastBackupVerified', value: 1, unit: 'Count', dimensions: { sourceId: 'billing-db' } },
          { name: 'SourcesMonitored', value: 2, unit: 'Count', dimensions: {} },
          { name: 'SourcesOutsideRpo', value: 0, unit: 'Count', dimensions: {} },
          { name: 'SourcesDrCopyOutsideRpo', value: 1, unit: 'Count', dimensions: {} },
        ],
      },
    ]);
    expect(summary.published).toBe(10);
    expect(summary.plans).toEqual([{ plan: 'orders-failover', daysSinceLastPassed: null, problems: [] }]);
  });

  it('a snapshot RDS no longer has is not a verified backup', async () => {
    // Prepare
    rdsPrimary.on(DescribeDBClusterSnapshotsCommand).rejects(Object.assign(new Error('not found'), { name: 'DBClusterSnapshotNotFoundFault' }));
    const rds = new RDSClient({ region: 'eu-west-1' });
    let data: readonly MetricDatum[] = [];

    // Act
    await publishFreshness(undefined, {
      monitored: MonitoredSchema.parse({ sources: [{ id: 'billing-db', rpoMinutes: 1500 }] }),
      primary,
      dr,
      snapshots: rdsSnapshotCheck({ primary: rds, dr: rds }),
      publish: (d) => { data = d; },
      now: () => NOW,
    });

    // Assess
    expect(data.filter((d) => d.dimensions.sourceId === 'billing-db')).toEqual([
      { name: 'MinutesSinceLastBackup', value: 30, unit: 'None', dimensions: { sourceId: 'billing-db' } },
      { name: 'LastBackupVerified', value: 0, unit: 'Count', dimensions: { sourceId: 'billing-db' } },
    ]);
  });

  it('refuses a monitored list without sources and an event that is not an object, naming what is wrong', async () => {
    // Prepare
    const deps = { monitored: MonitoredSchema.parse({ sources: [{ id: 'orders-db', rpoMinutes: 240 }] }), primary, publish: () => undefined, now: () => NOW };

    // Act / Assess
    expect(() => MonitoredSchema.parse({ sources: [] })).toThrow(/sources/);
    await expect(publishFreshness('run now', deps)).rejects.toThrow(ConfigError);
    await expect(publishFreshness('run now', deps)).rejects.toThrow(/freshness event/);
  });
});

describe('EMF publishing through Powertools', () => {
  it('writes one record per datum with only its own dimensions (no service dimension) at the run time', () => {
    // Prepare
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
    const metrics = new Metrics({ namespace: 'Lifeboat', serviceName: 'lifeboat-freshness' });

    // Act
    try {
      emfPublisher(metrics)(
        [
          { name: 'MinutesSinceLastVerifiedBackup', value: 312, unit: 'None', dimensions: { sourceId: 'orders-db' } },
          { name: 'SourcesOutsideRpo', value: 1, unit: 'Count', dimensions: {} },
        ],
        NOW,
      );
    } finally {
      write.mockRestore();
      log.mockRestore();
    }

    // Assess
    const records = lines.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(records).toEqual([
      {
        _aws: { Timestamp: NOW.getTime(), CloudWatchMetrics: [{ Namespace: 'Lifeboat', Dimensions: [['sourceId']], Metrics: [{ Name: 'MinutesSinceLastVerifiedBackup', Unit: 'None' }] }] },
        sourceId: 'orders-db',
        MinutesSinceLastVerifiedBackup: 312,
      },
      {
        _aws: { Timestamp: NOW.getTime(), CloudWatchMetrics: [{ Namespace: 'Lifeboat', Dimensions: [], Metrics: [{ Name: 'SourcesOutsideRpo', Unit: 'Count' }] }] },
        SourcesOutsideRpo: 1,
      },
    ]);
  });
});
