/**
 * Disaster-recovery plans in the config (docs/dr-plans.md): the schema of `plans`, the checks that need
 * the whole config (`planProblems`), and the default plan every otherwise unplanned source gets.
 *
 * @example
 * {
 *   "name": "orders-restore", "priority": "critical",
 *   "objectives": { "rtoMinutes": 60, "rpoMinutes": 240 },
 *   "contacts": [{ "name": "Ana Lima", "email": "ana@example.com" }],
 *   "steps": [
 *     { "id": "backup", "kind": "backup-now", "parameters": { "source": "orders-db" } },
 *     { "id": "go", "kind": "approval", "dependsOn": ["backup"], "parameters": { "question": "Restore orders now?" } },
 *     { "id": "restore", "kind": "restore-dump", "dependsOn": ["go"], "parameters": { "source": "orders-db", "target": { … } } }
 *   ]
 * }
 */
import { z } from 'zod';
import backupStateMachine from '../../statemachines/backup.asl.json' with { type: 'json' };
import { isRestoreKind, STEP_KINDS, type StepKind } from '../../functions/lib/plans/kinds.ts';
// Types only: schema.ts imports this module, so a value import back would be a cycle.
import { isDatabaseSource, type AlertsConfig, type SourceConfig, type VerificationConfig } from './schema.ts';

// ---------------------------------------------------------------------------------------------
// Scalars. The config-wide ones in schema.ts are private to it; these are the plan's own, some stricter
// because a drill appends a suffix to the names they give.

const ID = /^[a-z][a-z0-9-]{0,39}$/;
const ID_ERROR = 'must be 1-40 characters: a lowercase letter, then lowercase letters, digits or hyphens';

/** Step Functions runs for at most a year; no timeout is longer. */
const MAX_MINUTES = 365 * 24 * 60;
const minutes = z
  .int({ error: 'must be a whole number of minutes' })
  .min(1, { error: 'must be a whole number of minutes >= 1' })
  .max(MAX_MINUTES, { error: `must be at most ${MAX_MINUTES} minutes (one year)` });

const text = z.string().trim().min(1, { error: 'must not be empty' });

/** Names a configured source; whether it is one is checked by planProblems, with the source list at hand. */
const SourceRef = z.string().min(1, { error: 'must name a configured source' });

const RestoreRegion = z.enum(['primary', 'dr']).default('primary');
/** A dump, a cache backup or a file set may also be restored from the air-gapped vault (`vaultAccount` with its `keyArn`), through its reader role. */
const VaultRegion = z.enum(['primary', 'dr', 'air-gap']).default('primary');

const IsoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2026-03-01T12:00:00Z' });

/** What `-drill-<suffix>` and `_drill_<suffix>` add to a restore target's name (8-character suffix). */
export const DRILL_SUFFIX_LENGTH = '-drill-'.length + 8;

/** An RDS identifier a drill can still extend: `<targetIdentifier>-drill-<suffix>` stays within RDS's 63 characters. */
const MAX_TARGET_IDENTIFIER = 63 - DRILL_SUFFIX_LENGTH;
const TargetIdentifier = z
  .string()
  .regex(/^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$/, {
    error: 'must be an RDS identifier: a lowercase letter, then lowercase letters, digits and single hyphens, not ending in a hyphen',
  })
  .max(MAX_TARGET_IDENTIFIER, { error: `must be at most ${MAX_TARGET_IDENTIFIER} characters: a drill appends -drill-<suffix>` });

/** An existing RDS instance or cluster identifier (RDS's own rules). */
const RdsIdentifier = z.string().regex(/^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,62}$/, {
  error: 'must be an RDS identifier: 1-63 letters, digits and single hyphens, starting with a letter, not ending in a hyphen',
});

/** PostgreSQL allows 63 characters in a name; a drill restores into `<database>_drill_<suffix>`. */
const MAX_TARGET_DATABASE = 63 - DRILL_SUFFIX_LENGTH;
const TargetDatabase = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, { error: 'must be a database name: a letter or underscore, then letters, digits, _ or $' })
  .max(MAX_TARGET_DATABASE, { error: `must be at most ${MAX_TARGET_DATABASE} characters: a drill restores into <database>_drill_<suffix>` });

const Host = z
  .string()
  .regex(/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, {
    error: 'must be a host name or IPv4 address',
  });

const SecretArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$/, {
    error: 'must be a Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>',
  });

const InstanceClass = z.string().regex(/^db\.[a-z0-9]+(\.[a-z0-9]+)?$/, { error: 'must be an RDS instance class such as db.r6g.large' });

