// HMAC signatures (approval links, evidence): the local HMAC signer, and the KMS one against a mocked KMS with the exact requests.
import 'aws-sdk-client-mock-vitest/extend';
import { createHmac } from 'node:crypto';
import { GenerateMacCommand, KMSClient, KMSInvalidMacException, NotFoundException, VerifyMacCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { isCanonicalSignature, kmsHmacSigner, localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
// 32 bytes of test key material.
const TEST_SIGNING_KEY = Buffer.from('6c696665626f61742d617070726f76616c2d746573742d6b65792d3332627974', 'hex');

const KEY_ID = 'arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const MESSAGE = 'q7Jm2kT9xYw0bVnA4sLp8rCe.1796030400';
const expectedMac = (message: string) => createHmac('sha256', TEST_SIGNING_KEY).update(message, 'utf8').digest();
/** The same signature with one character changed. */
const flip = (sig: string, at: number) => `${sig.slice(0, at)}${sig[at] === 'A' ? 'B' : 'A'}${sig.slice(at + 1)}`;

describe('localHmacSigner', () => {
  const signer = localHmacSigner(TEST_SIGNING_KEY);

  it('signs with HMAC-SHA256 as 43 base64url characters and verifies its own signature', async () => {
    const sig = await signer.sign(MESSAGE);

    expect(sig).toBe(expectedMac(MESSAGE).toString('base64url'));
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expect(signer.verify(MESSAGE, sig)).resolves.toBe(true);
  });

  it('refuses another message, any changed character, a truncated or padded signature, and another key', async () => {
    const sig = await signer.sign(MESSAGE);
    const other = localHmacSigner(Buffer.alloc(32, 7));

    await expect(signer.verify('q7Jm2kT9xYw0bVnA4sLp8rCe.1795953601', sig)).resolves.toBe(false);
    for (const at of [0, 21, 42]) await expect(signer.verify(MESSAGE, flip(sig, at))).resolves.toBe(false);
    await expect(signer.verify(MESSAGE, sig.slice(0, 42))).resolves.toBe(false);
    await expect(signer.verify(MESSAGE, `${sig}=`)).resolves.toBe(false);
    await expect(signer.verify(MESSAGE, '')).resolves.toBe(false);
    await expect(other.verify(MESSAGE, sig)).resolves.toBe(false);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => localHmacSigner(Buffer.alloc(16))).toThrow('An HMAC signing key must be 32 bytes, not 16');
  });
});

describe('isCanonicalSignature', () => {
  it('accepts only the one spelling a signer produces: the spare bits of the last character must be zero', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sig = expectedMac(MESSAGE).toString('base64url');
    const last = alphabet.indexOf(sig[42]!);
    // 43 characters carry 258 bits for 256: the next character in the alphabet decodes to the very same bytes.
    const alias = `${sig.slice(0, 42)}${alphabet[last + 1]}`;

    expect(last % 4).toBe(0);
    expect(Buffer.from(alias, 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
    expect(isCanonicalSignature(sig)).toBe(true);
    expect(isCanonicalSignature(alias)).toBe(false);
    expect(isCanonicalSignature(`${sig.slice(0, 42)}+`)).toBe(false);
    await expect(localHmacSigner(TEST_SIGNING_KEY).verify(MESSAGE, alias)).resolves.toBe(false);
  });
});

describe('kmsHmacSigner', () => {
  const kms = mockClient(KMSClient);
  const signer = kmsHmacSigner(new KMSClient({ region: 'eu-west-1' }), KEY_ID);

  beforeEach(() => {
    kms.reset();
  });

  it('asks KMS GenerateMac for an HMAC_SHA_256 of the message and returns it as base64url', async () => {
    kms.on(GenerateMacCommand).resolves({ Mac: expectedMac(MESSAGE), KeyId: KEY_ID, MacAlgorithm: 'HMAC_SHA_256' });

    const sig = await signer.sign(MESSAGE);

    expect(sig).toBe(expectedMac(MESSAGE).toString('base64url'));
    expect(kms.commandCalls(GenerateMacCommand).map((call) => call.args[0].input)).toEqual([
      { KeyId: KEY_ID, Message: Buffer.from(MESSAGE, 'utf8'), MacAlgorithm: 'HMAC_SHA_256' },
    ]);
  });

  it('asks KMS VerifyMac with the decoded MAC and trusts only MacValid: true', async () => {
    kms.on(VerifyMacCommand).resolves({ MacValid: true, KeyId: KEY_ID, MacAlgorithm: 'HMAC_SHA_256' });
    const sig = expectedMac(MESSAGE).toString('base64url');

    await expect(signer.verify(MESSAGE, sig)).resolves.toBe(true);

    expect(kms.commandCalls(VerifyMacCommand).map((call) => call.args[0].input)).toEqual([
      { KeyId: KEY_ID, Message: Buffer.from(MESSAGE, 'utf8'), MacAlgorithm: 'HMAC_SHA_256', Mac: expectedMac(MESSAGE) },
    ]);
  });

  it("answers false for KMS's KMSInvalidMacException and for a response without MacValid", async () => {
    const sig = expectedMac(MESSAGE).toString('base64url');
    kms.on(VerifyMacCommand).rejectsOnce(new KMSInvalidMacException({ message: 'invalid MAC', $metadata: {} })).resolvesOnce({});

    await expect(signer.verify(MESSAGE, flip(sig, 5))).resolves.toBe(false);
    await expect(signer.verify(MESSAGE, sig)).resolves.toBe(false);
  });

  it('never asks KMS about a signature that is not 43 canonical base64url characters', async () => {
    await expect(signer.verify(MESSAGE, 'not a signature')).resolves.toBe(false);
    await expect(signer.verify(MESSAGE, '')).resolves.toBe(false);

    expect(kms).not.toHaveReceivedCommand(VerifyMacCommand);
  });

  it('lets any other KMS failure out: a page must not call a link forged because KMS was down', async () => {
    kms.on(VerifyMacCommand).rejects(new NotFoundException({ message: 'key not found', $metadata: {} }));

    await expect(signer.verify(MESSAGE, expectedMac(MESSAGE).toString('base64url'))).rejects.toMatchObject({ name: 'NotFoundException' });
  });

  it('gives the same signatures as the local signer over the same key bytes', async () => {
    kms.on(GenerateMacCommand).callsFake((input: { Message: Uint8Array }) => ({ Mac: createHmac('sha256', TEST_SIGNING_KEY).update(input.Message).digest() }));

    const sig = await signer.sign(MESSAGE);

    await expect(localHmacSigner(TEST_SIGNING_KEY).verify(MESSAGE, sig)).resolves.toBe(true);
  });
});
