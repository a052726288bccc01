// The alarm-alert Lambda: a thin middy wrapper over forwardAlarms(), subscribed to the alarm topic.
import { SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { forwardAlarms } from './forward.ts';

const env = requireEnv(['ALERT_TOPIC_ARN']);
const logger = new Logger();
const deps = { sns: new SNSClient({}), alertTopicArn: env.ALERT_TOPIC_ARN };

async function forward(event: unknown): Promise<{ forwarded: number }> {
  const result = await forwardAlarms(event, deps);
  logger.info('alarms forwarded', result);
  return result;
}

export const handler = middy(forward).use(injectLambdaContext(logger)).use(conciseErrors(logger));
