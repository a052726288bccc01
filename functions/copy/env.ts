/** The copy core's dependencies from its environment: the same for the Lambda (handler.ts) and the Fargate task (functions/runner). */
import { RDSClient } from '@aws-sdk/client-rds';
import { optionalEnvGroup, requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { s3ClientFromEnv, type Env } from '../lib/runtimeEnv.ts';
import type { CopyDeps } from './copy.ts';
import { DEFAULT_MAX_COPIES_IN_FLIGHT } from './snapshotCopy.ts';

/** Fails naming the variable that is missing or malformed. */
export function copyDepsFromEnv(env: Env = process.env): CopyDeps {
  const vars = requireEnv(['PRIMARY_VAULT_BUCKET', 'DR_VAULT_BUCKET', 'DR_REGION', 'DR_VAULT_KEY_ARN', 'AWS_REGION'], env);
  const maxCopiesInFlight = Number(env.MAX_SNAPSHOT_COPIES_IN_FLIGHT ?? DEFAULT_MAX_COPIES_IN_FLIGHT);
  if (!Number.isInteger(maxCopiesInFlight) || maxCopiesInFlight < 1) {
    throw new ConfigError(`MAX_SNAPSHOT_COPIES_IN_FLIGHT must be a positive integer, got "${env.MAX_SNAPSHOT_COPIES_IN_FLIGHT}"`);
  }
  return {
    primary: { client: s3ClientFromEnv(env), bucket: vars.PRIMARY_VAULT_BUCKET },
    // CopyObject and UploadPartCopy go to the destination bucket's region; S3 pulls from the primary.
    dr: { client: s3ClientFromEnv(env, vars.DR_REGION), bucket: vars.DR_VAULT_BUCKET, region: vars.DR_REGION, kmsKeyId: vars.DR_VAULT_KEY_ARN },
    // Cross-region snapshot copies are requested in the destination region.
    drRds: new RDSClient({ region: vars.DR_REGION }),
    maxCopiesInFlight,
    ...airGapFromEnv(env),
    ...shareCopyFromEnv(env),
  };
}

/**
 * SNAPSHOT_SHARE_KEY_ARN (the primary vault key), with the air-gapped vault in this, the primary, region: snapshot
 * backups reach it as share copies made here under that key (shareCopy.ts).
 */
function shareCopyFromEnv(env: Env): { shareCopy?: CopyDeps['shareCopy'] } {
  const kmsKeyId = env['SNAPSHOT_SHARE_KEY_ARN'];
  if (kmsKeyId === undefined) return {};
  const region = env['AWS_REGION']!;
  if (env['AIR_GAP_ACCOUNT'] === undefined || env['AIR_GAP_REGION'] !== region) {
    throw new ConfigError(`SNAPSHOT_SHARE_KEY_ARN is for an air-gapped vault in this region (${region}): AIR_GAP_REGION is ${env['AIR_GAP_REGION'] ?? 'not set'}`);
  }
  return { shareCopy: { rds: new RDSClient({ region }), region, kmsKeyId, account: env['AIR_GAP_ACCOUNT'] } };
}

/** AIR_GAP_BUCKET, AIR_GAP_REGION, AIR_GAP_ACCOUNT, AIR_GAP_KEY_ARN: all four or none. */
function airGapFromEnv(env: Env): { airGap?: CopyDeps['airGap'] } {
  const vars = optionalEnvGroup('The air-gapped vault', ['AIR_GAP_BUCKET', 'AIR_GAP_REGION', 'AIR_GAP_ACCOUNT', 'AIR_GAP_KEY_ARN'], env);
  if (!vars) return {};
  return {
    airGap: { client: s3ClientFromEnv(env, vars.AIR_GAP_REGION), bucket: vars.AIR_GAP_BUCKET, region: vars.AIR_GAP_REGION, account: vars.AIR_GAP_ACCOUNT, kmsKeyId: vars.AIR_GAP_KEY_ARN },
  };
}
