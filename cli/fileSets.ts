/**
 * The CLI's file-set paths: `backup file:///dir` (or `s3://bucket/prefix`), `restore ID --target file:///dir`
 * (or `s3://…`), `verify` of a file-set snapshot with `--read-data-subset`, and the file-set rows of `list`.
 * The engine is functions/lib/fileset; this only turns flags into its options and its results into output.
 */
import { cliAuditTrail } from './audit.ts';
import { fileURLToPath } from 'node:url';
import type { BackupKeyring } from '../functions/lib/crypto/keyring.ts';
import type { FileSetManifest } from '../functions/lib/fileset/format.ts';
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import type { FileSource } from '../functions/lib/fileset/sources.ts';
import type { RestoreTarget } from '../functions/lib/fileset/restore.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import { BackupNotFoundError } from '../functions/lib/errors.ts';
import { booleanFlag, stringFlag, type FlagValues } from './args.ts';
import { AmbiguousBackupIdError, ExitCode, UsageError } from './errors.ts';
import { formatBytes, formatDuration, formatTable, formatTimestamp } from './format.ts';
import type { Output } from './io.ts';
import { sourceIdFromDatabase } from './options.ts';
import { plural, secondsSince } from './summary.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** `file:///path` or `s3://bucket[/prefix]`: a file set rather than a database. */
export function isFileSetLocation(url: string): boolean {
  return /^(file|s3):\/\//i.test(url);
}

async function s3Client(env: Env) {
  const { createS3Client, s3ClientOptionsFromEnv } = await import('../functions/lib/aws/s3Client.ts');
  return createS3Client(s3ClientOptionsFromEnv(env));
}

async function parseS3(flag: string, url: string): Promise<{ bucket: string; prefix: string }> {
  const { parseS3Location } = await import('../functions/lib/vault/openStore.ts');
  try {
    const { bucket, prefix } = parseS3Location(url);
    return { bucket, prefix: prefix === '' ? '' : `${prefix}/` };
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message.replace(/^Vault location/, 'Location')}`, { cause: error });
  }
}

function filePath(flag: string, url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new UsageError(`${flag}: "${url}" is not a file:///absolute/path URL`, { cause: error });
  }
}

export async function fileSetSource(flag: string, url: string, env: Env): Promise<{ source: FileSource; defaultId: string }> {
  const { directorySource, s3Source } = await import('../functions/lib/fileset/sources.ts');
  if (/^s3:/i.test(url)) {
    const { bucket, prefix } = await parseS3(flag, url);
    return { source: s3Source(await s3Client(env), bucket, prefix), defaultId: sourceIdFromDatabase(bucket) };
  }
  const dir = filePath(flag, url);
  return { source: directorySource(dir), defaultId: sourceIdFromDatabase(dir.split('/').filter(Boolean).at(-1) ?? 'files') };
}

async function fileSetTarget(url: string, env: Env): Promise<RestoreTarget> {
  const { directoryTarget, s3Target } = await import('../functions/lib/fileset/restore.ts');
  if (/^s3:/i.test(url)) {
    const { bucket, prefix } = await parseS3('--target', url);
    return s3Target(await s3Client(env), bucket, prefix);
  }
  return directoryTarget(filePath('--target', url));
}

