/**
 * The Fargate runner's entrypoint as ECS starts it: the bundle the tools image builds (functions/dump/Dockerfile,
 * `runner.mjs`) run as a child process with exactly the environment its task definition gives (read from the
 * synthesized template), plus only what the platform and the test's stand-ins for AWS add: the region, credentials,
 * the event the state machine puts in the container overrides, the endpoints of local servers for S3 (s3rver), KMS,
 * Secrets Manager and ElastiCache (small fakes that record each call), and TLS off (the local databases have none).
 * The real dump and verify cores run against the local PostgreSQL, and the cache export against a real RDB file.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSetManifest } from '../../../functions/lib/fileset/catalog.ts';
import { snapshotPrefix } from '../../../functions/lib/fileset/format.ts';
import { listBackups, readManifest } from '../../../functions/lib/vault/catalog.ts';
import { newBackupId } from '../../../functions/lib/vault/layout.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../../functions/lib/vault/verification.ts';
import { buildLifeboat } from '../../../infra/lifeboat.ts';
import { createPostgresDatabase, postgresSettings, startLocalS3, type LocalS3, type PostgresDatabase } from '../../harness/index.ts';
import { exampleConfig, testApp } from '../../infra/support.ts';
import { bundleRunner, deployed, REGION, repoRoot, run, startFakeAws, startFakeElastiCache } from './support.ts';
import { startTestRedis } from '../../harness/redis.ts';

describe('the Fargate runner entrypoint, as its task definitions start it', () => {
  let outdir: string;
  let runner: string;
  let s3: LocalS3;
  let db: PostgresDatabase;
  let aws: Awaited<ReturnType<typeof startFakeAws>>;
  const taskEnv = new Map<string, Record<string, string>>();
  let store: S3Store;

  beforeAll(async () => {
    outdir = await mkdtemp(join(repoRoot, '.vitest-tmp-runner-'));
    runner = await bundleRunner(outdir);
    s3 = await startLocalS3();
    db = await createPostgresDatabase('runner');
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, note text)');
    await db.query("INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 300) g");

    // The example deployment, its orders-db source and PostgreSQL verification server pointed at the local server.
    const config = exampleConfig((raw) => {
      raw.sources[0].database = db.name;
      raw.verification.servers.postgresql.host = postgresSettings().host;
      raw.verification.servers.postgresql.port = postgresSettings().port;
    });
    const app = testApp();
    const stacks = buildLifeboat(app, config);
    const template = Template.fromStack(stacks.primary).toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
    for (const resource of Object.values(template.Resources)) {
      if (resource.Type !== 'AWS::ECS::TaskDefinition') continue;
      const [container] = resource.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[];
      const env = Object.fromEntries(container!.Environment.map((e) => [e.Name, deployed(e.Value, template.Resources)]));
      taskEnv.set(resource.Properties.Family as string, env);
    }
    const dumpEnv = [...taskEnv.values()].find((e) => e.LIFEBOAT_RUNNER_ROLE === 'dump' && e.LIFEBOAT_SOURCES!.includes('"orders-db"'))!;
    await s3.createBucket(dumpEnv.VAULT_BUCKET);
    store = new S3Store({ client: s3.client, bucket: dumpEnv.VAULT_BUCKET! });

    const local = postgresSettings();
    const login = JSON.stringify({ username: local.user, password: local.password ?? 'unused-locally', host: local.host, port: local.port });
    const sourceSecret = (JSON.parse(dumpEnv.LIFEBOAT_SOURCES!) as { id: string; credentialsSecretArn: string }[]).find((s) => s.id === 'orders-db')!.credentialsSecretArn;
    const verifyEnv = taskEnv.get('lifeboat-verify')!;
    const serverSecret = (JSON.parse(verifyEnv.VERIFY_SERVERS!) as { postgresql: { secretArn: string } }).postgresql.secretArn;
    aws = await startFakeAws({ [sourceSecret]: login, [serverSecret]: login });
  }, 180_000);

  afterAll(async () => {
    aws?.server.close();
    await db?.drop();
    await s3?.stop();
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  /** Runs the entrypoint with the task definition's environment and the platform's and test's additions only. */
  async function startTask(family: string, event: unknown, change: (env: Record<string, string>) => void = () => {}) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      ...taskEnv.get(family)!,
      // What Fargate adds to every container, and the state machine's container override.
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
      AWS_SECRET_ACCESS_KEY: 'local-test-secret',
      LIFEBOAT_TASK_EVENT: JSON.stringify(event),
      // The local stand-ins for AWS, and the local servers' lack of TLS.
      LIFEBOAT_S3_ENDPOINT: s3.endpoint,
      AWS_ENDPOINT_URL_KMS: aws.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
      LIFEBOAT_DATABASE_TLS: 'disable',
    };
    // The local KMS stand-in has no HMAC keys (GenerateMac): these runs go without an audit trail, whose
    // events are tested against the same cores in test/functions/audit/acting-functions.test.ts.
    delete env.EVIDENCE_KEY_ARN;
    change(env);
    const result = await run(process.execPath, [runner], { cwd: repoRoot, env, timeout: 120_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (failure: { code: number; stdout: string; stderr: string }) => ({ code: failure.code, stdout: failure.stdout, stderr: failure.stderr }),
    );
    const lines = `${result.stdout}\n${result.stderr}`.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
    return { ...result, lines };
  }

  it('sets no local switch in any task definition, and gives each its role', () => {
    expect([...taskEnv.keys()].sort()).toEqual(['lifeboat-copy', 'lifeboat-drstep', 'lifeboat-dump1', 'lifeboat-dump2', 'lifeboat-fileset', 'lifeboat-verify']);
    for (const env of taskEnv.values()) {
      expect(Object.keys(env)).not.toEqual(expect.arrayContaining(['LIFEBOAT_S3_ENDPOINT']));
      expect(Object.keys(env)).not.toContain('LIFEBOAT_DATABASE_TLS');
      expect(['dump', 'verify', 'copy', 'dr-step', 'fileset-backup']).toContain(env.LIFEBOAT_RUNNER_ROLE);
      // The copy task has 1 vCPU: one stream (it streams nothing through the pool but its hash).
      expect({ jobs: env.LIFEBOAT_JOBS, pool: env.UV_THREADPOOL_SIZE }).toEqual(env.LIFEBOAT_RUNNER_ROLE === 'copy' ? { jobs: '1', pool: '4' } : { jobs: '4', pool: '4' });
    }
  });

  it('takes over a file set under the backup id it is given (the snapshot the state machine reads back), which the verify task then checks', async () => {
    const fileSetEnv = taskEnv.get('lifeboat-fileset')!;
    const location = (JSON.parse(fileSetEnv.LIFEBOAT_SOURCES!) as { s3: { bucket: string; prefix: string } }[])[0]!.s3;
    await s3.createBucket(location.bucket);
    for (let i = 0; i < 5; i++) await s3.client.send(new PutObjectCommand({ Bucket: location.bucket, Key: `${location.prefix}photo-${i}.jpg`, Body: Buffer.alloc(3000 + i, i) }));
    const backupId = newBackupId();
    const task = await startTask('lifeboat-fileset', { sourceId: 'uploads', trigger: 'schedule', backupId });
    expect(task.stderr).not.toMatch(/Error/);
    expect(task.code).toBe(0);
    const manifest = await readFileSetManifest(store, 'uploads', backupId);
    expect(manifest.totals).toMatchObject({ files: 5, filesRead: 5 });
    expect(task.lines.find((l) => l.message === 'file set stored')).toMatchObject({ level: 'INFO', service: 'lifeboat-fileset-backup', sourceId: 'uploads', backupId, kind: 'fileset', files: 5 });
    expect(task.lines.find((l) => l.message === 'task succeeded')).toMatchObject({ role: 'fileset-backup', result: { backupId, kind: 'fileset' } });

    const verify = await startTask('lifeboat-verify', { sourceId: 'uploads', backupId });
    expect(verify.stderr).not.toMatch(/Error/);
    expect(verify.code).toBe(0);
    expect((await readLatestVerification(store, 'uploads', backupId, { folder: snapshotPrefix('uploads', backupId) })).status).toBe('verified');
  }, 120_000);

  it('dumps under the backup id it is given, exits 0, and logs and measures like the Lambda', async () => {
    const backupId = newBackupId();
    const task = await startTask('lifeboat-dump1', { sourceId: 'orders-db', trigger: 'schedule', backupId });

    expect(task.stderr).not.toMatch(/Error/);
    expect(task.code).toBe(0);
    const manifest = await readManifest(store, 'orders-db', backupId);
    expect(manifest).toMatchObject({ kind: 'dump', engine: 'postgresql', source: { database: db.name } });
    expect(manifest.content?.tables).toEqual([expect.objectContaining({ name: 'orders', rows: 300 })]);
    // Powertools' structured lines: the same service and message as the Lambda, and the EMF metrics with the runner dimension.
    expect(task.lines.find((l) => l.message === 'backup stored')).toMatchObject({ level: 'INFO', service: 'lifeboat-dump', sourceId: 'orders-db', backupId });
    expect(task.lines.find((l) => l.message === 'task succeeded')).toMatchObject({ role: 'dump', result: { backupId, kind: 'dump' } });
    const emf = task.lines.find((l) => l._aws !== undefined)!;
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Lifeboat', Dimensions: [expect.arrayContaining(['service', 'runner', 'sourceId'])] });
    expect(emf).toMatchObject({ runner: 'fargate', sourceId: 'orders-db', BackupRawBytes: manifest.payload!.rawBytes, BackupStoredBytes: manifest.payload!.storedBytes });
    // KMS was asked for one data key of the vault key, bound to this backup.
    const keys = aws.calls.filter((c) => c.target === 'TrentService.GenerateDataKey');
    expect(keys.at(-1)!.body).toMatchObject({ KeyId: taskEnv.get('lifeboat-dump1')!.VAULT_KEY_ARN, EncryptionContext: expect.objectContaining({ 'lifeboat:source': 'orders-db', 'lifeboat:backup': backupId }) });

    // The verify task restores it into the verification server and records the verdict.
    const callsBefore = aws.calls.length;
    const verify = await startTask('lifeboat-verify', { sourceId: 'orders-db', backupId });
    expect(verify.stderr).not.toMatch(/Error/);
    expect(verify.code).toBe(0);
    const verdict = await readLatestVerification(store, 'orders-db', backupId);
    expect(verdict.status).toBe('verified');
    expect(verdict.result?.checks.find((c) => c.name === 'row-counts')?.status).toBe('passed');
    expect(verify.lines.find((l) => l.message === 'backup verified')).toMatchObject({ service: 'lifeboat-verify', sourceId: 'orders-db', backupId });
    expect(aws.calls.filter((c) => c.target === 'TrentService.Decrypt').length).toBeGreaterThan(0);
    // Signed with the verification key its task definition names, and only with that one.
    const macs = aws.calls.slice(callsBefore).filter((c) => c.target === 'TrentService.GenerateMac');
    expect(macs.map((c) => c.body.KeyId)).toEqual([taskEnv.get('lifeboat-verify')!.VERIFICATION_KEY_ARN]);
    expect(verdict.result?.mac).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 180_000);

  it('copies a backup to the DR vault its task definition names, without a deadline, and logs and measures like the copy Lambda', async () => {
    const copyEnv = taskEnv.get('lifeboat-copy')!;
    expect(copyEnv).toMatchObject({ LIFEBOAT_RUNNER_ROLE: 'copy', PRIMARY_VAULT_BUCKET: taskEnv.get('lifeboat-dump1')!.VAULT_BUCKET, DR_REGION: 'eu-central-1' });
    await s3.createBucket(copyEnv.DR_VAULT_BUCKET);
    const drStore = new S3Store({ client: s3.client, bucket: copyEnv.DR_VAULT_BUCKET! });
    const backupId = newBackupId();
    expect((await startTask('lifeboat-dump1', { sourceId: 'orders-db', trigger: 'schedule', backupId })).code).toBe(0);

    const task = await startTask('lifeboat-copy', { action: 'copy-backup', sourceId: 'orders-db', backupId, kind: 'dump' });

    expect(task.stderr).not.toMatch(/Error/);
    expect(task.code).toBe(0);
    const [copied] = await listBackups(drStore, { sourceId: 'orders-db' });
    expect(copied).toMatchObject({ backupId, payload: { sha256: (await readManifest(store, 'orders-db', backupId)).payload!.sha256 } });
    expect(task.lines.find((l) => l.message === 'backup copied to the DR vault')).toMatchObject({ level: 'INFO', service: 'lifeboat-copy', sourceId: 'orders-db', backupId, kind: 'dump', alreadyCopied: false });
    expect(task.lines.find((l) => l.message === 'task succeeded')).toMatchObject({ role: 'copy', result: { backupId, drBucket: copyEnv.DR_VAULT_BUCKET, drRegion: 'eu-central-1' } });
    const emf = task.lines.find((l) => l._aws !== undefined)!;
    expect(emf).toMatchObject({ runner: 'fargate', sourceId: 'orders-db', ReplicatedBytes: copied!.payload!.storedBytes });
  }, 180_000);

  it('exports a cache\'s ElastiCache snapshot through the staging bucket its task definition names, seals it into the vault, and leaves nothing staged', async () => {
    // The cache's RDB as ElastiCache would export it: a real redis-server's SAVE.
    const cache = await startTestRedis();
    const client = await cache.connect();
    for (let i = 0; i < 50; i++) await client.call('SET', `session:${i}`, `user-${i}`);
    await client.call('SAVE');
    client.close();
    const rdb = await readFile(join(cache.dir, 'dump.rdb'));
    await cache.stop();
    const env = taskEnv.get('lifeboat-dump2')!;
    await s3.createBucket(env.STAGING_BUCKET);
    const elasticache = await startFakeElastiCache(rdb, async (bucket, key, body) => {
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    });
    try {
      const backupId = newBackupId();
      const task = await startTask('lifeboat-dump2', { sourceId: 'sessions-cache', trigger: 'schedule', backupId }, (e) => {
        e.AWS_ENDPOINT_URL_ELASTICACHE = elasticache.endpoint;
      });

      expect(task.stderr).not.toMatch(/Error/);
      expect(task.code).toBe(0);
      const manifest = await readManifest(store, 'sessions-cache', backupId);
      expect(manifest).toMatchObject({ engine: 'redis', source: { serverVersion: 'valkey 8.0.1' }, content: { keyspace: [expect.objectContaining({ db: 0, keys: 50 })] } });
      const name = `lifeboat-sessions-cache-${backupId.toLowerCase()}`;
      // First the group's own snapshots (what earlier runs may have left), then the run's own snapshot and export.
      expect(elasticache.calls.map((c) => c.Action)).toEqual(['DescribeSnapshots', 'CreateSnapshot', 'DescribeSnapshots', 'CopySnapshot', 'DescribeSnapshots', 'DeleteSnapshot']);
      expect(elasticache.calls[0]).toMatchObject({ ReplicationGroupId: 'sessions-prod', SnapshotSource: 'user' });
      expect(elasticache.calls[1]).toMatchObject({ ReplicationGroupId: 'sessions-prod', SnapshotName: name });
      expect(elasticache.calls[3]).toMatchObject({ SourceSnapshotName: name, TargetSnapshotName: `${name}-export`, TargetBucket: env.STAGING_BUCKET });
      const staged = await s3.client.send(new ListObjectsV2Command({ Bucket: env.STAGING_BUCKET }));
      expect(staged.Contents ?? []).toEqual([]);
      expect(task.lines.find((l) => l.message === 'task succeeded')).toMatchObject({ role: 'dump', result: { backupId, kind: 'dump' } });
    } finally {
      elasticache.server.close();
    }
  }, 180_000);

  it('takes the event as its first argument too', async () => {
    const backupId = newBackupId();
    const env = { ...taskEnv.get('lifeboat-dump1')! };
    const task = await startTask('lifeboat-dump1', 'ignored', (e) => {
      delete e.LIFEBOAT_TASK_EVENT;
      Object.assign(e, env);
    });
    expect(task.code).toBe(2);
    expect(task.lines.find((l) => l.message === 'task failed')).toMatchObject({ errorName: 'ConfigError', reason: 'No event: give it as the first argument or in LIFEBOAT_TASK_EVENT (JSON)' });
    const withArgument = await run(process.execPath, [runner, JSON.stringify({ sourceId: 'orders-db', backupId })], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...env, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST', AWS_SECRET_ACCESS_KEY: 'x', LIFEBOAT_S3_ENDPOINT: s3.endpoint, AWS_ENDPOINT_URL_KMS: aws.endpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint, LIFEBOAT_DATABASE_TLS: 'disable' },
    });
    expect(withArgument.stderr).not.toMatch(/Error/);
    await expect(readManifest(store, 'orders-db', backupId)).resolves.toMatchObject({ backupId });
  }, 180_000);

  it('exits non-zero with the error named in its log: 1 for a failed dump, 2 for a bad event, and never a password', async () => {
    const unreachable = await startTask('lifeboat-dump1', { sourceId: 'orders-db', backupId: newBackupId() }, (env) => {
      env.AWS_ENDPOINT_URL_SECRETS_MANAGER = 'http://127.0.0.1:9';
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.lines.find((l) => l.message === 'task failed')).toMatchObject({ level: 'ERROR', role: 'dump' });

    const unknown = await startTask('lifeboat-dump1', { sourceId: 'billing-db' });
    expect(unknown.code).toBe(2);
    expect(unknown.lines.find((l) => l.message === 'task failed')).toMatchObject({ errorName: 'ConfigError', reason: "sourceId: unknown source 'billing-db'; this task backs up orders-db" });
    expect(unknown.stdout + unknown.stderr).not.toContain('local-test-secret');
  }, 180_000);
});
