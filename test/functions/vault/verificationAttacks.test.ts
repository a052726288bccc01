/**
 * The checks of the verification format an attacker (or damage) probes, one test each, so that weakening any of
 * them fails a test (mutation testing of functions/lib/vault/verification.ts, docs/security.md).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { VerificationResultInvalidError } from '../../../functions/lib/errors.ts';
import { verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import {
  type VerificationResult,
  newestVerification,
  parseVerification,
  readLatestVerification,
  readVerification,
  verificationBinding,
  verificationMacMessage,
  writeVerification,
} from '../../../functions/lib/vault/verification.ts';
import { canonicalJson } from '../../../functions/lib/crypto/canonical.ts';
import { manifestDigest } from '../../../functions/lib/vault/manifest.ts';
import { sampleManifest, sampleVerification } from './fixtures.ts';

const SOURCE = 'orders-db';
const BACKUP = '20261122T053327Z-k3x7q2ab';
const AT = new Date('2026-11-22T06:01:02.345Z');
const signer = localHmacSigner(Buffer.alloc(32, 7));
const manifest = sampleManifest({ sourceId: SOURCE, backupId: BACKUP });
const ids = { sourceId: SOURCE, backupId: BACKUP };
const bound = (overrides: Partial<VerificationResult> = {}, status: 'verified' | 'failed' = 'verified', at = AT): VerificationResult => ({
  ...sampleVerification({ sourceId: SOURCE, backupId: BACKUP, status, at, manifest }),
  ...overrides,
});
const sign = async (result: VerificationResult): Promise<VerificationResult> => ({ ...result, mac: await signer.sign(verificationMacMessage(result)) });

let root: string;
let store: LocalStore;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'lifeboat-verification-attacks-'));
  store = new LocalStore(root);
});
afterEach(() => rm(root, { recursive: true, force: true }));

const plant = (at: Date, body: unknown) => store.putObject(verificationKey(SOURCE, BACKUP, at), typeof body === 'string' ? body : JSON.stringify(body));

describe('parsing a result from the bytes a store returns', () => {
  const key = 'k';
  it.each([
    ['bytes that are not UTF-8, inside a JSON string', Buffer.concat([Buffer.from('{"format":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 'the newest verification result k is not valid JSON'],
    ['text that is not JSON', Buffer.from('{"format":'), 'the newest verification result k is not valid JSON'],
    ['a JSON array', Buffer.from('[]'), 'the newest verification result k is not a JSON object'],
    ['JSON null', Buffer.from('null'), 'the newest verification result k is not a JSON object'],
    ['another format', Buffer.from('{"format":"lifeboat-backup","formatVersion":"1.0"}'), 'the newest verification result k is not a verification result (format is not "lifeboat-verification")'],
    ['a version that is not MAJOR.MINOR', Buffer.from('{"format":"lifeboat-verification","formatVersion":"1"}'), 'the newest verification result k is invalid: formatVersion: must be "MAJOR.MINOR"'],
    ['a version with text around it', Buffer.from('{"format":"lifeboat-verification","formatVersion":"v1.1"}'), 'the newest verification result k is invalid: formatVersion: must be "MAJOR.MINOR"'],
  ])('names %s', (_label, bytes, problem) => {
    expect(parseVerification(bytes, key)).toEqual({ problem });
  });

  it('names each bad field by its path', () => {
    const result = { ...bound(), status: 'maybe', checks: [{ name: 'checksum', status: 'passed', durationMs: -1 }] };
    expect(parseVerification(Buffer.from(JSON.stringify(result)), key)).toEqual({
      problem: 'the newest verification result k is invalid: status: Invalid option: expected one of "verified"|"failed"; checks[0].durationMs: Too small: expected number to be >=0',
    });
  });

  it('refuses a result that completed before it started, and takes one that completed the same instant', () => {
    expect(parseVerification(JSON.stringify(bound({ completedAt: '2026-11-22T06:01:00.000Z', startedAt: '2026-11-22T06:01:00.001Z' })), key)).toEqual({
      problem: 'the newest verification result k is invalid: completedAt: must not be before startedAt',
    });
    expect(parseVerification(JSON.stringify(bound({ completedAt: '2026-11-22T06:01:00.000Z', startedAt: '2026-11-22T06:01:00.000Z' })), key)).toHaveProperty('result');
  });

  it('refuses a status that contradicts the checks, both ways', () => {
    expect(parseVerification(JSON.stringify({ ...bound({}, 'failed'), status: 'verified' }), key)).toEqual({
      problem: 'the newest verification result k is invalid: status: must be "failed" when a check failed',
    });
    expect(parseVerification(JSON.stringify({ ...bound(), status: 'failed', reason: 'x' }), key)).toEqual({
      problem: 'the newest verification result k is invalid: status: must be "verified" when no check failed',
    });
  });
});

describe('writing', () => {
  it('names the backup in every refusal', async () => {
    await expect(writeVerification(store, { ...bound(), formatVersion: '1.0' })).rejects.toThrow(
      new VerificationResultInvalidError(`Verification result for ${SOURCE}/${BACKUP} is invalid: formatVersion: this code writes "1.1"`),
    );
    await expect(writeVerification(store, undefined as unknown as VerificationResult)).rejects.toThrow(/^Verification result for undefined\/undefined is invalid: /);
    await expect(writeVerification(store, { ...bound(), formatVersion: 'one' })).rejects.toThrow(
      new VerificationResultInvalidError(`Verification result for ${SOURCE}/${BACKUP} is invalid: formatVersion: must be "MAJOR.MINOR"`),
    );
  });

  it('refuses a store that cannot write create-only, naming it', async () => {
    const { createObject: _create, ...plain } = store as unknown as Record<string, unknown>;
    const noCreate = Object.assign(Object.create(Object.getPrototypeOf(store) as object) as VaultStore, plain, { createObject: undefined, location: store.location });
    await expect(writeVerification(noCreate, bound())).rejects.toThrow(new VerificationResultInvalidError(`The vault ${store.location} cannot write create-only objects`));
  });

  it('passes on a store error that is not "already exists" at once, writing nothing else', async () => {
    const attempts: string[] = [];
    const failing = {
      location: 'failing',
      createObject: async (key: string) => {
        attempts.push(key);
        throw new Error('disk full');
      },
    } as unknown as VaultStore;
    await expect(writeVerification(failing, bound())).rejects.toThrow('disk full');
    expect(attempts).toEqual([verificationKey(SOURCE, BACKUP, AT)]);
  });

  it('takes the next free millisecond, up to a second after completedAt and not beyond', async () => {
    const tried: number[] = [];
    const taken = {
      location: 'taken',
      createObject: async (key: string) => {
        tried.push(Date.parse(`${key.slice(-25, -21)}-${key.slice(-21, -19)}-${key.slice(-19, -17)}T${key.slice(-16, -14)}:${key.slice(-14, -12)}:${key.slice(-12, -6)}Z`));
        throw Object.assign(new (await import('../../../functions/lib/errors.ts')).ObjectExistsError('exists'));
      },
    } as unknown as VaultStore;
    await expect(writeVerification(taken, bound())).rejects.toThrow(`Verification result for ${SOURCE}/${BACKUP}: 1000 results already completed in the same second`);
    expect(tried).toHaveLength(1000);
    expect(tried[0]).toBe(AT.getTime());
    expect(tried.at(-1)).toBe(AT.getTime() + 999);
  });
});

describe('reading without the key', () => {
  it('reports an unreadable newest result as a problem, with its key', async () => {
    await plant(AT, 'not json');
    expect(await readLatestVerification(store, SOURCE, BACKUP)).toEqual({
      status: 'unverified',
      key: verificationKey(SOURCE, BACKUP, AT),
      problem: `the newest verification result ${verificationKey(SOURCE, BACKUP, AT)} is not valid JSON`,
    });
  });

  it("reports a result of another source's backup of the same id", async () => {
    await plant(AT, { ...bound(), sourceId: 'billing-db' });
    expect((await readLatestVerification(store, SOURCE, BACKUP)).problem).toMatch(/describes backup billing-db\/20261122T053327Z-k3x7q2ab, not orders-db\//);
  });

  it('refuses a result whose payload hash is not the manifest\'s, even with the right manifest hash', async () => {
    await plant(AT, bound({ payloadSha256: 'f'.repeat(64) }));
    const read = await readLatestVerification(store, SOURCE, BACKUP, { manifest });
    expect(read).toMatchObject({ status: 'unverified', problem: expect.stringMatching(/judged another manifest/) as unknown });
  });

  it('takes a result written before binding (no manifestSha256) as stored when given the manifest', async () => {
    const { manifestSha256: _m, payloadSha256: _p, ...legacy } = bound();
    await plant(AT, { ...legacy, formatVersion: '1.0' });
    expect(await readLatestVerification(store, SOURCE, BACKUP, { manifest })).toMatchObject({ status: 'verified', authenticated: false });
  });

  it('newestVerification takes the newest name whatever order the keys come in, and skips keys of other folders', async () => {
    const older = new Date(AT.getTime() - 60_000);
    await plant(older, bound({}, 'failed', older));
    await plant(AT, bound({}, 'verified', AT));
    const keys = [verificationKey(SOURCE, BACKUP, AT), verificationKey(SOURCE, BACKUP, older)];
    expect((await newestVerification(store, keys, ids)).status).toBe('verified');
    expect((await newestVerification(store, [...keys].reverse(), ids)).status).toBe('verified');
    expect(await newestVerification(store, [verificationKey('billing-db', BACKUP, AT), `backups/${SOURCE}/${BACKUP}/manifest.json`], ids)).toEqual({ status: 'unverified' });
  });
});

describe('reading with the key', () => {
  const reading = { authenticator: signer, manifest };

  it('says a signed result without a binding is not bound, and counts it for nothing', async () => {
    const { manifestSha256: _m, payloadSha256: _p, ...unbound } = bound();
    const key = verificationKey(SOURCE, BACKUP, AT);
    await plant(AT, await sign(unbound));
    expect(await readVerification(store, key, ids, reading)).toEqual({ status: 'unverified', key, problem: `${key} is signed but not bound to a manifest` });
  });

  it('refuses a genuine result stored under an earlier name than its completedAt, or a second or more later', async () => {
    const genuine = await sign(bound());
    for (const offset of [-1, 1000, 5000]) {
      const at = new Date(AT.getTime() + offset);
      await plant(at, genuine);
      const key = verificationKey(SOURCE, BACKUP, at);
      expect(await readVerification(store, key, ids, reading)).toEqual({
        status: 'unverified',
        key,
        problem: `${key} is stored under another time than its signed completedAt ${AT.toISOString()} (a copy of an older result)`,
      });
    }
    // Within the second a same-millisecond collision can move it, it counts.
    await plant(new Date(AT.getTime() + 999), genuine);
    expect(await readVerification(store, verificationKey(SOURCE, BACKUP, new Date(AT.getTime() + 999)), ids, reading)).toMatchObject({ status: 'verified', authenticated: true });
  });

  it('counts every forgery it passes over, in one problem', async () => {
    const genuine = await writeVerification(store, bound({}, 'failed'), { signer });
    const attacker = localHmacSigner(Buffer.alloc(32, 9));
    for (const at of [new Date('2026-12-01T00:00:00.000Z'), new Date('2026-12-02T00:00:00.000Z')]) {
      const forged = bound({ completedAt: at.toISOString() }, 'verified', at);
      await plant(at, { ...forged, mac: await attacker.sign(verificationMacMessage(forged)) });
    }
    const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
    expect(read).toMatchObject({ status: 'failed', key: genuine, authenticated: true });
    expect(read.problem).toMatch(/^2 verification results ignored: .*20261202T000000\.000Z\.json fails authentication.*; .*20261201T000000\.000Z\.json fails authentication/);
    expect(read.ignored?.map((i) => i.unsigned)).toEqual([false, false]);
  });

  it('with nothing that counts, is unverified, and says why', async () => {
    await plant(AT, 'garbage');
    const read = await readLatestVerification(store, SOURCE, BACKUP, reading);
    expect(read).toEqual({
      status: 'unverified',
      ignored: [{ key: verificationKey(SOURCE, BACKUP, AT), reason: `the newest verification result ${verificationKey(SOURCE, BACKUP, AT)} is not valid JSON`, unsigned: false }],
      problem: `1 verification result ignored: the newest verification result ${verificationKey(SOURCE, BACKUP, AT)} is not valid JSON`,
    });
  });
});

describe('what a signature covers, and what a result must look like', () => {
  it('signs the format\'s own context line, then the canonical JSON of everything but the mac', () => {
    const result = { ...bound(), mac: 'x'.repeat(43) };
    const { mac: _mac, ...rest } = result;
    expect(verificationMacMessage(result)).toBe(`lifeboat-verification/1\n${canonicalJson(rest)}`);
  });

  it('binds a result to the manifest digest and the payload hash, and to no payload hash for a backup without one', () => {
    expect(verificationBinding(manifest)).toEqual({ manifestSha256: manifestDigest(manifest), payloadSha256: manifest.payload!.sha256 });
    const { payload: _payload, ...snapshot } = manifest;
    expect(verificationBinding(snapshot as typeof manifest)).toEqual({ manifestSha256: manifestDigest(snapshot as typeof manifest) });
  });

  it('never writes a mac it was given: without the key the stored result is unsigned', async () => {
    const key = await writeVerification(store, { ...bound(), mac: 'A'.repeat(43) });
    expect(JSON.parse((await store.getObject(key)).toString())).not.toHaveProperty('mac');
  });

  it.each([
    ['a JSON string', '"verified"', 'is not a JSON object'],
    ['a JSON number', '5', 'is not a JSON object'],
    ['a numeric formatVersion', JSON.stringify({ format: 'lifeboat-verification', formatVersion: 1.1 }), 'is invalid: formatVersion: must be "MAJOR.MINOR"'],
    ['a formatVersion with a suffix', JSON.stringify({ format: 'lifeboat-verification', formatVersion: '1.1x' }), 'is invalid: formatVersion: must be "MAJOR.MINOR"'],
    ['a two-digit major', JSON.stringify({ format: 'lifeboat-verification', formatVersion: '10.1' }), 'has format version 10.1, which this Lifeboat does not read (highest supported: 1.x)'],
  ])('refuses %s, naming why', (_label, text, problem) => {
    expect(parseVerification(text, 'k')).toEqual({ problem: `the newest verification result k ${problem}` });
  });

  it('reads a two-digit minor of major 1', () => {
    expect(parseVerification(JSON.stringify({ ...bound(), formatVersion: '1.10' }), 'k')).toHaveProperty('result');
  });

  it.each([
    ['manifestSha256 with a character before it', { manifestSha256: `x${'a'.repeat(64)}` }, 'manifestSha256: must be a lowercase hex SHA-256'],
    ['manifestSha256 with a character after it', { manifestSha256: `${'a'.repeat(64)}x` }, 'manifestSha256: must be a lowercase hex SHA-256'],
    ['a mac of 44 characters', { mac: 'A'.repeat(44) }, 'mac: must be a base64url HMAC-SHA256'],
    ['a mac after another character', { mac: `=${'A'.repeat(43)}` }, 'mac: must be a base64url HMAC-SHA256'],
    ['a restore server with a path after the port', { restoreTarget: { server: 'verify.internal:5432/x', database: 'd' } }, 'restoreTarget.server: must be host:port, never a URL or credentials'],
    ['a start time that is not UTC', { startedAt: '2026-11-22T06:01:00+01:00' }, 'startedAt: must be an ISO 8601 UTC timestamp ending in "Z"'],
    ['another source id', { sourceId: 'Orders DB' }, 'sourceId: must be a source id'],
    ['another backup id', { backupId: 'latest' }, 'backupId: must be a backup id'],
    ['no checks', { checks: [] }, 'checks: must list at least one check'],
    ['a table without a name', { tables: [{ schema: 'public', name: '', expectedRows: 1, status: 'passed' }] }, 'tables[0].name: Too small: expected string to have >=1 characters'],
    ['a table status of its own', { tables: [{ schema: 'public', name: 'orders', expectedRows: 1, status: 'fine' }] }, 'tables[0].status: Invalid option: expected one of "passed"|"failed"|"warning"'],
    ['an empty SQL check', { sqlChecks: [{ sql: '', status: 'passed' }] }, 'sqlChecks[0].sql: Too small: expected string to have >=1 characters'],
    ['a SQL check status of its own', { sqlChecks: [{ sql: 'SELECT true', status: 'warning' }] }, 'sqlChecks[0].status: Invalid option: expected one of "passed"|"failed"'],
  ])('refuses %s', (_label, change, problem) => {
    expect(parseVerification(JSON.stringify({ ...bound(), ...change }), 'k')).toEqual({ problem: `the newest verification result k is invalid: ${problem}` });
  });

  it('takes every table and SQL check status the format defines', () => {
    const tables = (['passed', 'failed', 'warning'] as const).map((status) => ({ schema: 'public', name: `t_${status}`, expectedRows: 1, actualRows: 1, status }));
    const sqlChecks = (['passed', 'failed'] as const).map((status) => ({ sql: 'SELECT true', status }));
    expect(parseVerification(JSON.stringify({ ...bound(), tables, sqlChecks }), 'k')).toEqual({ result: { ...bound(), tables, sqlChecks } });
  });

  it('says "unverified" of a single result that is unsigned or forged, read with the key', async () => {
    await plant(AT, bound());
    expect(await readVerification(store, verificationKey(SOURCE, BACKUP, AT), ids, { authenticator: signer, manifest })).toMatchObject({ status: 'unverified', result: bound() });
    const later = new Date(AT.getTime() + 60_000);
    const forged = bound({}, 'verified', later);
    await plant(later, { ...forged, mac: await localHmacSigner(Buffer.alloc(32, 1)).sign(verificationMacMessage(forged)) });
    expect(await readVerification(store, verificationKey(SOURCE, BACKUP, later), ids, { authenticator: signer, manifest })).toEqual({
      status: 'unverified',
      key: verificationKey(SOURCE, BACKUP, later),
      problem: `${verificationKey(SOURCE, BACKUP, later)} fails authentication with the verification key (forged or altered)`,
    });
  });
});
