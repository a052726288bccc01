/**
 * Where approval requests wait for a decision, with the task token that resumes the plan. The token never
 * leaves the store: not in the link, the message, the page or a log. A record is decided exactly once
 * (a conditional `pending → decided`), and goes back to `pending` only when the decision could not be
 * handed to Step Functions. DynamoDB in AWS (key `approvalId`, TTL attribute `expiresAt` in unix seconds);
 * a Map in tests and local runs.
 */
import {
  type AttributeValue,
  type ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { describeIssues } from '../lib/validation.ts';

/** What the approver decided, as the plan receives it (the task output) and the record keeps it. */
export interface ApprovalDecision {
  readonly approved: boolean;
  readonly approver: string;
  readonly comment: string;
  /** ISO 8601. */
  readonly decidedAt: string;
}

const RecordBaseSchema = z.object({
  approvalId: z.string().min(1),
  taskToken: z.string().min(1),
  plan: z.string().min(1),
  stepId: z.string().min(1),
  executionId: z.string().min(1),
  mode: z.enum(['real', 'drill']),
  question: z.string(),
  /** Whether this is the second request (`Escalate<id>`), sent because nobody decided the first in time. */
  escalation: z.boolean(),
  /** Unix seconds; also the DynamoDB TTL. */
  expiresAt: z.number().int().positive(),
});
const DecisionSchema = z.object({ approved: z.boolean(), approver: z.string(), comment: z.string(), decidedAt: z.string() });
export const ApprovalRecordSchema = z.discriminatedUnion('state', [
  RecordBaseSchema.extend({ state: z.literal('pending') }),
  RecordBaseSchema.extend({ state: z.literal('decided'), decision: DecisionSchema }),
]);
export type ApprovalRecord = z.infer<typeof ApprovalRecordSchema>;
export type PendingApproval = Extract<ApprovalRecord, { state: 'pending' }>;
export type DecidedApproval = Extract<ApprovalRecord, { state: 'decided' }>;

/** How a `decide` ended: only `decided` hands the caller the task token to send the decision with. */
export type DecideOutcome =
  | { readonly outcome: 'decided'; readonly record: DecidedApproval }
  /** Someone decided first (a replay, a second approver, a double submit). */
  | { readonly outcome: 'already-decided'; readonly record: DecidedApproval }
  | { readonly outcome: 'expired'; readonly record: ApprovalRecord }
  | { readonly outcome: 'not-found' };

export interface ApprovalStore {
  /** Stores a new pending request; never overwrites one with the same id. */
  put(record: PendingApproval): Promise<void>;
  get(approvalId: string): Promise<ApprovalRecord | undefined>;
  /** `pending → decided` exactly once, while the request has not expired at `decision.decidedAt`. */
  decide(approvalId: string, decision: ApprovalDecision): Promise<DecideOutcome>;
  /** `decided → pending`, when the decision could not be handed to Step Functions, so it can be made again. */
  reopen(approvalId: string): Promise<void>;
}

const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** A store in memory: tests and local runs. Records are copied in and out, as a database would. */
export function memoryApprovalStore(): ApprovalStore & { readonly records: ReadonlyMap<string, ApprovalRecord> } {
  const records = new Map<string, ApprovalRecord>();
  return {
    records,
    async put(record) {
      if (records.has(record.approvalId)) throw new Error(`Approval ${record.approvalId} already exists`);
      records.set(record.approvalId, structuredClone(ApprovalRecordSchema.parse(record)));
    },
    async get(approvalId) {
      const record = records.get(approvalId);
      return record === undefined ? undefined : structuredClone(record);
    },
    async decide(approvalId, decision) {
      const record = records.get(approvalId);
      if (record === undefined) return { outcome: 'not-found' };
      if (record.state === 'decided') return { outcome: 'already-decided', record: structuredClone(record) };
      if (record.expiresAt <= epochSeconds(decision.decidedAt)) return { outcome: 'expired', record: structuredClone(record) };
      const decided: DecidedApproval = { ...record, state: 'decided', decision: { ...decision } };
      records.set(approvalId, decided);
      return { outcome: 'decided', record: structuredClone(decided) };
    },
    async reopen(approvalId) {
      const record = records.get(approvalId);
      if (record?.state !== 'decided') return;
      const { decision: _decision, ...rest } = record;
      records.set(approvalId, { ...rest, state: 'pending' });
    },
  };
}

/** The DynamoDB table's attribute names: partition key and TTL. */
export const APPROVAL_TABLE_KEY = 'approvalId';
export const APPROVAL_TABLE_TTL_ATTRIBUTE = 'expiresAt';

/** Every attribute an update or condition names, through `#name` (`state` and `comment` are reserved words). */
const NAMES = {
  '#state': 'state',
  '#expiresAt': 'expiresAt',
  '#approved': 'approved',
  '#approver': 'approver',
  '#comment': 'comment',
  '#decidedAt': 'decidedAt',
} as const;

/**
 * The DynamoDB table: one item per request, keyed by `approvalId` (S), TTL on `expiresAt` (N, unix seconds).
 * Reads are strongly consistent: a page must never show a request as pending once it is decided.
 */
export function dynamoApprovalStore(client: Pick<DynamoDBClient, 'send'>, tableName: string): ApprovalStore {
  const key = (approvalId: string) => ({ [APPROVAL_TABLE_KEY]: { S: approvalId } });
  return {
    async put(record) {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: toItem(record),
          ConditionExpression: 'attribute_not_exists(approvalId)',
        }),
      );
    },
    async get(approvalId) {
      const output = await client.send(new GetItemCommand({ TableName: tableName, Key: key(approvalId), ConsistentRead: true }));
      return output.Item === undefined ? undefined : fromItem(output.Item);
    },
    async decide(approvalId, decision) {
      try {
        const output = await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(approvalId),
            UpdateExpression: 'SET #state = :decided, #approved = :approved, #approver = :approver, #comment = :comment, #decidedAt = :decidedAt',
            ConditionExpression: '#state = :pending AND #expiresAt > :now',
            ExpressionAttributeNames: NAMES,
            ExpressionAttributeValues: {
              ':decided': { S: 'decided' },
              ':pending': { S: 'pending' },
              ':now': { N: String(epochSeconds(decision.decidedAt)) },
              ':approved': { BOOL: decision.approved },
              ':approver': { S: decision.approver },
              ':comment': { S: decision.comment },
              ':decidedAt': { S: decision.decidedAt },
            },
            ReturnValues: 'ALL_NEW',
            // On a failed condition DynamoDB returns the item as it is, which tells a replay from an expiry or no item.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        const record = fromItem(output.Attributes ?? {});
        if (record.state !== 'decided') throw new Error(`Approval ${approvalId} is still ${record.state} after being decided`);
        return { outcome: 'decided', record };
      } catch (error) {
        // By name, not instanceof: a second copy of the SDK in the bundle has its own exception classes.
        if ((error as { name?: unknown }).name !== 'ConditionalCheckFailedException') throw error;
        const item = (error as ConditionalCheckFailedException).Item;
        if (item === undefined) return { outcome: 'not-found' };
        const record = fromItem(item);
        return record.state === 'decided' ? { outcome: 'already-decided', record } : { outcome: 'expired', record };
      }
    },
    async reopen(approvalId) {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(approvalId),
            UpdateExpression: 'SET #state = :pending REMOVE #approved, #approver, #comment, #decidedAt',
            ConditionExpression: '#state = :decided',
            ExpressionAttributeNames: { '#state': 'state', '#approved': 'approved', '#approver': 'approver', '#comment': 'comment', '#decidedAt': 'decidedAt' },
            ExpressionAttributeValues: { ':pending': { S: 'pending' }, ':decided': { S: 'decided' } },
          }),
        );
      } catch (error) {
        // Not decided (any more): there is nothing to reopen.
        if ((error as { name?: unknown }).name !== 'ConditionalCheckFailedException') throw error;
      }
    },
  };
}

