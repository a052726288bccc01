/**
 * Tamper alerts: a CloudTrail event that EventBridge matched on the vault (its key disabled, scheduled for
 * deletion or re-policied; its bucket policy or Object Lock configuration changed; Object Lock bypassed)
 * becomes a CRITICAL alert on the region's alert topic that says who did what to which resource, whether it
 * succeeded, and what to do now. EventBridge cannot set SNS message attributes, and the subscriptions filter on
 * `severity`, so the events come here rather than straight to the topic.
 */
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { publishAlert, type Alert } from '../lib/alerts/index.ts';
import { ConfigError } from '../lib/errors.ts';

/** The CloudTrail API calls the tamper rules match (infra/constructs/tamper-alarms.ts). */
export const KEY_EVENTS = ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'] as const;
export const BUCKET_EVENTS = ['PutBucketPolicy', 'DeleteBucketPolicy', 'PutObjectLockConfiguration'] as const;
/** The trail the rules depend on (when Lifeboat created it): stopped, deleted or narrowed, every other rule goes blind. */
export const TRAIL_EVENTS = ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'] as const;
/** S3 data events: these alarm when they bypass governance retention or touch a locked version. */
export const OBJECT_LOCK_EVENTS = ['DeleteObject', 'DeleteObjects', 'PutObjectRetention'] as const;

const TamperEventSchema = z.object({
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  account: z.string().min(1),
  region: z.string().min(1),
  detail: z.object({
    eventName: z.enum([...KEY_EVENTS, ...BUCKET_EVENTS, ...TRAIL_EVENTS, ...OBJECT_LOCK_EVENTS]),
    eventTime: z.string().min(1),
    eventID: z.string().min(1).optional(),
    awsRegion: z.string().min(1).optional(),
    sourceIPAddress: z.string().optional(),
    userAgent: z.string().optional(),
    errorCode: z.string().optional(),
    errorMessage: z.string().optional(),
    userIdentity: z
      .object({
        type: z.string().optional(),
        arn: z.string().optional(),
        invokedBy: z.string().optional(),
        sessionContext: z.object({ sessionIssuer: z.object({ arn: z.string().optional() }).loose().optional() }).loose().optional(),
      })
      .loose()
      .optional(),
    requestParameters: z.record(z.string(), z.unknown()).nullish(),
    responseElements: z.record(z.string(), z.unknown()).nullish(),
    resources: z.array(z.object({ ARN: z.string().optional() }).loose()).optional(),
  }),
});
export type TamperEvent = z.input<typeof TamperEventSchema>;

export interface TamperAlertDeps {
  readonly sns: Pick<SNSClient, 'send'>;
  readonly topicArn: string;
  /** The config's `vault.breakGlassRoleArn`, to say when the caller was that role. @default - none configured */
  readonly breakGlassRoleArn?: string;
}

/** Publishes the CRITICAL alert for one matched CloudTrail event; returns the alert as published. */
export async function alertOnTamperEvent(event: unknown, deps: TamperAlertDeps): Promise<{ alert: Alert; messageId?: string }> {
  const alert = tamperAlert(event, deps.breakGlassRoleArn);
  const { messageId } = await publishAlert(deps.sns, deps.topicArn, alert);
  return messageId === undefined ? { alert } : { alert, messageId };
}

