/**
 * What the compiled DR plan state machines send the step executor, and what it returns (docs/dr-plans.md,
 * "Tasks and their events"). Every event is parsed here, so a bad one fails naming the field.
 */
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import { POLLED_KINDS, STEP_KINDS, type StepKind } from '../lib/plans/kinds.ts';
import { EXECUTION_NAME_PATTERN, PLAN_NAME_PATTERN } from '../lib/vault/layout.ts';

export type { StepKind };

const isoTimestamp = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 timestamp' });
const planName = z.string().regex(PLAN_NAME_PATTERN, 'must be a plan name (1-40 of a-z, 0-9 and "-", starting with a letter)');
const stepId = z.string().regex(PLAN_NAME_PATTERN, 'must be a step id (1-40 of a-z, 0-9 and "-", starting with a letter)');
/** The last 8 characters of the execution name, lowercased: every drill resource carries it, and clean-up matches it exactly. */
const suffix = z.string().regex(/^[a-z0-9]{1,8}$/, 'must be 1-8 characters of a-z and 0-9 (the end of the execution name)');
const executionId = z.string().min(1).refine((id) => executionNameProblem(id) === undefined, {
  message: 'must be a Step Functions execution ARN ($$.Execution.Id)',
});
const mode = z.enum(['real', 'drill']).nullish().transform((value) => value ?? 'real');
const regionChoice = z.enum(['primary', 'dr']);
export type RegionChoice = z.infer<typeof regionChoice>;
/** A dump, a cache backup or a file set is also restored from the air-gapped vault (another account's, read through its reader role). */
const vaultChoice = z.enum(['primary', 'dr', 'air-gap']);
export type VaultChoice = z.infer<typeof vaultChoice>;
const rdsIdentifier = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,62}$/, 'must be an RDS identifier (a letter, then letters, digits and "-")');

/** `$.levels`: `L<n>` → step id → the step record of every step that ran before. Absent before the first level. */
const LevelsSchema = z
  .record(z.string(), z.record(z.string(), z.unknown()).nullish())
  .nullish()
  .transform((levels) => levels ?? {});
export type Levels = z.output<typeof LevelsSchema>;

// Parameters per kind, as the plan declares them (the config refuses unknown fields; here they are ignored).
export const RestoreDumpParametersSchema = z.object({
  source: z.string().min(1),
  region: vaultChoice.default('primary'),
  pointInTime: isoTimestamp.optional(),
  target: z.object({
    host: z.string().min(1),
    port: z.int().min(1).max(65_535),
    database: z.string().min(1),
    credentialsSecretArn: z.string().startsWith('arn:'),
  }),
});
export type RestoreDumpParameters = z.output<typeof RestoreDumpParametersSchema>;

/** A cache's backup restored into a Redis OSS / Valkey server: a drill restores into a scratch server instead. */
export const RestoreCacheParametersSchema = z.object({
  source: z.string().min(1),
  region: vaultChoice.default('primary'),
  pointInTime: isoTimestamp.optional(),
  target: z.object({
    host: z.string().min(1),
    port: z.int().min(1).max(65_535),
    tls: z.boolean().default(true),
    /** A secret holding the AUTH token: `{"password": …}` (with `username` for an ACL user), or the token as the whole string. */
    authSecretArn: z.string().startsWith('arn:').optional(),
  }),
});
export type RestoreCacheParameters = z.output<typeof RestoreCacheParametersSchema>;

/** A file set's snapshot restored into an S3 bucket and prefix; a drill reads and checks every byte into nowhere instead. */
export const RestoreFilesParametersSchema = z.object({
  source: z.string().min(1),
  region: vaultChoice.default('primary'),
  pointInTime: isoTimestamp.optional(),
  /** Only this file, or (ending in `/`) everything under this path. @default every file */
  path: z.string().min(1).optional(),
  target: z.object({
    /** In the region of the vault read (`region`). */
    bucket: z.string().min(3),
    prefix: z.string().default(''),
  }),
});
export type RestoreFilesParameters = z.output<typeof RestoreFilesParametersSchema>;

/**
 * A configuration backup written back into the region of the vault read: SSM parameters and secrets (stacks are files
 * for an operator, never written by the step). A drill compares with the target and writes nothing.
 */
