/**
 * The approval endpoint's core, behind a Lambda function URL (payload format 2.0). A GET of a signed link
 * shows the request and a form and never decides; a POST of that form decides once, then hands the
 * decision to the waiting plan with `SendTaskSuccess`. The link is checked (signature, then expiry) before
 * the store is read. Every answer is a plain page, also for a bad request: this function never throws.
 *
 * | case | status |
 * | --- | --- |
 * | GET, pending | 200 (the request and the form) |
 * | POST, pending, valid form | 200 (decided and delivered) |
 * | POST, invalid form | 400 (the form again, with why) |
 * | missing or forged signature, or `exp` | 403 |
 * | unknown id, or another path | 404 |
 * | another method | 405 |
 * | already decided (replay) | 409 |
 * | expired (the link, or the plan no longer waits) | 410 |
 * | the store or KMS failed | 500 |
 * | Step Functions did not take the decision (the request is reopened) | 502 |
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { approvalIdFromPath, approvalPath, checkLink } from './link.ts';
import {
  MAX_APPROVER_LENGTH,
  MAX_COMMENT_LENGTH,
  alreadyDecidedPage,
  decidedPage,
  expiredPage,
  forgedPage,
  methodNotAllowedPage,
  notDeliveredPage,
  notFoundPage,
  requestPage,
  unavailablePage,
  type FormState,
} from './pages.ts';
import type { ApprovalSigner } from './signer.ts';
import type { ApprovalDecision, ApprovalStore } from './store.ts';

/** The parts of a function URL event (payload format 2.0) the endpoint reads; anything may be missing. */
export interface ApprovalHttpRequest {
  readonly rawPath?: string;
  readonly rawQueryString?: string;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>>;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: { readonly http?: { readonly method?: string } };
}

export interface ApprovalHttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ApprovalEndpointDeps {
  readonly store: ApprovalStore;
  readonly signer: ApprovalSigner;
  readonly sfn: Pick<SFNClient, 'send'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
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
  const method = typeof request.requestContext?.http?.method === 'string' ? request.requestContext.http.method.toUpperCase() : '';
  if (method !== 'GET' && method !== 'POST') return page(405, methodNotAllowedPage(method), { allow: 'GET, POST' });

  const approvalId = approvalIdFromPath(typeof request.rawPath === 'string' ? request.rawPath : '');
  if (approvalId === undefined) return page(404, notFoundPage());

  const now = (deps.now ?? (() => new Date()))();
  const link = await checkLink(approvalId, queryOf(request), deps.signer, now);
  if (!link.valid) {
    deps.logger?.warn(`approval link refused: ${link.reason}`, { approvalId, method });
    return link.reason === 'forged' ? page(403, forgedPage()) : page(410, expiredPage(link.exp));
  }

  const record = await deps.store.get(approvalId);
  if (record === undefined) return page(404, notFoundPage());
  if (record.state === 'decided') return page(409, alreadyDecidedPage(record, record.decision));
  if (record.expiresAt <= Math.floor(now.getTime() / 1000)) return page(410, expiredPage(record.expiresAt, record));
  const action = approvalPath(approvalId, link.exp, link.sig);
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
  return page(200, decidedPage(record, decision));
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
  return { exp: parameters['exp'], sig: parameters['sig'] };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The form-encoded `decision`, `name` and `comment`, checked; or why they cannot decide anything. */
function readForm(request: ApprovalHttpRequest): Omit<ApprovalDecision, 'decidedAt'> | (FormState & { error: string }) {
  const raw = typeof request.body === 'string' ? request.body : '';
  const text = request.isBase64Encoded === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  const form = new URLSearchParams(text);
  const one = (name: string) => {
    const values = form.getAll(name);
    return values.length === 1 ? values[0]! : undefined;
  };
  const name = (one('name') ?? '').trim();
  const comment = (one('comment') ?? '').replace(/\r\n?/g, '\n').trim();
  const state = { name, comment };
  const decision = one('decision');
  if (decision !== 'approve' && decision !== 'reject') return { ...state, error: 'Choose Approve or Reject.' };
  if (name === '') return { ...state, error: 'Your name is required.' };
  if ([...name].length > MAX_APPROVER_LENGTH) return { ...state, error: `Your name must be at most ${MAX_APPROVER_LENGTH} characters.` };
  if (CONTROL.test(name)) return { ...state, error: 'Your name must be one line of text.' };
  if ([...comment].length > MAX_COMMENT_LENGTH) return { ...state, error: `The comment must be at most ${MAX_COMMENT_LENGTH} characters.` };
  return { approved: decision === 'approve', approver: name, comment };
}