/** `backup file:///dir`: one snapshot; prints its id (or the manifest with --json). */
export async function fileSetBackupCommand(options: {
  url: string; store: VaultStore; keyring: BackupKeyring; sourceId: string | undefined; flags: FlagValues; output: Output; env: Env;
}): Promise<number> {
  const { store, keyring, flags, output } = options;
  const { source, defaultId } = await fileSetSource('--source', options.url, options.env);
  const sourceId = options.sourceId ?? defaultId;
  const { runFileSetBackup } = await import('../functions/lib/fileset/backup.ts');
  const started = performance.now();
  const { audited, failureDetails } = await import('../functions/lib/audit/index.ts');
  const trail = await cliAuditTrail(store, flags, options.env, output);
  const { manifest, skipped } = await audited(trail, () => runFileSetBackup({ store, keyring, sourceId, source }), {
    succeeded: ({ manifest: m, skipped: s }) => ({
      type: 'backup', outcome: 'succeeded', sourceId, backupId: m.backupId,
      details: { kind: 'file-set', startedAt: m.startedAt, completedAt: m.completedAt, files: m.totals.files, bytes: m.totals.bytes, newStoredBytes: m.totals.newStoredBytes, skipped: s.length },
    }),
    failed: (error) => ({ type: 'backup', outcome: 'failed', sourceId, details: failureDetails(error) }),
  });
  if (booleanFlag(flags, 'json')) output.json({ backupId: manifest.backupId, sourceId, vault: store.location, manifest, skipped });
  else output.out(manifest.backupId);
  for (const entry of skipped.slice(0, 20)) output.error(`lifeboat: warning: skipped ${entry.path}: ${entry.why}`);
  if (skipped.length > 20) output.error(`lifeboat: warning: skipped ${skipped.length - 20} more entries that are not regular files`);
  const t = manifest.totals;
  output.summary(
    `Backed up ${sourceId}/${manifest.backupId}: ${plural(t.files, 'file')}, ${formatBytes(t.bytes)} ` +
      `(${t.filesRead} read, ${t.filesReused} unchanged), ${formatBytes(t.newStoredBytes)} new in ${plural(t.newPacks, 'pack')}, in ${formatDuration(secondsSince(started))}`,
  );
  return ExitCode.ok;
}

/**
 * The file-set snapshot `ref` names, or `undefined` when the vault holds none that could match (then the
 * database commands go on as before). `latest` needs `--source` naming a file-set source.
 */
export async function findFileSetSnapshot(store: VaultStore, ref: string, sourceId: string | undefined): Promise<FileSetManifest | undefined> {
  const { listFileSetSources, resolveFileSetSnapshot, scanSnapshots } = await import('../functions/lib/fileset/catalog.ts');
  const sources = (await listFileSetSources(store)).filter((id) => sourceId === undefined || id === sourceId);
  if (sources.length === 0) return undefined;
  if (ref === 'latest') {
    if (sourceId === undefined) return undefined;
    return resolveFileSetSnapshot(store, sourceId, 'latest');
  }
  const matches: { sourceId: string; id: string }[] = [];
  for (const source of sources) for (const id of (await scanSnapshots(store, source)).complete) if (id.startsWith(ref)) matches.push({ sourceId: source, id });
  if (matches.length === 0) return undefined;
  if (matches.length > 1) {
    throw new AmbiguousBackupIdError(`"${ref}" matches ${matches.length} file-set snapshots: ${matches.slice(0, 5).map((m) => `${m.sourceId}/${m.id}`).join(', ')}; give more of the id or --source`);
  }
  return resolveFileSetSnapshot(store, matches[0]!.sourceId, matches[0]!.id);
}

/** `restore ID --target file:///dir [--path P] [--overwrite]`. */
export async function fileSetRestoreCommand(options: {
  ref: string; target: string; store: VaultStore; keyring: BackupKeyring; sourceId: string | undefined; flags: FlagValues; output: Output; env: Env;
}): Promise<number> {
  const { store, keyring, flags, output } = options;
  const manifest = await findFileSetSnapshot(store, options.ref, options.sourceId);
  if (!manifest) {
    throw new BackupNotFoundError(`No file-set snapshot "${options.ref}" in ${store.location}${options.sourceId ? ` (source ${options.sourceId})` : ''}; a file:// or s3:// --target restores file sets only`);
  }
  const select = stringFlag(flags, 'path');
  const target = await fileSetTarget(options.target, options.env);
  const { restoreFileSet } = await import('../functions/lib/fileset/restore.ts');
  const started = performance.now();
  const result = await restoreFileSet({ store, keyring, manifest, target, ...(select === undefined ? {} : { select }), overwrite: booleanFlag(flags, 'overwrite') });
  if (booleanFlag(flags, 'json')) output.json({ sourceId: manifest.sourceId, backupId: manifest.backupId, target: target.location, ...result });
  output.summary(`Restored ${plural(result.files, 'file')} (${formatBytes(result.bytes)}) of ${manifest.sourceId}/${manifest.backupId} into ${target.location}, in ${formatDuration(secondsSince(started))}`);
  return ExitCode.ok;
}

