// The approval endpoint, as a function URL calls it: GET shows and never decides, POST decides once and hands
// the decision to Step Functions (mocked, exact commands), and every refusal is a plain page with nothing decided.
import 'aws-sdk-client-mock-vitest/extend';
import { SFNClient, SendTaskSuccessCommand, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handleApprovalRequest, MAX_FORM_BYTES, PAGE_HEADERS, type ApprovalEndpointDeps } from '../../../functions/approval/endpoint.ts';
import { outcomeOfPage } from '../../../functions/approval/pages.ts';
import { approvalLink } from '../../../functions/approval/link.ts';
import { memoryApprovalStore, type ApprovalStore, type PendingApproval } from '../../../functions/approval/store.ts';
import { answerApproval, functionUrlRequest, openApproval, restApiRequest, testSigner } from './support.ts';

const BASE = 'https://abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws';
const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAXYZ+task/token==';
const EXP = 1_796_030_400; // 2026-11-30T09:20:00Z
const NOW = new Date('2026-11-30T08:45:30.000Z');
const EXECUTION = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:orders-restore-20261130-k3x7q2ab';
const PENDING: PendingApproval = {
  approvalId: ID,
  taskToken: TOKEN,
  plan: 'orders-restore',
  stepId: 'go',
  executionId: EXECUTION,
  mode: 'real',
  question: 'Restore orders now?',
  escalation: false,
  expiresAt: EXP,
  state: 'pending',
};
const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'referrer-policy': 'no-referrer',
};

const sfn = mockClient(SFNClient);
const signer = testSigner();
let memory: ReturnType<typeof memoryApprovalStore>;
let storeCalls: string[];
let now: Date;
let deps: ApprovalEndpointDeps;
let link: string;

/** The memory store, recording which of its methods were called. */
function recorded(store: ApprovalStore): ApprovalStore {
  const record = <A extends unknown[], R>(name: string, method: (...args: A) => Promise<R>) => (...args: A) => {
    storeCalls.push(name);
    return method(...args);
  };
  return { put: record('put', store.put), get: record('get', store.get), decide: record('decide', store.decide), reopen: record('reopen', store.reopen) };
}

const sendTaskSuccessInputs = () => sfn.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input);
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const post = (to: string, fields: Record<string, string>) => handleApprovalRequest(functionUrlRequest(to, { method: 'POST', body: form(fields) }), deps);
/** The same link with its `sig` replaced. */
const withQuery = (to: string, change: (query: URLSearchParams) => void) => {
  const url = new URL(to);
  change(url.searchParams);
  return url.toString();
};

/** `deps` with a signer that counts its `verify` calls (each is a KMS VerifyMac in AWS). */
function countVerifies(): { deps: ApprovalEndpointDeps; count: () => number } {
  let calls = 0;
  const counting = { sign: signer.sign, verify: (message: string, signature: string) => ((calls += 1), signer.verify(message, signature)) };
  return { deps: { ...deps, signer: counting }, count: () => calls };
}

beforeEach(async () => {
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  memory = memoryApprovalStore();
  await memory.put(PENDING);
  storeCalls = [];
  now = NOW;
  deps = { store: recorded(memory), signer, sfn: new SFNClient({ region: 'eu-west-1' }), now: () => now };
  link = await approvalLink(BASE, ID, EXP, signer);
});

