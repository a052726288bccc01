/**
 * HMAC-SHA256 message authentication, base64url without padding: approval links (`<approvalId>.<exp>`) and
 * evidence (verification results, audit events, reports) are signed with it, each with its own key. In AWS the
 * key is a KMS HMAC key that never leaves KMS (`GenerateMac`/`VerifyMac`); in tests and local runs it is a
 * 32-byte key in memory. Both give the same 43-character signatures for the same key bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { GenerateMacCommand, type KMSClient, VerifyMacCommand } from '@aws-sdk/client-kms';
import { ConfigError } from '../errors.ts';

export interface MacSigner {
  /** The base64url (unpadded) HMAC-SHA256 of `message`. */
  sign(message: string): Promise<string>;
  /** Whether `signature` is exactly the base64url HMAC of `message`: false for any other text, never a throw for a bad signature. */
  verify(message: string, signature: string): Promise<boolean>;
}

/** An HMAC-SHA256 is 32 bytes: 43 base64url characters without padding. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Whether `signature` is a signature in its one canonical spelling. base64url decoding ignores the two spare
 * bits of the last character (and any stray character), so several strings decode to the same bytes; only
 * the one the signer produces is accepted, and a changed character is always a wrong signature.
 */
export function isCanonicalSignature(signature: string): boolean {
  return SIGNATURE.test(signature) && Buffer.from(signature, 'base64url').toString('base64url') === signature;
}

/** A KMS HMAC key (`HMAC_256` key spec): KMS computes and checks every MAC, so the key is never in Lambda. */
export function kmsHmacSigner(kms: Pick<KMSClient, 'send'>, keyId: string): MacSigner {
  return {
    async sign(message) {
      const output = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: Buffer.from(message, 'utf8'), MacAlgorithm: 'HMAC_SHA_256' }));
      if (output.Mac === undefined) throw new Error(`KMS GenerateMac with ${keyId} returned no MAC`);
      return Buffer.from(output.Mac).toString('base64url');
    },
    async verify(message, signature) {
      if (!isCanonicalSignature(signature)) return false;
      try {
        const output = await kms.send(
          new VerifyMacCommand({
            KeyId: keyId,
            Message: Buffer.from(message, 'utf8'),
            MacAlgorithm: 'HMAC_SHA_256',
            Mac: Buffer.from(signature, 'base64url'),
          }),
        );
        return output.MacValid === true;
      } catch (error) {
        // KMS answers a MAC that does not match with this exception rather than MacValid: false.
        if ((error as { name?: unknown }).name === 'KMSInvalidMacException') return false;
        throw error;
      }
    },
  };
}

/** A local 32-byte key (tests, local runs): node:crypto HMAC, compared in constant time. */
export function localHmacSigner(key: Buffer): MacSigner {
  if (key.length !== 32) throw new ConfigError(`An HMAC signing key must be 32 bytes, not ${key.length}`);
  const secret = Buffer.from(key);
  const mac = (message: string) => createHmac('sha256', secret).update(message, 'utf8').digest();
  return {
    async sign(message) {
      return mac(message).toString('base64url');
    },
    async verify(message, signature) {
      if (!isCanonicalSignature(signature)) return false;
      return timingSafeEqual(mac(message), Buffer.from(signature, 'base64url'));
    },
  };
}
