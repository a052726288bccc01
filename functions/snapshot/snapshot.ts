/**
 * The snapshot function's core: create an RDS instance or Aurora cluster snapshot, describe it while the
 * state machine waits (Wait ▸ describe ▸ Choice; no Lambda sleeps), and record it in the vault as a backup
 * of kind `snapshot` once it is available. Contracts: docs/pipeline-functions.md.
 */
import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import { createHash } from 'node:crypto';
import { CreateDBClusterSnapshotCommand, CreateDBSnapshotCommand } from '@aws-sdk/client-rds';
import { z } from 'zod';
import {
  RDS_TAG_VALUE_PATTERN,
  describeSnapshot,
  fromClusterSnapshot,
  fromInstanceSnapshot,
  isFailedSnapshotStatus,
  isSnapshotOfBackup,
  lifeboatSnapshotTags,
  parseSnapshotArn,
  rdsErrorCode,
  rdsErrorMessage,
  snapshotIdentifierFor,
  snapshotSourceIdProblem,
  type DescribedSnapshot,
  type RdsSender,
  type SnapshotType,
} from '../lib/aws/rdsSnapshot.ts';
import { LIFEBOAT_VERSION } from '../lib/engine/version.ts';
import {
  BackupConflictError,
  BackupNotFoundError,
  ConfigError,
  ManifestMissingError,
  SnapshotAlreadyRunningError,
  SnapshotFailedError,
  SnapshotNotReadyError,
  SnapshotQuotaExceededError,
} from '../lib/errors.ts';
import { readManifest, writeManifest } from '../lib/vault/catalog.ts';
import { BACKUP_ID_PATTERN, manifestKey, newBackupId, parseBackupId } from '../lib/vault/layout.ts';
import { formatVersionFor, MANIFEST_FORMAT, type BackupManifest } from '../lib/vault/manifest.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import { parseOrConfigError } from '../lib/validation.ts';

/**
 * A source as the snapshot function is told of it (LIFEBOAT_SOURCES). Extra fields are ignored, so the
 * dump function's entries (with `credentialsSecretArn`) can be reused as they are.
 */
export const SnapshotSourceSchema = z.object({
  id: z.string().superRefine((id, ctx) => {
    const problem = snapshotSourceIdProblem(id);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** `docdb`: an Amazon DocumentDB cluster, through the same RDS snapshot API as Aurora. */
  engine: z.enum(['postgresql', 'mysql', 'docdb']),
  /** Recorded as `source.database` in the manifest; a snapshot holds every database, so `*` without it. */
  database: z.string().min(1).optional(),
  rds: z.object({ type: z.enum(['instance', 'cluster']), identifier: z.string().min(1) }),
  /** The `lifeboat:policy` tag value, e.g. from `retentionPolicyTag()`. @default 'default' */
  policy: z
    .string()
    .regex(RDS_TAG_VALUE_PATTERN, 'must be 1-256 characters RDS accepts in a tag value (letters, digits, spaces, _ . : / = + - @)')
    .optional(),
});
export type SnapshotSource = z.infer<typeof SnapshotSourceSchema>;

const isoTimestamp = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 timestamp' });
const backupIdSchema = z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab');

/** Where a snapshot is: what `create` returns and `describe` / `record` take back. */
export const SnapshotRefSchema = z.object({
  sourceId: z.string().min(1),
  backupId: backupIdSchema,
  type: z.enum(['instance', 'cluster']),
  snapshotIdentifier: z.string().min(1),
  snapshotArn: z.string().startsWith('arn:'),
  region: z.string().min(1),
  startedAt: isoTimestamp,
});
export type SnapshotRef = z.infer<typeof SnapshotRefSchema>;

export const SnapshotEventSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('create'),
    sourceId: z.string().min(1),
    /** Use this backup id instead of deriving or minting one. */
    backupId: backupIdSchema.optional(),
    /**
     * `$$.Execution.Id` and `$$.Execution.StartTime`: with both, the backup id is derived from them, so a
     * retried create in the same execution asks for the same snapshot name and finds the one it made.
     */
    executionId: z.string().min(1).optional(),
    executionStartTime: isoTimestamp.optional(),
  }),
  z.object({ action: z.literal('describe'), snapshot: SnapshotRefSchema }),
  z.object({ action: z.literal('record'), snapshot: SnapshotRefSchema }),
]);
export type SnapshotEvent = z.input<typeof SnapshotEventSchema>;

