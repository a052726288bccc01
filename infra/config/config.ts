/**
 * The whole Lifeboat config: its sections (schema.ts) and its DR plans (plans.ts), with the checks of each plan
 * against the sources, verification servers and alerts it names.
 */
import { z } from 'zod';
import { PlanSchema, planProblems } from './plans.ts';
import { ConfigSectionsSchema, whenValid } from './schema.ts';

/** RDS's limit on a DB cluster snapshot identifier, and what a Lifeboat snapshot name adds to the source id (`lifeboat-`, `-`, a 25-character backup id). */
const CLUSTER_SNAPSHOT_NAME_MAX = 63;
const SNAPSHOT_NAME_FIXED = 'lifeboat-'.length + 1 + 25;
/** A share copy's suffix (functions/lib/aws/rdsSnapshot.ts, SHARE_COPY_SUFFIX). */
const SHARE_COPY_SUFFIX = '-ag';

export const LifeboatConfigSchema = ConfigSectionsSchema.extend({
  /** Disaster-recovery plans (docs/dr-plans.md); sources no plan names get a default one. */
  plans: z.array(PlanSchema).default([]),
}).superRefine(
  (config, ctx) => {
    for (const { path, message } of planProblems(config.plans, config)) ctx.addIssue({ code: 'custom', path: [...path], message });
  },
  {
    when: (payload) =>
      payload.issues.every((issue) => (issue.path?.length ?? 0) > 0) && whenValid('plans', 'sources', 'verification', 'alerts', 'name')(payload),
  },
).superRefine((config, ctx) => {
  // A plan restoring from the air-gapped vault needs it deployed and its key known (the second deploy).
  (config.plans ?? []).forEach((plan, p) =>
    plan.steps.forEach((step, s) => {
      if ((step.kind === 'restore-dump' || step.kind === 'restore-cache' || step.kind === 'restore-files') && step.parameters.region === 'air-gap' && config.vaultAccount?.keyArn === undefined) {
        ctx.addIssue({ code: 'custom', path: ['plans', p, 'steps', s, 'parameters', 'region'], message: '"air-gap" needs vaultAccount with its keyArn: the air-gapped vault this step restores from' });
      }
    }),
  );
  // A cluster snapshot's name (`lifeboat-<source>-<backup id>`, and `-ag` for a share copy) has at most 63 characters.
  const shareCopies = config.vaultAccount !== undefined && (config.vaultAccount.region ?? config.regions.primary) === config.regions.primary && config.regions.primary !== config.regions.dr;
  const longest = CLUSTER_SNAPSHOT_NAME_MAX - SNAPSHOT_NAME_FIXED - (shareCopies ? SHARE_COPY_SUFFIX.length : 0);
  config.sources.forEach((source, i) => {
    if ('clusterIdentifier' in source && source.backup.method !== 'dump' && source.id.length > longest) {
      ctx.addIssue({
        code: 'custom',
        path: ['sources', i, 'id'],
        message: `at most ${longest} characters for a cluster snapshot source: RDS names a cluster snapshot in at most ${CLUSTER_SNAPSHOT_NAME_MAX} (lifeboat-<id>-<backup id>${shareCopies ? ', and -ag for the air-gapped share copy' : ''})`,
      });
    }
  });
  // The air-gapped vault's policies name the workload account, so it must be known, and be another account.
  if (config.vaultAccount === undefined) return;
  if (config.account === undefined) {
    ctx.addIssue({ code: 'custom', path: ['account'], message: 'required when vaultAccount is set: the air-gapped vault lets exactly this account write to it' });
  } else if (config.account === config.vaultAccount.accountId) {
    ctx.addIssue({ code: 'custom', path: ['vaultAccount', 'accountId'], message: `must be another account than account (${config.account}): an air gap in the same account is none` });
  }
  const keyArn = config.vaultAccount.keyArn;
  if (keyArn !== undefined) {
    const [, , , region, account] = keyArn.split(':');
    const vaultRegion = config.vaultAccount.region ?? config.regions.primary;
    if (account !== config.vaultAccount.accountId || region !== vaultRegion) {
      ctx.addIssue({ code: 'custom', path: ['vaultAccount', 'keyArn'], message: `must be a key of the vault account ${config.vaultAccount.accountId} in ${vaultRegion}, where the air-gap stack is` });
    }
  }
});

/** A parsed config, every default filled in. */
export type LifeboatConfig = z.output<typeof LifeboatConfigSchema>;
/** A config as a user writes it (defaults optional). */
export type LifeboatConfigInput = z.input<typeof LifeboatConfigSchema>;
