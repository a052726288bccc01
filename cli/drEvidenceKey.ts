/**
 * The DR evidence key the CLI signs and checks DR plan evidence with (functions/lib/plans/evidenceMac.ts): the
 * deployment's KMS HMAC key (stack output DrEvidenceKeyArn; only the DR step function may sign with it, so the CLI
 * only checks), or off AWS a key file (`lifeboat keygen`), with which `lifeboat drill --local` signs its evidence.
 * `--dr-evidence-key` or `$LIFEBOAT_DR_EVIDENCE_KEY`.
 *
 * Without it evidence is read as stored: right for a local vault its owner reads, not for a deployment's vault,
 * where only evidence of runs that happened should count.
 */
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import type { FlagSpecs, FlagValues } from './args.ts';
import { macKeyFrom } from './keys.ts';

export const DR_EVIDENCE_KEY_FLAGS: FlagSpecs = {
  'dr-evidence-key': {
    type: 'string',
    value: 'ARN|FILE',
    description:
      "The deployment's DR evidence key (KMS HMAC key ARN, output DrEvidenceKeyArn), or a key file (lifeboat keygen) off AWS: plan evidence is signed with it, and only evidence that authenticates counts. Default: $LIFEBOAT_DR_EVIDENCE_KEY.",
  },
};

/** The key named by the flag or the environment, or undefined when neither names one. */
export function drEvidenceKeyFrom(flags: FlagValues, env: Readonly<Record<string, string | undefined>>): Promise<MacSigner | undefined> {
  return macKeyFrom(flags, env, 'dr-evidence-key', 'LIFEBOAT_DR_EVIDENCE_KEY');
}
