/**
 * The SDK binding of the configuration ports (functions/lib/configset/aws.ts) behind aws-sdk-client-mock:
 * SSM and CloudFormation have no local counterpart, so each method is checked by the exact command it sends
 * and by what it makes of the answer.
 */
import 'aws-sdk-client-mock-vitest/extend';
import { CloudFormationClient, DescribeStacksCommand, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterCommand, GetParametersByPathCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { cloudFormationApi, ssmApi } from '../../../functions/lib/configset/aws.ts';
import { collectParameters } from '../../../functions/lib/configset/collect.ts';

const ssm = mockClient(SSMClient);
const cloudFormation = mockClient(CloudFormationClient);

beforeEach(() => {
  ssm.reset();
  cloudFormation.reset();
});
afterAll(() => {
  ssm.restore();
  cloudFormation.restore();
});

describe('ssmApi', () => {
  it('sends GetParametersByPath recursively, decrypted, with the page token, and returns the page', async () => {
    const modified = new Date('2026-11-30T10:00:00Z');
    ssm.on(GetParametersByPathCommand).resolves({
      Parameters: [{ Name: '/app/db/host', Type: 'String', Value: 'db.internal', Version: 3, LastModifiedDate: modified, DataType: 'text' }],
      NextToken: 'page-2',
    });
    const api = ssmApi('eu-west-1');

    const page = await api.getParametersByPath({ Path: '/app', Recursive: true, WithDecryption: true, MaxResults: 10, NextToken: 'page-1' });

    expect(ssm).toReceiveCommandTimes(GetParametersByPathCommand, 1);
    expect(ssm).toReceiveCommandWith(GetParametersByPathCommand, { Path: '/app', Recursive: true, WithDecryption: true, MaxResults: 10, NextToken: 'page-1' });
    expect(page).toEqual({
      Parameters: [{ Name: '/app/db/host', Type: 'String', Value: 'db.internal', Version: 3, LastModifiedDate: modified, DataType: 'text' }],
      NextToken: 'page-2',
    });
    expect(await ssm.call(0).thisValue.config.region()).toBe('eu-west-1');
  });

  it('pages through GetParametersByPath with each NextToken when the engine collects a path', async () => {
    ssm
      .on(GetParametersByPathCommand, { Path: '/app', NextToken: undefined })
      .resolves({ Parameters: [{ Name: '/app/a', Type: 'String', Value: 'one', Version: 1 }], NextToken: 'token-2' })
      .on(GetParametersByPathCommand, { Path: '/app', NextToken: 'token-2' })
      .resolves({ Parameters: [{ Name: '/app/b', Type: 'SecureString', Value: 'two', Version: 4 }] });

    const names: string[] = [];
    for await (const item of collectParameters(['/app/'], ssmApi('eu-west-1'))) names.push(item.name);

    expect(names).toEqual(['/app/a', '/app/b']);
    expect(ssm).toReceiveCommandTimes(GetParametersByPathCommand, 2);
    expect(ssm).toReceiveNthCommandWith(GetParametersByPathCommand, 1, { Path: '/app', Recursive: true, WithDecryption: true, MaxResults: 10 });
    expect(ssm).toReceiveNthCommandWith(GetParametersByPathCommand, 2, { Path: '/app', Recursive: true, WithDecryption: true, MaxResults: 10, NextToken: 'token-2' });
  });

  it('sends GetParameter decrypted and answers undefined for ParameterNotFound only', async () => {
    ssm.on(GetParameterCommand, { Name: '/app/missing' }).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    ssm.on(GetParameterCommand, { Name: '/app/present' }).resolves({ Parameter: { Name: '/app/present', Type: 'String', Value: 'v', Version: 2 } });
    ssm.on(GetParameterCommand, { Name: '/app/denied' }).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const api = ssmApi('eu-west-1');

    expect(await api.getParameter({ Name: '/app/missing', WithDecryption: true })).toBeUndefined();
    expect(await api.getParameter({ Name: '/app/present', WithDecryption: true })).toEqual({ Name: '/app/present', Type: 'String', Value: 'v', Version: 2 });
    await expect(api.getParameter({ Name: '/app/denied', WithDecryption: true })).rejects.toThrow('denied');
    expect(ssm).toReceiveCommandWith(GetParameterCommand, { Name: '/app/missing', WithDecryption: true });
    expect(ssm).toReceiveCommandWith(GetParameterCommand, { Name: '/app/present', WithDecryption: true });
  });

  it('sends PutParameter with exactly the input it was given and returns the new version', async () => {
    ssm.on(PutParameterCommand).resolves({ Version: 7, Tier: 'Advanced' });
    const api = ssmApi('eu-west-1');

    const result = await api.putParameter({ Name: '/app/big', Value: 'x'.repeat(5000), Type: 'SecureString', Overwrite: true, KeyId: 'alias/target', Tier: 'Advanced' });

    expect(result).toEqual({ Version: 7 });
    expect(ssm).toReceiveCommandTimes(PutParameterCommand, 1);
    const sent = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input;
    expect(sent).toEqual({ Name: '/app/big', Value: 'x'.repeat(5000), Type: 'SecureString', Overwrite: true, KeyId: 'alias/target', Tier: 'Advanced' });
  });
});

describe('cloudFormationApi', () => {
  it('sends DescribeStacks by name and returns the stacks', async () => {
    const created = new Date('2026-10-01T08:00:00Z');
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'web', StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/web/1', StackStatus: 'CREATE_COMPLETE', CreationTime: created, Capabilities: ['CAPABILITY_IAM'] }],
    });

    const answer = await cloudFormationApi('eu-west-1').describeStacks({ StackName: 'web' });

    expect(cloudFormation).toReceiveCommandTimes(DescribeStacksCommand, 1);
    expect(cloudFormation).toReceiveCommandWith(DescribeStacksCommand, { StackName: 'web' });
    expect(answer.Stacks?.[0]).toMatchObject({ StackName: 'web', CreationTime: created, Capabilities: ['CAPABILITY_IAM'] });
  });

  it('sends GetTemplate for the Original stage and returns its body', async () => {
    cloudFormation.on(GetTemplateCommand).resolves({ TemplateBody: '{"Resources":{}}', StagesAvailable: ['Original', 'Processed'] });

    const answer = await cloudFormationApi('eu-west-1').getTemplate({ StackName: 'web', TemplateStage: 'Original' });

    expect(answer).toEqual({ TemplateBody: '{"Resources":{}}' });
    expect(cloudFormation).toReceiveCommandTimes(GetTemplateCommand, 1);
    expect(cloudFormation).toReceiveCommandWith(GetTemplateCommand, { StackName: 'web', TemplateStage: 'Original' });
  });

  it('passes a CloudFormation error through unchanged', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id gone does not exist'), { name: 'ValidationError' }));

    await expect(cloudFormationApi('eu-west-1').describeStacks({ StackName: 'gone' })).rejects.toThrow('Stack with id gone does not exist');
    expect(cloudFormation).toReceiveCommandWith(DescribeStacksCommand, { StackName: 'gone' });
  });
});
