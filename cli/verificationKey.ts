/**
 * The verification key the CLI signs and checks verification results with (functions/lib/vault/verification.ts):
 * the deployment's KMS HMAC key (its ARN: `lifeboat verify` needs `kms:GenerateMac`, every reader only
 * `kms:VerifyMac`), or off AWS a key file (`lifeboat keygen`). `--verification-key` or `$LIFEBOAT_VERIFICATION_KEY`.
 *
 * Without it `verify` writes unsigned results and readers take results as stored, saying so: right for a local
 * vault its owner reads, not for a deployment's vault, where only results the verifier signed should count.
 */
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import type { FlagSpecs, FlagValues } from './args.ts';
import { macKeyFrom } from './keys.ts';

export const VERIFICATION_KEY_FLAGS: FlagSpecs = {
  'verification-key': {
    type: 'string',
    value: 'ARN|FILE',
    description:
      "The deployment's verification key (KMS HMAC key ARN, output VerificationKeyArn), or a key file (lifeboat keygen) off AWS: results are signed with it, and only results that authenticate count. Default: $LIFEBOAT_VERIFICATION_KEY.",
  },
};

/** The key named by the flag or the environment, or undefined when neither names one. */
export function verificationKeyFrom(flags: FlagValues, env: Readonly<Record<string, string | undefined>>): Promise<MacSigner | undefined> {
  return macKeyFrom(flags, env, 'verification-key', 'LIFEBOAT_VERIFICATION_KEY');
}
