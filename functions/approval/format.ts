/** Small text helpers the message and the pages share: times as people read them, the execution's console page. */

/** `2026-11-29 10:30:00 UTC`. */
export function humanTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The Step Functions console page of an execution (standard `aws` partition only). */
export function executionConsoleUrl(executionArn: string): string | undefined {
  const region = /^arn:aws:states:([a-z0-9-]+):\d{12}:execution:[^:]+:[^:]+$/.exec(executionArn)?.[1];
  if (region === undefined) return undefined;
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** The question a step asks when its plan gives none. */
export function defaultQuestion(plan: string, stepId: string): string {
  return `Go on with step "${stepId}" of the DR plan ${plan}?`;
}
