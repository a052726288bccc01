// The approval store: decided exactly once, reopened only from decided; DynamoDB's exact requests (mocked).
import 'aws-sdk-client-mock-vitest/extend';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  APPROVAL_TABLE_KEY,
  APPROVAL_TABLE_TTL_ATTRIBUTE,
  dynamoApprovalStore,
  memoryApprovalStore,
  toItem,
  type ApprovalDecision,
  type PendingApproval,
} from '../../../functions/approval/store.ts';
import { rejection } from './support.ts';

const TABLE = 'lifeboat-approvals';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAXYZ-task-token-never-shown';
const PENDING: PendingApproval = {
  approvalId: 'q7Jm2kT9xYw0bVnA4sLp8rCe',
  taskToken: TOKEN,
  plan: 'orders-restore',
  stepId: 'go',
  executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:drill-20261130-k3x7q2ab',
  mode: 'drill',
  question: 'Restore orders now?',
  escalation: false,
  expiresAt: 1_796_030_400,
  state: 'pending',
};
const DECISION: ApprovalDecision = { approved: true, approver: 'Ana Lima', comment: 'go ahead', decidedAt: '2026-11-30T09:00:00.000Z' };
const LATE: ApprovalDecision = { ...DECISION, decidedAt: '2026-11-30T09:20:00.000Z' };
const PENDING_ITEM = {
  approvalId: { S: PENDING.approvalId },
  taskToken: { S: TOKEN },
  plan: { S: 'orders-restore' },
  stepId: { S: 'go' },
  executionId: { S: PENDING.executionId },
  mode: { S: 'drill' },
  question: { S: 'Restore orders now?' },
  escalation: { BOOL: false },
  expiresAt: { N: '1796030400' },
  state: { S: 'pending' },
};
const DECIDED_ITEM = {
  ...PENDING_ITEM,
  state: { S: 'decided' },
  approved: { BOOL: true },
  approver: { S: 'Ana Lima' },
  comment: { S: 'go ahead' },
  decidedAt: { S: '2026-11-30T09:00:00.000Z' },
};

describe('memoryApprovalStore', () => {
  it('decides a pending request exactly once, and reopens it only when decided', async () => {
    const store = memoryApprovalStore();
    await store.put(PENDING);

    const first = await store.decide(PENDING.approvalId, DECISION);
    const second = await store.decide(PENDING.approvalId, { ...DECISION, approved: false, approver: 'Someone Else' });

    expect(first).toEqual({ outcome: 'decided', record: { ...PENDING, state: 'decided', decision: DECISION } });
    expect(second).toEqual({ outcome: 'already-decided', record: { ...PENDING, state: 'decided', decision: DECISION } });
    await store.reopen(PENDING.approvalId);
    await expect(store.get(PENDING.approvalId)).resolves.toEqual(PENDING);
    await store.reopen(PENDING.approvalId);
    await expect(store.get(PENDING.approvalId)).resolves.toEqual(PENDING);
  });

  it('refuses to decide at or after expiresAt, an unknown id, and a second put of the same id', async () => {
    const store = memoryApprovalStore();
    await store.put(PENDING);

    await expect(store.decide(PENDING.approvalId, LATE)).resolves.toEqual({ outcome: 'expired', record: PENDING });
    await expect(store.decide('Zz9Jm2kT9xYw0bVnA4sLp8rC', DECISION)).resolves.toEqual({ outcome: 'not-found' });
    await expect(store.put(PENDING)).rejects.toThrow(/already exists/);
    await expect(store.get(PENDING.approvalId)).resolves.toEqual(PENDING);
  });

  it('hands out copies: changing what get returned changes nothing stored', async () => {
    const store = memoryApprovalStore();
    await store.put(PENDING);

    const record = (await store.get(PENDING.approvalId))!;
    (record as { state: string }).state = 'decided';

    await expect(store.get(PENDING.approvalId)).resolves.toEqual(PENDING);
  });
});

