/** `lifeboat doctor`: finds what interrupted runs left in a directory or S3 vault and on a server, and removes only the stale vault debris with --repair. */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import { manifestKey, payloadKey } from '../../functions/lib/vault/layout.ts';
import { serializeManifest } from '../../functions/lib/vault/manifest.ts';
import { createPostgresDatabase, type PostgresDatabase, postgresSettings } from '../harness/databases.ts';
import { sampleManifest } from '../functions/vault/fixtures.ts';
import { lifeboat, S3RVER_CREDENTIALS, tempDir } from './support.ts';
import { type LocalS3, startLocalS3 } from '../harness/s3.ts';

describe('lifeboat doctor', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let vault: string;
  let store: LocalStore;
  let leftover: PostgresDatabase;
  const OLD = '20200101T000000Z-aaaaaaaa';
  const OLD_NO_PAYLOAD = '20200102T000000Z-bbbbbbbb';
  const GOOD = '20200103T000000Z-cccccccc';

  beforeAll(async () => {
    dir = await tempDir('doctor');
    vault = join(dir.path, 'vault');
    store = new LocalStore(vault);
    // A complete backup (must be left alone), a payload without manifest, a manifest whose payload is gone.
    const good = sampleManifest({ backupId: GOOD, sourceId: 'orders-db' });
    await store.putObject(payloadKey('orders-db', GOOD), Buffer.alloc(good.payload!.storedBytes));
    await store.putObject(manifestKey('orders-db', GOOD), serializeManifest(good));
    await store.putObject(payloadKey('orders-db', OLD), 'half a backup');
    await store.putObject(manifestKey('orders-db', OLD_NO_PAYLOAD), serializeManifest(sampleManifest({ backupId: OLD_NO_PAYLOAD, sourceId: 'orders-db' })));
    // Temporary payloads: one a killed backup left long ago, one still being written.
    const folder = join(vault, 'backups', 'orders-db', '20261201T000000Z-dddddddd');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'payload.tmp-00000000000000aa'), 'stale');
    await utimes(join(folder, 'payload.tmp-00000000000000aa'), new Date('2020-01-01'), new Date('2020-01-01'));
    await writeFile(join(folder, 'payload.tmp-00000000000000bb'), 'in flight');
    leftover = await createPostgresDatabase('drill_doctor');
  });
  afterAll(async () => {
    await leftover?.drop();
    await dir?.remove();
  });

  it('reports each finding, exits 1 while stale ones remain, and --repair removes only those', async () => {
    const settings = postgresSettings();
    const found = await lifeboat(['doctor', '--vault', vault, '--server', `postgres://${settings.user}@${settings.host}:${settings.port}`]);
    expect(found.code).toBe(ExitCode.failed);
    expect(found.stdout).toContain('temporary-file  backups/orders-db/20261201T000000Z-dddddddd/payload.tmp-00000000000000aa (5 bytes, 2020-01-01T00:00:00.000Z)  [stale]');
    expect(found.stdout).toMatch(/^temporary-file {2}\S+payload\.tmp-00000000000000bb .* \[recent, left alone\]$/m);
    expect(found.stdout).toContain(`payload-without-manifest  backups/orders-db/${OLD}/ (1 object(s), no manifest)  [stale]`);
    expect(found.stdout).toContain(`manifest-without-payload  backups/orders-db/${OLD_NO_PAYLOAD}/manifest.json (missing backups/orders-db/${OLD_NO_PAYLOAD}/payload)  [stale]`);
    expect(found.stdout).toMatch(new RegExp(`^leftover-database {2}postgres://\\S+/${leftover.name} \\(\\d+ session\\(s\\)\\)`, 'm'));
    expect(found.stdout).not.toContain(GOOD);
    expect(found.stderr).toMatch(/^lifeboat: 3 stale finding\(s\) in the vault; run again with --repair to remove them$/m);

    const repaired = await lifeboat(['doctor', '--vault', vault, '--repair', '--json']);
    expect(repaired.code, repaired.stderr).toBe(ExitCode.ok);
    const report = JSON.parse(repaired.stdout) as { findings: { kind: string; repaired?: boolean; stale: boolean }[] };
    expect(report.findings.filter((f) => f.repaired).map((f) => f.kind).sort()).toEqual(['manifest-without-payload', 'payload-without-manifest', 'temporary-file']);

    const after = await lifeboat(['doctor', '--vault', vault]);
    expect(after.code).toBe(ExitCode.ok);
    expect(after.stdout).toMatch(/^temporary-file {2}\S+payload\.tmp-00000000000000bb .* \[recent, left alone\]$/m);
    expect(await store.head(manifestKey('orders-db', GOOD))).toBeDefined();
    expect(await store.head(payloadKey('orders-db', GOOD))).toBeDefined();
  });
});

