// The approval link's shapes are anchored at both ends: an id, exp or signature with anything before or after
// it is a forged link, never re-read as a valid one (these kill the mutants StrykerJS found surviving:
// `npm run mutate -- --mutate functions/approval/link.ts`).
import { describe, expect, it } from 'vitest';
import { approvalIdFromPath, checkLink, readLinkQuery } from '../../../functions/approval/link.ts';
import { ApprovalRequestEventSchema } from '../../../functions/approval/request.ts';
import { executionConsoleUrl } from '../../../functions/approval/format.ts';
import { isCanonicalSignature, localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { testSigner } from './support.ts';

const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
const EXP = 1_796_030_400;
const BEFORE = new Date((EXP - 60) * 1000);
const signer = testSigner();

describe('approval ids in the path', () => {
  it.each([
    ['a character before it', `/approvals/.${ID}`],
    ['a character after it', `/approvals/${ID}.`],
    ['65 characters', `/approvals/${'a'.repeat(65)}`],
    ['21 characters', `/approvals/${'a'.repeat(21)}`],
    ['a path before /approvals', `/stage/approvals/${ID}`],
    ['a segment after the id', `/approvals/${ID}/x`],
  ])('refuses an id with %s', (_what, path) => {
    expect(approvalIdFromPath(path)).toBeUndefined();
  });

  it('reads ids of 22 and 64 characters', () => {
    expect(approvalIdFromPath(`/approvals/${'a'.repeat(22)}`)).toBe('a'.repeat(22));
    expect(approvalIdFromPath(`/approvals/${'a'.repeat(64)}`)).toBe('a'.repeat(64));
  });
});

describe('exp and sig of a link', () => {
  it('reads a well-formed exp and sig', async () => {
    const sig = await signer.sign(`${ID}.${EXP}`);
    expect(readLinkQuery({ exp: String(EXP), sig })).toEqual({ exp: EXP, sig });
  });

  it.each([
    ['a leading zero (another spelling of the same instant)', `0${EXP}`],
    ['a trailing character', `${EXP}x`],
    ['a leading character', `x${EXP}`],
    ['13 digits', '1'.repeat(13)],
    ['a sign', `+${EXP}`],
  ])('refuses an exp with %s', async (_what, exp) => {
    const sig = await signer.sign(`${ID}.${EXP}`);
    expect(readLinkQuery({ exp, sig })).toBeUndefined();
    await expect(checkLink(ID, { exp, sig }, signer, BEFORE)).resolves.toEqual({ valid: false, reason: 'forged' });
  });

  it.each([
    ['one character more at the end', (sig: string) => `${sig}A`],
    ['one character more at the start', (sig: string) => `A${sig}`],
    ['one character less', (sig: string) => sig.slice(1)],
  ])('refuses a signature with %s as forged, without a throw', async (_what, change) => {
    const sig = change(await signer.sign(`${ID}.${EXP}`));
    expect(isCanonicalSignature(sig)).toBe(false);
    expect(readLinkQuery({ exp: String(EXP), sig })).toBeUndefined();
    await expect(checkLink(ID, { exp: String(EXP), sig }, signer, BEFORE)).resolves.toEqual({ valid: false, reason: 'forged' });
  });

  it('a 44-character base64url string that decodes to 33 bytes is not a signature (the local signer would otherwise compare unequal lengths)', async () => {
    const long = 'A'.repeat(44);
    expect(Buffer.from(long, 'base64url').toString('base64url')).toBe(long);
    expect(isCanonicalSignature(long)).toBe(false);
    await expect(localHmacSigner(Buffer.alloc(32, 7)).verify('m', long)).resolves.toBe(false);
  });
});

describe('plan and step names in an approval request', () => {
  const event = { taskToken: 'token', plan: 'failover', stepId: 'approve-cutover', executionId: 'arn:x', mode: 'drill', escalation: false, contacts: ['oncall@example.com'], expiresInSeconds: 3600 };

  it.each([
    ['plan', 'Failover'],
    ['plan', 'failover/x'],
    ['plan', '-failover'],
    ['plan', `f${'x'.repeat(40)}`],
    ['stepId', 'approve cutover'],
    ['stepId', 'approve-cutover.'],
  ])('refuses %s %j', (field, value) => {
    const parsed = ApprovalRequestEventSchema.safeParse({ ...event, [field]: value });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([field]);
  });
});

describe('console links to an execution', () => {
  it('link only a Step Functions execution ARN, whole', () => {
    const arn = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-failover:drill-1';
    expect(executionConsoleUrl(arn)).toContain('eu-west-1.console.aws.amazon.com');
    expect(executionConsoleUrl(`x${arn}`)).toBeUndefined();
    expect(executionConsoleUrl(`${arn}:extra`)).toBeUndefined();
  });
});
