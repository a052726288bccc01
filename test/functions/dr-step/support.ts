/** Shared pieces of the step executor's tests: names, events as the compiled plans send them, and RDS call inspection. */
import { randomBytes } from 'node:crypto';
import type { StepKind } from '../../../functions/dr-step/events.ts';

export const REGION = 'eu-west-1';
export const DR_REGION = 'eu-central-1';
export const ACCOUNT = '111122223333';
export const PLAN = 'orders-restore';
export const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:lifeboat-plan-${PLAN}-contacts`;

/** A fresh drill suffix: 8 characters of a-z0-9, as the state machine derives from the execution name. */
export function newSuffix(): string {
  return randomBytes(4).toString('hex');
}

export function executionIdFor(suffix: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-plan-${PLAN}:drill-${suffix}`;
}

/** The `run-step` event a compiled plan sends for one step. */
export function runStep(
  stepId: string,
  kind: StepKind,
  parameters: Record<string, unknown>,
  options: { mode?: 'real' | 'drill'; suffix: string; levels?: Record<string, Record<string, unknown>> },
) {
  return {
    action: 'run-step',
    plan: PLAN,
    stepId,
    kind,
    parameters,
    mode: options.mode ?? 'real',
    suffix: options.suffix,
    executionId: executionIdFor(options.suffix),
    levels: options.levels ?? {},
  };
}

/** Every command a mocked client received, in order, as `[name, input]`: for asserting exact calls and that nothing else was sent. */
export function commandsOf(stub: { calls(): { args: readonly unknown[] }[] }): [string, unknown][] {
  return stub.calls().map((call) => {
    const command = call.args[0] as { constructor: { name: string }; input: unknown };
    return [command.constructor.name.replace(/Command$/, ''), command.input];
  });
}
