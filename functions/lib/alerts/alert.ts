/**
 * Alerts to the SNS topic: a short subject for the inbox, a plain-text body an email client shows as is
 * (what happened, to which source and backup, why, what to do next, a link), and message attributes the
 * subscriptions filter on (`severity`). Nothing secret is ever sent: every field is scrubbed of
 * `scheme://user:password@` credentials and `password=…`-style assignments, whatever its origin.
 */
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { redact } from '../engine/connection.ts';
import { AlertPublishFailedError, ConfigError } from '../errors.ts';
import { SEVERITIES, type Severity } from '../severity.ts';

export { SEVERITIES, type Severity };

/** SNS requires subjects shorter than 100 characters, ASCII, without line breaks. */
export const MAX_SUBJECT_LENGTH = 99;
/** A reason longer than this is cut: an alert says why in a few lines; the full record is in the vault or the execution. */
const MAX_REASON_LENGTH = 2_000;

/** The `errorName` of a size anomaly alert: not an error, a warning about a backup that did verify. */
export const SIZE_ANOMALY = 'SizeAnomaly';

const AlertSchema = z.object({
  severity: z.enum(SEVERITIES),
  sourceId: z.string().min(1),
  backupId: z.string().min(1).optional(),
  /** The pipeline step that reports: `dump`, `verify`, `copy`, `retention`, … */
  step: z.string().min(1),
  /** The named error (`VerificationFailedError`, `DumpFailedError`, …) or `SizeAnomaly`. */
  errorName: z.string().min(1),
  /** What the subject says happened. @default from the error name and step (see `headlineFor`) */
  headline: z.string().min(1).optional(),
  /** Why, in a line or two. */
  reason: z.string().min(1),
  /** The Step Functions execution (or any page) with the details. */
  executionUrl: z.url({ protocol: /^https$/ }).optional(),
  /** What the reader should do; @default advice for the error (see {@link defaultNextSteps}) */
  nextSteps: z.array(z.string().min(1)).min(1).optional(),
  /** When it happened. @default now */
  at: z.date().optional(),
});
export type Alert = z.input<typeof AlertSchema>;

export interface FormattedAlert {
  readonly subject: string;
  readonly message: string;
  readonly attributes: Readonly<Record<'severity' | 'sourceId' | 'step', string>>;
}

/** The alert as it will be published; exported so its text can be previewed and tested without SNS. */
export function formatAlert(alert: Alert): FormattedAlert {
  const parsed = AlertSchema.safeParse(alert);
  if (!parsed.success) {
    throw new ConfigError(`Invalid alert: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(alert)'}: ${i.message}`).join('; ')}`);
  }
  const a = parsed.data;
  const clean = (text: string) => scrubSecrets(text);
  const sourceId = clean(a.sourceId);
  const headline = a.headline === undefined ? headlineFor(a.errorName, clean(a.step)) : clean(a.headline);
  const reason = abbreviate(clean(a.reason).trim(), MAX_REASON_LENGTH);
  const steps = (a.nextSteps ?? defaultNextSteps(a.errorName, sourceId, a.backupId)).map(clean);

  const fields: [string, string][] = [
    ['Severity', a.severity],
    ['Source', sourceId],
    ...(a.backupId === undefined ? [] : [['Backup', clean(a.backupId)] as [string, string]]),
    ['Step', clean(a.step)],
    ['Error', clean(a.errorName)],
    ['Time', (a.at ?? new Date()).toISOString()],
  ];
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const lines = [
    `Lifeboat: ${headline} for ${sourceId}${a.backupId === undefined ? '' : `, backup ${clean(a.backupId)}`}.`,
    '',
    ...fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`),
    '',
    'Why:',
    ...reason.split(/\r?\n/).map((line) => `  ${line}`),
    '',
    'What to do next:',
    ...steps.map((step) => `  - ${step}`),
  ];
  if (a.executionUrl !== undefined) lines.push('', `Details: ${clean(a.executionUrl)}`);
  lines.push('', '-- ', `Sent by Lifeboat to the ${a.severity} alert subscribers of this topic.`);

  return {
    subject: subjectLine(`[${a.severity}] Lifeboat ${sourceId}: ${headline}`),
    message: `${lines.join('\n')}\n`,
    attributes: { severity: a.severity, sourceId, step: clean(a.step) },
  };
}

