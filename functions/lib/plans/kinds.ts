/**
 * The kinds of DR plan step (docs/dr-plans.md): one list for the config that declares plans, the compiler
 * that turns them into state machines and the step executor that runs them.
 */
export const STEP_KINDS = [
  'approval',
  'notify',
  'backup-now',
  'restore-dump',
  'restore-cache',
  'restore-files',
  'restore-config',
  'restore-snapshot',
  'restore-point-in-time',
  'promote-replica',
  'validate',
  'wait',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** The kinds that restore data somewhere: the only targets a `validate` step may name, and whose restored data time sets the RPO. */
export const RESTORE_KINDS = ['restore-dump', 'restore-cache', 'restore-files', 'restore-config', 'restore-snapshot', 'restore-point-in-time'] as const;
export type RestoreKind = (typeof RESTORE_KINDS)[number];

/** The kinds `run-step` starts and `describe-step` then follows until RDS is done. */
export const POLLED_KINDS = ['restore-snapshot', 'restore-point-in-time', 'promote-replica'] as const;
export type PolledKind = (typeof POLLED_KINDS)[number];

export function isRestoreKind(kind: unknown): kind is RestoreKind {
  return (RESTORE_KINDS as readonly unknown[]).includes(kind);
}

export function isPolledKind(kind: unknown): kind is PolledKind {
  return (POLLED_KINDS as readonly unknown[]).includes(kind);
}
