// The DR step executor Lambda: a thin middy wrapper over handleDrStepEvent(). Runs in the tools image
// (pg_restore / mysql) in the verification servers' VPC. Clients and configuration are built once per container.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { audited } from '../lib/audit/index.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { conciseErrors } from '../lib/middleware/conciseErrors.ts';
import { drStepAuditEvents } from './audit.ts';
import { type DrStepResult, handleDrStepEvent } from './drStep.ts';
import { drStepDepsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const deps = drStepDepsFromEnv();
const audit = lambdaAuditTrail({ store: deps.regions.primary.store, sns: deps.sns, step: 'dr-step', log: (message, fields) => logger.warn(message, fields) });

async function runDrStep(event: unknown): Promise<DrStepResult> {
  const { action, plan, stepId, kind } = (event ?? {}) as Record<string, unknown>;
  if (typeof plan === 'string') metrics.addDimension('plan', plan);
  const started = Date.now();
  const result = await audited(audit, () => handleDrStepEvent(event, deps), drStepAuditEvents(event));
  metrics.addMetric('DrStepDurationSeconds', MetricUnit.Seconds, (Date.now() - started) / 1000);
  if ('format' in result) {
    metrics.addMetric(result.outcome === 'passed' ? 'DrPlanPassed' : 'DrPlanFailed', MetricUnit.Count, 1);
    if (result.measured.rtoMinutes !== null) metrics.addMetric('DrPlanRtoSeconds', MetricUnit.Seconds, result.measured.rtoMinutes * 60);
    if (result.measured.rpoMinutes !== null) metrics.addMetric('DrPlanRpoSeconds', MetricUnit.Seconds, result.measured.rpoMinutes * 60);
    logger.info('evidence recorded', { plan: result.plan, mode: result.mode, outcome: result.outcome, measured: result.measured, met: result.met });
  } else if ('databases' in result) {
    logger.info('drill cleaned up', { plan: result.plan, suffix: result.suffix, databases: result.databases, instances: result.instances, clusters: result.clusters });
  } else {
    // Records carry hosts and identifiers, never credentials (secrets are named by ARN only).
    logger.info(`${String(action)} ${result.status}`, { stepId: stepId ?? result.stepId, kind: kind ?? result.kind, status: result.status, ...('step' in result ? { progress: result.step.status } : {}) });
  }
  return result;
}

export const handler = middy(runDrStep).use(injectLambdaContext(logger)).use(conciseErrors(logger)).use(logMetrics(metrics, { captureColdStartMetric: true }));
