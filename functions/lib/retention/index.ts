/** Retention: the pure planner, the vault and RDS snapshot pruners built on it, and their report. */
export * from './plan.ts';
export { PERIOD_KINDS, assertTimeZone, formatLocalTime, isoWeek, localDate, periodKey, type LocalDate, type PeriodKind } from './calendar.ts';
export { latestVerificationReader, readLatestVerification, type VerificationState } from './verification.ts';
export { isObjectLockRefusal, s3ObjectLockReader, type ReadProtection, type S3ObjectLockReaderOptions } from './objectLock.ts';
export { DEFAULT_INCOMPLETE_GRACE_MS, pruneVault, type PruneVaultOptions } from './prune.ts';
export * from './snapshots.ts';
export { formatRetentionReport, type RetentionReport, type RetentionReportEntry, type RetentionReportError } from './report.ts';
