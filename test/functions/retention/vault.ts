/** Backups in a real LocalStore for the prune tests, written the way a backup run writes them. */
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { parseBackupId, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { sampleManifest, sampleVerification } from '../vault/fixtures.ts';

const PAYLOAD = Buffer.from('encrypted bytes stand-in');
const MINUTE = 60_000;

/**
 * Payload, then manifest (completed 10 minutes after the id's start), then one verification result per
 * entry of `verifications`, a minute apart, in order (the last is the newest).
 */
export async function storeBackup(
  store: VaultStore,
  sourceId: string,
  backupId: string,
  verifications: readonly ('verified' | 'failed')[] = [],
): Promise<void> {
  const started = parseBackupId(backupId).time;
  await store.putObject(payloadKey(sourceId, backupId), PAYLOAD);
  const base = sampleManifest();
  const manifest = sampleManifest({
    sourceId,
    backupId,
    startedAt: started.toISOString(),
    completedAt: new Date(started.getTime() + 10 * MINUTE).toISOString(),
    payload: { ...base.payload!, storedBytes: PAYLOAD.length },
  });
  await writeManifest(store, manifest);
  for (const [index, status] of verifications.entries()) {
    const at = new Date(started.getTime() + (20 + index) * MINUTE);
    await store.putObject(verificationKey(sourceId, backupId, at), JSON.stringify(sampleVerification({ sourceId, backupId, status, at, manifest })));
  }
}

/** A backup folder without a manifest: an upload in progress, or one that died. */
export async function storeIncomplete(store: VaultStore, sourceId: string, backupId: string): Promise<void> {
  await store.putObject(payloadKey(sourceId, backupId), PAYLOAD);
}

export async function allKeys(store: VaultStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list('')) keys.push(key);
  return keys;
}

/** `store` with every delete recorded, and a chance to make a delete fail. */
export function instrumented(
  store: VaultStore,
  failDelete: (key: string) => Error | undefined = () => undefined,
): { store: VaultStore; deletes: string[] } {
  const deletes: string[] = [];
  const wrapped: VaultStore = {
    location: store.location,
    putStream: (key, body) => store.putStream(key, body),
    putObject: (key, data) => store.putObject(key, data),
    getStream: (key) => store.getStream(key),
    getObject: (key) => store.getObject(key),
    head: (key) => store.head(key),
    list: (prefix) => store.list(prefix),
    delete: async (key) => {
      const error = failDelete(key);
      if (error) throw error;
      deletes.push(key);
      await store.delete(key);
    },
  };
  return { store: wrapped, deletes };
}