/** A record as a DynamoDB item: strings `S`, booleans `BOOL`, `expiresAt` `N`; a decision as flat attributes. */
export function toItem(record: ApprovalRecord): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    approvalId: { S: record.approvalId },
    taskToken: { S: record.taskToken },
    plan: { S: record.plan },
    stepId: { S: record.stepId },
    executionId: { S: record.executionId },
    mode: { S: record.mode },
    question: { S: record.question },
    escalation: { BOOL: record.escalation },
    expiresAt: { N: String(record.expiresAt) },
    state: { S: record.state },
  };
  if (record.state === 'decided') {
    item['approved'] = { BOOL: record.decision.approved };
    item['approver'] = { S: record.decision.approver };
    item['comment'] = { S: record.decision.comment };
    item['decidedAt'] = { S: record.decision.decidedAt };
  }
  return item;
}

export function fromItem(item: Record<string, AttributeValue>): ApprovalRecord {
  const s = (name: string) => item[name]?.S;
  const raw = {
    approvalId: s('approvalId'),
    taskToken: s('taskToken'),
    plan: s('plan'),
    stepId: s('stepId'),
    executionId: s('executionId'),
    mode: s('mode'),
    question: s('question'),
    escalation: item['escalation']?.BOOL,
    expiresAt: item['expiresAt']?.N === undefined ? undefined : Number(item['expiresAt'].N),
    state: s('state'),
    ...(s('state') === 'decided'
      ? { decision: { approved: item['approved']?.BOOL, approver: s('approver'), comment: s('comment'), decidedAt: s('decidedAt') } }
      : {}),
  };
  const parsed = ApprovalRecordSchema.safeParse(raw);
  // Names the bad attributes only: the item holds a task token, which must never reach a log.
  if (!parsed.success) throw new Error(`Malformed approval item ${raw.approvalId ?? '(no id)'}: ${describeIssues(parsed.error, '(item)')}`);
  return parsed.data;
}
