// `lifeboat approve`: the in-process CLI posting through an injected fetch to the real endpoint logic
// (memory store, local signer, mocked Step Functions), and against canned answers.
import 'aws-sdk-client-mock-vitest/extend';
import { SFNClient, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import type { ApprovalEndpointDeps } from '../../functions/approval/endpoint.ts';
import { approvalLink } from '../../functions/approval/link.ts';
import { memoryApprovalStore } from '../../functions/approval/store.ts';
import { endpointFetch, testSigner } from '../functions/approval/support.ts';
import { errorLine, lifeboat } from './support.ts';

const BASE = 'https://abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws';
const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAXYZ+task/token==';
const EXP = 1_796_030_400; // 2026-11-30T09:20:00Z
const NOW = new Date('2026-11-30T08:45:30.000Z');

const sfn = mockClient(SFNClient);
const signer = testSigner();
let store: ReturnType<typeof memoryApprovalStore>;
let endpoint: ReturnType<typeof endpointFetch>;
let link: string;
let now: Date;

const approve = (argv: readonly string[], fetch: typeof globalThis.fetch = endpoint) => lifeboat(['approve', ...argv], { deps: { fetch } });

beforeEach(async () => {
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  store = memoryApprovalStore();
  await store.put({
    approvalId: ID,
    taskToken: TOKEN,
    plan: 'orders-restore',
    stepId: 'go',
    executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:drill-k3x7q2ab',
    mode: 'drill',
    question: 'Restore orders now?',
    escalation: false,
    expiresAt: EXP,
    state: 'pending',
  });
  now = NOW;
  const deps: ApprovalEndpointDeps = { store, signer, sfn: new SFNClient({ region: 'eu-west-1' }), now: () => now };
  endpoint = endpointFetch(deps);
  link = await approvalLink(BASE, ID, EXP, signer);
});

describe('lifeboat approve', () => {
  it('POSTs the form to the link, prints the outcome in one line and exits 0 once decided', async () => {
    const result = await approve([link, '--name', 'Ana Lima']);

    expect(result).toEqual({
      code: ExitCode.ok,
      stdout: 'Approved: Ana Lima approved step go of orders-restore at 2026-11-30 08:45:30 UTC. The drill goes on.\n',
      stderr: '',
    });
    expect(endpoint.requests).toHaveLength(1);
    const [request] = endpoint.requests;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(link);
    expect(request!.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    await expect(request!.text()).resolves.toBe('decision=approve&name=Ana+Lima&comment=');
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input)).toEqual([
      { taskToken: TOKEN, output: '{"approved":true,"approver":"Ana Lima","comment":"","decidedAt":"2026-11-30T08:45:30.000Z"}' },
    ]);
  });

  it('--reject with --comment sends approved: false and the comment', async () => {
    const result = await approve([link, '--name', 'Ana Lima', '--reject', '--comment', 'Not during the sale']);

    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout).toBe('Rejected: Ana Lima rejected step go of orders-restore at 2026-11-30 08:45:30 UTC. The drill stops (ApprovalRejectedError).\n');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      output: '{"approved":false,"approver":"Ana Lima","comment":"Not during the sale","decidedAt":"2026-11-30T08:45:30.000Z"}',
    });
  });

  it('a second decision is refused: exit 1 with the status and the page\'s reason', async () => {
    await approve([link, '--name', 'Ana Lima']);

    const result = await approve([link, '--name', 'Bo Chen', '--reject']);

    expect(result.code).toBe(ExitCode.failed);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)).toEqual({
      name: 'ApprovalRefusedError',
      message: '409 Already decided: Ana Lima already approved this request at 2026-11-30 08:45:30 UTC. Only the first decision counts: nothing was changed.',
    });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
  });

  it('a changed link is refused with 403, an expired one with 410; nothing decided', async () => {
    const forged = link.replace(`exp=${EXP}`, `exp=${EXP + 3600}`);

    const refused = await approve([forged, '--name', 'Ana Lima']);
    now = new Date(EXP * 1000 + 1000);
    const expired = await approve([link, '--name', 'Ana Lima']);

    expect(refused.code).toBe(ExitCode.failed);
    expect(errorLine(refused.stderr)?.message).toMatch(/^403 Link not valid: /);
    expect(expired.code).toBe(ExitCode.failed);
    expect(errorLine(expired.stderr)?.message).toMatch(/^410 Approval request expired: /);
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(store.records.get(ID)?.state).toBe('pending');
  });

  it('an answer that is no approval page still gives its status', async () => {
    const gateway = (async () => new Response('Bad Gateway', { status: 502 })) as typeof fetch;

    const result = await approve([link, '--name', 'Ana Lima'], gateway);

    expect(result.code).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)).toEqual({ name: 'ApprovalRefusedError', message: '502 the endpoint answered without an approval page' });
  });

  it('an unreachable endpoint: exit 1 naming the host and the cause, never the signature', async () => {
    const offline = (async () => {
      throw new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws') });
    }) as typeof fetch;

    const result = await approve([link, '--name', 'Ana Lima'], offline);

    expect(result.code).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)).toEqual({
      name: 'ApprovalUnreachableError',
      message: `could not reach the approval endpoint ${BASE}: TypeError: fetch failed (getaddrinfo ENOTFOUND abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws); nothing was decided`,
    });
    expect(result.stderr).not.toContain(new URL(link).searchParams.get('sig'));
  });

  it.each([
    ['no link', ['--name', 'Ana'], /needs the approval link/],
    ['a link that is not a URL', ['approvals/abc', '--name', 'Ana'], /LINK is not a URL/],
    ['an http link off loopback', [`http://example.com/approvals/${ID}?exp=1&sig=x`, '--name', 'Ana'], /LINK must be an https URL/],
    ['a link without sig', [`${BASE}/approvals/${ID}?exp=${EXP}`, '--name', 'Ana'], /LINK is not an approval link/],
    ['a link to another path', [`${BASE}/other?exp=1&sig=x`, '--name', 'Ana'], /LINK is not an approval link/],
    ['no --name', ['LINK'], /--name is required/],
    ['a blank --name', ['LINK', '--name', '  '], /--name must be one line of 1 to 100 characters/],
    ['a --name over 100 characters', ['LINK', '--name', 'n'.repeat(101)], /--name must be one line of 1 to 100 characters/],
    ['a --comment over 1000 characters', ['LINK', '--name', 'Ana', '--comment', 'c'.repeat(1001)], /--comment must be at most 1000 characters/],
    ['two links', ['LINK', 'LINK', '--name', 'Ana'], /unexpected argument/],
    ['a --name with a right-to-left override', ['LINK', '--name', 'Ana\u202eamiL'], /--name must be printable text, without invisible or direction-changing characters \(it holds U\+202E\)/],
    ['a --name with a zero-width space', ['LINK', '--name', 'Ana\u200bLima'], /it holds U\+200B/],
    ['a --name on two lines', ['LINK', '--name', 'Ana\nLima'], /--name must be one line of text/],
  ])('%s: usage error, exit 2, nothing sent', async (_label, argv, expected) => {
    const result = await approve(argv.map((arg) => (arg === 'LINK' ? link : arg)));

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toMatchObject({ name: 'UsageError', message: expect.stringMatching(expected) });
    expect(endpoint.requests).toHaveLength(0);
  });

  it('reads the link from stdin when given as -, so it is in neither the shell history nor the process list', async () => {
    const result = await lifeboat(['approve', '-', '--name', 'Ana Lima'], { deps: { fetch: endpoint, readStdin: async () => `  ${link}\n` } });

    expect(result.code).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(/^Approved: Ana Lima approved step go of orders-restore/);
    expect(endpoint.requests.map((r) => r.url)).toEqual([link]);
  });

  it.each([
    ['nothing', ''],
    ['two links', `${'x'} ${'y'}`],
  ])('- with %s on stdin: usage error, nothing sent', async (_label, text) => {
    const result = await lifeboat(['approve', '-', '--name', 'Ana'], { deps: { fetch: endpoint, readStdin: async () => text } });

    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toMatchObject({ name: 'UsageError', message: expect.stringMatching(/^LINK is -, but stdin held/) });
    expect(endpoint.requests).toHaveLength(0);
  });

  it('takes a link below an API stage (https://HOST/STAGE/approvals/<id>), as the deployed endpoint sends them', async () => {
    const staged = await approvalLink('https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/approve', ID, EXP, signer);

    const result = await approve([staged, '--name', 'Ana Lima']);

    expect(result.code).toBe(ExitCode.ok);
    expect(endpoint.requests.map((r) => new URL(r.url).pathname)).toEqual([`/approve/approvals/${ID}`]);
  });
});
