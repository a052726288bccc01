/**
 * The verification key the CLI signs and checks verification results with (functions/lib/vault/verification.ts):
 * the deployment's KMS HMAC key (its ARN: `lifeboat verify` needs `kms:GenerateMac`, every reader only
 * `kms:VerifyMac`), or off AWS a key file (`lifeboat keygen`). `--verification-key` or `$LIFEBOAT_VERIFICATION_KEY`.
 *
 * Without it `verify` writes unsigned results and readers take results as stored, saying so: right for a local
 * vault its owner reads, not for a deployment's vault, where only results the verifier signed should count.
 */
import type { MacSigner } from '../functions/lib/crypto/mac.ts';
import { type FlagSpecs, type FlagValues, stringFlag } from './args.ts';
import { UsageError } from './errors.ts';

export const VERIFICATION_KEY_FLAGS: FlagSpecs = {
  'verification-key': {
    type: 'string',
    value: 'ARN|FILE',
    description:
      "The deployment's verification key (KMS HMAC key ARN, output VerificationKeyArn), or a key file (lifeboat keygen) off AWS: results are signed with it, and only results that authenticate count. Default: $LIFEBOAT_VERIFICATION_KEY.",
  },
};

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/[A-Za-z0-9-]+$/;

/** The key named by the flag or the environment, or undefined when neither names one. */
export async function verificationKeyFrom(flags: FlagValues, env: Readonly<Record<string, string | undefined>>): Promise<MacSigner | undefined> {
  const given = stringFlag(flags, 'verification-key') ?? (env['LIFEBOAT_VERIFICATION_KEY'] || undefined);
  if (given === undefined) return undefined;
  const { kmsHmacSigner, localHmacSigner } = await import('../functions/lib/crypto/mac.ts');
  if (given.startsWith('arn:')) {
    const region = KMS_KEY_ARN.exec(given)?.[1];
    if (region === undefined) throw new UsageError('--verification-key must be a KMS key ARN (arn:aws:kms:eu-west-1:111122223333:key/…) or a key file');
    const { KMSClient } = await import('@aws-sdk/client-kms');
    return kmsHmacSigner(new KMSClient({ region }), given);
  }
  const { loadKeyFile } = await import('../functions/lib/crypto/keyFile.ts');
  return localHmacSigner((await loadKeyFile(given)).key);
}
