/**
 * The resolve-source function's core: the backup state machine's first call, which turns a source id into
 * how that source is backed up (dump, snapshot or both) and, for dumps, which dump function serves it.
 * One state machine serves every source; this answer is what differs between them.
 */
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';

const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$/;

/** One entry of LIFEBOAT_ROUTES, written by the CDK construct from the config. */
export const SourceRouteSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be a source id (a lowercase letter, then up to 39 lowercase letters, digits or hyphens)'),
    method: z.enum(['dump', 'snapshot', 'both']),
    dumpFunctionArn: z.string().regex(LAMBDA_ARN, 'must be a Lambda function ARN').optional(),
  })
  .refine((route) => route.method === 'snapshot' || route.dumpFunctionArn !== undefined, {
    path: ['dumpFunctionArn'],
    message: 'required unless method is snapshot',
  });
export type SourceRoute = z.infer<typeof SourceRouteSchema>;

export const SourceRoutesSchema = z
  .array(SourceRouteSchema)
  .min(1, 'must list at least one source')
  .superRefine((routes, ctx) => {
    routes.forEach((route, i) => {
      if (routes.findIndex((r) => r.id === route.id) !== i) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate source id '${route.id}'` });
    });
  });

const ResolveEventSchema = z.object({ sourceId: z.string().min(1, 'must not be empty') });

/** What the state machine keeps as `$.source`; `dumpFunctionArn` is present unless the method is `snapshot`. */
export interface ResolvedSource {
  readonly sourceId: string;
  readonly method: SourceRoute['method'];
  readonly dumpFunctionArn?: string;
}

export function resolveSource(event: unknown, routes: readonly SourceRoute[]): ResolvedSource {
  const { sourceId } = parseOrConfigError(ResolveEventSchema, event, 'Invalid resolve-source event');
  const route = routes.find((r) => r.id === sourceId);
  if (!route) {
    throw new ConfigError(`Unknown source '${sourceId}': this deployment backs up ${routes.map((r) => r.id).join(', ')}`);
  }
  return route.method === 'snapshot'
    ? { sourceId, method: route.method }
    : { sourceId, method: route.method, dumpFunctionArn: route.dumpFunctionArn! };
}
