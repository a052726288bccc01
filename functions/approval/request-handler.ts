// The request-approval Lambda (the `Approve<id>`/`Escalate<id>` task): a thin middy wrapper over requestApproval().
// Clients and configuration are built once per container. The event holds a task token: it is never logged.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { requireEnv } from '../lib/env.ts';
import { approvalAuditTrail } from './audit.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { parseJsonEnv } from '../lib/validation.ts';
import { parseBaseUrl } from './link.ts';
import { PlanTopicsSchema, requestApproval, type ApprovalRequested } from './request.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { dynamoApprovalStore } from './store.ts';

const env = requireEnv(['APPROVAL_TABLE', 'APPROVAL_KEY_ID', 'APPROVAL_BASE_URL', 'PLAN_TOPICS']);
const topics = parseJsonEnv('PLAN_TOPICS', env.PLAN_TOPICS, PlanTopicsSchema);
const baseUrl = parseBaseUrl(env.APPROVAL_BASE_URL);

const logger = new Logger();
const audit = approvalAuditTrail('request-approval', logger);
const deps = {
  ...(audit ? { audit } : {}),
  store: dynamoApprovalStore(new DynamoDBClient({}), env.APPROVAL_TABLE),
  signer: kmsHmacSigner(new KMSClient({}), env.APPROVAL_KEY_ID),
  sns: new SNSClient({}),
  topics,
  baseUrl,
};

async function request(event: unknown): Promise<ApprovalRequested> {
  const requested = await requestApproval(event, deps);
  logger.info(requested.escalation ? 'approval escalated' : 'approval requested', { ...requested });
  return requested;
}

// Never log the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says: it holds the task token.
export const handler = middy(request).use(injectLambdaContext(logger, { logEvent: false })).use(conciseErrors(logger));
