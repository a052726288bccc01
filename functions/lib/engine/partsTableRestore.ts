/**
 * One PostgreSQL table from a multi-part backup (vault format v1.1), selected exactly as from a single archive
 * (tableFilter.ts), across the parts that hold it:
 *
 *   1. the schema (pre-data) and post-data parts' tables of contents and schema SQL are read (the tools stop
 *      reading once they have them), and each data part's table of contents: the table, its partitions, its
 *      sequences' definitions and values, defaults, keys, indexes and triggers are picked from all of them
 *   2. every part that contributes is read once and checked (size, SHA-256) before the target is touched
 *   3. each contributing part, in order (schema, data, post-data), is turned back into SQL by `pg_restore -L`
 *      and all of it is replayed by one `psql --single-transaction`: a failure anywhere commits nothing
 *
 * Replacing a table (`replace`) first drops the other tables' foreign keys to it (they are re-created from
 * the post-data part with it), then the schema part's `--clean` drops the table and its sequences, all in
 * the same transaction.
 */
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { createDecompressStream } from '../codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream, isUnwrapFailure, wrongKeyError } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { ChecksumMismatchError, ConfigError, DecryptionFailedError, LifeboatError, RestoreFailedError } from '../errors.ts';
import { backupPrefix } from '../vault/layout.ts';
import type { DumpManifest, ManifestPart } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import type { TableSelector } from './driver.ts';
import { forEachBounded, PartVerifier } from './parallelRestore.ts';
import { postgresEnv } from './postgres.ts';
import { describeExit, type RunningTool, spawnTool } from './process.ts';
import { ByteCounter, type ProgressListener, ProgressMeter } from './progress.ts';
import { discard, isToolGone, pumpIntoTool } from './streams.ts';
import { type ArchiveEntry, parseArchiveEntries, postgresTableList } from './tableFilter.ts';
import { postgresFacts, readSchemaSql, readTableOfContents } from './tableSelection.ts';

export interface PartsTableRestoreOptions {
  readonly store: VaultStore;
  readonly manifest: DumpManifest;
  readonly keyring: BackupKeyring;
  /** An existing database (the caller created it or checked the table's state). */
  readonly target: ConnectionInfo;
  readonly table: TableSelector;
  /** Replace the table the target already has (that table alone). */
  readonly replace: boolean;
  readonly onProgress?: ProgressListener;
}

export interface PartsTableRestoreResult {
  readonly rawBytes: number;
  readonly storedBytes: number;
  /** What was left out and why (a foreign key to a table the target lacks). */
  readonly warnings: readonly string[];
}

/** One part's share of the table: the `pg_restore -L` lines to replay from it. */
interface PartSelection {
  readonly part: ManifestPart;
  readonly lines: readonly string[];
  readonly clean: boolean;
}

/** Parts whose stored bytes are checked at once in step 2. */
const CHECK_JOBS = 4;

/** `ALTER TABLE ONLY public.film_actor\n    ADD CONSTRAINT film_actor_actor_id_fkey FOREIGN KEY …`: owner and name as pg_dump prints them. */
const FOREIGN_KEY = /^ALTER TABLE ONLY\s+(\S+)\s+ADD CONSTRAINT\s+("(?:[^"]|"")+"|\S+)\s+FOREIGN KEY/;