/** The alert for `event`; exported so its wording can be read and tested without SNS. */
export function tamperAlert(event: unknown, breakGlassRoleArn?: string): Alert {
  const parsed = TamperEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new ConfigError(`Not a CloudTrail event the tamper rules send: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`);
  }
  const { account, detail } = parsed.data;
  const region = detail.awsRegion ?? parsed.data.region;
  const request = detail.requestParameters ?? {};
  const what = describe(detail.eventName, request, detail.responseElements ?? {}, detail.resources ?? []);
  const denied = detail.errorCode !== undefined;
  const actor = actorOf(detail.userIdentity);
  const byBreakGlass = breakGlassRoleArn !== undefined && actor.role === breakGlassRoleArn;

  const reason = [
    `${detail.eventName} on ${what.resource} (account ${account}, ${region}) ${denied ? `was attempted and refused: ${detail.errorCode}${detail.errorMessage ? ` (${detail.errorMessage})` : ''}` : 'succeeded'}.`,
    what.effect,
    `Who: ${actor.description}${detail.sourceIPAddress ? ` from ${detail.sourceIPAddress}` : ''}${detail.userAgent ? ` using ${detail.userAgent}` : ''}.`,
    ...(byBreakGlass ? ['The caller is the break-glass role: expected only during a planned, announced break-glass operation.'] : []),
    `When: ${detail.eventTime}${detail.eventID ? `, CloudTrail event ${detail.eventID}` : ''}.`,
  ].join('\n');

  return {
    severity: 'CRITICAL',
    sourceId: what.name,
    step: 'tamper',
    errorName: detail.eventName,
    headline: denied ? `refused: ${what.headline}` : what.headline,
    reason,
    nextSteps: [
      ...(byBreakGlass ? ['Confirm with whoever holds the break-glass role that this was planned; if nobody did, treat it as an attack.'] : []),
      ...(denied
        ? ['Nothing changed, but someone holding these credentials tried to weaken the vault: find who, and revoke or rotate those credentials now.']
        : what.nextSteps(region)),
      `Look up the event in CloudTrail (${region}, event name ${detail.eventName}) to see the whole request, and search for other calls by the same identity.`,
    ],
    at: new Date(detail.eventTime),
  };
}

interface Described {
  /** The resource for the subject and the `sourceId` attribute. */
  readonly name: string;
  /** The resource in full, for the reason. */
  readonly resource: string;
  readonly headline: string;
  readonly effect: string;
  readonly nextSteps: (region: string) => string[];
}

