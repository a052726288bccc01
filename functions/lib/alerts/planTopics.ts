import { z } from 'zod';
import { PLAN_NAME_PATTERN } from '../vault/layout.ts';

/** PLAN_TOPICS, given to every function that writes to a DR plan's contacts: plan name → its topic's ARN. */
export const PlanTopicsSchema = z.record(
  z.string().regex(PLAN_NAME_PATTERN, 'must be a plan name'),
  z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN'),
);
export type PlanTopics = z.infer<typeof PlanTopicsSchema>;
