/**
 * The DR step executor as the runner's dr-step Fargate task runs it (docs/dr-plans.md, "Steps on Fargate"):
 * like the Lambda, plus a `run-step` event's outcome left in the vault for the plan's `read-step-record`.
 */
import { parseOrConfigError } from '../lib/validation.ts';
import type { DrStepDeps } from './deps.ts';
import { handleDrStepEvent, type DrStepResult } from './drStep.ts';
import { DrStepEventSchema, type StepRecord } from './events.ts';
import { writeStepOutcome } from './stepOutcome.ts';

/** Runs one event; a `run-step` error is recorded, then thrown again so the task exits non-zero. */
export async function runDrStepTask(event: unknown, deps: DrStepDeps): Promise<DrStepResult> {
  const request = parseOrConfigError(DrStepEventSchema, event, 'Invalid DR step event');
  if (request.action !== 'run-step') return handleDrStepEvent(event, deps);
  let result: DrStepResult;
  try {
    result = await handleDrStepEvent(event, deps);
  } catch (error) {
    await writeStepOutcome(request, error instanceof Error ? error : new Error(String(error)), deps);
    throw error;
  }
  await writeStepOutcome(request, result as StepRecord, deps);
  return result;
}
