/**
 * Checking a file-set snapshot: the manifest, index and file list read and authenticated; every pack present
 * with its recorded size; and (`readDataPercent` > 0) packs re-read in full: stored SHA-256, decryption of every
 * frame, and each chunk decompressed and its keyed hash recomputed. A damaged pack is named, not just counted.
 */
import { createHash, createHmac, randomInt } from 'node:crypto';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { isUnwrapFailure, wrongKeyError } from '../crypto/envelope.ts';
import {
  BackupNotFoundError,
  ChecksumMismatchError,
  DecompressionFailedError,
  DecryptionFailedError,
  ManifestInvalidError,
  ObjectNotFoundError,
  SizeMismatchError,
} from '../errors.ts';
import type { VaultStore } from '../vault/store.ts';
import { loadIndex, readFiles } from './catalog.ts';
import { decompressChunk } from './chunkCodec.ts';
import { type FileSetManifest, type PackListEntry, type PackRecord, packKey, packOwner, parsePackList, snapshotObjectKey } from './format.ts';
import { openPack } from './packs.ts';
import { loadChunkIdKey } from './sealed.ts';

/** What a damaged snapshot fails with; every other error is the environment's or the operator's, never a verdict. */
const DAMAGE = [ChecksumMismatchError, SizeMismatchError, ObjectNotFoundError, BackupNotFoundError, DecryptionFailedError, DecompressionFailedError, ManifestInvalidError];

export interface FileSetProblem {
  /** The pack, or `index`/`files`. */
  readonly object: string;
  readonly error: string;
  readonly message: string;
}

export interface FileSetVerification {
  readonly ok: boolean;
  readonly packs: number;
  readonly packsRead: number;
  readonly chunksChecked: number;
  readonly problems: readonly FileSetProblem[];
}

export interface FileSetVerifyOptions {
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  readonly manifest: FileSetManifest;
  /** Share of packs read in full, 0-100. @default 100 */
  readonly readDataPercent?: number;
  /**
   * Whether the packs this snapshot wrote itself are all read, whatever `readDataPercent` says (the scheduled
   * verification of a new backup: its new data in full, a sample of the old). @default false
   */
  readonly readNewPacks?: boolean;
}

export async function verifyFileSet(options: FileSetVerifyOptions): Promise<FileSetVerification> {
  const { store, keyring, manifest } = options;
  const problems: FileSetProblem[] = [];
  // Damage is recorded and named; anything else (a key that cannot unwrap, the vault unreachable, access denied)
  // is not a fault of the snapshot and is thrown, so no verdict is ever made of an operator's error.
  const record = (object: string, error: unknown) => {
    if (error instanceof DecryptionFailedError && isUnwrapFailure(error)) throw wrongKeyError(manifest.backupId, error, 'nothing was recorded');
    if (!DAMAGE.some((kind) => error instanceof kind)) throw error;
    problems.push({ object, error: (error as Error).name, message: (error as Error).message });
  };

  let packs: Map<string, PackRecord>;
  let chunks: Awaited<ReturnType<typeof loadIndex>>['chunks'];
  try {
    ({ packs, chunks } = await loadIndex(store, keyring, manifest));
  } catch (error) {
    record('index', error);
    return { ok: false, packs: 0, packsRead: 0, chunksChecked: 0, problems };
  }
  try {
    for await (const file of readFiles(store, keyring, manifest)) {
      const missing = file.chunks.find((id) => !chunks.has(id));
      if (missing) record('files', new ManifestInvalidError(`${file.path}: chunk ${missing.slice(0, 12)}… is not in the index`));
    }
  } catch (error) {
    record('files', error);
  }

  if (manifest.packList) {
    try {
      await checkPackList(store, manifest, packs);
    } catch (error) {
      record('packs', error);
    }
  }

  const names = [...packs.keys()];
  for (const name of names) {
    const head = await store.head(packKey(manifest.sourceId, name));
    const expected = packs.get(name)!.storedBytes;
    if (!head) record(name, new ObjectNotFoundError(`pack ${name} is missing`));
    else if (head.bytes !== expected) record(name, new SizeMismatchError(`pack ${name} is ${head.bytes} bytes, the index says ${expected}`));
  }

  const percent = options.readDataPercent ?? 100;
  const isNew = (name: string) => options.readNewPacks === true && packOwner(name) === manifest.backupId;
  const toRead = [...names.filter(isNew), ...pickSubset(names.filter((name) => !isNew(name)), percent)].sort();
  const chunkIdKey = await loadChunkIdKey(store, keyring, manifest.sourceId, manifest.chunkIdKey);
  let chunksChecked = 0;
  for (const name of toRead) {
    if (problems.some((p) => p.object === name)) continue;
    try {
      chunksChecked += await checkPack(store, keyring, manifest.sourceId, packs.get(name)!, chunkIdKey);
    } catch (error) {
      record(name, await storedBytesProblem(store, manifest.sourceId, packs.get(name)!, error));
    }
  }
  return { ok: problems.length === 0, packs: names.length, packsRead: toRead.length, chunksChecked, problems };
}

