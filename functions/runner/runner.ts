/**
 * The Fargate runner: the tools image's entrypoint when it runs as an ECS task rather than a Lambda. It
 * runs one event through the core its task definition names (LIFEBOAT_RUNNER_ROLE: dump, verify, copy or
 * dr-step), writes the same structured logs and EMF metrics as the Lambda (Powertools, to stdout, which
 * the task's awslogs driver sends to its encrypted log group), and exits with a status the state machine
 * reads through `ecs:runTask.sync` (a non-zero exit fails the Task state):
 *
 *   0  done: the result is in the vault where the state machine reads it (a dump's manifest under the
 *      backup id it was given; a verification result)
 *   1  the core failed (its error's name and message are logged)
 *   2  the task itself is misconfigured (a missing or malformed variable or event)
 *   3  the backup failed verification: the verify core has already published the ERROR alert
 *   143 stopped by SIGTERM (Step Functions stopping the task at its timeout, or a person)
 *
 * The event comes from the first argument (JSON) or LIFEBOAT_TASK_EVENT (the state machine sets it in the
 * container overrides of RunTask). See docs/backup-state-machine.md, "Fargate".
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ConfigError } from '../lib/errors.ts';
import { roleTask } from './roles.ts';

export const EXIT = { ok: 0, failed: 1, misconfigured: 2, verificationFailed: 3, stopped: 143 } as const;

type Env = Readonly<Record<string, string | undefined>>;

/** The event: the first argument if given, else LIFEBOAT_TASK_EVENT; JSON either way. */
export function taskEvent(env: Env, argv: readonly string[]): unknown {
  const [text, from] = argv[0] !== undefined ? [argv[0], 'the first argument'] : [env.LIFEBOAT_TASK_EVENT, 'LIFEBOAT_TASK_EVENT'];
  if (text === undefined || text === '') throw new ConfigError('No event: give it as the first argument or in LIFEBOAT_TASK_EVENT (JSON)');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError(`${from}: not valid JSON`);
  }
}

export interface RunnerIo {
  readonly env: Env;
  readonly argv: readonly string[];
  readonly logger?: Logger;
  readonly metrics?: Metrics;
}

/** Runs the task and returns the process's exit status; never throws. */
export async function runTask(io: RunnerIo): Promise<number> {
  const role = io.env.LIFEBOAT_RUNNER_ROLE;
  const logger = io.logger ?? new Logger({ serviceName: io.env.POWERTOOLS_SERVICE_NAME ?? `lifeboat-${role ?? 'runner'}` });
  const metrics = io.metrics ?? new Metrics({ namespace: io.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Lifeboat', serviceName: io.env.POWERTOOLS_SERVICE_NAME ?? `lifeboat-${role ?? 'runner'}` });
  // Which runner did the work: the same metric names as the Lambda, told apart by this dimension.
  metrics.addDimension('runner', 'fargate');
  const started = Date.now();
  try {
    const task = roleTask(role, io.env, { logger, metrics });
    const event = taskEvent(io.env, io.argv);
    logger.info('task started', { role, event });
    const result = await task.run(event);
    logger.info('task succeeded', { role, seconds: (Date.now() - started) / 1000, result });
    return EXIT.ok;
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    // The full error (stack and causes) to the log group; messages never carry secrets (the cores scrub them).
    logger.error('task failed', { role, error: failure, errorName: failure.name, reason: failure.message });
    if (failure.name === 'VerificationFailedError') return EXIT.verificationFailed;
    return failure instanceof ConfigError ? EXIT.misconfigured : EXIT.failed;
  } finally {
    metrics.publishStoredMetrics();
  }
}
