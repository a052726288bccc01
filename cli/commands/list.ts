import type { ConfigCounts, ConfigManifest } from '../../functions/lib/configset/manifest.ts';
import type { MacSigner } from '../../functions/lib/crypto/mac.ts';
import type { BackupFolder } from '../../functions/lib/vault/catalog.ts';
import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { formatBytes, formatTable, formatTimestamp } from '../format.ts';
import { assertVaultExists, openVault, sourceFilter } from '../options.ts';
import { originNote } from '../settings.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';
import { type BackupStatus, toStatus } from '../status.ts';
import { fileSetSummaries, renderFileSets } from '../fileSets.ts';

/** One row of `list --json`. */
export interface BackupSummary {
  readonly backupId: string;
  readonly sourceId: string;
  readonly kind: BackupManifest['kind'] | 'config';
  /** `null` for a configuration backup (it has no database engine). */
  readonly engine: BackupManifest['engine'] | null;
  /** The database; for a configuration backup, the Region it was read from. */
  readonly database: string;
  /** A configuration backup's item counts (names and versions are in `show`). */
  readonly items?: ConfigCounts;
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
  synopsis: 'lifeboat list [--vault LOCATION] [--source ID] [--limit N] [--verification-key ARN|FILE] [--json]',
  description:
    'Lists every backup that has a manifest (incomplete uploads are never listed), newest first, with its\n' +
    'sizes and verification status, then the file-set snapshots (files, size, stored and new bytes).',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'Only backups of this source id.' },
    limit: { type: 'string', value: 'N', description: 'Only the newest N backups (only their manifests are read).' },
    json: { type: 'boolean', description: 'Print JSON: { vault, backups: [...], unreadable: [...] }.' },
    ...VERIFICATION_KEY_FLAGS,
  },
  maxPositionals: 0,
  async run({ flags, origins }, { output, env }) {
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const limit = limitFlag(flags);
    await assertVaultExists(store, originNote({ origins }, 'vault'));

    const authenticator = await verificationKeyFrom(flags, env);
    const { backups, unreadable } = await listSummaries(store, {
      ...(sourceId === undefined ? {} : { sourceId }),
      ...(limit === undefined ? {} : { limit }),
      ...(authenticator ? { authenticator } : {}),
    });

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
  options: { readonly sourceId?: string; readonly limit?: number; readonly authenticator?: Pick<MacSigner, 'verify'> } = {},
): Promise<{ backups: BackupSummary[]; unreadable: { sourceId: string; backupId: string; error: string; message: string }[] }> {
  const { READ_CONCURRENCY, latestVerificationOf, mapConcurrent, readManifests, scanBackupFolders } = await import(
    '../../functions/lib/vault/catalog.ts'
  );
  const unreadable: { sourceId: string; backupId: string; error: string; message: string }[] = [];
  const refused: { folder: BackupFolder; error: Error }[] = [];
  const folders = (await scanBackupFolders(store, options.sourceId === undefined ? {} : { sourceId: options.sourceId })).filter((f) => f.hasManifest);
  const entries = await readManifests(store, folders, {
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    // One bad manifest must not hide every other backup; it is reported instead (after the check below).
    onUnreadable: (error, backup) => refused.push({ folder: folders.find((f) => f.sourceId === backup.sourceId && f.backupId === backup.backupId)!, error }),
  });
  // The database manifest reader refuses a configuration manifest; those are read by their own reader.
  const configs = await mapConcurrent(refused, READ_CONCURRENCY, ({ folder, error }) => readConfigSummary(store, folder, error));
  const summaries: { summary: Omit<BackupSummary, 'status'>; folder: BackupFolder; manifest?: BackupManifest }[] = [
    ...entries.map(({ manifest, folder }) => ({ summary: summarize(manifest), folder, manifest })),
    ...configs.flatMap((config, index) => {
      if ('manifest' in config) return [{ summary: summarizeConfig(config.manifest), folder: refused[index]!.folder }];
      unreadable.push({ sourceId: refused[index]!.folder.sourceId, backupId: refused[index]!.folder.backupId, error: config.error.name, message: config.error.message });
      return [];
    }),
  ];
  // Newest first, as the folders were read; with a limit, configuration backups count towards it too.
  summaries.sort(({ folder: a }, { folder: b }) => {
    if (a.backupId !== b.backupId) return a.backupId < b.backupId ? 1 : -1;
    return a.sourceId < b.sourceId ? -1 : a.sourceId > b.sourceId ? 1 : 0;
  });
  const shown = options.limit === undefined ? summaries : summaries.slice(0, options.limit);
  const statuses = await mapConcurrent(shown, READ_CONCURRENCY, async ({ folder, manifest }) =>
    // Configuration backups have no verification results; a database backup's manifest binds its own.
    toStatus(await latestVerificationOf(store, folder, manifest ? { manifest, ...(options.authenticator ? { authenticator: options.authenticator } : {}) } : {})),
  );
  return { backups: shown.map(({ summary }, index) => ({ ...summary, status: statuses[index]! })), unreadable };
}

