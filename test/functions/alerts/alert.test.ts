import 'aws-sdk-client-mock-vitest/extend';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SUBJECT_LENGTH, SEVERITIES, formatAlert, publishAlert, scrubSecrets } from '../../../functions/lib/alerts/index.ts';
import { AlertPublishFailedError, ConfigError } from '../../../functions/lib/errors.ts';
import { SEVERITIES as SEVERITY_ORDER } from '../../../functions/lib/severity.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:lifeboat-alerts';
const BACKUP = '20261122T053327Z-k3x7q2ab';
const AT = new Date('2026-11-22T06:01:02.345Z');
const EXECUTION = 'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:run-1';

describe('publishAlert', () => {
  const sns = mockClient(SNSClient);
  afterEach(() => sns.reset());

  it('publishes a verification failure as ERROR: subject, readable body and the attributes subscriptions filter on', async () => {
    // Prepare
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const reason = `checksum: payload backups/orders-db/${BACKUP}/payload holds 1200 bytes; the manifest records 1300 (truncated)`;

    // Act
    const published = await publishAlert(new SNSClient({ region: 'eu-west-1' }), TOPIC, {
      severity: 'ERROR',
      sourceId: 'orders-db',
      backupId: BACKUP,
      step: 'verify',
      errorName: 'VerificationFailedError',
      reason,
      executionUrl: EXECUTION,
      at: AT,
    });

    // Assess
    expect(published).toEqual({ messageId: 'm-1' });
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: '[ERROR] Lifeboat orders-db: verification failed',
      Message: [
        `Lifeboat: verification failed for orders-db, backup ${BACKUP}.`,
        '',
        'Severity:  ERROR',
        'Source:    orders-db',
        `Backup:    ${BACKUP}`,
        'Step:      verify',
        'Error:     VerificationFailedError',
        'Time:      2026-11-22T06:01:02.345Z',
        '',
        'Why:',
        `  ${reason}`,
        '',
        'What to do next:',
        `  - Do not restore from ${BACKUP}. The newest verified backup of orders-db is still your recovery point: lifeboat list --vault <vault> --source orders-db`,
        `  - See every check and its reason: lifeboat show ${BACKUP} --vault <vault> --json (or the result under backups/orders-db/${BACKUP}/verifications/ in the vault).`,
        "  - A checksum or decrypt failure means the stored payload is damaged or was replaced: check the vault bucket's object versions and the DR copy. A restore, row-count or SQL check failure means the dump itself is wrong: compare with the source.",
        '',
        `Details: ${EXECUTION}`,
        '',
        '-- ',
        'Sent by Lifeboat to the ERROR alert subscribers of this topic.',
        '',
      ].join('\n'),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'ERROR' },
        sourceId: { DataType: 'String', StringValue: 'orders-db' },
        step: { DataType: 'String', StringValue: 'verify' },
      },
    });
  });

  it('publishes a size anomaly as WARNING with the numbers in the body', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-2' });
    const reason = 'raw size 300 bytes is 0.20x the median 1500 bytes of the 2 previous verified backups (expected 0.5x to 2x): far smaller than usual';

    await publishAlert(new SNSClient({ region: 'eu-west-1' }), TOPIC, {
      severity: 'WARNING',
      sourceId: 'orders-db',
      backupId: BACKUP,
      step: 'verify',
      errorName: 'SizeAnomaly',
      reason,
      at: AT,
    });

    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe('[WARNING] Lifeboat orders-db: backup size anomaly');
    expect(input.MessageAttributes).toEqual({
      severity: { DataType: 'String', StringValue: 'WARNING' },
      sourceId: { DataType: 'String', StringValue: 'orders-db' },
      step: { DataType: 'String', StringValue: 'verify' },
    });
    expect(input.Message).toContain(`Why:\n  ${reason}\n`);
    expect(input.Message).toContain('  - Check whether orders-db really changed that much (a dropped or truncated table, a bulk load, an import).');
    expect(input.Message).not.toContain('Details:');
  });

  it('keeps the subject one ASCII line under 100 characters, whatever the source and step', () => {
    const { subject } = formatAlert({
      severity: 'CRITICAL',
      sourceId: 'a-very-long-source-identifier-of-forty-c',
      step: 'copy to the disaster-recovery region\nwith a ✓ in it',
      errorName: 'StoreWriteFailedError',
      reason: 'x',
    });
    expect(subject).toBe('[CRITICAL] Lifeboat a-very-long-source-identifier-of-forty-c: copy to the disaster-recovery regi...');
    expect(subject.length).toBe(MAX_SUBJECT_LENGTH);
    expect(MAX_SUBJECT_LENGTH).toBeLessThan(100);

    const short = formatAlert({ severity: 'INFO', sourceId: 'db', step: 'copy\nto ✓ DR', errorName: 'E', reason: 'x' }).subject;
    expect(short).toBe('[INFO] Lifeboat db: copy to ? DR failed (E)');
  });

  it('never sends a password, wherever one turns up', async () => {
    sns.on(PublishCommand).resolves({});
    await publishAlert(new SNSClient({ region: 'eu-west-1' }), TOPIC, {
      severity: 'ERROR',
      sourceId: 'orders-db',
      step: 'dump',
      errorName: 'DumpFailedError',
      reason:
        'pg_dump: error: connection to postgres://app:Sup3rS3cret@db.internal:5432/orders failed\n' +
        'env PGPASSWORD=Sup3rS3cret MYSQL_PWD=Sup3rS3cret; secret {"password": "Sup3rS3cret"} password=Sup3rS3cret',
      executionUrl: 'https://example.com/run?x=1',
    });
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(JSON.stringify(input)).not.toContain('Sup3rS3cret');
    expect(input.Message).toContain('postgres://app:***@db.internal:5432/orders');
    expect(input.Subject).toBe('[ERROR] Lifeboat orders-db: dump failed (DumpFailedError)');
  });

  it('is retryable when SNS does not take the message', async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' }));
    const failure = publishAlert(new SNSClient({ region: 'eu-west-1' }), TOPIC, {
      severity: 'ERROR',
      sourceId: 'orders-db',
      step: 'verify',
      errorName: 'VerificationFailedError',
      reason: 'r',
    });
    await expect(failure).rejects.toThrow(AlertPublishFailedError);
    await expect(failure).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('ThrottledException: Rate exceeded') as unknown });
  });

  it('refuses an alert without a known severity or a reason, naming the field', () => {
    expect(() => formatAlert({ severity: 'LOUD' as 'ERROR', sourceId: 'x', step: 'verify', errorName: 'E', reason: 'r' })).toThrow(ConfigError);
    expect(() => formatAlert({ severity: 'ERROR', sourceId: 'x', step: 'verify', errorName: 'E', reason: '' })).toThrow(/reason/);
  });

  it('exports the severities in order', () => {
    expect(SEVERITIES).toBe(SEVERITY_ORDER);
    expect(SEVERITIES).toEqual(['INFO', 'WARNING', 'ERROR', 'CRITICAL']);
  });
});

describe('scrubSecrets', () => {
  it.each([
    ['mysql://root:pw@h:3306/db', 'mysql://root:***@h:3306/db'],
    ['PGPASSWORD=abc psql', 'PGPASSWORD=*** psql'],
    ['{"password":"a\\"b","user":"u"}', '{"password":"***","user":"u"}'],
    ['db_password: hunter2', 'db_password: ***'],
    ['no secrets here', 'no secrets here'],
  ])('%s → %s', (input, expected) => {
    expect(scrubSecrets(input)).toBe(expected);
  });
});