/**
 * Publishes `alert` to `topicArn`, with `severity`, `sourceId` and `step` as String message attributes
 * (subscriptions filter on `severity`). Fails with `AlertPublishFailedError` (retryable) when SNS does
 * not take it, `ConfigError` for an alert missing a field.
 */
export async function publishAlert(sns: Pick<SNSClient, 'send'>, topicArn: string, alert: Alert): Promise<{ messageId?: string }> {
  const input = publishInput(topicArn, alert);
  try {
    const output = await sns.send(new PublishCommand(input));
    return output.MessageId === undefined ? {} : { messageId: output.MessageId };
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new AlertPublishFailedError(`Publishing the ${alert.severity} alert for ${alert.sourceId} to ${topicArn} failed: ${scrubSecrets(detail)}`, {
      cause: error,
    });
  }
}

/** The exact `Publish` request for `alert`. */
export function publishInput(topicArn: string, alert: Alert): PublishCommandInput {
  const { subject, message, attributes } = formatAlert(alert);
  return {
    TopicArn: topicArn,
    Subject: subject,
    Message: message,
    MessageAttributes: Object.fromEntries(
      Object.entries(attributes).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
    ),
  };
}

/** What the subject says happened. */
function headlineFor(errorName: string, step: string): string {
  if (errorName === 'VerificationFailedError') return 'verification failed';
  if (errorName === SIZE_ANOMALY) return 'backup size anomaly';
  return `${step} failed (${errorName})`;
}

/** Advice per error when the caller gives none: each tells the reader where the recovery point stands. */
export function defaultNextSteps(errorName: string, sourceId: string, backupId: string | undefined): string[] {
  const backup = backupId ?? 'the backup';
  if (errorName === 'VerificationFailedError') {
    return [
      `Do not restore from ${backup}. The newest verified backup of ${sourceId} is still your recovery point: lifeboat list --vault <vault> --source ${sourceId}`,
      `See every check and its reason: lifeboat show ${backup} --vault <vault> --json (or the result under backups/${sourceId}/${backup}/verifications/ in the vault).`,
      'A checksum or decrypt failure means the stored payload is damaged or was replaced: check the vault bucket\'s object versions and the DR copy. A restore, row-count or SQL check failure means the dump itself is wrong: compare with the source.',
    ];
  }
  if (errorName === SIZE_ANOMALY) {
    return [
      `Check whether ${sourceId} really changed that much (a dropped or truncated table, a bulk load, an import).`,
      'If the change is expected, nothing needs doing: later backups are compared with the new size once they are verified.',
      `If it is not, restore ${backup} into a scratch database and compare it with the source while older backups are still kept.`,
    ];
  }
  return [
    'Open the details link for the full error, fix the cause, and run the step again (the next scheduled run also retries).',
    `Until a backup of ${sourceId} completes and verifies, its recovery point is its newest verified backup.`,
  ];
}

/**
 * `text` without credentials: `scheme://user:password@` → `scheme://user:***@`, and `password=…`,
 * `PGPASSWORD=…`, `MYSQL_PWD=…`, `"password": "…"` values → `***`. Defensive: callers already never
 * put secrets in reasons, but an error from a driver or tool could.
 */
export function scrubSecrets(text: string): string {
  return redact(text)
    .replace(/\b(PGPASSWORD|MYSQL_PWD|[A-Za-z_]*password|[A-Za-z_]*secret|pwd)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,'"]+)/gi, '$1$2***')
    .replace(/("(?:password|secret|pwd)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"***"');
}

/** One ASCII line of at most {@link MAX_SUBJECT_LENGTH} characters. */
function subjectLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= MAX_SUBJECT_LENGTH ? ascii : `${ascii.slice(0, MAX_SUBJECT_LENGTH - 3)}...`;
}

function abbreviate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
