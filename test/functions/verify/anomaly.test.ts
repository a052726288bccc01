import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DumpManifest } from '../../../functions/lib/engine/backup.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { checkSizeAnomaly, resolveAnomalyThresholds } from '../../../functions/lib/verify/index.ts';
import { sampleManifest, sampleVerification } from '../vault/fixtures.ts';

const SOURCE = 'orders-db';
const PAYLOAD = Buffer.from('stand-in payload');
const DEFAULTS = resolveAnomalyThresholds();

/** `20261101T010000Z-aaaaaaaa` … for day 1, 2, …: ids sort by day. */
const idFor = (day: number) => `202611${String(day).padStart(2, '0')}T010000Z-${'abcdefghijklmnopqrstuvwxyz'[day % 26]!.repeat(8)}`;

describe('checkSizeAnomaly', () => {
  let root: string;
  let store: LocalStore;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lifeboat-anomaly-'));
    store = new LocalStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  /** A backup of `rawBytes` on `day`, with verification results in order (the last is the newest). */
  async function add(day: number, rawBytes: number, verifications: ('verified' | 'failed')[] = ['verified']): Promise<DumpManifest> {
    const backupId = idFor(day);
    const base = sampleManifest();
    const manifest = sampleManifest({
      sourceId: SOURCE,
      backupId,
      startedAt: `2026-11-${String(day).padStart(2, '0')}T01:00:00.000Z`,
      completedAt: `2026-11-${String(day).padStart(2, '0')}T01:10:00.000Z`,
      payload: { ...base.payload!, rawBytes, storedBytes: PAYLOAD.length },
    }) as DumpManifest;
    await store.putObject(payloadKey(SOURCE, backupId), PAYLOAD);
    await writeManifest(store, manifest);
    for (const [index, status] of verifications.entries()) {
      const at = new Date(Date.parse(manifest.completedAt) + (index + 1) * 60_000);
      await store.putObject(verificationKey(SOURCE, backupId, at), JSON.stringify(sampleVerification({ sourceId: SOURCE, backupId, status, at, manifest })));
    }
    return manifest;
  }

  it('skips with fewer than two earlier verified backups, counting neither failed nor unverified ones', async () => {
    await add(1, 1000);
    await add(2, 1000, ['verified', 'failed']);
    await add(3, 1000, []);
    const current = await add(4, 10, []);

    expect(await checkSizeAnomaly(store, current, DEFAULTS)).toEqual({
      status: 'skipped',
      reason: '1 earlier verified backup of orders-db to compare with; at least 2 are needed',
    });
  });

  it('compares with the median of the newest `window` earlier verified backups, ignoring later ones', async () => {
    await add(1, 1); // outside the window of 3
    await add(2, 900);
    await add(3, 1000);
    await add(4, 5000, ['failed']); // not verified: not compared
    await add(5, 1100);
    const current = await add(6, 1500, []);
    await add(7, 1_000_000); // later than the backup being verified

    expect(await checkSizeAnomaly(store, current, { ...DEFAULTS, window: 3 })).toEqual({
      status: 'passed',
      anomaly: { rawBytes: 1500, medianRawBytes: 1000, ratio: 1.5, minRatio: 0.5, maxRatio: 2, compared: [idFor(5), idFor(3), idFor(2)], flagged: false },
    });
  });

  it('warns about a backup far smaller than usual, with the numbers', async () => {
    await add(1, 1000);
    await add(2, 2000);
    const current = await add(3, 300, []);

    expect(await checkSizeAnomaly(store, current, DEFAULTS)).toEqual({
      status: 'warning',
      reason: 'raw size 300 bytes is 0.20x the median 1500 bytes of the 2 previous verified backups (expected 0.5x to 2x): far smaller than usual',
      anomaly: { rawBytes: 300, medianRawBytes: 1500, ratio: 0.2, minRatio: 0.5, maxRatio: 2, compared: [idFor(2), idFor(1)], flagged: true },
    });
  });

  it('warns about a backup far larger than usual, by the configured ratio', async () => {
    await add(1, 1000);
    await add(2, 1000);
    await add(3, 1000);
    const current = await add(4, 1600, []);

    const outcome = await checkSizeAnomaly(store, current, { minRatio: 0.9, maxRatio: 1.5, window: 5 });

    expect(outcome.status).toBe('warning');
    expect(outcome.reason).toBe(
      'raw size 1600 bytes is 1.60x the median 1000 bytes of the 3 previous verified backups (expected 0.9x to 1.5x): far larger than usual',
    );
  });

  it('validates thresholds, naming every bad field', () => {
    expect(resolveAnomalyThresholds({ maxRatio: 3 })).toEqual({ minRatio: 0.5, maxRatio: 3, window: 5 });
    expect(() => resolveAnomalyThresholds({ minRatio: 0, maxRatio: 0.5, window: 1.5 })).toThrow(ConfigError);
    expect(() => resolveAnomalyThresholds({ minRatio: 0, maxRatio: 0.5, window: 1.5 })).toThrow(
      'Invalid size anomaly thresholds: anomaly.minRatio: must be a number in (0, 1], got 0; anomaly.maxRatio: must be a number >= 1, got 0.5; anomaly.window: must be a whole number >= 2, got 1.5',
    );
  });
});
