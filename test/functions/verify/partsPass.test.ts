/** verifyBackup on a multi-part (v1.1) PostgreSQL backup: every part checked, and the parallel restore as the restore test. */
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { backupPrefix } from '../../../functions/lib/vault/layout.ts';
import type { VerificationResult } from '../../../functions/lib/vault/verification.ts';
import { verifyBackup } from '../../../functions/lib/verify/index.ts';
import type { PostgresDatabase } from '../../harness/index.ts';
import { connectionOf, tempVault, testKeyring } from '../engine/helpers.ts';
import { createSource, listScratch, restoreServerFor } from './suite.ts';

const SOURCE = 'verify-parts';
const keyring = testKeyring();
const server = restoreServerFor('postgresql');
let db: PostgresDatabase;
let vault: Awaited<ReturnType<typeof tempVault>>;

beforeAll(async () => {
  db = (await createSource('postgresql', 'verify_parts')) as PostgresDatabase;
  vault = await tempVault();
});
afterAll(async () => {
  await db?.drop();
  await vault?.remove();
});
afterEach(async () => {
  expect(await listScratch('postgresql', SOURCE)).toEqual([]);
});

const backup = async () => (await runBackup({ source: connectionOf(db), sourceId: SOURCE, store: vault.store, keyring, jobs: 2 })).manifest;
const verify = (manifest: DumpManifest) => verifyBackup({ store: vault.store, sourceId: SOURCE, backupId: manifest.backupId, keyring, restoreServer: server });
const partFile = (manifest: DumpManifest, key: string) => path.join(vault.root, ...`${backupPrefix(SOURCE, manifest.backupId)}${key}`.split('/'));
const statuses = (result: VerificationResult) => Object.fromEntries(result.checks.map((c) => [c.name, c.status]));

describe('verifyBackup of a multi-part payload', () => {
  it('checks every part and restores them all in parallel into the scratch database', async () => {
    const manifest = await backup();
    expect(manifest.payload.parts).toHaveLength(4);

    const result = await verify(manifest);

    expect(result.status).toBe('verified');
    expect(statuses(result)).toEqual({
      checksum: 'passed',
      decrypt: 'passed',
      structure: 'passed',
      restore: 'passed',
      'row-counts': 'passed',
      'sql-checks': 'skipped',
      'size-anomaly': 'skipped',
    });
    expect(result.tables?.map((t) => [t.name, t.actualRows, t.status]).sort()).toEqual([
      ['customers', 12, 'passed'],
      ['orders', 120, 'passed'],
    ]);
  });

  it('names the damaged part, and does not run the restore test', async () => {
    const manifest = await backup();
    const handle = await open(partFile(manifest, 'payload.data-1'), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 40);
      byte[0] = byte[0]! ^ 0x01;
      await handle.write(byte, 0, 1, 40);
    } finally {
      await handle.close();
    }

    const result = await verify(manifest);

    expect(result.status).toBe('failed');
    const checksum = result.checks.find((c) => c.name === 'checksum')!;
    expect(checksum.status).toBe('failed');
    expect(checksum.reason).toMatch(/^part \S+\/payload\.data-1 has SHA-256 [0-9a-f]{64}; the manifest records [0-9a-f]{64} \(altered or replaced\)$/);
    expect(statuses(result)).toMatchObject({ decrypt: 'failed', restore: 'skipped', 'row-counts': 'skipped' });
  });

  it('fails the checksum check when a part is missing', async () => {
    const manifest = await backup();
    await rm(partFile(manifest, 'payload.post-data'));

    const result = await verify(manifest);

    expect(result.checks.find((c) => c.name === 'checksum')).toMatchObject({ status: 'failed', reason: expect.stringContaining('payload.post-data missing') as unknown });
    expect(statuses(result)).toMatchObject({ decrypt: 'skipped', restore: 'skipped' });
  });
});
