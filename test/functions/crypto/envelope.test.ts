import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  backupEncryptionContext,
  createDecryptStream,
  createEncryptStream,
  describeEncryption,
  FRAME_LENGTH,
} from '../../../functions/lib/crypto/envelope.ts';
import { type KmsClientProvider, kmsKeyring, rawAesKeyring } from '../../../functions/lib/crypto/keyring.ts';
import { fakeKms } from '../../harness/kms.ts';
import { ConfigError, DecryptionFailedError, EncryptionFailedError } from '../../../functions/lib/errors.ts';

const key = { keyNamespace: 'lifeboat', keyName: 'k-test', key: randomBytes(32), createdAt: '2026-11-22T05:33:27Z' };
const keyring = rawAesKeyring(key);
const context = backupEncryptionContext('orders-db', '20261122T053327Z-k3x9q2ab');

async function run(input: Buffer, ...stages: Duplex[]): Promise<{ output: Buffer; chunksOut: number }> {
  const chunks: Buffer[] = [];
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += 65536) pieces.push(input.subarray(i, i + 65536));
  await pipeline([
    Readable.from(pieces),
    ...stages,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  ] as never);
  return { output: Buffer.concat(chunks), chunksOut: chunks.length };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e as Error,
  );
}

describe('payload encryption', () => {
  it('round-trips several frames, each message under its own data key', async () => {
    const plaintext = randomBytes(3 * FRAME_LENGTH + 12345);
    const { output: one } = await run(plaintext, createEncryptStream(keyring, context));
    const { output: two } = await run(plaintext, createEncryptStream(keyring, context));
    expect(one.length).toBeGreaterThan(plaintext.length);
    expect(one.length).toBeLessThan(plaintext.length + 4096); // 1 MiB frames: tiny overhead
    expect(one.subarray(1000, 1100).equals(two.subarray(1000, 1100))).toBe(false);
    for (const ciphertext of [one, two]) {
      const { output } = await run(ciphertext, createDecryptStream(keyring, context));
      expect(output.equals(plaintext)).toBe(true);
    }
    // The context travels in the clear header; the key never does.
    expect(one.includes(Buffer.from('orders-db'))).toBe(true);
    expect(one.includes(key.key)).toBe(false);
  });

  it('describes itself for the manifest without key material', () => {
    const description = describeEncryption(keyring, context);
    expect(description).toEqual({
      scheme: 'aws-encryption-sdk',
      algorithmSuite: 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY',
      frameLength: 1048576,
      keyring: { type: 'raw-aes', keyNamespace: 'lifeboat', keyName: 'k-test' },
      encryptionContext: { 'lifeboat:source': 'orders-db', 'lifeboat:backup': '20261122T053327Z-k3x9q2ab' },
    });
    expect(JSON.stringify(description)).not.toContain(key.key.toString('base64'));
  });

  it('fails a wrong key, a flipped byte or a cut message with DecryptionFailedError, keeping the cause', async () => {
    const plaintext = randomBytes(2 * FRAME_LENGTH);
    const { output: ciphertext } = await run(plaintext, createEncryptStream(keyring, context));
    const flipped = Buffer.from(ciphertext);
    flipped[flipped.length - 5000]! ^= 0x01;
    const wrongKey = rawAesKeyring({ ...key, key: randomBytes(32) });
    const otherName = rawAesKeyring({ ...key, keyName: 'k-other' });
    const cases: [Buffer, typeof keyring][] = [
      [ciphertext, wrongKey],
      [ciphertext, otherName],
      [flipped, keyring],
      [ciphertext.subarray(0, ciphertext.length - 100), keyring],
      [ciphertext.subarray(0, 40), keyring],
    ];
    for (const [input, k] of cases) {
      const error = await failure(run(input, createDecryptStream(k, context)));
      expect(error).toBeInstanceOf(DecryptionFailedError);
      expect(error.cause).toBeInstanceOf(Error);
    }
  });

  it('releases no plaintext of a message whose encryption context differs', async () => {
    const { output: ciphertext } = await run(randomBytes(FRAME_LENGTH + 1), createEncryptStream(keyring, context));
    for (const expected of [
      backupEncryptionContext('orders-db', '20261122T060000Z-aaaaaaaa'),
      backupEncryptionContext('other-db', '20261122T053327Z-k3x9q2ab'),
      { ...context, 'lifeboat:extra': 'x' },
    ]) {
      let released = 0;
      const error = await failure(
        pipeline(
          Readable.from([ciphertext]),
          createDecryptStream(keyring, expected),
          new Writable({
            write(chunk: Buffer, _encoding, callback) {
              released += chunk.length;
              callback();
            },
          }),
        ),
      );
      expect(error).toBeInstanceOf(DecryptionFailedError);
      expect(error.message).toMatch(/encryption context/);
      expect(released).toBe(0);
    }
  });
});

