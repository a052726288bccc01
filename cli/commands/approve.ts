import { checkApproverName, MAX_APPROVER_LENGTH } from '../../functions/approval/approver.ts';
import { LifeboatError } from '../../functions/lib/errors.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';

const MAX_NAME_LENGTH = MAX_APPROVER_LENGTH;
const MAX_COMMENT_LENGTH = 1_000;
const TIMEOUT_MILLISECONDS = 30_000;
/** `/approvals/<id>`, below the API stage when there is one (`/approve/approvals/<id>`). */
const APPROVAL_PATH = /^(?:\/[A-Za-z0-9_-]{1,128})?\/approvals\/[A-Za-z0-9_-]{22,64}$/;
/** More than any link: a stdin that is not one link is refused, not read on. */
const MAX_STDIN_BYTES = 4_096;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The approval endpoint answered, but did not decide: forged or expired link, already decided, not found. Exit 1. */
export class ApprovalRefusedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApprovalRefusedError';
  }
}

/** The approval endpoint could not be reached (network, DNS, TLS, no answer in 30 s); nothing was decided. Exit 1. */
export class ApprovalUnreachableError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApprovalUnreachableError';
  }
}

export const approve: Command = {
  name: 'approve',
  summary: 'Approve (or --reject) a DR plan step from its approval link, as the link\'s form would.',
  synopsis: 'lifeboat approve LINK|- --name NAME [--reject] [--comment TEXT]',
  description:
    'Sends the decision to an approval link from a DR plan\'s message (https://…/approvals/<id>?exp=…&sig=…)\n' +
    'with one POST, exactly as the form on the link\'s page does, and prints the page\'s outcome in one line.\n' +
    'Without --reject the step is approved. The first decision counts; the link is the only credential:\n' +
    'give it as - to read it from stdin (`lifeboat approve - --name NAME < link.txt`), so it stays out of the\n' +
    'shell history and the process list.',
  positionals: [{ name: 'LINK', description: 'The approval link as it was sent (quote it: it holds & characters), or - to read it from stdin.' }],
  flags: {
    name: { type: 'string', value: 'NAME', description: `Who decides, recorded in the execution and its evidence (required, 1-${MAX_NAME_LENGTH} characters).` },
    reject: { type: 'boolean', description: 'Reject the step: the plan stops with ApprovalRejectedError.' },
    comment: { type: 'string', value: 'TEXT', description: `Why, recorded with the decision (at most ${MAX_COMMENT_LENGTH} characters).` },
  },
  notes:
    'Exit codes: 0 decided (the plan has the decision), 1 not decided: the endpoint refused it\n' +
    '(ApprovalRefusedError with the HTTP status: 403 link not valid, 404 unknown, 409 already decided,\n' +
    '410 expired, 502 not delivered) or could not be reached (ApprovalUnreachableError), 2 bad flags or link.',
  maxPositionals: 1,
  async run({ flags, positionals }, { output, deps }) {
    const link = linkArgument(positionals[0] === '-' ? await linkFromStdin(deps.readStdin ?? readProcessStdin) : positionals[0]);
    const name = nameFlag(requiredFlag(flags, 'name'));
    const comment = (stringFlag(flags, 'comment') ?? '').trim();
    if ([...comment].length > MAX_COMMENT_LENGTH) throw new UsageError(`--comment must be at most ${MAX_COMMENT_LENGTH} characters`);
    const decision = booleanFlag(flags, 'reject') ? 'reject' : 'approve';

    const send = deps.fetch ?? globalThis.fetch;
    let status: number;
    let page: string;
    try {
      const response = await send(link.href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams({ decision, name, comment }).toString(),
        // A redirect would turn the POST into a GET elsewhere: the endpoint never redirects.
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MILLISECONDS),
      });
      status = response.status;
      page = await response.text();
    } catch (error) {
      const why = error instanceof Error ? `${error.name}: ${error.message}${causeText(error)}` : String(error);
      // The origin only: the link's query is its signature.
      throw new ApprovalUnreachableError(`could not reach the approval endpoint ${link.origin}: ${why}; nothing was decided`, { cause: error });
    }

    const { outcomeOfPage } = await import('../../functions/approval/pages.ts');
    const outcome = printable(outcomeOfPage(page) ?? 'the endpoint answered without an approval page');
    if (status === 200) {
      output.out(outcome);
      return ExitCode.ok;
    }
    throw new ApprovalRefusedError(`${status} ${outcome}`);
  },
};

/** The link, checked for its form only: https (http on loopback), `/approvals/<id>`, `exp` and `sig`. */
function linkArgument(text: string | undefined): URL {
  if (text === undefined) throw new UsageError('"lifeboat approve" needs the approval link');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('LINK is not a URL: give the approval link exactly as it was sent');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new UsageError('LINK must be an https URL');
  }
  if (!APPROVAL_PATH.test(url.pathname) || !url.searchParams.has('exp') || !url.searchParams.has('sig')) {
    throw new UsageError('LINK is not an approval link (https://HOST/approvals/<id>?exp=…&sig=…): give it exactly as it was sent, quoted');
  }
  return url;
}

/** The one link on stdin (surrounding blank space and a trailing newline are fine). */
async function linkFromStdin(read: () => Promise<string>): Promise<string> {
  const text = (await read()).trim();
  if (text === '') throw new UsageError('LINK is -, but stdin held no link: give the approval link on stdin');
  if (/\s/.test(text)) throw new UsageError('LINK is -, but stdin held more than one line or word: give the approval link alone');
  return text;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_STDIN_BYTES) throw new UsageError(`LINK is -, but stdin holds more than ${MAX_STDIN_BYTES} bytes: give the approval link alone`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The endpoint's rule for names (printable, no bidi or zero-width characters), checked before anything is sent. */
function nameFlag(value: string): string {
  const checked = checkApproverName(value);
  if ('problem' in checked) {
    const why = checked.problem.replace(/^Your name must be /, '').replace(/\.$/, '');
    throw new UsageError(value.trim() === '' || [...value.trim()].length > MAX_NAME_LENGTH ? `--name must be one line of 1 to ${MAX_NAME_LENGTH} characters` : `--name must be ${why}`);
  }
  return checked.name;
}

/** fetch's own errors say only "fetch failed"; the reason (DNS, refused, TLS) is in the cause. */
function causeText(error: Error): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? ` (${cause.message})` : '';
}

/** The endpoint's words without control characters, so a page cannot drive the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