describe('GET', () => {
  it('shows the plan, step, question, execution and mode with the form, and decides nothing: no SFN call, store unchanged', async () => {
    const response = await openApproval(link, deps);

    expect(response.statusCode).toBe(200);
    expect(response.headers).toEqual(HEADERS);
    expect(response.outcome).toBe('Approval requested: step go of orders-restore: Nothing is decided yet. Enter your name, then choose Approve or Reject.');
    for (const text of [
      '<tr><th scope="row">Question</th><td>Restore orders now?</td></tr>',
      '<tr><th scope="row">Plan</th><td>orders-restore</td></tr>',
      '<tr><th scope="row">Step</th><td>go</td></tr>',
      '<tr><th scope="row">Mode</th><td>real (not a drill)</td></tr>',
      `>${EXECUTION}</a></td></tr>`,
      '<tr><th scope="row">Link expires</th><td>2026-11-30 09:20:00 UTC</td></tr>',
      // Relative to the page, so it stays right below an API stage's base path.
      `<form method="post" action="${ID}${new URL(link).search.replace(/&/g, '&amp;')}">`,
      '<input id="name" name="name" required maxlength="100" autocomplete="name" value="">',
      '<button type="submit" name="decision" value="approve">Approve</button>',
      '<button type="submit" name="decision" value="reject">Reject</button>',
    ]) {
      expect(response.body).toContain(text);
    }
    expect(response.body).not.toContain('DRILL');
    expect(response.body).not.toContain(TOKEN);
    expect(response.body).not.toMatch(/<script/i);
    expect(sfn.calls()).toHaveLength(0);
    expect(storeCalls).toEqual(['get']);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it('shows DRILL prominently for a drill, and says when it is the second request', async () => {
    const id = 'Dr1llJm2kT9xYw0bVnA4sLpA';
    await memory.put({ ...PENDING, approvalId: id, mode: 'drill', escalation: true });

    const response = await openApproval(await approvalLink(BASE, id, EXP, signer), deps);

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('<p class="drill">DRILL: this request belongs to a drill of the DR plan. It is asked as for real.</p>');
    expect(response.body).toContain('<title>[DRILL] Approval requested: step go of orders-restore - Lifeboat</title>');
    expect(response.body).toContain('<tr><th scope="row">Mode</th><td><strong>DRILL</strong></td></tr>');
    expect(response.body).toContain('second request: nobody decided the first in time');
  });

  it('of a decided request is 409 with who decided, and still decides nothing', async () => {
    await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, deps);
    sfn.resetHistory();

    const response = await openApproval(link, deps);

    expect(response.statusCode).toBe(409);
    expect(response.outcome).toBe('Already decided: Ana Lima already approved this request at 2026-11-30 08:45:30 UTC. Only the first decision counts: nothing was changed.');
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('POST', () => {
  it('approve: decides, then exactly one SendTaskSuccess with { approved, approver, comment, decidedAt }', async () => {
    const response = await answerApproval(link, { decision: 'approve', name: '  Ana Lima ', comment: 'Backups verified.\r\nGo.' }, deps);

    expect(response.statusCode).toBe(200);
    expect(response.headers).toEqual(HEADERS);
    expect(response.outcome).toBe('Approved: Ana Lima approved step go of orders-restore at 2026-11-30 08:45:30 UTC. The plan goes on.');
    expect(sendTaskSuccessInputs()).toEqual([
      { taskToken: TOKEN, output: '{"approved":true,"approver":"Ana Lima","comment":"Backups verified.\\nGo.","decidedAt":"2026-11-30T08:45:30.000Z"}' },
    ]);
    expect(memory.records.get(ID)).toEqual({
      ...PENDING,
      state: 'decided',
      decision: { approved: true, approver: 'Ana Lima', comment: 'Backups verified.\nGo.', decidedAt: '2026-11-30T08:45:30.000Z' },
    });
    expect(response.body).not.toContain(TOKEN);
  });

  it('reject: sends approved: false and says the plan stops', async () => {
    const response = await answerApproval(link, { decision: 'reject', name: 'Ana Lima' }, deps);

    expect(response.statusCode).toBe(200);
    expect(response.outcome).toBe('Rejected: Ana Lima rejected step go of orders-restore at 2026-11-30 08:45:30 UTC. The plan stops (ApprovalRejectedError).');
    expect(sendTaskSuccessInputs()).toEqual([{ taskToken: TOKEN, output: '{"approved":false,"approver":"Ana Lima","comment":"","decidedAt":"2026-11-30T08:45:30.000Z"}' }]);
    expect(memory.records.get(ID)).toMatchObject({ state: 'decided', decision: { approved: false } });
  });

  it('replay: a second POST is 409 and sends nothing more', async () => {
    await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, deps);

    const replay = await answerApproval(link, { decision: 'reject', name: 'Mallory' }, deps);

    expect(replay.statusCode).toBe(409);
    expect(replay.outcome).toMatch(/^Already decided: Ana Lima already approved this request/);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(memory.records.get(ID)).toMatchObject({ decision: { approved: true, approver: 'Ana Lima' } });
  });

  it('two POSTs at once: one decides, the other is 409, one SendTaskSuccess', async () => {
    const responses = await Promise.all([
      answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, deps),
      answerApproval(link, { decision: 'reject', name: 'Bo Chen' }, deps),
    ]);

    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
  });

  it('takes a base64-encoded body, as function URLs may send it', async () => {
    const response = await handleApprovalRequest(
      functionUrlRequest(link, { method: 'POST', body: form({ decision: 'approve', name: 'José Núñez' }), base64: true }),
      deps,
    );

    expect(response.statusCode).toBe(200);
    expect(sendTaskSuccessInputs()[0]!.output).toContain('"approver":"José Núñez"');
  });

  it.each([
    ['no decision', { name: 'Ana Lima' }, 'Choose Approve or Reject.'],
    ['another decision', { decision: 'maybe', name: 'Ana Lima' }, 'Choose Approve or Reject.'],
    ['two decisions', 'decision=approve&decision=reject&name=Ana', 'Choose Approve or Reject.'],
    ['no name', { decision: 'approve', name: '   ' }, 'Your name is required.'],
    ['a name over 100 characters', { decision: 'approve', name: 'n'.repeat(101) }, 'Your name must be at most 100 characters.'],
    ['a name on two lines', { decision: 'approve', name: 'Ana\nLima' }, 'Your name must be one line of text.'],
    ['a comment over 1000 characters', { decision: 'approve', name: 'Ana', comment: 'c'.repeat(1001) }, 'The comment must be at most 1000 characters.'],
  ])('%s: 400 with the form again and why, nothing decided', async (_label, fields, error) => {
    const body = typeof fields === 'string' ? fields : form(fields as Record<string, string>);

    const response = await handleApprovalRequest(functionUrlRequest(link, { method: 'POST', body }), deps);

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain(`<p class="error" role="alert">${error}</p>`);
    expect(response.body).toContain('<form method="post"');
    expect(sfn.calls()).toHaveLength(0);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it('accepts a name of exactly 100 characters and a comment of exactly 1000', async () => {
    const response = await answerApproval(link, { decision: 'approve', name: 'n'.repeat(100), comment: 'c'.repeat(1000) }, deps);

    expect(response.statusCode).toBe(200);
  });

  it.each([
    ['TaskTimedOut', new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} })],
    ['TaskDoesNotExist', new TaskDoesNotExist({ message: 'Task does not exist', $metadata: {} })],
  ])('%s: the page says the request expired, nothing stays decided, and a second try meets the same answer', async (_name, error) => {
    sfn.on(SendTaskSuccessCommand).rejects(error);

    const response = await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, deps);

    expect(response.statusCode).toBe(410);
    expect(response.outcome).toMatch(/^Approval request expired: The request expired: the plan is no longer waiting for this decision/);
    expect(memory.records.get(ID)).toEqual(PENDING);
    expect(storeCalls).toContain('reopen');
    // Not "already approved by Ana Lima": the plan never got that decision.
    const again = await answerApproval(link, { decision: 'reject', name: 'Ben Ode' }, deps);
    expect(again.statusCode).toBe(410);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it('another SendTaskSuccess failure: 502, the request is reopened, and a second try decides', async () => {
    sfn.on(SendTaskSuccessCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })).resolves({});

    const failed = await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, deps);

    expect(failed.statusCode).toBe(502);
    expect(failed.outcome).toBe(
      'Decision not delivered: Step Functions did not accept the decision, so nothing was decided and the request is open again. Try again in a moment.',
    );
    expect(memory.records.get(ID)).toEqual(PENDING);
    const retried = await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, deps);
    expect(retried.statusCode).toBe(200);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 2);
  });
});

