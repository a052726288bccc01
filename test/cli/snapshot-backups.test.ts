/**
 * Snapshot backups in a vault (an RDS or DocumentDB snapshot recorded by the deployed pipeline, here a manifest
 * alone): listed like any backup, and refused by `restore`, saying where it is and what restores it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { writeManifest } from '../../functions/lib/vault/catalog.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const BACKUP = '20261203T040000Z-abcdefgh';
const IDENTIFIER = 'lifeboat-catalog-docdb-20261203t040000z-abcdefgh';

let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let keyFile: string;

beforeAll(async () => {
  dir = await tempDir('snapshot-backups');
  vault = join(dir.path, 'vault');
  keyFile = join(dir.path, 'key');
  expect((await lifeboat(['keygen', '--key-file', keyFile])).code).toBe(ExitCode.ok);
  const manifest: BackupManifest = {
    format: 'lifeboat-backup',
    formatVersion: '1.3',
    backupId: BACKUP,
    sourceId: 'catalog-docdb',
    kind: 'snapshot',
    engine: 'docdb',
    startedAt: '2026-12-03T04:00:00.000Z',
    completedAt: '2026-12-03T04:09:00.000Z',
    source: { database: '*', serverVersion: '5.0.0' },
    tools: { lifeboat: '0.1.0' },
    content: { tables: [] },
    snapshot: { arn: `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${IDENTIFIER}`, identifier: IDENTIFIER, region: 'eu-west-1' },
  };
  await writeManifest(new LocalStore(vault), manifest);
});
afterAll(async () => {
  await dir?.remove();
});

describe('a DocumentDB snapshot backup in the vault', () => {
  it('is listed with its kind and engine', async () => {
    const result = await lifeboat(['list', '--vault', vault]);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    expect(result.stdout).toMatch(new RegExp(`^${BACKUP} +catalog-docdb +snapshot +docdb +2026-12-03 04:09:00Z`, 'm'));
  });

  it('is not restored by lifeboat restore, which says where it is and what restores it', async () => {
    const result = await lifeboat(['restore', BACKUP, '--vault', vault, '--key-file', keyFile, '--target', 'postgres://nobody@127.0.0.1:5432/nowhere']);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({
      name: 'UsageError',
      message: `backup ${BACKUP} is a DocumentDB cluster snapshot ${IDENTIFIER} in eu-west-1, not a dump: restore it with a DR plan's restore-snapshot step (or from the RDS console); lifeboat restore restores dumps (see lifeboat restore --help)`,
    });
  });
});
