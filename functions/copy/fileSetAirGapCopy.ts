/**
 * Copies one verified file-set snapshot into the air-gapped vault (docs/air-gapped-vault.md, "File sets"), after its
 * DR copy. As for dumps, the workload account may only add objects there and never reads them, so each copy asks S3
 * for the SHA-256 of what it stored and compares it with what it must be:
 *
 *   1. the packs the snapshot refers to, from its plain pack list (format 1.1; bound to the manifest by SHA-256 and
 *      checked against the encrypted index by verification, so the copy role, which never decrypts, knows them):
 *      each proven against the list's SHA-256; those an earlier copy proved are skipped;
 *   2. the chunk-id key object the manifest names (sealed under every key of the snapshot's keyring);
 *   3. the snapshot's `index`, `files` and `packs`, each proven against the manifest;
 *   4. its verification results, then the manifest last, proven against the bytes read from the primary vault.
 *
 * Only a snapshot sealed under the air-gapped key is copied: one written before `vaultAccount.keyArn` was set would
 * not open there, so it is skipped with a warning (the next backup is sealed under it; format 1.1's backup never
 * builds on a parent sealed under fewer keys). What is proven is recorded in the DR vault, per source
 * (`filesets/<source>/air-gap.json`), so a rerun and the next snapshot copy only the packs not yet there.
 */
import { createHash } from 'node:crypto';
import { ChecksumMismatchError, ObjectNotFoundError, SizeMismatchError } from '../lib/errors.ts';
import {
  CHUNK_ID_KEY_NAME,
  type FileSetManifest,
  type PackListEntry,
  chunkIdKeyObjectKey,
  fileSetPrefix,
  packKey,
  packOwner,
  parsePackList,
  snapshotManifestKey,
  snapshotObjectKey,
  snapshotPrefix,
} from '../lib/fileset/format.ts';
import { mapConcurrent } from '../lib/vault/catalog.ts';
import { AIR_GAP_PROGRESS_NAME, VERIFICATIONS_DIR } from '../lib/vault/layout.ts';
import { checksumHex, copyObjectToAirGap, type AirGapTarget, type FileSetAirGapCopyResult } from './airGapCopy.ts';
import { CopyInterruptedError } from './interrupted.ts';
import { getObject, listKeys, outOfTime, putDrJson, readAirGapRecord, type VaultCopyDeps } from './vaultCopy.ts';

/** Pack copies in flight at once (16 MiB packs: one CopyObject each). */
export const AIR_GAP_PACK_CONCURRENCY = 8;
/** The progress record is written after this many newly proven packs, and when the run stops. */
export const PROGRESS_EVERY_PACKS = 256;


