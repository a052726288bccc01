/** The verify core's dependencies from its environment: the same for the Lambda (handler.ts) and the Fargate task (functions/runner). */
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { requireEnv } from '../lib/env.ts';
import { databaseTls, jobsFromEnv, kmsClientFor, s3ClientFromEnv, type Env } from '../lib/runtimeEnv.ts';
import { rdsCaBundleFrom } from '../lib/engine/tls.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { VerifyServersSchema, VerifySourceSchema, type VerifyDeps } from './verify.ts';

/** Fails naming the variable that is missing or malformed. LIFEBOAT_SOURCES may be empty (every source snapshot-only). */
export function verifyDepsFromEnv(env: Env = process.env): VerifyDeps {
  const vars = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'ALERT_TOPIC_ARN', 'LIFEBOAT_SOURCES', 'VERIFY_SERVERS', 'VERIFICATION_KEY_ARN', 'AWS_REGION'], env);
  const jobs = jobsFromEnv(env);
  return {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(VerifySourceSchema)),
    servers: parseJsonEnv('VERIFY_SERVERS', vars.VERIFY_SERVERS, VerifyServersSchema),
    secrets: new SecretsManagerClient({}),
    sns: new SNSClient({}),
    alertTopicArn: vars.ALERT_TOPIC_ARN,
    tls: databaseTls(env),
    // verify-full (the default) checks the server against the RDS CA bundle the tools image ships.
    ...rdsCaBundleFrom(env),
    // Verification only reads payloads and writes small result objects (SSE-KMS with the vault key).
    store: new S3Store({ client: s3ClientFromEnv(env), bucket: vars.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.VAULT_KEY_ARN } }),
    keyring: kmsKeyring({ keyIds: [vars.VAULT_KEY_ARN], clientProvider: kmsClientFor }),
    // Signs every result: no role that writes backups may use this key (GenerateMac is the verifier's alone).
    verificationKey: kmsHmacSigner(new KMSClient({}), vars.VERIFICATION_KEY_ARN),
    ...(jobs === undefined ? {} : { jobs }),
  };
}
