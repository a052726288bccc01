/**
 * Messages to a plan's contacts: its SNS topic (`<name>-plan-<plan>-contacts`), found in PLAN_TOPICS. Plain
 * text, a subject under 100 characters, and the `plan` and `severity` message attributes (docs/dr-plans.md,
 * "Contacts"). Every field is scrubbed of credentials, as alerts are.
 */
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { MAX_SUBJECT_LENGTH, scrubSecrets } from '../lib/alerts/index.ts';
import { AlertPublishFailedError, ConfigError } from '../lib/errors.ts';
import type { Severity } from '../lib/severity.ts';

import type { PlanTopics } from '../lib/alerts/planTopics.ts';

export { PlanTopicsSchema, type PlanTopics } from '../lib/alerts/planTopics.ts';

export interface PlanMessage {
  readonly plan: string;
  readonly severity: Extract<Severity, 'INFO' | 'WARNING' | 'ERROR'>;
  /** Cut to fit SNS's limit; `[DRILL] ` is prepended in drills by the callers. */
  readonly subject: string;
  readonly message: string;
}

export function topicFor(topics: PlanTopics, plan: string): string {
  const topic = topics[plan];
  if (topic === undefined) {
    throw new ConfigError(`PLAN_TOPICS has no contacts topic for plan '${plan}'; it has ${Object.keys(topics).join(', ') || 'none'}`);
  }
  return topic;
}

/** The exact `Publish` request for `message` to its plan's topic. */
export function planPublishInput(topics: PlanTopics, message: PlanMessage): PublishCommandInput {
  return {
    TopicArn: topicFor(topics, message.plan),
    Subject: subjectLine(scrubSecrets(message.subject)),
    Message: scrubSecrets(message.message),
    MessageAttributes: {
      plan: { DataType: 'String', StringValue: message.plan },
      severity: { DataType: 'String', StringValue: message.severity },
    },
  };
}

/** Publishes to the plan's topic; SNS refusing it is an `AlertPublishFailedError` (retryable). */
export async function publishPlanMessage(
  sns: Pick<SNSClient, 'send'>,
  topics: PlanTopics,
  message: PlanMessage,
): Promise<{ topicArn: string; messageId?: string }> {
  const input = planPublishInput(topics, message);
  try {
    const output = await sns.send(new PublishCommand(input));
    return { topicArn: input.TopicArn!, ...(output.MessageId === undefined ? {} : { messageId: output.MessageId }) };
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new AlertPublishFailedError(`Publishing to the contacts of plan ${message.plan} (${input.TopicArn}) failed: ${scrubSecrets(detail)}`, {
      cause: error,
    });
  }
}

/** `[DRILL] ` in drills, nothing for real runs. */
export function drillPrefix(mode: 'real' | 'drill'): string {
  return mode === 'drill' ? '[DRILL] ' : '';
}

/** One ASCII line SNS accepts as a subject (fewer than 100 characters). */
function subjectLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim();
  return ascii.length <= MAX_SUBJECT_LENGTH ? ascii : `${ascii.slice(0, MAX_SUBJECT_LENGTH - 3)}...`;
}
