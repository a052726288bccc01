import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, InvalidIdentifierError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import type { ReadProtection } from '../../../functions/lib/retention/objectLock.ts';
import type { RetentionPolicy } from '../../../functions/lib/retention/plan.ts';
import { pruneVault, type PruneVaultOptions } from '../../../functions/lib/retention/prune.ts';
import { formatRetentionReport, type RetentionReport } from '../../../functions/lib/retention/report.ts';
import { listBackups, listIncomplete } from '../../../functions/lib/vault/catalog.ts';
import { backupPrefix, manifestKey, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { allKeys, instrumented, storeBackup, storeIncomplete } from './vault.ts';

const SOURCE = 'orders-db';
const NOW = new Date('2026-11-22T12:00:00Z');
const POLICY: RetentionPolicy = { days: 3, keepLast: 2, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } };

const B0_FAILED = '20261105T010000Z-aaaaaaaa';
const B1_REVERIFIED = '20261110T010000Z-bbbbbbbb';
const B2_NEWEST_VERIFIED = '20261112T010000Z-cccccccc';
const B3_UNVERIFIED = '20261115T010000Z-dddddddd';
const B4_RECENT_FAILURE = '20261120T010000Z-eeeeeeee';
const B5 = '20261121T010000Z-ffffffff';
const B6 = '20261122T010000Z-gggggggg';
const I1_STALE = '20261121T000000Z-hhhhhhhh';
const I2_FRESH = '20261122T100000Z-iiiiiiii';
const OTHER_SOURCE = '20261101T010000Z-jjjjjjjj';

const PLANNED_AWAY = [I1_STALE, B3_UNVERIFIED, B1_REVERIFIED, B0_FAILED];

let root: string;
let vault: LocalStore;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'lifeboat-retention-'));
  vault = new LocalStore(root);
  await storeBackup(vault, SOURCE, B0_FAILED, ['failed']);
  await storeBackup(vault, SOURCE, B1_REVERIFIED, ['failed', 'verified']);
  await storeBackup(vault, SOURCE, B2_NEWEST_VERIFIED, ['verified']);
  await storeBackup(vault, SOURCE, B3_UNVERIFIED);
  await storeBackup(vault, SOURCE, B4_RECENT_FAILURE, ['failed']);
  await storeBackup(vault, SOURCE, B5);
  await storeBackup(vault, SOURCE, B6);
  await storeIncomplete(vault, SOURCE, I1_STALE);
  await storeIncomplete(vault, SOURCE, I2_FRESH);
  await storeBackup(vault, 'billing', OTHER_SOURCE);
});
afterEach(() => rm(root, { recursive: true, force: true }));

function prune(store: VaultStore, overrides: Partial<PruneVaultOptions> = {}): Promise<RetentionReport> {
  return pruneVault(store, { sourceId: SOURCE, policy: POLICY, timeZone: 'UTC', now: NOW, dryRun: false, ...overrides });
}

const ids = (entries: readonly { id: string }[]) => entries.map((e) => e.id);
const keysOf = (keys: string[], backupId: string) => keys.filter((k) => k.startsWith(backupPrefix(SOURCE, backupId)));

