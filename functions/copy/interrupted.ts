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