const SubnetGroupName = z.string().regex(/^[A-Za-z0-9._ -]{1,255}$/, {
  error: 'must be a DB subnet group name: 1-255 letters, digits, spaces, periods, underscores or hyphens',
});

const SecurityGroupIds = z
  .array(z.string().regex(/^sg-([0-9a-f]{8}|[0-9a-f]{17})$/, { error: 'must be sg- followed by 8 or 17 lowercase hex digits' }))
  .min(1, { error: 'must list at least one security group' });

const ClusterArn = z.string().regex(/^arn:aws[a-z-]*:rds:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:cluster:[A-Za-z][A-Za-z0-9-]*$/, {
  error: 'must be an RDS cluster ARN: arn:aws:rds:<region>:<12-digit account>:cluster:<identifier>',
});

// ---------------------------------------------------------------------------------------------
// Steps: one strict parameter shape per kind

export { RESTORE_KINDS, STEP_KINDS, type StepKind } from '../../functions/lib/plans/kinds.ts';

/**
 * How long one run of the backup state machine can take, in minutes: its own `TimeoutSeconds`, the bound
 * that covers the snapshot wait (6 h of polls), a dump and its verification on Fargate, and the DR copy (24 h
 * of polls). A plan's `backup-now` step waits this long by default, so the step times out only when the
 * backup itself would.
 */
export const BACKUP_STATE_MACHINE_TIMEOUT_MINUTES = backupStateMachineTimeoutMinutes();

function backupStateMachineTimeoutMinutes(): number {
  // Imported, not read from a path: the CLI's bundle (dist/cli.mjs) carries it inlined.
  const asl = backupStateMachine as { TimeoutSeconds?: unknown };
  if (typeof asl.TimeoutSeconds !== 'number' || asl.TimeoutSeconds % 60 !== 0) throw new Error('statemachines/backup.asl.json needs a TimeoutSeconds of whole minutes');
  return asl.TimeoutSeconds / 60;
}

/** Lambda's limit: a step the DR step Lambda runs, and no Fargate task can take over, must end within it. */
const LAMBDA_MINUTES = 15;

/** Default `timeoutMinutes` per kind (docs/dr-plans.md). `wait` is its minutes + 1; `approval` has its own in its parameters. */
export const DEFAULT_TIMEOUT_MINUTES = {
  notify: 5,
  'backup-now': BACKUP_STATE_MACHINE_TIMEOUT_MINUTES,
  'restore-dump': 120,
  // RESTORE of every key over one connection, in the DR step Lambda: at most its 15 minutes.
  'restore-cache': 15,
  // Every chunk read, checked and written to S3: in the DR step Lambda, or its Fargate task when given longer.
  'restore-files': 15,
  // Every item read, checked, compared with the target and written, in the DR step Lambda: at most its 15 minutes.
  'restore-config': 15,
  'restore-snapshot': 180,
  'restore-point-in-time': 180,
  'promote-replica': 60,
  validate: 30,
} as const satisfies Partial<Record<StepKind, number>>;

const APPROVAL_DEFAULTS = { timeoutMinutes: 60, escalateAfterMinutes: 30 } as const;

/** A person must approve before the step runs; nobody deciding within escalateAfterMinutes tells the contacts again. */
const ApprovalGateSchema = z.strictObject({
  /** @default "Approve step '<id>' (<kind>) of plan '<plan>'?" */
  question: text.optional(),
  timeoutMinutes: minutes.default(APPROVAL_DEFAULTS.timeoutMinutes),
  escalateAfterMinutes: minutes.default(APPROVAL_DEFAULTS.escalateAfterMinutes),
});

const stepShape = {
  id: z.string().regex(ID, { error: ID_ERROR }),
  /** Step ids this step waits for; whether they exist is checked by planProblems. */
  dependsOn: z.array(z.string()).default([]),
};

/** A step of `kind` with its strict parameters, an optional approval gate and an optional timeout. */
const step = <K extends Exclude<StepKind, 'approval'>, P extends z.ZodType>(kind: K, parameters: P) =>
  z.strictObject({
    ...stepShape,
    kind: z.literal(kind),
    parameters,
    /** @default per kind, see DEFAULT_TIMEOUT_MINUTES */
    timeoutMinutes: minutes.optional(),
    approval: ApprovalGateSchema.optional(),
  });

const RestoreDumpTargetSchema = z.strictObject({
  host: Host,
  port: z.int().min(1).max(65_535, { error: 'must be a port number 1-65535' }),
  database: TargetDatabase,
  credentialsSecretArn: SecretArn,
});

