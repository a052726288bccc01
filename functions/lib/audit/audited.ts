import { scrubSecrets } from '../alerts/index.ts';
import type { AuditEventInput } from './event.ts';
import type { AuditTrail } from './writer.ts';

export interface AuditDescription<T> {
  /** The event (or events) of work that succeeded; none to record nothing. */
  succeeded(result: T): AuditEventInput | readonly AuditEventInput[] | undefined;
  /** The event of work that failed; `undefined` for an error that is not a failure (a "not ready yet" the state machine retries). */
  failed(error: Error): AuditEventInput | undefined;
}

/**
 * Runs `work` and records its outcome in the trail: the result is returned and the error rethrown exactly as
 * they were, whatever happens to the audit event (the trail reports its own failures, see `auditWriter`).
 */
export async function audited<T>(trail: AuditTrail | undefined, work: () => Promise<T>, describe: AuditDescription<T>): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    const input = trail ? safely(() => describe.failed(failure)) : undefined;
    if (trail && input) await trail.record(input);
    throw error;
  }
  if (trail) {
    const inputs = safely(() => describe.succeeded(result));
    for (const input of inputs === undefined ? [] : Array.isArray(inputs) ? inputs : [inputs as AuditEventInput]) await trail.record(input);
  }
  return result;
}

/** `{ error, reason }` of a failure event: the error's name and its message, scrubbed of credentials and cut short. */
export function failureDetails(error: Error): { error: string; reason: string } {
  return { error: error.name, reason: scrubSecrets(`${error.name}: ${error.message}`).slice(0, 1_000) };
}

/** The `sourceId`/`backupId`/`executionId` of a raw event, where present and well-formed (the schema reports the rest). */
export function idsOf(event: unknown): Pick<AuditEventInput, 'sourceId' | 'backupId' | 'executionId'> {
  const raw = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const text = (name: string, pattern: RegExp) => (typeof raw[name] === 'string' && pattern.test(raw[name]) ? (raw[name] as string) : undefined);
  const sourceId = text('sourceId', /^[a-z][a-z0-9-]{0,39}$/);
  const backupId = text('backupId', /^\d{8}T\d{6}Z-[a-z2-7]{8}$/);
  const executionId = text('executionArn', /^arn:[^\s]{1,2000}$/) ?? text('executionId', /^arn:[^\s]{1,2000}$/);
  return { ...(sourceId ? { sourceId } : {}), ...(backupId ? { backupId } : {}), ...(executionId ? { executionId } : {}) };
}

function safely<R>(describe: () => R): R | undefined {
  try {
    return describe();
  } catch {
    // A describer that cannot describe (an odd result) must not turn the work into a failure.
    return undefined;
  }
}
