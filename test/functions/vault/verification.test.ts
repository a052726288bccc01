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
  verificationMacMessage,
  writeVerification,
  reasonLine,
} from '../../../functions/lib/vault/verification.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { sampleManifest, sampleVerification } from './fixtures.ts';

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
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({ status: 'failed', key, result, authenticated: false });
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

  describe('with the verification key', () => {
    const signer = localHmacSigner(Buffer.alloc(32, 7));
    const attacker = localHmacSigner(Buffer.alloc(32, 9));
    const manifest = sampleManifest({ sourceId: SOURCE, backupId: BACKUP });
    const reading = { authenticator: signer, manifest };
    const bound = (status: 'verified' | 'failed', at: Date) => sampleVerification({ sourceId: SOURCE, backupId: BACKUP, status, at, manifest });
    const signedBy = async (key: typeof signer, result: VerificationResult) => ({ ...result, mac: await key.sign(verificationMacMessage(result)) });
    const plant = (name: string, result: unknown) => store.putObject(`backups/${SOURCE}/${BACKUP}/verifications/${name}`, JSON.stringify(result));
    const genuineFailure = () => writeVerification(store, bound('failed', AT), { signer });

    it('signs what it writes, and a reader with the key authenticates it', async () => {
      const key = await genuineFailure();
      const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
      expect(read).toMatchObject({ status: 'failed', key, authenticated: true });
      expect(read.result?.mac).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(read.ignored).toBeUndefined();
      expect(read.problem).toBeUndefined();
      expect(await signer.verify(verificationMacMessage(read.result!), read.result!.mac!)).toBe(true);
    });

    it('ignores a forged far-future "verified" result and reports it; the genuine failure stands', async () => {
      const genuine = await genuineFailure();
      await plant('99991231T235959.999Z.json', await signedBy(attacker, bound('verified', new Date('9999-12-31T23:59:59.999Z'))));
      const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
      expect(read).toMatchObject({ status: 'failed', key: genuine, authenticated: true });
      expect(read.problem).toBe(
        `1 verification result ignored: backups/${SOURCE}/${BACKUP}/verifications/99991231T235959.999Z.json fails authentication with the verification key (forged or altered)`,
      );
    });

    it('ignores a genuine result altered to say "verified"', async () => {
      const key = await genuineFailure();
      const stored = JSON.parse((await store.getObject(key)).toString()) as VerificationResult;
      await store.putObject(key, JSON.stringify({ ...stored, status: 'verified', checks: stored.checks.map((c) => ({ ...c, status: 'passed' })), reason: undefined }));
      const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
      expect(read.status).toBe('unverified');
      expect(read.problem).toMatch(/fails authentication/);
    });

    it('ignores an unsigned result quietly (no problem: results written before signing), and says so', async () => {
      await plant('99991231T235959.999Z.json', bound('verified', new Date('9999-12-31T23:59:59.999Z')));
      const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
      expect(read.status).toBe('unverified');
      expect(read.problem).toBeUndefined();
      expect(read.ignored).toEqual([
        { key: `backups/${SOURCE}/${BACKUP}/verifications/99991231T235959.999Z.json`, reason: expect.stringMatching(/is not signed/) as unknown, unsigned: true },
      ]);
    });

    it('ignores a genuine older pass replayed under a newer name', async () => {
      const pass = await writeVerification(store, bound('verified', new Date(AT.getTime() - 60_000)), { signer });
      const failure = await genuineFailure();
      await plant('20261122T070000.000Z.json', JSON.parse((await store.getObject(pass)).toString()));
      const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
      expect(read).toMatchObject({ status: 'failed', key: failure });
      expect(read.problem).toMatch(/20261122T070000\.000Z\.json is stored under another time than its signed completedAt/);
    });

    it('ignores a genuine result once the manifest it judged is replaced', async () => {
      await writeVerification(store, bound('verified', AT), { signer });
      const replaced = { ...manifest, content: { tables: [] } };
      const read = await readLatestVerification(store, SOURCE, BACKUP, { authenticator: signer, manifest: replaced });
      expect(read.status).toBe('unverified');
      expect(read.problem).toMatch(/judged another manifest .* than the one in the vault/);
    });

    it('without the key takes the newest by name and says it was not authenticated', async () => {
      await genuineFailure();
      await plant('99991231T235959.999Z.json', await signedBy(attacker, bound('verified', new Date('9999-12-31T23:59:59.999Z'))));
      expect(await readLatestVerification(store, SOURCE, BACKUP)).toMatchObject({ status: 'verified', authenticated: false });
    });

    it('needs the manifest to authenticate (a result is only good for the backup it judged)', async () => {
      await genuineFailure();
      await expect(readLatestVerification(store, SOURCE, BACKUP, { authenticator: signer })).rejects.toThrow(/needs the backup's manifest/);
    });

    it('refuses to write a result that is not bound to a manifest', async () => {
      const { manifestSha256: _m, ...unbound } = bound('verified', AT);
      await expect(writeVerification(store, unbound, { signer })).rejects.toThrow(/manifestSha256: is required/);
    });
  });
});

describe('reasonLine: the reason a check or result records', () => {
  it('is one trimmed line, at most 1,000 characters (cut with "..."), never empty', () => {
    expect(reasonLine('  restore failed:\r\n\n  relation "orders" does not exist \n')).toBe('restore failed:   relation "orders" does not exist');
    expect(reasonLine('a\nb')).toBe('a b');
    expect(reasonLine('x'.repeat(1000))).toBe('x'.repeat(1000));
    expect(reasonLine('y'.repeat(1001))).toBe(`${'y'.repeat(997)}...`);
    expect(reasonLine(' \n ')).toBe('failed');
    expect(reasonLine('')).toBe('failed');
  });
});
