/**
 * The evidence of one DR plan execution (docs/dr-plans.md, "Evidence"): what ran, when, what it restored,
 * and the recovery time and point measured against the plan's objectives. Written to the primary vault at
 * `evidence/<plan>/<execution name>.json`, then summarized to the plan's contacts.
 *
 *   RTO = execution start → end of the last `validate` step (none: of the last restore or promotion step)
 *   RPO = restored data's time (a dump's completedAt, a snapshot's creation, a point-in-time restore's
 *         restoreTime) → execution start; the worst of several restores; 0 when the data is newer than the start
 */
import { scrubSecrets } from '../lib/alerts/index.ts';
import { SIGNED_EVIDENCE_FORMAT_VERSION, signDrEvidence } from '../lib/plans/evidenceMac.ts';
import { isRestoreKind } from '../lib/plans/kinds.ts';
import { evidenceKey } from '../lib/vault/layout.ts';
import type { DrStepDeps } from './deps.ts';
import { executionNameOf, type Levels, type RecordEvidenceEvent } from './events.ts';
import { drillPrefix, publishPlanMessage } from './planTopic.ts';
import { now } from './records.ts';

export const EVIDENCE_FORMAT = 'lifeboat-dr-evidence';
/** Unsigned; signed evidence is 1.1, with `mac` (functions/lib/plans/evidenceMac.ts). */
export const EVIDENCE_FORMAT_VERSION = '1.0';

const MAX_CAUSE_LENGTH = 2_000;
const MS_PER_MINUTE = 60_000;

export interface EvidenceStep {
  readonly stepId: string;
  readonly kind: string;
  readonly status: string;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly result: unknown;
  /** A gated step's decision (approved, approver, comment, decidedAt), as the state machine adds it to the record. */
  readonly approval?: unknown;
}

/**
 * One execution's evidence, format 1.0. Example (abridged):
 *
 * ```json
 * { "format": "lifeboat-dr-evidence", "formatVersion": "1.0", "plan": "orders-restore", "mode": "drill",
 *   "executionId": "arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:drill-7f3a9c2e",
 *   "startedAt": "2026-11-22T06:00:00.000Z", "endedAt": "2026-11-22T06:44:10.000Z", "outcome": "passed", "failure": null,
 *   "steps": [{ "stepId": "restore", "kind": "restore-dump", "status": "succeeded", "startedAt": "…", "endedAt": "…", "result": { … } }],
 *   "measured": { "rtoMinutes": 41.5, "rpoMinutes": 95.2, "restoredDataAt": "2026-11-22T04:24:48.000Z", "validatedAt": "2026-11-22T06:41:30.000Z" },
 *   "objectives": { "rtoMinutes": 60, "rpoMinutes": 240 }, "met": { "rto": true, "rpo": true } }
 * ```
 */
export interface Evidence {
  readonly format: typeof EVIDENCE_FORMAT;
  readonly formatVersion: typeof EVIDENCE_FORMAT_VERSION | typeof SIGNED_EVIDENCE_FORMAT_VERSION;
  readonly plan: string;
  readonly mode: 'real' | 'drill';
  readonly executionId: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly outcome: 'passed' | 'failed';
  readonly failure: { readonly error: string; readonly cause: string } | null;
  readonly steps: EvidenceStep[];
  readonly measured: {
    /** Minutes, to one decimal; `null` when nothing was restored, validated or promoted. */
    readonly rtoMinutes: number | null;
    readonly rpoMinutes: number | null;
    /** The oldest restored data (the worst recovery point); `null` without a restore. */
    readonly restoredDataAt: string | null;
    /** The end of the last validate step; `null` without one. */
    readonly validatedAt: string | null;
  };
  readonly objectives: { readonly rtoMinutes: number; readonly rpoMinutes: number };
  readonly met: { readonly rto: boolean; readonly rpo: boolean };
  /** 1.1: HMAC by the DR evidence key (functions/lib/plans/evidenceMac.ts). */
  readonly mac?: string;
}

