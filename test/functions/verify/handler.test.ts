/** The verify handler's start-up: configuration is read once, and a bad one fails naming the variable and field. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const SOURCES = [
  {
    id: 'orders-db',
    engine: 'postgresql',
    database: 'orders',
    credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-Ab12Cd',
    rds: { type: 'instance', identifier: 'orders-prod' },
    sqlChecks: ['SELECT count(*) > 0 FROM orders'],
    anomaly: { minRatio: 0.25 },
  },
];
const ENV = {
  AWS_REGION: 'eu-west-1',
  VAULT_BUCKET: 'vault-bucket',
  VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
  ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:111122223333:lifeboat-alerts',
  VERIFICATION_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666',
  LIFEBOAT_SOURCES: JSON.stringify(SOURCES),
  VERIFY_SERVERS: JSON.stringify({
    postgresql: { secretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:verify-pg-Ab12Cd', host: 'verify.internal', port: 5432 },
  }),
};

async function loadHandler(env: Record<string, string | undefined>): Promise<unknown> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  return import('../../../functions/verify/handler.ts');
}

describe('the verify function handler', () => {
  beforeEach(() => {
    vi.resetModules();
    // Powertools logs the missing-server warning as JSON on stdout; keep the test output clean.
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('loads and exports a handler when its environment is complete', async () => {
    const module = (await loadHandler(ENV)) as { handler: unknown };
    expect(typeof module.handler).toBe('function');
  });

  it('fails at start-up naming every missing variable', async () => {
    await expect(loadHandler({ ...ENV, ALERT_TOPIC_ARN: '', VERIFY_SERVERS: '' })).rejects.toThrow(
      'Missing environment variables: ALERT_TOPIC_ARN, VERIFY_SERVERS',
    );
  });

  it('fails at start-up on a malformed server list or source entry, naming the field', async () => {
    await expect(loadHandler({ ...ENV, VERIFY_SERVERS: JSON.stringify({ postgres: { secretArn: 'arn:x', host: 'h', port: 5432 } }) })).rejects.toThrow(
      /^VERIFY_SERVERS: \(root\): Unrecognized key: "postgres"/,
    );
    vi.resetModules();
    await expect(loadHandler({ ...ENV, LIFEBOAT_SOURCES: JSON.stringify([{ ...SOURCES[0], anomaly: { window: 1 } }]) })).rejects.toThrow(
      /^LIFEBOAT_SOURCES: 0\.anomaly\.window: /,
    );
    vi.resetModules();
    await expect(loadHandler({ ...ENV, VERIFY_SERVERS: '{' })).rejects.toThrow('VERIFY_SERVERS: not valid JSON');
  });
});
