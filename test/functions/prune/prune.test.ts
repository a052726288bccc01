import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteDBSnapshotCommand, DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pruneSource, type PruneDeps, type PruneSource } from '../../../functions/prune/prune.ts';
import { listBackups } from '../../../functions/lib/vault/catalog.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { storeBackup } from '../retention/vault.ts';

const NOW = new Date('2026-11-22T12:00:00Z');
const [OLDEST, OLD, VERIFIED, NEWEST] = ['20261101T010000Z-aaaaaaaa', '20261105T010000Z-bbbbbbbb', '20261110T010000Z-cccccccc', '20261121T010000Z-dddddddd'];

const orders: PruneSource = {
  id: 'orders-db',
  timeZone: 'Europe/Dublin',
  retention: { days: 1, keepLast: 1, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
  snapshots: true,
};

describe('pruneSource: one policy over both vaults and the snapshots in both regions', () => {
  const primaryRds = mockClient(new RDSClient({ region: 'eu-west-1' }));
  const drRds = mockClient(new RDSClient({ region: 'eu-central-1' }));
  let dir: string;
  let deps: PruneDeps;

  beforeEach(async () => {
    primaryRds.reset();
    drRds.reset();
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-prune-'));
    const primary = new LocalStore(join(dir, 'primary'));
    const dr = new LocalStore(join(dir, 'dr'));
    for (const store of [primary, dr]) {
      await storeBackup(store, 'orders-db', OLDEST);
      await storeBackup(store, 'orders-db', OLD, ['failed']);
      await storeBackup(store, 'orders-db', VERIFIED, ['verified']);
      await storeBackup(store, 'orders-db', NEWEST);
    }
    for (const client of [primaryRds, drRds]) {
      client.on(DescribeDBSnapshotsCommand).resolves({
        DBSnapshots: [OLDEST, NEWEST].map((id) => ({
          DBSnapshotIdentifier: `lifeboat-orders-db-${id.toLowerCase()}`,
          SnapshotType: 'manual',
          Status: 'available',
          TagList: [
            { Key: 'lifeboat:source', Value: 'orders-db' },
            { Key: 'lifeboat:backup-id', Value: id },
          ],
        })),
      });
      client.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
      client.on(DeleteDBSnapshotCommand).resolves({});
    }
    deps = {
      sources: [orders],
      vaults: [{ store: primary }, { store: dr }],
      rds: { 'eu-west-1': primaryRds as unknown as RDSClient, 'eu-central-1': drRds as unknown as RDSClient },
      now: () => NOW,
    };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the newest and the newest verified in both vaults and deletes the rest', async () => {
    const summary = await pruneSource({ sourceId: 'orders-db' }, deps);
    for (const vault of deps.vaults) {
      expect((await listBackups(vault.store, { sourceId: 'orders-db' })).map((m) => m.backupId)).toEqual([NEWEST, VERIFIED]);
    }
    expect(summary).toMatchObject({ sourceId: 'orders-db', dryRun: false, errors: [] });
    // Per vault: OLDEST and OLD deleted; snapshots: OLDEST in each region.
    expect(summary.deleted).toBe(2 + 2 + 2);
  });

  it('deletes the planned-away snapshot in each region, and only that one', async () => {
    await pruneSource({ sourceId: 'orders-db' }, deps);
    for (const client of [primaryRds, drRds]) {
      expect(client).toHaveReceivedCommandTimes(DeleteDBSnapshotCommand, 1);
      expect(client).toHaveReceivedCommandWith(DeleteDBSnapshotCommand, { DBSnapshotIdentifier: `lifeboat-orders-db-${OLDEST.toLowerCase()}` });
    }
  });

  it('deletes nothing in a dry run but reports what would go', async () => {
    const summary = await pruneSource({ sourceId: 'orders-db', dryRun: true }, deps);
    expect(summary.deleted).toBe(6);
    for (const vault of deps.vaults) expect(await listBackups(vault.store, { sourceId: 'orders-db' })).toHaveLength(4);
    expect(primaryRds).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
    expect(drRds).not.toHaveReceivedCommand(DeleteDBSnapshotCommand);
  });

  it('leaves snapshots alone for a source Lifeboat does not snapshot', async () => {
    await pruneSource({ sourceId: 'orders-db' }, { ...deps, sources: [{ ...orders, snapshots: false }] });
    expect(primaryRds).not.toHaveReceivedCommand(DescribeDBSnapshotsCommand);
  });

  it('refuses an unknown source and a malformed event, naming the field', async () => {
    await expect(pruneSource({ sourceId: 'billing-db' }, deps)).rejects.toThrow(/sourceId: unknown source 'billing-db'/);
    await expect(pruneSource({ dryRun: 'yes' }, deps)).rejects.toThrow(/sourceId/);
  });
});
