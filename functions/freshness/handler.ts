// The freshness Lambda: a thin middy wrapper over publishFreshness(). Clients and configuration are built once per container.
import { KMSClient } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { rdsSnapshotCheck } from '../lib/monitoring/snapshots.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { MonitoredSchema, publishDrVaultFreshness, publishFreshness, type FreshnessSummary } from './freshness.ts';
import { emfPublisher } from './publish.ts';

const logger = new Logger();
const metrics = new Metrics();
const publish = emfPublisher(metrics);

/**
 * FRESHNESS_SCOPE=dr-vault: the DR region's own watch, reading its vault alone (the primary region may be the
 * one that is down); otherwise the primary region's run over both vaults and RDS.
 */
const run: (event: unknown) => Promise<{ at: string; published: number }> =
  process.env['FRESHNESS_SCOPE'] === 'dr-vault' ? drVaultRun() : bothVaultsRun();

function drVaultRun() {
  const env = requireEnv(['VAULT_BUCKET', 'LIFEBOAT_MONITORED', 'AWS_REGION']);
  const deps = {
    monitored: parseJsonEnv('LIFEBOAT_MONITORED', env.LIFEBOAT_MONITORED, MonitoredSchema),
    dr: new S3Store({ client: createS3Client({ region: env.AWS_REGION }), bucket: env.VAULT_BUCKET }),
    publish,
    now: () => new Date(),
  };
  return async (event: unknown) => {
    const summary = await publishDrVaultFreshness(event, deps);
    for (const s of summary.sources) logger.info('DR copy freshness', { sourceId: s.sourceId, drCopyLagMinutes: s.drCopyLagMinutes, rpoMinutes: s.rpoMinutes, drWithinRpo: s.drWithinRpo, problems: s.problems });
    return { at: summary.at, published: summary.published };
  };
}

function bothVaultsRun() {
  const env = requireEnv(['VAULT_BUCKET', 'DR_VAULT_BUCKET', 'DR_REGION', 'LIFEBOAT_MONITORED', 'VERIFICATION_KEY_ARN', 'AWS_REGION']);
  const deps = {
    monitored: parseJsonEnv('LIFEBOAT_MONITORED', env.LIFEBOAT_MONITORED, MonitoredSchema),
    primary: new S3Store({ client: createS3Client({ region: env.AWS_REGION }), bucket: env.VAULT_BUCKET }),
    dr: new S3Store({ client: createS3Client({ region: env.DR_REGION }), bucket: env.DR_VAULT_BUCKET }),
    snapshots: rdsSnapshotCheck({ primary: new RDSClient({ region: env.AWS_REGION }), dr: new RDSClient({ region: env.DR_REGION }) }),
    // A backup counts as verified only by a result the verifier signed.
    authenticator: kmsHmacSigner(new KMSClient({}), env.VERIFICATION_KEY_ARN),
    // A plan counts as drilled only by evidence the DR step function signed (given with plans to watch).
    ...(process.env['DR_EVIDENCE_KEY_ARN'] ? { drEvidenceKey: kmsHmacSigner(new KMSClient({}), process.env['DR_EVIDENCE_KEY_ARN']) } : {}),
    publish,
    now: () => new Date(),
  };
  return async (event: unknown): Promise<Pick<FreshnessSummary, 'at' | 'published'>> => {
    const summary = await publishFreshness(event, deps);
    for (const s of summary.sources) {
      logger.info('source freshness', { sourceId: s.sourceId, minutesSinceLastBackup: s.minutesSinceLastBackup, minutesSinceLastVerified: s.minutesSinceLastVerified, drCopyLagMinutes: s.drCopyLagMinutes, rpoMinutes: s.rpoMinutes, withinRpo: s.withinRpo, problems: s.problems });
    }
    for (const p of summary.plans) logger.info('plan drill', { plan: p.plan, daysSinceLastPassed: p.daysSinceLastPassed, problems: p.problems });
    return { at: summary.at, published: summary.published };
  };
}

async function freshness(event: unknown): Promise<{ at: string; published: number }> {
  return run(event);
}

export const handler = middy(freshness).use(injectLambdaContext(logger)).use(conciseErrors(logger));