/** Fails like `runRestore`: `ChecksumMismatchError`, `DecryptionFailedError`, `DecompressionFailedError`, `RestoreFailedError`, `ConfigError`. */
export async function restoreTableFromParts(options: PartsTableRestoreOptions): Promise<PartsTableRestoreResult> {
  const { store, manifest, keyring, target, table } = options;
  const parts = manifest.payload.parts;
  if (!parts) throw new ConfigError(`Backup ${manifest.backupId} is not a multi-part backup`);
  const prefix = backupPrefix(manifest.sourceId, manifest.backupId);
  const label = (part: ManifestPart) => `${prefix}${part.key}`;
  const schemaPart = parts.find((p) => p.section === 'pre-data')!;
  const postDataPart = parts.find((p) => p.section === 'post-data')!;
  const dataParts = parts.filter((p) => p.section === 'data');

  // Step 1: what to take from each part.
  const entries: ArchiveEntry[] = [
    ...parseArchiveEntries(await readSchemaSql(store, label(schemaPart), manifest, keyring)),
    ...parseArchiveEntries(await readSchemaSql(store, label(postDataPart), manifest, keyring)),
  ];
  const facts = await postgresFacts(target, table.schema);
  const select = async (part: ManifestPart, clean: boolean): Promise<PartSelection & { tables: readonly string[]; warnings: readonly string[] }> => {
    const selection = postgresTableList(await readTableOfContents(store, label(part), manifest, keyring), entries, table, facts, { replace: options.replace });
    return { part, lines: selection.lines, clean, tables: selection.tables, warnings: selection.warnings };
  };
  const schema = await select(schemaPart, options.replace);
  if (!schema.lines.some((line) => / TABLE \S+ /.test(line))) {
    throw new ConfigError(`Backup ${manifest.backupId} has no table "${table.schema}.${table.name}" in its schema part's table of contents`);
  }
  const data: PartSelection[] = [];
  for (const part of dataParts) {
    const selected = await select(part, false);
    if (selected.lines.length > 0) data.push(selected);
  }
  const postData = await select(postDataPart, false);
  const selections = [schema, ...data, ...(postData.lines.length > 0 ? [postData] : [])];
  // Other tables' foreign keys to this one go before `DROP TABLE`; the post-data part brings them back.
  const foreignKeyDrops = options.replace
    ? entries
        .filter((entry) => entry.desc === 'FK CONSTRAINT' && postData.lines.some((line) => line.includes(` FK CONSTRAINT ${entry.schema} ${entry.tag} `) || line.endsWith(` FK CONSTRAINT ${entry.schema} ${entry.tag}`)))
        .map((entry) => FOREIGN_KEY.exec(entry.sql))
        .filter((match): match is RegExpExecArray => match !== null && !schema.tables.includes(match[1]!))
        .map((match) => `ALTER TABLE IF EXISTS ONLY ${match[1]} DROP CONSTRAINT IF EXISTS ${match[2]};\n`)
    : [];

  // Step 2: nothing is touched until every contributing part is whole.
  await forEachBounded(selections, CHECK_JOBS, async ({ part }) => {
    const head = await store.head(label(part));
    if (!head) throw new ChecksumMismatchError(`Part ${label(part)} of backup ${manifest.backupId} is missing from ${store.location}`);
    if (head.bytes !== part.storedBytes) {
      throw new ChecksumMismatchError(`Part ${label(part)} holds ${head.bytes} bytes; its manifest says ${part.storedBytes} (truncated or altered)`);
    }
    await pipeline(await store.getStream(label(part)), new PartVerifier(label(part), part), discard());
  });

  // Step 3: every part's SQL into one transaction.
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-table-'));
  const psql = spawnTool('psql', ['--no-psqlrc', '--quiet', '--single-transaction', '--set=ON_ERROR_STOP=1', '--file=-'], {
    env: postgresEnv(target),
    stdin: 'pipe',
    stdout: 'ignore',
  });
  psql.child.stdin.on('error', () => {});
  const running = new Set<RunningTool<'pipe', 'pipe'>>();
  // One counter pair per part (a pipeline ends its streams); the meter sums them.
  const counters: { raw: ByteCounter; stored: PartVerifier }[] = [];
  const total = () => counters.reduce((sum, c) => ({ rawBytes: sum.rawBytes + c.raw.bytes, storedBytes: sum.storedBytes + c.stored.bytes }), { rawBytes: 0, storedBytes: 0 });
  const meter = new ProgressMeter('restore', total, options.onProgress);
  const failed = (what: string, exit: string, stderr: string, cause?: unknown) =>
    new RestoreFailedError(
      `Restore of table ${table.schema}.${table.name} of backup ${manifest.backupId} into ${describeConnection(target)} failed in ${what}: ${exit}` +
        (stderr === '' ? '' : `: ${redact(stderr, target)}`),
      ...(cause === undefined ? [] : [{ cause }]),
    );
  try {
    if (foreignKeyDrops.length > 0) await write(psql.child.stdin, foreignKeyDrops.join(''));
    for (const [index, { part, lines, clean }] of selections.entries()) {
      const listFile = path.join(dir, `part-${index}.list`);
      await writeFile(listFile, `${lines.join('\n')}\n`, { mode: 0o600 });
      const args = ['--no-owner', '--no-privileges', `--use-list=${listFile}`, ...(clean ? ['--clean', '--if-exists'] : []), '--file=-'];
      const tool = spawnTool('pg_restore', args, { env: {}, stdin: 'pipe', stdout: 'pipe' });
      running.add(tool);
      // The part's SQL flows into the one psql session, which must stay open for the next part.
      const forwarded = new Promise<void>((resolve, reject) => {
        tool.child.stdout.on('end', resolve);
        tool.child.stdout.on('error', reject);
        tool.child.stdout.pipe(psql.child.stdin, { end: false });
      });
      const verifier = new PartVerifier(label(part), part);
      const raw = new ByteCounter(() => meter.tick());
      counters.push({ raw, stored: verifier });
      const source = await store.getStream(label(part));
      const failure = await pumpIntoTool(
        [source, verifier, createDecryptStream(keyring, backupEncryptionContext(manifest.sourceId, manifest.backupId)), createDecompressStream(), raw, tool.child.stdin],
        () => tool.kill(),
      );
      source.destroy();
      const exit = await tool.exited;
      running.delete(tool);
      if (failure instanceof LifeboatError) throw failure;
      // pg_restore -L may stop reading once it has what the list asks for; the part was checked whole in step 2.
      if ((failure !== undefined && !(exit.code === 0 && isToolGone(failure))) || exit.code !== 0) {
        throw failed(`its part ${part.key}`, describeExit('pg_restore', exit), tool.stderrTail(), failure);
      }
      await forwarded;
      if (psql.child.exitCode !== null) break; // psql stopped on an error: its exit status says which
    }
    psql.child.stdin.end();
    const exit = await psql.exited;
    if (exit.code !== 0) throw failed('replaying its SQL (nothing was committed)', describeExit('psql', exit), psql.stderrTail());
    meter.finish();
    return { ...total(), // Every part is judged against the same entries: the same warnings, once.
    warnings: [...new Set([...schema.warnings, ...postData.warnings])] };
  } catch (error) {
    for (const tool of running) tool.kill();
    // Killed before its input ended, psql commits nothing.
    psql.kill();
    await Promise.all([psql.exited, ...[...running].map((tool) => tool.exited)]);
    // The parts were checked whole in step 2: a data key that will not unwrap is the wrong key.
    if (error instanceof DecryptionFailedError && isUnwrapFailure(error)) throw wrongKeyError(manifest.backupId, error, 'nothing was restored');
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `text` to `stream` without ending it, honouring back-pressure. */
function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (error) => (error ? reject(error) : resolve()));
  });
}
