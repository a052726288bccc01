/**
 * A backup whose payload lifecycle moved to Deep Archive: verification stops with ArchiveRestoreInProgressError
 * (the store started the restore), records no result and drops its scratch database. Being archived is not a
 * verdict on the backup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { ArchiveRestoreInProgressError } from '../../../functions/lib/errors.ts';
import { payloadKey } from '../../../functions/lib/vault/layout.ts';
import { readLatestVerification } from '../../../functions/lib/vault/verification.ts';
import { verifyBackup } from '../../../functions/lib/verify/index.ts';
import { listPostgresDatabases, type PostgresDatabase } from '../../harness/index.ts';
import { connectionOf, tempVault, testKeyring, wrapStore } from '../engine/helpers.ts';
import { createSource, restoreServerFor } from './suite.ts';

/** Unique to this file: the scratch databases it could leave are named after it (lb_verify_tamper_archived_…). */
const SOURCE = 'tamper-archived';
const SCRATCH = 'lb_verify_tamper_archived_';

describe('verifying a backup whose payload is in Deep Archive', () => {
  const keyring = testKeyring();
  let db: PostgresDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let manifest: DumpManifest;

  beforeAll(async () => {
    db = (await createSource('postgresql', 'tamper_archived')) as PostgresDatabase;
    vault = await tempVault();
    manifest = (await runBackup({ source: connectionOf(db), sourceId: SOURCE, store: vault.store, keyring, jobs: 1 })).manifest;
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
    await vault?.remove();
  });

  it('throws ArchiveRestoreInProgressError with the store\'s outcome, records nothing and leaves no scratch database', async () => {
    const payload = payloadKey(SOURCE, manifest.backupId);
    const archived = new ArchiveRestoreInProgressError(`${payload} is in S3 Glacier Deep Archive: being restored from archive now (Standard retrieval), ready in ~12 hours`, {
      key: payload,
      storageClass: 'DEEP_ARCHIVE',
      tier: 'Standard',
      readyInHours: 12,
      startedNow: true,
    });
    const store = wrapStore(vault.store, {
      getStream: async (key) => {
        if (key === payload) throw archived;
        return vault.store.getStream(key);
      },
    });

    const failure = verifyBackup({ store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: restoreServerFor('postgresql') });

    await expect(failure).rejects.toBe(archived);
    expect(await readLatestVerification(vault.store, SOURCE, manifest.backupId)).toEqual({ status: 'unverified' });
    expect(await listPostgresDatabases(SCRATCH)).toEqual([]);
  });
});
