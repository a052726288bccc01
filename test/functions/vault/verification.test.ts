import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VerificationResultInvalidError } from '../../../functions/lib/errors.ts';
import { verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import {
  type VerificationResult,
  parseVerification,
  readLatestVerification,
  writeVerification,
} from '../../../functions/lib/vault/verification.ts';
import { sampleVerification } from './fixtures.ts';

const SOURCE = 'orders-db';
const BACKUP = '20261122T053327Z-k3x7q2ab';
const AT = new Date('2026-11-22T06:01:02.345Z');

describe('verification results', () => {
  let root: string;
  let store: LocalStore;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lifeboat-verification-format-'));
    store = new LocalStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const sample = (overrides: Partial<VerificationResult> = {}, status: 'verified' | 'failed' = 'verified'): VerificationResult => ({
    ...sampleVerification({ sourceId: SOURCE, backupId: BACKUP, status, at: AT }),
    ...overrides,
  });

  it('writes beside the manifest under its completion time and reads back exactly what was written', async () => {
    const result = sample(
      {
        anomaly: { rawBytes: 100, medianRawBytes: 400, ratio: 0.25, minRatio: 0.5, maxRatio: 2, compared: [BACKUP], flagged: true },
        restoreTarget: { server: 'verify.internal:5432', database: 'lb_verify_orders_db_0a1b2c3d' },
      },
      'failed',
    );

    const key = await writeVerification(store, result);

    expect(key).toBe(`backups/${SOURCE}/${BACKUP}/verifications/20261122T060102.345Z.json`);
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({ status: 'failed', key, result });
  });

  it('never overwrites an earlier result written in the same millisecond', async () => {
    const first = await writeVerification(store, sample());
    const second = await writeVerification(store, sample({}, 'failed'));
    expect(second).toBe(verificationKey(SOURCE, BACKUP, new Date(AT.getTime() + 1)));
    expect(first).not.toBe(second);
    expect((await readLatestVerification(store, SOURCE, BACKUP)).status).toBe('failed');
  });

  it.each([
    ['a failed check under status verified', () => ({ ...sample({}, 'failed'), status: 'verified' as const, reason: undefined }), /status: must be "failed" when a check failed/],
    ['a failure without a reason', () => ({ ...sample({}, 'failed'), reason: undefined }), /reason: is required when the status is "failed"/],
    ['a reason of several lines', () => sample({ reason: 'one\ntwo' }, 'failed'), /reason: must be one line/],
    ['a restore server given as a URL with a password', () => sample({ restoreTarget: { server: 'postgres://u:secret@h:5432', database: 'x' } }), /restoreTarget\.server: must be host:port/],
    ['an unknown check', () => sample({ checks: [{ name: 'vibes' as 'checksum', status: 'passed', durationMs: 1 }] }), /checks\[0\]\.name/],
  ])('refuses to write %s', async (_label, make, message) => {
    const write = writeVerification(store, make());
    await expect(write).rejects.toThrow(VerificationResultInvalidError);
    await expect(writeVerification(store, make())).rejects.toThrow(message);
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({ status: 'unverified' });
  });

  it('reads fields a newer 1.x minor adds, and refuses another major with a problem that says so', () => {
    const newerMinor = parseVerification(JSON.stringify({ ...sample(), formatVersion: '1.4', verifier: 'lambda' }), 'k');
    expect(newerMinor).toEqual({ result: { ...sample(), formatVersion: '1.4', verifier: 'lambda' } });

    expect(parseVerification(JSON.stringify({ ...sample(), formatVersion: '2.0' }), 'k')).toEqual({
      problem: 'the newest verification result k has format version 2.0, which this Lifeboat does not read (highest supported: 1.x)',
    });
  });

  it('reports a result that describes another backup as a problem', async () => {
    const other = '20261121T053327Z-aaaaaaaa';
    const key = verificationKey(SOURCE, BACKUP, AT);
    await store.putObject(key, JSON.stringify(sampleVerification({ sourceId: SOURCE, backupId: other, status: 'verified', at: AT })));
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({
      status: 'unverified',
      key,
      problem: `the newest verification result ${key} describes backup ${SOURCE}/${other}, not ${SOURCE}/${BACKUP}`,
    });
  });

  it('ignores objects in verifications/ that are not named like a result', async () => {
    await store.putObject(`backups/${SOURCE}/${BACKUP}/verifications/notes.json`, '{}');
    await store.putObject(`backups/${SOURCE}/${BACKUP}/verifications/zzz.json`, 'not json');
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({ status: 'unverified' });
  });
});