/** Where a cache's backup is restored: a Redis OSS / Valkey endpoint (an ElastiCache primary endpoint, a standby). */
const RestoreCacheTargetSchema = z.strictObject({
  host: Host,
  port: z.int().min(1).max(65_535, { error: 'must be a port number 1-65535' }).default(6379),
  /** In-transit encryption, as ElastiCache's is when turned on. */
  tls: z.boolean().default(true),
  /** A secret with the AUTH token (`{"password": …}`, with `username` for an ACL user, or the token alone). @default no AUTH */
  authSecretArn: SecretArn.optional(),
});

/** Where a file set's snapshot is restored: a bucket (in the region of the vault read) and a key prefix. */
const RestoreFilesTargetSchema = z.strictObject({
  bucket: z.string().regex(/^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$/, { error: 'must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens' }),
  prefix: z
    .string()
    .max(1024, { error: 'must be at most 1024 characters (an S3 key)' })
    .refine((p) => !p.startsWith('/'), { error: 'must not start with "/": S3 keys have no leading slash' })
    .default(''),
});

/** A KMS key in the target region, as PutParameter's KeyId and CreateSecret's KmsKeyId take it: a key ARN or an alias name. */
const KmsKeyRef = z.string().regex(/^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+)$/, {
  error: 'must be a KMS key ARN, an alias ARN or an alias name (alias/…)',
});

const PromoteReplicaParameters = z.union(
  [
    z.strictObject({ replicaIdentifier: RdsIdentifier }),
    z.strictObject({ globalClusterIdentifier: RdsIdentifier, targetClusterArn: ClusterArn }),
  ],
  { error: 'give either replicaIdentifier (an RDS read replica), or globalClusterIdentifier and targetClusterArn (Aurora global failover)' },
);

const StepUnion = z.discriminatedUnion(
  'kind',
  [
    // An approval step is itself the approval: its timeouts are its parameters, and it takes no gate.
    z.strictObject({
      ...stepShape,
      kind: z.literal('approval'),
      parameters: z.strictObject({
        question: text,
        timeoutMinutes: minutes.default(APPROVAL_DEFAULTS.timeoutMinutes),
        escalateAfterMinutes: minutes.default(APPROVAL_DEFAULTS.escalateAfterMinutes),
      }),
    }),
    step('notify', z.strictObject({ message: text })),
    step('backup-now', z.strictObject({ source: SourceRef })),
    step(
      'restore-dump',
      z.strictObject({
        source: SourceRef,
        region: VaultRegion,
        /** @default the latest verified dump; else the latest verified at or before this time */
        pointInTime: IsoDateTime.optional(),
        target: RestoreDumpTargetSchema,
      }),
    ),
    step(
      'restore-cache',
      z.strictObject({
        source: SourceRef,
        region: VaultRegion,
        /** @default the latest verified backup; else the latest verified at or before this time */
        pointInTime: IsoDateTime.optional(),
        target: RestoreCacheTargetSchema,
      }),
    ),
    step(
      'restore-files',
      z.strictObject({
        source: SourceRef,
        region: VaultRegion,
        /** @default the latest verified snapshot; else the latest verified at or before this time */
        pointInTime: IsoDateTime.optional(),
        /** Only this file, or (ending in "/") everything under this path. @default every file */
        path: z.string().min(1).refine((p) => !p.startsWith('/'), { error: 'must be relative to the file set, without a leading "/"' }).optional(),
        target: RestoreFilesTargetSchema,
      }),
    ),
    step(
      'restore-config',
      z.strictObject({
        source: SourceRef,
        region: RestoreRegion,
        /** @default the latest verified backup; else the latest verified at or before this time */
        pointInTime: IsoDateTime.optional(),
        /** Write items the target region holds with another value too. @default false: they are kept as they are, and listed */
        overwrite: z.boolean().default(false),
        /** SecureString parameters are written under this KMS key (ARN or alias/…, in the target region). @default alias/aws/ssm */
        parameterKmsKeyId: KmsKeyRef.optional(),
        /** New secrets are created under this KMS key (ARN or alias/…, in the target region). @default aws/secretsmanager */
        secretKmsKeyId: KmsKeyRef.optional(),
      }),
    ),
    step(
      'restore-snapshot',
      z.strictObject({
        source: SourceRef,
        region: RestoreRegion,
        targetIdentifier: TargetIdentifier,
        /** @default the snapshot's instance class */
        instanceClass: InstanceClass.optional(),
        subnetGroupName: SubnetGroupName,
        securityGroupIds: SecurityGroupIds,
      }),
    ),
    step(
      'restore-point-in-time',
      z.strictObject({
        source: SourceRef,
        targetIdentifier: TargetIdentifier,
        /** @default the latest restorable time */
        restoreTime: IsoDateTime.optional(),
        instanceClass: InstanceClass,
        subnetGroupName: SubnetGroupName,
        securityGroupIds: SecurityGroupIds,
      }),
    ),
    step('promote-replica', PromoteReplicaParameters),
    step(
      'validate',
      z.strictObject({
        /** The id of a restore step this step depends on, directly or not. */
        target: z.string(),
        sqlChecks: z.array(text).default([]),
      }),
    ),
    step('wait', z.strictObject({ minutes })),
  ],
  {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const kind = typeof iss.input === 'object' && iss.input !== null ? (iss.input as { kind?: unknown }).kind : undefined;
      const expected = `expected one of ${STEP_KINDS.join(', ')}`;
      return kind === undefined ? `required: ${expected}` : `unknown step kind ${JSON.stringify(kind)}; ${expected}`;
    },
  },
);

