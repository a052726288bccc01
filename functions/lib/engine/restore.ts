/**
 * Restores a backup from a vault into a database:
 *
 *   store.getStream ─▶ SHA-256 + size check ─▶ Encryption SDK decrypt ─▶ zstd ─▶ raw byte count ─▶ (table filter) ─▶ hold back last chunk ─▶ pg_restore / mysql
 *
 * Every check finishes before the restore tool gets the last bytes, so a payload that fails one never
 * completes a restore. PostgreSQL restores in one transaction (a failure leaves the target as it was);
 * MySQL cannot, so after a failure the target database is emptied again. A database this run created is
 * dropped again on failure, and on SIGINT/SIGTERM through the interrupt registry.
 *
 * One table (`table`): into a new database, or an existing one that lacks it, or with `replaceTable` in
 * place of the one there (that table alone). PostgreSQL selects the table's objects from the archive's
 * table of contents (tableFilter.ts) and restores them with `pg_restore -L` in one transaction; MySQL
 * filters the dump down to the table's statements.
 */
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { createDecompressStream } from '../codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream, isUnwrapFailure, wrongKeyError } from '../crypto/envelope.ts';
import type { BackupKeyring, KeyringDescription } from '../crypto/keyring.ts';
import {
  ChecksumMismatchError,
  ConfigError,
  DecompressionFailedError,
  DecryptionFailedError,
  LifeboatError,
  ManifestInvalidError,
  RestoreFailedError,
  TargetNotEmptyError,
  WrongKeyError,
} from '../errors.ts';
import { dropDatabase } from '../verify/scratch.ts';
import { findBackup, readManifest } from '../vault/catalog.ts';
import { backupPrefix } from '../vault/layout.ts';
import type { BackupManifest, ManifestKeyring } from '../vault/manifest.ts';
import { storedDigest, type VaultStore } from '../vault/store.ts';
import type { DumpManifest } from './backup.ts';
import { type ConnectionInfo, describeConnection, redact } from './connection.ts';
import { messageOf, type RestorePlan, type TableSelector } from './driver.ts';
import { onInterrupt } from './interrupt.ts';
import { resolveJobs } from './jobs.ts';
import { connectMysql, mysqlRestorePlan, prepareMysqlTarget, resetMysqlTarget } from './mysql.ts';
import { runPartsRestore } from './parallelRestore.ts';
import { connectPostgres, postgresRestorePlan, preparePostgresTarget } from './postgres.ts';
import { describeExit, type RunningTool, spawnTool } from './process.ts';
import { MysqlTableFilter, parseArchiveEntries, postgresTableList } from './tableFilter.ts';
import { postgresFacts, readSchemaSql, readTableOfContents } from './tableSelection.ts';
import { restoreTableFromParts } from './partsTableRestore.ts';
import { ByteCounter, type ProgressListener, ProgressMeter } from './progress.ts';
import { HoldBackLast, isToolGone, pumpIntoTool } from './streams.ts';
import type { ZstdRunner } from './zstdTool.ts';

export interface RestoreOptions {
  readonly store: VaultStore;
  /** @default found by listing the vault for `backupId` */
  readonly sourceId?: string;
  readonly backupId: string;
  readonly keyring: BackupKeyring;
  readonly target: ConnectionInfo;
  /** Drop and recreate a target database that is not empty. @default false: a non-empty target is refused */
  readonly dropExisting?: boolean;
  /**
   * Restore just this table (`name`, or `schema.name` for PostgreSQL) with its sequences, defaults,
   * indexes, constraints and triggers (PostgreSQL: and partitions). An existing target may hold other
   * objects, but not this table unless `replaceTable`.
   */
  readonly table?: string;
  /** With `table`: replace the table the target already has (that table alone). @default false */
  readonly replaceTable?: boolean;
  readonly onProgress?: ProgressListener;
  /** Multi-part (v1.1) PostgreSQL backups: connections loading data and building indexes at once. @default the runner's vCPUs */
  readonly jobs?: number;
  /** Multi-part backups: the caller has just checked every part's stored bytes, so the restore does not read them twice. */
  readonly preverified?: boolean;
  /** Multi-part backups: how zstd runs (zstdTool.ts). @default the `zstd` command when installed */
  readonly zstd?: ZstdRunner;
}

