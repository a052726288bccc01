/**
 * A DR restore of a dump whose payload is in Deep Archive: the step fails with ArchiveRestoreInProgressError, the
 * name the plan's ASL retries on (infra/plans/compile.ts), and leaves no database a retry would trip over.
 */
import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RDSClient } from '@aws-sdk/client-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import { runBackup } from '../../../functions/lib/engine/backup.ts';
import { ArchiveRestoreInProgressError } from '../../../functions/lib/errors.ts';
import { payloadKey } from '../../../functions/lib/vault/layout.ts';
import { writeVerification } from '../../../functions/lib/vault/verification.ts';
import { listPostgresDatabases, postgresSettings, type PostgresDatabase } from '../../harness/index.ts';
import { connectionOf, tempVault, testKeyring, wrapStore } from '../engine/helpers.ts';
import { sampleVerification } from '../vault/fixtures.ts';
import { createSource } from '../verify/suite.ts';
import { DR_REGION, PLAN, REGION, TOPIC, newSuffix, runStep } from './support.ts';

const SOURCE = 'orders-db';
const SERVER_SECRET = `arn:aws:secretsmanager:${REGION}:111122223333:secret:lifeboat-verify-pg-Ab12Cd`;
const TARGET_DATABASE = `lbtamper_${randomBytes(3).toString('hex')}`;

describe('restore-dump of a payload in Deep Archive', () => {
  const secrets = mockClient(SecretsManagerClient);
  const keyring = testKeyring();
  const local = postgresSettings();
  let source: PostgresDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let deps: DrStepDeps;
  let archived: ArchiveRestoreInProgressError;

  beforeAll(async () => {
    source = (await createSource('postgresql', 'tamper_dr_archived')) as PostgresDatabase;
    vault = await tempVault();
    const { manifest } = await runBackup({ source: connectionOf(source), sourceId: SOURCE, store: vault.store, keyring, jobs: 1 });
    await writeVerification(vault.store, sampleVerification({ sourceId: SOURCE, backupId: manifest.backupId, status: 'verified', at: new Date(manifest.completedAt) }));
    const payload = payloadKey(SOURCE, manifest.backupId);
    archived = new ArchiveRestoreInProgressError(`${payload} is in S3 Glacier Deep Archive: being restored from archive now (Standard retrieval), ready in ~12 hours`, {
      key: payload,
      storageClass: 'DEEP_ARCHIVE',
      tier: 'Standard',
      readyInHours: 12,
      startedNow: true,
    });
    const store = wrapStore(vault.store, {
      getStream: async (key) => {
        if (key === payload) throw archived;
        return vault.store.getStream(key);
      },
    });
    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves({ SecretString: JSON.stringify({ username: local.user, password: 'Never-Print-3f1a' }) });
    deps = {
      sources: [{ id: SOURCE, engine: 'postgresql', database: source.name, credentialsSecretArn: SERVER_SECRET, rds: { type: 'instance', identifier: 'orders-prod' } }],
      regions: {
        primary: { name: REGION, rds: new RDSClient({ region: REGION }), store, keyring },
        dr: { name: DR_REGION, rds: new RDSClient({ region: DR_REGION }), store, keyring },
      },
      secrets: new SecretsManagerClient({ region: REGION }),
      sns: new SNSClient({ region: REGION }),
      servers: { postgresql: { secretArn: SERVER_SECRET, host: local.host, port: local.port } },
      planTopics: { [PLAN]: TOPIC },
      tls: 'disable', // the local server has no TLS; in AWS the default is verify-full
    };
  }, 120_000);
  afterAll(async () => {
    await source?.drop();
    await vault?.remove();
  });

  it('fails with ArchiveRestoreInProgressError (what the plan retries on) and leaves no drill database behind', async () => {
    const step = runStep(
      'restore',
      'restore-dump',
      { source: SOURCE, target: { host: 'orders-new.internal', port: 5432, database: TARGET_DATABASE, credentialsSecretArn: SERVER_SECRET } },
      { mode: 'drill', suffix: newSuffix() },
    );

    await expect(handleDrStepEvent(step, deps)).rejects.toBe(archived);
    expect(await listPostgresDatabases(TARGET_DATABASE)).toEqual([]);
  });
});
