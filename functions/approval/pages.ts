/**
 * The approval endpoint's pages: plain HTML, no script, every value from a request or a record escaped.
 * Each page says in its `<h1>` and its `#outcome` paragraph what happened and whether anything was decided;
 * {@link outcomeOfPage} reads those two back, so `lifeboat approve` prints the same words a browser shows.
 */
import { defaultQuestion, executionConsoleUrl, humanTime } from './format.ts';
import { MAX_APPROVER_LENGTH } from './approver.ts';
import type { ApprovalDecision, ApprovalRecord } from './store.ts';

export { MAX_APPROVER_LENGTH };
export const MAX_COMMENT_LENGTH = 1_000;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** What a record shows (never its task token). */
type Shown = Pick<ApprovalRecord, 'plan' | 'stepId' | 'question' | 'mode' | 'executionId' | 'expiresAt' | 'escalation'>;

interface Page {
  readonly title: string;
  /** One sentence: what happened, and whether anything was decided. */
  readonly outcome: string;
  readonly record?: Shown;
  /** HTML, already escaped. */
  readonly extra?: string;
}

const STYLE = [
  'body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:2rem 1rem;color:#1b1b1b;background:#f6f6f4;line-height:1.5}',
  'main{max-width:42rem;margin:0 auto;background:#fff;padding:1.5rem 2rem;border:1px solid #ddd;border-radius:6px}',
  'h1{font-size:1.4rem;margin-top:0}',
  '.drill{background:#fff3cd;border:2px solid #b58100;padding:.5rem 1rem;font-weight:700;font-size:1.1rem}',
  'table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{text-align:left;vertical-align:top;padding:.3rem .6rem;border-bottom:1px solid #eee}',
  'th{white-space:nowrap;color:#555;font-weight:600}td{overflow-wrap:anywhere}',
  'label{display:block;margin-top:1rem;font-weight:600}input,textarea{width:100%;box-sizing:border-box;font:inherit;padding:.4rem}',
  '.buttons{margin-top:1.2rem;display:flex;gap:1rem}button{font:inherit;padding:.5rem 1.4rem;border-radius:4px;border:1px solid #333;cursor:pointer}',
  'button[value=approve]{background:#1e6b33;color:#fff}button[value=reject]{background:#a4161a;color:#fff}',
  '.error{color:#a4161a;font-weight:600}.note{color:#555;font-size:.95rem}',
].join('');

