/** `lifeboat status` on local vaults with a clock: the table, JSON, colour on a terminal only, and the exit status. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeManifest } from '../../functions/lib/vault/catalog.ts';
import { payloadKey, verificationKey } from '../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import { exampleConfigJson } from '../infra/support.ts';
import { sampleManifest, sampleVerification } from '../functions/vault/fixtures.ts';
import { lifeboat, tempDir } from './support.ts';

const NOW = new Date('2026-12-02T12:00:00.000Z');
const MINUTE = 60_000;
const deps = { now: () => NOW };

/** A dump backup started `minutesAgo` before NOW, written as a run writes it, optionally verified. */
async function backup(store: LocalStore, sourceId: string, minutesAgo: number, verification?: 'verified' | 'failed'): Promise<string> {
  const started = new Date(NOW.getTime() - minutesAgo * MINUTE);
  const backupId = `${started.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z-cccccccc`;
  await store.putObject(payloadKey(sourceId, backupId), 'x');
  await writeManifest(store, sampleManifest({ sourceId, backupId, startedAt: started.toISOString(), completedAt: new Date(started.getTime() + 5 * MINUTE).toISOString(), payload: { ...sampleManifest().payload!, storedBytes: 1 } }));
  if (verification) {
    const at = new Date(started.getTime() + 10 * MINUTE);
    await store.putObject(verificationKey(sourceId, backupId, at), JSON.stringify(sampleVerification({ sourceId, backupId, status: verification, at })));
  }
  return backupId;
}

describe('lifeboat status', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let primary: string;
  let dr: string;
  let config: string;

  beforeEach(async () => {
    dir = await tempDir('status');
    primary = join(dir.path, 'primary');
    dr = join(dir.path, 'dr');
    config = join(dir.path, 'lifeboat.json');
    await writeFile(config, JSON.stringify(exampleConfigJson()));
    const vault = new LocalStore(primary);
    const drVault = new LocalStore(dr);
    // orders-db (RPO 4h): verified 90 minutes ago and copied. billing-db (RPO 25h): verified 1600 minutes ago, never copied.
    await backup(vault, 'orders-db', 90, 'verified');
    await backup(drVault, 'orders-db', 90);
    await backup(vault, 'billing-db', 1600, 'verified');
    await backup(vault, 'billing-db', 100, 'failed');
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('shows each configured source against its RPO, its next run and its DR copy, and exits 1 when one is outside its RPO', async () => {
    // Act
    const result = await lifeboat(['status', '--vault', primary, '--dr-vault', dr, '--config', config], { deps });

    // Assess
    expect(result.stdout).toBe(
      [
        'SOURCE          LAST BACKUP           VERIFIED     VERIFIED AGE / RPO  NEXT DUE              DR COPY     STATE',
        'orders-db       2026-12-02 10:30:00Z  yes          1h 30m / 4h 30m     2026-12-02 16:00:00Z  1h 30m old  OK',
        'billing-db      2026-12-02 10:20:00Z  NO (failed)  1d 02h / 1d 01h     2026-12-03 01:30:00Z  none        OUTSIDE RPO',
        // The example's DocumentDB cluster, ElastiCache cache and S3 file set: nothing of them in this vault yet.
        'catalog-docdb   never                 -            never / 1d 01h      2026-12-03 03:00:00Z  none        OUTSIDE RPO',
        'sessions-cache  never                 -            never / 3h 00m      2026-12-02 12:15:00Z  none        OUTSIDE RPO',
        'uploads         never                 -            never / 7h 00m      2026-12-02 17:30:00Z  none        OUTSIDE RPO',
        'orders-config   never                 -            never / 1h 30m      2026-12-02 12:15:00Z  none        OUTSIDE RPO',
        '',
        "As of 2026-12-02 12:00:00Z. Ages run from a backup's start, the point in time its data is from.",
        '',
      ].join('\n'),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
  });

  it('prints the same figures as JSON', async () => {
    // Act
    const result = await lifeboat(['status', '--vault', primary, '--dr-vault', dr, '--config', config, '--source', 'billing-db', '--json'], { deps });

    // Assess
    const document = JSON.parse(result.stdout);
    expect(document).toMatchObject({ vault: primary, drVault: dr, at: NOW.toISOString() });
    expect(document.sources).toEqual([
      {
        sourceId: 'billing-db',
        rpoMinutes: 1500,
        lastBackup: { backupId: '20261202T102000Z-cccccccc', kind: 'dump', startedAt: '2026-12-02T10:20:00.000Z', completedAt: '2026-12-02T10:25:00.000Z', state: 'failed' },
        lastVerified: { backupId: '20261201T092000Z-cccccccc', startedAt: '2026-12-01T09:20:00.000Z' },
        lastDrCopy: null,
        minutesSinceLastBackup: 100,
        minutesSinceLastVerified: 1600,
        drCopyLagMinutes: null,
        withinRpo: false,
        drWithinRpo: false,
        nextDue: '2026-12-03T01:30:00.000Z',
        problems: [],
      },
    ]);
    expect(result.code).toBe(1);
  });

  it('without a config shows every source in the vault with no RPO, and exits 0', async () => {
    // Act
    const result = await lifeboat(['status', '--vault', primary], { deps });

    // Assess
    expect(result.stdout.split('\n').slice(0, 3)).toEqual([
      'SOURCE      LAST BACKUP           VERIFIED     VERIFIED AGE / RPO  NEXT DUE  DR COPY      STATE',
      'billing-db  2026-12-02 10:20:00Z  NO (failed)  1d 02h / ?          -         not checked  no RPO',
      'orders-db   2026-12-02 10:30:00Z  yes          1h 30m / ?          -         not checked  no RPO',
    ]);
    expect(result.code).toBe(0);
  });

  it('colours the state on a terminal and never when piped', async () => {
    // Act
    const terminal = await lifeboat(['status', '--vault', primary, '--dr-vault', dr, '--config', config], { deps, stdoutTty: true });
    const noColour = await lifeboat(['status', '--vault', primary, '--dr-vault', dr, '--config', config], { deps, stdoutTty: true, env: { NO_COLOR: '1' } });
    const piped = await lifeboat(['status', '--vault', primary, '--dr-vault', dr, '--config', config], { deps });

    // Assess
    expect(terminal.stdout).toContain('1h 30m old  \u001b[32mOK\u001b[0m');
    expect(terminal.stdout).toContain('none        \u001b[31mOUTSIDE RPO\u001b[0m');
    expect(noColour.stdout).not.toContain('\u001b[');
    expect(piped.stdout).not.toContain('\u001b[');
  });

  it('a configured source that was never backed up is outside its RPO', async () => {
    // Prepare
    const raw = exampleConfigJson() as { sources: { id: string }[] };
    raw.sources[1]!.id = 'new-db';
    await writeFile(config, JSON.stringify({ ...raw, plans: [] }));

    // Act
    const result = await lifeboat(['status', '--vault', primary, '--dr-vault', dr, '--config', config, '--source', 'new-db'], { deps });

    // Assess
    expect(result.stdout.split('\n')[1]).toBe('new-db  never        -         never / 1d 01h      2026-12-03 01:30:00Z  none     OUTSIDE RPO');
    expect(result.code).toBe(1);
  });

  it('a vault that does not exist is an error naming it', async () => {
    // Act
    const result = await lifeboat(['status', '--vault', join(dir.path, 'nosuch')], { deps });

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('nosuch');
  });
});
