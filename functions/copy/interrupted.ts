import { LifeboatError } from '../lib/errors.ts';

/**
 * A copy stopped on purpose because its runner's time is nearly up (only when `remainingTimeMs` is given).
 * Nothing is aborted: the multipart upload and its copied parts stay, and a rerun for the same backup, on
 * this runner or on Fargate, continues it. Retryable.
 */
export class CopyInterruptedError extends LifeboatError {
  override readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CopyInterruptedError';
  }
}

/**
 * A copy that ran out of its runner's time without storing anything this run: the work left is one piece that does not
 * fit a Lambda run (re-hashing one payload object, or proving one for the air-gapped vault, above about 80 GB), so a
 * rerun of the same length would stop at the same place. Not retryable on Lambda: the state machine runs the copy as
 * its Fargate task, which has no deadline. Raised only when `remainingTimeMs` is given (a Lambda).
 */
export class CopyOutgrewLambdaError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CopyOutgrewLambdaError';
  }
}
