/**
 * One configuration backup: the selected items streamed as JSON Lines through zstd and the backup's
 * envelope (AWS Encryption SDK, the same keyring and encryption context as a dump) into
 * `backups/<sourceId>/<backupId>/payload`, then the manifest, written last. A failed run removes its
 * payload and leaves every earlier backup as it was.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createCompressStream, DEFAULT_ZSTD_LEVEL } from '../codec/zstd.ts';
import { backupEncryptionContext, createEncryptStream, describeEncryption } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { ByteCounter, HashingCounter } from '../engine/progress.ts';
import { LIFEBOAT_VERSION } from '../engine/version.ts';
import { LifeboatError, ObjectNotFoundError, SizeMismatchError, StoreWriteFailedError } from '../errors.ts';
import { assertSourceId, manifestKey, newBackupId, parseBackupId, PAYLOAD_NAME, payloadKey } from '../vault/layout.ts';
import { MANIFEST_FORMAT } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { collectConfigItems, type ConfigClients, type ConfigSelection } from './collect.ts';
import { CONFIG_PAYLOAD_FORMAT, itemHash, itemLine, newPayloadHeader } from './items.ts';
import { CONFIG_FORMAT_VERSION, countsOf, entryFor, serializeConfigManifest, type ConfigItemEntry, type ConfigManifest } from './manifest.ts';

export interface ConfigBackupOptions {
  readonly sourceId: string;
  readonly selection: ConfigSelection;
  /** The Region the items were read in (recorded; a restore elsewhere names its own). */
  readonly region: string;
  readonly clients: ConfigClients;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  /** @default a new id from `now` */
  readonly backupId?: string;
  /** @default new Date() */
  readonly now?: Date;
}

export async function runConfigBackup(options: ConfigBackupOptions): Promise<ConfigManifest> {
  const { sourceId, store, keyring, selection } = options;
  assertSourceId(sourceId);
  const startedAt = options.now ?? new Date();
  const clockStart = performance.now();
  const backupId = options.backupId ?? newBackupId(startedAt);
  parseBackupId(backupId);
  const key = payloadKey(sourceId, backupId);
  const encryptionContext = backupEncryptionContext(sourceId, backupId);
  const entries: ConfigItemEntry[] = [];

  const header = newPayloadHeader();
  async function* lines(): AsyncGenerator<Buffer> {
    yield Buffer.from(`${JSON.stringify(header)}\n`);
    for await (const item of collectConfigItems(selection, options.clients)) {
      const line = itemLine(item);
      entries.push(entryFor(item, itemHash(header.salt, line)));
      yield Buffer.from(`${line}\n`);
    }
  }

  const raw = new ByteCounter();
  const stored = new HashingCounter();
  try {
    const source = Readable.from(lines(), { objectMode: false });
    const stages = [source, raw, createCompressStream({ level: DEFAULT_ZSTD_LEVEL }), createEncryptStream(keyring, encryptionContext), stored];
    let first: unknown;
    for (const stage of stages) stage.on('error', (error) => (first ??= error));
    const pumped = pipeline(stages);
    const put = store.putStream(key, stored).catch((error: unknown) => {
      first ??= error instanceof LifeboatError ? error : new StoreWriteFailedError(`Storing the configuration payload failed: ${String(error)}`, { cause: error });
      source.destroy(error instanceof Error ? error : new Error(String(error)));
    });
    await Promise.allSettled([pumped, put]);
    if (first) throw first;

    const manifest: ConfigManifest = {
      format: MANIFEST_FORMAT,
      formatVersion: CONFIG_FORMAT_VERSION,
      backupId,
      sourceId,
      kind: 'config',
      startedAt: startedAt.toISOString(),
      completedAt: new Date(startedAt.getTime() + Math.ceil(performance.now() - clockStart)).toISOString(),
      source: {
        region: options.region,
        selection: {
          ssmPaths: [...selection.ssmPaths],
          secretPrefixes: [...selection.secretPrefixes],
          secretTags: selection.secretTags.map((t) => ({ ...t })),
          stacks: [...selection.stacks],
        },
      },
      tools: { lifeboat: LIFEBOAT_VERSION },
      payload: { key: PAYLOAD_NAME, format: CONFIG_PAYLOAD_FORMAT, rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.digest() },
      compression: { codec: 'zstd', level: DEFAULT_ZSTD_LEVEL },
      encryption: describeEncryption(keyring, encryptionContext),
      content: { items: entries, counts: countsOf(entries) },
    };
    const body = serializeConfigManifest(manifest);
    const head = await store.head(key);
    if (!head) throw new ObjectNotFoundError(`Refusing to write the manifest: payload ${key} is not in ${store.location}`);
    if (head.bytes !== stored.bytes) throw new SizeMismatchError(`Refusing to write the manifest: ${key} holds ${head.bytes} bytes, expected ${stored.bytes}`);
    await store.putObject(manifestKey(sourceId, backupId), body);
    return manifest;
  } catch (error) {
    await store.delete(key).catch(() => {});
    throw error;
  }
}