describe('refusals: nothing decided, nothing read before the link checks', () => {
  it.each([
    ['no sig', (q: URLSearchParams) => q.delete('sig')],
    ['no exp', (q: URLSearchParams) => q.delete('exp')],
    ['a second sig', (q: URLSearchParams) => q.append('sig', q.get('sig')!)],
    ['a sig one character short', (q: URLSearchParams) => q.set('sig', q.get('sig')!.slice(1))],
    ['an exp with a leading zero', (q: URLSearchParams) => q.set('exp', `0${q.get('exp')}`)],
  ])('%s: 403 for GET and POST without reading the store or calling KMS', async (_label, change) => {
    const forged = withQuery(link, change);
    const verified = countVerifies();

    const opened = await openApproval(forged, verified.deps);
    const answered = await answerApproval(forged, { decision: 'approve', name: 'Mallory' }, verified.deps);

    for (const response of [opened, answered]) {
      expect(response.statusCode).toBe(403);
      expect(response.headers).toEqual(HEADERS);
      expect(response.outcome).toMatch(/^Link not valid: This link is not valid: its signature is missing or does not match/);
    }
    expect(storeCalls).toEqual([]);
    expect(verified.count()).toBe(0);
    expect(sfn.calls()).toHaveLength(0);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it.each([
    ['one flipped character', (q: URLSearchParams) => q.set('sig', `${q.get('sig')!.slice(0, 7)}${q.get('sig')![7] === 'Q' ? 'R' : 'Q'}${q.get('sig')!.slice(8)}`), 1],
    // The record says when its link expires: another exp is forged without asking KMS.
    ['a changed exp', (q: URLSearchParams) => q.set('exp', String(EXP + 86_400)), 0],
  ])('%s: 403 for GET and POST after one store read each, nothing of the record shown', async (_label, change, kmsCallsEach) => {
    const forged = withQuery(link, change);
    const verified = countVerifies();

    const opened = await openApproval(forged, verified.deps);
    const answered = await answerApproval(forged, { decision: 'approve', name: 'Mallory' }, verified.deps);

    for (const response of [opened, answered]) {
      expect(response.statusCode).toBe(403);
      expect(response.outcome).toMatch(/^Link not valid: /);
      expect(response.body).not.toContain('orders-restore');
    }
    expect(storeCalls).toEqual(['get', 'get']);
    expect(verified.count()).toBe(2 * kmsCallsEach);
    expect(sfn.calls()).toHaveLength(0);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it("a signature made for another id: 403", async () => {
    const other = new URL(await approvalLink(BASE, 'Zz9Jm2kT9xYw0bVnA4sLp8rC', EXP, signer));
    const forged = withQuery(link, (q) => q.set('sig', other.searchParams.get('sig')!));

    const response = await answerApproval(forged, { decision: 'approve', name: 'Mallory' }, deps);

    expect(response.statusCode).toBe(403);
    expect(storeCalls).toEqual(['get']);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('a well-formed link to an unknown id: 404 after one store read, without calling KMS', async () => {
    const verified = countVerifies();
    const unknown = withQuery(link.replace(ID, 'Zz9Jm2kT9xYw0bVnA4sLp8rC'), () => {});

    const response = await answerApproval(unknown, { decision: 'approve', name: 'Mallory' }, verified.deps);

    expect(response.statusCode).toBe(404);
    expect(storeCalls).toEqual(['get']);
    expect(verified.count()).toBe(0);
  });

  it('expired: 410 from exp on, for GET and POST, without reading the store or calling KMS', async () => {
    now = new Date(EXP * 1000);
    const verified = countVerifies();

    const opened = await openApproval(link, verified.deps);
    const answered = await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, verified.deps);
    expect(verified.count()).toBe(0);

    for (const response of [opened, answered]) {
      expect(response.statusCode).toBe(410);
      expect(response.outcome).toBe(
        'Approval request expired: The request expired: this link stopped working at 2026-11-30 09:20:00 UTC. Nothing was decided. If nobody decided in time, the contacts were sent a newer link (or the plan failed).',
      );
    }
    expect(storeCalls).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it('a validly signed link to an unknown id: 404', async () => {
    const unknown = await approvalLink(BASE, 'Zz9Jm2kT9xYw0bVnA4sLp8rC', EXP, signer);

    const response = await answerApproval(unknown, { decision: 'approve', name: 'Ana Lima' }, deps);

    expect(response.statusCode).toBe(404);
    expect(response.outcome).toMatch(/^No such approval request: /);
    expect(sfn.calls()).toHaveLength(0);
  });

  it.each(['/', '/favicon.ico', '/approvals/', '/approvals/short'])('another path (%s): 404 without reading anything', async (path) => {
    const response = await handleApprovalRequest({ ...functionUrlRequest(link), rawPath: path }, deps);

    expect(response.statusCode).toBe(404);
    expect(storeCalls).toEqual([]);
  });

  it.each(['PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])('%s: 405 with Allow, nothing read or decided', async (method) => {
    const response = await handleApprovalRequest(functionUrlRequest(link, { method, body: form({ decision: 'approve', name: 'Ana' }) }), deps);

    expect(response.statusCode).toBe(405);
    expect(response.headers).toEqual({ ...HEADERS, allow: 'GET, POST' });
    expect(storeCalls).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('an event that is no HTTP request at all is a 405 page, never a throw', async () => {
    await expect(handleApprovalRequest({}, deps)).resolves.toMatchObject({ statusCode: 405 });
    await expect(handleApprovalRequest(undefined as never, deps)).resolves.toMatchObject({ statusCode: 405 });
  });

  it('a store or KMS failure is a 500 page saying nothing was decided, never a throw', async () => {
    const failing: ApprovalEndpointDeps = { ...deps, store: { ...memory, get: () => Promise.reject(new Error('DynamoDB unavailable')) } };
    const kmsDown: ApprovalEndpointDeps = { ...deps, signer: { sign: signer.sign, verify: () => Promise.reject(new Error('KMS unavailable')) } };

    for (const response of [await openApproval(link, failing), await answerApproval(link, 'approve', kmsDown)]) {
      expect(response.statusCode).toBe(500);
      expect(response.headers).toEqual(HEADERS);
      expect(response.outcome).toMatch(/Nothing was decided/);
    }
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('HTML escaping', () => {
  it('escapes the question, the name and the comment everywhere they are shown', async () => {
    const id = 'XssJm2kT9xYw0bVnA4sLp8rC';
    await memory.put({ ...PENDING, approvalId: id, question: '<script>alert("q")</script> & go?' });
    const xssLink = await approvalLink(BASE, id, EXP, signer);

    const opened = await openApproval(xssLink, deps);
    const invalid = await handleApprovalRequest(
      functionUrlRequest(xssLink, { method: 'POST', body: form({ decision: 'maybe', name: '"><script>alert(1)</script>', comment: '</textarea><script>x</script>' }) }),
      deps,
    );
    const decided = await answerApproval(xssLink, { decision: 'approve', name: '<b>Ana</b>', comment: "<script>alert('c')</script>" }, deps);
    const replay = await openApproval(xssLink, deps);

    expect(opened.body).toContain('<td>&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt; &amp; go?</td>');
    expect(invalid.body).toContain('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(invalid.body).toContain('&lt;/textarea&gt;&lt;script&gt;x&lt;/script&gt;</textarea>');
    expect(decided.body).toContain('&lt;b&gt;Ana&lt;/b&gt; approved step go');
    expect(decided.body).toContain('<p><strong>Comment:</strong> &lt;script&gt;alert(&#39;c&#39;)&lt;/script&gt;</p>');
    expect(replay.body).toContain('&lt;b&gt;Ana&lt;/b&gt; already approved');
    for (const response of [opened, invalid, decided, replay]) {
      expect(response.body).not.toMatch(/<script|<b>/i);
      expect(response.headers['content-security-policy']).toBe(PAGE_HEADERS['content-security-policy']);
    }
    // The plan receives the text as it was typed: escaping is for the page only.
    expect(sendTaskSuccessInputs()[0]!.output).toBe(JSON.stringify({ approved: true, approver: '<b>Ana</b>', comment: "<script>alert('c')</script>", decidedAt: NOW.toISOString() }));
  });
});

describe('approver names: printable text only', () => {
  it.each([
    ['a right-to-left override', 'Ana\u202eamiL', 'U+202E'],
    ['a left-to-right isolate', '\u2066Ana Lima', 'U+2066'],
    ['a zero-width space', 'Ana\u200bLima', 'U+200B'],
    ['a zero-width joiner', 'Ana\u200dLima', 'U+200D'],
    ['a byte-order mark inside', 'An\ufeffa', 'U+FEFF'],
    ['an Arabic letter mark', 'Ana\u061c', 'U+061C'],
    ['a private-use character', 'Ana \ue000', 'U+E000'],
  ])('%s: 400, nothing decided', async (_label, name, codePoint) => {
    const response = await answerApproval(link, { decision: 'approve', name }, deps);

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain(`Your name must be printable text, without invisible or direction-changing characters (it holds ${codePoint}).`);
    expect(sfn.calls()).toHaveLength(0);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it.each([['a line separator', 'Ana\u2028Lima'], ['a C1 control', 'Ana\u0085Lima'], ['a tab', 'Ana\tLima']])('%s: 400 "one line of text"', async (_label, name) => {
    const response = await answerApproval(link, { decision: 'approve', name }, deps);

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('Your name must be one line of text.');
  });

  it('takes names in any script, with accents and spaces, stored in NFC', async () => {
    const response = await answerApproval(link, { decision: 'approve', name: 'Jose\u0301 Nu\u0301n\u0303ez 李雷 Ōsaka' }, deps);

    expect(response.statusCode).toBe(200);
    expect(memory.records.get(ID)).toMatchObject({ decision: { approver: 'José Núñez 李雷 Ōsaka' } });
  });
});

describe('responses are bounded whatever is sent', () => {
  it('a 6 MB comment is refused unread with a 413 page of a few kilobytes, nothing read or decided', async () => {
    const body = form({ decision: 'approve', name: 'Ana', comment: 'c'.repeat(6 * 1024 * 1024) });

    const response = await handleApprovalRequest(functionUrlRequest(link, { method: 'POST', body }), deps);

    expect(response.statusCode).toBe(413);
    expect(response.body.length).toBeLessThan(4_096);
    expect(outcomeOfPage(response.body)).toMatch(/^Request too large: .*Nothing was decided/);
    expect(storeCalls).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('a form just under the body limit with a too-long comment and name: the 400 page echoes at most the allowed lengths', async () => {
    const body = form({ decision: 'approve', name: '&'.repeat(1_000), comment: '<'.repeat(3_000) });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_FORM_BYTES);

    const response = await handleApprovalRequest(functionUrlRequest(link, { method: 'POST', body }), deps);

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain(`value="${'&amp;'.repeat(100)}"`);
    expect(response.body).toContain(`>${'&lt;'.repeat(1_000)}</textarea>`);
    expect(response.body.length).toBeLessThan(16_384);
  });

  it('a base64 body over the limit is refused the same way', async () => {
    const body = form({ decision: 'approve', name: 'Ana', comment: 'c'.repeat(20_000) });

    const response = await handleApprovalRequest(functionUrlRequest(link, { method: 'POST', body, base64: true }), deps);

    expect(response.statusCode).toBe(413);
  });

  it('the deployed event (REST proxy) reads the same: repeated sig refused, a valid GET shows the form', async () => {
    const twice = restApiRequest(withQuery(link, (q) => q.append('sig', q.get('sig')!)));
    expect((await handleApprovalRequest(twice, deps)).statusCode).toBe(403);
    expect((await handleApprovalRequest(restApiRequest(link.replace(BASE, `${BASE}/approve`)), deps)).statusCode).toBe(200);
  });
});

describe('the audit trail', () => {
  /** A trail that keeps what it is given: the writer itself (MAC, create-only) is tested in test/functions/audit. */
  function memoryTrail() {
    const events: Record<string, unknown>[] = [];
    return { events, trail: { record: async (input: Record<string, unknown>) => { events.push(input); return { written: true } as never; } } };
  }

  it('records one approval-decided event for a delivered decision: who, what, which step and execution, never the link or the token', async () => {
    const { events, trail } = memoryTrail();
    await answerApproval(link, { decision: 'approve', name: 'Ana Lima', comment: 'Go.' }, { ...deps, audit: trail as never });
    expect(events).toEqual([
      {
        type: 'approval-decided',
        outcome: 'succeeded',
        plan: 'orders-restore',
        executionId: EXECUTION,
        details: { approvalId: ID, step: 'go', decision: 'approved', approver: 'Ana Lima', decidedAt: '2026-11-30T08:45:30.000Z', mode: PENDING.mode },
      },
    ]);
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    expect(JSON.stringify(events)).not.toContain('sig=');
  });

  it('records nothing for a GET, a replay, or a decision the plan no longer waited for', async () => {
    const { events, trail } = memoryTrail();
    const audited = { ...deps, audit: trail as never };
    await openApproval(link, audited);
    await answerApproval(link, { decision: 'reject', name: 'Ana Lima' }, audited);
    await answerApproval(link, { decision: 'approve', name: 'Mallory' }, audited);
    expect(events.map((e) => (e['details'] as { decision: string }).decision)).toEqual(['rejected']);
  });

  it('records nothing when the plan stopped waiting before the decision reached it', async () => {
    const { events, trail } = memoryTrail();
    sfn.on(SendTaskSuccessCommand).rejectsOnce(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    expect((await answerApproval(link, { decision: 'approve', name: 'Ana Lima' }, { ...deps, audit: trail as never })).statusCode).toBe(410);
    expect(events).toEqual([]);
  });
});
