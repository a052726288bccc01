// Both approval Lambdas as Lambda loads them: environment read once at import, clients at module scope (mocked
// for every instance of their class), Powertools logs on stdout, which must never carry the task token.
import 'aws-sdk-client-mock-vitest/extend';
import { createHmac } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GenerateMacCommand, KMSClient, VerifyMacCommand } from '@aws-sdk/client-kms';
import { SFNClient, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { useHandlerEnvironment } from '../handlerHarness.ts';
import { functionUrlRequest, linkFromMessage, rejection, TEST_SIGNING_KEY } from './support.ts';

const TABLE = 'lifeboat-approvals';
const KEY_ID = 'arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:lifeboat-plan-orders-restore-contacts';
const BASE = 'https://abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAXYZ+task/token==';
const EXECUTION = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:orders-restore-20261130-k3x7q2ab';
const EVENT = {
  taskToken: TOKEN,
  plan: 'orders-restore',
  stepId: 'go',
  question: 'Restore orders now?',
  mode: 'drill',
  executionId: EXECUTION,
  escalation: false,
  contacts: ['ana@example.com'],
  expiresInSeconds: 1800,
};
const context = { functionName: 'lifeboat-approval', awsRequestId: 'req-1' } as Context;

const dynamo = mockClient(DynamoDBClient);
const kms = mockClient(KMSClient);
const sns = mockClient(SNSClient);
const sfn = mockClient(SFNClient);
const hmac = (message: Uint8Array) => createHmac('sha256', TEST_SIGNING_KEY).update(message).digest();
/** Everything the function logged: stdout as captured by the handler environment, and stderr (Powertools' errors). */
const logs = () =>
  [process.stdout.write, process.stderr.write].flatMap((write) => (write as unknown as Mock).mock.calls.map((call) => String(call[0]))).join('');

beforeEach(() => {
  dynamo.reset();
  kms.reset();
  sns.reset();
  sfn.reset();
  // KMS as an HMAC key with the test key's bytes.
  kms.on(GenerateMacCommand).callsFake((input: { Message: Uint8Array }) => ({ Mac: hmac(input.Message), MacAlgorithm: 'HMAC_SHA_256', KeyId: KEY_ID }));
  // Restored by the handler environment after each test.
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  kms.on(VerifyMacCommand).callsFake((input: { Message: Uint8Array; Mac: Uint8Array }) => ({ MacValid: Buffer.compare(hmac(input.Message), Buffer.from(input.Mac)) === 0 }));
});

describe('the request-approval handler', () => {
  useHandlerEnvironment({
    APPROVAL_TABLE: TABLE,
    APPROVAL_KEY_ID: KEY_ID,
    APPROVAL_BASE_URL: `${BASE}/`,
    PLAN_TOPICS: JSON.stringify({ 'orders-restore': TOPIC }),
    POWERTOOLS_SERVICE_NAME: 'lifeboat-request-approval',
    // Even when someone turns event logging on, the event (with its token) is not logged.
    POWERTOOLS_LOGGER_LOG_EVENT: 'true',
  });
  const load = async () => (await import('../../../functions/approval/request-handler.ts')).handler;

  it('stores the request in the table, publishes the KMS-signed link to the plan topic, and logs neither token nor link', async () => {
    dynamo.on(PutItemCommand).resolves({});
    sns.on(PublishCommand).resolves({ MessageId: 'msg-1' });
    const handler = await load();

    const result = await handler(EVENT, context);

    expect(result).toMatchObject({ plan: 'orders-restore', stepId: 'go', escalation: false, messageId: 'msg-1' });
    expect(dynamo).toHaveReceivedCommandTimes(PutItemCommand, 1);
    const put = dynamo.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(put).toMatchObject({ TableName: TABLE, ConditionExpression: 'attribute_not_exists(approvalId)' });
    expect(put.Item).toMatchObject({ approvalId: { S: result.approvalId }, taskToken: { S: TOKEN }, state: { S: 'pending' }, mode: { S: 'drill' } });
    expect(kms).toHaveReceivedCommandWith(GenerateMacCommand, { KeyId: KEY_ID, MacAlgorithm: 'HMAC_SHA_256' });
    const publish = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(publish).toMatchObject({ TopicArn: TOPIC, Subject: '[DRILL] Lifeboat orders-restore: approval needed (step go)' });
    const link = linkFromMessage(publish.Message!);
    expect(link.startsWith(`${BASE}/approvals/${result.approvalId}?exp=`)).toBe(true);
    expect(publish.Message).not.toContain('task/token');
    expect(logs()).toContain('approval requested');
    expect(logs()).not.toContain('task/token');
    expect(logs()).not.toContain(new URL(link).searchParams.get('sig'));
  });

  it('fails a malformed event with a ConfigError that names the field, never the token', async () => {
    const handler = await load();

    const error = await rejection(handler({ ...EVENT, expiresInSeconds: 'soon' }, context));

    expect(error).toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/^Invalid approval request: expiresInSeconds: /) });
    expect(logs()).toContain('invocation failed');
    expect(logs()).not.toContain('task/token');
    expect(dynamo).not.toHaveReceivedCommand(PutItemCommand);
  });

  it('fails at load naming every missing variable', async () => {
    vi.stubEnv('APPROVAL_KEY_ID', '');
    vi.stubEnv('PLAN_TOPICS', '');

    await expect(load()).rejects.toThrow('Missing environment variables: APPROVAL_KEY_ID, PLAN_TOPICS');
  });

  it('fails at load on PLAN_TOPICS that is not a map of plan names to topic ARNs, and on a base URL with a path', async () => {
    vi.stubEnv('PLAN_TOPICS', JSON.stringify({ 'orders-restore': 'arn:aws:sqs:eu-west-1:111122223333:q' }));
    await expect(load()).rejects.toThrow(/^PLAN_TOPICS: orders-restore: must be an SNS topic ARN/);

    vi.resetModules();
    vi.stubEnv('PLAN_TOPICS', JSON.stringify({ 'orders-restore': TOPIC }));
    vi.stubEnv('APPROVAL_BASE_URL', `${BASE}/approvals/x`);
    await expect(load()).rejects.toThrow(/^APPROVAL_BASE_URL: must be the endpoint's origin alone/);
  });
});