export interface RestoreResult {
  readonly manifest: DumpManifest;
  /** Uncompressed bytes given to the restore tool. */
  readonly rawBytes: number;
  readonly storedBytes: number;
  readonly table?: TableSelector;
  /** Whether this run created the target database (it did not exist, or `dropExisting` replaced it). */
  readonly createdDatabase: boolean;
  /** What a single-table restore left out and why (a foreign key to a table the target lacks). */
  readonly warnings: readonly string[];
}

/**
 * Fails with `BackupNotFoundError` / `ManifestMissingError` / `ManifestInvalidError` (vault),
 * `ConfigError` (engine mismatch, unknown table), `TargetNotEmptyError`, `ChecksumMismatchError`
 * (stored bytes differ from the manifest), `DecryptionFailedError` (wrong key, tampered or foreign
 * payload), `DecompressionFailedError`, or `RestoreFailedError` (the restore tool failed; its stderr,
 * scrubbed of the password, in the message).
 */
export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const { store, keyring, target } = options;
  const found =
    options.sourceId === undefined
      ? await findBackup(store, options.backupId)
      : await readManifest(store, options.sourceId, options.backupId);
  const manifest = asDumpManifest(found);
  if (manifest.engine !== target.engine) {
    throw new ConfigError(
      `Backup ${manifest.backupId} is a ${manifest.engine} backup; it cannot be restored into ${describeConnection(target)}`,
    );
  }
  const table = options.table === undefined ? undefined : resolveTable(manifest, options.table);
  if (options.replaceTable && !table) throw new ConfigError('replaceTable needs a table to replace');
  assertKeyringMatches(manifest.encryption.keyring, keyring.description);

  if (manifest.payload.parts && !table) {
    const { onProgress, preverified } = options;
    const restored = await runPartsRestore({
      store, manifest, keyring, target, dropExisting: options.dropExisting ?? false, jobs: resolveJobs(options.jobs), zstd: options.zstd,
      ...(onProgress ? { onProgress } : {}), ...(preverified ? { preverified } : {}),
    });
    return { manifest, ...restored, warnings: [] };
  }

  const key = `${backupPrefix(manifest.sourceId, manifest.backupId)}${manifest.payload.key}`;
  if (!manifest.payload.parts) {
    // A short or long payload fails here, before the target is touched.
    const head = await store.head(key);
    if (!head) {
      throw new ChecksumMismatchError(`Payload ${key} of backup ${manifest.backupId} is missing from ${store.location}`);
    }
    if (head.bytes !== manifest.payload.storedBytes) {
      throw new ChecksumMismatchError(
        `Payload ${key} holds ${head.bytes} bytes; its manifest says ${manifest.payload.storedBytes} (truncated or altered)`,
      );
    }
  }

  const dropExisting = options.dropExisting ?? false;
  const replaceTable = options.replaceTable ?? false;
  const tableState = table && !dropExisting ? await tableInTarget(target, table) : 'no-database';
  if (tableState === 'present' && !replaceTable) {
    throw new TargetNotEmptyError(
      `Table ${describeTable(target, table!)} already exists in ${describeConnection(target)}; ` +
        'replace that table alone with replaceTable (--replace-table), or restore into a new database',
    );
  }
  const { created } =
    table && tableState !== 'no-database'
      ? { created: false } // an existing database that may hold other objects: only the table is touched
      : target.engine === 'postgresql'
        ? await preparePostgresTarget(target, { dropExisting })
        : await prepareMysqlTarget(target, { dropExisting });
  // What undoes a half-done restore: drop what this run created; MySQL cannot roll back, so empty or remove what it wrote.
  const undo = undoFor(target, created, table, tableState);
  const releaseUndo = undo ? onInterrupt(undo.action, undo.object, undo.run) : () => {};

  let tool: RunningTool<'pipe', 'ignore'> | undefined;
  let listDir: string | undefined;
  let warnings: readonly string[] = [];
  try {
    if (manifest.payload.parts && table) {
      // One table of a multi-part backup: selected across its schema, data and post-data parts.
      const { onProgress } = options;
      const restored = await restoreTableFromParts({ store, manifest, keyring, target, table, replace: replaceTable, ...(onProgress ? { onProgress } : {}) });
      releaseUndo();
      return { manifest, ...restored, table, createdDatabase: created };
    }
    // The restore tool may stop reading (and commit) before the end of the payload, so the end-of-stream
    // checks below would come too late: check the stored bytes first, in a pass of their own.
    if (table) await verifyStoredPayload(store, key, manifest);
    let plan: RestorePlan =
      target.engine === 'postgresql' ? await postgresRestorePlan(target, undefined) : await mysqlRestorePlan(target);
    let filter: MysqlTableFilter | undefined;
    if (table && target.engine === 'postgresql') {
      const selection = await postgresTableSelection(store, key, manifest, keyring, target, table, replaceTable);
      listDir = selection.dir;
      warnings = selection.warnings;
      plan = { ...plan, args: [...plan.args, `--use-list=${selection.listFile}`, ...(replaceTable ? ['--clean', '--if-exists'] : [])] };
    } else if (table) {
      filter = new MysqlTableFilter(table.name);
    }
    tool = spawnTool(plan.command, plan.args, { env: plan.env, stdin: 'pipe', stdout: 'ignore' });
    const running = tool;
    const verifier = new PayloadVerifier(key, manifest.payload.sha256, manifest.payload.storedBytes);
    const raw = new ByteCounter(() => meter.tick());
    const meter = new ProgressMeter('restore', () => ({ rawBytes: raw.bytes, storedBytes: verifier.bytes }), options.onProgress);
    const stages: (Readable | Transform | Writable)[] = [
      await store.getStream(key),
      verifier,
      createDecryptStream(keyring, backupEncryptionContext(manifest.sourceId, manifest.backupId)),
      createDecompressStream(),
      raw,
      ...(filter ? [filter] : []),
      new HoldBackLast(),
      running.child.stdin,
    ];
    const failure = await pumpIntoTool(stages, () => running.kill());
    const exit = await running.exited;
    if (failure !== undefined && failure instanceof LifeboatError) {
      throw await diagnose(failure, store, key, manifest);
    }
    // pg_restore -t stops reading once it has its table; the payload was verified whole beforehand.
    const stoppedEarlyByDesign = table !== undefined && exit.code === 0 && isToolGone(failure);
    if ((failure !== undefined && !stoppedEarlyByDesign) || exit.code !== 0) {
      const stderr = running.stderrTail();
      throw new RestoreFailedError(
        `Restore of backup ${manifest.backupId} into ${describeConnection(target)} failed: ${describeExit(plan.command, exit)}` +
          (stderr === '' ? '' : `: ${redact(stderr, target)}`),
        ...(failure === undefined ? [] : [{ cause: failure }]),
      );
    }
    if (filter && !filter.sawTable) {
      throw new RestoreFailedError(`Backup ${manifest.backupId} holds no statements for table ${table!.name}: nothing was restored`);
    }
    meter.finish();
    releaseUndo();
    return { manifest, rawBytes: raw.bytes, storedBytes: verifier.bytes, ...(table ? { table } : {}), createdDatabase: created, warnings };
  } catch (error) {
    tool?.kill();
    await tool?.exited;
    await undo?.run().catch(() => {});
    releaseUndo();
    throw error;
  } finally {
    if (listDir) await rm(listDir, { recursive: true, force: true });
  }
}

