/** The DR step's dependencies from its environment: the air-gapped vault, when its four variables are given. */
import { describe, expect, it } from 'vitest';
import { drStepDepsFromEnv } from '../../../functions/dr-step/env.ts';

const ENV = {
  AWS_REGION: 'eu-west-1',
  PRIMARY_VAULT_BUCKET: 'vault-primary',
  PRIMARY_VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  DR_REGION: 'eu-central-1',
  DR_VAULT_BUCKET: 'vault-dr',
  DR_VAULT_KEY_ARN: 'arn:aws:kms:eu-central-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  LIFEBOAT_SOURCES: '[]',
  VERIFY_SERVERS: '{}',
  PLAN_TOPICS: '{}',
  VERIFICATION_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666',
};
const AIR_GAP = {
  AIR_GAP_BUCKET: 'lifeboat-airgap-444455556666-eu-west-1',
  AIR_GAP_REGION: 'eu-west-1',
  AIR_GAP_KEY_ARN: 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666',
  AIR_GAP_READER_ROLE_ARN: 'arn:aws:iam::444455556666:role/lifeboat-airgap-reader',
};

describe('drStepDepsFromEnv', () => {
  it('has no air-gapped vault without its variables', () => {
    expect(drStepDepsFromEnv(ENV).regions['air-gap']).toBeUndefined();
  });

  it('reads the air-gapped vault from its bucket and decrypts under its key alone', () => {
    const airGap = drStepDepsFromEnv({ ...ENV, ...AIR_GAP }).regions['air-gap']!;
    expect(airGap.name).toBe('eu-west-1');
    expect(airGap.store.location).toBe(`s3://${AIR_GAP.AIR_GAP_BUCKET}`);
    expect(airGap.keyring.description).toEqual({ type: 'kms', keyIds: [AIR_GAP.AIR_GAP_KEY_ARN] });
  });

  it('refuses an air-gapped vault described in part, naming what is missing', () => {
    const { AIR_GAP_READER_ROLE_ARN: _role, ...partial } = AIR_GAP;
    expect(() => drStepDepsFromEnv({ ...ENV, ...partial })).toThrow('The air-gapped vault needs AIR_GAP_BUCKET, AIR_GAP_REGION, AIR_GAP_KEY_ARN, AIR_GAP_READER_ROLE_ARN; missing AIR_GAP_READER_ROLE_ARN');
  });
});
