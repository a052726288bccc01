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
import { ConfigError, NoRecoveryPointError } from '../lib/errors.ts';
import { listFileSetSnapshots } from '../lib/fileset/catalog.ts';
import { snapshotPrefix, type FileSetManifest } from '../lib/fileset/format.ts';
import { restoreFileSet, s3Target, type RestoreTarget } from '../lib/fileset/restore.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { readLatestVerification, verificationBinding } from '../lib/vault/verification.ts';
import { type DrStepDeps, type RegionResources, regionResources } from './deps.ts';
import type { RestoreFilesParameters, RunStepEvent, StepRecord } from './events.ts';
import { now, succeededRecord } from './records.ts';
import { CLOCK_SKEW_MS } from './restoreDump.ts';

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

/**
 * The newest snapshot of `sourceId` whose latest verification passed (signed, with the key), completed at or before
 * `pointInTime` when given. A snapshot claiming to have completed after its own verification began is passed over.
 */
export async function latestVerifiedSnapshot(
  region: Pick<RegionResources, 'store'>,
  sourceId: string,
  regionName: string,
  pointInTime?: string,
  authenticator?: Pick<MacSigner, 'verify'>,
): Promise<FileSetManifest> {
  const limit = pointInTime === undefined ? undefined : Date.parse(pointInTime);
  const candidates = (await listFileSetSnapshots(region.store, sourceId))
    .filter((m) => limit === undefined || Date.parse(m.completedAt) <= limit)
    .sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt));
  for (const manifest of candidates) {
    const options = { folder: snapshotPrefix(sourceId, manifest.backupId), ...(authenticator ? { authenticator, manifest } : {}) };
    const verification = await readLatestVerification(region.store, sourceId, manifest.backupId, options);
    if (verification.status !== 'verified' || (authenticator && verification.problem !== undefined)) continue;
    if (verification.result?.manifestSha256 !== verificationBinding(manifest).manifestSha256) continue;
    if (Date.parse(manifest.completedAt) > Date.parse(verification.result.startedAt) + CLOCK_SKEW_MS) continue;
    return manifest;
  }
  const when = pointInTime === undefined ? '' : ` completed at or before ${new Date(limit!).toISOString()}`;
  throw new NoRecoveryPointError(
    `No verified snapshot of file set ${sourceId}${when} in the ${regionName} vault (${region.store.location}); ` +
      (candidates.length === 0 ? 'it holds no such snapshot' : `none of the ${candidates.length} such snapshot(s) passed its latest verification`),
  );
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
