import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { formatBytes, formatTable, formatTimestamp } from '../format.ts';
import { assertVaultExists, openVault, sourceFilter } from '../options.ts';
import { originNote } from '../settings.ts';
import { type BackupStatus, toStatus } from '../status.ts';
import { fileSetSummaries, renderFileSets } from '../fileSets.ts';

/** One row of `list --json`. */
export interface BackupSummary {
  readonly backupId: string;
  readonly sourceId: string;
  readonly kind: BackupManifest['kind'];
  readonly engine: BackupManifest['engine'];
  readonly database: string;
  readonly startedAt: string;
  readonly completedAt: string;
  /** Uncompressed dump bytes; `null` for a snapshot. */
  readonly rawBytes: number | null;
  /** Bytes stored in the vault; `null` for a snapshot. */
  readonly storedBytes: number | null;
  readonly status: BackupStatus;
}

export const list: Command = {
  name: 'list',
  summary: 'List the complete backups in a vault, newest first.',
  synopsis: 'lifeboat list [--vault LOCATION] [--source ID] [--limit N] [--json]',
  description:
    'Lists every backup that has a manifest (incomplete uploads are never listed), newest first, with its\n' +
    'sizes and verification status, then the file-set snapshots (files, size, stored and new bytes).',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'Only backups of this source id.' },
    limit: { type: 'string', value: 'N', description: 'Only the newest N backups (only their manifests are read).' },
    json: { type: 'boolean', description: 'Print JSON: { vault, backups: [...], unreadable: [...] }.' },
  },
  maxPositionals: 0,
  async run({ flags, origins }, { output, env }) {
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const limit = limitFlag(flags);
    await assertVaultExists(store, originNote({ origins }, 'vault'));

    const { backups, unreadable } = await listSummaries(store, { ...(sourceId === undefined ? {} : { sourceId }), ...(limit === undefined ? {} : { limit }) });

    const fileSets = await fileSetSummaries(store, sourceId);
    const shownSets = limit === undefined ? fileSets : fileSets.slice(0, limit);
    if (booleanFlag(flags, 'json')) {
      // `fileSets` only when the vault has any, so the output of a database-only vault is as before.
      output.json({ vault: store.location, backups, unreadable, ...(fileSets.length > 0 ? { fileSets: shownSets } : {}) });
    } else if (fileSets.length > 0) {
      output.out([...(backups.length > 0 ? [renderTable(backups), ''] : []), renderFileSets(shownSets)].join('\n'));
    } else {
      output.out(backups.length > 0 ? renderTable(backups) : sourceId === undefined ? `No backups in ${store.location}` : await noBackupsOf(store, sourceId));
    }
    for (const problem of unreadable) {
      output.error(`lifeboat: warning: skipped ${problem.sourceId}/${problem.backupId}: ${problem.error}: ${problem.message}`);
    }
    return ExitCode.ok;
  },
};

/**
 * What `list` shows: one paged listing gives every backup and its newest verification result, then only
 * reads, `READ_CONCURRENCY` at a time: the manifests (the newest `limit` with a limit) and, for backups that
 * have one, the newest verification result.
 */
export async function listSummaries(
  store: VaultStore,
  options: { readonly sourceId?: string; readonly limit?: number } = {},
): Promise<{ backups: BackupSummary[]; unreadable: { sourceId: string; backupId: string; error: string; message: string }[] }> {
  const { READ_CONCURRENCY, latestVerificationOf, mapConcurrent, readManifests, scanBackupFolders } = await import(
    '../../functions/lib/vault/catalog.ts'
  );
  const unreadable: { sourceId: string; backupId: string; error: string; message: string }[] = [];
  const folders = (await scanBackupFolders(store, options.sourceId === undefined ? {} : { sourceId: options.sourceId })).filter((f) => f.hasManifest);
  const entries = await readManifests(store, folders, {
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    // One bad manifest must not hide every other backup; it is reported instead.
    onUnreadable: (error, backup) => unreadable.push({ ...backup, error: error.name, message: error.message }),
  });
  const statuses = await mapConcurrent(entries, READ_CONCURRENCY, async ({ folder }) => toStatus(await latestVerificationOf(store, folder)));
  return { backups: entries.map(({ manifest }, index) => summarize(manifest, statuses[index]!)), unreadable };
}

function limitFlag(flags: Parameters<typeof stringFlag>[0]): number | undefined {
  const text = stringFlag(flags, 'limit');
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`--limit must be a positive whole number, got "${text}"`);
  return Number(text);
}

function summarize(manifest: BackupManifest, status: BackupStatus): BackupSummary {
  return {
    backupId: manifest.backupId,
    sourceId: manifest.sourceId,
    kind: manifest.kind,
    engine: manifest.engine,
    database: manifest.source.database,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    rawBytes: manifest.payload?.rawBytes ?? null,
    storedBytes: manifest.payload?.storedBytes ?? null,
    status,
  };
}

function renderTable(backups: readonly BackupSummary[]): string {
  const rows = backups.map((backup) => [
    backup.backupId,
    backup.sourceId,
    backup.kind,
    backup.engine,
    formatTimestamp(backup.completedAt),
    backup.rawBytes === null ? '-' : formatBytes(backup.rawBytes),
    backup.storedBytes === null ? '-' : formatBytes(backup.storedBytes),
    backup.status.state,
  ]);
  return formatTable(['ID', 'SOURCE', 'KIND', 'ENGINE', 'COMPLETED AT', 'RAW', 'STORED', 'STATUS'], rows, new Set([5, 6]));
}

/** `No backups of source nosuch in ./vault; it holds backups of orders-db, billing-db`: a typo is not an empty vault. */
async function noBackupsOf(store: VaultStore, sourceId: string): Promise<string> {
  const { listBackups } = await import('../../functions/lib/vault/catalog.ts');
  const known = [...new Set((await listBackups(store, { onUnreadable: () => undefined })).map((manifest) => manifest.sourceId))].sort();
  const holds = known.length === 0 ? 'the vault is empty' : `it holds backups of ${known.join(', ')}`;
  return `No backups of source ${sourceId} in ${store.location}; ${holds}`;
}