/** What `create` and `describe` return: the reference plus RDS's progress. */
export interface SnapshotStatus extends SnapshotRef {
  /** RDS's status: `creating`, `available`, … (a failed snapshot is a `SnapshotFailedError`, never returned). */
  readonly status: string;
  readonly percentProgress: number;
}

/** What `record` returns. */
export interface SnapshotRecord extends SnapshotRef {
  readonly kind: 'snapshot';
  readonly completedAt: string;
  readonly manifestKey: string;
  /** The manifest was already in the vault (a retried record): nothing was written. */
  readonly alreadyRecorded: boolean;
}

export type SnapshotResult = SnapshotStatus | SnapshotRecord;

export interface SnapshotDeps {
  readonly sources: readonly SnapshotSource[];
  /** RDS in the sources' region. */
  readonly rds: RdsSender;
  /** The primary vault. */
  readonly store: VaultStore;
  /** The region the function and the sources are in. */
  readonly region: string;
  readonly now?: () => Date;
  /** Records `snapshot` events: a recorded snapshot, a failed one (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
}

/** Runs one action of the snapshot function. */
export async function handleSnapshotEvent(event: unknown, deps: SnapshotDeps): Promise<SnapshotResult> {
  const action = (event as { action?: unknown } | null)?.action;
  const ids = idsOf((event as { snapshot?: unknown } | null)?.snapshot ?? event);
  return audited(deps.audit, () => handleSnapshotEventNow(event, deps), {
    succeeded: (result) => {
      if (action !== 'record') return undefined;
      const record = result as SnapshotRecord;
      return { type: 'snapshot', outcome: 'succeeded', sourceId: record.sourceId, backupId: record.backupId, details: { snapshotArn: record.snapshotArn, completedAt: record.completedAt, manifestKey: record.manifestKey } };
    },
    // "Not available yet" is the wait loop, not a failure.
    failed: (error) => (error.name === 'SnapshotNotReadyError' ? undefined : { type: 'snapshot', outcome: 'failed', ...ids, details: { ...failureDetails(error), action: String(action) } }),
  });
}

async function handleSnapshotEventNow(event: unknown, deps: SnapshotDeps): Promise<SnapshotResult> {
  const request = parseOrConfigError(SnapshotEventSchema, event, 'Invalid snapshot event');
  switch (request.action) {
    case 'create':
      return createSnapshot(request, deps);
    case 'describe':
      return describeSnapshotProgress(request.snapshot, deps);
    case 'record':
      return recordSnapshot(request.snapshot, deps);
  }
}

type CreateRequest = Extract<z.output<typeof SnapshotEventSchema>, { action: 'create' }>;

/**
 * Starts a snapshot named `lifeboat-<sourceId>-<backupId>`, tagged with source, backup id, policy and
 * `lifeboat:managed-by`. A name that already exists with this backup's tags is the snapshot an earlier
 * attempt started: it is described and returned, not an error.
 */
export async function createSnapshot(request: Omit<CreateRequest, 'action'>, deps: SnapshotDeps): Promise<SnapshotStatus> {
  const source = findSource(request.sourceId, deps);
  const now = deps.now?.() ?? new Date();
  const { backupId, startedAt } = backupIdentity(request, now);
  const identifier = snapshotIdentifierFor(source.id, backupId);
  const tags = lifeboatSnapshotTags(source.id, backupId, source.policy ?? 'default');

  let created: DescribedSnapshot | undefined;
  try {
    if (source.rds.type === 'instance') {
      const out = await deps.rds.send(
        new CreateDBSnapshotCommand({ DBSnapshotIdentifier: identifier, DBInstanceIdentifier: source.rds.identifier, Tags: tags }),
      );
      created = out.DBSnapshot ? fromInstanceSnapshot(out.DBSnapshot) : undefined;
    } else {
      const out = await deps.rds.send(
        new CreateDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: identifier, DBClusterIdentifier: source.rds.identifier, Tags: tags }),
      );
      created = out.DBClusterSnapshot ? fromClusterSnapshot(out.DBClusterSnapshot) : undefined;
    }
  } catch (error) {
    const code = rdsErrorCode(error);
    if (code === 'DBSnapshotAlreadyExists' || code === 'DBClusterSnapshotAlreadyExists') {
      created = await existingSnapshotOf(source, backupId, identifier, deps, error);
    } else if (code === 'InvalidDBInstanceState' || code === 'InvalidDBClusterState') {
      throw new SnapshotAlreadyRunningError(
        `RDS refused a snapshot of ${source.rds.type} ${source.rds.identifier} (source ${source.id}) in its current state ` +
          `(usually a snapshot or automated backup already running): ${rdsErrorMessage(error)}`,
        { cause: error },
      );
    } else if (code === 'SnapshotQuotaExceeded') {
      throw new SnapshotQuotaExceededError(
        `The manual snapshot quota of ${deps.region} is reached; no snapshot of source ${source.id} was made. ` +
          `Delete old manual snapshots (retention) or raise the quota: ${rdsErrorMessage(error)}`,
        { cause: error },
      );
    } else {
      throw error;
    }
  }
  // CreateDB*Snapshot always returns the snapshot; describe as a fallback rather than trust an empty answer.
  const snapshot = created?.arn ? created : await describeSnapshot(deps.rds, source.rds.type, identifier);
  if (!snapshot) throw new SnapshotFailedError(`RDS accepted snapshot ${identifier} of source ${source.id} but does not describe it`);
  failIfFailed(snapshot, source.id);
  const ref: SnapshotRef = {
    sourceId: source.id,
    backupId,
    type: source.rds.type,
    snapshotIdentifier: identifier,
    snapshotArn: snapshot.arn,
    region: regionOf(snapshot.arn, deps.region),
    startedAt,
  };
  return { ...ref, status: snapshot.status, percentProgress: snapshot.percentProgress };
}

