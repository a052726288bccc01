/** Test harness: KMS where no KMS exists (no AWS account here), with real envelope encryption around it. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KmsClientProvider } from '../../functions/lib/crypto/keyring.ts';

/**
 * A stand-in for KMS in several Regions. Multi-Region keys (`mrk-…`) share their material across
 * Regions, like real replicas; the encryption context is bound as AAD, like KMS does.
 */
export function fakeKms(calls: string[] = []): KmsClientProvider {
  const material = new Map<string, Buffer>();
  const keyId = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);
  const materialOf = (arn: string) => {
    const id = keyId(arn);
    if (!material.has(id)) material.set(id, randomBytes(32));
    return material.get(id)!;
  };
  const aad = (ec: Record<string, string> | undefined) => Buffer.from(JSON.stringify(Object.entries(ec ?? {}).sort()));
  const wrap = (arn: string, plaintext: Uint8Array, ec?: Record<string, string>) => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', materialOf(arn), iv).setAAD(aad(ec));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(keyId(arn));
    return Buffer.concat([Buffer.from([id.length]), id, iv, cipher.getAuthTag(), body]);
  };
  return (region) =>
    ({
      async generateDataKey({ KeyId, NumberOfBytes, EncryptionContext }: { KeyId: string; NumberOfBytes: number; EncryptionContext?: Record<string, string> }) {
        calls.push(`${region} GenerateDataKey ${KeyId}`);
        const plaintext = randomBytes(NumberOfBytes);
        return { KeyId, Plaintext: plaintext, CiphertextBlob: wrap(KeyId, plaintext, EncryptionContext) };
      },
      async encrypt({ KeyId, Plaintext, EncryptionContext }: { KeyId: string; Plaintext: Uint8Array; EncryptionContext?: Record<string, string> }) {
        calls.push(`${region} Encrypt ${KeyId}`);
        return { KeyId, CiphertextBlob: wrap(KeyId, Plaintext, EncryptionContext) };
      },
      async decrypt({ KeyId, CiphertextBlob, EncryptionContext }: { KeyId: string; CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> }) {
        calls.push(`${region} Decrypt ${KeyId}`);
        const blob = Buffer.from(CiphertextBlob);
        const idLength = blob[0]!;
        const id = blob.subarray(1, 1 + idLength).toString();
        if (id !== keyId(KeyId)) throw Object.assign(new Error('IncorrectKeyException'), { name: 'IncorrectKeyException' });
        const rest = blob.subarray(1 + idLength);
        const decipher = createDecipheriv('aes-256-gcm', materialOf(KeyId), rest.subarray(0, 12)).setAAD(aad(EncryptionContext));
        decipher.setAuthTag(rest.subarray(12, 28));
        return { KeyId, Plaintext: Buffer.concat([decipher.update(rest.subarray(28)), decipher.final()]) };
      },
    }) as unknown as ReturnType<KmsClientProvider>;
}
