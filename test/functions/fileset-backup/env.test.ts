// What the file-set backup core is given by its environment (the Lambda's and the Fargate task's): the keyring that
// wraps each pack's, list's and chunk-id key's data key, with the air-gapped vault's key when the deployment has one.
import { describe, expect, it } from 'vitest';
import { fileSetBackupDepsFromEnv } from '../../../functions/fileset-backup/env.ts';

const ENV = {
  AWS_REGION: 'eu-west-1',
  VAULT_BUCKET: 'vault-bucket',
  VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  LIFEBOAT_SOURCES: JSON.stringify([{ id: 'uploads', kind: 'fileset', s3: { bucket: 'orders-app-uploads', prefix: 'media/' } }]),
};
const AIR_GAP_KEY = 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666';

describe('fileSetBackupDepsFromEnv', () => {
  it('seals under the vault key alone without an air-gapped vault', () => {
    const deps = fileSetBackupDepsFromEnv(ENV);
    expect(deps.keyring.description).toEqual({ type: 'kms', keyIds: [ENV.VAULT_KEY_ARN] });
    expect(deps.sources.map((s) => s.id)).toEqual(['uploads']);
  });

  it('with AIR_GAP_KEY_ARN, also under the air-gapped key (the vault key still generates the data keys)', () => {
    expect(fileSetBackupDepsFromEnv({ ...ENV, AIR_GAP_KEY_ARN: AIR_GAP_KEY }).keyring.description).toEqual({ type: 'kms', keyIds: [ENV.VAULT_KEY_ARN, AIR_GAP_KEY] });
  });

  it('refuses an air-gapped key that is not a key ARN, and a missing variable, naming it', () => {
    expect(() => fileSetBackupDepsFromEnv({ ...ENV, AIR_GAP_KEY_ARN: 'alias/airgap' })).toThrow(/keyIds must be KMS key ARNs.*alias\/airgap/);
    const { VAULT_KEY_ARN: _missing, ...partial } = ENV;
    expect(() => fileSetBackupDepsFromEnv(partial)).toThrow(/VAULT_KEY_ARN/);
  });
});
