/**
 * The `restore-config` step: the latest verified configuration backup of a source (at or before a point in time) from
 * the chosen region's vault, written back into that region (docs/configuration.md): SSM parameters with PutParameter
 * (a SecureString stays one, under the step's KMS key or the account's `alias/aws/ssm`), secrets as versions carrying
 * the stages they had. Every item is first compared with the target; an item the target holds with another value is
 * kept as it is unless the step says `overwrite`. The whole payload is verified before the first write.
 *
 * A drill writes nothing: it reads and checks every item and compares each with the target region, and records what a
 * real run would write, overwrite or keep. Stacks are never written by the step (their templates are files for an
 * operator to review and create: `lifeboat restore --stacks-dir`); the record lists them as skipped.
 */
import { restoreConfigBackup, type ConfigTargets, type ItemOutcome } from '../lib/configset/index.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { ConfigError } from '../lib/errors.ts';
import type { ConfigManifest } from '../lib/vault/configManifest.ts';
import { readAnyManifests, scanBackupFolders } from '../lib/vault/catalog.ts';
import { readLatestVerification } from '../lib/vault/verification.ts';
import { type DrStepDeps, type RegionResources, regionResources } from './deps.ts';
import type { RestoreConfigParameters, RunStepEvent, StepRecord } from './events.ts';
import { now, succeededRecord } from './records.ts';
import { latestVerified } from './recoveryPoint.ts';

export async function runRestoreConfigStep(event: RunStepEvent, parameters: RestoreConfigParameters, deps: DrStepDeps): Promise<StepRecord> {
  const startedAt = now(deps);
  const region = regionResources(deps, parameters.region);
  const manifest = await latestVerifiedConfigBackup(region, parameters.source, parameters.region, parameters.pointInTime, deps.verificationKey);
  if (!deps.config) throw new ConfigError(`Step '${event.stepId}': this function has no SSM and Secrets Manager clients for restore targets`);
  // Stacks are never written by the step: no stacks directory.
  const targets: ConfigTargets = deps.config(region.name);
  const drill = event.mode === 'drill';
  const result = await restoreConfigBackup({
    store: region.store,
    manifest,
    keyring: region.keyring,
    targets,
    dryRun: drill,
    overwrite: parameters.overwrite,
    ...(parameters.parameterKmsKeyId ? { parameterKmsKeyId: parameters.parameterKmsKeyId } : {}),
    ...(parameters.secretKmsKeyId ? { secretKmsKeyId: parameters.secretKmsKeyId } : {}),
  });
  const named = (action: ItemOutcome['action']) => result.items.filter((i) => i.action === action).map((i) => `${i.type} ${i.name}`);
  return succeededRecord(
    event.stepId,
    'restore-config',
    startedAt.toISOString(),
    {
      sourceId: manifest.sourceId,
      region: parameters.region,
      targetRegion: region.name,
      backupId: manifest.backupId,
      backupCompletedAt: manifest.completedAt,
      // The items were read one after another from the start of the backup.
      restoredDataAt: manifest.startedAt,
      items: result.items.length,
      // What was written (a drill: what would have been), by name; never a value.
      written: named('write'),
      overwritten: named('overwrite'),
      unchanged: named('none').length,
      kept: named('kept'),
      skipped: named('skipped'),
      ...(result.noEchoParameters.length === 0 ? {} : { noEchoParameters: result.noEchoParameters.map((p) => `${p.stack}.${p.parameter}`) }),
      overwrite: parameters.overwrite,
      drill,
    },
    deps,
  );
}

/** The newest verified configuration backup of `sourceId` (at or before `pointInTime`) in a vault (recoveryPoint.ts). */
export async function latestVerifiedConfigBackup(
  region: Pick<RegionResources, 'store'>,
  sourceId: string,
  regionName: string,
  pointInTime?: string,
  authenticator?: Pick<MacSigner, 'verify'>,
): Promise<ConfigManifest> {
  const folders = (await scanBackupFolders(region.store, { sourceId })).filter((f) => f.hasManifest);
  const candidates = (await readAnyManifests(region.store, folders, { onUnreadable: () => {} }))
    .map((entry) => entry.manifest)
    .filter((m): m is ConfigManifest => m.kind === 'config' && m.sourceId === sourceId);
  return latestVerified({
    candidates,
    pointInTime,
    authenticator,
    readVerification: (manifest, options) => readLatestVerification(region.store, sourceId, manifest.backupId, options),
    describe: (when) => ({ what: `verified configuration backup of source ${sourceId}${when}`, where: `${regionName} vault (${region.store.location})`, none: 'backup' }),
  });
}
