/**
 * The DR step handler's start-up: configuration is read once, and a bad one fails naming the variable and field;
 * and its dependencies from that environment, the air-gapped vault among them when its four variables are given.
 */
import { describe, expect, it } from 'vitest';
import { drStepDepsFromEnv } from '../../../functions/dr-step/env.ts';
import { useHandlerEnvironment } from '../handlerHarness.ts';

const ENV = {
  AWS_REGION: 'eu-west-1',
  PRIMARY_VAULT_BUCKET: 'vault-primary',
  PRIMARY_VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  DR_REGION: 'eu-central-1',
  DR_VAULT_BUCKET: 'vault-dr',
  DR_VAULT_KEY_ARN: 'arn:aws:kms:eu-central-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  LIFEBOAT_SOURCES: JSON.stringify([
    {
      id: 'orders-db',
      engine: 'postgresql',
      database: 'orders',
      credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-Ab12Cd',
      rds: { type: 'instance', identifier: 'orders-prod' },
    },
  ]),
  VERIFY_SERVERS: JSON.stringify({ postgresql: { secretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:verify-pg-Ab12Cd', host: 'verify.internal', port: 5432 } }),
  PLAN_TOPICS: JSON.stringify({ 'orders-restore': 'arn:aws:sns:eu-west-1:111122223333:lifeboat-plan-orders-restore-contacts' }),
  VERIFICATION_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666',
};

async function loadHandler(): Promise<{ handler: unknown }> {
  return import('../../../functions/dr-step/handler.ts');
}

describe('the DR step function handler', () => {
  describe('with a complete environment', () => {
    useHandlerEnvironment(ENV);
    it('loads and exports a handler', async () => {
      expect(typeof (await loadHandler()).handler).toBe('function');
    });
  });

  describe('without some variables', () => {
    useHandlerEnvironment({ ...ENV, DR_VAULT_BUCKET: '', PLAN_TOPICS: '' });
    it('fails at start-up naming every missing one', async () => {
      await expect(loadHandler()).rejects.toThrow('Missing environment variables: DR_VAULT_BUCKET, PLAN_TOPICS');
    });
  });

  describe('with a malformed plan topic map', () => {
    useHandlerEnvironment({ ...ENV, PLAN_TOPICS: JSON.stringify({ 'orders-restore': 'lifeboat-contacts' }) });
    it('fails at start-up naming the plan', async () => {
      await expect(loadHandler()).rejects.toThrow(/^PLAN_TOPICS: orders-restore: must be an SNS topic ARN$/);
    });
  });

  describe('with a malformed source', () => {
    useHandlerEnvironment({ ...ENV, LIFEBOAT_SOURCES: JSON.stringify([{ id: 'orders-db', engine: 'postgres' }]) });
    it('fails at start-up naming the field', async () => {
      await expect(loadHandler()).rejects.toThrow(/^LIFEBOAT_SOURCES: 0\.engine: /);
    });
  });
});

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