function describe(eventName: string, request: Record<string, unknown>, response: Record<string, unknown>, resources: readonly { ARN?: string | undefined }[]): Described {
  const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined);
  if ((KEY_EVENTS as readonly string[]).includes(eventName)) {
    const keyArn = resources.find((r) => r.ARN?.includes(':key/'))?.ARN ?? text(response.keyId) ?? text(request.keyId) ?? '(key not named in the event)';
    const keyId = keyArn.replace(/^.*:key\//, '');
    const resource = `vault key ${keyArn}`;
    const redeploy = 'Redeploy the Lifeboat stacks as the break-glass role (or the deploying role) to restore the key policy from the template.';
    if (eventName === 'DisableKey') {
      return {
        name: keyId,
        resource,
        headline: 'vault key disabled',
        effect: 'Until the key is enabled again, no backup encrypted under it can be read or written in this region, and its multi-Region twin may be next.',
        nextSteps: (region) => [`Enable the key again: aws kms enable-key --key-id ${keyId} --region ${region}`, 'Check the key in the other region too, and run a backup and a verification once it is enabled.'],
      };
    }
    if (eventName === 'ScheduleKeyDeletion') {
      const days = text(request.pendingWindowInDays) ?? (typeof request.pendingWindowInDays === 'number' ? String(request.pendingWindowInDays) : undefined);
      const deletionDate = text(response.deletionDate);
      return {
        name: keyId,
        resource,
        headline: 'vault key scheduled for deletion',
        effect: `When the waiting period ends${deletionDate ? ` (${deletionDate})` : days ? ` (in ${days} days)` : ''}, every backup encrypted under this key becomes unreadable for ever; until then the key is unusable.`,
        nextSteps: (region) => [
          `Cancel the deletion now: aws kms cancel-key-deletion --key-id ${keyId} --region ${region}`,
          `A cancelled key stays disabled: then aws kms enable-key --key-id ${keyId} --region ${region}`,
          'Check the key in the other region too.',
        ],
      };
    }
    return {
      name: keyId,
      resource,
      headline: 'vault key policy replaced',
      effect: 'The new policy decides who may decrypt backups and administer the key; it may let someone read every backup or lock Lifeboat out.',
      nextSteps: (region) => [`Read the policy now in force: aws kms get-key-policy --key-id ${keyId} --policy-name default --region ${region}`, redeploy],
    };
  }

  if ((TRAIL_EVENTS as readonly string[]).includes(eventName)) {
    const trail = text(request.name) ?? '(trail not named in the event)';
    const name = trail.replace(/^.*:trail\//, '');
    const effects: Record<string, string> = {
      StopLogging: 'The trail no longer records anything: the tamper alarms on the vault key, bucket and Object Lock stay silent whatever happens next.',
      DeleteTrail: 'The trail is gone: the tamper alarms on the vault key, bucket and Object Lock stay silent whatever happens next.',
      UpdateTrail: 'The trail\'s settings changed: it may no longer record this region, or deliver where it did.',
      PutEventSelectors: 'What the trail records changed: it may no longer record the vault bucket\'s object deletes, which the Object Lock alarm needs.',
    };
    return {
      name,
      resource: `trail ${trail}`,
      headline: eventName === 'StopLogging' ? 'the vault trail was stopped' : eventName === 'DeleteTrail' ? 'the vault trail was deleted' : 'the vault trail was changed',
      effect: effects[eventName]!,
      nextSteps: (region) => [
        eventName === 'StopLogging' ? `Start it again: aws cloudtrail start-logging --name ${name} --region ${region}` : 'Redeploy the Lifeboat stacks to restore the trail from the template.',
        `Check it records again: aws cloudtrail get-trail-status --name ${name} --region ${region}`,
        'Until it does, check the vault key, bucket policy and objects by hand: nothing would have alarmed in the meantime.',
      ],
    };
  }

  const bucket = text(request.bucketName) ?? '(bucket not named in the event)';
  if (eventName === 'PutBucketPolicy' || eventName === 'DeleteBucketPolicy') {
    const deleted = eventName === 'DeleteBucketPolicy';
    return {
      name: bucket,
      resource: `vault bucket ${bucket}`,
      headline: deleted ? 'vault bucket policy deleted' : 'vault bucket policy changed',
      effect: `The bucket policy holds the TLS-only rule and the denies that stop anyone but the break-glass role unlocking or erasing backups; ${deleted ? 'without it they are gone' : 'the new one may no longer have them'}.`,
      nextSteps: (region) => [
        `Read the policy now in force: aws s3api get-bucket-policy --bucket ${bucket} --region ${region}`,
        'Redeploy the Lifeboat stacks to restore the policy from the template, and check the bucket\'s objects and versions for deletions since the event.',
      ],
    };
  }
  if (eventName === 'PutObjectLockConfiguration') {
    return {
      name: bucket,
      resource: `vault bucket ${bucket}`,
      headline: 'vault Object Lock configuration changed',
      effect: 'The default retention of new backups may now be shorter, or GOVERNANCE instead of COMPLIANCE; backups already written keep their own retention.',
      nextSteps: (region) => [
        `Read the configuration now in force: aws s3api get-object-lock-configuration --bucket ${bucket} --region ${region}`,
        'Redeploy the Lifeboat stacks to restore it from the config.',
      ],
    };
  }
  const key = text(request.key);
  const version = text(request.versionId);
  const object = key === undefined ? `objects of vault bucket ${bucket}` : `s3://${bucket}/${key}${version ? ` (version ${version})` : ''}`;
  const retention = eventName === 'PutObjectRetention';
  return {
    name: bucket,
    resource: object,
    headline: retention ? 'Object Lock retention changed on the vault' : 'locked backup deleted from the vault',
    effect: retention
      ? 'Governance retention was bypassed or a locked version\'s retention rewritten: the backup can now be deleted before its retention ends.'
      : 'Governance retention was bypassed or a specific object version deleted: that version of a backup is gone for good.',
    nextSteps: (region) => [
      `List what is left: aws s3api list-object-versions --bucket ${bucket} --prefix ${key ?? 'backups/'} --region ${region}`,
      'Check that each source still has a verified backup (lifeboat list) and that the DR copy is intact; take a new backup of any source that lost its recovery point.',
    ],
  };
}

/** Who made the call: the role behind an assumed-role session, since that is what IAM and the break-glass rule name. */
function actorOf(identity: z.output<typeof TamperEventSchema>['detail']['userIdentity']): { description: string; role?: string } {
  if (identity === undefined) return { description: 'an identity CloudTrail did not record' };
  const role = identity.sessionContext?.sessionIssuer?.arn;
  const who = identity.arn ?? identity.invokedBy ?? identity.type ?? 'an unnamed identity';
  return role !== undefined && role !== identity.arn ? { description: `${who} (role ${role})`, role } : { description: who, ...(role ? { role } : {}) };
}
