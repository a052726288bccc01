// The freshness Lambda: a thin middy wrapper over publishFreshness(). Clients and configuration are built once per container.
import { RDSClient } from '@aws-sdk/client-rds';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { rdsSnapshotCheck } from '../lib/monitoring/snapshots.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { MonitoredSchema, publishFreshness, type FreshnessSummary } from './freshness.ts';
import { emfPublisher } from './publish.ts';

const env = requireEnv(['VAULT_BUCKET', 'DR_VAULT_BUCKET', 'DR_REGION', 'LIFEBOAT_MONITORED', 'AWS_REGION']);
const monitored = parseJsonEnv('LIFEBOAT_MONITORED', env.LIFEBOAT_MONITORED, MonitoredSchema);

const logger = new Logger();
const metrics = new Metrics();
const deps = {
  monitored,
  primary: new S3Store({ client: createS3Client({ region: env.AWS_REGION }), bucket: env.VAULT_BUCKET }),
  dr: new S3Store({ client: createS3Client({ region: env.DR_REGION }), bucket: env.DR_VAULT_BUCKET }),
  snapshots: rdsSnapshotCheck({ primary: new RDSClient({ region: env.AWS_REGION }), dr: new RDSClient({ region: env.DR_REGION }) }),
  publish: emfPublisher(metrics),
  now: () => new Date(),
};

async function freshness(event: unknown): Promise<Pick<FreshnessSummary, 'at' | 'published'>> {
  const summary = await publishFreshness(event, deps);
  for (const s of summary.sources) {
    logger.info('source freshness', { sourceId: s.sourceId, minutesSinceLastBackup: s.minutesSinceLastBackup, minutesSinceLastVerified: s.minutesSinceLastVerified, drCopyLagMinutes: s.drCopyLagMinutes, rpoMinutes: s.rpoMinutes, withinRpo: s.withinRpo, problems: s.problems });
  }
  for (const p of summary.plans) logger.info('plan drill', { plan: p.plan, daysSinceLastPassed: p.daysSinceLastPassed, problems: p.problems });
  return { at: summary.at, published: summary.published };
}

export const handler = middy(freshness).use(injectLambdaContext(logger)).use(conciseErrors(logger));