describe('pruneVault, dry run', () => {
  it('deletes nothing and reports what would go and why each backup stays', async () => {
    const before = await allKeys(vault);

    const report = await prune(vault, { dryRun: true });

    expect(await allKeys(vault)).toEqual(before);
    expect(report).toEqual({
      subject: `vault backups of orders-db in ${root}`,
      sourceId: SOURCE,
      dryRun: true,
      now: NOW,
      timeZone: 'UTC',
      policy: POLICY,
      kept: [
        {
          id: I2_FRESH,
          at: new Date('2026-11-22T10:00:00Z'),
          status: 'incomplete',
          reasons: ['incomplete, started 2 h ago: may still be being written (grace 24 h)'],
        },
        { id: B6, at: new Date('2026-11-22T01:10:00Z'), status: 'unverified', reasons: ['keep-last 1/2', 'within 3 days'] },
        { id: B5, at: new Date('2026-11-21T01:10:00Z'), status: 'unverified', reasons: ['keep-last 2/2', 'within 3 days'] },
        {
          id: B4_RECENT_FAILURE,
          at: new Date('2026-11-20T01:10:00Z'),
          status: 'failed',
          reasons: ['within 3 days (failed, kept for diagnosis)'],
        },
        { id: B2_NEWEST_VERIFIED, at: new Date('2026-11-12T01:10:00Z'), status: 'verified', reasons: ['newest verified'] },
      ],
      deleted: [
        {
          id: I1_STALE,
          at: new Date('2026-11-21T00:00:00Z'),
          status: 'incomplete',
          reasons: ['incomplete, started 36 h ago (grace 24 h): never restorable'],
        },
        { id: B3_UNVERIFIED, at: new Date('2026-11-15T01:10:00Z'), status: 'unverified', reasons: ['no rule keeps it'] },
        { id: B1_REVERIFIED, at: new Date('2026-11-10T01:10:00Z'), status: 'verified', reasons: ['no rule keeps it'] },
        {
          id: B0_FAILED,
          at: new Date('2026-11-05T01:10:00Z'),
          status: 'failed',
          reasons: ['failed verification, older than 3 days'],
        },
      ],
      protected: [],
      errors: [],
    });
  });

  it('formats the report for `lifeboat prune --dry-run`', async () => {
    const report = await prune(vault, { dryRun: true, timeZone: 'Europe/Berlin' });

    expect(formatRetentionReport(report)).toBe(
      [
        `Retention of vault backups of orders-db in ${root} (dry run: nothing was deleted)`,
        'Policy: keep-last 2, 3 days, daily 0, weekly 0, monthly 0, yearly 0; time zone Europe/Berlin; now 2026-11-22T12:00:00.000Z',
        '',
        'Would delete (4):',
        '  20261121T000000Z-hhhhhhhh  2026-11-21 01:00 +01:00  incomplete  incomplete, started 36 h ago (grace 24 h): never restorable',
        '  20261115T010000Z-dddddddd  2026-11-15 02:10 +01:00  unverified  no rule keeps it',
        '  20261110T010000Z-bbbbbbbb  2026-11-10 02:10 +01:00  verified    no rule keeps it',
        '  20261105T010000Z-aaaaaaaa  2026-11-05 02:10 +01:00  failed      failed verification, older than 3 days',
        '',
        'Kept (5):',
        '  20261122T100000Z-iiiiiiii  2026-11-22 11:00 +01:00  incomplete  incomplete, started 2 h ago: may still be being written (grace 24 h)',
        '  20261122T010000Z-gggggggg  2026-11-22 02:10 +01:00  unverified  keep-last 1/2, within 3 days',
        '  20261121T010000Z-ffffffff  2026-11-21 02:10 +01:00  unverified  keep-last 2/2, within 3 days',
        '  20261120T010000Z-eeeeeeee  2026-11-20 02:10 +01:00  failed      within 3 days (failed, kept for diagnosis)',
        '  20261112T010000Z-cccccccc  2026-11-12 02:10 +01:00  verified    newest verified',
        '',
        'Protected, kept although the policy would delete them (0): none',
        '',
        'Errors (0): none',
        '',
        'Summary: 4 would be deleted, 5 kept, 0 protected, 0 errors',
        '',
      ].join('\n'),
    );
  });
});

