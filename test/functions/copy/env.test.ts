// What the copy core is given by its environment (the Lambda's and the copy task's): the DR vault, the air-gapped
// vault, and share copies only when that vault is in this (the primary) region.
import { describe, expect, it } from 'vitest';
import { copyDepsFromEnv } from '../../../functions/copy/env.ts';

const ENV = {
  AWS_REGION: 'eu-west-1',
  PRIMARY_VAULT_BUCKET: 'lifeboat-vault-eu-west-1',
  DR_VAULT_BUCKET: 'lifeboat-vault-eu-central-1',
  DR_REGION: 'eu-central-1',
  DR_VAULT_KEY_ARN: 'arn:aws:kms:eu-central-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
};
const AIR_GAP = {
  AIR_GAP_BUCKET: 'lifeboat-airgap-444455556666-eu-west-1',
  AIR_GAP_REGION: 'eu-west-1',
  AIR_GAP_ACCOUNT: '444455556666',
  AIR_GAP_KEY_ARN: 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666',
};
const VAULT_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';

describe('copyDepsFromEnv', () => {
  it('makes no share copies without SNAPSHOT_SHARE_KEY_ARN', () => {
    const deps = copyDepsFromEnv({ ...ENV, ...AIR_GAP });
    expect(deps.airGap).toMatchObject({ bucket: AIR_GAP.AIR_GAP_BUCKET, region: 'eu-west-1', account: '444455556666', kmsKeyId: AIR_GAP.AIR_GAP_KEY_ARN });
    expect(deps.shareCopy).toBeUndefined();
  });

  it('with SNAPSHOT_SHARE_KEY_ARN and the air-gapped vault in this region, makes share copies here under that key for its account', () => {
    const deps = copyDepsFromEnv({ ...ENV, ...AIR_GAP, SNAPSHOT_SHARE_KEY_ARN: VAULT_KEY });
    expect(deps.shareCopy).toMatchObject({ region: 'eu-west-1', kmsKeyId: VAULT_KEY, account: '444455556666' });
  });

  it('refuses SNAPSHOT_SHARE_KEY_ARN without an air-gapped vault in this region, saying where it is', () => {
    expect(() => copyDepsFromEnv({ ...ENV, SNAPSHOT_SHARE_KEY_ARN: VAULT_KEY })).toThrow('SNAPSHOT_SHARE_KEY_ARN is for an air-gapped vault in this region (eu-west-1): AIR_GAP_REGION is not set');
    expect(() => copyDepsFromEnv({ ...ENV, ...AIR_GAP, AIR_GAP_REGION: 'eu-central-1', SNAPSHOT_SHARE_KEY_ARN: VAULT_KEY })).toThrow('AIR_GAP_REGION is eu-central-1');
  });
});
