/**
 * The closing line of each command, one sentence saying what it did, for `Output.summary` (stderr, left
 * out with `--quiet`): `Backed up …`, `Restored … into …`, `Verified …`, `Pruned …`.
 */
import type { BackupManifest } from '../functions/lib/vault/manifest.ts';
import { formatBytes, formatCount, formatDuration } from './format.ts';

/** `3 tables, 1,204 rows` from a manifest's content facts (`~` when a count is estimated). */
export function describeContent(manifest: Pick<BackupManifest, 'content'>): string {
  const keyspace = manifest.content.keyspace;
  if (keyspace) return `${plural(keyspace.reduce((sum, db) => sum + db.keys, 0), 'key')} in ${plural(keyspace.length, 'database')}`;
  const tables = manifest.content.tables;
  const rows = tables.reduce((sum, table) => sum + table.rows, 0);
  const estimated = tables.some((table) => !table.rowsExact) ? '~' : '';
  return `${plural(tables.length, 'table')}, ${estimated}${formatCount(rows)} row${rows === 1 ? '' : 's'}`;
}

/** `Backed up orders (postgresql) as orders-db/20261202T…: 21 tables, 46,273 rows, 5.1 MiB raw, 1.2 MiB stored, in 2.3s` */
export function backupSummary(manifest: BackupManifest, seconds: number): string {
  const sizes = manifest.payload ? `, ${formatBytes(manifest.payload.rawBytes)} raw, ${formatBytes(manifest.payload.storedBytes)} stored` : '';
  return (
    `Backed up ${manifest.source.database} (${manifest.engine}) as ${manifest.sourceId}/${manifest.backupId}: ` +
    `${describeContent(manifest)}${sizes}, in ${formatDuration(seconds)}`
  );
}

/**
 * `Restored orders-db/20261202T… into orders_copy on 127.0.0.1:5432 (database created): 21 tables, 46,273 rows, in 3.1s`.
 * `created` is whether this run created the database, when the engine says; `table` a single-table restore.
 */
export function restoreSummary(options: {
  readonly manifest: BackupManifest;
  readonly target: { readonly database: string; readonly host: string; readonly port: number };
  readonly seconds: number;
  readonly created?: boolean | undefined;
  readonly table?: string | undefined;
}): string {
  const { manifest, target } = options;
  const what =
    options.table === undefined
      ? describeContent(manifest)
      : (() => {
          const found = manifest.content.tables.find((t) => `${t.schema ? `${t.schema}.` : ''}${t.name}` === options.table || t.name === options.table);
          return `table ${options.table}${found ? `, ${found.rowsExact ? '' : '~'}${formatCount(found.rows)} rows` : ''}`;
        })();
  const created = options.created === undefined ? '' : options.created ? ' (database created)' : ' (existing database)';
  return (
    `Restored ${manifest.sourceId}/${manifest.backupId} into ${target.database} on ${target.host}:${target.port}${created}: ` +
    `${what}, in ${formatDuration(options.seconds)}`
  );
}

export function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;
}

/** Seconds since `start` (a `performance.now()` reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