/** Builds the evidence, signs it with the DR evidence key when given, writes it to the primary vault, publishes the summary, and returns it. */
export async function recordEvidence(event: RecordEvidenceEvent, deps: DrStepDeps): Promise<Evidence> {
  const built = buildEvidence(event, now(deps));
  const evidence: Evidence = deps.drEvidenceKey ? await signDrEvidence(built, deps.drEvidenceKey) : built;
  const store = deps.regions.primary.store;
  const key = evidenceKey(event.plan, executionNameOf(event.executionId));
  await store.putObject(key, `${JSON.stringify(evidence, null, 2)}\n`);
  await publishPlanMessage(deps.sns, deps.planTopics, {
    plan: event.plan,
    severity: evidence.outcome === 'passed' ? 'INFO' : 'ERROR',
    subject: summarySubject(evidence),
    message: summaryMessage(evidence, `${store.location}/${key}`),
  });
  return evidence;
}

export function buildEvidence(event: RecordEvidenceEvent, endedAt: Date): Evidence {
  const steps = stepsOf(event.levels);
  const start = Date.parse(event.startedAt);
  const failed = event.failure !== null;

  // A skipped step (a drill's promote-replica, what a local drill cannot do) recovered nothing: it measures nothing.
  const ran = steps.filter((step) => step.status === 'succeeded' && step.endedAt !== null);
  const validations = ran.filter((step) => step.kind === 'validate');
  const recoveries = ran.filter((step) => isRestoreKind(step.kind) || step.kind === 'promote-replica');
  const rtoEnd = latest((validations.length > 0 ? validations : recoveries).map((step) => step.endedAt!));
  const validatedAt = latest(validations.map((step) => step.endedAt!));
  const restoredDataAt = earliest(ran.filter((step) => isRestoreKind(step.kind)).flatMap((step) => restoredDataTimeOf(step.result)));

  const rtoMinutes = rtoEnd === undefined ? null : minutes(Date.parse(rtoEnd) - start);
  // Data newer than the start (a backup taken by the plan itself) loses nothing the start did not already lose.
  const rpoMinutes = restoredDataAt === undefined ? null : minutes(Math.max(0, start - Date.parse(restoredDataAt)));
  const rtoMs = rtoEnd === undefined ? undefined : Date.parse(rtoEnd) - start;
  const rpoMs = restoredDataAt === undefined ? undefined : Math.max(0, start - Date.parse(restoredDataAt));

  return {
    format: EVIDENCE_FORMAT,
    formatVersion: EVIDENCE_FORMAT_VERSION,
    plan: event.plan,
    mode: event.mode,
    executionId: event.executionId,
    startedAt: new Date(start).toISOString(),
    endedAt: endedAt.toISOString(),
    outcome: failed ? 'failed' : 'passed',
    failure: event.failure === null ? null : { error: scrubSecrets(event.failure.error), cause: causeOf(event.failure.cause) },
    steps,
    measured: { rtoMinutes, rpoMinutes, restoredDataAt: restoredDataAt ?? null, validatedAt: validatedAt ?? null },
    objectives: { rtoMinutes: event.objectives.rtoMinutes, rpoMinutes: event.objectives.rpoMinutes },
    // Compared unrounded; a failed run meets neither, whatever it measured.
    met: {
      rto: !failed && rtoMs !== undefined && rtoMs <= event.objectives.rtoMinutes * MS_PER_MINUTE,
      rpo: !failed && rpoMs !== undefined && rpoMs <= event.objectives.rpoMinutes * MS_PER_MINUTE,
    },
  };
}

/** Every step record, level by level (`L1`, `L2`, … `L10` in numeric order), with a gate's decision and without the polling state. */
export function stepsOf(levels: Levels): EvidenceStep[] {
  const order = (name: string) => Number(/^L(\d+)$/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);
  return Object.entries(levels)
    .sort(([a], [b]) => order(a) - order(b))
    .flatMap(([, level]) => Object.entries(level ?? {}))
    .map(([stepId, value]) => {
      const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
      return {
        stepId: typeof record['stepId'] === 'string' ? record['stepId'] : stepId,
        kind: typeof record['kind'] === 'string' ? record['kind'] : 'unknown',
        status: typeof record['status'] === 'string' ? record['status'] : 'unknown',
        startedAt: timestampOrNull(record['startedAt']),
        endedAt: timestampOrNull(record['endedAt']),
        result: record['result'] ?? null,
        ...(record['approval'] === undefined ? {} : { approval: record['approval'] }),
      };
    });
}

export function summarySubject(evidence: Evidence): string {
  const { measured, objectives } = evidence;
  return (
    `${drillPrefix(evidence.mode)}Lifeboat plan ${evidence.plan} ${evidence.outcome}: ` +
    `RTO ${show(measured.rtoMinutes)}/${objectives.rtoMinutes} min, RPO ${show(measured.rpoMinutes)}/${objectives.rpoMinutes} min`
  );
}

