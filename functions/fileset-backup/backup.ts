/**
 * The file-set backup function's core: one S3 bucket (and prefix) backed up as a deduplicated, encrypted snapshot
 * (functions/lib/fileset; docs/vault-format.md, "File sets"). The backup state machine calls it where it calls a
 * dump function, and gets the same shape back (`kind: "fileset"`), so verification, the DR copy and retention
 * follow as for every source.
 *
 * Lambda stops at 15 minutes. The backup checks the time after every pack it stores and gives up with
 * `OutOfTimeError` when less than `stopMarginMs` is left: its packs stay under its own backup id, unlisted (there
 * is no manifest), and retention removes them after a day; the next run dedupes against the last complete snapshot,
 * not against them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import { ConfigError, OutOfTimeError } from '../lib/errors.ts';
import { runFileSetBackup } from '../lib/fileset/backup.ts';
import { s3Source } from '../lib/fileset/sources.ts';
import type { FileSetManifest } from '../lib/fileset/format.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { BACKUP_ID_PATTERN } from '../lib/vault/layout.ts';
import { verificationBinding } from '../lib/vault/verification.ts';
import type { VaultStore } from '../lib/vault/store.ts';

/** An S3 file set as the function is told of it (infra/constructs/fileset-backup.ts): the bucket and prefix only. */
export const FileSetSourceSchema = z.object({
  id: z.string().min(1),
  kind: z.literal('fileset'),
  s3: z.object({ bucket: z.string().min(3), prefix: z.string().default('') }),
});
export type FileSetSource = z.infer<typeof FileSetSourceSchema>;

export const FileSetBackupEventSchema = z.object({
  sourceId: z.string().min(1),
  trigger: z.enum(['schedule', 'manual']).default('manual'),
  /** Set by the state machine for a run on Fargate, so it can read the snapshot back under it. @default a new id */
  backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab').optional(),
});

export interface FileSetBackupDeps {
  readonly sources: readonly FileSetSource[];
  /** Reads the source buckets. */
  readonly s3: Pick<S3Client, 'send'>;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  /** Records `backup` events (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
  readonly now?: () => Date;
  /** Milliseconds the runner has left (a Lambda's). @default no limit */
  readonly remainingMs?: () => number;
  /** No new pack is started once less than this is left. @default 90 s */
  readonly stopMarginMs?: number;
  /** Pack size (tests make it small). @default 16 MiB */
  readonly packBytes?: number;
}

/** What the state machine keeps as `$.backup`: a dump's fields, for a file set. */
export interface FileSetBackupResult {
  readonly sourceId: string;
  readonly backupId: string;
  readonly kind: 'fileset';
  /** Bytes of every file in the snapshot. */
  readonly rawBytes: number;
  /** Bytes this run stored (new packs): what the snapshot added to the vault. */
  readonly storedBytes: number;
  /** SHA-256 of the snapshot manifest's canonical JSON, what its verification result is bound to. */
  readonly sha256: string;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly files: number;
  readonly filesRead: number;
  readonly filesReused: number;
  readonly newPacks: number;
  /** Objects that are not files (S3 "folder/" markers), not backed up. */
  readonly skipped: number;
  /** Why the newest snapshot was not built on (sealed under fewer keys than this run's: the air-gapped key was added). */
  readonly parentNotReused?: string;
}

export const DEFAULT_STOP_MARGIN_MS = 90_000;

export async function backUpFileSet(event: unknown, deps: FileSetBackupDeps): Promise<FileSetBackupResult> {
  return audited(deps.audit, () => backUpFileSetNow(event, deps), {
    succeeded: (r) => ({
      type: 'backup', outcome: 'succeeded', ...idsOf(event), sourceId: r.sourceId, backupId: r.backupId,
      details: { kind: r.kind, startedAt: r.startedAt, completedAt: r.completedAt, rawBytes: r.rawBytes, storedBytes: r.storedBytes, sha256: r.sha256 },
    }),
    failed: (error) => ({ type: 'backup', outcome: 'failed', ...idsOf(event), details: failureDetails(error) }),
  });
}

async function backUpFileSetNow(event: unknown, deps: FileSetBackupDeps): Promise<FileSetBackupResult> {
  const { sourceId, backupId } = parseOrConfigError(FileSetBackupEventSchema, event, 'Invalid file-set backup event');
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) throw new ConfigError(`sourceId: unknown source '${sourceId}'; this function backs up ${deps.sources.map((s) => s.id).join(', ')}`);
  const margin = deps.stopMarginMs ?? DEFAULT_STOP_MARGIN_MS;
  let packsStored = 0;
  const { manifest, parentNotReused } = await runFileSetBackup({
    store: deps.store,
    keyring: deps.keyring,
    sourceId,
    source: s3Source(deps.s3 as S3Client, source.s3.bucket, source.s3.prefix),
    ...(deps.now ? { now: deps.now() } : {}),
    ...(backupId ? { backupId } : {}),
    ...(deps.packBytes ? { packBytes: deps.packBytes } : {}),
    onPackStored: () => {
      packsStored += 1;
      const left = deps.remainingMs?.();
      if (left !== undefined && left < margin) {
        throw new OutOfTimeError(
          `File set ${sourceId} stopped with ${Math.round(left / 1000)} s left of the runner's time, after storing ${packsStored} new pack(s): ` +
            'no snapshot was written; those packs are unlisted and retention removes them after a day. ' +
            'A source with a network goes on as its Fargate task; without one, give it a network, back up a smaller prefix per source, ' +
            'or take the first backup from the CLI (lifeboat backup s3://bucket/prefix) into the same vault: later runs store only what changed.',
        );
      }
    },
  });
  return { ...fileSetResultOf(manifest), ...(parentNotReused ? { parentNotReused } : {}) };
}

export function fileSetResultOf(manifest: FileSetManifest): FileSetBackupResult {
  const { totals } = manifest;
  return {
    sourceId: manifest.sourceId,
    backupId: manifest.backupId,
    kind: 'fileset',
    rawBytes: totals.bytes,
    storedBytes: totals.newStoredBytes,
    sha256: verificationBinding(manifest).manifestSha256,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    files: totals.files,
    filesRead: totals.filesRead,
    filesReused: totals.filesReused,
    newPacks: totals.newPacks,
    skipped: totals.skipped,
  };
}
