/** The config backup core's dependencies from its environment. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { cloudFormationApi, ssmApi } from '../lib/configset/aws.ts';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { requireEnv } from '../lib/env.ts';
import { kmsClientFor, s3ClientFromEnv, type Env } from '../lib/runtimeEnv.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { ConfigSourceSchema, type ConfigBackupDeps } from './backup.ts';

/** Fails naming the variable that is missing or malformed. */
export function configBackupDepsFromEnv(env: Env = process.env): ConfigBackupDeps {
  const vars = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'AWS_REGION'], env);
  const region = vars.AWS_REGION;
  return {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(ConfigSourceSchema).min(1)),
    // The configuration is read where the function runs: the deployment's primary region.
    clients: { ssm: ssmApi(region), secrets: new SecretsManagerClient({ region }), cloudFormation: cloudFormationApi(region) },
    region,
    store: new S3Store({ client: s3ClientFromEnv(env), bucket: vars.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.VAULT_KEY_ARN } }),
    // Encrypts only: a configuration backup never reads an earlier one. With an air-gapped vault its data key is
    // wrapped under that vault's key too, so the copy there opens without this account.
    keyring: kmsKeyring({ keyIds: [vars.VAULT_KEY_ARN, ...(env['AIR_GAP_KEY_ARN'] ? [env['AIR_GAP_KEY_ARN']] : [])], clientProvider: kmsClientFor }),
  };
}
