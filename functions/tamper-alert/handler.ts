// The tamper-alert Lambda (target of the vault's EventBridge tamper rules): a thin middy wrapper over alertOnTamperEvent(). Clients and configuration are built once per container.
import { SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { requireEnv } from '../lib/env.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { alertOnTamperEvent } from './tamperAlert.ts';

const env = requireEnv(['ALERT_TOPIC_ARN']);
const breakGlassRoleArn = process.env.BREAK_GLASS_ROLE_ARN || undefined;

const logger = new Logger();
const metrics = new Metrics();
const deps = { sns: new SNSClient({}), topicArn: env.ALERT_TOPIC_ARN, ...(breakGlassRoleArn === undefined ? {} : { breakGlassRoleArn }) };

async function alert(event: unknown): Promise<{ messageId?: string }> {
  const { alert: published, messageId } = await alertOnTamperEvent(event, deps);
  metrics.addDimension('event', published.errorName);
  metrics.addMetric('TamperAlert', MetricUnit.Count, 1);
  logger.warn('tamper alert published', { event: published.errorName, resource: published.sourceId, headline: published.headline, messageId });
  return messageId === undefined ? {} : { messageId };
}

export const handler = middy(alert).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics));
