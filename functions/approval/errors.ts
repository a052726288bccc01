import { LifeboatError } from '../lib/errors.ts';

/**
 * The approval request could not be sent to the plan's contacts (SNS refused or did not answer). The
 * stored request is never reached by anyone (nobody has its link) and expires with its TTL; the task fails,
 * and with it the plan, rather than waiting for an answer nobody was asked for.
 */
export class ApprovalNotSentError extends LifeboatError {
  override readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApprovalNotSentError';
  }
}