/** One step of a plan; the output always has `timeoutMinutes` (an approval step's is its parameters' timeout). */
export const PlanStepSchema = StepUnion.transform((parsed) => ({ ...parsed, timeoutMinutes: stepTimeoutMinutes(parsed) }));

function stepTimeoutMinutes(parsed: z.output<typeof StepUnion>): number {
  switch (parsed.kind) {
    case 'approval':
      return parsed.parameters.timeoutMinutes;
    case 'wait':
      return parsed.timeoutMinutes ?? parsed.parameters.minutes + 1;
    default:
      return parsed.timeoutMinutes ?? DEFAULT_TIMEOUT_MINUTES[parsed.kind];
  }
}

// ---------------------------------------------------------------------------------------------
// Plans

export const PLAN_PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;

export const PlanSchema = z.strictObject({
  /** The state machine is `<config name>-plan-<name>`. */
  name: z.string().regex(ID, { error: ID_ERROR }),
  description: text.optional(),
  priority: z.enum(PLAN_PRIORITIES),
  objectives: z.strictObject({
    rtoMinutes: z.int().min(1, { error: 'must be a whole number >= 1' }),
    rpoMinutes: z.int().min(1, { error: 'must be a whole number >= 1' }),
  }),
  /** Told of every notify step, approval, escalation and run summary. */
  contacts: z
    .array(z.strictObject({ name: text, email: z.email({ error: 'must be an email address' }) }))
    .min(1, { error: 'must list at least one contact' }),
  steps: z.array(PlanStepSchema).min(1, { error: 'must list at least one step' }),
  /** An alarm fires when the plan's last passed drill (or real run) is older than `everyDays`. @default - no drill alarm */
  drill: z.strictObject({ everyDays: z.int().min(1, { error: 'must be a whole number of days from 1 to 366' }).max(366, { error: 'must be a whole number of days from 1 to 366' }) }).optional(),
});

/** A parsed plan, every default filled in. */
export type PlanConfig = z.output<typeof PlanSchema>;
/** A plan as a user writes it. */
export type PlanConfigInput = z.input<typeof PlanSchema>;
export type PlanStepConfig = PlanConfig['steps'][number];
export type PlanStepOfKind<K extends StepKind> = Extract<PlanStepConfig, { kind: K }>;
/** The approval a step (or an approval step) asks for, defaults filled in. */
export type ApprovalConfig = { readonly question?: string; readonly timeoutMinutes: number; readonly escalateAfterMinutes: number };

/** The approval to ask before a step runs (the step's gate, or an approval step's own parameters); none for an ungated step. */
export function approvalOf(planStep: PlanStepConfig): ApprovalConfig | undefined {
  return planStep.kind === 'approval' ? planStep.parameters : planStep.approval;
}

// ---------------------------------------------------------------------------------------------
// Cross-field checks

/** One problem found in the plans: `path` from the config root, as zod issues have it. */
export interface PlanProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** What the plan checks and the default plans need from the rest of the config. */
export interface PlanContext {
  /** The deployment name: state machines are `<name>-plan-<plan>`. */
  readonly name: string;
  readonly sources: readonly SourceConfig[];
  readonly verification?: VerificationConfig | undefined;
  readonly alerts: Pick<AlertsConfig, 'emails'>;
}

/** Step Functions allows 80 characters in a state machine name. */
export const MAX_STATE_MACHINE_NAME = 80;

/** The state machine a plan compiles into. */
export function planStateMachineName(deploymentName: string, planName: string): string {
  return `${deploymentName}-plan-${planName}`;
}

