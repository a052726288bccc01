/**
 * What an alarm tells the person on call, written once as the alarm's description (readable as is in the
 * CloudWatch console) and turned into an alert by the alarm-alert function:
 *
 * ```
 * Lifeboat orders-db: no verified backup within the RPO
 * The newest verified backup of orders-db is {value} minutes old; its RPO is 240 minutes.
 * - lifeboat status --vault s3://lifeboat-vault-eu-west-1-123456789012
 * - Open the newest execution of lifeboat-backup for orders-db in the Step Functions console.
 * ```
 *
 * `{value}` stands for the figure that tripped the alarm; the function fills it in from the alarm's state.
 */
export interface AlarmText {
  /** What the alert is about: a source id, a plan, or the deployment. */
  readonly subject: string;
  /** What happened, in a few words. */
  readonly headline: string;
  /** One or two sentences, `{value}` standing for the figure that tripped the alarm. */
  readonly summary: string;
  /** Where to look and what to do, most useful first. */
  readonly nextSteps: readonly string[];
}

/** CloudWatch allows 1024 characters of description. */
export const MAX_ALARM_DESCRIPTION = 1024;
export const VALUE_PLACEHOLDER = '{value}';

export function alarmDescription(text: AlarmText): string {
  const description = [`Lifeboat ${text.subject}: ${text.headline}`, text.summary, ...text.nextSteps.map((step) => `- ${step}`)].join('\n');
  if (description.length > MAX_ALARM_DESCRIPTION) {
    throw new RangeError(`The description of the alarm on ${text.subject} (${text.headline}) is ${description.length} characters; CloudWatch allows ${MAX_ALARM_DESCRIPTION}`);
  }
  return description;
}

/** The text of a description written by {@link alarmDescription}; `undefined` for any other description. */
export function parseAlarmDescription(description: string): AlarmText | undefined {
  const [first, summary, ...rest] = description.split('\n');
  const head = /^Lifeboat (\S+): (.+)$/.exec(first ?? '');
  if (!head || summary === undefined) return undefined;
  return { subject: head[1]!, headline: head[2]!, summary, nextSteps: rest.filter((line) => line.startsWith('- ')).map((line) => line.slice(2)) };
}
