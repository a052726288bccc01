/**
 * The `restore-files` step: the latest verified snapshot of an S3 file set (at or before a point in time) from the
 * chosen region's vault, restored into the plan's bucket and prefix (docs/file-sets.md). Nothing is written if any
 * object it would restore is already there (the engine checks every one first, naming them). A drill restores into
 * nowhere: every chunk is read, decrypted, decompressed and checked, and every file's SHA-256 compared, exactly as
 * for a real restore, but no byte is written, so a drill never touches the target and leaves nothing behind.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../lib/errors.ts';
import { listFileSetSnapshots } from '../lib/fileset/catalog.ts';
import { snapshotPrefix, type FileSetManifest } from '../lib/fileset/format.ts';
import { restoreFileSet, s3Target, type RestoreTarget } from '../lib/fileset/restore.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { readLatestVerification } from '../lib/vault/verification.ts';
import { type DrStepDeps, type RegionResources, regionResources } from './deps.ts';
import type { RestoreFilesParameters, RunStepEvent, StepRecord } from './events.ts';
import { now, succeededRecord } from './records.ts';
import { latestVerified } from './recoveryPoint.ts';

export async function runRestoreFilesStep(event: RunStepEvent, parameters: RestoreFilesParameters, deps: DrStepDeps): Promise<StepRecord> {
  const startedAt = now(deps);
  const region = regionResources(deps, parameters.region);
  const manifest = await latestVerifiedSnapshot(region, parameters.source, parameters.region, parameters.pointInTime, deps.verificationKey);
  const drill = event.mode === 'drill';
  let target: RestoreTarget;
  if (drill) {
    target = discardTarget();
  } else {
    if (!deps.s3) throw new ConfigError(`Step '${event.stepId}': this function has no S3 client for restore targets`);
    target = s3Target(deps.s3(region.name) as S3Client, parameters.target.bucket, parameters.target.prefix);
  }
  const restored = await restoreFileSet({
    store: region.store,
    keyring: region.keyring,
    manifest,
    target,
    ...(parameters.path === undefined ? {} : { select: parameters.path }),
  });
  return succeededRecord(
    event.stepId,
    'restore-files',
    startedAt.toISOString(),
    {
      sourceId: manifest.sourceId,
      region: parameters.region,
      backupId: manifest.backupId,
      backupCompletedAt: manifest.completedAt,
      // A file set's data is as of its listing, which starts the backup.
      restoredDataAt: manifest.startedAt,
      target: drill ? { discarded: true } : { bucket: parameters.target.bucket, prefix: parameters.target.prefix },
      ...(parameters.path === undefined ? {} : { path: parameters.path }),
      files: restored.files,
      bytes: restored.bytes,
      drill,
    },
    deps,
  );
}

/** The newest verified snapshot of file set `sourceId` (at or before `pointInTime`) in a vault (recoveryPoint.ts). */
export async function latestVerifiedSnapshot(
  region: Pick<RegionResources, 'store'>,
  sourceId: string,
  regionName: string,
  pointInTime?: string,
  authenticator?: Pick<MacSigner, 'verify'>,
): Promise<FileSetManifest> {
  return latestVerified({
    candidates: await listFileSetSnapshots(region.store, sourceId),
    pointInTime,
    authenticator,
    readVerification: (manifest, options) => readLatestVerification(region.store, sourceId, manifest.backupId, { ...options, folder: snapshotPrefix(sourceId, manifest.backupId) }),
    describe: (when) => ({ what: `verified snapshot of file set ${sourceId}${when}`, where: `${regionName} vault (${region.store.location})`, none: 'snapshot' }),
  });
}

/** A target that holds nothing and keeps nothing: the restore's own checks run on every byte as it passes. */
function discardTarget(): RestoreTarget {
  return {
    location: 'nowhere (a drill reads and checks every file without writing it)',
    exists: async () => false,
    write: async (_file, body) => {
      await pipeline(body, new Writable({ write: (_chunk, _encoding, done) => done() }));
    },
  };
}