/**
 * Every problem in `plans` that the schema alone cannot see, with its path from the config root:
 * unknown or duplicate step ids, cycles, `validate` targets, approval timings, unknown sources and
 * restores a source cannot serve, duplicate plan names (default plans included).
 */
export function planProblems(plans: readonly PlanConfig[], context: PlanContext): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const sources = new Map(context.sources.map((source) => [source.id, source]));
  const firstPlan = new Map<string, number>();
  const defaults = new Map(defaultPlansByName(plans, context).map(([source, plan]) => [plan.name, source]));

  plans.forEach((plan, p) => {
    const at = (...path: (string | number)[]) => ['plans', p, ...path];
    const first = firstPlan.get(plan.name);
    if (first !== undefined) {
      problems.push({ path: at('name'), message: `duplicate plan name '${plan.name}' (already used by plans[${first}])` });
    } else {
      firstPlan.set(plan.name, p);
    }
    const source = defaults.get(plan.name);
    if (source !== undefined) {
      problems.push({
        path: at('name'),
        message: `'${plan.name}' is the name of the default plan of source '${source.id}'; rename this plan, or name the source in one of its steps`,
      });
    }

    for (const problem of planStructureProblems(plan)) problems.push({ path: at(...problem.path), message: problem.message });

    plan.steps.forEach((planStep, s) => {
      if (!('source' in planStep.parameters)) return;
      const id = planStep.parameters.source;
      const path = at('steps', s, 'parameters', 'source');
      const configured = sources.get(id);
      if (configured === undefined) {
        problems.push({ path, message: `'${id}' is not a configured source` });
      } else if (configured.kind === 's3' && planStep.kind !== 'backup-now' && planStep.kind !== 'restore-files') {
        problems.push({ path, message: `'${id}' is an S3 file set: a plan backs it up now (backup-now) and restores it with restore-files, not ${planStep.kind}` });
      } else if (configured.kind === 'config' && planStep.kind !== 'backup-now' && planStep.kind !== 'restore-config') {
        problems.push({ path, message: `'${id}' is a configuration source: a plan backs it up now (backup-now) and restores it with restore-config, not ${planStep.kind}` });
      } else if (configured.kind !== 'config' && planStep.kind === 'restore-config') {
        problems.push({ path, message: `'${id}' is not a configuration source: restore-config restores SSM parameters and secrets` });
      } else if (configured.kind !== 's3' && planStep.kind === 'restore-files') {
        problems.push({ path, message: `'${id}' is not an S3 file set: restore-files restores a file set's snapshot` });
      } else if (configured.kind === 'elasticache-redis' && planStep.kind !== 'backup-now' && planStep.kind !== 'restore-cache') {
        problems.push({ path, message: `'${id}' is an ElastiCache cache: a plan backs it up now (backup-now) and restores it with restore-cache, not ${planStep.kind}` });
      } else if (configured.kind !== 'elasticache-redis' && planStep.kind === 'restore-cache') {
        problems.push({ path, message: `'${id}' is not an ElastiCache cache: restore-cache restores a cache's backup; restore a database with restore-dump, restore-snapshot or restore-point-in-time` });
      } else if (planStep.kind === 'restore-files' && planStep.timeoutMinutes > LAMBDA_MINUTES && configured.kind === 's3' && !configured.network && !context.verification?.network) {
        // Longer than Lambda runs on the DR step's Fargate task, which needs a network: the verification one, else the file set's.
        problems.push({
          path: at('steps', s, 'timeoutMinutes'),
          message: `${planStep.timeoutMinutes} minutes is longer than the DR step Lambda can run (${LAMBDA_MINUTES}), and a longer restore-files runs as a Fargate task: give the file set '${id}' a network (or the deployment verification.network), or restore it with lifeboat restore (docs/file-sets.md)`,
        });
      } else if (planStep.kind === 'restore-dump' && configured.backup.method === 'snapshot') {
        problems.push({ path, message: `'${id}' is backed up by snapshot only, so it has no dump to restore; use restore-snapshot` });
      }
    });

    // validate checks tables and SQL: a restored DocumentDB cluster has neither (its restore step waits until it is available).
    const byId = new Map(plan.steps.map((planStep) => [planStep.id, planStep]));
    plan.steps.forEach((planStep, s) => {
      if (planStep.kind !== 'validate') return;
      const target = byId.get(planStep.parameters.target);
      const restored = target && 'source' in target.parameters ? sources.get(target.parameters.source) : undefined;
      if (restored?.kind === 'elasticache-redis') {
        problems.push({
          path: at('steps', s, 'parameters', 'target'),
          message: `'${planStep.parameters.target}' restores the ElastiCache cache '${restored.id}': validate checks PostgreSQL and MySQL tables and SQL, not a cache; leave the step out (restore-cache checks every key it writes)`,
        });
      }
      if (restored?.kind === 'config') {
        problems.push({
          path: at('steps', s, 'parameters', 'target'),
          message: `'${planStep.parameters.target}' restores the configuration source '${restored.id}': validate checks PostgreSQL and MySQL tables and SQL, not parameters or secrets; leave the step out (restore-config checks every item it writes)`,
        });
      }
      if (restored?.kind === 'docdb') {
        problems.push({
          path: at('steps', s, 'parameters', 'target'),
          message: `'${planStep.parameters.target}' restores the DocumentDB source '${restored.id}': validate checks PostgreSQL and MySQL tables and SQL, not DocumentDB; leave the step out (the restore waits until the cluster is available)`,
        });
      }
    });
  });

  for (const [source, plan] of defaultPlansByName(plans, context)) {
    const stateMachine = planStateMachineName(context.name, plan.name);
    if (stateMachine.length > MAX_STATE_MACHINE_NAME) {
      problems.push({
        path: ['sources', context.sources.indexOf(source), 'id'],
        message:
          `its default plan's state machine '${stateMachine}' would have ${stateMachine.length} characters ` +
          `(Step Functions allows ${MAX_STATE_MACHINE_NAME}): shorten the source id or the config name, or name the source in a plan`,
      });
    }
  }
  return problems;
}

