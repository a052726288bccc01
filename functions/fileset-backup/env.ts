/** The file-set backup core's dependencies from its environment. */
import { z } from 'zod';
import { kmsKeyring } from '../lib/crypto/keyring.ts';
import { requireEnv } from '../lib/env.ts';
import { kmsClientFor, s3ClientFromEnv, type Env } from '../lib/runtimeEnv.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { S3Store } from '../lib/vault/s3Store.ts';
import { FileSetSourceSchema, type FileSetBackupDeps } from './backup.ts';

/** Fails naming the variable that is missing or malformed. */
export function fileSetBackupDepsFromEnv(env: Env = process.env): FileSetBackupDeps {
  const vars = requireEnv(['VAULT_BUCKET', 'VAULT_KEY_ARN', 'LIFEBOAT_SOURCES', 'AWS_REGION'], env);
  return {
    sources: parseJsonEnv('LIFEBOAT_SOURCES', vars.LIFEBOAT_SOURCES, z.array(FileSetSourceSchema).min(1)),
    // The source buckets are in the deployment's region, read with the function's role.
    s3: s3ClientFromEnv(env),
    store: new S3Store({ client: s3ClientFromEnv(env), bucket: vars.VAULT_BUCKET, serverSideEncryption: { kmsKeyId: vars.VAULT_KEY_ARN } }),
    // Decrypts only its sources' own objects (the parent snapshot's index and file list, the chunk-id key): the
    // role's kms:Decrypt is conditioned on the lifeboat:source encryption context. With an air-gapped vault, every
    // data key is wrapped under its key too (Encrypt only), so that copy opens with the vault account's key alone.
    keyring: kmsKeyring({ keyIds: [vars.VAULT_KEY_ARN, ...(env['AIR_GAP_KEY_ARN'] ? [env['AIR_GAP_KEY_ARN']] : [])], clientProvider: kmsClientFor }),
  };
}
