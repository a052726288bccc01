// The start-backup Lambda (EventBridge Scheduler's target): a thin middy wrapper over startBackup(). Clients and configuration are built once per container.
import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { requireEnv } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { STATE_MACHINE_ARN_PATTERN, SourceIdSchema, startBackup, type StartBackupResult } from './start.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { parseOrConfigError } from '../lib/validation.ts';

const env = requireEnv(['BACKUP_STATE_MACHINE_ARN', 'LIFEBOAT_SOURCE_IDS']);
if (!STATE_MACHINE_ARN_PATTERN.test(env.BACKUP_STATE_MACHINE_ARN)) {
  throw new ConfigError(`BACKUP_STATE_MACHINE_ARN: "${env.BACKUP_STATE_MACHINE_ARN}" is not a Step Functions state machine ARN`);
}
const sourceIds = parseSourceIds(env.LIFEBOAT_SOURCE_IDS);

const logger = new Logger();
const metrics = new Metrics();
const deps = { sfn: new SFNClient({}), stateMachineArn: env.BACKUP_STATE_MACHINE_ARN, sourceIds };

async function start(event: unknown): Promise<StartBackupResult> {
  const result = await startBackup(event, deps);
  // A repeated Scheduler delivery started nothing, so it is not counted.
  if (!result.alreadyStarted) {
    metrics.addDimension('sourceId', result.sourceId);
    metrics.addMetric('BackupStarted', MetricUnit.Count, 1);
  }
  logger.info(result.alreadyStarted ? 'backup already started' : 'backup started', {
    sourceId: result.sourceId,
    trigger: result.trigger,
    executionName: result.executionName,
    executionArn: result.executionArn,
    alreadyStarted: result.alreadyStarted,
  });
  return result;
}

function parseSourceIds(text: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError('LIFEBOAT_SOURCE_IDS: not valid JSON (expected an array of source ids)');
  }
  return parseOrConfigError(z.array(SourceIdSchema).min(1), json, 'LIFEBOAT_SOURCE_IDS', '(root)');
}

export const handler = middy(start).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