/**
 * A manifest the database reader refused: a configuration manifest read as one, or, for any other
 * manifest, the reader's own error. A configuration manifest that is itself invalid gets its reader's error.
 */
async function readConfigSummary(store: VaultStore, folder: BackupFolder, refusal: Error): Promise<{ manifest: ConfigManifest } | { error: Error }> {
  const { manifestKey } = await import('../../functions/lib/vault/layout.ts');
  const { parseConfigManifest } = await import('../../functions/lib/configset/manifest.ts');
  const key = manifestKey(folder.sourceId, folder.backupId);
  try {
    const bytes = await store.getObject(key);
    let kind: unknown;
    try {
      kind = (JSON.parse(bytes.toString('utf8')) as { kind?: unknown } | null)?.kind;
    } catch {
      return { error: refusal };
    }
    if (kind !== 'config') return { error: refusal };
    return { manifest: parseConfigManifest(bytes, key) };
  } catch (error) {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }
}

function limitFlag(flags: Parameters<typeof stringFlag>[0]): number | undefined {
  const text = stringFlag(flags, 'limit');
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`--limit must be a positive whole number, got "${text}"`);
  return Number(text);
}

function summarize(manifest: BackupManifest): Omit<BackupSummary, 'status'> {
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
  };
}

function summarizeConfig(manifest: ConfigManifest): Omit<BackupSummary, 'status'> {
  return {
    backupId: manifest.backupId,
    sourceId: manifest.sourceId,
    kind: 'config',
    engine: null,
    database: manifest.source.region,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    rawBytes: manifest.payload.rawBytes,
    storedBytes: manifest.payload.storedBytes,
    items: manifest.content.counts,
  };
}

/** `2 parameters, 1 secret, 1 stack`: a configuration backup's counts in the ENGINE column. */
export function describeItemCounts(counts: ConfigCounts): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [plural(counts.ssmParameters, 'parameter'), plural(counts.secrets, 'secret'), plural(counts.stacks, 'stack')].join(', ');
}

function renderTable(backups: readonly BackupSummary[]): string {
  const rows = backups.map((backup) => [
    backup.backupId,
    backup.sourceId,
    backup.kind,
    backup.items ? describeItemCounts(backup.items) : (backup.engine ?? '-'),
    formatTimestamp(backup.completedAt),
    backup.rawBytes === null ? '-' : formatBytes(backup.rawBytes),
    backup.storedBytes === null ? '-' : formatBytes(backup.storedBytes),
    backup.status.state,
  ]);
  return formatTable(['ID', 'SOURCE', 'KIND', 'ENGINE', 'COMPLETED AT', 'RAW', 'STORED', 'STATUS'], rows, new Set([5, 6]));
}

/** `No backups of source nosuch in ./vault; it holds backups of orders-db, billing-db`: a typo is not an empty vault. */
async function noBackupsOf(store: VaultStore, sourceId: string): Promise<string> {
  // Configuration backups count: a vault of only those is not empty.
  const known = [...new Set((await listSummaries(store)).backups.map((backup) => backup.sourceId))].sort();
  const holds = known.length === 0 ? 'the vault is empty' : `it holds backups of ${known.join(', ')}`;
  return `No backups of source ${sourceId} in ${store.location}; ${holds}`;
}
