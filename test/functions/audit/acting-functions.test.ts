/**
 * Every acting function writes its audit event, and a failure still writes one: each core is run for real
 * (PostgreSQL, an S3-protocol server, a directory vault; RDS and Secrets Manager mocked) with an audit trail
 * on a directory vault, and the trail is read back and authenticated.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleCopyEvent } from '../../../functions/copy/copy.ts';
import { dumpSource, type DumpDeps } from '../../../functions/dump/dump.ts';
import { auditWriter, type AuditTrail } from '../../../functions/lib/audit/writer.ts';
import { readAuditTrail } from '../../../functions/lib/audit/reader.ts';
import { createS3Client } from '../../../functions/lib/aws/s3Client.ts';
import { generateKeyFile } from '../../../functions/lib/crypto/keyFile.ts';
import { keyringFromKeyFile } from '../../../functions/lib/crypto/keyring.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { handleSnapshotEvent } from '../../../functions/snapshot/snapshot.ts';
import { pruneSource } from '../../../functions/prune/prune.ts';
import { verifySourceBackup } from '../../../functions/verify/verify.ts';
import { createPostgresDatabase, postgresSettings, type PostgresDatabase } from '../../harness/databases.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';
import { storeBackup } from '../retention/vault.ts';

const signer = localHmacSigner(Buffer.alloc(32, 3));
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-Xy7Q2k';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:lifeboat-backup:orders-1';

let trailStore: LocalStore;
let trail: AuditTrail;
const secrets = mockClient(SecretsManagerClient);
const rds = mockClient(RDSClient);
let s3: LocalS3;
let db: PostgresDatabase;
let dumpDeps: DumpDeps;

async function events() {
  const entries = await readAuditTrail(trailStore, signer);
  expect(entries.every((entry) => entry.authentic)).toBe(true);
  return entries.map((entry) => entry.event!);
}

beforeAll(async () => {
  s3 = await startLocalS3();
  db = await createPostgresDatabase('auditfn');
  await db.query('CREATE TABLE orders (id serial PRIMARY KEY, note text)');
  await db.query("INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 50) g");
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-audit-fn-'));
  await generateKeyFile(path.join(dir, 'vault.key'));
  dumpDeps = {
    sources: [{ id: 'orders-db', engine: 'postgresql', database: db.name, credentialsSecretArn: SECRET_ARN, rds: { type: 'instance', identifier: 'orders-prod' } }],
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    rds: new RDSClient({ region: 'eu-west-1' }),
    store: new S3Store({ client: s3.client, bucket: await s3.createBucket() }),
    keyring: await keyringFromKeyFile(path.join(dir, 'vault.key')),
    tls: 'disable',
    jobs: 1,
  };
}, 120_000);
afterAll(async () => {
  await db?.drop();
  await s3?.stop();
});
beforeEach(async () => {
  const settings = postgresSettings();
  secrets.reset();
  rds.reset();
  // The local server trusts its users; the password is only there because an RDS secret always has one.
  secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: settings.user, password: 'never-used-7f3a' }) });
  rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ Endpoint: { Address: settings.host, Port: settings.port } }] });
  trailStore = new LocalStore(await mkdtemp(path.join(tmpdir(), 'lifeboat-audit-trail-')));
  trail = auditWriter({ store: trailStore, signer, actor: { kind: 'function', name: 'test' }, onFailure: (error) => { throw error; } });
});

describe('dump, verify and copy write their events', () => {
  it('a backup, its verification and its DR copy each leave one event; failures leave failed ones', async () => {
    const backup = await dumpSource({ sourceId: 'orders-db', executionArn: EXECUTION }, { ...dumpDeps, audit: trail });
    const verified = await verifySourceBackup(
      { sourceId: 'orders-db', backupId: backup.backupId, executionArn: EXECUTION },
      { sources: [{ ...dumpDeps.sources[0]!, sqlChecks: [] }] as never, servers: {}, secrets: dumpDeps.secrets, sns: new SNSClient({}), alertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts', store: dumpDeps.store, keyring: dumpDeps.keyring, audit: trail },
    );
    expect(verified.status).toBe('verified');
    const primary = dumpDeps.store as S3Store;
    const drBucket = await s3.createBucket();
    await handleCopyEvent(
      { action: 'copy-backup', sourceId: 'orders-db', backupId: backup.backupId },
      {
        primary: { client: createS3Client({ endpoint: s3.endpoint }), bucket: primary.location.slice('s3://'.length) },
        dr: { client: createS3Client({ endpoint: s3.endpoint }), bucket: drBucket, region: 'eu-central-1', kmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/mrk-1' },
        drRds: new RDSClient({ region: 'eu-central-1' }),
        audit: trail,
      } as never,
    );
    const recorded = await events();
    expect(recorded.map((e) => [e.type, e.outcome, e.sourceId, e.backupId])).toEqual([
      ['backup', 'succeeded', 'orders-db', backup.backupId],
      ['verification', 'succeeded', 'orders-db', backup.backupId],
      ['copy', 'succeeded', 'orders-db', backup.backupId],
    ]);
    expect(recorded[0]).toMatchObject({ executionId: EXECUTION, details: { completedAt: backup.completedAt, storedBytes: backup.storedBytes, sha256: backup.sha256 } });
    expect(recorded[2]!.details).toMatchObject({ destination: `s3://${drBucket}`, region: 'eu-central-1' });
  }, 120_000);

  it('a failed dump still writes its event, and the dump fails with its own error', async () => {
    secrets.on(GetSecretValueCommand).rejectsOnce(Object.assign(new Error('secret gone'), { name: 'ResourceNotFoundException' }));
    await expect(dumpSource({ sourceId: 'orders-db', executionArn: EXECUTION }, { ...dumpDeps, audit: trail })).rejects.toThrow(/secret/i);
    const [event] = await events();
    expect(event).toMatchObject({ type: 'backup', outcome: 'failed', sourceId: 'orders-db', executionId: EXECUTION });
    expect(String(event!.details['reason'])).toMatch(/secret/i);
  });

  it('a verification that cannot run records a failed run that is no verdict', async () => {
    await expect(
      verifySourceBackup({ sourceId: 'orders-db', backupId: '20261122T053327Z-k3x7q2ab' }, { sources: dumpDeps.sources as never, servers: {}, secrets: dumpDeps.secrets, sns: new SNSClient({}), alertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts', store: dumpDeps.store, keyring: dumpDeps.keyring, audit: trail }),
    ).rejects.toThrow();
    const [event] = await events();
    expect(event).toMatchObject({ type: 'verification', outcome: 'failed', backupId: '20261122T053327Z-k3x7q2ab', details: { verdict: false } });
  });
});

describe('prune and snapshot write their events', () => {
  it('prune records each deleted backup with the rule that let it go; a dry run records nothing', async () => {
    const vault = new LocalStore(await mkdtemp(path.join(tmpdir(), 'lifeboat-audit-prune-')));
    const ids = ['20261101T010000Z-aaaaaaaa', '20261102T010000Z-bbbbbbbb', '20261103T010000Z-cccccccc'];
    for (const id of ids) await storeBackup(vault, 'orders-db', id, ['verified']);
    const deps = {
      sources: [{ id: 'orders-db', timeZone: 'UTC', retention: { days: 1, keepLast: 1, gfs: { daily: 0, weekly: 0, monthly: 0, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: vault }],
      rds: {},
      now: () => new Date('2026-11-20T00:00:00Z'),
      audit: trail,
    };
    await pruneSource({ sourceId: 'orders-db', dryRun: true }, deps);
    expect(await events()).toEqual([]);
    const summary = await pruneSource({ sourceId: 'orders-db' }, deps);
    expect(summary.deleted).toBe(2);
    // Both in the same millisecond: ordered here by backup id.
    const recorded = (await events()).sort((a, b) => String(a.backupId).localeCompare(String(b.backupId)));
    expect(recorded.map((e) => [e.type, e.outcome, e.backupId])).toEqual([
      ['prune', 'succeeded', ids[0]],
      ['prune', 'succeeded', ids[1]],
    ]);
    expect(recorded[0]!.details).toMatchObject({ status: 'verified', completedAt: '2026-11-01T01:10:00.000Z', rule: expect.stringMatching(/\S/) });
  });

  it('a snapshot that fails to start records a failed snapshot event', async () => {
    await expect(
      handleSnapshotEvent({ action: 'create', sourceId: 'nobody' }, { sources: [], rds: { send: async () => ({}) } as never, store: trailStore, region: 'eu-west-1', audit: trail }),
    ).rejects.toThrow();
    const [event] = await events();
    expect(event).toMatchObject({ type: 'snapshot', outcome: 'failed', sourceId: 'nobody', details: { action: 'create' } });
  });
});

describe('a trail that cannot be written', () => {
  it('never turns a good backup into a failed one: the failure goes to onFailure and the work returns', async () => {
    const failures: string[] = [];
    const broken = auditWriter({
      store: { ...trailStore, location: 'broken', createObject: async () => { throw new Error('AccessDenied on audit/'); } } as never,
      signer,
      actor: { kind: 'function', name: 'test' },
      onFailure: (error, input) => { failures.push(`${input.type} ${input.outcome}: ${error.message}`); },
    });
    const backup = await dumpSource({ sourceId: 'orders-db' }, { ...dumpDeps, audit: broken });
    expect(backup.backupId).toMatch(/^\d{8}T\d{6}Z-/);
    expect(failures).toEqual(['backup succeeded: AccessDenied on audit/']);
  }, 120_000);
});
