import 'aws-sdk-client-mock-vitest/extend';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { forwardAlarms, triggeringValue } from '../../../functions/alarm-alert/forward.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { alarmDescription, parseAlarmDescription } from '../../../functions/lib/monitoring/alarmText.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:lifeboat-alerts';
const description = alarmDescription({
  subject: 'orders-db',
  headline: 'no verified backup within the RPO',
  summary: 'The newest verified backup of orders-db is {value} minutes old; its RPO is 240 minutes.',
  nextSteps: ['lifeboat status --vault s3://lifeboat-vault', 'Open the newest lifeboat-backup execution for orders-db.'],
});

function notification(state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA', reason: string) {
  return {
    Records: [
      {
        Sns: {
          Message: JSON.stringify({
            AlarmName: 'lifeboat-orders-db-rpo',
            AlarmDescription: description,
            NewStateValue: state,
            NewStateReason: reason,
            StateChangeTime: '2026-12-02T15:05:00.000+0000',
            Region: 'EU (Ireland)',
            Trigger: { MetricName: 'MinutesSinceLastVerifiedBackup', Threshold: 240 },
          }),
        },
      },
    ],
  };
}

describe('CloudWatch alarms become alerts with a severity', () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  });

  it('an alarm that fires is an ERROR alert naming the source, the age, the RPO and where to look', async () => {
    // Prepare
    const event = notification('ALARM', 'Threshold Crossed: 1 out of the last 1 datapoints [312.0 (02/12/26 15:00:00)] was greater than the threshold (240.0).');

    // Act
    const result = await forwardAlarms(event, { sns: new SNSClient({}), alertTopicArn: TOPIC });

    // Assess
    expect(result).toEqual({ forwarded: 1 });
    expect(sns).toReceiveCommandTimes(PublishCommand, 1);
    expect(sns).toReceiveCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: '[ERROR] Lifeboat orders-db: no verified backup within the RPO',
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'ERROR' },
        sourceId: { DataType: 'String', StringValue: 'orders-db' },
        step: { DataType: 'String', StringValue: 'monitoring' },
      },
    });
    const message = sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!;
    expect(message).toContain('The newest verified backup of orders-db is 312 minutes old; its RPO is 240 minutes.');
    expect(message).toContain('  - lifeboat status --vault s3://lifeboat-vault');
    expect(message).toContain('Time:      2026-12-02T15:05:00.000Z');
  });

  it('an alarm fired by missing data says the figure is unknown, and one that clears is INFO', async () => {
    // Prepare
    const missing = notification('ALARM', 'Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [Breaching].');
    const cleared = notification('OK', 'Threshold Crossed: 1 out of the last 1 datapoints [10.0 (02/12/26 15:10:00)] was not greater than the threshold (240.0).');

    // Act
    await forwardAlarms(missing, { sns: new SNSClient({}), alertTopicArn: TOPIC });
    await forwardAlarms(cleared, { sns: new SNSClient({}), alertTopicArn: TOPIC });

    // Assess
    const [first, second] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(first!.Message).toContain('orders-db is unknown (no data arrived');
    expect(second!.Subject).toBe('[INFO] Lifeboat orders-db: resolved: no verified backup within the RPO');
    expect(second!.MessageAttributes!.severity!.StringValue).toBe('INFO');
  });

  it('INSUFFICIENT_DATA is not forwarded; a notification that is not an alarm is refused by name', async () => {
    // Act
    const skipped = await forwardAlarms(notification('INSUFFICIENT_DATA', 'no data'), { sns: new SNSClient({}), alertTopicArn: TOPIC });

    // Assess
    expect(skipped).toEqual({ forwarded: 0 });
    expect(sns).toReceiveCommandTimes(PublishCommand, 0);
    await expect(forwardAlarms({ Records: [{ Sns: { Message: 'hello' } }] }, { sns: new SNSClient({}), alertTopicArn: TOPIC })).rejects.toThrow(ConfigError);
    await expect(forwardAlarms({ Records: [{ Sns: { Message: '{"AlarmName":"x"}' } }] }, { sns: new SNSClient({}), alertTopicArn: TOPIC })).rejects.toThrow(/NewStateValue/);
  });

  it('reads the quoted datapoint and the description back', () => {
    // Assess
    expect(triggeringValue('... datapoints [1440.0 (02/12/26 15:00:00)] was greater ...')).toBe('1440');
    expect(triggeringValue('... datapoints [3.25 (02/12/26 15:00:00)] ...')).toBe('3.3');
    expect(triggeringValue('no datapoints')).toBeUndefined();
    expect(parseAlarmDescription(description)).toEqual({
      subject: 'orders-db',
      headline: 'no verified backup within the RPO',
      summary: 'The newest verified backup of orders-db is {value} minutes old; its RPO is 240 minutes.',
      nextSteps: ['lifeboat status --vault s3://lifeboat-vault', 'Open the newest lifeboat-backup execution for orders-db.'],
    });
    expect(() => alarmDescription({ subject: 's', headline: 'h', summary: 'x'.repeat(1100), nextSteps: [] })).toThrow(/1024/);
  });
});
