/**
 * What a PostgreSQL single-table restore reads before it touches the target: the archive's table of contents
 * and schema SQL (from the head of a stored archive: the tools stop reading once they have them), and the
 * target's current contents, which decide which dependencies come along (tableFilter.ts). Shared by the
 * single-archive restore and the multi-part one.
 */
import { createDecompressStream } from '../codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { LifeboatError, RestoreFailedError } from '../errors.ts';
import type { VaultStore } from '../vault/store.ts';
import type { DumpManifest } from '../vault/manifest.ts';
import type { ConnectionInfo } from './connection.ts';
import { connectPostgres } from './postgres.ts';
import { describeExit, spawnTool } from './process.ts';
import { pumpIntoTool } from './streams.ts';
import { type PostgresTargetFacts, qualified } from './tableFilter.ts';

/** What `pg_restore ARGS` prints from the stored archive at `key` (it stops reading when done). */
export async function readArchive(
  store: VaultStore,
  key: string,
  manifest: Pick<DumpManifest, 'sourceId' | 'backupId'>,
  keyring: BackupKeyring,
  args: readonly string[],
): Promise<string> {
  const tool = spawnTool('pg_restore', args, { env: {}, stdin: 'pipe', stdout: 'pipe' });
  const chunks: Buffer[] = [];
  tool.child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  tool.child.stdin.on('error', () => {});
  const source = await store.getStream(key);
  const failure = await pumpIntoTool(
    [source, createDecryptStream(keyring, backupEncryptionContext(manifest.sourceId, manifest.backupId)), createDecompressStream(), tool.child.stdin],
    () => tool.kill(),
  );
  source.destroy();
  const exit = await tool.exited;
  if (failure instanceof LifeboatError) throw failure;
  if (exit.code !== 0) {
    throw new RestoreFailedError(`Reading the archive ${key} of backup ${manifest.backupId} failed: ${describeExit('pg_restore', exit)}: ${tool.stderrTail()}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The archive's table of contents: `pg_restore --list`. */
export const readTableOfContents = (store: VaultStore, key: string, manifest: Pick<DumpManifest, 'sourceId' | 'backupId'>, keyring: BackupKeyring) =>
  readArchive(store, key, manifest, keyring, ['--list']);

/** The archive's schema SQL, each entry under its `-- Name: …; Type: …` header. */
export const readSchemaSql = (store: VaultStore, key: string, manifest: Pick<DumpManifest, 'sourceId' | 'backupId'>, keyring: BackupKeyring) =>
  readArchive(store, key, manifest, keyring, ['--schema-only', '--no-owner', '--no-privileges', '--file=-']);

/** The target's tables, types and functions, qualified as pg_dump writes them; empty for a new database. Creates `schema` if missing. */
export async function postgresFacts(target: ConnectionInfo, schema: string): Promise<PostgresTargetFacts> {
  const client = await connectPostgres(target);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(schema)}`);
    const user = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;
    const tables = await client.query<{ s: string; n: string }>(
      `SELECT n.nspname AS s, c.relname AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'f') AND ${user}`,
    );
    const types = await client.query<{ s: string; n: string }>(
      `SELECT n.nspname AS s, t.typname AS n FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'c', 'r') AND ${user}`,
    );
    const functions = await client.query<{ s: string; n: string }>(
      `SELECT DISTINCT n.nspname AS s, p.proname AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${user}`,
    );
    const names = (rows: { s: string; n: string }[]) => new Set(rows.map((row) => qualified(row.s, row.n)));
    return { tables: names(tables.rows), types: names(types.rows), functions: names(functions.rows) };
  } finally {
    await client.end().catch(() => {});
  }
}
