/**
 * The DR copy of a file-set snapshot (docs/vault-format.md, "File sets"): the objects that make it restorable in
 * the DR vault, copied server-side (S3 pulls them from the primary; no byte passes through the function) and
 * stored under the DR key, in an order that never shows a snapshot before everything it refers to is there:
 *
 *   1. the source's chunk-id key, once (a DR vault holding another key for the source is refused), and the copy of
 *      it sealed under the snapshot's whole keyring that its manifest names (format 1.1), once;
 *   2. every pack of this and earlier backups of the source the DR vault lacks. The copy role cannot decrypt, so it
 *      cannot read which packs the snapshot's index names: it copies the packs of every backup up to this one,
 *      and the DR vault's retention removes those no snapshot refers to, as in the primary;
 *   3. the snapshot's `index` and `files`, then its `manifest.json`, which makes it a snapshot there;
 *   4. its verification results the DR vault lacks (the DR region's retention reads them);
 *   5. with an air-gapped vault, the snapshot there too (fileSetAirGapCopy.ts).
 *
 * Each object is copied only if the DR vault does not hold it, and a pack or snapshot object is copied on the
 * condition that the primary's is still the one listed (`CopySourceIfMatch`). Out of time, the copy stops between
 * objects with `CopyInterruptedError`; the state machine calls it again and it goes on where it stopped.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BackupConflictError, BackupNotFoundError, StoreWriteFailedError } from '../lib/errors.ts';
import { parseFileSetManifest } from '../lib/fileset/format.ts';
import { CHUNK_ID_KEY_NAME, chunkIdKeyObjectKey, packOwner, packsPrefix, snapshotManifestKey, snapshotObjectKey, snapshotPrefix } from '../lib/fileset/format.ts';
import { mapConcurrent } from '../lib/vault/catalog.ts';
import { VERIFICATIONS_DIR } from '../lib/vault/layout.ts';
import { copyFileSetToAirGap } from './fileSetAirGapCopy.ts';
import { CopyInterruptedError } from './interrupted.ts';
import { MAX_SINGLE_COPY_BYTES } from './parts.ts';
import { copyMissingResults, getObject, lag, listKeys, now, outOfTime, serverSideCopy, wrapWrite, type CopyBackupResult, type S3Sender, type VaultCopyDeps } from './vaultCopy.ts';

/** Server-side copies in flight at once (packs are 16 MiB: each copy is one request). */
export const PACK_COPY_CONCURRENCY = 8;

export interface FileSetCopyResult extends CopyBackupResult {
  readonly kind: 'fileset';
  /** Packs this run copied; those the DR vault already held are not counted. */
  readonly packsCopied: number;
  /** Bytes of the packs this run copied. */
  readonly packBytesCopied: number;
}

interface Listed {
  readonly key: string;
  readonly etag: string | undefined;
  readonly bytes: number;
}