/**
 * The problems inside one plan's steps, with paths from the plan (`steps[2].dependsOn[0]`): duplicate ids,
 * unknown dependencies, cycles, `validate` targets that are not restore steps it depends on, and an
 * escalation not strictly before the approval's timeout. The compiler refuses a plan with any.
 */
export function planStructureProblems(plan: PlanConfig): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const index = new Map<string, number>();
  plan.steps.forEach((planStep, s) => {
    const first = index.get(planStep.id);
    if (first === undefined) index.set(planStep.id, s);
    else problems.push({ path: ['steps', s, 'id'], message: `duplicate step id '${planStep.id}' (already used by steps[${first}])` });
  });
  const byId = new Map(plan.steps.map((planStep) => [planStep.id, planStep]));

  // A drill names its targets after the plan's (`<database>_drill_<suffix>`, `<identifier>-drill-<suffix>`):
  // two restores with one target name would restore into the same drill database or instance.
  const targets = new Map<string, string>();
  plan.steps.forEach((planStep, s) => {
    const target =
      planStep.kind === 'restore-dump'
        ? { key: `database:${planStep.parameters.target.database}`, path: ['steps', s, 'parameters', 'target', 'database'], what: 'target database' }
        : planStep.kind === 'restore-snapshot' || planStep.kind === 'restore-point-in-time'
          ? { key: `instance:${planStep.parameters.targetIdentifier}`, path: ['steps', s, 'parameters', 'targetIdentifier'], what: 'target identifier' }
          : undefined;
    if (!target) return;
    const first = targets.get(target.key);
    if (first === undefined) targets.set(target.key, planStep.id);
    else problems.push({ path: target.path, message: `also the ${target.what} of step '${first}': a drill would restore both into one drill target; give each restore its own name` });
  });

  plan.steps.forEach((planStep, s) => {
    planStep.dependsOn.forEach((dependency, d) => {
      const path = ['steps', s, 'dependsOn', d];
      if (!byId.has(dependency)) problems.push({ path, message: `unknown step '${dependency}'` });
      else if (planStep.dependsOn.indexOf(dependency) !== d) problems.push({ path, message: `duplicate dependency '${dependency}'` });
    });

    if (planStep.kind === 'validate') {
      const target = planStep.parameters.target;
      const path = ['steps', s, 'parameters', 'target'];
      const targetStep = byId.get(target);
      if (targetStep === undefined) {
        problems.push({ path, message: `unknown step '${target}'` });
      } else if (!isRestoreKind(targetStep.kind) || !ancestorsOf(planStep, byId).has(target)) {
        problems.push({ path, message: `'${target}' is not a restore step this step depends on` });
      }
    }

    if (planStep.kind === 'restore-config' && planStep.timeoutMinutes > LAMBDA_MINUTES) {
      problems.push({
        path: ['steps', s, 'timeoutMinutes'],
        message: `${planStep.timeoutMinutes} minutes is longer than the DR step Lambda that runs restore-config can run (${LAMBDA_MINUTES}); restore a larger configuration with lifeboat restore (docs/configuration.md)`,
      });
    }
    if (planStep.kind === 'restore-cache' && planStep.timeoutMinutes > LAMBDA_MINUTES) {
      problems.push({
        path: ['steps', s, 'timeoutMinutes'],
        message: `${planStep.timeoutMinutes} minutes is longer than the DR step Lambda that runs restore-cache can run (${LAMBDA_MINUTES}); a cache that takes longer to restore is restored from its RDB (lifeboat restore --rdb, docs/redis.md)`,
      });
    }

    const approval = approvalOf(planStep);
    if (approval && approval.escalateAfterMinutes >= approval.timeoutMinutes) {
      problems.push({
        path: ['steps', s, planStep.kind === 'approval' ? 'parameters' : 'approval', 'escalateAfterMinutes'],
        message: `${approval.escalateAfterMinutes} must be less than timeoutMinutes (${approval.timeoutMinutes}): the escalation comes before the timeout`,
      });
    }
  });

  // With an id used twice the graph is ambiguous: cycles are looked for once the ids are unique.
  if (index.size === plan.steps.length) {
    for (const cycle of cyclesOf(plan.steps, byId)) {
      problems.push({ path: ['steps'], message: `the steps form a cycle: ${cycle.join(' → ')}` });
    }
  }
  return problems;
}

