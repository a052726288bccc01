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
import { readConfigManifest, restoreConfigBackup, type ConfigTargets, type ItemOutcome } from '../lib/configset/index.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { ConfigError, NoRecoveryPointError } from '../lib/errors.ts';
import type { ConfigManifest } from '../lib/vault/configManifest.ts';
import { readAnyManifests, scanBackupFolders } from '../lib/vault/catalog.ts';
import { readLatestVerification, verificationBinding } from '../lib/vault/verification.ts';
import { type DrStepDeps, type RegionResources, regionResources } from './deps.ts';
import type { RestoreConfigParameters, RunStepEvent, StepRecord } from './events.ts';
import { now, succeededRecord } from './records.ts';
import { CLOCK_SKEW_MS } from './restoreDump.ts';

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

/**
 * The newest configuration backup of `sourceId` whose latest verification passed (signed, with the key, and bound to
 * its manifest), completed at or before `pointInTime` when given. A backup claiming to have completed after its own
 * verification began is passed over: its completion time is the writer's, the result is the verifier's.
 */
export async function latestVerifiedConfigBackup(
  region: Pick<RegionResources, 'store'>,
  sourceId: string,
  regionName: string,
  pointInTime?: string,
  authenticator?: Pick<MacSigner, 'verify'>,
): Promise<ConfigManifest> {
  const limit = pointInTime === undefined ? undefined : Date.parse(pointInTime);
  const folders = (await scanBackupFolders(region.store, { sourceId })).filter((f) => f.hasManifest);
  const candidates = (await readAnyManifests(region.store, folders, { onUnreadable: () => {} }))
    .map((entry) => entry.manifest)
    .filter((m): m is ConfigManifest => m.kind === 'config' && m.sourceId === sourceId && (limit === undefined || Date.parse(m.completedAt) <= limit))
    .sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt));
  for (const manifest of candidates) {
    const verification = await readLatestVerification(region.store, sourceId, manifest.backupId, authenticator ? { authenticator, manifest } : {});
    if (verification.status !== 'verified' || (authenticator && verification.problem !== undefined)) continue;
    if (verification.result?.manifestSha256 !== verificationBinding(manifest).manifestSha256) continue;
    if (Date.parse(manifest.completedAt) > Date.parse(verification.result.startedAt) + CLOCK_SKEW_MS) continue;
    // Read again by itself: the same checks as every other reader of one backup.
    return readConfigManifest(region.store, sourceId, manifest.backupId);
  }
  const when = pointInTime === undefined ? '' : ` completed at or before ${new Date(limit!).toISOString()}`;
  throw new NoRecoveryPointError(
    `No verified configuration backup of source ${sourceId}${when} in the ${regionName} vault (${region.store.location}); ` +
      (candidates.length === 0 ? 'it holds no such backup' : `none of the ${candidates.length} such backup(s) passed its latest verification`),
  );
}
