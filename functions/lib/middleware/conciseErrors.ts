import type { Logger } from '@aws-lambda-powertools/logger';
import type middy from '@middy/core';

/**
 * Logs a failed invocation's error in full (with its stack and causes) to the function's own log group, then
 * trims its stack to `Name: message` before Lambda serializes it: Step Functions passes a Lambda error's
 * Cause (with the stack trace) on to Catch states and from there to the alert topic, and alerts must never
 * carry a raw stack. The error's name and message, which Retry/Catch and alerts use, are unchanged.
 */
export function conciseErrors(logger: Pick<Logger, 'error'>): middy.MiddlewareObj {
  return {
    onError: async (request) => {
      const error = request.error;
      if (!(error instanceof Error)) return;
      logger.error('invocation failed', { error });
      error.stack = `${error.name}: ${error.message}`;
    },
  };
}
