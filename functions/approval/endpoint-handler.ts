// The approval endpoint Lambda (a function URL): a thin middy wrapper over handleApprovalRequest(). Clients and
// configuration are built once per container. Every request gets a page, never a Lambda error.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { requireEnv } from '../lib/env.ts';
import { approvalAuditTrail } from './audit.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { handleApprovalRequest, type ApprovalHttpRequest, type ApprovalHttpResponse } from './endpoint.ts';
import { kmsHmacSigner } from '../lib/crypto/mac.ts';
import { dynamoApprovalStore } from './store.ts';

const env = requireEnv(['APPROVAL_TABLE', 'APPROVAL_KEY_ID']);

const logger = new Logger();
const audit = approvalAuditTrail('approval-endpoint', logger);
const deps = {
  ...(audit ? { audit } : {}),
  store: dynamoApprovalStore(new DynamoDBClient({}), env.APPROVAL_TABLE),
  signer: kmsHmacSigner(new KMSClient({}), env.APPROVAL_KEY_ID),
  sfn: new SFNClient({}),
  logger,
};

async function endpoint(event: ApprovalHttpRequest): Promise<ApprovalHttpResponse> {
  const response = await handleApprovalRequest(event, deps);
  logger.info('approval page', { method: event?.requestContext?.http?.method, statusCode: response.statusCode });
  return response;
}

// Never log the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says: its query string is the signed link.
export const handler = middy(endpoint).use(injectLambdaContext(logger, { logEvent: false })).use(conciseErrors(logger));
