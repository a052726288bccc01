// The request task: stores the request with its token, publishes the signed link (never the token) to the plan's topic.
import 'aws-sdk-client-mock-vitest/extend';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { approvalLink, checkLink } from '../../../functions/approval/link.ts';
import { approvalSubject, requestApproval, type ApprovalRequestEvent, type RequestApprovalDeps } from '../../../functions/approval/request.ts';
import { memoryApprovalStore } from '../../../functions/approval/store.ts';
import { linkFromMessage, rejection, testSigner } from './support.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:lifeboat-plan-orders-restore-contacts';
const BASE = 'https://abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws';
const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAXYZ+task/token==';
const NOW = new Date('2026-11-30T08:20:00.000Z');
const EXP = 1_796_030_400; // NOW + 3600 s = 2026-11-30T09:20:00Z
const EXECUTION = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:drill-20261130-k3x7q2ab';
const EVENT: ApprovalRequestEvent = {
  taskToken: TOKEN,
  plan: 'orders-restore',
  stepId: 'go',
  question: 'Restore orders now?',
  mode: 'real',
  executionId: EXECUTION,
  escalation: false,
  contacts: ['ana@example.com', 'ops@example.com'],
  expiresInSeconds: 3600,
};

const sns = mockClient(SNSClient);
let store: ReturnType<typeof memoryApprovalStore>;
let deps: RequestApprovalDeps;
const signer = testSigner();
const published = () => sns.commandCalls(PublishCommand).map((call) => call.args[0].input);

beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'msg-1' });
  store = memoryApprovalStore();
  deps = {
    store,
    signer,
    sns: new SNSClient({ region: 'eu-west-1' }),
    topics: { 'orders-restore': TOPIC },
    baseUrl: BASE,
    now: () => NOW,
    newApprovalId: () => ID,
  };
});

