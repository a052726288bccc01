/**
 * A DR step run as a Fargate task (docs/dr-plans.md, "Steps on Fargate"). `ecs:runTask.sync` returns the
 * stopped task, not what the step did, so the task leaves the step's outcome in the primary vault
 * (`evidence/<plan>/<execution name>/steps/<step id>.json`) and the plan's next state (`read-step-record`,
 * on the Lambda) reads it back: the record on success, the step's own named error on failure.
 */
import { scrubSecrets } from '../lib/alerts/index.ts';
import { LifeboatError, ObjectNotFoundError } from '../lib/errors.ts';
import { stepRecordKey } from '../lib/vault/layout.ts';
import type { DrStepDeps } from './deps.ts';
import { executionNameOf, type ReadStepRecordEvent, type StepRecord } from './events.ts';

const MAX_MESSAGE_LENGTH = 2_000;

/** What a task leaves: the step's record, or the error that ended it. */
export type TaskOutcome = { readonly outcome: 'succeeded'; readonly record: StepRecord } | { readonly outcome: 'failed'; readonly error: { readonly name: string; readonly message: string } };

/** The step's task ended without leaving its outcome: it was stopped (timeout, a person) or crashed before it could. */
export class StepRecordMissingError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StepRecordMissingError';
  }
}

/** A step's failure as its task recorded it, raised again under the step's own error name for the plan's Catch. */
class RecordedStepError extends LifeboatError {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Leaves a `run-step` task's outcome where `read-step-record` finds it. */
export async function writeStepOutcome(event: { readonly plan: string; readonly stepId: string; readonly executionId: string }, result: StepRecord | Error, deps: Pick<DrStepDeps, 'regions'>): Promise<void> {
  const key = stepRecordKey(event.plan, executionNameOf(event.executionId), event.stepId);
  const outcome: TaskOutcome =
    result instanceof Error
      ? { outcome: 'failed', error: { name: result.name, message: scrubSecrets(result.message).slice(0, MAX_MESSAGE_LENGTH) } }
      : { outcome: 'succeeded', record: result };
  await deps.regions.primary.store.putObject(key, `${JSON.stringify(outcome, null, 2)}\n`);
}

/** `read-step-record`: the record the step's task left, or its error raised again by name. */
export async function readStepRecord(event: ReadStepRecordEvent, deps: Pick<DrStepDeps, 'regions'>): Promise<StepRecord> {
  const key = stepRecordKey(event.plan, executionNameOf(event.executionId), event.stepId);
  let text: string;
  try {
    text = (await deps.regions.primary.store.getObject(key)).toString('utf8');
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      throw new StepRecordMissingError(`Step '${event.stepId}' of plan ${event.plan}: its Fargate task ended without recording an outcome (stopped or crashed before it could; see the task's log)`, { cause: error });
    }
    throw error;
  }
  const outcome = JSON.parse(text) as TaskOutcome;
  if (outcome.outcome === 'failed') throw new RecordedStepError(outcome.error.name, outcome.error.message);
  return outcome.record;
}
