/**
 * The start-backup function's core: name a backup state machine execution and start it. EventBridge
 * Scheduler cannot reformat its `<aws.scheduler.scheduled-time>` into a legal execution name, and it
 * delivers at least once, so a scheduled start is named from the scheduled time alone: a second delivery
 * asks for the same name and finds the execution the first one started.
 *
 * ```
 * { "sourceId": "orders-db", "trigger": "schedule", "scheduledTime": "2026-11-29T01:00:00Z" }
 *   ▸ StartExecution name orders-db-20261129T010000Z-schedule
 * { "sourceId": "orders-db" }   (trigger defaults to manual)
 *   ▸ StartExecution name orders-db-20261129T093012Z-manual-k3x7
 * ```
 */
import { DescribeExecutionCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { BackupConflictError, ConfigError, InvalidIdentifierError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { SOURCE_ID_PATTERN, compactUtc, randomBase32 } from '../lib/vault/layout.ts';

/** What Step Functions accepts in an execution name and CloudWatch Logs can carry: 1-80 of `0-9A-Za-z-_`. */
export const EXECUTION_NAME_PATTERN = /^[0-9A-Za-z_-]{1,80}$/;
/** `arn:<partition>:states:<region>:<account>:stateMachine:<name>`, optionally with a version or alias qualifier. */
export const STATE_MACHINE_ARN_PATTERN = /^arn:([a-z-]+):states:([a-z0-9-]+):(\d{12}):stateMachine:([0-9A-Za-z_-]{1,80})(?::[0-9A-Za-z_-]+)?$/;

const MANUAL_SUFFIX_PATTERN = /^[a-z2-7]{4}$/;

export const SourceIdSchema = z.string().regex(SOURCE_ID_PATTERN, 'must be 1-40 characters of a-z, 0-9 and "-", starting with a letter');

export const StartBackupEventSchema = z
  .object({
    sourceId: SourceIdSchema,
    trigger: z.enum(['schedule', 'manual']).default('manual'),
    /** Scheduler's `<aws.scheduler.scheduled-time>`, e.g. `2026-11-29T01:00:00Z`. */
    scheduledTime: z.iso.datetime({ message: 'must be an ISO 8601 UTC timestamp like 2026-11-29T01:00:00Z' }).optional(),
  })
  .refine((event) => event.trigger !== 'schedule' || event.scheduledTime !== undefined, {
    path: ['scheduledTime'],
    message: 'is required when trigger is "schedule" (pass <aws.scheduler.scheduled-time>)',
  });
export type StartBackupEvent = z.output<typeof StartBackupEventSchema>;

export interface StartBackupDeps {
  readonly sfn: Pick<SFNClient, 'send'>;
  /** The backup state machine. */
  readonly stateMachineArn: string;
  /** The sources this deployment backs up; an event for any other is refused before anything is started. @default any source */
  readonly sourceIds?: readonly string[];
  readonly now?: () => Date;
  /** At least 4 lowercase base32 characters for a manual start's name. @default randomBase32(4) */
  readonly random?: () => string;
}

export interface StartBackupResult {
  readonly sourceId: string;
  readonly trigger: StartBackupEvent['trigger'];
  readonly executionName: string;
  readonly executionArn: string;
  /** ISO 8601. For an execution that already existed, when it started. */
  readonly startDate: string;
  /** An execution of this name already existed (a repeated Scheduler delivery): nothing new was started. */
  readonly alreadyStarted: boolean;
}

/** Starts one backup run; a scheduled start that already happened is success with `alreadyStarted: true`. */
export async function startBackup(event: unknown, deps: StartBackupDeps): Promise<StartBackupResult> {
  const request = parseStartBackupEvent(event);
  if (deps.sourceIds !== undefined && !deps.sourceIds.includes(request.sourceId)) {
    throw new ConfigError(`sourceId: unknown source '${request.sourceId}'; this deployment backs up ${deps.sourceIds.join(', ')}`);
  }
  const name = executionName(request, deps.now?.() ?? new Date(), deps.random ?? (() => randomBase32(4)));
  // Key order is fixed, so a repeated delivery sends byte-identical input.
  const input = JSON.stringify({
    sourceId: request.sourceId,
    trigger: request.trigger,
    ...(request.scheduledTime === undefined ? {} : { scheduledTime: request.scheduledTime }),
  });
  const result = { sourceId: request.sourceId, trigger: request.trigger, executionName: name };

  try {
    const started = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input }));
    return { ...result, executionArn: started.executionArn!, startDate: started.startDate!.toISOString(), alreadyStarted: false };
  } catch (error) {
    if ((error as { name?: unknown }).name !== 'ExecutionAlreadyExists') throw error;
    if (request.trigger !== 'schedule') {
      throw new BackupConflictError(`An execution named ${name} already exists on ${deps.stateMachineArn}; nothing was started`, { cause: error });
    }
    const executionArn = executionArnFor(deps.stateMachineArn, name);
    const existing = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
    return { ...result, executionArn, startDate: existing.startDate!.toISOString(), alreadyStarted: true };
  }
}

export function parseStartBackupEvent(event: unknown): StartBackupEvent {
  return parseOrConfigError(StartBackupEventSchema, event, 'Invalid start-backup event');
}

/**
 * `<sourceId>-<scheduled time>-schedule` (the same for every delivery of one scheduled start), or
 * `<sourceId>-<now>-manual-<4 random base32>`; times as `20261129T010000Z`. At most 69 characters.
 */
export function executionName(
  event: Pick<StartBackupEvent, 'sourceId' | 'trigger' | 'scheduledTime'>,
  now: Date,
  random: () => string,
): string {
  let name: string;
  if (event.trigger === 'schedule') {
    if (event.scheduledTime === undefined) throw new ConfigError('scheduledTime: is required when trigger is "schedule"');
    name = `${event.sourceId}-${compactUtc(new Date(event.scheduledTime), false)}-schedule`;
  } else {
    const suffix = random().slice(0, 4);
    if (!MANUAL_SUFFIX_PATTERN.test(suffix)) throw new InvalidIdentifierError(`"${suffix}" is not 4 lowercase base32 characters`);
    name = `${event.sourceId}-${compactUtc(now, false)}-manual-${suffix}`;
  }
  if (!EXECUTION_NAME_PATTERN.test(name)) throw new InvalidIdentifierError(`"${name}" cannot name a Step Functions execution`);
  return name;
}

/** `arn:<p>:states:<r>:<a>:stateMachine:<sm>[:qualifier]` → `arn:<p>:states:<r>:<a>:execution:<sm>:<name>`. */
export function executionArnFor(stateMachineArn: string, name: string): string {
  const match = STATE_MACHINE_ARN_PATTERN.exec(stateMachineArn);
  if (!match) throw new ConfigError(`"${stateMachineArn}" is not a Step Functions state machine ARN`);
  const [, partition, region, account, stateMachine] = match;
  return `arn:${partition}:states:${region}:${account}:execution:${stateMachine}:${name}`;
}