describe('requestApproval', () => {
  it('publishes one plain-text message with the signed link to the plan topic, exactly, and never the token', async () => {
    const link = await approvalLink(BASE, ID, EXP, signer);

    const result = await requestApproval(EVENT, deps);

    expect(result).toEqual({ approvalId: ID, plan: 'orders-restore', stepId: 'go', escalation: false, expiresAt: '2026-11-30T09:20:00.000Z', messageId: 'msg-1' });
    expect(published()).toEqual([
      {
        TopicArn: TOPIC,
        Subject: 'Lifeboat orders-restore: approval needed (step go)',
        Message: [
          'Lifeboat: the DR plan orders-restore is waiting for an approval at step go.',
          '',
          'Question:   Restore orders now?',
          'Plan:       orders-restore',
          'Step:       go',
          'Mode:       real (not a drill)',
          `Execution:  ${EXECUTION}`,
          'Decide by:  2026-11-30 09:20:00 UTC',
          '',
          'To decide, open this link:',
          `  ${link}`,
          '',
          'Opening the link does not decide anything: the page shows this request and has the form (your name,',
          'a comment, Approve or Reject). The first decision counts.',
          `From a terminal: lifeboat approve '${link}' --name 'YOUR NAME' [--reject] [--comment TEXT]`,
          '',
          'If nobody decides by 2026-11-30 09:20:00 UTC, this link expires and the contacts are asked again.',
          '',
          `The execution: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION}`,
          '',
          '-- ',
          'Sent by Lifeboat to the contacts of the DR plan orders-restore: ana@example.com, ops@example.com.',
          '',
        ].join('\n'),
        MessageAttributes: {
          plan: { DataType: 'String', StringValue: 'orders-restore' },
          severity: { DataType: 'String', StringValue: 'WARNING' },
        },
      },
    ]);
    expect(JSON.stringify(published())).not.toContain('task/token');
    expect(JSON.stringify(result)).not.toContain('task/token');
  });

  it('stores the pending request with its token and expiresAt = now + expiresInSeconds, and the link checks', async () => {
    await requestApproval(EVENT, deps);

    expect(store.records.get(ID)).toEqual({
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
    });
    const url = new URL(linkFromMessage(published()[0]!.Message!));
    await expect(checkLink(ID, { exp: url.searchParams.get('exp')!, sig: url.searchParams.get('sig')! }, signer, NOW)).resolves.toMatchObject({ valid: true, exp: EXP });
  });

  it('says DRILL in the subject, the headline and the mode of a drill', async () => {
    await requestApproval({ ...EVENT, mode: 'drill' }, deps);

    const [input] = published();
    expect(input!.Subject).toBe('[DRILL] Lifeboat orders-restore: approval needed (step go)');
    const lines = input!.Message!.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      'DRILL: Lifeboat: the DR plan orders-restore is waiting for an approval at step go.',
      '',
      '*** THIS IS A DRILL. Restores go to drill targets and nothing is promoted; the question is asked',
      '*** as for real, and the drill waits for your answer.',
      '',
      'Question:   Restore orders now?',
    ]);
    expect(lines).toContain('Mode:       DRILL');
  });

  it('escalation: says nobody decided in time, and when the plan fails', async () => {
    await requestApproval({ ...EVENT, escalation: true, expiresInSeconds: 1800 }, deps);

    const [input] = published();
    expect(input!.Subject).toBe('Lifeboat orders-restore: nobody decided yet, approval still needed (step go)');
    const message = input!.Message!;
    expect(message).toMatch(/^Lifeboat: nobody decided in time\. The DR plan orders-restore is still waiting for an approval at step go\.\n/);
    expect(message).toContain("The first request's link has expired. If nobody decides by 2026-11-30 08:50:00 UTC, the plan fails (ApprovalTimedOutError).");
    expect(store.records.get(ID)).toMatchObject({ escalation: true, expiresAt: EXP - 1800 });
    expect(input!.MessageAttributes!['severity']).toEqual({ DataType: 'String', StringValue: 'WARNING' });
  });

  it('asks whether to go on with the step when the plan gives no question', async () => {
    await requestApproval({ ...EVENT, question: null }, deps);
    await requestApproval({ ...EVENT, question: '  ' }, { ...deps, newApprovalId: () => 'Zz9Jm2kT9xYw0bVnA4sLp8rC' });

    expect(store.records.get(ID)?.question).toBe('Go on with step "go" of the DR plan orders-restore?');
    expect(store.records.get('Zz9Jm2kT9xYw0bVnA4sLp8rC')?.question).toBe('Go on with step "go" of the DR plan orders-restore?');
    expect(published()[0]!.Message).toContain('Question:   Go on with step "go" of the DR plan orders-restore?');
  });

  it('keeps the subject under 100 ASCII characters for the longest names', () => {
    const subject = approvalSubject({ plan: `p${'x'.repeat(39)}`, stepId: `s${'y'.repeat(39)}`, mode: 'drill', escalation: true });

    expect(subject.length).toBeLessThan(100);
    expect(subject).toMatch(/^\[DRILL\] Lifeboat px+: nobody decided yet.*\.\.\.$/);
  });

  it('refuses an event missing expiresInSeconds or with a bad field, naming each field and never the token', async () => {
    const { expiresInSeconds: _omitted, ...withoutExpiry } = EVENT;

    const error = await rejection(requestApproval({ ...withoutExpiry, contacts: ['not-an-email'], mode: 'rehearsal' }, deps));

    expect(error).toMatchObject({ name: 'ConfigError' });
    expect(error.message).toMatch(/^Invalid approval request: /);
    for (const field of ['mode', 'contacts.0', 'expiresInSeconds']) expect(error.message).toContain(`${field}: `);
    expect(error.message).not.toContain('task/token');
    expect(store.records.size).toBe(0);
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('refuses a plan without a topic in PLAN_TOPICS before storing anything', async () => {
    await expect(requestApproval({ ...EVENT, plan: 'billing-restore' }, deps)).rejects.toMatchObject({
      name: 'ConfigError',
      message: "PLAN_TOPICS has no contacts topic for plan 'billing-restore'",
    });
    expect(store.records.size).toBe(0);
  });

  it('fails with ApprovalNotSentError when SNS refuses, so the plan does not wait for an answer nobody was asked for', async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' }));

    const error = await rejection(requestApproval(EVENT, deps));

    expect(error).toMatchObject({ name: 'ApprovalNotSentError', retryable: true });
    expect(error.message).toBe(`Sending the approval request for step go of plan orders-restore to ${TOPIC} failed: ThrottledException: Rate exceeded`);
    expect(error.message).not.toContain('task/token');
  });
});

describe('the audit trail', () => {
  it('records one approval-requested event once the request is sent, never the token or the link; an unsent request records none', async () => {
    const events: Record<string, unknown>[] = [];
    const trail = { record: async (input: Record<string, unknown>) => { events.push(input); return { written: true } as never; } };
    await requestApproval({ ...EVENT, escalation: true }, { ...deps, audit: trail as never });
    expect(events).toEqual([
      {
        type: 'approval-requested',
        outcome: 'succeeded',
        plan: 'orders-restore',
        executionId: EXECUTION,
        details: { approvalId: ID, step: 'go', escalation: true, mode: 'real', expiresAt: '2026-11-30T09:20:00.000Z' },
      },
    ]);
    expect(JSON.stringify(events)).not.toContain('task/token');
    expect(JSON.stringify(events)).not.toContain('sig=');

    sns.on(PublishCommand).rejects(new Error('topic gone'));
    await expect(requestApproval(EVENT, { ...deps, audit: trail as never })).rejects.toThrow();
    expect(events).toHaveLength(1);
  });
});