export const RestoreConfigParametersSchema = z.object({
  source: z.string().min(1),
  region: regionChoice.default('primary'),
  pointInTime: isoTimestamp.optional(),
  /** Write items the target holds with another value too. @default false: they are kept and listed */
  overwrite: z.boolean().default(false),
  /** SecureString parameters are written under this KMS key. @default the account's alias/aws/ssm */
  parameterKmsKeyId: z.string().min(1).optional(),
  /** New secrets are created under this KMS key. @default the account's aws/secretsmanager */
  secretKmsKeyId: z.string().min(1).optional(),
});
export type RestoreConfigParameters = z.output<typeof RestoreConfigParametersSchema>;

const rdsPlacement = {
  targetIdentifier: rdsIdentifier,
  instanceClass: z.string().min(1).optional(),
  subnetGroupName: z.string().min(1),
  securityGroupIds: z.array(z.string().min(1)).min(1),
};

export const RestoreSnapshotParametersSchema = z.object({ source: z.string().min(1), region: regionChoice.default('primary'), ...rdsPlacement });
export type RestoreSnapshotParameters = z.output<typeof RestoreSnapshotParametersSchema>;

export const RestorePointInTimeParametersSchema = z.object({ source: z.string().min(1), restoreTime: isoTimestamp.optional(), ...rdsPlacement });
export type RestorePointInTimeParameters = z.output<typeof RestorePointInTimeParametersSchema>;

export const PromoteReplicaParametersSchema = z.union([
  z.object({
    /** A replica name (in `region`, by default the DR region) or its ARN (its region is read from it). */
    replicaIdentifier: z.string().min(1),
    region: regionChoice.default('dr'),
  }),
  z.object({ globalClusterIdentifier: z.string().min(1), targetClusterArn: z.string().startsWith('arn:') }),
]);
export type PromoteReplicaParameters = z.output<typeof PromoteReplicaParametersSchema>;

export const ValidateParametersSchema = z.object({
  target: stepId,
  sqlChecks: z.array(z.string().trim().min(1)).default([]),
});
export type ValidateParameters = z.output<typeof ValidateParametersSchema>;

export const NotifyParametersSchema = z.object({ message: z.string().trim().min(1) });
export type NotifyParameters = z.output<typeof NotifyParametersSchema>;

const RunStepEventSchema = z.object({
  action: z.literal('run-step'),
  plan: planName,
  stepId,
  kind: z.enum(STEP_KINDS),
  parameters: z.record(z.string(), z.unknown()).default({}),
  mode,
  suffix,
  executionId,
  levels: LevelsSchema,
});
export type RunStepEvent = z.output<typeof RunStepEventSchema>;

/**
 * What a polled step carries from `run-step` to each `describe-step`: everything needed to look at the
 * RDS resource again and to write the final record. `status` is RDS's progress (`available` ends the loop).
 */
export const PolledStepSchema = z.object({
  plan: planName,
  stepId,
  kind: z.enum(POLLED_KINDS),
  mode: z.enum(['real', 'drill']),
  suffix,
  startedAt: isoTimestamp,
  region: regionChoice,
  status: z.string().min(1),
  resource: z.discriminatedUnion('type', [
    z.object({ type: z.literal('instance'), identifier: z.string().min(1) }),
    z.object({ type: z.literal('cluster'), identifier: z.string().min(1), instanceIdentifier: z.string().min(1) }),
    z.object({ type: z.literal('replica'), identifier: z.string().min(1) }),
    z.object({ type: z.literal('global-cluster'), globalClusterIdentifier: z.string().min(1), targetClusterArn: z.string().min(1) }),
  ]),
  /** Restores: where the data comes from, and how the validate step logs in to the restored database. */
  restore: z
    .object({
      sourceId: z.string().min(1),
      backupId: z.string().min(1).optional(),
      restoredDataAt: isoTimestamp,
      engine: z.enum(['postgresql', 'mysql', 'docdb']),
      database: z.string().min(1),
      credentialsSecretArn: z.string().startsWith('arn:'),
    })
    .optional(),
  /** A drill's promotion: what would have been done, recorded once. */
  skipped: z.object({ wouldHave: z.string().min(1), endedAt: isoTimestamp }).optional(),
});
export type PolledStep = z.output<typeof PolledStepSchema>;

const DescribeStepEventSchema = z.object({ action: z.literal('describe-step'), step: PolledStepSchema });
export type DescribeStepEvent = z.output<typeof DescribeStepEventSchema>;

