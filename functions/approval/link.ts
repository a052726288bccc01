/**
 * Approval links: `<base>/approvals/<approvalId>?exp=<unix seconds>&sig=<base64url HMAC-SHA256 of
 * "<approvalId>.<exp>">` (docs/dr-plans.md, "Approval links"). The link is the only credential an approver
 * needs, so it is checked in full (signature, then expiry) before anything is read from the store.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../lib/errors.ts';
import { isCanonicalSignature, type MacSigner } from '../lib/crypto/mac.ts';

/** An approval id: random base64url. Ours are 24 characters (144 bits); anything from 22 (128 bits) is read. */
export const APPROVAL_ID_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;
const APPROVAL_PATH = /^\/approvals\/([^/]+)$/;
/** Unix seconds, without leading zeros: one spelling per instant, so a link cannot be re-spelled. */
const EXP_PATTERN = /^[1-9][0-9]{0,11}$/;

/** A fresh approval id: 18 random bytes (144 bits) as 24 base64url characters. */
export function newApprovalId(): string {
  return randomBytes(18).toString('base64url');
}

/** What is signed: `<approvalId>.<exp>`. */
export function signedMessage(approvalId: string, exp: number): string {
  return `${approvalId}.${exp}`;
}

/** The path and query of an approval link below its base URL. */
export function approvalPath(approvalId: string, exp: number, sig: string): string {
  return `/approvals/${approvalId}?${new URLSearchParams({ exp: String(exp), sig }).toString()}`;
}

/**
 * Where the page's form posts: the link itself, relative to the page (`<id>?exp=…&sig=…`), so it stays right
 * below any base path (the API stage, `https://HOST/<stage>/approvals/<id>`).
 */
export function approvalFormAction(approvalId: string, exp: number, sig: string): string {
  return approvalPath(approvalId, exp, sig).slice('/approvals/'.length);
}

/** One path segment an API stage may have as its name. */
const BASE_PATH = /^\/[A-Za-z0-9_-]{1,128}\/?$/;

/**
 * The endpoint's base URL as links are built from it, without the trailing slash: its origin, or its origin
 * and the one-segment base path of an API stage: `https://abc.execute-api.eu-west-1.amazonaws.com/approve/`
 * → `https://abc.execute-api.eu-west-1.amazonaws.com/approve`.
 */
export function parseBaseUrl(text: string, variable = 'APPROVAL_BASE_URL'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${variable}: "${text}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw new ConfigError(`${variable}: must be an https URL (the approval endpoint's URL)`);
  const path = url.pathname === '/' || url.pathname === '' ? '' : url.pathname;
  if ((path !== '' && !BASE_PATH.test(path)) || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError(`${variable}: must be the endpoint's origin alone (https://HOST) or with its API stage (https://HOST/STAGE), without a query or credentials`);
  }
  return `${url.origin}${path.replace(/\/$/, '')}`;
}

/** The signed link for `approvalId`, valid until `exp` (unix seconds). */
export async function approvalLink(baseUrl: string, approvalId: string, exp: number, signer: MacSigner): Promise<string> {
  const sig = await signer.sign(signedMessage(approvalId, exp));
  return `${baseUrl}${approvalPath(approvalId, exp, sig)}`;
}

/** The approval id of an endpoint path (`/approvals/<id>`), or `undefined` for any other path. */
export function approvalIdFromPath(rawPath: string): string | undefined {
  const id = APPROVAL_PATH.exec(rawPath)?.[1];
  return id !== undefined && APPROVAL_ID_PATTERN.test(id) ? id : undefined;
}

/** A link's `exp` and `sig` when both have the one shape the signer gives them; nothing is computed or read. */
export function readLinkQuery(query: { readonly exp: string | undefined; readonly sig: string | undefined }): { readonly exp: number; readonly sig: string } | undefined {
  const { exp, sig } = query;
  if (exp === undefined || sig === undefined || !EXP_PATTERN.test(exp) || !isCanonicalSignature(sig)) return undefined;
  return { exp: Number(exp), sig };
}

export type LinkCheck =
  | { readonly valid: true; readonly approvalId: string; readonly exp: number; readonly sig: string }
  | { readonly valid: false; readonly reason: 'forged' | 'expired'; readonly exp?: number };

/**
 * Checks a link's `exp` and `sig` for `approvalId`: the signature first (a missing or malformed `exp` or `sig`
 * is a forged link too), then `exp` against `now`. Reads nothing but the link.
 */
export async function checkLink(
  approvalId: string,
  query: { readonly exp: string | undefined; readonly sig: string | undefined },
  signer: MacSigner,
  now: Date,
): Promise<LinkCheck> {
  const shaped = readLinkQuery(query);
  if (shaped === undefined) return { valid: false, reason: 'forged' };
  const { exp, sig } = shaped;
  if (!(await signer.verify(signedMessage(approvalId, exp), sig))) return { valid: false, reason: 'forged' };
  if (Math.floor(now.getTime() / 1000) >= exp) return { valid: false, reason: 'expired', exp };
  return { valid: true, approvalId, exp, sig };
}
