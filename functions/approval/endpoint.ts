/**
 * The approval endpoint's core, behind an API Gateway REST API (Lambda proxy integration, payload 1.0) with a
 * per-client WAF rate limit in front (docs/dr-plans.md, "The approval endpoint under a flood"); it also reads
 * function URL events (payload 2.0), as local runs and tests send them. A GET of a signed link shows the
 * request and a form and never decides; a POST of that form decides once, then hands the decision to the
 * waiting plan with `SendTaskSuccess`. Every answer is a plain page, also for a bad request: this function
 * never throws.
 *
 * Checks run cheapest first, so a flood of forged links costs no KMS call: method, path and the link's shape
 * (nothing read), the body's size, then `exp` against the clock, then the record (one DynamoDB read: an unknown
 * id ends here), then `exp` against the record's own expiry, and only then the signature (KMS `VerifyMac`).
 * Nothing of the record is shown before the signature is verified.
 *
 * | case | status |
 * | --- | --- |
 * | GET, pending | 200 (the request and the form) |
 * | POST, pending, valid form | 200 (decided and delivered) |
 * | POST, invalid form | 400 (the form again, with why, echoing at most the allowed lengths) |
 * | missing, malformed or forged signature or `exp` | 403 |
 * | unknown id, or another path | 404 |
 * | another method | 405 |
 * | already decided (replay) | 409 |
 * | expired (the link, or the plan no longer waits) | 410 |
 * | a body over {@link MAX_FORM_BYTES} | 413 |
 * | the store or KMS failed | 500 |
 * | Step Functions did not take the decision (the request is reopened) | 502 |
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { AuditTrail } from '../lib/audit/index.ts';
import { checkApproverName, MAX_APPROVER_LENGTH } from './approver.ts';
import { approvalFormAction, approvalIdFromPath, readLinkQuery, signedMessage } from './link.ts';
import {
  MAX_COMMENT_LENGTH,
  alreadyDecidedPage,
  decidedPage,
  expiredPage,
  forgedPage,
  methodNotAllowedPage,
  notDeliveredPage,
  notFoundPage,
  requestPage,
  tooLargePage,
  unavailablePage,
  type FormState,
} from './pages.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import type { ApprovalDecision, ApprovalStore } from './store.ts';

/**
 * The parts of an API Gateway REST proxy event (payload 1.0: `httpMethod`, `path`, `multiValueQueryStringParameters`)
 * or a function URL event (payload 2.0: `requestContext.http.method`, `rawPath`, `rawQueryString`) the endpoint
 * reads; anything may be missing.
 */
export interface ApprovalHttpRequest {
  readonly httpMethod?: string;
  readonly path?: string;
  readonly multiValueQueryStringParameters?: Readonly<Record<string, readonly string[] | undefined>> | null;
  readonly rawPath?: string;
  readonly rawQueryString?: string;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: { readonly http?: { readonly method?: string } };
}

/**
 * The largest form body read: a name of {@link MAX_APPROVER_LENGTH} and a comment of {@link MAX_COMMENT_LENGTH}
 * characters, every one percent-encoded from 4 UTF-8 bytes (12 bytes each), fit with room to spare. Anything
 * bigger is refused unread, so no page ever grows with what was sent.
 */
export const MAX_FORM_BYTES = 16 * 1024;

export interface ApprovalHttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ApprovalEndpointDeps {
  readonly store: ApprovalStore;
  readonly signer: MacSigner;
  readonly sfn: Pick<SFNClient, 'send'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Where a delivered decision is recorded (docs/audit-trail.md); never the link or its token. @default none */
  readonly audit?: AuditTrail;
}

/** Sent with every page: never cached, never framed, no script, forms only to this endpoint, no referrer. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'referrer-policy': 'no-referrer',
};

/** Step Functions' answers that mean the task no longer waits: the decision can never be delivered. */
const TASK_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist']);

