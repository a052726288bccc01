/**
 * Size anomaly: a backup far smaller or larger than the recent verified backups of its source is
 * suspicious even when it restores (a table truncated by mistake, an import that doubled the data).
 * Compared on uncompressed size, which compression settings do not move.
 */
import { ConfigError } from '../errors.ts';
import { readManifest } from '../vault/catalog.ts';
import { MANIFEST_NAME, VERIFICATIONS_DIR, parseBackupKey, sourcePrefix } from '../vault/layout.ts';
import type { BackupManifest } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { type SizeAnomaly, type VerificationReadOptions, isVerificationName, newestVerification } from '../vault/verification.ts';

export interface AnomalyThresholds {
  /** Flag a backup smaller than this fraction of the median. @default 0.5 */
  readonly minRatio?: number;
  /** Flag a backup larger than this multiple of the median. @default 2.0 */
  readonly maxRatio?: number;
  /** How many of the most recent earlier verified backups make the median. @default 5 */
  readonly window?: number;
}

export const DEFAULT_ANOMALY_THRESHOLDS: Required<AnomalyThresholds> = { minRatio: 0.5, maxRatio: 2.0, window: 5 };

/** Fewer earlier verified backups than this, and there is nothing to compare with. */
export const MIN_HISTORY = 2;
/** Earlier backups looked at, at most, to find `window` verified ones (unverified ones are skipped). */
const MAX_SCANNED = 50;

/** The thresholds with defaults filled in; one `ConfigError` naming every bad field. */
export function resolveAnomalyThresholds(given: AnomalyThresholds = {}): Required<AnomalyThresholds> {
  const resolved = {
    minRatio: given.minRatio ?? DEFAULT_ANOMALY_THRESHOLDS.minRatio,
    maxRatio: given.maxRatio ?? DEFAULT_ANOMALY_THRESHOLDS.maxRatio,
    window: given.window ?? DEFAULT_ANOMALY_THRESHOLDS.window,
  };
  const problems: string[] = [];
  if (!(Number.isFinite(resolved.minRatio) && resolved.minRatio > 0 && resolved.minRatio <= 1)) {
    problems.push(`anomaly.minRatio: must be a number in (0, 1], got ${resolved.minRatio}`);
  }
  if (!(Number.isFinite(resolved.maxRatio) && resolved.maxRatio >= 1)) {
    problems.push(`anomaly.maxRatio: must be a number >= 1, got ${resolved.maxRatio}`);
  }
  if (!(Number.isInteger(resolved.window) && resolved.window >= MIN_HISTORY)) {
    problems.push(`anomaly.window: must be a whole number >= ${MIN_HISTORY}, got ${resolved.window}`);
  }
  if (problems.length > 0) throw new ConfigError(`Invalid size anomaly thresholds: ${problems.join('; ')}`);
  return resolved;
}

export type AnomalyOutcome =
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'passed' | 'warning'; readonly reason?: string; readonly anomaly: SizeAnomaly };

/**
 * Compares `manifest.payload.rawBytes` with the median of the `window` most recent verified dumps of the
 * same source that started before it. One listing of the source finds the candidates and their newest
 * verification results; manifests are read only for the verified ones.
 */
export async function checkSizeAnomaly(
  store: VaultStore,
  manifest: BackupManifest & { payload: NonNullable<BackupManifest['payload']> },
  thresholds: Required<AnomalyThresholds>,
  reading: Pick<VerificationReadOptions, 'authenticator'> = {},
): Promise<AnomalyOutcome> {
  const earlier = new Map<string, { hasManifest: boolean; verifications: string[] }>();
  for await (const key of store.list(sourcePrefix(manifest.sourceId))) {
    const parsed = parseBackupKey(key);
    if (!parsed || parsed.backupId >= manifest.backupId) continue;
    const folder = earlier.get(parsed.backupId) ?? { hasManifest: false, verifications: [] };
    if (parsed.name === MANIFEST_NAME) folder.hasManifest = true;
    const dir = `${VERIFICATIONS_DIR}/`;
    if (parsed.name.startsWith(dir) && isVerificationName(parsed.name.slice(dir.length))) folder.verifications.push(key);
    earlier.set(parsed.backupId, folder);
  }

  const compared: { backupId: string; rawBytes: number }[] = [];
  const newestFirst = [...earlier.entries()].filter(([, f]) => f.hasManifest && f.verifications.length > 0).sort(([a], [b]) => (a < b ? 1 : -1));
  for (const [backupId, folder] of newestFirst.slice(0, MAX_SCANNED)) {
    if (compared.length === thresholds.window) break;
    const previous = await readManifest(store, manifest.sourceId, backupId).catch(() => undefined);
    if (previous?.kind !== 'dump' || !previous.payload) continue;
    const latest = await newestVerification(store, folder.verifications, { sourceId: manifest.sourceId, backupId }, { ...reading, manifest: previous });
    if (latest.status !== 'verified' || latest.problem !== undefined) continue;
    compared.push({ backupId, rawBytes: previous.payload.rawBytes });
  }

  if (compared.length < MIN_HISTORY) {
    return {
      status: 'skipped',
      reason: `${compared.length} earlier verified backup${compared.length === 1 ? '' : 's'} of ${manifest.sourceId} to compare with; at least ${MIN_HISTORY} are needed`,
    };
  }
  const medianRawBytes = Math.round(median(compared.map((c) => c.rawBytes)));
  if (medianRawBytes === 0) return { status: 'skipped', reason: 'the earlier verified backups are empty (median raw size 0 bytes)' };
  const { rawBytes } = manifest.payload;
  const ratio = rawBytes / medianRawBytes;
  const flagged = ratio < thresholds.minRatio || ratio > thresholds.maxRatio;
  const anomaly: SizeAnomaly = {
    rawBytes,
    medianRawBytes,
    ratio: Math.round(ratio * 1000) / 1000,
    minRatio: thresholds.minRatio,
    maxRatio: thresholds.maxRatio,
    compared: compared.map((c) => c.backupId),
    flagged,
  };
  if (!flagged) return { status: 'passed', anomaly };
  return {
    status: 'warning',
    anomaly,
    reason:
      `raw size ${rawBytes} bytes is ${ratio.toFixed(2)}x the median ${medianRawBytes} bytes of the ${compared.length} previous ` +
      `verified backups (expected ${thresholds.minRatio}x to ${thresholds.maxRatio}x): ${ratio < 1 ? 'far smaller' : 'far larger'} than usual`,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