type TableState = 'no-database' | 'absent' | 'present';

/** Whether the target database exists, and whether it already has `table`. */
async function tableInTarget(target: ConnectionInfo, table: TableSelector): Promise<TableState> {
  if (target.engine === 'postgresql') {
    const admin = await connectPostgres({ ...target, database: 'postgres' });
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database]);
      if (exists.rowCount === 0) return 'no-database';
    } finally {
      await admin.end().catch(() => {});
    }
    const client = await connectPostgres(target);
    try {
      const found = await client.query('SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2', [
        table.schema,
        table.name,
      ]);
      return found.rowCount === 0 ? 'absent' : 'present';
    } finally {
      await client.end().catch(() => {});
    }
  }
  const connection = await connectMysql(target, null);
  try {
    const [schemas] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target.database]);
    if (schemas.length === 0) return 'no-database';
    const [tables] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [
      target.database,
      table.name,
    ]);
    return tables.length === 0 ? 'absent' : 'present';
  } finally {
    await connection.end().catch(() => {});
  }
}

function describeTable(target: ConnectionInfo, table: TableSelector): string {
  return target.engine === 'postgresql' ? `${table.schema}.${table.name}` : table.name;
}

/** How to undo a restore that did not finish, or undefined when the tool's transaction does (PostgreSQL into an existing database). */
function undoFor(
  target: ConnectionInfo,
  created: boolean,
  table: TableSelector | undefined,
  tableState: TableState,
): { action: string; object: string; run: () => Promise<void> } | undefined {
  if (created) {
    return { action: 'dropped', object: `half-restored database ${describeConnection(target)} (created by this run)`, run: () => dropDatabase(target) };
  }
  if (target.engine !== 'mysql') return undefined;
  if (!table) {
    return { action: 'emptied', object: `half-restored database ${describeConnection(target)} (it was empty before)`, run: () => resetMysqlTarget(target) };
  }
  if (tableState === 'absent') {
    return {
      action: 'dropped',
      object: `half-restored table ${table.name} in ${describeConnection(target)}`,
      run: async () => {
        const connection = await connectMysql(target);
        try {
          await connection.query(`DROP TABLE IF EXISTS ${mysql.escapeId(table.name)}`);
        } finally {
          await connection.end().catch(() => {});
        }
      },
    };
  }
  // --replace-table on MySQL: the old table is gone once its DROP ran; nothing brings it back.
  return undefined;
}