function renderPage(page: Page): string {
  const drill = page.record?.mode === 'drill';
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex, nofollow">',
    `<title>${escapeHtml(`${drill ? '[DRILL] ' : ''}${page.title} - Lifeboat`)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    ...(drill ? ['<p class="drill">DRILL: this request belongs to a drill of the DR plan. It is asked as for real.</p>'] : []),
    `<h1>${escapeHtml(page.title)}</h1>`,
    `<p id="outcome">${escapeHtml(page.outcome)}</p>`,
    ...(page.record === undefined ? [] : [recordTable(page.record)]),
    ...(page.extra === undefined ? [] : [page.extra]),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function recordTable(record: Shown): string {
  const consoleUrl = executionConsoleUrl(record.executionId);
  const execution = consoleUrl === undefined
    ? escapeHtml(record.executionId)
    : `<a href="${escapeHtml(consoleUrl)}" rel="noreferrer">${escapeHtml(record.executionId)}</a>`;
  const rows: [string, string][] = [
    ['Question', escapeHtml(record.question || defaultQuestion(record.plan, record.stepId))],
    ['Plan', escapeHtml(record.plan)],
    ['Step', escapeHtml(record.stepId)],
    ['Mode', record.mode === 'drill' ? '<strong>DRILL</strong>' : 'real (not a drill)'],
    ['Execution', execution],
    ['Request', record.escalation ? 'second request: nobody decided the first in time' : 'first request'],
    ['Link expires', escapeHtml(humanTime(new Date(record.expiresAt * 1000)))],
  ];
  return ['<table>', ...rows.map(([label, value]) => `<tr><th scope="row">${label}</th><td>${value}</td></tr>`), '</table>'].join('\n');
}

/** The form a GET shows: posts to `action` (the link's own path and query). */
export interface FormState {
  readonly name?: string;
  readonly comment?: string;
  /** Why the last submission was refused. */
  readonly error?: string;
}

function form(action: string, state: FormState): string {
  return [
    ...(state.error === undefined ? [] : [`<p class="error" role="alert">${escapeHtml(state.error)}</p>`]),
    `<form method="post" action="${escapeHtml(action)}">`,
    '<label for="name">Your name (required)</label>',
    `<input id="name" name="name" required maxlength="${MAX_APPROVER_LENGTH}" autocomplete="name" value="${escapeHtml(state.name ?? '')}">`,
    `<label for="comment">Comment (optional, up to ${MAX_COMMENT_LENGTH} characters)</label>`,
    `<textarea id="comment" name="comment" maxlength="${MAX_COMMENT_LENGTH}" rows="4">${escapeHtml(state.comment ?? '')}</textarea>`,
    '<div class="buttons">',
    '<button type="submit" name="decision" value="approve">Approve</button>',
    '<button type="submit" name="decision" value="reject">Reject</button>',
    '</div>',
    '</form>',
    '<p class="note">Your name, comment and decision are recorded in the execution\'s history and in the plan\'s evidence. The first decision counts.</p>',
  ].join('\n');
}

/** GET of a pending request (200), or the same form with why a POST was refused (400). */
export function requestPage(record: Shown, action: string, state: FormState = {}): string {
  return renderPage({
    title: state.error === undefined ? `Approval requested: step ${record.stepId} of ${record.plan}` : 'Not decided: the form is incomplete',
    outcome: state.error === undefined
      ? 'Nothing is decided yet. Enter your name, then choose Approve or Reject.'
      : `${state.error} Nothing was decided: correct the form and send it again.`,
    record,
    extra: form(action, state),
  });
}

/** The decision was handed to the plan (200). */
export function decidedPage(record: Shown, decision: ApprovalDecision): string {
  const run = record.mode === 'drill' ? 'drill' : 'plan';
  const what = decision.approved ? 'approved' : 'rejected';
  return renderPage({
    title: decision.approved ? 'Approved' : 'Rejected',
    outcome: `${decision.approver} ${what} step ${record.stepId} of ${record.plan} at ${humanTime(new Date(decision.decidedAt))}. ${
      decision.approved ? `The ${run} goes on.` : `The ${run} stops (ApprovalRejectedError).`
    }`,
    record,
    extra: decision.comment === '' ? undefined : `<p><strong>Comment:</strong> ${escapeHtml(decision.comment)}</p>`,
  });
}

/** 409: someone decided first. */
export function alreadyDecidedPage(record: Shown, decision: ApprovalDecision): string {
  return renderPage({
    title: 'Already decided',
    outcome: `${decision.approver} already ${decision.approved ? 'approved' : 'rejected'} this request at ${humanTime(new Date(decision.decidedAt))}. Only the first decision counts: nothing was changed.`,
    record,
  });
}

/** 410: the link (or the plan's wait) ran out. */
export function expiredPage(expiresAt: number | undefined, record?: Shown, reason: 'link' | 'task' = 'link'): string {
  const when = expiresAt === undefined ? '' : ` at ${humanTime(new Date(expiresAt * 1000))}`;
  const outcome = reason === 'task'
    ? 'The request expired: the plan is no longer waiting for this decision (the wait timed out, or the execution ended), so your decision was not applied and nothing was decided.'
    : `The request expired: this link stopped working${when}. Nothing was decided. If nobody decided in time, the contacts were sent a newer link (or the plan failed).`;
  return renderPage({ title: 'Approval request expired', outcome, ...(record === undefined ? {} : { record }) });
}

/** 403: a missing, changed or forged signature (or `exp`). */
export function forgedPage(): string {
  return renderPage({
    title: 'Link not valid',
    outcome: 'This link is not valid: its signature is missing or does not match, so it was changed or cut short. Nothing was decided. Open the link exactly as it was sent.',
  });
}

/** 404: no such request (or no such page). */
export function notFoundPage(): string {
  return renderPage({
    title: 'No such approval request',
    outcome: 'There is no approval request here: it was never made, or it expired and was removed. Nothing was decided.',
  });
}

/** 413: a body larger than any form can send; it was not read. */
export function tooLargePage(): string {
  return renderPage({
    title: 'Request too large',
    outcome: `The form sent was larger than the approval form allows, so it was not read. Nothing was decided. Keep the comment to ${MAX_COMMENT_LENGTH} characters and send it again.`,
  });
}

/** 405. */
export function methodNotAllowedPage(method: string): string {
  return renderPage({
    title: 'Method not allowed',
    outcome: `This page answers GET (to show the request) and POST (to decide), not ${method || 'this method'}. Nothing was decided.`,
  });
}

/** 502: Step Functions did not take the decision; the request is open again. */
export function notDeliveredPage(record: Shown): string {
  return renderPage({
    title: 'Decision not delivered',
    outcome: 'Step Functions did not accept the decision, so nothing was decided and the request is open again. Try again in a moment.',
    record,
  });
}

/** 500: the store or the signing key could not be reached. */
export function unavailablePage(): string {
  return renderPage({
    title: 'Approval service unavailable',
    outcome: 'The approval request could not be checked or read right now. Nothing was decided. Try again in a moment.',
  });
}

/** `<h1>: <#outcome>` of a page, as text: one line for a terminal; `undefined` for anything else. */
export function outcomeOfPage(html: string): string | undefined {
  const title = /<h1>([\s\S]*?)<\/h1>/.exec(html)?.[1];
  if (title === undefined) return undefined;
  const outcome = /<p id="outcome">([\s\S]*?)<\/p>/.exec(html)?.[1];
  const text = (fragment: string) =>
    fragment
      .replace(/<[^>]*>/g, '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&')
      .replace(/\s+/g, ' ')
      .trim();
  return outcome === undefined ? text(title) : `${text(title)}: ${text(outcome)}`;
}