/** Every step `planStep` depends on, directly or transitively (safe on cycles). */
function ancestorsOf(planStep: PlanStepConfig, byId: ReadonlyMap<string, PlanStepConfig>): Set<string> {
  const seen = new Set<string>();
  const pending = [...planStep.dependsOn];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    const dependency = byId.get(id);
    if (seen.has(id) || dependency === undefined) continue;
    seen.add(id);
    pending.push(...dependency.dependsOn);
  }
  return seen;
}

/**
 * The cycles among the steps, each written in run order (`a → b → a`: b depends on a, a on b) from its
 * first-declared step, each once. Depth-first along "is depended on by" edges; unknown ids are ignored.
 */
function cyclesOf(steps: readonly PlanStepConfig[], byId: ReadonlyMap<string, PlanStepConfig>): string[][] {
  const order = new Map(steps.map((planStep, i) => [planStep.id, i]));
  const dependents = new Map<string, string[]>(steps.map((planStep) => [planStep.id, []]));
  for (const planStep of steps) {
    for (const dependency of new Set(planStep.dependsOn)) {
      if (byId.has(dependency)) dependents.get(dependency)!.push(planStep.id);
    }
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const found = new Map<string, string[]>();
  const visit = (id: string): void => {
    state.set(id, 'open');
    path.push(id);
    for (const next of dependents.get(id) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = path.slice(path.indexOf(next));
        const start = cycle.reduce((best, candidate, i) => (order.get(candidate)! < order.get(cycle[best]!)! ? i : best), 0);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        const written = [...rotated, rotated[0]!];
        found.set(written.join(' '), written);
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    path.pop();
    state.set(id, 'done');
  };
  for (const planStep of steps) if (!state.has(planStep.id)) visit(planStep.id);
  return [...found.values()];
}

// ---------------------------------------------------------------------------------------------
// Default plans

/** The verification server engine of a dump source's kind. */
function engineOf(source: SourceConfig): 'postgresql' | 'mysql' {
  return source.kind.endsWith('postgres') ? 'postgresql' : 'mysql';
}

/**
 * The DB subnet group a default plan restores a snapshot-only source into: the config has none, so the
 * DR plans construct creates it from the source's `network.subnetIds` under this name.
 */
export function restoreSubnetGroupName(deploymentName: string, sourceId: string): string {
  return `${deploymentName}-${sourceId}-restore`;
}

const RECOVERED = 'recovered';

/** `<database>_recovered`, shortened so that a drill's `_drill_<suffix>` still fits. */
function recoveredDatabase(database: string): string {
  return `${database.replace(/[^A-Za-z0-9_$]/g, '_').slice(0, MAX_TARGET_DATABASE - RECOVERED.length - 1)}_${RECOVERED}`;
}

/** `<source>-recovered` as an RDS identifier a drill can still extend. */
function recoveredIdentifier(sourceId: string): string {
  const base = sourceId.replace(/-+/g, '-').slice(0, MAX_TARGET_IDENTIFIER - RECOVERED.length - 1).replace(/-$/, '');
  return `${base}-${RECOVERED}`;
}

/**
 * The default plan of a source: `backup-now` → `restore-dump` of the latest verified dump into
 * `<database>_recovered` on the engine's verification server (a snapshot-only source: `restore-snapshot`
 * of the latest snapshot into `<source>-recovered`) → `validate` (row counts and the source's sqlChecks)
 * → `notify`, told to the alert email addresses, priority `high`, the source's objectives.
 * Undefined when the source cannot have one: a dump source without a verification server for its
 * engine, or a config without alert email addresses (a plan needs a contact).
 */
export function defaultPlanFor(source: SourceConfig, config: Omit<PlanContext, 'sources'>): PlanConfig | undefined {
  const contacts = [...new Set(config.alerts.emails.map((email) => email.address))].map((address) => ({ name: address, email: address }));
  if (contacts.length === 0) return undefined;
  // A cache has no default plan: where a recovered cache goes (a new cluster, a standby) is the operator's to say.
  if (!isDatabaseSource(source)) return undefined;

  let restore: PlanStepConfig;
  let recovery: string;
  if (source.backup.method === 'snapshot') {
    const targetIdentifier = recoveredIdentifier(source.id);
    recovery = `the latest snapshot restored as ${targetIdentifier}`;
    restore = {
      id: 'restore',
      kind: 'restore-snapshot',
      dependsOn: ['backup'],
      timeoutMinutes: DEFAULT_TIMEOUT_MINUTES['restore-snapshot'],
      parameters: {
        source: source.id,
        region: 'primary',
        targetIdentifier,
        subnetGroupName: restoreSubnetGroupName(config.name, source.id),
        securityGroupIds: [...source.network.securityGroupIds],
      },
    };
  } else {
    const server = config.verification?.servers[engineOf(source)];
    if (server === undefined || source.database === undefined) return undefined;
    const database = recoveredDatabase(source.database);
    recovery = `the latest verified dump restored into ${database} on the ${engineOf(source)} verification server`;
    restore = {
      id: 'restore',
      kind: 'restore-dump',
      dependsOn: ['backup'],
      timeoutMinutes: DEFAULT_TIMEOUT_MINUTES['restore-dump'],
      parameters: {
        source: source.id,
        region: 'primary',
        target: { host: server.host, port: server.port, database, credentialsSecretArn: server.credentialsSecretArn },
      },
    };
  }

  // A DocumentDB cluster has no tables or SQL to validate: its restore ends when the cluster is available.
  const validates = source.kind !== 'docdb';
  const check: PlanStepConfig = {
    id: 'check',
    kind: 'validate',
    dependsOn: ['restore'],
    timeoutMinutes: DEFAULT_TIMEOUT_MINUTES.validate,
    parameters: { target: 'restore', sqlChecks: [...source.sqlChecks] },
  };
  return {
    name: `${source.id}-default`,
    description: `Default recovery of ${source.id}: back up now, then ${recovery}, ${validates ? 'validate, ' : ''}notify`,
    priority: 'high',
    objectives: { rtoMinutes: source.objectives.rtoMinutes, rpoMinutes: source.objectives.rpoMinutes },
    contacts,
    steps: [
      { id: 'backup', kind: 'backup-now', dependsOn: [], timeoutMinutes: DEFAULT_TIMEOUT_MINUTES['backup-now'], parameters: { source: source.id } },
      restore,
      ...(validates ? [check] : []),
      {
        id: 'tell',
        kind: 'notify',
        dependsOn: [validates ? 'check' : 'restore'],
        timeoutMinutes: DEFAULT_TIMEOUT_MINUTES.notify,
        parameters: { message: `${source.id}: ${recovery}, ${validates ? 'and validated' : 'available'}` },
      },
    ],
  };
}

/** The sources some plan backs up or restores: these get no default plan. */
function plannedSources(plans: readonly PlanConfig[]): Set<string> {
  return new Set(plans.flatMap((plan) => plan.steps.flatMap((planStep) => ('source' in planStep.parameters ? [planStep.parameters.source] : []))));
}

function defaultPlansByName(plans: readonly PlanConfig[], context: PlanContext): [SourceConfig, PlanConfig][] {
  const planned = plannedSources(plans);
  return context.sources.flatMap((source) => {
    if (planned.has(source.id)) return [];
    const plan = defaultPlanFor(source, context);
    return plan ? [[source, plan] as [SourceConfig, PlanConfig]] : [];
  });
}

/** The configured plans, then the default plan of every source no plan backs up or restores (in source order). */
export function plansWithDefaults(config: PlanContext & { readonly plans: readonly PlanConfig[] }): PlanConfig[] {
  return [...config.plans, ...defaultPlansByName(config.plans, config).map(([, plan]) => plan)];
}