export async function copyFileSet(request: { readonly sourceId: string; readonly backupId: string }, deps: VaultCopyDeps): Promise<FileSetCopyResult> {
  const { sourceId, backupId } = request;
  const key = snapshotManifestKey(sourceId, backupId);
  const source = await getObject(deps.primary, key);
  if (!source) throw new BackupNotFoundError(`No complete file-set snapshot ${sourceId}/${backupId} in s3://${deps.primary.bucket}: ${key} is absent`);
  const manifest = parseFileSetManifest(source.bytes, key);
  if (manifest.sourceId !== sourceId || manifest.backupId !== backupId) {
    throw new BackupConflictError(`${key} in s3://${deps.primary.bucket} describes snapshot ${manifest.sourceId}/${manifest.backupId}, not ${sourceId}/${backupId}`);
  }
  const base = { sourceId, backupId, kind: 'fileset' as const, drBucket: deps.dr.bucket, drRegion: deps.dr.region, manifestKey: key };

  const existing = await getObject(deps.dr, key);
  if (existing) {
    if (!existing.bytes.equals(source.bytes)) throw new BackupConflictError(`The DR vault s3://${deps.dr.bucket} already holds a different ${key}; refusing to overwrite it`);
    const verificationsCopied = await copyResults(sourceId, backupId, deps);
    const airGap = deps.airGap ? await copyFileSetToAirGap(manifest, source.bytes, { ...deps, airGap: deps.airGap }) : {};
    return { ...base, packsCopied: 0, packBytesCopied: 0, verificationsCopied, alreadyCopied: true, ...airGap, ...lag(manifest, existing.lastModified ?? now(deps)) };
  }

  await copyChunkIdKey(sourceId, CHUNK_ID_KEY_NAME, deps);
  // The copy sealed under the snapshot's whole keyring, which restore and verify read (format 1.1).
  if (manifest.chunkIdKey !== undefined) await copyChunkIdKey(sourceId, manifest.chunkIdKey, deps);

  // Packs are named <backupId>/<nnnnnn>: those of this backup and every earlier one, which the DR vault lacks.
  const held = new Set(await listKeys(deps.dr, packsPrefix(sourceId)));
  const wanted = (await listObjects(deps.primary, packsPrefix(sourceId))).filter((pack) => {
    const owner = packOwner(pack.key.slice(packsPrefix(sourceId).length));
    return owner !== undefined && owner <= backupId && !held.has(pack.key);
  });
  let packBytesCopied = 0;
  let packsCopied = 0;
  await mapConcurrent(wanted, PACK_COPY_CONCURRENCY, async (pack) => {
    stopIfOutOfTime(deps, `${wanted.length - packsCopied} of ${wanted.length} pack(s) of ${sourceId}/${backupId} still to copy`);
    await wrapWrite(pack.key, deps, () => serverSideCopy(pack.key, pack.etag, deps));
    packsCopied += 1;
    packBytesCopied += pack.bytes;
  });

  // Then the snapshot's own objects, the manifest last: only a snapshot whose packs are all there is listed.
  for (const name of manifest.packList ? (['index', 'files', 'packs'] as const) : (['index', 'files'] as const)) {
    const objectKey = snapshotObjectKey(sourceId, backupId, name);
    const pinned = name === 'packs' ? manifest.packList : manifest.objects.find((o) => o.key === name);
    if (pinned && pinned.storedBytes > MAX_SINGLE_COPY_BYTES) {
      throw new StoreWriteFailedError(`${objectKey} is ${pinned.storedBytes} bytes, more than one CopyObject moves (5 GiB): split the source into smaller file sets`);
    }
    stopIfOutOfTime(deps, `${objectKey} and the manifest still to copy`);
    await wrapWrite(objectKey, deps, () => serverSideCopy(objectKey, undefined, deps));
  }
  await wrapWrite(key, deps, () => serverSideCopy(key, source.etag, deps));
  const copiedAt = now(deps);
  const verificationsCopied = await copyResults(sourceId, backupId, deps);
  // Then the air-gapped vault, when there is one (docs/air-gapped-vault.md, "File sets").
  const airGap = deps.airGap ? await copyFileSetToAirGap(manifest, source.bytes, { ...deps, airGap: deps.airGap }) : {};
  return { ...base, packsCopied, packBytesCopied, verificationsCopied, alreadyCopied: false, ...airGap, ...lag(manifest, copiedAt) };
}

/** A chunk-id key object of the source: copied once; a DR vault holding a different one by that name is refused. */
async function copyChunkIdKey(sourceId: string, name: string, deps: VaultCopyDeps): Promise<void> {
  const key = chunkIdKeyObjectKey(sourceId, name);
  const primary = await getObject(deps.primary, key);
  if (!primary) throw new BackupNotFoundError(`No chunk-id key for file set ${sourceId} in s3://${deps.primary.bucket}: ${key} is absent`);
  const dr = await getObject(deps.dr, key);
  if (!dr) {
    await wrapWrite(key, deps, () => serverSideCopy(key, primary.etag, deps));
  } else if (!dr.bytes.equals(primary.bytes)) {
    throw new BackupConflictError(`The DR vault s3://${deps.dr.bucket} holds another chunk-id key for file set ${sourceId} (${key}); refusing to mix two keys' packs`);
  }
}

/** The snapshot's verification results the DR vault lacks. */
function copyResults(sourceId: string, backupId: string, deps: VaultCopyDeps): Promise<number> {
  return copyMissingResults(`${snapshotPrefix(sourceId, backupId)}${VERIFICATIONS_DIR}/`, deps);
}

function stopIfOutOfTime(deps: VaultCopyDeps, left: string): void {
  if (outOfTime(deps)) {
    throw new CopyInterruptedError(`Stopped copying before the runner's time ran out (${left}); a rerun copies only what the DR vault still lacks`);
  }
}

async function listObjects(vault: { client: S3Sender; bucket: string }, prefix: string): Promise<Listed[]> {
  const objects: Listed[] = [];
  let token: string | undefined;
  do {
    const page = await vault.client.send(new ListObjectsV2Command({ Bucket: vault.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key !== undefined) objects.push({ key: object.Key, etag: object.ETag, bytes: object.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return objects.sort((a, b) => (a.key < b.key ? -1 : 1));
}
