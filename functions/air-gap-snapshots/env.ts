/** The snapshot copier's dependencies from its environment (set by infra/constructs/air-gapped-vault.ts). */
import { requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import type { RdsSender } from '../lib/aws/rdsSnapshot.ts';
import type { AirGapSnapshotDeps } from './copyShared.ts';

/** Fails naming the variable that is missing or malformed. */
export function airGapSnapshotDepsFromEnv(env: Readonly<Record<string, string | undefined>>, rds: RdsSender): AirGapSnapshotDeps {
  const vars = requireEnv(['WORKLOAD_ACCOUNT', 'AIR_GAP_KEY_ARN', 'SNAPSHOT_RETENTION_DAYS'], env);
  const retentionDays = Number(vars.SNAPSHOT_RETENTION_DAYS);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new ConfigError(`SNAPSHOT_RETENTION_DAYS must be a whole number of days, at least 1, got "${vars.SNAPSHOT_RETENTION_DAYS}"`);
  if (!/^\d{12}$/.test(vars.WORKLOAD_ACCOUNT)) throw new ConfigError(`WORKLOAD_ACCOUNT must be a 12-digit account id, got "${vars.WORKLOAD_ACCOUNT}"`);
  return { rds, workloadAccount: vars.WORKLOAD_ACCOUNT, kmsKeyId: vars.AIR_GAP_KEY_ARN, retentionDays };
}