/** The air-gapped copy of `manifest` (whose bytes, as read from the primary vault, are `manifestBytes`). */
export async function copyFileSetToAirGap(
  manifest: FileSetManifest,
  manifestBytes: Buffer,
  deps: VaultCopyDeps & { readonly airGap: AirGapTarget },
): Promise<{ airGap?: FileSetAirGapCopyResult; warnings?: string[] }> {
  const { sourceId, backupId } = manifest;
  const target = deps.airGap;
  const keyring = manifest.encryption.keyring;
  if (keyring.type !== 'kms' || !keyring.keyIds.includes(target.kmsKeyId)) {
    const sealed = keyring.type === 'kms' ? `KMS key(s) ${keyring.keyIds.join(', ')}` : `the local key ${keyring.keyName}`;
    return {
      warnings: [
        `File-set snapshot ${sourceId}/${backupId} was not copied to the air-gapped vault: it is sealed under ${sealed}, not the air-gapped key ${target.kmsKeyId}, ` +
          'so it would not open there (written before vaultAccount.keyArn was set). The next backup is sealed under it and reads every file again.',
      ],
    };
  }
  if (!manifest.packList) {
    return { warnings: [`File-set snapshot ${sourceId}/${backupId} was not copied to the air-gapped vault: format ${manifest.formatVersion} has no pack list, which the copy needs (1.1)`] };
  }
  const where = `the air-gapped vault s3://${target.bucket}`;
  const packs = await readPackList(manifest, deps);
  const progress = await loadProgress(sourceId, target, deps);
  const todo = packs.filter((pack) => progress.packs.get(pack.pack) !== pack.sha256);
  let packsCopied = 0;
  let packBytesCopied = 0;
  let saved = 0;
  let saving: Promise<void> = Promise.resolve();
  // One write at a time, each of the whole record; only this snapshot's packs and later ones' are kept in it.
  const save = () => {
    saving = saving.then(() => putDrJson(progress.key, progressBody(progress.packs, packs, backupId, target), deps));
    return saving;
  };
  try {
    await mapConcurrent(todo, AIR_GAP_PACK_CONCURRENCY, async (pack) => {
      if (outOfTime(deps)) {
        throw new CopyInterruptedError(
          `Stopped the air-gapped copy of file-set snapshot ${sourceId}/${backupId} with ${todo.length - packsCopied} of ${todo.length} pack(s) to go: the runner's time is nearly up. ` +
            'The DR copy is complete; a rerun copies only the packs not yet proven there.',
        );
      }
      const key = packKey(sourceId, pack.pack);
      const sha256 = checksumHex(await copyObjectToAirGap(key, deps.primary.bucket, target, true));
      if (sha256 !== pack.sha256) {
        throw new ChecksumMismatchError(`The copy of ${key} in ${where} has SHA-256 ${sha256}, the snapshot's pack list records ${pack.sha256}; the manifest was not copied`);
      }
      progress.packs.set(pack.pack, sha256);
      packsCopied += 1;
      packBytesCopied += pack.storedBytes;
      if (packsCopied - saved >= PROGRESS_EVERY_PACKS) {
        saved = packsCopied;
        await save();
      }
    });
  } finally {
    // What was proven stays proven for the rerun, whatever stopped this one.
    if (packsCopied > saved) await save().catch(() => undefined);
  }
  await saving;

  // The chunk-id key (small: read, hashed, copied and proven), the snapshot's objects, its results, the manifest.
  const chunkKey = chunkIdKeyObjectKey(sourceId, manifest.chunkIdKey ?? CHUNK_ID_KEY_NAME);
  const chunkObject = await getObject(deps.primary, chunkKey);
  if (!chunkObject) throw new ObjectNotFoundError(`No chunk-id key ${chunkKey} in s3://${deps.primary.bucket} for snapshot ${sourceId}/${backupId}; nothing more was copied to ${where}`);
  const proven: [string, string][] = [
    [chunkKey, sha256Of(chunkObject.bytes)],
    [snapshotObjectKey(sourceId, backupId, 'index'), manifest.objects[0].sha256],
    [snapshotObjectKey(sourceId, backupId, 'files'), manifest.objects[1].sha256],
    [snapshotObjectKey(sourceId, backupId, 'packs'), manifest.packList.sha256],
  ];
  for (const [key, expected] of proven) {
    if (outOfTime(deps)) throw new CopyInterruptedError(`Stopped the air-gapped copy of ${sourceId}/${backupId} before ${key}: the runner's time is nearly up. Every pack is there; a rerun copies the rest.`);
    const sha256 = checksumHex(await copyObjectToAirGap(key, deps.primary.bucket, target, true));
    if (sha256 !== expected) throw new ChecksumMismatchError(`The copy of ${key} in ${where} has SHA-256 ${sha256}, it must be ${expected}; the manifest was not copied`);
  }
  const results = await listKeys(deps.primary, `${snapshotPrefix(sourceId, backupId)}${VERIFICATIONS_DIR}/`);
  for (const key of results) await copyObjectToAirGap(key, deps.primary.bucket, target, false);
  const manifestKey = snapshotManifestKey(sourceId, backupId);
  const copiedManifest = checksumHex(await copyObjectToAirGap(manifestKey, deps.primary.bucket, target, true));
  if (copiedManifest !== sha256Of(manifestBytes)) {
    throw new ChecksumMismatchError(`The copy of ${manifestKey} in ${where} has SHA-256 ${copiedManifest}, not that of the manifest this copy read (${sha256Of(manifestBytes)}): the primary's changed meanwhile`);
  }
  return {
    airGap: {
      bucket: target.bucket,
      region: target.region,
      objectsCopied: packsCopied + proven.length + results.length + 1,
      packsCopied,
      packBytesCopied,
      packsAlreadyCopied: packs.length - todo.length,
    },
  };
}

/** The snapshot's pack list from the primary vault, refused unless it is the one its manifest names. */
async function readPackList(manifest: FileSetManifest, deps: VaultCopyDeps): Promise<PackListEntry[]> {
  const key = snapshotObjectKey(manifest.sourceId, manifest.backupId, 'packs');
  const expected = manifest.packList!;
  const stored = await getObject(deps.primary, key);
  if (!stored) throw new ObjectNotFoundError(`No pack list ${key} in s3://${deps.primary.bucket}; nothing was copied to the air-gapped vault`);
  if (stored.bytes.byteLength !== expected.storedBytes) {
    throw new SizeMismatchError(`${key} in s3://${deps.primary.bucket} is ${stored.bytes.byteLength} bytes, the manifest says ${expected.storedBytes}; nothing was copied to the air-gapped vault`);
  }
  const digest = sha256Of(stored.bytes);
  if (digest !== expected.sha256) {
    throw new ChecksumMismatchError(`${key} in s3://${deps.primary.bucket} has SHA-256 ${digest}, the manifest says ${expected.sha256}; nothing was copied to the air-gapped vault`);
  }
  return parsePackList(stored.bytes, key);
}

interface Progress {
  readonly key: string;
  readonly packs: Map<string, string>;
}

/**
 * `filesets/<source>/air-gap.json` in the DR vault: `{ version, bucket, account, packs: { name: sha256 } }`. A
 * record for another bucket or account, or one that does not parse, counts as none: the packs are copied again
 * (the air-gapped bucket is versioned and locked, so that only adds versions of the same bytes).
 */
async function loadProgress(sourceId: string, target: AirGapTarget, deps: VaultCopyDeps): Promise<Progress> {
  const key = `${fileSetPrefix(sourceId)}${AIR_GAP_PROGRESS_NAME}`;
  return { key, packs: await readAirGapRecord(key, 'packs', target, deps) };
}

/**
 * The record to write: packs of this snapshot and of later backups only. A later snapshot refers to no pack older
 * than this one's (it builds on this one's index), so nothing dropped here is needed again.
 */
function progressBody(proven: ReadonlyMap<string, string>, packs: readonly PackListEntry[], backupId: string, target: AirGapTarget): string {
  const mine = new Set(packs.map((p) => p.pack));
  const kept = [...proven].filter(([name]) => mine.has(name) || (packOwner(name) ?? '') > backupId).sort(([a], [b]) => a.localeCompare(b));
  return `${JSON.stringify({ version: 1, bucket: target.bucket, account: target.account, packs: Object.fromEntries(kept) })}\n`;
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
