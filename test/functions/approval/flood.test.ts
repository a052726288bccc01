// A flood of well-formed forged approval requests against the endpoint as deployed: the WAF rules in front of the
// API (path shape, per-client rate), the stage throttle and the function's reserved concurrency, modelled with the
// same numbers the infrastructure deploys (APPROVAL_LIMITS), over the real endpoint logic. The signer stands in for
// KMS and counts every VerifyMac; Step Functions is mocked and asserted exactly.
import 'aws-sdk-client-mock-vitest/extend';
import { randomBytes } from 'node:crypto';
import { SFNClient, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handleApprovalRequest, type ApprovalEndpointDeps, type ApprovalHttpResponse } from '../../../functions/approval/endpoint.ts';
import { APPROVAL_LIMITS } from '../../../functions/approval/limits.ts';
import { approvalLink } from '../../../functions/approval/link.ts';
import { outcomeOfPage } from '../../../functions/approval/pages.ts';
import { memoryApprovalStore, type PendingApproval } from '../../../functions/approval/store.ts';
import { approvalPathPattern } from '../../../infra/constructs/approval-endpoint.ts';
import { restApiRequest, testSigner } from './support.ts';

const BASE = 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/approve';
const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAXYZ+task/token==';
const START = Date.parse('2026-11-30T08:45:00.000Z');
const EXP = START / 1000 + 1800;
const PENDING: PendingApproval = {
  approvalId: ID,
  taskToken: TOKEN,
  plan: 'orders-restore',
  stepId: 'go',
  executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:orders-restore-20261130-k3x7q2ab',
  mode: 'real',
  question: 'Restore orders now?',
  escalation: false,
  expiresAt: EXP,
  state: 'pending',
};

/** How long an invocation holds its slot: a refusal costs one DynamoDB read, a decision a KMS call and two writes. */
const INVOCATION_MILLISECONDS = 20;
/** WAF's rate-based rule acts on its counts periodically, not per request: a client over its allowance is blocked from the next evaluation. */
const WAF_EVALUATION_MILLISECONDS = 10_000;

/**
 * What stands between the internet and the function, in the order AWS applies it: WAF (the path rule, then the
 * rate-based rule: each client's requests counted over the window, a client over the allowance blocked from the
 * next periodic evaluation on, until it falls back under), the stage's token bucket, then the function's reserved
 * concurrency. Time is simulated: each request says when it is sent, in order.
 */
class ApprovalEdge {
  readonly counts = { wafBlocked: 0, stageThrottled: 0, lambdaThrottled: 0, invoked: 0 };
  private readonly perClient = new Map<string, { times: number[]; first: number }>();
  private blocked = new Set<string>();
  private evaluatedAt = START;
  private tokens: number = APPROVAL_LIMITS.stageBurstLimit;
  private refilledAt = START;
  /** When each running invocation ends, in simulated time. */
  private busyUntil: number[] = [];
  private readonly pathRule = new RegExp(approvalPathPattern('approve'));

  constructor(private readonly deps: ApprovalEndpointDeps) {}

  async send(at: number, sourceIp: string, link: string, method: 'GET' | 'POST', body?: string): Promise<ApprovalHttpResponse & { outcome?: string }> {
    this.evaluate(at);
    const url = new URL(link);
    if (!this.pathRule.test(url.pathname) || (method !== 'GET' && method !== 'POST')) return this.refused('wafBlocked', 404);
    // WAF counts every request a client makes, blocked or not.
    const client = this.perClient.get(sourceIp) ?? { times: [], first: 0 };
    client.times.push(at);
    this.perClient.set(sourceIp, client);
    if (this.blocked.has(sourceIp)) return this.refused('wafBlocked', 429);
    this.tokens = Math.min(APPROVAL_LIMITS.stageBurstLimit, this.tokens + ((at - this.refilledAt) / 1000) * APPROVAL_LIMITS.stageRateLimit);
    this.refilledAt = at;
    if (this.tokens < 1) return this.refused('stageThrottled', 429);
    this.tokens -= 1;
    this.busyUntil = this.busyUntil.filter((end) => end > at);
    if (this.busyUntil.length >= APPROVAL_LIMITS.reservedConcurrency) return this.refused('lambdaThrottled', 429);
    this.busyUntil.push(at + INVOCATION_MILLISECONDS);
    this.counts.invoked += 1;
    const response = await handleApprovalRequest(restApiRequest(link, { method, sourceIp, ...(body === undefined ? {} : { body }) }), { ...this.deps, now: () => new Date(at) });
    return { ...response, outcome: outcomeOfPage(response.body) };
  }

