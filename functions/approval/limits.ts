/**
 * How much traffic the public approval endpoint takes, and from whom (docs/dr-plans.md, "The approval endpoint
 * under a flood"). One definition for the infrastructure that enforces it (WAF rate-based rule, API stage
 * throttling, the function's reserved concurrency) and the test that models it.
 */
export const APPROVAL_LIMITS = {
  /**
   * Requests one client IP may make in {@link APPROVAL_LIMITS.windowSeconds} before WAF blocks it (until its rate
   * falls back under). Deciding takes an approver two or three requests (open, maybe a corrected form, post);
   * this leaves room for a few approvers behind one office NAT.
   */
  requestsPerClient: 100,
  /** The WAF rate-based rule's evaluation window. */
  windowSeconds: 300,
  /** The API stage's steady rate (requests a second, every client together) and burst, enforced before Lambda. */
  stageRateLimit: 500,
  stageBurstLimit: 1_000,
  /**
   * The function's reserved concurrency. A refused link costs at most one DynamoDB read (~10 ms), so this
   * serves more than the stage lets through: the stage answers 429 before the function throttles.
   */
  reservedConcurrency: 50,
} as const;
