/**
 * The real statemachines/backup.asl.json run locally for an S3 file set (bucket `app-uploads`-like, prefix `media/`,
 * source `uploads`), every Task bound to a real core: resolve-source with the route the CDK construct writes, the
 * file-set backup function's core reading the source bucket on the local S3 server, the verify core (packs re-read,
 * the result signed in the snapshot's folder), the copy core into the DR vault and the prune core over both vaults.
 */
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleCopyEvent, type CopyDeps } from '../../functions/copy/copy.ts';
import { backUpFileSet, FileSetSourceSchema, type FileSetBackupDeps } from '../../functions/fileset-backup/backup.ts';
import { localHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { listFileSetSnapshots } from '../../functions/lib/fileset/catalog.ts';
import { snapshotPrefix } from '../../functions/lib/fileset/format.ts';
import { restoreFileSet, s3Target } from '../../functions/lib/fileset/restore.ts';
import { S3Store } from '../../functions/lib/vault/s3Store.ts';
import { readLatestVerification } from '../../functions/lib/vault/verification.ts';
import { pruneSource, type PruneDeps } from '../../functions/prune/prune.ts';
import { dumpResult, resolveSource, type SourceRoute } from '../../functions/resolve-source/resolve.ts';
import { verifySourceBackup, VerifySourceSchema, type VerifyDeps } from '../../functions/verify/verify.ts';
import { testKeyring } from '../functions/engine/helpers.ts';
import { loadStateMachine, runStateMachine, startLocalS3, type LocalS3, type StateMachineDefinition, type TaskHandler } from '../harness/index.ts';
import { ACCOUNT, DR_REGION, REGION, SUBSTITUTIONS, lambdaArn } from './support.ts';

const SOURCE = 'uploads';
const BACKUP_FUNCTION = lambdaArn('fileset-backup');
const DR_KEY = `arn:aws:kms:${DR_REGION}:${ACCOUNT}:key/mrk-5678efgh`;
const context = (name: string) => ({ Execution: { Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:lifeboat-backup:${name}`, Name: name } });
/** The route the CDK construct writes for a file set: the file-set backup function, always on Lambda. */
const ROUTES: SourceRoute[] = [{ id: SOURCE, method: 'dump', dumpFunctionArn: BACKUP_FUNCTION, runner: 'lambda' }];

let s3: LocalS3;
let definition: StateMachineDefinition;

beforeAll(async () => {
  definition = await loadStateMachine('backup', { substitutions: SUBSTITUTIONS });
  s3 = await startLocalS3();
}, 60_000);
afterAll(async () => {
  await s3?.stop();
});

describe('backup.asl.json end to end: an S3 file set with the real resolve, file-set backup, verify, copy and prune cores', () => {
  it('backs up, verifies, copies and retains two snapshots (the second incremental); the DR vault restores the older one; a damaged pack fails the next verification, named', async () => {
    const [sourceBucket, primaryBucket, drBucket, restoreBucket] = [await s3.createBucket(), await s3.createBucket(), await s3.createBucket(), await s3.createBucket()];
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) objects.set(`media/img-${i}.jpg`, randomBytes(1000 + i));
    objects.set('media/video/clip.mp4', randomBytes(700_000));
    for (const [key, body] of objects) await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: body, ContentType: 'image/jpeg' }));
    await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: 'private/not-under-the-prefix.txt', Body: 'x' }));

    const primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    const keyring = testKeyring();
    const signer = localHmacSigner(randomBytes(32));
    // The entries as the CDK construct writes them into LIFEBOAT_SOURCES of the backup and verify functions.
    const entry = { id: SOURCE, kind: 'fileset', s3: { bucket: sourceBucket, prefix: 'media/' } };
    const alerts: unknown[] = [];
    const backupDeps: FileSetBackupDeps = { sources: [FileSetSourceSchema.parse(entry)], s3: s3.client, store: primaryStore, keyring, packBytes: 256 * 1024 };
    const verifyDeps: VerifyDeps = {
      sources: [VerifySourceSchema.parse({ ...entry, readDataPercent: 0 })],
      servers: {},
      secrets: { send: async () => Promise.reject(new Error('a file set needs no Secrets Manager')) },
      sns: { send: async (command: { input: unknown }) => (alerts.push(command.input), {}) } as unknown as VerifyDeps['sns'],
      alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
      store: primaryStore,
      keyring,
      verificationKey: signer,
    };
    const copyDeps: CopyDeps = {
      primary: { client: s3.client, bucket: primaryBucket },
      dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
      drRds: new RDSClient({ region: DR_REGION }),
    };
    const pruneDeps: PruneDeps = {
      sources: [{ id: SOURCE, kind: 'fileset', timeZone: 'UTC', retention: { days: 7, keepLast: 24, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: primaryStore, keyring }, { store: drStore, keyring }],
      rds: {},
      authenticator: signer,
    };
    const never = (why: string): TaskHandler => async () => {
      throw new Error(why);
    };
    const states: string[] = [];
    const handlers: Record<string, TaskHandler> = {
      DescribeSource: (input) => resolveSource(input, ROUTES, { store: primaryStore }),
      Dump: (input) => backUpFileSet(input, backupDeps),
      Verify: (input) => verifySourceBackup(input, verifyDeps),
      CopyToDr: (input) => handleCopyEvent(input, copyDeps),
      ApplyRetention: async (input) => {
        const { reports: _reports, ...summary } = await pruneSource(input, pruneDeps);
        return summary;
      },
      RecordSuccess: async () => ({}),
      ...Object.fromEntries(
        ['CreateSnapshot', 'DescribeSnapshot', 'RecordSnapshot', 'CopySnapshotToDr', 'DescribeSnapshotCopy', 'RecordSnapshotCopy'].map((state) => [state, never('a file set is not an RDS snapshot source')]),
      ),
      ...Object.fromEntries(['DumpOnFargate', 'ReadFargateDump', 'VerifyOnFargate', 'CopyOnFargate'].map((state) => [state, never('a file set has no Fargate task')])),
      PublishAlert: async (input) => (alerts.push(input), {}),
    };
    const logged = Object.fromEntries(Object.entries(handlers).map(([state, handler]): [string, TaskHandler] => [state, async (input) => (states.push(state), handler(input))]));
    const run = async (name: string) => {
      states.length = 0;
      return runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, { handlers: logged, context: context(name) });
    };

    const first = await run('uploads-1');
    expect(first.error === undefined ? first.status : `${first.status} ${first.error}: ${first.cause}`).toBe('SUCCEEDED');
    expect(states).toEqual(['DescribeSource', 'Dump', 'Verify', 'CopyToDr', 'ApplyRetention', 'RecordSuccess']);
    expect(first.output).toMatchObject({ backup: { kind: 'fileset', sourceId: SOURCE }, verification: { status: 'verified' }, drCopy: { kind: 'fileset', alreadyCopied: false, verificationsCopied: 1 } });

    // One object rewritten: the second run reads it alone and stores about its size.
    const changed = randomBytes(1500);
    await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: 'media/img-7.jpg', Body: changed, ContentType: 'image/jpeg' }));
    const second = await run('uploads-2');
    expect(second.status).toBe('SUCCEEDED');
    expect(second.output).toMatchObject({ backup: { kind: 'fileset', storedBytes: expect.any(Number) }, drCopy: { packsCopied: 1 } });
    expect((second.output as { backup: { storedBytes: number } }).backup.storedBytes).toBeLessThan(4096);

    const snapshots = await listFileSetSnapshots(primaryStore, SOURCE);
    expect(snapshots.map((s) => s.totals.filesRead)).toEqual([objects.size, 1]);
    // The DR vault holds the same snapshots, each with the same signed, bound result.
    expect(await listFileSetSnapshots(drStore, SOURCE)).toEqual(snapshots);
    for (const snapshot of snapshots) {
      const options = { folder: snapshotPrefix(SOURCE, snapshot.backupId), authenticator: signer, manifest: snapshot };
      expect(await readLatestVerification(drStore, SOURCE, snapshot.backupId, options)).toMatchObject({ status: 'verified', authenticated: true });
    }
    // The older snapshot restored from the DR vault alone: the object as it was before the change.
    await restoreFileSet({ store: drStore, keyring, manifest: snapshots[0]!, target: s3Target(s3.client, restoreBucket, 'restored/') });
    const restored = await s3.client.send(new GetObjectCommand({ Bucket: restoreBucket, Key: 'restored/img-7.jpg' }));
    expect(Buffer.from(await restored.Body!.transformToByteArray()).equals(objects.get('media/img-7.jpg')!)).toBe(true);

    // A pack of the next run damaged in the vault before it is verified: the verification fails naming it, with an
    // ERROR alert, and nothing is copied to the DR vault.
    await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: 'media/img-8.jpg', Body: randomBytes(3000) }));
    const third = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, {
      context: context('uploads-3'),
      handlers: {
        ...logged,
        Dump: async (input) => {
          const result = await backUpFileSet(input, backupDeps);
          const packKey = `filesets/${SOURCE}/packs/${result.backupId}/000001`;
          const stored = await primaryStore.getObject(packKey);
          stored[stored.length - 40] = (stored[stored.length - 40]! + 1) % 256;
          await s3.client.send(new PutObjectCommand({ Bucket: primaryBucket, Key: packKey, Body: stored }));
          return result;
        },
      },
    });
    expect(third.status).toBe('FAILED');
    expect(third.error).toBe('VerificationFailedError');
    expect(third.cause).toMatch(/failed verification: checksum: pack \d{8}T\d{6}Z-[a-z2-7]{8}\/000001: stored bytes have SHA-256/);
    expect(alerts).toHaveLength(1);
    expect(await listFileSetSnapshots(drStore, SOURCE)).toEqual(snapshots);
  }, 180_000);

  it('a run that gives up before Lambda\'s end goes on as the file-set task on Fargate under the id resolve-source chose, is verified on Fargate, copied and retained', async () => {
    const [sourceBucket, primaryBucket, drBucket] = [await s3.createBucket(), await s3.createBucket(), await s3.createBucket()];
    for (let i = 0; i < 12; i++) await s3.client.send(new PutObjectCommand({ Bucket: sourceBucket, Key: `media/big-${i}.bin`, Body: randomBytes(200_000) }));
    const primaryStore = new S3Store({ client: s3.client, bucket: primaryBucket });
    const drStore = new S3Store({ client: s3.client, bucket: drBucket });
    const keyring = testKeyring();
    const signer = localHmacSigner(randomBytes(32));
    const entry = { id: SOURCE, kind: 'fileset', s3: { bucket: sourceBucket, prefix: 'media/' } };
    const backupDeps: FileSetBackupDeps = { sources: [FileSetSourceSchema.parse(entry)], s3: s3.client, store: primaryStore, keyring, packBytes: 256 * 1024 };
    const verifyDeps: VerifyDeps = {
      sources: [VerifySourceSchema.parse({ ...entry, readDataPercent: 0 })],
      servers: {},
      secrets: { send: async () => Promise.reject(new Error('a file set needs no Secrets Manager')) },
      sns: { send: async () => ({}) } as unknown as VerifyDeps['sns'],
      alertTopicArn: SUBSTITUTIONS.AlertTopicArn,
      store: primaryStore,
      keyring,
      verificationKey: signer,
    };
    // The route the CDK construct writes for a file set with a network: Lambda first, its Fargate task for a run out of time.
    const route: SourceRoute = {
      id: SOURCE,
      kind: 'fileset',
      method: 'dump',
      dumpFunctionArn: BACKUP_FUNCTION,
      runner: 'auto',
      fargate: {
        cluster: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/lifeboat-runner`,
        dumpTaskDefinition: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/lifeboat-fileset:1`,
        verifyTaskDefinition: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/lifeboat-verify:1`,
        subnets: ['subnet-0a1b2c3d4e5f60001'],
        securityGroups: ['sg-0a1b2c3d4e5f60003'],
        verifySubnets: ['subnet-0a1b2c3d4e5f60001'],
        verifySecurityGroups: ['sg-0a1b2c3d4e5f60005'],
        cpu: 4096,
        memoryMiB: 8192,
        autoAfterMinutes: 10,
        autoAboveRawGiB: 40,
      },
    };
    const tasks: { TaskDefinition: string; event: unknown }[] = [];
    const onFargate = (core: (event: unknown) => Promise<unknown>): TaskHandler => async (input) => {
      const request = input as { TaskDefinition: string; Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } };
      const event = JSON.parse(request.Overrides.ContainerOverrides[0]!.Environment.find((e) => e.Name === 'LIFEBOAT_TASK_EVENT')!.Value);
      tasks.push({ TaskDefinition: request.TaskDefinition, event });
      await core(event);
      return { LastStatus: 'STOPPED', Containers: [{ ExitCode: 0 }] };
    };
    const copyDeps: CopyDeps = {
      primary: { client: s3.client, bucket: primaryBucket },
      dr: { client: s3.client, bucket: drBucket, region: DR_REGION, kmsKeyId: DR_KEY },
      drRds: new RDSClient({ region: DR_REGION }),
    };
    const pruneDeps: PruneDeps = {
      sources: [{ id: SOURCE, kind: 'fileset', timeZone: 'UTC', retention: { days: 7, keepLast: 24, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } }, snapshots: false }],
      vaults: [{ store: primaryStore, keyring }, { store: drStore, keyring }],
      rds: {},
      authenticator: signer,
    };
    const run = await runStateMachine(definition, { sourceId: SOURCE, trigger: 'schedule' }, {
      context: context('uploads-fargate'),
      handlers: {
        DescribeSource: (input) => resolveSource(input, [route], { store: primaryStore }),
        // Lambda's clock: a minute left after the first pack, less than the 90 s the backup keeps in hand.
        Dump: (input) => backUpFileSet(input, { ...backupDeps, remainingMs: () => 60_000 }),
        DumpOnFargate: onFargate((event) => backUpFileSet(event, backupDeps)),
        ReadFargateDump: (input) => dumpResult(input, primaryStore, [route]),
        VerifyOnFargate: onFargate((event) => verifySourceBackup(event, verifyDeps)),
        CopyToDr: (input) => handleCopyEvent(input, copyDeps),
        ApplyRetention: async (input) => {
          const { reports: _reports, ...summary } = await pruneSource(input, pruneDeps);
          return summary;
        },
        RecordSuccess: async () => ({}),
        PublishAlert: async (input) => {
          throw new Error(`no alert expected: ${JSON.stringify(input)}`);
        },
        ...Object.fromEntries(
          ['Verify', 'CopyOnFargate', 'CreateSnapshot', 'DescribeSnapshot', 'RecordSnapshot', 'CopySnapshotToDr', 'DescribeSnapshotCopy', 'RecordSnapshotCopy'].map((state): [string, TaskHandler] => [
            state,
            async () => {
              throw new Error(`${state}: not on this path`);
            },
          ]),
        ),
      },
    });
    expect(run.error === undefined ? run.status : `${run.status} ${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    expect(run.visitedStates).toEqual(expect.arrayContaining(['Dump', 'DumpTimedOut', 'PrepareFargateDump', 'DumpOnFargate', 'ReadFargateDump', 'VerifyOnFargate', 'VerifiedFileSetOnFargate', 'CopyToDr', 'ApplyRetention']));
    // The verification the state machine keeps points where the task wrote it: beside the snapshot, under filesets/.
    expect((run.output as { verification: unknown }).verification).toEqual({ status: 'verified', runner: 'fargate', result: `filesets/${SOURCE}/snapshots/${(run.output as { backup: { backupId: string } }).backup.backupId}/verifications/` });
    const output = run.output as { source: { fargate: { backupId: string } }; backup: { backupId: string; kind: string; files: number }; drCopy: { kind: string } };
    expect(output.backup).toMatchObject({ backupId: output.source.fargate.backupId, kind: 'fileset', files: 12 });
    expect(output.drCopy).toMatchObject({ kind: 'fileset' });
    expect(tasks.map((t) => [t.TaskDefinition, t.event])).toEqual([
      [route.fargate!.dumpTaskDefinition, { sourceId: SOURCE, trigger: 'schedule', backupId: output.backup.backupId }],
      [route.fargate!.verifyTaskDefinition, { sourceId: SOURCE, backupId: output.backup.backupId, executionArn: expect.any(String) }],
    ]);
    // One snapshot, the Fargate run's, in both vaults and verified; the Lambda run's packs are unlisted (no snapshot).
    const snapshots = await listFileSetSnapshots(primaryStore, SOURCE);
    expect(snapshots.map((m) => m.backupId)).toEqual([output.backup.backupId]);
    expect(await listFileSetSnapshots(drStore, SOURCE)).toEqual(snapshots);
    const options = { folder: snapshotPrefix(SOURCE, output.backup.backupId), authenticator: signer, manifest: snapshots[0]! };
    expect(await readLatestVerification(primaryStore, SOURCE, output.backup.backupId, options)).toMatchObject({ status: 'verified', authenticated: true });
  }, 180_000);
});