describe('dynamoApprovalStore', () => {
  const dynamo = mockClient(DynamoDBClient);
  const store = dynamoApprovalStore(new DynamoDBClient({ region: 'eu-west-1' }), TABLE);
  const inputs = (command: typeof UpdateItemCommand | typeof PutItemCommand | typeof GetItemCommand) =>
    dynamo.commandCalls(command as typeof UpdateItemCommand).map((call) => call.args[0].input);

  beforeEach(() => {
    dynamo.reset();
  });

  it('is keyed by approvalId with the TTL on expiresAt', () => {
    expect(APPROVAL_TABLE_KEY).toBe('approvalId');
    expect(APPROVAL_TABLE_TTL_ATTRIBUTE).toBe('expiresAt');
  });

  it('puts a new request only where none is, expiresAt as a number of seconds', async () => {
    dynamo.on(PutItemCommand).resolves({});

    await store.put(PENDING);

    expect(inputs(PutItemCommand)).toEqual([{ TableName: TABLE, Item: PENDING_ITEM, ConditionExpression: 'attribute_not_exists(approvalId)' }]);
  });

  it('reads strongly consistently and parses the item', async () => {
    dynamo.on(GetItemCommand).resolvesOnce({ Item: DECIDED_ITEM }).resolvesOnce({});

    await expect(store.get(PENDING.approvalId)).resolves.toEqual({ ...PENDING, state: 'decided', decision: DECISION });
    await expect(store.get('Zz9Jm2kT9xYw0bVnA4sLp8rC')).resolves.toBeUndefined();

    expect(inputs(GetItemCommand)[0]).toEqual({ TableName: TABLE, Key: { approvalId: { S: PENDING.approvalId } }, ConsistentRead: true });
  });

  it('decides with one conditional UpdateItem: pending and not expired, and returns the new item', async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: DECIDED_ITEM });

    const decided = await store.decide(PENDING.approvalId, DECISION);

    expect(decided).toEqual({ outcome: 'decided', record: { ...PENDING, state: 'decided', decision: DECISION } });
    expect(inputs(UpdateItemCommand)).toEqual([
      {
        TableName: TABLE,
        Key: { approvalId: { S: PENDING.approvalId } },
        UpdateExpression: 'SET #state = :decided, #approved = :approved, #approver = :approver, #comment = :comment, #decidedAt = :decidedAt',
        ConditionExpression: '#state = :pending AND #expiresAt > :now',
        ExpressionAttributeNames: {
          '#state': 'state',
          '#expiresAt': 'expiresAt',
          '#approved': 'approved',
          '#approver': 'approver',
          '#comment': 'comment',
          '#decidedAt': 'decidedAt',
        },
        ExpressionAttributeValues: {
          ':decided': { S: 'decided' },
          ':pending': { S: 'pending' },
          ':now': { N: String(Date.parse(DECISION.decidedAt) / 1000) },
          ':approved': { BOOL: true },
          ':approver': { S: 'Ana Lima' },
          ':comment': { S: 'go ahead' },
          ':decidedAt': { S: DECISION.decidedAt },
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    ]);
  });

  it('answers a ConditionalCheckFailedException on a decided item as a replay, with the first decision', async () => {
    dynamo.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item: DECIDED_ITEM }));

    await expect(store.decide(PENDING.approvalId, { ...DECISION, approver: 'Replay' })).resolves.toEqual({
      outcome: 'already-decided',
      record: { ...PENDING, state: 'decided', decision: DECISION },
    });
  });

  it('tells an expired pending item and no item at all from a replay', async () => {
    dynamo
      .on(UpdateItemCommand)
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item: PENDING_ITEM }))
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));

    await expect(store.decide(PENDING.approvalId, LATE)).resolves.toEqual({ outcome: 'expired', record: PENDING });
    await expect(store.decide(PENDING.approvalId, DECISION)).resolves.toEqual({ outcome: 'not-found' });
  });

  it('lets other DynamoDB failures out', async () => {
    dynamo.on(UpdateItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    await expect(store.decide(PENDING.approvalId, DECISION)).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
  });

  it('reopens with a conditional UpdateItem from decided back to pending, without the decision', async () => {
    dynamo.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));

    await store.reopen(PENDING.approvalId);
    // Not decided any more (or never): nothing to reopen, and no error.
    await store.reopen(PENDING.approvalId);

    expect(inputs(UpdateItemCommand)[0]).toEqual({
      TableName: TABLE,
      Key: { approvalId: { S: PENDING.approvalId } },
      UpdateExpression: 'SET #state = :pending REMOVE #approved, #approver, #comment, #decidedAt',
      ConditionExpression: '#state = :decided',
      ExpressionAttributeNames: { '#state': 'state', '#approved': 'approved', '#approver': 'approver', '#comment': 'comment', '#decidedAt': 'decidedAt' },
      ExpressionAttributeValues: { ':pending': { S: 'pending' }, ':decided': { S: 'decided' } },
    });
  });

  it('refuses a malformed item naming the attribute, never printing the token', async () => {
    const { mode: _mode, ...withoutMode } = PENDING_ITEM;
    dynamo.on(GetItemCommand).resolves({ Item: withoutMode });

    const error = await rejection(store.get(PENDING.approvalId));

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^Malformed approval item q7Jm2kT9xYw0bVnA4sLp8rCe: mode: /);
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('writes a decided record with its decision as flat attributes', () => {
    expect(toItem({ ...PENDING, state: 'decided', decision: DECISION })).toEqual(DECIDED_ITEM);
  });
});