/** RDS's progress on the snapshot. `failed` (and the other dead ends) throw `SnapshotFailedError`. */
export async function describeSnapshotProgress(ref: SnapshotRef, deps: Pick<SnapshotDeps, 'rds'>): Promise<SnapshotStatus> {
  const snapshot = await describeSnapshot(deps.rds, ref.type, ref.snapshotIdentifier);
  if (!snapshot) {
    throw new SnapshotFailedError(`Snapshot ${ref.snapshotIdentifier} of source ${ref.sourceId} no longer exists (deleted while being made?)`);
  }
  failIfFailed(snapshot, ref.sourceId);
  return { ...ref, status: snapshot.status, percentProgress: snapshot.percentProgress };
}

/**
 * Writes the `kind: 'snapshot'` manifest, so the vault lists the snapshot beside the dumps. The snapshot
 * must be `available` (else `SnapshotNotReadyError`) and carry this backup's tags. A manifest already
 * recording this very snapshot (a retried record) is success.
 */
export async function recordSnapshot(ref: SnapshotRef, deps: SnapshotDeps): Promise<SnapshotRecord> {
  const source = findSource(ref.sourceId, deps);
  const snapshot = await describeSnapshot(deps.rds, ref.type, ref.snapshotIdentifier);
  if (!snapshot) throw new SnapshotFailedError(`Snapshot ${ref.snapshotIdentifier} of source ${ref.sourceId} no longer exists`);
  failIfFailed(snapshot, ref.sourceId);
  if (snapshot.status !== 'available') {
    throw new SnapshotNotReadyError(`Snapshot ${ref.snapshotIdentifier} is ${snapshot.status} (${snapshot.percentProgress}%), not available yet`);
  }
  if (!isSnapshotOfBackup(snapshot, ref.sourceId, ref.backupId)) {
    throw new BackupConflictError(`Snapshot ${ref.snapshotIdentifier} is not tagged as backup ${ref.sourceId}/${ref.backupId}; refusing to record it`);
  }

  const key = manifestKey(ref.sourceId, ref.backupId);
  const existing = await existingManifest(deps.store, ref.sourceId, ref.backupId);
  if (existing) {
    if (existing.kind === 'snapshot' && existing.snapshot?.arn === snapshot.arn) {
      return { ...ref, snapshotArn: snapshot.arn, kind: 'snapshot', completedAt: existing.completedAt, manifestKey: key, alreadyRecorded: true };
    }
    throw new BackupConflictError(`${key} in ${deps.store.location} already describes another backup (${existing.kind}); refusing to overwrite it`);
  }

  const now = deps.now?.() ?? new Date();
  const startedAt = new Date(ref.startedAt);
  // RDS gives no completion time; the backup is complete when it is seen available, never before it started.
  const completedAt = new Date(Math.max(now.getTime(), startedAt.getTime())).toISOString();
  const region = regionOf(snapshot.arn, ref.region);
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: formatVersionFor({ engine: source.engine }),
    backupId: ref.backupId,
    sourceId: ref.sourceId,
    kind: 'snapshot',
    engine: source.engine,
    startedAt: startedAt.toISOString(),
    completedAt,
    source: { database: source.database ?? '*', serverVersion: snapshot.engineVersion ?? 'unknown' },
    tools: { lifeboat: LIFEBOAT_VERSION },
    content: { tables: [] },
    snapshot: { arn: snapshot.arn, identifier: snapshot.identifier, region },
  };
  await writeManifest(deps.store, manifest);
  return { ...ref, snapshotArn: snapshot.arn, region, kind: 'snapshot', completedAt, manifestKey: key, alreadyRecorded: false };
}

