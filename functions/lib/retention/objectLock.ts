/**
 * Object Lock, as retention meets it. On a versioned, Object-Locked bucket a DeleteObject without a
 * version id does not fail: it hides the object behind a delete marker while the locked version stays
 * and is billed. So retention asks before deleting (`s3ObjectLockReader`) rather than learning from a
 * refused delete, and still recognises a refusal (`isObjectLockRefusal`) when a store reports one.
 */
import {
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { BackupProtection } from './plan.ts';

/** Reads what protects one backup folder; `keys` are its store keys (relative to the vault root). */
export type ReadProtection = (backup: {
  readonly sourceId: string;
  readonly backupId: string;
  readonly keys: readonly string[];
}) => Promise<BackupProtection | undefined>;

export interface S3ObjectLockReaderOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** The vault's key prefix in the bucket, as given to `S3Store`. @default "" (the bucket root) */
  readonly prefix?: string;
}

/**
 * Object Lock retention and legal hold of every object in a backup folder: the latest retain-until
 * date of any of them, and whether any is on legal hold. An object or bucket without Object Lock
 * counts as unprotected; any other error (e.g. AccessDenied for a missing s3:GetObjectRetention)
 * propagates, so retention leaves the backup alone instead of assuming it is free to delete.
 */
export function s3ObjectLockReader(options: S3ObjectLockReaderOptions): ReadProtection {
  const trimmed = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const prefix = trimmed === '' ? '' : `${trimmed}/`;
  return async ({ keys }) => {
    let objectLockUntil: Date | undefined;
    let legalHold = false;
    for (const key of keys) {
      const target = { Bucket: options.bucket, Key: prefix + key };
      const retention = await withoutLockConfiguration(() => options.client.send(new GetObjectRetentionCommand(target)));
      const until = retention?.Retention?.RetainUntilDate;
      if (until && (!objectLockUntil || until > objectLockUntil)) objectLockUntil = until;
      const hold = await withoutLockConfiguration(() => options.client.send(new GetObjectLegalHoldCommand(target)));
      if (hold?.LegalHold?.Status === 'ON') legalHold = true;
    }
    return { ...(objectLockUntil ? { objectLockUntil } : {}), ...(legalHold ? { legalHold } : {}) };
  };
}

/**
 * Whether a failed delete was refused by Object Lock: S3 answers AccessDenied ("… protected by object
 * lock") for a locked version, InvalidRequest for some lock-related refusals. Other AccessDenied
 * errors (a missing permission) are not refusals by the lock and stay errors.
 */
export function isObjectLockRefusal(error: unknown): boolean {
  const { name, code, message } = describeError(error);
  if (!['AccessDenied', 'InvalidRequest'].includes(name) && !['AccessDenied', 'InvalidRequest'].includes(code)) return false;
  return /object ?lock|retention|legal ?hold|worm/i.test(message);
}

/** `undefined` when S3 says the object (or bucket) has no Object Lock configuration. */
async function withoutLockConfiguration<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    const { name, code, message } = describeError(error);
    if (name === 'NoSuchObjectLockConfiguration' || code === 'NoSuchObjectLockConfiguration') return undefined;
    // A bucket created without Object Lock: "Bucket is missing Object Lock Configuration".
    if ((name === 'InvalidRequest' || code === 'InvalidRequest') && /missing object ?lock configuration/i.test(message)) {
      return undefined;
    }
    throw error;
  }
}

function describeError(error: unknown): { name: string; code: string; message: string } {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  return {
    name: typeof fields.name === 'string' ? fields.name : '',
    code: typeof fields.Code === 'string' ? fields.Code : '',
    message: typeof fields.message === 'string' ? fields.message : String(error),
  };
}
