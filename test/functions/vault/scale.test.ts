// How many store calls listing, finding and pruning make in a vault of many backups. Counted, not timed
// (timings are in `npm run bench:vault`): one paged listing however many backups, never one per backup,
// and reads only of what the answer needs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSummaries } from '../../../cli/commands/list.ts';
import { pruneVault } from '../../../functions/lib/retention/prune.ts';
import { latestVerificationReader } from '../../../functions/lib/retention/verification.ts';
import { READ_CONCURRENCY, findBackup, listBackups, mapConcurrent } from '../../../functions/lib/vault/catalog.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { storeBackup, storeIncomplete } from '../retention/vault.ts';

interface Counted {
  list: string[];
  getObject: string[];
  head: string[];
  delete: string[];
  /** Most reads (getObject) pending at once. */
  maxReads: number;
}

/** `store` with every call recorded by method. */
function counting(store: VaultStore): { store: VaultStore; calls: Counted; reset(): void } {
  const calls: Counted = { list: [], getObject: [], head: [], delete: [], maxReads: 0 };
  let reading = 0;
  const read = async <T,>(key: string, get: () => Promise<T>): Promise<T> => {
    calls.getObject.push(key);
    reading += 1;
    calls.maxReads = Math.max(calls.maxReads, reading);
    try {
      // A store's latency, so reads overlap as they do against S3.
      await new Promise((resolve) => setTimeout(resolve, 1));
      return await get();
    } finally {
      reading -= 1;
    }
  };
  const wrapped: VaultStore = {
    location: store.location,
    putStream: (key, body) => store.putStream(key, body),
    putObject: (key, data) => store.putObject(key, data),
    // Manifests are read as capped streams, other small objects whole: both are one GET, counted alike.
    getStream: (key) => read(key, () => store.getStream(key)),
    getObject: (key) => read(key, () => store.getObject(key)),
    head: (key) => (calls.head.push(key), store.head(key)),
    list: (prefix) => (calls.list.push(prefix), store.list(prefix)),
    delete: (key) => (calls.delete.push(key), store.delete(key)),
  };
  return {
    store: wrapped,
    calls,
    reset() {
      Object.assign(calls, { list: [], getObject: [], head: [], delete: [], maxReads: 0 });
    },
  };
}

const SOURCES = ['orders-db', 'billing-db'];
const PER_SOURCE = 60;
const NOW = new Date('2026-12-01T00:00:00Z');

function idAt(time: Date, n: number): string {
  const suffix = n.toString(32).padStart(8, '0').replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!);
  return `${time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${suffix}`;
}

let root: string;
let vault: LocalStore;
/** Per source: backup ids newest first, and how many have a verification result. */
const ids = new Map<string, string[]>();
let withResults = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'lifeboat-scale-'));
  vault = new LocalStore(root);
  let n = 0;
  const jobs: (() => Promise<void>)[] = [];
  for (const sourceId of SOURCES) {
    const list: string[] = [];
    for (let i = 0; i < PER_SOURCE; i += 1, n += 1) {
      const backupId = idAt(new Date(NOW.getTime() - (i * 12 + 2) * 3_600_000), n);
      list.push(backupId);
      // Every third backup never verified, every seventh verified twice (failed, then verified).
      const results: ('verified' | 'failed')[] = i % 3 === 1 ? [] : i % 7 === 0 ? ['failed', 'verified'] : ['verified'];
      if (results.length > 0) withResults += 1;
      jobs.push(() => storeBackup(vault, sourceId, backupId, results));
    }
    ids.set(sourceId, list);
  }
  // Two failed uploads of orders-db: one old, one in progress.
  jobs.push(() => storeIncomplete(vault, 'orders-db', idAt(new Date(NOW.getTime() - 50 * 3_600_000), 900)));
  jobs.push(() => storeIncomplete(vault, 'orders-db', idAt(new Date(NOW.getTime() - 3_600_000), 901)));
  await mapConcurrent(jobs, 8, (job) => job());
});
afterAll(() => rm(root, { recursive: true, force: true }));

const total = SOURCES.length * PER_SOURCE;