/** Plan, mode, outcome, each measure against its objective, each step's status and times, and where the evidence is. */
export function summaryMessage(evidence: Evidence, location: string): string {
  const { measured, objectives, met } = evidence;
  const verdict = (ok: boolean, value: number | null) => (value === null ? 'not measured' : ok ? 'met' : 'NOT met');
  const width = Math.max(4, ...evidence.steps.map((step) => step.stepId.length));
  const kindWidth = Math.max(4, ...evidence.steps.map((step) => step.kind.length));
  const lines = [
    `${drillPrefix(evidence.mode)}Lifeboat DR plan ${evidence.plan}: ${evidence.mode === 'drill' ? 'drill' : 'run'} ${evidence.outcome}.`,
    '',
    `Plan:       ${evidence.plan}`,
    `Mode:       ${evidence.mode}${evidence.mode === 'drill' ? ' (restored into drill copies, nothing promoted; removed at clean-up)' : ''}`,
    `Outcome:    ${evidence.outcome}`,
    `Execution:  ${evidence.executionId}`,
    `Started:    ${evidence.startedAt}`,
    `Ended:      ${evidence.endedAt}`,
    '',
    'Measured against the objectives:',
    `  RTO  ${show(measured.rtoMinutes)} min (objective ${objectives.rtoMinutes} min): ${verdict(met.rto, measured.rtoMinutes)}`,
    `  RPO  ${show(measured.rpoMinutes)} min (objective ${objectives.rpoMinutes} min): ${verdict(met.rpo, measured.rpoMinutes)}`,
    ...(measured.restoredDataAt === null ? [] : [`  Restored data from ${measured.restoredDataAt}`]),
    ...(measured.validatedAt === null ? [] : [`  Validated at      ${measured.validatedAt}`]),
    '',
    'Steps:',
    ...(evidence.steps.length === 0
      ? ['  (no step record reached the evidence)']
      : evidence.steps.map(
          (step) =>
            `  ${step.stepId.padEnd(width)}  ${step.kind.padEnd(kindWidth)}  ${step.status.padEnd(9)}  ${step.startedAt ?? '?'} -> ${step.endedAt ?? '?'}${duration(step)}`,
        )),
    ...(evidence.failure === null ? [] : ['', `Failure: ${evidence.failure.error}`, ...evidence.failure.cause.split(/\r?\n/).map((line) => `  ${line}`)]),
    '',
    `Evidence: ${location}`,
    '',
    '-- ',
    `Sent by Lifeboat to the contacts of DR plan ${evidence.plan}.`,
  ];
  return `${lines.join('\n')}\n`;
}

/** A restore record's data time: `restoredDataAt`, or a dump's `backupCompletedAt`. */
function restoredDataTimeOf(result: unknown): string[] {
  if (typeof result !== 'object' || result === null) return [];
  const record = result as Record<string, unknown>;
  const at = timestampOrNull(record['restoredDataAt']) ?? timestampOrNull(record['backupCompletedAt']);
  return at === null ? [] : [at];
}

/** A Lambda error's Cause is JSON (`errorType`, `errorMessage`, `trace`): only the message is kept, never a stack. */
function causeOf(cause: string): string {
  let text = cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') text = parsed.errorMessage;
  } catch {
    // Not JSON: a States.* error's own words.
  }
  const clean = scrubSecrets(text).trim();
  return clean.length > MAX_CAUSE_LENGTH ? `${clean.slice(0, MAX_CAUSE_LENGTH - 1)}…` : clean;
}

function timestampOrNull(value: unknown): string | null {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) return null;
  return new Date(value).toISOString();
}

function latest(times: string[]): string | undefined {
  return times.reduce<string | undefined>((a, b) => (a === undefined || Date.parse(b) > Date.parse(a) ? b : a), undefined);
}

function earliest(times: string[]): string | undefined {
  return times.reduce<string | undefined>((a, b) => (a === undefined || Date.parse(b) < Date.parse(a) ? b : a), undefined);
}

function minutes(ms: number): number {
  return Math.round(ms / 6_000) / 10;
}

function show(value: number | null): string {
  return value === null ? '-' : value.toFixed(1);
}

function duration(step: EvidenceStep): string {
  if (step.startedAt === null || step.endedAt === null) return '';
  return ` (${(Math.round((Date.parse(step.endedAt) - Date.parse(step.startedAt)) / 6_000) / 10).toFixed(1)} min)`;
}
