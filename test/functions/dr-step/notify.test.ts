/** The notify step (the exact publish to the plan's contacts, marked DRILL in drills) and the events the executor refuses. */
import 'aws-sdk-client-mock-vitest/extend';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type DrStepDeps, handleDrStepEvent } from '../../../functions/dr-step/drStep.ts';
import { AlertPublishFailedError, ConfigError } from '../../../functions/lib/errors.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { testKeyring } from '../engine/helpers.ts';
import { PLAN, REGION, TOPIC, executionIdFor, newSuffix, runStep } from './support.ts';

const NOW = new Date('2026-03-02T06:41:30.000Z');

describe('the notify step', () => {
  const sns = mockClient(SNSClient);
  const deps: DrStepDeps = {
    sources: [],
    // Never touched by notify: a store under a path that does not exist proves it.
    regions: { primary: { name: REGION, rds: new RDSClient({ region: REGION }), store: new LocalStore('/nonexistent/vault'), keyring: testKeyring() } },
    secrets: new SecretsManagerClient({ region: REGION }),
    sns: new SNSClient({ region: REGION }),
    servers: {},
    planTopics: { [PLAN]: TOPIC },
    now: () => NOW,
  };
  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'msg-42' });
  });

  it('drill: publishes the message to the plan topic with [DRILL] in the subject and the text, INFO, and records it', async () => {
    const suffix = newSuffix();

    const record = await handleDrStepEvent(runStep('tell', 'notify', { message: 'orders restored' }, { mode: 'drill', suffix }), deps);

    expect(record).toEqual({
      stepId: 'tell',
      kind: 'notify',
      status: 'succeeded',
      startedAt: NOW.toISOString(),
      endedAt: NOW.toISOString(),
      result: { topicArn: TOPIC, messageId: 'msg-42', drill: true },
    });
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input).toEqual({
      TopicArn: TOPIC,
      Subject: `[DRILL] Lifeboat plan ${PLAN}: orders restored`,
      Message: [
        '[DRILL] orders restored',
        '',
        `Plan:       ${PLAN}`,
        'Step:       tell',
        'Mode:       drill (a drill: production was not touched)',
        `Execution:  ${executionIdFor(suffix)}`,
        `Time:       ${NOW.toISOString()}`,
        '',
        '-- ',
        `Sent by Lifeboat to the contacts of DR plan ${PLAN}.`,
        '',
      ].join('\n'),
      MessageAttributes: { plan: { DataType: 'String', StringValue: PLAN }, severity: { DataType: 'String', StringValue: 'INFO' } },
    });
  });

  it('real: no DRILL mark; a long first line is cut to fit SNS, and credentials in the text never leave', async () => {
    const message = `Orders are back on ${'the new primary server in the recovery region '.repeat(3)}\nold: postgres://app:hunter2@orders-old:5432/orders`;

    await handleDrStepEvent(runStep('tell', 'notify', { message }, { mode: 'real', suffix: newSuffix() }), deps);

    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe(`Lifeboat plan ${PLAN}: Orders are back on the new primary server in the recovery region t...`);
    expect(input.Subject!.length).toBe(99);
    expect(input.Message).toMatch(/^Orders are back on /);
    expect(input.Message).toContain('old: postgres://app:***@orders-old:5432/orders\n');
    expect(input.Message).not.toContain('hunter2');
    expect(input.Message).toContain('Mode:       real\n');
  });

  it('fails naming the plan when PLAN_TOPICS has no topic for it, and retryably when SNS refuses', async () => {
    await expect(
      handleDrStepEvent(runStep('tell', 'notify', { message: 'hi' }, { suffix: newSuffix() }), { ...deps, planTopics: { other: TOPIC } }),
    ).rejects.toThrow(new ConfigError(`PLAN_TOPICS has no contacts topic for plan '${PLAN}'; it has other`));

    sns.on(PublishCommand).rejects(new Error('Rate exceeded'));
    await expect(handleDrStepEvent(runStep('tell', 'notify', { message: 'hi' }, { suffix: newSuffix() }), deps)).rejects.toThrow(AlertPublishFailedError);
  });
});

describe('events the step executor refuses', () => {
  const deps = {} as DrStepDeps;

  it('kinds the state machine runs itself', async () => {
    for (const kind of ['approval', 'backup-now', 'wait'] as const) {
      await expect(handleDrStepEvent(runStep('s', kind, {}, { suffix: newSuffix() }), deps)).rejects.toThrow(
        new ConfigError(`Step 's': a ${kind} step is run by the state machine itself, not by the step executor`),
      );
    }
  });

  it('an execution id that is not an execution ARN, an unknown action, a bad parameter: each named', async () => {
    await expect(handleDrStepEvent({ ...runStep('tell', 'notify', { message: 'x' }, { suffix: 'ab12cd34' }), executionId: 'drill-1' }, deps)).rejects.toThrow(
      new ConfigError('Invalid DR step event: executionId: must be a Step Functions execution ARN ($$.Execution.Id)'),
    );
    await expect(handleDrStepEvent({ action: 'restore' }, deps)).rejects.toThrow(/^Invalid DR step event: action: /);
    await expect(handleDrStepEvent(runStep('tell', 'notify', { message: '  ' }, { suffix: 'ab12cd34' }), deps)).rejects.toThrow(
      new ConfigError("Invalid notify step 'tell': parameters.message: Too small: expected string to have >=1 characters"),
    );
    await expect(handleDrStepEvent(runStep('check', 'validate', { sqlChecks: [] }, { suffix: 'ab12cd34' }), deps)).rejects.toThrow(
      /^Invalid validate step 'check': parameters\.target: /,
    );
    await expect(
      handleDrStepEvent(runStep('p', 'promote-replica', { globalClusterIdentifier: 'g' }, { suffix: 'ab12cd34' }), deps),
    ).rejects.toThrow(/^Invalid promote-replica step 'p': parameters: /);
  });
});