describe(`a vault of ${total} backups`, () => {
  it('listBackups: one listing, one read per manifest, reads bounded at READ_CONCURRENCY', async () => {
    const { store, calls } = counting(vault);

    const manifests = await listBackups(store);

    expect(manifests).toHaveLength(total);
    expect(calls.list).toEqual(['backups/']);
    expect(calls.getObject).toHaveLength(total);
    expect(calls.getObject.every((key) => key.endsWith('/manifest.json'))).toBe(true);
    expect(calls.head).toEqual([]);
    expect(calls.maxReads).toBe(READ_CONCURRENCY);
  });

  it('listBackups with a limit reads only the newest manifests', async () => {
    const { store, calls } = counting(vault);

    const manifests = await listBackups(store, { sourceId: 'billing-db', limit: 5 });

    expect(manifests.map((m) => m.backupId)).toEqual(ids.get('billing-db')!.slice(0, 5));
    expect(calls.list).toEqual(['backups/billing-db/']);
    expect(calls.getObject).toHaveLength(5);
  });

  it('lifeboat list: one listing, then the manifests and only the verification results that exist', async () => {
    const { store, calls } = counting(vault);

    const { backups, unreadable } = await listSummaries(store);

    expect(unreadable).toEqual([]);
    expect(backups).toHaveLength(total);
    expect(calls.list).toEqual(['backups/']);
    expect(calls.getObject.filter((k) => k.endsWith('/manifest.json'))).toHaveLength(total);
    // One read per backup that has results (its newest only); none for the never-verified ones.
    expect(calls.getObject.filter((k) => k.includes('/verifications/'))).toHaveLength(withResults);
    expect(backups.filter((b) => b.status.state === 'verified')).toHaveLength(withResults);
    expect(backups.filter((b) => b.status.state === 'unverified')).toHaveLength(total - withResults);
    expect(calls.maxReads).toBeLessThanOrEqual(READ_CONCURRENCY);
  });

  it('findBackup: one listing and one read', async () => {
    const { store, calls } = counting(vault);
    const wanted = ids.get('billing-db')![17]!;

    await expect(findBackup(store, wanted)).resolves.toMatchObject({ sourceId: 'billing-db', backupId: wanted });
    expect(calls.list).toEqual(['backups/']);
    expect(calls.getObject).toEqual([`backups/billing-db/${wanted}/manifest.json`]);
  });

  it('prune (dry run): one listing of the source, its manifests, and only the verification results that exist', async () => {
    const { store, calls } = counting(vault);

    const report = await pruneVault(store, {
      sourceId: 'orders-db',
      policy: { days: 7, keepLast: 3, gfs: { daily: 7, weekly: 2, monthly: 0, yearly: 0 } },
      timeZone: 'UTC',
      now: NOW,
      dryRun: true,
    });

    expect(report.errors).toEqual([]);
    expect(report.deleted.length).toBeGreaterThan(20);
    expect(calls.list).toEqual(['backups/orders-db/']);
    const verifiedHere = ids.get('orders-db')!.filter((_, i) => i % 3 !== 1).length;
    expect(calls.getObject.filter((k) => k.endsWith('/manifest.json'))).toHaveLength(PER_SOURCE);
    expect(calls.getObject.filter((k) => k.includes('/verifications/'))).toHaveLength(verifiedHere);
    expect(calls.getObject).toHaveLength(PER_SOURCE + verifiedHere);
    expect(calls.head).toEqual([]);
    expect(calls.delete).toEqual([]);
  });

  it('prune (for real): adds per deleted backup only its deletes and one listing after its manifest is gone', async () => {
    const copy = await mkdtemp(path.join(tmpdir(), 'lifeboat-scale-prune-'));
    try {
      const target = new LocalStore(copy);
      await mapConcurrent([...ids.get('billing-db')!.entries()], 8, ([i, backupId]) =>
        storeBackup(target, 'billing-db', backupId, i % 3 === 1 ? [] : ['verified']),
      );
      const { store, calls } = counting(target);

      const report = await pruneVault(store, {
        sourceId: 'billing-db',
        policy: { days: 7, keepLast: 3, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
        timeZone: 'UTC',
        now: NOW,
        dryRun: false,
      });

      const deleted = report.deleted.map((e) => e.id);
      expect(deleted.length).toBeGreaterThan(40);
      expect(report.errors).toEqual([]);
      expect(calls.list[0]).toBe('backups/billing-db/');
      expect(calls.list.slice(1).sort()).toEqual(deleted.map((id) => `backups/billing-db/${id}/`).sort());
      expect(calls.delete.filter((k) => k.endsWith('/manifest.json')).sort()).toEqual(deleted.map((id) => `backups/billing-db/${id}/manifest.json`).sort());
      expect((await listBackups(target, { sourceId: 'billing-db' })).map((m) => m.backupId)).toEqual(report.kept.map((e) => e.id));
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('latestVerificationReader: many questions about one source, one listing', async () => {
    const { store, calls } = counting(vault);
    const read = latestVerificationReader(store);

    const states = await Promise.all(ids.get('orders-db')!.map((backupId) => read({ sourceId: 'orders-db', backupId })));

    expect(calls.list).toEqual(['backups/orders-db/']);
    expect(states.map((s) => s.status)).toEqual(ids.get('orders-db')!.map((_, i) => (i % 3 === 1 ? 'unverified' : 'verified')));
    expect(calls.getObject).toHaveLength(states.filter((s) => s.status === 'verified').length);
  });
});
