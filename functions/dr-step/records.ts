/** The records the step executor returns (docs/dr-plans.md, "Tasks and their events") and the clock that stamps them. */
import type { DrStepDeps } from './deps.ts';
import type { StepKind, StepRecord } from './events.ts';

/** `deps.now` where a test fixes the clock, else the system clock. */
export function now(deps: Pick<DrStepDeps, 'now'>): Date {
  return deps.now?.() ?? new Date();
}

/** The record of a step that ran to its end: succeeded, ended now. */
export function succeededRecord(
  stepId: string,
  kind: StepKind,
  startedAt: string,
  result: Record<string, unknown>,
  deps: Pick<DrStepDeps, 'now'>,
): StepRecord {
  return { stepId, kind, status: 'succeeded', startedAt, endedAt: now(deps).toISOString(), result };
}
