/** Tamper alerts: each CloudTrail event the vault's tamper rules match becomes one exact CRITICAL publish, with the severity attribute the subscriptions filter on. */
import 'aws-sdk-client-mock-vitest/extend';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AlertPublishFailedError, ConfigError } from '../../../functions/lib/errors.ts';
import { alertOnTamperEvent, tamperAlert } from '../../../functions/tamper-alert/tamperAlert.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:lifeboat-alerts';
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const BUCKET = 'lifeboat-vault-123456789012-eu-west-1';
const BREAK_GLASS = 'arn:aws:iam::123456789012:role/lifeboat-break-glass';
const ADMIN_SESSION = 'arn:aws:sts::123456789012:assumed-role/Admin/mallory';

function cloudTrailEvent(source: 'aws.kms' | 'aws.s3' | 'aws.cloudtrail', detail: Record<string, unknown>, issuer = 'arn:aws:iam::123456789012:role/Admin') {
  return {
    version: '0',
    id: 'c3f5c1ea-6e3f-4a1e-9d7e-0a1b2c3d4e5f',
    'detail-type': 'AWS API Call via CloudTrail',
    source,
    account: '123456789012',
    time: '2026-12-02T03:14:15Z',
    region: 'eu-west-1',
    resources: [],
    detail: {
      eventVersion: '1.08',
      userIdentity: { type: 'AssumedRole', arn: issuer === BREAK_GLASS ? 'arn:aws:sts::123456789012:assumed-role/lifeboat-break-glass/ops' : ADMIN_SESSION, sessionContext: { sessionIssuer: { type: 'Role', arn: issuer } } },
      eventTime: '2026-12-02T03:14:15Z',
      eventSource: `${source.slice(4)}.amazonaws.com`,
      awsRegion: 'eu-west-1',
      sourceIPAddress: '203.0.113.9',
      userAgent: 'aws-cli/2.22.0',
      eventID: 'abcde202-ba1a-467c-b4ba-f729d45ae521',
      ...detail,
    },
  };
}

