/** The DR step executor's dependencies from its environment: the same for the Lambda (handler.ts) and the Fargate task (functions/runner). */
import { KMS, KMSClient } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { ssmApi } from '../lib/configset/aws.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { optionalEnvGroup, requireEnv } from '../lib/env.ts';
import { databaseTls, jobsFromEnv, kmsClientFor, s3ClientFromEnv, type Env } from '../lib/runtimeEnv.ts';
import { rdsCaBundleFrom } from '../lib/engine/tls.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { VerifyServersSchema } from '../verify/verify.ts';
import { DrSourceSchema, type DrStepDeps, type RegionResources } from './deps.ts';
import { PlanTopicsSchema } from './planTopic.ts';

/** Fails naming the variable that is missing or malformed. */
export function drStepDepsFromEnv(env: Env = process.env): DrStepDeps {
  const vars = requireEnv(
    ['AWS_REGION', 'PRIMARY_VAULT_BUCKET', 'PRIMARY_VAULT_KEY_ARN', 'DR_REGION', 'DR_VAULT_BUCKET', 'DR_VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS', 'PLAN_TOPICS', 'VERIFICATION_KEY_ARN'],
    env,
  );
  const jobs = jobsFromEnv(env);
  return {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(DrSourceSchema)),
    servers: parseJsonEnv('VERIFY_SERVERS', vars.VERIFY_SERVERS, VerifyServersSchema),
    planTopics: parseJsonEnv('PLAN_TOPICS', vars.PLAN_TOPICS, PlanTopicsSchema),
    secrets: new SecretsManagerClient({}),
    sns: new SNSClient({}),
    tls: databaseTls(env),
    // verify-full (the default) checks the server against the RDS CA bundle the tools image ships.
    ...rdsCaBundleFrom(env),
    regions: {
      // Evidence (and a Fargate step's record) is the only write: SSE-KMS under the primary vault key.
      primary: {
        name: vars.AWS_REGION,
        rds: new RDSClient({}),
        store: new S3Store({ client: s3ClientFromEnv(env), bucket: vars.PRIMARY_VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.PRIMARY_VAULT_KEY_ARN } }),
        keyring: kmsKeyring({ keyIds: [vars.PRIMARY_VAULT_KEY_ARN], clientProvider: kmsClientFor }),
      },
      // Read only: the DR vault's copies decrypt under the replica of the multi-Region key, in its own region.
      dr: {
        name: vars.DR_REGION,
        rds: new RDSClient({ region: vars.DR_REGION }),
        store: new S3Store({ client: s3ClientFromEnv(env, vars.DR_REGION), bucket: vars.DR_VAULT_BUCKET }),
        keyring: kmsKeyring({ keyIds: [vars.DR_VAULT_KEY_ARN], clientProvider: kmsClientFor }),
      },
      ...airGapFromEnv(env),
    },
    // restore-files writes into a bucket in the region of the vault it reads.
    s3: (region: string) => s3ClientFromEnv(env, region),
    // restore-config writes parameters and secrets into the region of the vault it reads.
    config: (region: string) => ({ ssm: ssmApi(region), secrets: new SecretsManagerClient({ region }) }),
    // Results in both vaults are checked in this (the primary) region, where the key is.
    verificationKey: kmsHmacSigner(new KMSClient({}), vars.VERIFICATION_KEY_ARN),
    // The Lambda, which records evidence, is given the DR evidence key; the Fargate task, which never does, is not.
    ...(env['DR_EVIDENCE_KEY_ARN'] ? { drEvidenceKey: kmsHmacSigner(new KMSClient({}), env['DR_EVIDENCE_KEY_ARN']) } : {}),
    ...(jobs === undefined ? {} : { jobs }),
  };
}

/**
 * AIR_GAP_BUCKET, AIR_GAP_REGION, AIR_GAP_KEY_ARN, AIR_GAP_READER_ROLE_ARN (all four or none): the air-gapped vault,
 * read with the credentials of its reader role in the vault account, and decrypted under that account's key. Only
 * the reads go through the role; verification results there are still checked with this deployment's key.
 */
function airGapFromEnv(env: Env): { 'air-gap'?: RegionResources } {
  const vars = optionalEnvGroup('The air-gapped vault', ['AIR_GAP_BUCKET', 'AIR_GAP_REGION', 'AIR_GAP_KEY_ARN', 'AIR_GAP_READER_ROLE_ARN'], env);
  if (!vars) return {};
  const region = vars.AIR_GAP_REGION;
  const credentials = fromTemporaryCredentials({
    params: { RoleArn: vars.AIR_GAP_READER_ROLE_ARN, RoleSessionName: 'lifeboat-dr-step', DurationSeconds: 3600 },
    clientConfig: { region },
  });
  return {
    'air-gap': {
      name: region,
      rds: new RDSClient({ region }),
      store: new S3Store({ client: createS3Client({ region, credentials }), bucket: vars.AIR_GAP_BUCKET }),
      keyring: kmsKeyring({ keyIds: [vars.AIR_GAP_KEY_ARN], clientProvider: (keyRegion) => new KMS({ region: keyRegion, credentials }) }),
    },
  };
}
