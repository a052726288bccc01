/**
 * The evidence key the CLI authenticates audit events with: a local key file (`lifeboat keygen`, off AWS)
 * or the deployment's KMS HMAC key (its ARN). `--evidence-key-file` / `$LIFEBOAT_EVIDENCE_KEY_FILE`, or
 * `--evidence-key` / `$LIFEBOAT_EVIDENCE_KEY`; exactly one.
 */
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import { type FlagSpecs, type FlagValues, stringFlag } from './args.ts';
import { UsageError } from './errors.ts';
import { fileMacSigner, kmsMacSigner } from './keys.ts';

export const EVIDENCE_KEY_FLAGS: FlagSpecs = {
  'evidence-key-file': {
    type: 'string',
    value: 'FILE',
    description: 'Key file (lifeboat keygen) that authenticates audit events off AWS. Default: $LIFEBOAT_EVIDENCE_KEY_FILE.',
  },
  'evidence-key': {
    type: 'string',
    value: 'ARN',
    description: "The deployment's evidence key (KMS HMAC key ARN). Default: $LIFEBOAT_EVIDENCE_KEY.",
  },
};

export async function evidenceSigner(flags: FlagValues, env: Readonly<Record<string, string | undefined>>): Promise<MacSigner> {
  let file = stringFlag(flags, 'evidence-key-file');
  let arn = stringFlag(flags, 'evidence-key');
  if (file !== undefined && arn !== undefined) throw new UsageError('give either --evidence-key-file or --evidence-key, not both');
  if (file === undefined && arn === undefined) {
    file = env['LIFEBOAT_EVIDENCE_KEY_FILE'] || undefined;
    arn = file === undefined ? env['LIFEBOAT_EVIDENCE_KEY'] || undefined : undefined;
  }
  if (file !== undefined) return fileMacSigner(file);
  if (arn === undefined) {
    throw new UsageError('an evidence key is required to authenticate audit events: --evidence-key-file FILE or --evidence-key ARN (or LIFEBOAT_EVIDENCE_KEY_FILE / LIFEBOAT_EVIDENCE_KEY)');
  }
  return kmsMacSigner(arn, '--evidence-key');
}

/** `2026-11-21` (UTC midnight) or a full ISO-8601 time; a clear usage error otherwise. */
export function parseDateFlag(flag: string, text: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const parsed = new Date(day ? `${text}T00:00:00.000Z` : text);
  if (Number.isNaN(parsed.getTime()) || (day && parsed.toISOString().slice(0, 10) !== text) || (!day && !/^\d{4}-\d{2}-\d{2}T/.test(text))) {
    throw new UsageError(`--${flag} must be a date (2026-11-21, UTC) or an ISO-8601 time (2026-11-21T06:00:00Z), not "${text}"`);
  }
  return parsed;
}
