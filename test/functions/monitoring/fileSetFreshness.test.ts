/**
 * Freshness of a file set (`kind: "fileset"`): its snapshots under `filesets/`, its signed results in each
 * snapshot's folder, and the DR copy lag, read from real snapshots in local vaults.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { runFileSetBackup } from '../../../functions/lib/fileset/backup.ts';
import { snapshotPrefix } from '../../../functions/lib/fileset/format.ts';
import { directorySource } from '../../../functions/lib/fileset/sources.ts';
import { drVaultFreshness, sourceFreshness } from '../../../functions/lib/monitoring/freshness.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { verifyFileSetSnapshot } from '../../../functions/lib/verify/fileSet.ts';
import { testKeyring } from '../engine/helpers.ts';

const MINUTE = 60_000;
const SOURCE = { id: 'uploads', rpoMinutes: 60, kind: 'fileset' as const };

describe('freshness of a file set', () => {
  let work: string;
  let primary: LocalStore;
  let dr: LocalStore;
  const keyring = testKeyring('k-freshness');
  const signer = localHmacSigner(randomBytes(32));

  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'lifeboat-fileset-freshness-'));
    await mkdir(path.join(work, 'files'));
    await writeFile(path.join(work, 'files', 'a.txt'), randomBytes(5000));
    primary = new LocalStore(path.join(work, 'primary'));
    dr = new LocalStore(path.join(work, 'dr'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const snapshot = async (startedAt: Date) => (await runFileSetBackup({ store: primary, keyring, sourceId: SOURCE.id, source: directorySource(path.join(work, 'files')), now: startedAt })).manifest;

  it('measures the newest snapshot, the newest verified one (signed results only) and the DR copy lag', async () => {
    const now = Date.now();
    const older = await snapshot(new Date(now - 300 * MINUTE));
    await verifyFileSetSnapshot({ store: primary, keyring, sourceId: SOURCE.id, backupId: older.backupId, signer });
    const newer = await snapshot(new Date(now - 30 * MINUTE));

    const [before] = await sourceFreshness([SOURCE], { primary, dr, authenticator: signer, now: () => new Date(now) });
    expect(before).toMatchObject({
      sourceId: 'uploads',
      lastBackup: { backupId: newer.backupId, kind: 'fileset', state: 'unverified' },
      lastVerified: { backupId: older.backupId, kind: 'fileset' },
      minutesSinceLastBackup: 30,
      minutesSinceLastVerified: 300,
      drCopyLagMinutes: null,
      withinRpo: false,
      drWithinRpo: false,
      problems: [],
    });

    // The newer one verified and copied: within the RPO in both vaults.
    await verifyFileSetSnapshot({ store: primary, keyring, sourceId: SOURCE.id, backupId: newer.backupId, signer });
    await cp(path.join(work, 'primary', 'filesets'), path.join(work, 'dr', 'filesets'), { recursive: true });
    const [after] = await sourceFreshness([SOURCE], { primary, dr, authenticator: signer, now: () => new Date(now) });
    expect(after).toMatchObject({ lastVerified: { backupId: newer.backupId }, minutesSinceLastVerified: 30, drCopyLagMinutes: 30, withinRpo: true, drWithinRpo: true });
    expect(await drVaultFreshness([SOURCE], { dr, now: () => new Date(now) })).toMatchObject([{ lastDrCopy: { backupId: newer.backupId, kind: 'fileset' }, drCopyLagMinutes: 30, drWithinRpo: true }]);
  });

  it('does not count a result that fails to authenticate, and says so', async () => {
    const now = Date.now();
    const only = await snapshot(new Date(now - 10 * MINUTE));
    const forged = JSON.stringify({ format: 'lifeboat-verification', formatVersion: '1.1', sourceId: 'uploads', backupId: only.backupId, status: 'verified', startedAt: new Date(now).toISOString(), completedAt: new Date(now).toISOString(), checks: [{ name: 'checksum', status: 'passed', durationMs: 1 }], manifestSha256: 'a'.repeat(64), mac: 'A'.repeat(43) });
    await primary.putObject(`${snapshotPrefix('uploads', only.backupId)}verifications/20991231T235959.999Z.json`, forged);
    const [result] = await sourceFreshness([SOURCE], { primary, authenticator: signer, now: () => new Date(now) });
    expect(result!.lastVerified).toBeUndefined();
    expect(result!.withinRpo).toBe(false);
    expect(result!.problems).toEqual([expect.stringMatching(/verification result ignored/)]);
  });
});