describe('lifeboat doctor on an S3 vault', () => {
  let s3: LocalS3;
  let bucket: string;
  const env = () => ({ LIFEBOAT_S3_ENDPOINT: s3.endpoint, ...S3RVER_CREDENTIALS });

  beforeAll(async () => {
    s3 = await startLocalS3();
    bucket = await s3.createBucket();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  /** Starts a multipart upload under the vault prefix and stores one part, as a killed backup leaves it. */
  async function startUpload(key: string): Promise<string> {
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `vault/${key}` }));
    await s3.client.send(new UploadPartCommand({ Bucket: bucket, Key: `vault/${key}`, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
    return UploadId!;
  }
  const uploadsLeft = async () =>
    ((await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'vault/' }))).Uploads ?? []).map((u) => u.Key).sort();

  it('lists multipart uploads a killed run left unfinished, and --repair aborts only the stale ones', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'vault/backups/orders-db/README', Body: 'a vault' }));
    const staleId = await startUpload('backups/orders-db/20200101T000000Z-aaaaaaaa/payload');
    await startUpload('backups/orders-db/20261201T000000Z-bbbbbbbb/payload');
    // The local S3 server dates an upload by its folder's key file: make the first one old.
    const keyFile = join(s3.directory, bucket, '.uploads', staleId, 'key');
    await utimes(keyFile, new Date('2020-01-01'), new Date('2020-01-01')).catch(async () => {
      // Layout differs between s3rver versions: find the upload's key file wherever it is.
      const { readdir } = await import('node:fs/promises');
      const entries = await readdir(s3.directory, { recursive: true });
      const found = entries.find((entry) => entry.endsWith(join(staleId, 'key')));
      if (!found) throw new Error(`no key file for upload ${staleId} under ${s3.directory}`);
      await utimes(join(s3.directory, found), new Date('2020-01-01'), new Date('2020-01-01'));
    });

    const found = await lifeboat(['doctor', '--vault', `s3://${bucket}/vault`], { env: env() });
    expect(found.code, found.stderr).toBe(ExitCode.failed);
    expect(found.stdout).toMatch(/^incomplete-upload {2}backups\/orders-db\/20200101T000000Z-aaaaaaaa\/payload \(multipart upload \S+…, started 2020-01-01T00:00:00\.000Z\) {2}\[stale\]$/m);
    expect(found.stdout).toMatch(/^incomplete-upload {2}backups\/orders-db\/20261201T000000Z-bbbbbbbb\/payload .* \[recent, left alone\]$/m);
    expect(found.stderr).toMatch(/^lifeboat: 1 stale finding\(s\) in the vault; run again with --repair to remove them$/m);

    const repaired = await lifeboat(['doctor', '--vault', `s3://${bucket}/vault`, '--repair'], { env: env() });
    expect(repaired.code, repaired.stderr).toBe(ExitCode.ok);
    expect(repaired.stdout).toMatch(/^incomplete-upload {2}backups\/orders-db\/20200101T000000Z-aaaaaaaa\/payload .* \[removed\]$/m);
    expect(await uploadsLeft()).toEqual(['vault/backups/orders-db/20261201T000000Z-bbbbbbbb/payload']);
  });
});
