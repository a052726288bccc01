/**
 * The DR step executor's core: one function behind every DR plan state machine's Tasks (docs/dr-plans.md).
 *
 *   run-step         runs one step and returns its record: restore-dump, restore-snapshot,
 *                    restore-point-in-time, promote-replica, validate, notify
 *   describe-step    follows a polled step (the RDS kinds) until `step.status` is `available`
 *   cleanup          removes what a drill made (databases `*_drill_<suffix>`, RDS resources tagged with the suffix)
 *   record-evidence  writes the execution's evidence to the vault and sends its summary to the contacts
 *   read-step-record after a step ran as a Fargate task: the record it left in the vault (or its error, again)
 *
 * Restores go through the engine (`runRestore`), validation through the restore test's checker, and every
 * failure is a named error the state machine's Catch sees.
 */
import { ConfigError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { type CleanupResult, cleanupDrill } from './cleanup.ts';
import type { DrStepDeps } from './deps.ts';
import {
  DrStepEventSchema,
  NotifyParametersSchema,
  PromoteReplicaParametersSchema,
  RestoreCacheParametersSchema,
  RestoreFilesParametersSchema,
  RestoreConfigParametersSchema,
  RestoreDumpParametersSchema,
  RestorePointInTimeParametersSchema,
  RestoreSnapshotParametersSchema,
  ValidateParametersSchema,
  parseParameters,
  type PolledStepRecord,
  type RunStepEvent,
  type StepRecord,
} from './events.ts';
import { type Evidence, recordEvidence } from './evidence.ts';
import { drillPrefix, publishPlanMessage } from './planTopic.ts';
import { describePolledStep, startPointInTimeRestore, startPromotion, startSnapshotRestore } from './rdsSteps.ts';
import { now, succeededRecord } from './records.ts';
import { runRestoreCacheStep } from './restoreCache.ts';
import { runRestoreFilesStep } from './restoreFiles.ts';
import { runRestoreConfigStep } from './restoreConfig.ts';
import { runRestoreDumpStep } from './restoreDump.ts';
import { readStepRecord } from './stepOutcome.ts';
import { runValidateStep } from './validateStep.ts';

export { DrSourceSchema, type DrSource, type DrStepDeps, type RegionResources } from './deps.ts';

export type DrStepResult = StepRecord | PolledStepRecord | CleanupResult | Evidence;

/** Runs one action of the step executor; see the module comment. */
export async function handleDrStepEvent(event: unknown, deps: DrStepDeps): Promise<DrStepResult> {
  const request = parseOrConfigError(DrStepEventSchema, event, 'Invalid DR step event');
  switch (request.action) {
    case 'run-step':
      return runStep(request, deps);
    case 'describe-step':
      return describePolledStep(request.step, deps);
    case 'cleanup':
      return cleanupDrill(request, deps);
    case 'record-evidence':
      return recordEvidence(request, deps);
    case 'read-step-record':
      return readStepRecord(request, deps);
  }
}

async function runStep(event: RunStepEvent, deps: DrStepDeps): Promise<StepRecord | PolledStepRecord> {
  const { kind, parameters, stepId } = event;
  switch (kind) {
    case 'restore-dump':
      return runRestoreDumpStep(event, parseParameters(RestoreDumpParametersSchema, parameters, kind, stepId), deps);
    case 'restore-cache':
      return runRestoreCacheStep(event, parseParameters(RestoreCacheParametersSchema, parameters, kind, stepId), deps);
    case 'restore-files':
      return runRestoreFilesStep(event, parseParameters(RestoreFilesParametersSchema, parameters, kind, stepId), deps);
    case 'restore-config':
      return runRestoreConfigStep(event, parseParameters(RestoreConfigParametersSchema, parameters, kind, stepId), deps);
    case 'restore-snapshot':
      return startSnapshotRestore(event, parseParameters(RestoreSnapshotParametersSchema, parameters, kind, stepId), deps);
    case 'restore-point-in-time':
      return startPointInTimeRestore(event, parseParameters(RestorePointInTimeParametersSchema, parameters, kind, stepId), deps);
    case 'promote-replica':
      return startPromotion(event, parseParameters(PromoteReplicaParametersSchema, parameters, kind, stepId), deps);
    case 'validate':
      return runValidateStep(event, parseParameters(ValidateParametersSchema, parameters, kind, stepId), deps);
    case 'notify':
      return runNotifyStep(event, parseParameters(NotifyParametersSchema, parameters, kind, stepId).message, deps);
    case 'approval':
    case 'backup-now':
    case 'wait':
      throw new ConfigError(`Step '${stepId}': a ${kind} step is run by the state machine itself, not by the step executor`);
  }
}

/** `notify`: the message to the plan's contacts, marked DRILL in drills. */
async function runNotifyStep(event: RunStepEvent, message: string, deps: DrStepDeps): Promise<StepRecord> {
  const startedAt = now(deps).toISOString();
  const prefix = drillPrefix(event.mode);
  const firstLine = message.split(/\r?\n/)[0]!;
  const subject = `${prefix}Lifeboat plan ${event.plan}: ${firstLine}`;
  const body = [
    `${prefix}${message}`,
    '',
    `Plan:       ${event.plan}`,
    `Step:       ${event.stepId}`,
    `Mode:       ${event.mode}${event.mode === 'drill' ? ' (a drill: production was not touched)' : ''}`,
    `Execution:  ${event.executionId}`,
    `Time:       ${startedAt}`,
    '',
    '-- ',
    `Sent by Lifeboat to the contacts of DR plan ${event.plan}.`,
  ].join('\n');
  const published = await publishPlanMessage(deps.sns, deps.planTopics, { plan: event.plan, severity: 'INFO', subject, message: `${body}\n` });
  return succeededRecord(
    event.stepId,
    'notify',
    startedAt,
    { topicArn: published.topicArn, ...(published.messageId === undefined ? {} : { messageId: published.messageId }), drill: event.mode === 'drill' },
    deps,
  );
}