describe('pruneVault', () => {
  it('deletes exactly the planned backups, each manifest first, and nothing of other sources', async () => {
    const before = await allKeys(vault);
    const { store, deletes } = instrumented(vault);

    const report = await prune(store);

    const after = await allKeys(vault);
    const removed = PLANNED_AWAY.flatMap((id) => keysOf(before, id));
    expect(after).toEqual(before.filter((key) => !removed.includes(key)));
    expect([...deletes].sort()).toEqual([...removed].sort());
    for (const id of [B3_UNVERIFIED, B1_REVERIFIED, B0_FAILED]) {
      expect(deletes.find((key) => key.startsWith(backupPrefix(SOURCE, id))), id).toBe(manifestKey(SOURCE, id));
    }
    expect(ids(report.deleted)).toEqual(PLANNED_AWAY);
    expect(ids(report.kept)).toEqual([I2_FRESH, B6, B5, B4_RECENT_FAILURE, B2_NEWEST_VERIFIED]);
    expect(report.errors).toEqual([]);
    expect((await listBackups(vault, { sourceId: SOURCE })).map((m) => m.backupId)).toEqual([B6, B5, B4_RECENT_FAILURE, B2_NEWEST_VERIFIED]);
    expect((await listIncomplete(vault, { sourceId: SOURCE })).map((b) => b.backupId)).toEqual([I2_FRESH]);
    expect((await listBackups(vault, { sourceId: 'billing' })).map((m) => m.backupId)).toEqual([OTHER_SOURCE]);
  });

  it('keeps pruning the others when one backup cannot be deleted, and reports it', async () => {
    const { store } = instrumented(vault, (key) =>
      key === manifestKey(SOURCE, B3_UNVERIFIED) ? new StoreWriteFailedError('disk on fire') : undefined,
    );

    const report = await prune(store);

    expect(report.errors).toEqual([{ id: B3_UNVERIFIED, step: 'delete', error: 'StoreWriteFailedError', message: 'disk on fire' }]);
    expect(ids(report.deleted)).toEqual([I1_STALE, B1_REVERIFIED, B0_FAILED]);
    // Its manifest was never removed, so it is whole and still restorable.
    expect((await listBackups(vault, { sourceId: SOURCE })).map((m) => m.backupId)).toContain(B3_UNVERIFIED);
    expect(await vault.head(payloadKey(SOURCE, B3_UNVERIFIED))).toBeDefined();
  });

  it('reports a delete refused by Object Lock as protected, not as an error', async () => {
    const refusal = Object.assign(new Error('Access Denied because object protected by object lock.'), { name: 'AccessDenied' });
    const { store } = instrumented(vault, (key) => (key.startsWith(backupPrefix(SOURCE, B1_REVERIFIED)) ? refusal : undefined));

    const report = await prune(store);

    expect(report.errors).toEqual([]);
    expect(report.protected).toEqual([
      {
        id: B1_REVERIFIED,
        at: new Date('2026-11-10T01:10:00Z'),
        status: 'verified',
        reasons: ['object lock refused the delete (AccessDenied: Access Denied because object protected by object lock.)', 'no rule keeps it'],
      },
    ]);
    expect(ids(report.deleted)).toEqual([I1_STALE, B3_UNVERIFIED, B0_FAILED]);
    expect(keysOf(await allKeys(vault), B1_REVERIFIED)).toHaveLength(4);
  });

  it('after removing a manifest, reports what it could not remove, and the next prune finishes it as incomplete', async () => {
    const { store } = instrumented(vault, (key) =>
      key === payloadKey(SOURCE, B3_UNVERIFIED) ? new StoreWriteFailedError('throttled') : undefined,
    );

    const first = await prune(store);

    expect(first.errors).toEqual([
      {
        id: B3_UNVERIFIED,
        step: 'delete',
        error: 'StoreWriteFailedError',
        message:
          `manifest deleted, but 1 of 1 objects remain (${payloadKey(SOURCE, B3_UNVERIFIED)}); first failure: throttled. ` +
          'The next prune removes them as an incomplete backup.',
      },
    ]);
    expect((await listBackups(vault, { sourceId: SOURCE })).map((m) => m.backupId)).not.toContain(B3_UNVERIFIED);

    const second = await prune(vault);

    expect(second.deleted).toEqual([
      {
        id: B3_UNVERIFIED,
        at: new Date('2026-11-15T01:00:00Z'),
        status: 'incomplete',
        reasons: ['incomplete, started 7 days ago (grace 24 h): never restorable'],
      },
    ]);
    expect(keysOf(await allKeys(vault), B3_UNVERIFIED)).toEqual([]);
  });

  it('deletes no complete backup when a verification status cannot be read, but still clears stale uploads', async () => {
    await vault.putObject(verificationKey(SOURCE, B5, new Date('2026-11-22T11:00:00Z')), '{"status": "verif');
    const before = await allKeys(vault);

    const report = await prune(vault);

    expect(report.errors).toEqual([
      {
        id: B5,
        step: 'read-verification',
        error: 'UnreadableVerificationResult',
        message: `the newest verification result ${verificationKey(SOURCE, B5, new Date('2026-11-22T11:00:00Z'))} is not valid JSON`,
      },
    ]);
    expect(ids(report.deleted)).toEqual([I1_STALE]);
    expect(await allKeys(vault)).toEqual(before.filter((key) => !key.startsWith(backupPrefix(SOURCE, I1_STALE))));
    expect(report.kept.find((e) => e.id === B3_UNVERIFIED)?.reasons).toEqual([
      'deletion skipped: the verification status of 1 backup could not be read',
      'no rule keeps it',
    ]);
  });

  it('asks about protection only for backups about to go, and leaves alone what is locked or unknown', async () => {
    const asked: { backupId: string; keys: readonly string[] }[] = [];
    const readProtection: ReadProtection = async ({ backupId, keys }) => {
      asked.push({ backupId, keys });
      if (backupId === B1_REVERIFIED) throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      if (backupId === B3_UNVERIFIED) return { objectLockUntil: new Date('2026-12-01T00:00:00Z') };
      if (backupId === I1_STALE) return { legalHold: true };
      return undefined;
    };

    const report = await prune(vault, { readProtection });

    expect(asked.map((a) => a.backupId).sort()).toEqual([...PLANNED_AWAY].sort());
    expect(asked.find((a) => a.backupId === B1_REVERIFIED)?.keys).toEqual([
      manifestKey(SOURCE, B1_REVERIFIED),
      payloadKey(SOURCE, B1_REVERIFIED),
      verificationKey(SOURCE, B1_REVERIFIED, new Date('2026-11-10T01:20:00Z')),
      verificationKey(SOURCE, B1_REVERIFIED, new Date('2026-11-10T01:21:00Z')),
    ]);
    expect(ids(report.deleted)).toEqual([B0_FAILED]);
    expect(report.protected.map((e) => [e.id, e.reasons])).toEqual([
      [I1_STALE, ['incomplete, started 36 h ago (grace 24 h): never restorable', 'legal hold']],
      [B3_UNVERIFIED, ['object lock until 2026-12-01T00:00:00.000Z']],
    ]);
    expect(report.kept.find((e) => e.id === B1_REVERIFIED)?.reasons).toEqual([
      'deletion skipped: its Object Lock status could not be read',
      'no rule keeps it',
    ]);
    expect(report.errors).toEqual([{ id: B1_REVERIFIED, step: 'read-protection', error: 'AccessDenied', message: 'Access Denied' }]);
    expect(keysOf(await allKeys(vault), B3_UNVERIFIED)).toHaveLength(2);
  });

  it('never deletes an upload that completes while it prunes', async () => {
    const report = await prune(vault, {
      readProtection: async ({ backupId }) => {
        if (backupId === I1_STALE) await storeBackup(vault, SOURCE, I1_STALE);
        return undefined;
      },
    });

    expect(ids(report.deleted)).toEqual([B3_UNVERIFIED, B1_REVERIFIED, B0_FAILED]);
    expect(report.kept.find((e) => e.id === I1_STALE)?.reasons).toEqual(['completed while pruning: left for the next run']);
    expect((await listBackups(vault, { sourceId: SOURCE })).map((m) => m.backupId)).toContain(I1_STALE);
  });

  it('uses the configured grace period for incomplete backups', async () => {
    const report = await prune(vault, { incompleteGraceMs: 60 * 60 * 1000 });

    expect(ids(report.deleted)).toEqual([I2_FRESH, ...PLANNED_AWAY]);
    expect(await listIncomplete(vault, { sourceId: SOURCE })).toEqual([]);
  });

  it('leaves a backup whose manifest it cannot read, and reports it', async () => {
    const unreadable = '20261122T050000Z-kkkkkkkk';
    await vault.putObject(payloadKey(SOURCE, unreadable), 'x');
    await vault.putObject(manifestKey(SOURCE, unreadable), JSON.stringify({ format: 'lifeboat-backup', formatVersion: '2.0' }));

    const report = await prune(vault);

    expect(report.errors).toEqual([
      expect.objectContaining({ id: unreadable, step: 'read-manifest', error: 'UnsupportedFormatVersionError' }),
    ]);
    expect(keysOf(await allKeys(vault), unreadable)).toHaveLength(2);
    expect(ids(report.deleted)).toEqual(PLANNED_AWAY);
  });

  it('plans with the verification status it is given', async () => {
    const report = await prune(vault, {
      dryRun: true,
      readVerification: async ({ backupId }) => ({ status: backupId === B3_UNVERIFIED ? 'verified' : 'unverified' }),
    });

    expect(report.kept.find((e) => e.id === B3_UNVERIFIED)).toEqual(
      expect.objectContaining({ status: 'verified', reasons: ['newest verified'] }),
    );
    expect(ids(report.deleted)).toContain(B2_NEWEST_VERIFIED);
  });

  it('with every rule off keeps only the newest verified backup and uploads still in progress', async () => {
    await prune(vault, { policy: { days: 0, keepLast: 0, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } } });

    expect((await listBackups(vault, { sourceId: SOURCE })).map((m) => m.backupId)).toEqual([B2_NEWEST_VERIFIED]);
    expect((await listIncomplete(vault, { sourceId: SOURCE })).map((b) => b.backupId)).toEqual([I2_FRESH]);
  });

  it('refuses a bad policy, time zone or source id before touching the vault', async () => {
    const { store, deletes } = instrumented(vault);
    await expect(prune(store, { policy: { ...POLICY, keepLast: -1 } })).rejects.toThrow(ConfigError);
    await expect(prune(store, { timeZone: 'Nowhere/Special' })).rejects.toThrow(ConfigError);
    await expect(prune(store, { sourceId: 'Orders DB' })).rejects.toThrow(InvalidIdentifierError);
    await expect(prune(store, { incompleteGraceMs: -1 })).rejects.toThrow(RangeError);
    expect(deletes).toEqual([]);
  });
});

