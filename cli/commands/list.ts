import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { formatBytes, formatTable, formatTimestamp } from '../format.ts';
import { assertVaultExists, openVault, sourceFilter } from '../options.ts';
import { type BackupStatus, toStatus } from '../status.ts';

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
  synopsis: 'lifeboat list --vault LOCATION [--source ID] [--limit N] [--json]',
  description:
    'Lists every backup that has a manifest (incomplete uploads are never listed), newest first, with its\n' +
    'sizes and verification status.',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'Only backups of this source id.' },
    limit: { type: 'string', value: 'N', description: 'Only the newest N backups (only their manifests are read).' },
    json: { type: 'boolean', description: 'Print JSON: { vault, backups: [...], unreadable: [...] }.' },
  },
  maxPositionals: 0,
  async run({ flags }, { output, env }) {
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const limit = limitFlag(flags);
    await assertVaultExists(store);

    const { backups, unreadable } = await listSummaries(store, { ...(sourceId === undefined ? {} : { sourceId }), ...(limit === undefined ? {} : { limit }) });

    if (booleanFlag(flags, 'json')) {
      output.out(JSON.stringify({ vault: store.location, backups, unreadable }, null, 2));
    } else {
      output.out(backups.length === 0 ? `No backups in ${store.location}` : renderTable(backups));
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
