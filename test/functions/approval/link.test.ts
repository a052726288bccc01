// Approval links: built, signed and read back with the local signer; every change to a link makes it forged.
import { describe, expect, it } from 'vitest';
import { approvalIdFromPath, approvalLink, checkLink, newApprovalId, parseBaseUrl, signedMessage } from '../../../functions/approval/link.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { testSigner } from './support.ts';

const BASE = 'https://abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws';
const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
const EXP = 1_796_030_400; // 2026-11-30T09:20:00Z
const BEFORE = new Date((EXP - 60) * 1000);
const signer = testSigner();

const parts = (link: string) => {
  const url = new URL(link);
  return { approvalId: approvalIdFromPath(url.pathname), exp: url.searchParams.get('exp') ?? undefined, sig: url.searchParams.get('sig') ?? undefined };
};

describe('approval links', () => {
  it('round trip: the link names the id, exp and the HMAC of "<id>.<exp>", and checks as valid before exp', async () => {
    const link = await approvalLink(BASE, ID, EXP, signer);

    const sig = await signer.sign(`${ID}.${EXP}`);
    expect(link).toBe(`${BASE}/approvals/${ID}?exp=${EXP}&sig=${sig}`);
    const { approvalId, exp } = parts(link);
    expect(approvalId).toBe(ID);
    await expect(checkLink(ID, { exp, sig: parts(link).sig }, signer, BEFORE)).resolves.toEqual({ valid: true, approvalId: ID, exp: EXP, sig });
  });

  it('is expired from exp on, and only once its signature is valid', async () => {
    const { exp, sig } = parts(await approvalLink(BASE, ID, EXP, signer));

    await expect(checkLink(ID, { exp, sig }, signer, new Date(EXP * 1000 - 1))).resolves.toMatchObject({ valid: true });
    await expect(checkLink(ID, { exp, sig }, signer, new Date(EXP * 1000))).resolves.toEqual({ valid: false, reason: 'expired', exp: EXP });
    await expect(checkLink(ID, { exp, sig: `${sig!.slice(0, 42)}${sig!.endsWith('A') ? 'B' : 'A'}` }, signer, new Date(EXP * 1000 + 5000))).resolves.toEqual({
      valid: false,
      reason: 'forged',
    });
  });

  it('is forged with a flipped character, a signature for another id, a changed exp, another key, or a part missing', async () => {
    const { exp, sig } = parts(await approvalLink(BASE, ID, EXP, signer));
    const other = parts(await approvalLink(BASE, 'Zz9Jm2kT9xYw0bVnA4sLp8rC', EXP, signer));
    const flipped = `${sig!.slice(0, 10)}${sig![10] === 'x' ? 'y' : 'x'}${sig!.slice(11)}`;
    const foreign = parts(await approvalLink(BASE, ID, EXP, localHmacSigner(Buffer.alloc(32, 1))));

    for (const query of [
      { exp, sig: flipped },
      { exp, sig: other.sig },
      { exp: String(EXP + 3600), sig },
      { exp: `0${EXP}`, sig },
      { exp: `${EXP}.0`, sig },
      { exp, sig: foreign.sig },
      { exp: undefined, sig },
      { exp, sig: undefined },
      { exp: '', sig: '' },
    ]) {
      await expect(checkLink(ID, query, signer, BEFORE), JSON.stringify(query)).resolves.toEqual({ valid: false, reason: 'forged' });
    }
  });

  it('signs exactly "<approvalId>.<exp>"', () => {
    expect(signedMessage(ID, EXP)).toBe(`${ID}.${EXP}`);
  });

  it('makes ids of 144 random bits as 24 base64url characters, never twice the same', () => {
    const ids = Array.from({ length: 1000 }, () => newApprovalId());

    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('reads the id only from /approvals/<id>', () => {
    expect(approvalIdFromPath(`/approvals/${ID}`)).toBe(ID);
    for (const path of ['/', '/approvals', '/approvals/', `/approvals/${ID}/`, `/x/approvals/${ID}`, '/approvals/short', `/approvals/${ID}%3Cscript`, `/approvals/${ID}/../x`]) {
      expect(approvalIdFromPath(path), path).toBeUndefined();
    }
  });
});

describe('parseBaseUrl', () => {
  it('takes the function URL with or without its trailing slash', () => {
    expect(parseBaseUrl(`${BASE}/`)).toBe(BASE);
    expect(parseBaseUrl(BASE)).toBe(BASE);
  });

  it('takes an API stage URL (origin and one path segment), without its trailing slash', () => {
    const stage = 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/approve';
    expect(parseBaseUrl(`${stage}/`)).toBe(stage);
    expect(parseBaseUrl(stage)).toBe(stage);
  });

  it.each([
    ['not a URL', 'lambda-url', /is not a URL/],
    ['http', 'http://example.com', /must be an https URL/],
    ['a path of two segments', `${BASE}/approvals/x`, /origin alone/],
    ['a path with a dot segment', `${BASE}/a.b`, /origin alone/],
    ['a query', `${BASE}/?a=1`, /origin alone/],
    ['credentials', 'https://user:pw@example.com', /origin alone/],
  ])('refuses %s, naming the variable', (_label, value, expected) => {
    expect(() => parseBaseUrl(value)).toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/^APPROVAL_BASE_URL: /) }));
    expect(() => parseBaseUrl(value)).toThrow(expected);
  });
});
