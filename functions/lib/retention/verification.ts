/**
 * A backup's verification status as retention needs it: the newest verification result beside the
 * manifest decides. The format and its only reader live in `vault/verification.ts`; an unreadable
 * newest result comes back with a `problem`, and retention then deletes nothing for the source.
 */
export { readLatestVerification, type LatestVerification as VerificationState } from '../vault/verification.ts';