/**
 * The `pg_restore -L` list for one table, written to a private temporary directory (removed by the
 * caller): the archive's table of contents and schema are read from the payload's head (the tools stop
 * reading once they have them), and the target's current contents decide which dependencies come along.
 */
async function postgresTableSelection(
  store: VaultStore,
  key: string,
  manifest: DumpManifest,
  keyring: BackupKeyring,
  target: ConnectionInfo,
  table: TableSelector,
  replace: boolean,
): Promise<{ dir: string; listFile: string; warnings: readonly string[] }> {
  const toc = await readTableOfContents(store, key, manifest, keyring);
  const schemaSql = await readSchemaSql(store, key, manifest, keyring);
  const facts = await postgresFacts(target, table.schema);
  const selection = postgresTableList(toc, parseArchiveEntries(schemaSql), table, facts, { replace });
  if (!selection.lines.some((line) => / TABLE (DATA )?\S+ /.test(line))) {
    throw new ConfigError(`Backup ${manifest.backupId} has no table "${table.schema}.${table.name}" in its archive's table of contents`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-table-'));
  const listFile = path.join(dir, 'restore.list');
  await writeFile(listFile, `${selection.lines.join('\n')}\n`, { mode: 0o600 });
  return { dir, listFile, warnings: selection.warnings };
}

/** Reads the stored payload once, hashing it: for restores whose tool may stop reading before the end. */
async function verifyStoredPayload(store: VaultStore, key: string, manifest: DumpManifest): Promise<void> {
  const verifier = new PayloadVerifier(key, manifest.payload.sha256, manifest.payload.storedBytes);
  await pipeline(await store.getStream(key), verifier, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
}

/**
 * A decryption or decompression failure is either a wrong key or damaged bytes; reading the payload
 * again and hashing it tells which, so that storage damage is reported as `ChecksumMismatchError`.
 */
async function diagnose(failure: LifeboatError, store: VaultStore, key: string, manifest: DumpManifest): Promise<Error> {
  if (!(failure instanceof DecryptionFailedError || failure instanceof DecompressionFailedError)) return failure;
  try {
    const { bytes, sha256: digest } = await storedDigest(store, key);
    if (digest !== manifest.payload.sha256 || bytes !== manifest.payload.storedBytes) {
      return new ChecksumMismatchError(
        `Payload ${key} does not match its manifest (SHA-256 ${digest}, expected ${manifest.payload.sha256}): it is damaged or was altered`,
        { cause: failure },
      );
    }
    // Intact stored bytes whose data key will not unwrap: the key is wrong, not the backup (as verify says).
    if (isUnwrapFailure(failure)) return wrongKeyError(manifest.backupId, failure, 'nothing was restored');
  } catch {
    // Could not re-read: report what we know.
  }
  return failure;
}

/** Hashes and counts the stored bytes; at the end (or as soon as there are too many) compares with the manifest. */
class PayloadVerifier extends Transform {
  bytes = 0;
  readonly #hash = createHash('sha256');

  constructor(
    private readonly key: string,
    private readonly sha256: string,
    private readonly size: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.size) {
      callback(new ChecksumMismatchError(`Payload ${this.key} is longer than the ${this.size} bytes its manifest records`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.size) {
      callback(new ChecksumMismatchError(`Payload ${this.key} ended after ${this.bytes} bytes; its manifest records ${this.size}`));
      return;
    }
    const digest = this.#hash.digest('hex');
    if (digest !== this.sha256) {
      callback(
        new ChecksumMismatchError(`Payload ${this.key} has SHA-256 ${digest}; its manifest records ${this.sha256}`),
      );
      return;
    }
    callback();
  }
}

export function asDumpManifest(manifest: BackupManifest): DumpManifest {
  if (manifest.kind !== 'dump' || !manifest.payload || !manifest.compression || !manifest.encryption) {
    throw new ManifestInvalidError(
      `Backup ${manifest.sourceId}/${manifest.backupId} is a ${manifest.kind}, not a dump: restore it from its RDS snapshot`,
    );
  }
  if (manifest.compression.codec !== 'zstd' || manifest.encryption.scheme !== 'aws-encryption-sdk') {
    throw new ManifestInvalidError(`Backup ${manifest.backupId} uses a codec or encryption scheme this Lifeboat does not read`);
  }
  return manifest as DumpManifest;
}

/** `orders` or `sales.orders` (MySQL: `orders` or `shop.orders`), checked against the tables the manifest lists. */
export function resolveTable(manifest: BackupManifest, spec: string): TableSelector {
  const dot = spec.indexOf('.');
  const schema = dot === -1 ? undefined : spec.slice(0, dot);
  const name = dot === -1 ? spec : spec.slice(dot + 1);
  const matches = manifest.content.tables.filter((t) => t.name === name && (schema === undefined || t.schema === schema));
  // A partitioned table holds no rows itself, so the manifest lists only its partitions: the archive's table of contents decides.
  if (matches.length === 0 && manifest.engine === 'postgresql' && manifest.content.tables.some((t) => t.name.startsWith(`${name}_`))) {
    return { schema: schema ?? 'public', name };
  }
  if (matches.length === 0) {
    throw new ConfigError(`Backup ${manifest.backupId} has no table "${spec}"`);
  }
  if (matches.length > 1) {
    throw new ConfigError(
      `Table "${spec}" is ambiguous in backup ${manifest.backupId}: name one of ${matches.map((t) => `${t.schema}.${t.name}`).join(', ')}`,
    );
  }
  const match = matches[0]!;
  return { schema: match.schema, name: match.name };
}

/** A clear error before any byte is read, when the key given cannot be the one the backup was made with. */
export function assertKeyringMatches(recorded: ManifestKeyring, given: KeyringDescription): void {
  const describe = (k: ManifestKeyring | KeyringDescription) =>
    k.type === 'raw-aes' ? `local key ${k.keyNamespace}/${k.keyName}` : `KMS key ${k.keyIds.join(', ')}`;
  const mismatch = (): never => {
    throw new WrongKeyError(`The backup was encrypted with ${describe(recorded)}; the key given is ${describe(given)}`);
  };
  if (recorded.type !== given.type) mismatch();
  if (recorded.type === 'raw-aes' && given.type === 'raw-aes') {
    if (recorded.keyNamespace !== given.keyNamespace || recorded.keyName !== given.keyName) mismatch();
  }
  if (recorded.type === 'kms' && given.type === 'kms') {
    // A multi-Region key's replicas share the key id (`mrk-…`) under other Regions' ARNs.
    const keyId = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);
    const recordedIds = new Set(recorded.keyIds.map(keyId));
    if (!given.keyIds.some((arn) => recordedIds.has(keyId(arn)))) mismatch();
  }
}

/**
 * What `dropExisting` would destroy in `target`: its user tables, views and sequences (PostgreSQL) or
 * tables, views and routines (MySQL), qualified; `undefined` when the database does not exist.
 */
export async function targetContents(target: ConnectionInfo): Promise<string[] | undefined> {
  if (target.engine === 'postgresql') {
    const admin = await connectPostgres({ ...target, database: 'postgres' });
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database]);
      if (exists.rowCount === 0) return undefined;
    } finally {
      await admin.end().catch(() => {});
    }
    const client = await connectPostgres(target);
    try {
      const result = await client.query<{ s: string; n: string }>(`
        SELECT n.nspname AS s, c.relname AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
         ORDER BY 1, 2`);
      return result.rows.map((row) => `${row.s}.${row.n}`);
    } finally {
      await client.end().catch(() => {});
    }
  }
  const connection = await connectMysql(target, null);
  try {
    const [schemas] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target.database]);
    if (schemas.length === 0) return undefined;
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?
       UNION ALL SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY 1`,
      [target.database, target.database],
    );
    return rows.map((row) => String(row.n));
  } finally {
    await connection.end().catch(() => {});
  }
}