/** `--read-data-subset N%` (or N): the share of packs read in full. */
export function readDataPercent(flags: FlagValues): number {
  const text = stringFlag(flags, 'read-data-subset');
  if (text === undefined) return 100;
  const match = /^(\d{1,3}(?:\.\d+)?)%?$/.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (!(value >= 0 && value <= 100)) throw new UsageError(`--read-data-subset: expected a percentage from 0 to 100 such as 10%, got "${text}"`);
  return value;
}

export async function fileSetVerifyCommand(options: {
  manifest: FileSetManifest;
  store: VaultStore;
  keyring: BackupKeyring;
  flags: FlagValues;
  output: Output;
  /** Signs the recorded result (--verification-key), as the deployed verifier does. @default unsigned */
  signer?: MacSigner;
}): Promise<number> {
  const { manifest, store, keyring, flags, output } = options;
  const { verifyFileSetSnapshot } = await import('../functions/lib/verify/fileSet.ts');
  const started = performance.now();
  // Recorded in the snapshot's folder like the deployed verifier's result (a DR plan's restore-files picks by it).
  const { verification: result } = await verifyFileSetSnapshot({
    store,
    keyring,
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    readDataPercent: readDataPercent(flags),
    ...(options.signer ? { signer: options.signer } : {}),
  });
  if (booleanFlag(flags, 'json')) output.json({ sourceId: manifest.sourceId, backupId: manifest.backupId, ...result });
  else {
    const lines = [`File set ${manifest.sourceId}/${manifest.backupId}: ${result.ok ? 'verified' : 'FAILED'} (${result.packsRead} of ${plural(result.packs, 'pack')} read, ${plural(result.chunksChecked, 'chunk')} checked)`];
    if (result.problems.length > 0) lines.push('', formatTable(['OBJECT', 'ERROR', 'DETAIL'], result.problems.map((p) => [p.object, p.error, p.message])));
    output.out(lines.join('\n'));
  }
  if (result.ok) {
    output.summary(`Verified ${manifest.sourceId}/${manifest.backupId} in ${formatDuration(secondsSince(started))}`);
    return ExitCode.ok;
  }
  output.error(`lifeboat: VerificationFailedError: ${plural(result.problems.length, 'damaged object')}: ${result.problems.map((p) => p.object).join(', ')}`);
  return ExitCode.integrity;
}

/** One row of `list --json`'s `fileSets`. */
export interface FileSetSummary {
  readonly backupId: string;
  readonly sourceId: string;
  readonly kind: 'fileset';
  readonly source: FileSetManifest['source'];
  readonly startedAt: string;
  readonly completedAt: string;
  readonly files: number;
  readonly bytes: number;
  readonly storedBytes: number;
  readonly newStoredBytes: number;
}

export async function fileSetSummaries(store: VaultStore, sourceId: string | undefined): Promise<FileSetSummary[]> {
  const { listFileSetSnapshots } = await import('../functions/lib/fileset/catalog.ts');
  const { listFileSetSources } = await import('../functions/lib/fileset/catalog.ts');
  if (sourceId !== undefined && !(await listFileSetSources(store)).includes(sourceId)) return [];
  const manifests = await listFileSetSnapshots(store, sourceId);
  return manifests
    .map((m) => ({
      backupId: m.backupId, sourceId: m.sourceId, kind: 'fileset' as const, source: m.source, startedAt: m.startedAt, completedAt: m.completedAt,
      files: m.totals.files, bytes: m.totals.bytes, storedBytes: m.totals.storedBytes, newStoredBytes: m.totals.newStoredBytes,
    }))
    .sort((a, b) => (a.backupId < b.backupId ? 1 : -1));
}

export function renderFileSets(rows: readonly FileSetSummary[]): string {
  return formatTable(
    ['FILE SET', 'SOURCE', 'COMPLETED', 'FILES', 'SIZE', 'STORED', 'NEW'],
    rows.map((r) => [r.backupId, r.sourceId, formatTimestamp(r.completedAt), String(r.files), formatBytes(r.bytes), formatBytes(r.storedBytes), formatBytes(r.newStoredBytes)]),
    new Set([3, 4, 5, 6]),
  );
}
