/** File sets: content-defined, deduplicated, encrypted snapshots of directories and S3 prefixes (docs/vault-format.md, "File sets"). */
export * from './format.ts';
export { runFileSetBackup, type FileSetBackupOptions, type FileSetBackupResult } from './backup.ts';
export { restoreFileSet, directoryTarget, s3Target, type RestoreTarget, type FileSetRestoreOptions } from './restore.ts';
export { verifyFileSet, type FileSetVerification, type FileSetProblem } from './verify.ts';
export { pruneFileSet, type FileSetPruneReport, type FileSetPruneOptions } from './prune.ts';
export { listFileSetSnapshots, listFileSetSources, resolveFileSetSnapshot, readFiles, loadIndex, scanSnapshots } from './catalog.ts';
export { directorySource, s3Source, type FileSource } from './sources.ts';
