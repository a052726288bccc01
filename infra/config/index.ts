// The typed Lifeboat configuration: the schema and its types, and the loader the CDK app calls.
export * from './schema.ts';
export * from './config.ts';
export { formatPath, loadConfig, parseConfig } from './load.ts';
export {
  approvalOf,
  defaultPlanFor,
  planProblems,
  plansWithDefaults,
  planStateMachineName,
  planStructureProblems,
  restoreSubnetGroupName,
  DEFAULT_TIMEOUT_MINUTES,
  PLAN_PRIORITIES,
  PlanSchema,
  PlanStepSchema,
  RESTORE_KINDS,
  STEP_KINDS,
  type ApprovalConfig,
  type PlanConfig,
  type PlanConfigInput,
  type PlanContext,
  type PlanProblem,
  type PlanStepConfig,
  type PlanStepOfKind,
  type StepKind,
} from './plans.ts';
