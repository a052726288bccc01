/**
 * Turns CloudWatch alarm notifications into Lifeboat alerts. An alarm action publishes a fixed JSON document
 * with no message attributes, and the alert topic's subscriptions filter on the `severity` attribute: an
 * alarm published there directly would reach no one. So alarms publish to their own topic, this function
 * reads each notification and publishes it to the alert topic as an alert: ERROR when an alarm fires, INFO
 * when it clears, with the text the alarm's description carries (functions/lib/monitoring/alarmText.ts).
 */
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { publishAlert } from '../lib/alerts/index.ts';
import { ConfigError } from '../lib/errors.ts';
import { parseAlarmDescription, VALUE_PLACEHOLDER } from '../lib/monitoring/alarmText.ts';
import { parseOrConfigError } from '../lib/validation.ts';

/** The part of a CloudWatch alarm notification this function reads; the rest is ignored. */
export const AlarmNotificationSchema = z.looseObject({
  AlarmName: z.string().min(1),
  AlarmDescription: z.string().nullable().optional(),
  NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
  NewStateReason: z.string(),
  StateChangeTime: z.string(),
  Region: z.string().optional(),
  AlarmArn: z.string().optional(),
});
export type AlarmNotification = z.output<typeof AlarmNotificationSchema>;

const SnsEventSchema = z.looseObject({
  Records: z.array(z.looseObject({ Sns: z.looseObject({ Message: z.string() }) })).min(1),
});

export interface ForwardDeps {
  readonly sns: Pick<SNSClient, 'send'>;
  readonly alertTopicArn: string;
}

/** Forwards every alarm notification of an SNS event; returns how many became alerts. */
export async function forwardAlarms(event: unknown, deps: ForwardDeps): Promise<{ forwarded: number }> {
  const { Records } = parseOrConfigError(SnsEventSchema, event, 'alarm notification event');
  let forwarded = 0;
  for (const [index, record] of Records.entries()) {
    let document: unknown;
    try {
      document = JSON.parse(record.Sns.Message);
    } catch {
      throw new ConfigError(`alarm notification event: Records[${index}].Sns.Message: not a JSON alarm notification`);
    }
    const alarm = parseOrConfigError(AlarmNotificationSchema, document, `Records[${index}].Sns.Message`);
    // INSUFFICIENT_DATA is not raised: every Lifeboat alarm treats missing data as breaching or not breaching.
    if (alarm.NewStateValue === 'INSUFFICIENT_DATA') continue;
    await publishAlert(deps.sns, deps.alertTopicArn, alertOf(alarm));
    forwarded += 1;
  }
  return { forwarded };
}

/** The alert an alarm notification becomes. */
export function alertOf(alarm: AlarmNotification): Parameters<typeof publishAlert>[2] {
  const text = parseAlarmDescription(alarm.AlarmDescription ?? '');
  const firing = alarm.NewStateValue === 'ALARM';
  const value = triggeringValue(alarm.NewStateReason);
  const figure = value ?? 'unknown (no data arrived: nothing to measure, or the freshness function is not reporting)';
  const summary = text ? text.summary.replaceAll(VALUE_PLACEHOLDER, figure) : `Alarm ${alarm.AlarmName} changed to ${alarm.NewStateValue}.`;
  const at = Date.parse(alarm.StateChangeTime);
  const region = alarm.Region ? ` (${alarm.Region})` : '';
  return {
    severity: firing ? 'ERROR' : 'INFO',
    sourceId: text?.subject ?? 'lifeboat',
    step: 'monitoring',
    errorName: 'CloudWatchAlarm',
    headline: firing ? (text?.headline ?? `alarm ${alarm.AlarmName}`) : `resolved: ${text?.headline ?? `alarm ${alarm.AlarmName}`}`,
    reason: `${summary}\nAlarm ${alarm.AlarmName}${region}: ${alarm.NewStateReason}`,
    nextSteps: firing
      ? text && text.nextSteps.length > 0 ? [...text.nextSteps] : [`Open the alarm ${alarm.AlarmName} in the CloudWatch console; docs/monitoring.md has a runbook per alarm.`]
      : ['Nothing to do: the alarm is back to OK. Check the earlier ERROR alert\'s cause was understood.'],
    ...(Number.isNaN(at) ? {} : { at: new Date(at) }),
  };
}

/** The first datapoint CloudWatch quotes in a state reason (`... datapoints [312.0 (02/12/26 15:00:00)] ...`), as written. */
export function triggeringValue(reason: string): string | undefined {
  const match = /\[(-?\d+(?:\.\d+)?(?:E[+-]?\d+)?) \(/i.exec(reason);
  if (!match) return undefined;
  const number = Number(match[1]);
  return Number.isInteger(number) ? String(number) : number.toFixed(1);
}