  /** WAF's periodic evaluation: who is over the allowance in the window ending now. */
  private evaluate(at: number): void {
    while (at >= this.evaluatedAt + WAF_EVALUATION_MILLISECONDS) {
      this.evaluatedAt += WAF_EVALUATION_MILLISECONDS;
      this.blocked = new Set();
      for (const [ip, client] of this.perClient) {
        while (client.first < client.times.length && client.times[client.first]! <= this.evaluatedAt - APPROVAL_LIMITS.windowSeconds * 1000) client.first += 1;
        const inWindow = client.times.slice(client.first).filter((t) => t <= this.evaluatedAt).length;
        if (inWindow > APPROVAL_LIMITS.requestsPerClient) this.blocked.add(ip);
      }
    }
  }

  private refused(kind: 'wafBlocked' | 'stageThrottled' | 'lambdaThrottled', statusCode: number) {
    this.counts[kind] += 1;
    return { statusCode, headers: {}, body: '' };
  }
}

const sfn = mockClient(SFNClient);
const signer = testSigner();
let memory: ReturnType<typeof memoryApprovalStore>;
let kmsVerifies: { message: string }[];
let storeReads: number;
let deps: ApprovalEndpointDeps;
let genuine: string;

const randomId = () => randomBytes(18).toString('base64url');
const randomSig = () => randomBytes(32).toString('base64url');
const linkTo = (id: string, exp: number, sig: string) => `${BASE}/approvals/${id}?exp=${exp}&sig=${sig}`;

/** The forgeries an attacker without the link can make, all well-formed: none may cost a KMS call. */
const forgeries: ((i: number) => string)[] = [
  () => linkTo(randomId(), EXP, randomSig()), // an id that does not exist
  () => linkTo(randomId(), START / 1000 - 60, randomSig()), // expired
  (i) => linkTo(ID, EXP + 1 + i, randomSig()), // the real id (leaked somehow) with any other exp
];

beforeEach(async () => {
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  memory = memoryApprovalStore();
  await memory.put(PENDING);
  kmsVerifies = [];
  storeReads = 0;
  deps = {
    store: { ...memory, get: (id) => ((storeReads += 1), memory.get(id)) },
    signer: { sign: signer.sign, verify: (message, sig) => (kmsVerifies.push({ message }), signer.verify(message, sig)) },
    sfn: new SFNClient({ region: 'eu-west-1' }),
  };
  genuine = await approvalLink(BASE, ID, EXP, signer);
});

const APPROVER_IP = '198.51.100.7';
/** The approver's browser: on a 429 (WAF or throttling), they try again a few seconds later. */
const RETRY_MILLISECONDS = 3_000;

/**
 * Sends `total` forged requests from `clients` addresses at `perSecond`, waves of them in flight together, while the
 * genuine approver, from `approverStartsAt` milliseconds in, opens the link and then posts the decision, trying again
 * after each 429.
 */
async function flood(edge: ApprovalEdge, options: { total: number; clients: number; perSecond: number; approverStartsAt: number }) {
  const forged: Promise<ApprovalHttpResponse>[] = [];
  const approver: { at: number; step: 'GET' | 'POST' | 'done'; tries: number; opened?: ApprovalHttpResponse; decided?: ApprovalHttpResponse & { outcome?: string } } = {
    at: START + options.approverStartsAt,
    step: 'GET',
    tries: 0,
  };
  const form = new URLSearchParams({ decision: 'approve', name: 'Ana Lima' }).toString();
  for (let i = 0; i < options.total; i += 1) {
    const at = START + (i * 1000) / options.perSecond;
    while (approver.step !== 'done' && approver.at <= at) {
      await Promise.all(forged);
      approver.tries += 1;
      const response = await edge.send(approver.at, APPROVER_IP, genuine, approver.step, approver.step === 'POST' ? form : undefined);
      if (response.statusCode === 429) {
        approver.at += RETRY_MILLISECONDS;
      } else if (approver.step === 'GET') {
        approver.opened = response;
        approver.step = 'POST';
        approver.at += 1_000;
      } else {
        approver.decided = response;
        approver.step = 'done';
      }
    }
    forged.push(edge.send(at, `203.0.113.${i % options.clients}`, forgeries[i % forgeries.length]!(i), i % 2 === 0 ? 'GET' : 'POST', 'decision=approve&name=Mallory'));
    if (forged.length % 200 === 0) await Promise.all(forged.slice(-200));
  }
  return { forged: await Promise.all(forged), approver };
}

