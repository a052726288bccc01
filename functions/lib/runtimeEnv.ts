/**
 * What every tools-image core reads from its environment the same way, as a Lambda or as a Fargate task:
 * the S3 and KMS clients, TLS to the databases, and the parallel streams. The `*DepsFromEnv` of each
 * capability (functions/<capability>/env.ts) builds its dependencies with these.
 */
import { type DatabaseTls, parseDatabaseTls } from './engine/tls.ts';
import { KMS } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from './aws/s3Client.ts';
import { MAX_JOBS } from './engine/jobs.ts';
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * TLS to the databases: verify-full against the image's RDS CA bundle in AWS (no Lambda or task definition sets
 * LIFEBOAT_DATABASE_TLS). A local run against servers without TLS (the tests, a laptop) turns it off explicitly.
 */
export function databaseTls(env: Env): DatabaseTls {
  return parseDatabaseTls(env.LIFEBOAT_DATABASE_TLS, 'LIFEBOAT_DATABASE_TLS');
}


/**
 * An S3 client: AWS's own endpoint, or an S3-protocol server given by LIFEBOAT_S3_ENDPOINT (local runs only;
 * nothing deployed sets it).
 */
export function s3ClientFromEnv(env: Env, region?: string): S3Client {
  const endpoint = env.LIFEBOAT_S3_ENDPOINT;
  return endpoint ? createS3Client({ endpoint, ...(region ? { region } : {}) }) : createS3Client(region ? { region } : {});
}

/** The Encryption SDK's keyring asks for a KMS client per region (the aggregated client: it calls its methods directly). */
export const kmsClientFor = (region: string): KMS => new KMS({ region });

/**
 * LIFEBOAT_JOBS: parallel dump/restore streams, set by a Fargate task definition (and its RunTask override) to
 * the task's vCPUs; `undefined` when unset (a Lambda: the engine uses the vCPUs it sees).
 */
export function jobsFromEnv(env: Env): number | undefined {
  const text = env.LIFEBOAT_JOBS;
  if (text === undefined || text === '') return undefined;
  const jobs = Number(text);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) throw new ConfigError(`LIFEBOAT_JOBS must be a whole number from 1 to ${MAX_JOBS}, got "${text}"`);
  return jobs;
}
