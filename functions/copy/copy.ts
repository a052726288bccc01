/**
 * The copy function's core: one event, one of three actions, each small JSON in and out for a JSONPath
 * state machine. Contracts: docs/pipeline-functions.md.
 */
import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import { z } from 'zod';
import { BACKUP_ID_PATTERN, SOURCE_ID_PATTERN } from '../lib/vault/layout.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { copySnapshot, describeSnapshotCopy, type SnapshotCopyDeps, type SnapshotCopyStatus } from './snapshotCopy.ts';
import { copyBackup, type CopyBackupResult, type VaultCopyDeps } from './vaultCopy.ts';
import { copyFileSet } from './fileSetCopy.ts';

const sourceId = z.string().regex(SOURCE_ID_PATTERN, 'must be a source id (a-z, 0-9, "-", starting with a letter)');
const backupId = z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab');
const snapshotType = z.enum(['instance', 'cluster']);

export const CopyEventSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('copy-backup'),
    sourceId,
    backupId,
    /** What the backup step returned as `kind`: a file set's snapshot lives under `filesets/`. @default a backup under `backups/` */
    kind: z.enum(['dump', 'snapshot', 'config', 'fileset']).optional(),
  }),
  z.object({ action: z.literal('copy-snapshot'), sourceId, snapshotArn: z.string().startsWith('arn:'), type: snapshotType }),
  z.object({
    action: z.literal('describe-snapshot-copy'),
    /** What `copy-snapshot` (or the previous describe) returned; extra fields are ignored. */
    copy: z.object({
      sourceId,
      backupId,
      type: snapshotType,
      sourceSnapshotArn: z.string().startsWith('arn:'),
      snapshotIdentifier: z.string().min(1),
    }),
  }),
]);
export type CopyEvent = z.input<typeof CopyEventSchema>;

/** Both halves share the DR settings: `dr` of the vault copy carries the region and key the snapshot copy uses. */
export type CopyDeps = VaultCopyDeps & SnapshotCopyDeps & {
  /** Records `copy` events of vault copies (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
};
export type CopyResult = CopyBackupResult | SnapshotCopyStatus;

/** Runs one action of the copy function. */
export async function handleCopyEvent(event: unknown, deps: CopyDeps): Promise<CopyResult> {
  const copiesBackup = (event as { action?: unknown } | null)?.action === 'copy-backup';
  return audited(copiesBackup ? deps.audit : undefined, () => handleCopyEventNow(event, deps), {
    succeeded: (result) => {
      const copy = result as CopyBackupResult;
      return {
        type: 'copy', outcome: 'succeeded', sourceId: copy.sourceId, backupId: copy.backupId,
        details: { destination: `s3://${copy.drBucket}`, region: copy.drRegion, manifestKey: copy.manifestKey, ...(copy.sha256 ? { sha256: copy.sha256, payloadBytes: copy.payloadBytes } : {}), ...(copy.airGap ? { airGap: `s3://${copy.airGap.bucket}` } : {}) },
      };
    },
    // Out of time mid-copy is not a failure: the state machine invokes the copy again and it resumes.
    failed: (error) => (error.name === 'CopyInterruptedError' ? undefined : { type: 'copy', outcome: 'failed', ...idsOf(event), details: failureDetails(error) }),
  });
}

async function handleCopyEventNow(event: unknown, deps: CopyDeps): Promise<CopyResult> {
  const request = parseOrConfigError(CopyEventSchema, event, 'Invalid copy event');
  switch (request.action) {
    case 'copy-backup':
      return request.kind === 'fileset' ? copyFileSet(request, deps) : copyBackup(request, deps);
    case 'copy-snapshot':
      return copySnapshot(request, deps);
    case 'describe-snapshot-copy':
      return describeSnapshotCopy(request.copy, deps);
  }
}
