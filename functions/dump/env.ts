/** The dump core's dependencies from its environment: the same for the Lambda (handler.ts) and the Fargate task (functions/runner). */
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { requireEnv } from '../lib/env.ts';
import { databaseTls, jobsFromEnv, kmsClientFor, s3ClientFromEnv, type Env } from '../lib/runtimeEnv.ts';
import { rdsCaBundleFrom } from '../lib/engine/tls.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { DumpSourceSchema, type DumpDeps } from './dump.ts';

/** Fails naming the variable that is missing or malformed. */
export function dumpDepsFromEnv(env: Env = process.env): DumpDeps {
  const vars = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'AWS_REGION'], env);
  const jobs = jobsFromEnv(env);
  const sources = parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(DumpSourceSchema).min(1));
  // Caches are exported by ElastiCache into the staging bucket first (it must grant the service; docs/redis.md).
  const staging = sources.some((s) => s.engine === 'redis') ? requireEnv(['STAGING_BUCKET'], env).STAGING_BUCKET : undefined;
  return {
    sources,
    secrets: new SecretsManagerClient({}),
    rds: new RDSClient({}),
    tls: databaseTls(env),
    // verify-full (the default) checks the server against the RDS CA bundle the tools image ships.
    ...rdsCaBundleFrom(env),
    store: new S3Store({ client: s3ClientFromEnv(env), bucket: vars.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.VAULT_KEY_ARN } }),
    // With an air-gapped vault, its key (another account's) wraps every data key too: that copy restores with it alone.
    keyring: kmsKeyring({ keyIds: [vars.VAULT_KEY_ARN, ...(env['AIR_GAP_KEY_ARN'] ? [env['AIR_GAP_KEY_ARN']] : [])], clientProvider: kmsClientFor }),
    ...(jobs === undefined ? {} : { jobs }),
    ...(staging === undefined ? {} : { elasticache: { client: new ElastiCacheClient({}), staging: { s3: s3ClientFromEnv(env), bucket: staging } } }),
  };
}