describe('pruneVault over configuration backups (kind config)', () => {
  it('reads their manifests like dumps\': the newest verified is kept, older ones past the policy are deleted, nothing is reported unreadable', async () => {
    const { runConfigBackup } = await import('../../../functions/lib/configset/index.ts');
    const { verifyConfigSetBackup } = await import('../../../functions/lib/verify/configSet.ts');
    const { FakeCloudFormation } = await import('../configset/fakes.ts');
    const { testKeyring } = await import('../engine/helpers.ts');
    const root = await mkdtemp(path.join(tmpdir(), 'lifeboat-prune-config-'));
    try {
      const store = new LocalStore(root);
      const keyring = testKeyring();
      const ids: string[] = [];
      for (const day of [1, 2, 3, 4]) {
        const manifest = await runConfigBackup({
          sourceId: 'orders-config',
          selection: { ssmPaths: [], secretPrefixes: [], secretTags: [], stacks: ['orders-app'] },
          region: 'eu-west-1',
          clients: { cloudFormation: new FakeCloudFormation().add('orders-app', `{"v":${day}}`, {}) },
          store,
          keyring,
          now: new Date(Date.UTC(2026, 10, day, 3)),
        });
        await verifyConfigSetBackup({ store, keyring, sourceId: 'orders-config', backupId: manifest.backupId, now: () => new Date(Date.UTC(2026, 10, day, 4)) });
        ids.push(manifest.backupId);
      }
      const report = await pruneVault(store, { sourceId: 'orders-config', policy: { days: 1, keepLast: 2, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } }, timeZone: 'UTC', now: new Date('2026-11-22T12:00:00Z'), dryRun: false });
      expect(report.errors).toEqual([]);
      expect(report.deleted.map((d) => d.id).sort()).toEqual([ids[0], ids[1]]);
      expect((await allKeys(store)).filter((k) => k.endsWith('manifest.json')).map((k) => k.split('/')[2]).sort()).toEqual([ids[2], ids[3]]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
