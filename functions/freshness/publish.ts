/** Publishes freshness data as CloudWatch embedded metric format through Powertools, one datum per record. */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricDatum } from '../lib/monitoring/metrics.ts';

/**
 * Each datum is its own record (Powertools' `singleMetric`), with exactly its own dimensions: the `service`
 * default dimension is cleared, so the alarms match `{sourceId}`, `{plan}` or no dimension at all.
 */
export function emfPublisher(metrics: Metrics): (data: readonly MetricDatum[], at: Date) => void {
  return (data, at) => {
    for (const datum of data) {
      const single = metrics.singleMetric();
      single.clearDefaultDimensions();
      for (const [name, value] of Object.entries(datum.dimensions)) single.addDimension(name, value);
      single.setTimestamp(at);
      single.addMetric(datum.name, datum.unit === 'Count' ? MetricUnit.Count : MetricUnit.NoUnit, datum.value);
    }
  };
}
