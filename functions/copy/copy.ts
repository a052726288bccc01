/**
 * The copy function's core: one event, one of three actions, each small JSON in and out for a JSONPath
 * state machine. Contracts: docs/pipeline-functions.md.
 */
import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import { CompleteMultipartUploadCommand, CopyObjectCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { BACKUP_ID_PATTERN, SOURCE_ID_PATTERN } from '../lib/vault/layout.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { copySnapshot, describeSnapshotCopy, type SnapshotCopyDeps, type SnapshotCopyStatus } from './snapshotCopy.ts';
import { copyBackup, type CopyBackupResult, type S3Sender, type VaultCopyDeps } from './vaultCopy.ts';
import { copyFileSet } from './fileSetCopy.ts';
import { CopyInterruptedError, CopyOutgrewLambdaError } from './interrupted.ts';

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
    // Out of time mid-copy is not a failure: the state machine invokes the copy again (or its Fargate task) and it resumes.
    failed: (error) => (OUT_OF_TIME.has(error.name) ? undefined : { type: 'copy', outcome: 'failed', ...idsOf(event), details: failureDetails(error) }),
  });
}

const OUT_OF_TIME = new Set(['CopyInterruptedError', 'CopyOutgrewLambdaError']);

async function handleCopyEventNow(event: unknown, deps: CopyDeps): Promise<CopyResult> {
  const request = parseOrConfigError(CopyEventSchema, event, 'Invalid copy event');
  switch (request.action) {
    case 'copy-backup':
      return copyOrSayWhy(request, deps);
    case 'copy-snapshot':
      return copySnapshot(request, deps);
    case 'describe-snapshot-copy':
      return describeSnapshotCopy(request.copy, deps);
  }
}

/** S3 requests that store something in the DR or air-gapped vault: the progress a run leaves for the next. */
const STORING = [PutObjectCommand, CopyObjectCommand, UploadPartCopyCommand, UploadPartCommand, CompleteMultipartUploadCommand];

/**
 * Copies a backup; a run that stops for lack of time having stored nothing (no object, part or progress record) fails
 * with `CopyOutgrewLambdaError` instead of `CopyInterruptedError`: a rerun on Lambda would stop at the same place, so
 * the state machine sends it to Fargate at once rather than after a day of identical runs.
 */
async function copyOrSayWhy(request: Extract<z.output<typeof CopyEventSchema>, { action: 'copy-backup' }>, deps: CopyDeps): Promise<CopyResult> {
  let stored = 0;
  const counted = (client: S3Sender): S3Sender => ({
    send: ((command: unknown, options?: unknown) =>
      (client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options).then((output) => {
        if (STORING.some((type) => command instanceof type)) stored += 1;
        return output;
      })) as S3Sender['send'],
  });
  const watched: CopyDeps = {
    ...deps,
    dr: { ...deps.dr, client: counted(deps.dr.client) },
    ...(deps.airGap ? { airGap: { ...deps.airGap, client: counted(deps.airGap.client) } } : {}),
  };
  try {
    return await (request.kind === 'fileset' ? copyFileSet(request, watched) : copyBackup(request, watched));
  } catch (error) {
    if (error instanceof CopyInterruptedError && stored === 0) {
      throw new CopyOutgrewLambdaError(
        `${error.message} This run stored nothing before its time ran out, so another run as long would stop at the same place: it needs a runner without Lambda's deadline (the copy task on Fargate).`,
        { cause: error },
      );
    }
    throw error;
  }
}
