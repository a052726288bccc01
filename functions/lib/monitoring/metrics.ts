/**
 * The freshness metrics, namespace `Lifeboat`: one definition for the function that publishes them and the
 * alarms and dashboard that read them (infra/constructs/monitoring.ts). A figure that is unknown (a source never
 * backed up, a plan never drilled) is not published: its alarm treats the missing data as breaching.
 */
import type { PlanDrill } from './drills.ts';
import type { DrVaultFreshness, SourceFreshness } from './freshness.ts';

export const METRICS_NAMESPACE = 'Lifeboat';

export const FRESHNESS_METRICS = {
  /** Minutes since the start of the newest completed backup in the primary vault. Dimension `sourceId`. */
  minutesSinceLastBackup: 'MinutesSinceLastBackup',
  /** Minutes since the start of the newest verified backup (the recovery point the RPO alarm watches). */
  minutesSinceLastVerified: 'MinutesSinceLastVerifiedBackup',
  /** Minutes since the start of the newest backup present in the DR vault: the DR copy lag. */
  drCopyLag: 'DrCopyLagMinutes',
  /** 1 when the newest backup is verified (a dump) or available (a snapshot), else 0. */
  lastBackupVerified: 'LastBackupVerified',
  /** Whole days since a plan last passed a drill or a real run. Dimension `plan`. */
  daysSinceLastDrill: 'DaysSinceLastDrill',
  /** Fleet totals, no dimension. */
  sources: 'SourcesMonitored',
  sourcesOutsideRpo: 'SourcesOutsideRpo',
  sourcesDrCopyOutsideRpo: 'SourcesDrCopyOutsideRpo',
} as const;

export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  /** Ages are plain numbers of minutes or days (CloudWatch has no such unit); totals are counts. */
  readonly unit: 'None' | 'Count';
  readonly dimensions: Readonly<Record<string, string>>;
}

/** What the DR region's watch publishes there: each source's DR copy lag, and how many are outside their RPO. */
export function drVaultFreshnessData(sources: readonly DrVaultFreshness[]): MetricDatum[] {
  const data: MetricDatum[] = [];
  for (const s of sources) if (s.drCopyLagMinutes !== null) data.push({ name: FRESHNESS_METRICS.drCopyLag, value: s.drCopyLagMinutes, unit: 'None', dimensions: { sourceId: s.sourceId } });
  data.push({ name: FRESHNESS_METRICS.sourcesDrCopyOutsideRpo, value: sources.filter((s) => !s.drWithinRpo).length, unit: 'Count', dimensions: {} });
  return data;
}

/** Every datum one freshness run publishes, sources first (in order), then plans, then the fleet totals. */
export function freshnessData(sources: readonly SourceFreshness[], drills: readonly PlanDrill[]): MetricDatum[] {
  const data: MetricDatum[] = [];
  const age = (name: string, value: number | null, dimensions: Record<string, string>) => {
    if (value !== null) data.push({ name, value, unit: 'None', dimensions });
  };
  for (const s of sources) {
    const dimensions = { sourceId: s.sourceId };
    age(FRESHNESS_METRICS.minutesSinceLastBackup, s.minutesSinceLastBackup, dimensions);
    age(FRESHNESS_METRICS.minutesSinceLastVerified, s.minutesSinceLastVerified, dimensions);
    age(FRESHNESS_METRICS.drCopyLag, s.drCopyLagMinutes, dimensions);
    if (s.lastBackup) {
      const verified = s.lastBackup.state === 'verified' || s.lastBackup.state === 'available';
      data.push({ name: FRESHNESS_METRICS.lastBackupVerified, value: verified ? 1 : 0, unit: 'Count', dimensions });
    }
  }
  for (const d of drills) age(FRESHNESS_METRICS.daysSinceLastDrill, d.daysSinceLastPassed, { plan: d.plan });
  data.push({ name: FRESHNESS_METRICS.sources, value: sources.length, unit: 'Count', dimensions: {} });
  data.push({ name: FRESHNESS_METRICS.sourcesOutsideRpo, value: sources.filter((s) => !s.withinRpo).length, unit: 'Count', dimensions: {} });
  data.push({ name: FRESHNESS_METRICS.sourcesDrCopyOutsideRpo, value: sources.filter((s) => !s.drWithinRpo).length, unit: 'Count', dimensions: {} });
  return data;
}