describe('alertOnTamperEvent', () => {
  const sns = mockClient(SNSClient);
  const deps = { sns: new SNSClient({ region: 'eu-west-1' }), topicArn: TOPIC, breakGlassRoleArn: BREAK_GLASS };
  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'msg-7' });
  });

  it('DisableKey on the vault key: publishes exactly one CRITICAL alert saying who, what, which key and how to undo it', async () => {
    const event = cloudTrailEvent('aws.kms', {
      eventName: 'DisableKey',
      requestParameters: { keyId: 'mrk-1234abcd12ab34cd56ef1234567890ab' },
      responseElements: { keyId: KEY_ARN },
      resources: [{ accountId: '123456789012', type: 'AWS::KMS::Key', ARN: KEY_ARN }],
    });

    const result = await alertOnTamperEvent(event, deps);

    expect(result.messageId).toBe('msg-7');
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: '[CRITICAL] Lifeboat mrk-1234abcd12ab34cd56ef1234567890ab: vault key disabled',
      Message: [
        'Lifeboat: vault key disabled for mrk-1234abcd12ab34cd56ef1234567890ab.',
        '',
        'Severity:  CRITICAL',
        'Source:    mrk-1234abcd12ab34cd56ef1234567890ab',
        'Step:      tamper',
        'Error:     DisableKey',
        'Time:      2026-12-02T03:14:15.000Z',
        '',
        'Why:',
        `  DisableKey on vault key ${KEY_ARN} (account 123456789012, eu-west-1) succeeded.`,
        '  Until the key is enabled again, no backup encrypted under it can be read or written in this region, and its multi-Region twin may be next.',
        `  Who: ${ADMIN_SESSION} (role arn:aws:iam::123456789012:role/Admin) from 203.0.113.9 using aws-cli/2.22.0.`,
        '  When: 2026-12-02T03:14:15Z, CloudTrail event abcde202-ba1a-467c-b4ba-f729d45ae521.',
        '',
        'What to do next:',
        '  - Enable the key again: aws kms enable-key --key-id mrk-1234abcd12ab34cd56ef1234567890ab --region eu-west-1',
        '  - Check the key in the other region too, and run a backup and a verification once it is enabled.',
        '  - Look up the event in CloudTrail (eu-west-1, event name DisableKey) to see the whole request, and search for other calls by the same identity.',
        '',
        '-- ',
        'Sent by Lifeboat to the CRITICAL alert subscribers of this topic.',
        '',
      ].join('\n'),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'CRITICAL' },
        sourceId: { DataType: 'String', StringValue: 'mrk-1234abcd12ab34cd56ef1234567890ab' },
        step: { DataType: 'String', StringValue: 'tamper' },
      },
    });
  });

  it('a refused ScheduleKeyDeletion still alarms, says it was refused and asks for the credentials to be revoked', async () => {
    const event = cloudTrailEvent('aws.kms', {
      eventName: 'ScheduleKeyDeletion',
      errorCode: 'AccessDeniedException',
      errorMessage: 'with an explicit deny in a resource-based policy',
      requestParameters: { keyId: KEY_ARN, pendingWindowInDays: 7 },
      responseElements: null,
      resources: [{ ARN: KEY_ARN }],
    });

    await alertOnTamperEvent(event, deps);

    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe('[CRITICAL] Lifeboat mrk-1234abcd12ab34cd56ef1234567890ab: refused: vault key scheduled for deletion');
    expect(input.Message).toContain(`ScheduleKeyDeletion on vault key ${KEY_ARN} (account 123456789012, eu-west-1) was attempted and refused: AccessDeniedException (with an explicit deny in a resource-based policy).`);
    expect(input.Message).toContain('  - Nothing changed, but someone holding these credentials tried to weaken the vault: find who, and revoke or rotate those credentials now.');
    expect(input.Message).not.toContain('cancel-key-deletion');
    expect(input.MessageAttributes?.severity).toEqual({ DataType: 'String', StringValue: 'CRITICAL' });
  });

  it('a successful ScheduleKeyDeletion gives the deletion date and the commands that cancel it and re-enable the key', () => {
    const alert = tamperAlert(
      cloudTrailEvent('aws.kms', {
        eventName: 'ScheduleKeyDeletion',
        requestParameters: { keyId: KEY_ARN, pendingWindowInDays: 7 },
        responseElements: { keyId: KEY_ARN, deletionDate: 'Dec 9, 2026, 3:14:15 AM', keyState: 'PendingDeletion' },
        resources: [{ ARN: KEY_ARN }],
      }),
    );

    expect(alert.reason).toContain('When the waiting period ends (Dec 9, 2026, 3:14:15 AM), every backup encrypted under this key becomes unreadable for ever');
    expect(alert.nextSteps!.slice(0, 2)).toEqual([
      'Cancel the deletion now: aws kms cancel-key-deletion --key-id mrk-1234abcd12ab34cd56ef1234567890ab --region eu-west-1',
      'A cancelled key stays disabled: then aws kms enable-key --key-id mrk-1234abcd12ab34cd56ef1234567890ab --region eu-west-1',
    ]);
  });

  it.each([
    ['PutKeyPolicy', 'aws.kms', { keyId: KEY_ARN, policyName: 'default' }, 'vault key policy replaced'],
    ['PutBucketPolicy', 'aws.s3', { bucketName: BUCKET, policy: '{}' }, 'vault bucket policy changed'],
    ['DeleteBucketPolicy', 'aws.s3', { bucketName: BUCKET }, 'vault bucket policy deleted'],
    ['PutObjectLockConfiguration', 'aws.s3', { bucketName: BUCKET }, 'vault Object Lock configuration changed'],
    ['DeleteObject', 'aws.s3', { bucketName: BUCKET, key: 'backups/orders-db/20261201T020000Z/payload.zst.enc', versionId: 'v1', 'x-amz-bypass-governance-retention': 'true' }, 'locked backup deleted from the vault'],
    ['PutObjectRetention', 'aws.s3', { bucketName: BUCKET, key: 'backups/orders-db/20261201T020000Z/manifest.json', 'x-amz-bypass-governance-retention': 'true' }, 'Object Lock retention changed on the vault'],
  ] as const)('%s: CRITICAL, headline "%s"', (eventName, source, requestParameters, headline) => {
    const alert = tamperAlert(cloudTrailEvent(source, { eventName, requestParameters, ...(source === 'aws.kms' ? { resources: [{ ARN: KEY_ARN }] } : {}) }));

    expect(alert).toMatchObject({ severity: 'CRITICAL', step: 'tamper', errorName: eventName, headline });
    expect(alert.sourceId).toBe(source === 'aws.kms' ? 'mrk-1234abcd12ab34cd56ef1234567890ab' : BUCKET);
  });

  it.each([
    ['StopLogging', 'the vault trail was stopped', 'Start it again: aws cloudtrail start-logging --name lifeboat-vault --region eu-west-1'],
    ['DeleteTrail', 'the vault trail was deleted', 'Redeploy the Lifeboat stacks to restore the trail from the template.'],
    ['PutEventSelectors', 'the vault trail was changed', 'Redeploy the Lifeboat stacks to restore the trail from the template.'],
    ['UpdateTrail', 'the vault trail was changed', 'Redeploy the Lifeboat stacks to restore the trail from the template.'],
  ] as const)('%s on the vault trail: CRITICAL "%s", saying the other alarms are blind until it records again', (eventName, headline, firstStep) => {
    const alert = tamperAlert(cloudTrailEvent('aws.cloudtrail', { eventName, requestParameters: { name: 'arn:aws:cloudtrail:eu-west-1:123456789012:trail/lifeboat-vault' } }));

    expect(alert).toMatchObject({ severity: 'CRITICAL', step: 'tamper', errorName: eventName, headline, sourceId: 'lifeboat-vault' });
    expect(alert.reason).toContain(`${eventName} on trail arn:aws:cloudtrail:eu-west-1:123456789012:trail/lifeboat-vault (account 123456789012, eu-west-1) succeeded.`);
    expect(alert.nextSteps!.slice(0, 3)).toEqual([
      firstStep,
      'Check it records again: aws cloudtrail get-trail-status --name lifeboat-vault --region eu-west-1',
      'Until it does, check the vault key, bucket policy and objects by hand: nothing would have alarmed in the meantime.',
    ]);
  });

  it('names the object version a bypassing delete removed', () => {
    const alert = tamperAlert(
      cloudTrailEvent('aws.s3', { eventName: 'DeleteObject', requestParameters: { bucketName: BUCKET, key: 'backups/orders-db/b1/payload.zst.enc', versionId: 'v1', 'x-amz-bypass-governance-retention': 'true' } }),
    );

    expect(alert.reason).toContain(`DeleteObject on s3://${BUCKET}/backups/orders-db/b1/payload.zst.enc (version v1) (account 123456789012, eu-west-1) succeeded.`);
    expect(alert.nextSteps![0]).toBe(`List what is left: aws s3api list-object-versions --bucket ${BUCKET} --prefix backups/orders-db/b1/payload.zst.enc --region eu-west-1`);
  });

  it('says when the caller was the break-glass role, and still alarms CRITICAL', () => {
    const alert = tamperAlert(cloudTrailEvent('aws.s3', { eventName: 'PutBucketPolicy', requestParameters: { bucketName: BUCKET } }, BREAK_GLASS), BREAK_GLASS);

    expect(alert.severity).toBe('CRITICAL');
    expect(alert.reason).toContain('The caller is the break-glass role: expected only during a planned, announced break-glass operation.');
    expect(alert.nextSteps![0]).toBe('Confirm with whoever holds the break-glass role that this was planned; if nobody did, treat it as an attack.');
  });

  it('does not call another admin the break-glass role', () => {
    const alert = tamperAlert(cloudTrailEvent('aws.s3', { eventName: 'PutBucketPolicy', requestParameters: { bucketName: BUCKET } }), BREAK_GLASS);

    expect(alert.reason).not.toContain('The caller is the break-glass role');
    expect(alert.nextSteps!.join('\n')).not.toContain('Confirm with whoever holds the break-glass role');
  });

  it.each([
    ['an event that is not a CloudTrail API call', { 'detail-type': 'KMS CMK Deletion', account: '1', region: 'eu-west-1', detail: {} }, /detail-type/],
    ['an API call the rules never send', cloudTrailEvent('aws.kms', { eventName: 'Decrypt' }), /detail\.eventName/],
  ])('refuses %s with a ConfigError naming the field, and publishes nothing', async (_what, event, field) => {
    await expect(alertOnTamperEvent(event, deps)).rejects.toThrow(ConfigError);
    await expect(alertOnTamperEvent(event, deps)).rejects.toThrow(field);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 0);
  });

  it('an SNS failure is a retryable AlertPublishFailedError (the Lambda retries, then dead-letters the event)', async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottledException' }));

    await expect(alertOnTamperEvent(cloudTrailEvent('aws.s3', { eventName: 'DeleteBucketPolicy', requestParameters: { bucketName: BUCKET } }), deps)).rejects.toThrow(AlertPublishFailedError);
  });
});
