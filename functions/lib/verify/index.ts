/** Verification of dump backups: the streamed integrity pass, the restore test and the size anomaly check. */
export { verifyBackup, type VerifyOptions } from './verify.ts';
export {
  DEFAULT_ANOMALY_THRESHOLDS,
  MIN_HISTORY,
  checkSizeAnomaly,
  resolveAnomalyThresholds,
  type AnomalyOutcome,
  type AnomalyThresholds,
} from './anomaly.ts';
export { SCRATCH_PREFIX, listScratchDatabases, scratchCreatedAt, scratchDatabaseName, sweepStaleScratch, type ScratchFound } from './scratch.ts';