describe('KMS keyring', () => {
  const primary = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
  const replica = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';

  it('encrypts under the primary multi-Region key and decrypts in the DR Region under its replica', async () => {
    const calls: string[] = [];
    const clientProvider = fakeKms(calls);
    const backupKeyring = kmsKeyring({ keyIds: [primary], clientProvider });
    expect(backupKeyring.description).toEqual({ type: 'kms', keyIds: [primary] });

    const plaintext = randomBytes(FRAME_LENGTH + 10);
    const { output: ciphertext } = await run(plaintext, createEncryptStream(backupKeyring, context));
    expect(calls).toEqual([`eu-west-1 GenerateDataKey ${primary}`]);

    const drKeyring = kmsKeyring({ keyIds: [replica], clientProvider });
    const { output } = await run(ciphertext, createDecryptStream(drKeyring, context));
    expect(output.equals(plaintext)).toBe(true);
    expect(calls.at(-1)).toBe(`eu-central-1 Decrypt ${replica}`);
  });

  it('fails with named errors when KMS refuses or another key is given', async () => {
    const refusing: KmsClientProvider = () =>
      ({
        generateDataKey: async () => {
          throw Object.assign(new Error('User is not authorized to perform kms:GenerateDataKey'), { name: 'AccessDeniedException' });
        },
      }) as unknown as ReturnType<KmsClientProvider>;
    const encryptError = await failure(run(randomBytes(10), createEncryptStream(kmsKeyring({ keyIds: [primary], clientProvider: refusing }), context)));
    expect(encryptError).toBeInstanceOf(EncryptionFailedError);
    expect(encryptError.message).toMatch(/not authorized/);

    const clientProvider = fakeKms([]);
    const { output: ciphertext } = await run(randomBytes(100), createEncryptStream(kmsKeyring({ keyIds: [primary], clientProvider }), context));
    const other = 'arn:aws:kms:eu-west-1:111122223333:key/0bb2c0de-1111-2222-3333-444455556666';
    const decryptError = await failure(run(ciphertext, createDecryptStream(kmsKeyring({ keyIds: [other], clientProvider }), context)));
    expect(decryptError).toBeInstanceOf(DecryptionFailedError);
  });

  it("wraps each data key under the air-gapped vault's key too: that copy decrypts with the other account's key alone", async () => {
    // The dump's keyring with vaultAccount.keyArn: the workload key generates, the air-gapped key (another account, Encrypt only) wraps.
    const airGap = 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666';
    const calls: string[] = [];
    const clientProvider = fakeKms(calls);
    const plaintext = randomBytes(FRAME_LENGTH + 10);
    const { output: ciphertext } = await run(plaintext, createEncryptStream(kmsKeyring({ keyIds: [primary, airGap], clientProvider }), context));
    expect(calls).toEqual([`eu-west-1 GenerateDataKey ${primary}`, `eu-west-1 Encrypt ${airGap}`]);

    // The vault account's reader: only its own key, which the workload account could only encrypt with.
    const { output } = await run(ciphertext, createDecryptStream(kmsKeyring({ keyIds: [airGap], clientProvider }), context));
    expect(output.equals(plaintext)).toBe(true);
    expect(calls.at(-1)).toBe(`eu-west-1 Decrypt ${airGap}`);
    // And the workload's own key still decrypts it, as before.
    expect((await run(ciphertext, createDecryptStream(kmsKeyring({ keyIds: [primary], clientProvider }), context))).output.equals(plaintext)).toBe(true);
  });

  it('wants key ARNs', () => {
    expect(() => kmsKeyring({ keyIds: [] })).toThrow(ConfigError);
    expect(() => kmsKeyring({ keyIds: ['alias/lifeboat'] })).toThrow(/must be KMS key ARNs/);
  });
});