/**
 * The plain `packs` list (format 1.1) against the index: the same packs, sizes and SHA-256s, and the list's own
 * bytes the manifest's. The copy to the air-gapped vault, which cannot decrypt the index, copies and proves packs
 * by this list, so a list that says less or other than the index fails the snapshot's `structure` check.
 */
async function checkPackList(store: VaultStore, manifest: FileSetManifest, packs: ReadonlyMap<string, PackRecord>): Promise<void> {
  const key = snapshotObjectKey(manifest.sourceId, manifest.backupId, 'packs');
  const expected = manifest.packList!;
  const bytes = await store.getObject(key);
  if (bytes.byteLength !== expected.storedBytes) throw new SizeMismatchError(`${key}: ${bytes.byteLength} bytes stored, the manifest says ${expected.storedBytes}`);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== expected.sha256) throw new ChecksumMismatchError(`${key}: SHA-256 ${digest}, the manifest says ${expected.sha256}`);
  const listed = parsePackList(bytes, key);
  const differs = (entry: PackListEntry) => {
    const indexed = packs.get(entry.pack);
    return !indexed || indexed.storedBytes !== entry.storedBytes || indexed.sha256 !== entry.sha256;
  };
  const wrong = listed.find(differs);
  if (wrong) throw new ManifestInvalidError(`${key}: pack ${wrong.pack} is not in the index as listed`);
  if (listed.length !== packs.size || new Set(listed.map((e) => e.pack)).size !== packs.size) {
    throw new ManifestInvalidError(`${key} lists ${listed.length} pack(s), the index ${packs.size}`);
  }
}

/** `percent` of the packs chosen at random (at least one when any is asked for), as restic's --read-data-subset. */
function pickSubset(names: readonly string[], percent: number): string[] {
  if (percent >= 100) return [...names];
  if (percent <= 0 || names.length === 0) return [];
  const count = Math.max(1, Math.round((names.length * percent) / 100));
  const pool = [...names];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count).sort();
}

/**
 * A pack that would not decrypt or decompress is first checked against the SHA-256 the index recorded: stored
 * bytes that differ are damage at rest, named as a checksum failure (a damaged header even looks like a wrong key
 * to the SDK); only a pack stored intact is a decryption problem, or points at the key.
 */
async function storedBytesProblem(store: VaultStore, sourceId: string, pack: PackRecord, error: unknown): Promise<unknown> {
  if (!(error instanceof DecryptionFailedError || error instanceof DecompressionFailedError)) return error;
  const hash = createHash('sha256');
  for await (const data of await store.getStream(packKey(sourceId, pack.pack))) hash.update(data as Buffer);
  const digest = hash.digest('hex');
  return digest === pack.sha256 ? error : new ChecksumMismatchError(`pack ${pack.pack}: stored bytes have SHA-256 ${digest}, the index says ${pack.sha256}`, { cause: error });
}

async function checkPack(store: VaultStore, keyring: BackupKeyring, sourceId: string, pack: PackRecord, chunkIdKey: Buffer): Promise<number> {
  const open = await openPack(store, keyring, sourceId, pack.pack);
  const label = `pack ${pack.pack}`;
  let checked = 0;
  try {
    for (const [id, offset, length, rawLength] of pack.chunks) {
      await open.reader.skip(offset - open.reader.position, label);
      const raw = decompressChunk(await open.reader.read(length, label), `${label}, chunk at ${offset}`);
      if (raw.byteLength !== rawLength || createHmac('sha256', chunkIdKey).update(raw).digest('hex') !== id) {
        throw new ChecksumMismatchError(`${label}: the chunk at offset ${offset} does not match its id`);
      }
      checked++;
    }
    await open.reader.drain();
    await open.done;
  } finally {
    await open.reader.close().catch(() => undefined);
  }
  const digest = open.tap.digest();
  if (open.tap.bytes !== pack.storedBytes || digest !== pack.sha256) {
    throw new ChecksumMismatchError(`${label}: stored bytes have SHA-256 ${digest}, the index says ${pack.sha256}`);
  }
  return checked;
}
