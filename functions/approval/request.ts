/**
 * The request-approval task's core (`Approve<id>` and `Escalate<id>`, `lambda:invoke.waitForTaskToken`):
 * stores the request with its task token, signs a link to it and sends that link to the plan's contacts.
 * The plan then waits until someone decides on the endpoint (which sends the task token its output) or the
 * task times out. The task token is never published, returned or logged.
 */
import type { AuditTrail } from '../lib/audit/index.ts';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { MAX_SUBJECT_LENGTH } from '../lib/alerts/index.ts';
import { ConfigError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { ApprovalNotSentError } from './errors.ts';
import { defaultQuestion, executionConsoleUrl, humanTime } from './format.ts';
import { approvalLink, newApprovalId } from './link.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import type { ApprovalStore, PendingApproval } from './store.ts';

const NAME = /^[a-z][a-z0-9-]{0,39}$/;
/** The longest a request waits: Step Functions' own limit for a task is about a year. */
export const MAX_EXPIRES_IN_SECONDS = 366 * 24 * 3600;
const MAX_QUESTION_LENGTH = 1_000;

/**
 * The Task's payload (docs/dr-plans.md, `Approve<id>`/`Escalate<id>`), plus `expiresInSeconds`: the task's
 * own `TimeoutSeconds` (`escalateAfterMinutes × 60` for `Approve<id>`, the rest of `timeoutMinutes` for
 * `Escalate<id>`), so the link stops working when the task stops waiting.
 */
export const ApprovalRequestEventSchema = z.object({
  taskToken: z.string().min(1, 'must not be empty'),
  plan: z.string().regex(NAME, 'must be a plan name'),
  stepId: z.string().regex(NAME, 'must be a step id'),
  /** The step's question; none (absent, null or empty) asks whether to go on with the step. */
  question: z.string().max(MAX_QUESTION_LENGTH).nullish(),
  mode: z.enum(['real', 'drill']),
  executionId: z.string().min(1, 'must not be empty'),
  escalation: z.boolean(),
  contacts: z.array(z.email()).min(1, 'must list at least one contact'),
  expiresInSeconds: z.number().int().min(1).max(MAX_EXPIRES_IN_SECONDS),
});
export type ApprovalRequestEvent = z.input<typeof ApprovalRequestEventSchema>;

/** PLAN_TOPICS: plan name → the ARN of its contacts topic. */
export { PlanTopicsSchema, type PlanTopics } from '../lib/alerts/planTopics.ts';
import type { PlanTopics } from '../lib/alerts/planTopics.ts';

export interface RequestApprovalDeps {
  readonly store: ApprovalStore;
  readonly signer: MacSigner;
  readonly sns: Pick<SNSClient, 'send'>;
  readonly topics: Readonly<PlanTopics>;
  /** The endpoint's origin, without a trailing slash (see `parseBaseUrl`). */
  readonly baseUrl: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default newApprovalId (144 random bits) */
  readonly newApprovalId?: () => string;
  /** Where each request sent is recorded (docs/audit-trail.md); never the link or the task token. @default none */
  readonly audit?: AuditTrail;
}

/** What the task returns: nothing a reader of the execution history could approve with. */
export interface ApprovalRequested {
  readonly approvalId: string;
  readonly plan: string;
  readonly stepId: string;
  readonly escalation: boolean;
  /** ISO 8601: when the link stops working. */
  readonly expiresAt: string;
  readonly messageId?: string;
}

export async function requestApproval(event: unknown, deps: RequestApprovalDeps): Promise<ApprovalRequested> {
  const request = parseOrConfigError(ApprovalRequestEventSchema, event, 'Invalid approval request');
  const topicArn = deps.topics[request.plan];
  if (topicArn === undefined) throw new ConfigError(`PLAN_TOPICS has no contacts topic for plan '${request.plan}'`);
  const now = (deps.now ?? (() => new Date()))();
  const expiresAt = Math.floor(now.getTime() / 1000) + request.expiresInSeconds;
  const record: PendingApproval = {
    approvalId: (deps.newApprovalId ?? newApprovalId)(),
    taskToken: request.taskToken,
    plan: request.plan,
    stepId: request.stepId,
    executionId: request.executionId,
    mode: request.mode,
    question: request.question?.trim() || defaultQuestion(request.plan, request.stepId),
    escalation: request.escalation,
    expiresAt,
    state: 'pending',
  };
  await deps.store.put(record);
  const link = await approvalLink(deps.baseUrl, record.approvalId, expiresAt, deps.signer);
  const input = approvalMessageInput(topicArn, { ...record, link, contacts: request.contacts });
  let messageId: string | undefined;
  try {
    messageId = (await deps.sns.send(new PublishCommand(input))).MessageId;
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ApprovalNotSentError(`Sending the approval request for step ${record.stepId} of plan ${record.plan} to ${topicArn} failed: ${detail}`, { cause: error });
  }
  await deps.audit?.record({
    type: 'approval-requested',
    outcome: 'succeeded',
    plan: record.plan,
    executionId: record.executionId,
    details: { approvalId: record.approvalId, step: record.stepId, escalation: record.escalation, mode: record.mode, expiresAt: new Date(expiresAt * 1000).toISOString() },
  });
  return {
    approvalId: record.approvalId,
    plan: record.plan,
    stepId: record.stepId,
    escalation: record.escalation,
    expiresAt: new Date(expiresAt * 1000).toISOString(),
    ...(messageId === undefined ? {} : { messageId }),
  };
}

/** What a message is about: the stored request (less its token), its link and who it goes to. */
export interface ApprovalMessage {
  readonly plan: string;
  readonly stepId: string;
  readonly question: string;
  readonly mode: 'real' | 'drill';
  readonly executionId: string;
  readonly escalation: boolean;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly link: string;
  readonly contacts: readonly string[];
}

/** The exact `Publish` request: plain text, a subject under 100 characters, attributes `plan` and `severity`. */
export function approvalMessageInput(topicArn: string, message: ApprovalMessage): PublishCommandInput {
  return {
    TopicArn: topicArn,
    Subject: approvalSubject(message),
    Message: approvalMessageText(message),
    MessageAttributes: {
      plan: { DataType: 'String', StringValue: message.plan },
      severity: { DataType: 'String', StringValue: 'WARNING' },
    },
  };
}

export function approvalSubject(message: Pick<ApprovalMessage, 'plan' | 'stepId' | 'mode' | 'escalation'>): string {
  const drill = message.mode === 'drill' ? '[DRILL] ' : '';
  const what = message.escalation ? 'nobody decided yet, approval still needed' : 'approval needed';
  return subjectLine(`${drill}Lifeboat ${message.plan}: ${what} (step ${message.stepId})`);
}

export function approvalMessageText(message: ApprovalMessage): string {
  const drill = message.mode === 'drill';
  const deadline = humanTime(new Date(message.expiresAt * 1000));
  const consoleUrl = executionConsoleUrl(message.executionId);
  const headline = message.escalation
    ? `Lifeboat: nobody decided in time. The DR plan ${message.plan} is still waiting for an approval at step ${message.stepId}.`
    : `Lifeboat: the DR plan ${message.plan} is waiting for an approval at step ${message.stepId}.`;
  const fields: [string, string][] = [
    ['Question', message.question],
    ['Plan', message.plan],
    ['Step', message.stepId],
    ['Mode', drill ? 'DRILL' : 'real (not a drill)'],
    ['Execution', message.executionId],
    ['Decide by', deadline],
  ];
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const lines = [
    `${drill ? 'DRILL: ' : ''}${headline}`,
    '',
    ...(drill
      ? [
          '*** THIS IS A DRILL. Restores go to drill targets and nothing is promoted; the question is asked',
          '*** as for real, and the drill waits for your answer.',
          '',
        ]
      : []),
    ...fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`),
    '',
    'To decide, open this link:',
    `  ${message.link}`,
    '',
    'Opening the link does not decide anything: the page shows this request and has the form (your name,',
    'a comment, Approve or Reject). The first decision counts.',
    `From a terminal: lifeboat approve '${message.link}' --name 'YOUR NAME' [--reject] [--comment TEXT]`,
    '',
    message.escalation
      ? `The first request's link has expired. If nobody decides by ${deadline}, the plan fails (ApprovalTimedOutError).`
      : `If nobody decides by ${deadline}, this link expires and the contacts are asked again.`,
    ...(consoleUrl === undefined ? [] : ['', `The execution: ${consoleUrl}`]),
    '',
    '-- ',
    `Sent by Lifeboat to the contacts of the DR plan ${message.plan}: ${message.contacts.join(', ')}.`,
  ];
  return `${lines.join('\n')}\n`;
}

/** One ASCII line of at most {@link MAX_SUBJECT_LENGTH} characters, as SNS requires. */
function subjectLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= MAX_SUBJECT_LENGTH ? ascii : `${ascii.slice(0, MAX_SUBJECT_LENGTH - 3)}...`;
}
