/**
 * The DR step executor's core: one function behind every DR plan state machine's Tasks (docs/dr-plans.md).
 *
 *   run-step         runs one step and returns its record: restore-dump, restore-snapshot,
 *                    restore-point-in-time, promote-replica, validate, notify
 *   describe-step    follows a polled step (the RDS kinds) until `step.status` is `available`
 *   cleanup          removes what a drill made (databases `*_drill_<suffix>`, RDS resources tagged with the suffix)
 *   record-evidence  writes the execution's evidence to the vault and sends its summary to the contacts
 *
 * Restores go through the engine (`runRestore`), validation through the restore test's checker, and every
 * failure is a named error the state machine's Catch sees.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import type { RdsSender } from '../lib/aws/rdsSnapshot.ts';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import { ConfigError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import type { Connect } from '../validate-restore/restoredDatabase.ts';
import type { VerifyServers } from '../verify/verify.ts';
import { type CleanupResult, cleanupDrill } from './cleanup.ts';
import {
  DrStepEventSchema,
  NotifyParametersSchema,
  PromoteReplicaParametersSchema,
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
import { type PlanTopics, drillPrefix, publishPlanMessage } from './planTopic.ts';
import { describePolledStep, startPointInTimeRestore, startPromotion, startSnapshotRestore } from './rdsSteps.ts';
import { now, succeededRecord } from './records.ts';
import { runRestoreDumpStep } from './restoreDump.ts';
import { runValidateStep } from './validateStep.ts';

/**
 * A source as the step executor is told of it (LIFEBOAT_SOURCES, the entries the other functions read).
 * Extra fields are ignored.
 */
export const DrSourceSchema = z.object({
  id: z.string().min(1),
  engine: z.enum(['postgresql', 'mysql']),
  /** The database a restored RDS instance is validated in. @default the engine's own (`postgres` / `mysql`) */
  database: z.string().min(1).optional(),
  /** The source's (master) credentials: a database restored from its snapshot has the same users. */
  credentialsSecretArn: z.string().startsWith('arn:'),
  rds: z.object({ type: z.enum(['instance', 'cluster']), identifier: z.string().min(1) }),
});
export type DrSource = z.infer<typeof DrSourceSchema>;

/** What the function can reach in one region: RDS, and the vault with the key that reads it there. */
export interface RegionResources {
  /** The AWS region, e.g. `eu-west-1`. */
  readonly name: string;
  readonly rds: RdsSender;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
}

export interface DrStepDeps {
  readonly sources: readonly DrSource[];
  /** The primary region (where evidence is written) and the DR region. */
  readonly regions: { readonly primary: RegionResources; readonly dr?: RegionResources };
  readonly secrets: Pick<SecretsManagerClient, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
  /** VERIFY_SERVERS: where drills restore dumps. */
  readonly servers: VerifyServers;
  /** PLAN_TOPICS: plan name → contacts topic ARN. */
  readonly planTopics: PlanTopics;
  /** @default the system clock */
  readonly now?: () => Date;
  /** TLS to every database: required in AWS; only tests against local servers turn it off. @default 'require' */
  readonly tls?: 'require' | 'disable';
  /** How validate connects to a restored database. @default connectRestoredDatabase */
  readonly connect?: Connect;
  /** The instance class added to a restored Aurora cluster when the step names none. @default db.r6g.large */
  readonly auroraInstanceClass?: string;
}

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
  }
}

async function runStep(event: RunStepEvent, deps: DrStepDeps): Promise<StepRecord | PolledStepRecord> {
  const { kind, parameters, stepId } = event;
  switch (kind) {
    case 'restore-dump':
      return runRestoreDumpStep(event, parseParameters(RestoreDumpParametersSchema, parameters, kind, stepId), deps);
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