const CleanupEventSchema = z.object({ action: z.literal('cleanup'), plan: planName, suffix, executionId: executionId.optional() });
export type CleanupEvent = z.output<typeof CleanupEventSchema>;

/** A Catch's `$.failure`: `{ Error, Cause }` from Step Functions (or already `{ error, cause }`). */
const FailureSchema = z
  .looseObject({ Error: z.string().optional(), Cause: z.string().optional(), error: z.string().optional(), cause: z.string().optional() })
  .nullish()
  .transform((failure) => (failure ? { error: failure.Error ?? failure.error ?? 'States.Failed', cause: failure.Cause ?? failure.cause ?? '' } : null));

const RecordEvidenceEventSchema = z.object({
  action: z.literal('record-evidence'),
  plan: planName,
  mode,
  executionId,
  startedAt: isoTimestamp,
  levels: LevelsSchema,
  failure: FailureSchema,
  objectives: z.object({ rtoMinutes: z.int().min(1), rpoMinutes: z.int().min(1) }),
  contacts: z.array(z.object({ name: z.string().min(1), email: z.string().min(1) })).default([]),
});
export type RecordEvidenceEvent = z.output<typeof RecordEvidenceEventSchema>;

/** After a step ran as a Fargate task: the record its task left in the vault (docs/dr-plans.md, "Steps on Fargate"). */
const ReadStepRecordEventSchema = z.object({ action: z.literal('read-step-record'), plan: planName, stepId, executionId });
export type ReadStepRecordEvent = z.output<typeof ReadStepRecordEventSchema>;

export const DrStepEventSchema = z.discriminatedUnion('action', [
  RunStepEventSchema,
  DescribeStepEventSchema,
  CleanupEventSchema,
  RecordEvidenceEventSchema,
  ReadStepRecordEventSchema,
]);
export type DrStepEvent = z.input<typeof DrStepEventSchema>;

/** A step's record, as each level's branch outputs it and the evidence lists it. */
export interface StepRecord {
  readonly stepId: string;
  readonly kind: StepKind;
  /** `creating` only while a polled step is in progress. */
  readonly status: 'succeeded' | 'skipped' | 'creating';
  readonly startedAt: string;
  /** `null` while a polled step is in progress. */
  readonly endedAt: string | null;
  readonly result: Record<string, unknown> | null;
}

/** What `run-step` returns for the polled kinds and what `describe-step` returns: the record and the step to poll. */
export interface PolledStepRecord extends StepRecord {
  readonly step: PolledStep;
}

/** Where a restore step put the data: what its record's `result.target` says and the validate step connects to. */
export interface RestoredTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly engine: 'postgresql' | 'mysql';
  /** The secret with `username` and `password` of a user of the restored database. */
  readonly credentialsSecretArn: string;
}

export const RestoredTargetSchema = z.object({
  host: z.string().min(1),
  port: z.int().min(1).max(65_535),
  database: z.string().min(1),
  engine: z.enum(['postgresql', 'mysql']),
  credentialsSecretArn: z.string().startsWith('arn:'),
});

/** `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders:drill-7f3a9c2e` → `drill-7f3a9c2e`. */
export function executionNameOf(executionId: string): string {
  const problem = executionNameProblem(executionId);
  if (problem) throw new ConfigError(`executionId: ${problem}`);
  return executionId.split(':')[7]!;
}

function executionNameProblem(executionId: string): string | undefined {
  const parts = executionId.split(':');
  if (parts.length !== 8 || parts[0] !== 'arn' || parts[2] !== 'states' || parts[5] !== 'execution') {
    return `"${executionId.slice(0, 120)}" is not a Step Functions execution ARN (arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME)`;
  }
  if (!EXECUTION_NAME_PATTERN.test(parts[7]!)) return `"${parts[7]}" is not a Step Functions execution name`;
  return undefined;
}

/** The parameters of one kind, parsed; a bad one is a `ConfigError` naming `parameters.<field>`. */
export function parseParameters<S extends z.ZodType>(schema: S, parameters: unknown, kind: string, stepIdValue: string): z.output<S> {
  const parsed = schema.safeParse(parameters);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `parameters${issue.path.map((p) => `.${String(p)}`).join('')}: ${issue.message}`);
    throw new ConfigError(`Invalid ${kind} step '${stepIdValue}': ${issues.join('; ')}`);
  }
  return parsed.data;
}
