import { GetObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectLockState } from './model.ts';

/**
 * Whether the vault bucket's Object Lock is in force, from its configuration: enabled with a default
 * retention is `in-force`; no configuration, or one without a default retention, is `off` (a backup would be
 * deletable); an error reading it (access denied) is `unknown`, never taken as either.
 */
export async function s3ObjectLockState(client: Pick<S3Client, 'send'>, bucket: string): Promise<ObjectLockState> {
  try {
    const { ObjectLockConfiguration: config } = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    const retention = config?.Rule?.DefaultRetention;
    if (config?.ObjectLockEnabled !== 'Enabled') return { state: 'off', mode: null, retentionDays: null, detail: `Object Lock is not enabled on ${bucket}` };
    if (!retention?.Mode) return { state: 'off', mode: null, retentionDays: null, detail: `${bucket} has Object Lock enabled but no default retention` };
    const days = retention.Days ?? (retention.Years === undefined ? null : retention.Years * 365);
    return { state: 'in-force', mode: retention.Mode, retentionDays: days, detail: `default retention on ${bucket}` };
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    if (name === 'ObjectLockConfigurationNotFoundError') return { state: 'off', mode: null, retentionDays: null, detail: `Object Lock is not configured on ${bucket}` };
    return { state: 'unknown', mode: null, retentionDays: null, detail: `could not read the Object Lock configuration of ${bucket}: ${name}` };
  }
}