export async function handleApprovalRequest(request: ApprovalHttpRequest, deps: ApprovalEndpointDeps): Promise<ApprovalHttpResponse> {
  try {
    return await answer(request ?? {}, deps);
  } catch (error) {
    deps.logger?.error('approval endpoint failed', { error });
    return page(500, unavailablePage());
  }
}

async function answer(request: ApprovalHttpRequest, deps: ApprovalEndpointDeps): Promise<ApprovalHttpResponse> {
  const method = methodOf(request);
  if (method !== 'GET' && method !== 'POST') return page(405, methodNotAllowedPage(method), { allow: 'GET, POST' });

  const approvalId = approvalIdFromPath(pathOf(request));
  if (approvalId === undefined) return page(404, notFoundPage());
  const link = readLinkQuery(queryOf(request));
  if (link === undefined) {
    deps.logger?.warn('approval link refused: malformed', { approvalId, method });
    return page(403, forgedPage());
  }
  if (method === 'POST' && bodyBytes(request) > MAX_FORM_BYTES) return page(413, tooLargePage());

  const now = (deps.now ?? (() => new Date()))();
  const nowSeconds = Math.floor(now.getTime() / 1000);
  // Unsigned yet: the page says when the link stopped working, and nothing of the record.
  if (nowSeconds >= link.exp) return page(410, expiredPage(link.exp));
  const record = await deps.store.get(approvalId);
  if (record === undefined) return page(404, notFoundPage());
  // A link is signed for its record's own expiry: any other exp is forged, and costs no KMS call.
  const signed = record.expiresAt === link.exp && (await deps.signer.verify(signedMessage(approvalId, link.exp), link.sig));
  if (!signed) {
    deps.logger?.warn('approval link refused: forged', { approvalId, method });
    return page(403, forgedPage());
  }

  if (record.state === 'decided') return page(409, alreadyDecidedPage(record, record.decision));
  if (record.expiresAt <= nowSeconds) return page(410, expiredPage(record.expiresAt, record));
  const action = approvalFormAction(approvalId, link.exp, link.sig);
  if (method === 'GET') return page(200, requestPage(record, action));

  const submitted = readForm(request);
  if ('error' in submitted) return page(400, requestPage(record, action, submitted));
  const decision: ApprovalDecision = { ...submitted, decidedAt: now.toISOString() };

  const decided = await deps.store.decide(approvalId, decision);
  switch (decided.outcome) {
    case 'not-found':
      return page(404, notFoundPage());
    case 'already-decided':
      return page(409, alreadyDecidedPage(decided.record, decided.record.decision));
    case 'expired':
      return page(410, expiredPage(decided.record.expiresAt, decided.record));
    case 'decided':
      break;
  }

  const context = { approvalId, plan: record.plan, stepId: record.stepId, executionId: record.executionId, approved: decision.approved, approver: decision.approver };
  try {
    await deps.sfn.send(new SendTaskSuccessCommand({ taskToken: decided.record.taskToken, output: taskOutput(decision) }));
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && TASK_GONE.has(name)) {
      // The plan stopped waiting: nothing was decided, so the record is not left saying it was. Any later
      // attempt meets the same answer from Step Functions.
      deps.logger?.warn('approval decided after the task stopped waiting', { ...context, error: name });
      await reopenQuietly(approvalId, deps);
      return page(410, expiredPage(record.expiresAt, record, 'task'));
    }
    deps.logger?.error('SendTaskSuccess failed; reopening the approval', { ...context, error });
    await reopenQuietly(approvalId, deps);
    return page(502, notDeliveredPage(record));
  }
  deps.logger?.info(decision.approved ? 'approval approved' : 'approval rejected', context);
  // Only a decision the plan received is recorded; the trail reports its own failures and never fails this page.
  await deps.audit?.record({
    type: 'approval-decided',
    outcome: 'succeeded',
    plan: record.plan,
    executionId: record.executionId,
    details: { approvalId, step: record.stepId, decision: decision.approved ? 'approved' : 'rejected', approver: decision.approver, decidedAt: decision.decidedAt, mode: record.mode },
  });
  return page(200, decidedPage(record, decision));
}