describe('the approval endpoint under a flood of well-formed forged requests', () => {
  it('from one client: it meets the stage throttle until WAF blocks it, none of it costs a KMS call, and the genuine decision lands', async () => {
    const edge = new ApprovalEdge(deps);
    const perSecond = 2_000;
    const seconds = 40;

    const { forged, approver } = await flood(edge, { total: perSecond * seconds, clients: 1, perSecond, approverStartsAt: 5_000 });

    expect(approver.opened?.statusCode).toBe(200);
    expect(approver.decided?.statusCode).toBe(200);
    expect(approver.decided?.outcome).toMatch(/^Approved: Ana Lima approved step go of orders-restore at 2026-11-30 08:45:\d\d UTC\. The plan goes on\.$/);
    // Until WAF's first evaluation blocks the flood, the stage throttle may turn the approver away; then it lands.
    const landedAfter = Date.parse(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input.output!).decidedAt) - START;
    expect(landedAfter).toBeLessThanOrEqual(2 * WAF_EVALUATION_MILLISECONDS + 2 * RETRY_MILLISECONDS);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN });
    // KMS was asked exactly twice: the genuine GET and POST. No forgery reached it.
    expect(kmsVerifies).toEqual([{ message: `${ID}.${EXP}` }, { message: `${ID}.${EXP}` }]);
    // Once blocked, the client never reaches the function again: at most the stage's burst and rate until then.
    expect(edge.counts.invoked).toBeLessThanOrEqual(APPROVAL_LIMITS.stageBurstLimit + (APPROVAL_LIMITS.stageRateLimit * WAF_EVALUATION_MILLISECONDS) / 1000 + 2);
    expect(edge.counts.wafBlocked).toBeGreaterThanOrEqual(perSecond * (seconds - WAF_EVALUATION_MILLISECONDS / 1000));
    expect(edge.counts.lambdaThrottled).toBe(0);
    expect(new Set(forged.map((r) => r.statusCode))).toEqual(new Set([403, 404, 410, 429]));
    expect(memory.records.get(ID)).toMatchObject({ state: 'decided', decision: { approver: 'Ana Lima', approved: true } });
  });

  it('from many clients, each under its allowance: every forgery is refused without a KMS call, and the genuine decision lands', async () => {
    const edge = new ApprovalEdge(deps);
    const clients = 100;

    const { forged, approver } = await flood(edge, { total: clients * (APPROVAL_LIMITS.requestsPerClient - 1), clients, perSecond: APPROVAL_LIMITS.stageRateLimit / 2, approverStartsAt: 30_000 });

    expect(approver.decided?.statusCode).toBe(200);
    expect(approver.tries).toBe(2);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(kmsVerifies).toHaveLength(2);
    expect(edge.counts).toEqual({ wafBlocked: 0, stageThrottled: 0, lambdaThrottled: 0, invoked: clients * (APPROVAL_LIMITS.requestsPerClient - 1) + 2 });
    expect(new Set(forged.map((r) => r.statusCode))).toEqual(new Set([403, 404, 410]));
    expect(memory.records.get(ID)).toMatchObject({ state: 'decided', decision: { approver: 'Ana Lima', approved: true } });
  });

  it('a forged signature for the real id and its real exp costs one KMS call, and WAF caps how many a client gets', async () => {
    const edge = new ApprovalEdge(deps);
    const tries = 1_000;

    const responses = [];
    // One every 100 ms: WAF blocks the client at its first evaluation over the allowance.
    for (let i = 0; i < tries; i += 1) responses.push(await edge.send(START + i * 100, '203.0.113.9', linkTo(ID, EXP, randomSig()), 'POST', 'decision=approve&name=Mallory'));

    expect(responses.filter((r) => r.statusCode === 403 || r.statusCode === 429)).toHaveLength(tries);
    // KMS calls: one per request that passed WAF, at most what the client sent before WAF's evaluation blocked it.
    expect(kmsVerifies.length).toBe(responses.filter((r) => r.statusCode === 403).length);
    expect(kmsVerifies.length).toBeLessThanOrEqual(APPROVAL_LIMITS.requestsPerClient + WAF_EVALUATION_MILLISECONDS / 100);
    expect(sfn.calls()).toHaveLength(0);
    expect(memory.records.get(ID)).toEqual(PENDING);
  });

  it('requests that are not approval links never reach the function', async () => {
    const edge = new ApprovalEdge(deps);

    for (const path of ['/approve/', '/approve/approvals/short', '/approve/admin', '/other/approvals/q7Jm2kT9xYw0bVnA4sLp8rCe']) {
      expect((await edge.send(START, '203.0.113.1', `https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com${path}`, 'GET')).statusCode).toBe(404);
    }
    expect(edge.counts).toMatchObject({ wafBlocked: 4, invoked: 0 });
  });
});
