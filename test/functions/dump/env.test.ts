// What the dump core is given by its environment (the Lambda's and the Fargate task's): the keyring that wraps
// each backup's data key, with the air-gapped vault's key when the deployment has one.
import { describe, expect, it } from 'vitest';
import { dumpDepsFromEnv } from '../../../functions/dump/env.ts';

const ENV = {
  AWS_REGION: 'eu-west-1',
  VAULT_BUCKET: 'vault-bucket',
  VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  LIFEBOAT_SOURCES: JSON.stringify([
    { id: 'orders-db', engine: 'postgresql', database: 'orders', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-Ab12Cd', rds: { type: 'instance', identifier: 'orders-prod' } },
  ]),
};
const AIR_GAP_KEY = 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666';

describe('dumpDepsFromEnv', () => {
  it('wraps data keys under the vault key alone without an air-gapped vault', () => {
    expect(dumpDepsFromEnv(ENV).keyring.description).toEqual({ type: 'kms', keyIds: [ENV.VAULT_KEY_ARN] });
  });

  it('with AIR_GAP_KEY_ARN, also under the air-gapped key (the vault key still generates them)', () => {
    expect(dumpDepsFromEnv({ ...ENV, AIR_GAP_KEY_ARN: AIR_GAP_KEY }).keyring.description).toEqual({ type: 'kms', keyIds: [ENV.VAULT_KEY_ARN, AIR_GAP_KEY] });
  });

  it('refuses an air-gapped key that is not a key ARN, naming it', () => {
    expect(() => dumpDepsFromEnv({ ...ENV, AIR_GAP_KEY_ARN: 'alias/airgap' })).toThrow(/keyIds must be KMS key ARNs.*alias\/airgap/);
  });

  it('with a cache among its sources, requires STAGING_BUCKET, naming it, and then reads the exports from that bucket', () => {
    const sources = JSON.stringify([...JSON.parse(ENV.LIFEBOAT_SOURCES), { id: 'sessions-cache', engine: 'redis', elasticache: { replicationGroupId: 'sessions-prod' } }]);
    expect(() => dumpDepsFromEnv({ ...ENV, LIFEBOAT_SOURCES: sources })).toThrow(/STAGING_BUCKET/);
    expect(dumpDepsFromEnv({ ...ENV, LIFEBOAT_SOURCES: sources, STAGING_BUCKET: 'staging' }).elasticache?.staging.bucket).toBe('staging');
    // Databases alone need no staging bucket.
    expect(dumpDepsFromEnv(ENV).elasticache).toBeUndefined();
  });

  it('refuses a cache source without its replication group or cluster, naming the field', () => {
    const sources = JSON.stringify([{ id: 'sessions-cache', engine: 'redis', elasticache: {} }]);
    expect(() => dumpDepsFromEnv({ ...ENV, LIFEBOAT_SOURCES: sources, STAGING_BUCKET: 'staging' })).toThrow(/LIFEBOAT_SOURCES.*elasticache/s);
  });
});