function methodOf(request: ApprovalHttpRequest): string {
  const method = request.requestContext?.http?.method ?? request.httpMethod;
  return typeof method === 'string' ? method.toUpperCase() : '';
}

function pathOf(request: ApprovalHttpRequest): string {
  const path = request.rawPath ?? request.path;
  return typeof path === 'string' ? path : '';
}

/** The body's size as sent: base64 counts as the bytes it decodes to. */
function bodyBytes(request: ApprovalHttpRequest): number {
  if (typeof request.body !== 'string') return 0;
  return request.isBase64Encoded === true ? Math.floor((request.body.length * 3) / 4) : Buffer.byteLength(request.body, 'utf8');
}

/** Back to pending after a decision that did not reach the plan; a failure here is logged, the page says the rest. */
async function reopenQuietly(approvalId: string, deps: ApprovalEndpointDeps): Promise<void> {
  try {
    await deps.store.reopen(approvalId);
  } catch (reopenError) {
    deps.logger?.error('reopening the approval failed', { approvalId, error: reopenError });
  }
}

/** The task's output, as the plan's `Choice` and step record read it: `{ approved, approver, comment, decidedAt }`. */
export function taskOutput(decision: ApprovalDecision): string {
  const { approved, approver, comment, decidedAt } = decision;
  return JSON.stringify({ approved, approver, comment, decidedAt });
}

function page(statusCode: number, body: string, extraHeaders: Readonly<Record<string, string>> = {}): ApprovalHttpResponse {
  return { statusCode, headers: { ...PAGE_HEADERS, ...extraHeaders }, body };
}

/** `exp` and `sig` of the link, each only when given exactly once. */
function queryOf(request: ApprovalHttpRequest): { exp: string | undefined; sig: string | undefined } {
  const multi = request.multiValueQueryStringParameters;
  if (multi !== undefined && multi !== null) {
    const one = (name: string) => {
      const values = multi[name];
      return values !== undefined && values.length === 1 ? values[0] : undefined;
    };
    return { exp: one('exp'), sig: one('sig') };
  }
  if (typeof request.rawQueryString === 'string') {
    const params = new URLSearchParams(request.rawQueryString);
    const one = (name: string) => {
      const values = params.getAll(name);
      return values.length === 1 ? values[0] : undefined;
    };
    return { exp: one('exp'), sig: one('sig') };
  }
  // Function URLs join repeated parameters with commas; neither value ever holds one.
  const parameters = request.queryStringParameters ?? {};
  // A REST event without query parameters has null for both maps.
  return { exp: parameters['exp'], sig: parameters['sig'] };
}

/** The form-encoded `decision`, `name` and `comment`, checked; or why they cannot decide anything. */
function readForm(request: ApprovalHttpRequest): Omit<ApprovalDecision, 'decidedAt'> | (FormState & { error: string }) {
  const raw = typeof request.body === 'string' ? request.body : '';
  const text = request.isBase64Encoded === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  const form = new URLSearchParams(text);
  const one = (name: string) => {
    const values = form.getAll(name);
    return values.length === 1 ? values[0]! : undefined;
  };
  const rawName = one('name') ?? '';
  const comment = (one('comment') ?? '').replace(/\r\n?/g, '\n').trim();
  // What the 400 page shows again: never more than the form allows, so the page stays small.
  const state = { name: firstCharacters(rawName.trim(), MAX_APPROVER_LENGTH), comment: firstCharacters(comment, MAX_COMMENT_LENGTH) };
  const decision = one('decision');
  if (decision !== 'approve' && decision !== 'reject') return { ...state, error: 'Choose Approve or Reject.' };
  const name = checkApproverName(rawName);
  if ('problem' in name) return { ...state, error: name.problem };
  if ([...comment].length > MAX_COMMENT_LENGTH) return { ...state, error: `The comment must be at most ${MAX_COMMENT_LENGTH} characters.` };
  return { approved: decision === 'approve', approver: name.name, comment };
}

function firstCharacters(text: string, count: number): string {
  return [...text].slice(0, count).join('');
}
