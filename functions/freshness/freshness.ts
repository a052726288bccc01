/**
 * The freshness function's core: reads both vaults (and RDS, for snapshots) and publishes per source the
 * minutes since its last completed, last verified and last DR-copied backup, per plan the days since its last
 * passed drill, and the fleet totals (functions/lib/monitoring/metrics.ts). Runs every few minutes from an
 * EventBridge Scheduler schedule; the alarms on these metrics live in infra/constructs/monitoring.ts.
 */
import { z } from 'zod';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { planDrills, type PlanDrill } from '../lib/monitoring/drills.ts';
import { drVaultFreshness, sourceFreshness, type DrVaultFreshness, type FreshnessDeps, type SourceFreshness } from '../lib/monitoring/freshness.ts';
import { drVaultFreshnessData, freshnessData, type MetricDatum } from '../lib/monitoring/metrics.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import { parseOrConfigError } from '../lib/validation.ts';

/** `LIFEBOAT_MONITORED`: what the function watches, from the config. */
export const MonitoredSchema = z.strictObject({
  sources: z.array(z.strictObject({ id: z.string().min(1), rpoMinutes: z.int().positive(), kind: z.literal('fileset').optional() })).min(1),
  plans: z.array(z.string().min(1)).default([]),
});
export type Monitored = z.output<typeof MonitoredSchema>;

export interface FreshnessFunctionDeps extends FreshnessDeps {
  readonly monitored: Monitored;
  /** The DR evidence key (`VerifyMac` only): a plan counts as drilled only by evidence that authenticates. @default evidence as stored */
  readonly drEvidenceKey?: Pick<MacSigner, 'verify'>;
  /** Sends the data to CloudWatch (EMF through Powertools in the handler; recorded in tests). */
  readonly publish: (data: readonly MetricDatum[], at: Date) => void;
}

export interface FreshnessSummary {
  readonly at: string;
  readonly sources: readonly SourceFreshness[];
  readonly plans: readonly PlanDrill[];
  readonly published: number;
}

/** The scheduler's event carries nothing the function needs; anything else is refused by name. */
const EventSchema = z.object({}).loose();

/** The DR region's run (FRESHNESS_SCOPE=dr-vault): reads the DR vault alone and publishes each source's copy lag there. */
export async function publishDrVaultFreshness(
  event: unknown,
  deps: { readonly monitored: Monitored; readonly dr: VaultStore; readonly publish: FreshnessFunctionDeps['publish']; readonly now: () => Date },
): Promise<{ at: string; sources: readonly DrVaultFreshness[]; published: number }> {
  parseOrConfigError(EventSchema, event ?? {}, 'freshness event');
  const at = deps.now();
  const sources = await drVaultFreshness(deps.monitored.sources, { dr: deps.dr, now: () => at });
  const data = drVaultFreshnessData(sources);
  deps.publish(data, at);
  return { at: at.toISOString(), sources, published: data.length };
}

export async function publishFreshness(event: unknown, deps: FreshnessFunctionDeps): Promise<FreshnessSummary> {
  parseOrConfigError(EventSchema, event ?? {}, 'freshness event');
  const at = deps.now();
  const clock = () => at;
  const sources = await sourceFreshness(deps.monitored.sources, { ...deps, now: clock });
  const plans = await planDrills(deps.primary, deps.monitored.plans, at, deps.drEvidenceKey ? { authenticator: deps.drEvidenceKey } : {});
  const data = freshnessData(sources, plans);
  deps.publish(data, at);
  return { at: at.toISOString(), sources, plans, published: data.length };
}
