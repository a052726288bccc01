// The local drill's approvers: how a question is asked on a terminal (or stdin), escalated and queued.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type ApprovalRequest, approveAs, terminalApprover } from '../../cli/localPlan.ts';

const request = (stepId: string, overrides: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
  plan: 'orders-failover',
  stepId,
  question: `Go ahead with ${stepId}?`,
  mode: 'drill',
  escalation: false,
  contacts: ['platform-oncall@example.com'],
  expiresInSeconds: 900,
  ...overrides,
});

/** A terminal: what was written to it, and a keyboard to type lines on. */
function terminal() {
  const input = new PassThrough();
  let written = '';
  return { input, type: (line: string) => input.write(`${line}\n`), written: () => written, prompt: (text: string) => (written += text) };
}

describe('terminalApprover', () => {
  it('asks the question with its contacts and escalation time, re-asks until yes or no, and returns the decision as the endpoint sends it', async () => {
    const term = terminal();
    const approver = terminalApprover(term.input, term.prompt);
    const decision = approver.decide(request('promote'));
    term.type('perhaps');
    term.type('YES');
    term.type('  Ana Lima ');
    term.type('replica lag checked');

    expect(await decision).toEqual({ approved: true, approver: 'Ana Lima', comment: 'replica lag checked', decidedAt: expect.any(String) });
    expect(term.written()).toBe(
      [
        '',
        'Approval needed: plan orders-failover, step promote (drill)',
        '  Go ahead with promote?',
        '  Contacts: platform-oncall@example.com; escalated to them after 15 min without an answer',
        'Approve? [yes/no]: Please answer yes or no.',
        'Approve? [yes/no]: Your name: Comment (optional): Approved by Ana Lima.',
        '',
      ].join('\n'),
    );
    approver.close();
  });

  it('an escalation of the same step says nobody decided yet and waits for the same answer', async () => {
    const term = terminal();
    const approver = terminalApprover(term.input, term.prompt);
    const first = approver.decide(request('promote'));
    const escalated = approver.decide(request('promote', { escalation: true }));
    expect(escalated).toBe(first);
    expect(term.written()).toContain('(No decision on step promote yet: the contacts are reminded. Still waiting for your answer.)');
    term.type('no');
    term.type('Ben Ode');
    term.type('');
    expect(await escalated).toEqual({ approved: false, approver: 'Ben Ode', comment: '', decidedAt: expect.any(String) });
    approver.close();
  });

  it('asks two approvals of one level one after the other, each with its own answer', async () => {
    const term = terminal();
    const approver = terminalApprover(term.input, term.prompt);
    const a = approver.decide(request('a'));
    const b = approver.decide(request('b'));
    for (const line of ['yes', 'Ana', '', 'no', 'Ben', 'later']) term.type(line);
    expect([(await a).approver, (await a).approved, (await b).approver, (await b).approved]).toEqual(['Ana', true, 'Ben', false]);
    expect(term.written().indexOf('step b')).toBeGreaterThan(term.written().indexOf('Approved by Ana.'));
    approver.close();
  });

  it('refuses an empty name, and input that ends first decides nothing', async () => {
    const term = terminal();
    const approver = terminalApprover(term.input, term.prompt);
    const decision = approver.decide(request('promote'));
    term.type('yes');
    term.type('   ');
    term.input.end();
    await expect(decision).rejects.toMatchObject({ name: 'ApprovalUnansweredError', message: expect.stringContaining('the input ended before step promote was decided') });
    expect(term.written().match(/Your name: /g)).toHaveLength(2);
  });
});

describe('approveAs', () => {
  it('approves at once as the name given, and says so', async () => {
    const said: string[] = [];
    const decision = await approveAs('Drill Bot', (line) => said.push(line)).decide(request('promote'));
    expect(decision).toEqual({ approved: true, approver: 'Drill Bot', comment: 'approved with --approve-as', decidedAt: expect.any(String) });
    expect(said).toEqual(['? promote: Go ahead with promote? -> approved by Drill Bot (--approve-as)']);
  });
});