describe('the approval endpoint handler', () => {
  useHandlerEnvironment({ APPROVAL_TABLE: TABLE, APPROVAL_KEY_ID: KEY_ID, POWERTOOLS_SERVICE_NAME: 'lifeboat-approval-endpoint', POWERTOOLS_LOGGER_LOG_EVENT: 'true' });
  const load = async () => (await import('../../../functions/approval/endpoint-handler.ts')).handler;
  const ID = 'q7Jm2kT9xYw0bVnA4sLp8rCe';
  const exp = () => Math.floor(Date.now() / 1000) + 600;
  const linkFor = (expiry: number) => `${BASE}/approvals/${ID}?exp=${expiry}&sig=${hmac(Buffer.from(`${ID}.${expiry}`)).toString('base64url')}`;
  const item = (expiry: number, state: 'pending' | 'decided' = 'pending') => ({
    approvalId: { S: ID },
    taskToken: { S: TOKEN },
    plan: { S: 'orders-restore' },
    stepId: { S: 'go' },
    executionId: { S: EXECUTION },
    mode: { S: 'real' },
    question: { S: 'Restore orders now?' },
    escalation: { BOOL: false },
    expiresAt: { N: String(expiry) },
    state: { S: state },
    ...(state === 'decided' ? { approved: { BOOL: true }, approver: { S: 'Ana Lima' }, comment: { S: '' }, decidedAt: { S: new Date().toISOString() } } : {}),
  });

  it('answers a GET with the page, verifying the link with KMS and reading the table', async () => {
    const expiry = exp();
    dynamo.on(GetItemCommand).resolves({ Item: item(expiry) });
    const handler = await load();

    const response = await handler(functionUrlRequest(linkFor(expiry)) as never, context);

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('<td>Restore orders now?</td>');
    expect(kms).toHaveReceivedCommandWith(VerifyMacCommand, { KeyId: KEY_ID, MacAlgorithm: 'HMAC_SHA_256' });
    expect(dynamo).toHaveReceivedCommandWith(GetItemCommand, { TableName: TABLE, Key: { approvalId: { S: ID } }, ConsistentRead: true });
    expect(sfn.calls()).toHaveLength(0);
    expect(logs()).not.toContain(new URL(linkFor(expiry)).searchParams.get('sig'));
  });

  it('decides a POST: conditional update in the table, then SendTaskSuccess with the token', async () => {
    const expiry = exp();
    dynamo.on(GetItemCommand).resolves({ Item: item(expiry) });
    dynamo.on(UpdateItemCommand).resolves({ Attributes: item(expiry, 'decided') });
    sfn.on(SendTaskSuccessCommand).resolves({});
    const handler = await load();

    const response = await handler(functionUrlRequest(linkFor(expiry), { method: 'POST', body: 'decision=approve&name=Ana+Lima' }) as never, context);

    expect(response.statusCode).toBe(200);
    expect(dynamo).toHaveReceivedCommandWith(UpdateItemCommand, { TableName: TABLE, ConditionExpression: '#state = :pending AND #expiresAt > :now' });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN });
    expect(logs()).toContain('approval approved');
    expect(logs()).not.toContain('task/token');
  });

  it('never throws to Lambda: garbage, a forged link and a table outage are pages', async () => {
    dynamo.on(GetItemCommand).rejects(Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' }));
    const handler = await load();
    // Malformed: refused before the (failing) table is read.
    const forged = linkFor(exp()).replace(/sig=[^&]+/, 'sig=not-a-signature');

    const garbage = await handler('not an http request' as never, context);
    const refused = await handler(functionUrlRequest(forged) as never, context);
    const outage = await handler(functionUrlRequest(linkFor(exp())) as never, context);

    expect([garbage.statusCode, refused.statusCode, outage.statusCode]).toEqual([405, 403, 500]);
    expect(logs()).toContain('approval endpoint failed');
    for (const response of [garbage, refused, outage]) expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
  });

  it('fails at load naming every missing variable', async () => {
    vi.stubEnv('APPROVAL_TABLE', '');
    vi.stubEnv('APPROVAL_KEY_ID', '');

    await expect(load()).rejects.toThrow('Missing environment variables: APPROVAL_TABLE, APPROVAL_KEY_ID');
  });
});