/**
 * The backup id of a create request: given, derived from the execution (stable across retries of the
 * same execution), or fresh.
 */
export function backupIdentity(
  request: { readonly sourceId: string; readonly backupId?: string; readonly executionId?: string; readonly executionStartTime?: string },
  now: Date,
): { backupId: string; startedAt: string } {
  if (request.backupId !== undefined) {
    const startedAt = request.executionStartTime ?? parseBackupId(request.backupId).time.toISOString();
    return { backupId: request.backupId, startedAt: new Date(startedAt).toISOString() };
  }
  if (request.executionId !== undefined && request.executionStartTime !== undefined) {
    const start = new Date(request.executionStartTime);
    return { backupId: derivedBackupId(request.executionId, request.sourceId, start), startedAt: start.toISOString() };
  }
  return { backupId: newBackupId(now), startedAt: now.toISOString() };
}

/** `<start, UTC to the second>-<8 base32 characters of SHA-256(execution id, source id)>`. */
export function derivedBackupId(executionId: string, sourceId: string, start: Date): string {
  const stamp = `${start.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
  const digest = createHash('sha256').update(`${executionId}\n${sourceId}`).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let suffix = '';
  for (const byte of digest.subarray(0, 8)) suffix += alphabet[byte & 31];
  const backupId = `${stamp}-${suffix}`;
  parseBackupId(backupId);
  return backupId;
}

function findSource(sourceId: string, deps: Pick<SnapshotDeps, 'sources'>): SnapshotSource {
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) {
    throw new ConfigError(`sourceId: unknown source '${sourceId}'; this function snapshots ${deps.sources.map((s) => s.id).join(', ')}`);
  }
  return source;
}

async function existingSnapshotOf(
  source: SnapshotSource,
  backupId: string,
  identifier: string,
  deps: SnapshotDeps,
  cause: unknown,
): Promise<DescribedSnapshot> {
  const existing = await describeSnapshot(deps.rds, source.rds.type, identifier);
  if (!existing) {
    throw new SnapshotFailedError(`RDS says snapshot ${identifier} exists but does not describe it (deleted meanwhile?)`, { cause });
  }
  if (!isSnapshotOfBackup(existing, source.id, backupId) || existing.sourceDatabaseIdentifier !== source.rds.identifier) {
    throw new BackupConflictError(
      `A snapshot named ${identifier} already exists and is not backup ${source.id}/${backupId} of ${source.rds.type} ${source.rds.identifier}`,
      { cause },
    );
  }
  return existing;
}

async function existingManifest(store: VaultStore, sourceId: string, backupId: string): Promise<BackupManifest | undefined> {
  try {
    return await readManifest(store, sourceId, backupId);
  } catch (error) {
    if (error instanceof BackupNotFoundError || error instanceof ManifestMissingError) return undefined;
    throw error;
  }
}

function failIfFailed(snapshot: DescribedSnapshot, sourceId: string): void {
  if (isFailedSnapshotStatus(snapshot.status)) {
    throw new SnapshotFailedError(`Snapshot ${snapshot.identifier} of source ${sourceId} is ${snapshot.status}; it will never be available`);
  }
}

function regionOf(arn: string, fallback: string): string {
  try {
    return parseSnapshotArn(arn).region;
  } catch {
    return fallback;
  }
}

export type { SnapshotType };
