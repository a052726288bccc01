import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyFile, loadKeyFile, MAX_KEY_FILE_BYTES } from '../../../functions/lib/crypto/keyFile.ts';
import { KeyFileError } from '../../../functions/lib/errors.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('expected a KeyFileError'),
    (e: unknown) => e as Error,
  );
}

describe('local key files', () => {
  it('generates a 0600 file in the documented format and loads it back', async () => {
    const file = path.join(dir, 'a.key');
    const now = new Date('2026-11-22T05:33:27.120Z');
    const generated = await generateKeyFile(file, { now });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const document = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(document).toEqual({
      format: 'lifeboat-key',
      version: 1,
      keyNamespace: 'lifeboat',
      keyName: generated.keyName,
      key: generated.key.toString('base64'),
      createdAt: '2026-11-22T05:33:27.120Z',
    });
    expect(generated.key).toHaveLength(32);
    expect(generated.keyName).toMatch(/^k-[0-9a-f]{16}$/);
    expect(await loadKeyFile(file)).toEqual(generated);

    const other = await generateKeyFile(path.join(dir, 'b.key'));
    expect(other.keyName).not.toBe(generated.keyName);
    expect(other.key.equals(generated.key)).toBe(false);
  });

  it('refuses to overwrite an existing file', async () => {
    const file = path.join(dir, 'keep.key');
    const first = await generateKeyFile(file);
    const error = await failure(generateKeyFile(file));
    expect(error).toBeInstanceOf(KeyFileError);
    expect(error.message).toMatch(/already exists/);
    expect(await loadKeyFile(file)).toEqual(first);
  });

  it('names a missing file', async () => {
    const error = await failure(loadKeyFile(path.join(dir, 'missing.key')));
    expect(error).toBeInstanceOf(KeyFileError);
    expect(error.message).toMatch(/missing\.key does not exist/);
  });

  it('refuses a key that group or others can read or write', async () => {
    const file = path.join(dir, 'open.key');
    await generateKeyFile(file);
    for (const mode of [0o644, 0o640, 0o602]) {
      await chmod(file, mode);
      const error = await failure(loadKeyFile(file));
      expect(error).toBeInstanceOf(KeyFileError);
      expect(error.message).toContain(`permissions 0${mode.toString(8)}`);
      expect(error.message).toContain('chmod 600');
    }
    await chmod(file, 0o400);
    await expect(loadKeyFile(file)).resolves.toMatchObject({ keyNamespace: 'lifeboat' });
  });

  it('explains malformed files without ever quoting the key', async () => {
    const secret = Buffer.alloc(32, 7).toString('base64');
    const cases: [string, RegExp][] = [
      [`{"format":"lifeboat-key","version":1,"key":"${secret}"`, /is not valid JSON/],
      [JSON.stringify({ format: 'other', version: 1, keyNamespace: 'n', keyName: 'k', key: secret, createdAt: '2026-11-22T05:33:27Z' }), /format/],
      [JSON.stringify({ format: 'lifeboat-key', version: 2, keyNamespace: 'n', keyName: 'k', key: secret, createdAt: '2026-11-22T05:33:27Z' }), /version/],
      [JSON.stringify({ format: 'lifeboat-key', version: 1, keyNamespace: 'n', key: secret, createdAt: '2026-11-22T05:33:27Z' }), /keyName/],
      [JSON.stringify({ format: 'lifeboat-key', version: 1, keyNamespace: 'n', keyName: 'k', key: 'not base64!', createdAt: '2026-11-22T05:33:27Z' }), /key/],
      [JSON.stringify({ format: 'lifeboat-key', version: 1, keyNamespace: 'n', keyName: 'k', key: Buffer.alloc(16, 7).toString('base64'), createdAt: '2026-11-22T05:33:27Z' }), /must be 32 bytes/],
    ];
    for (const [content, message] of cases) {
      const file = path.join(dir, 'bad.key');
      await writeFile(file, content, { mode: 0o600 });
      const error = await failure(loadKeyFile(file));
      expect(error).toBeInstanceOf(KeyFileError);
      expect(error.message).toMatch(message);
      expect(`${error.message} ${String(error.cause)}`).not.toContain(secret);
      await rm(file);
    }
  });
});

describe('key file size cap', () => {
  it('refuses a key file over MAX_KEY_FILE_BYTES with KeyFileTooLargeError, before reading it', async () => {
    const file = path.join(dir, 'huge.key');
    // Valid JSON around a 200 MB-like padding would be parsed whole without a cap; 1 MiB is enough to cross it.
    await writeFile(file, `{"pad":"${'x'.repeat(1024 * 1024)}"}`, { mode: 0o600 });

    const error = await failure(loadKeyFile(file));

    expect(error).toBeInstanceOf(KeyFileError);
    expect(error.name).toBe('KeyFileTooLargeError');
    expect(error.message).toBe(`Key file ${file} is ${1024 * 1024 + 10} bytes; a key file is at most ${MAX_KEY_FILE_BYTES} bytes, so this is not one (nothing was read)`);
  });

  it('still loads a key file padded up to the cap', async () => {
    const file = path.join(dir, 'padded.key');
    await generateKeyFile(file);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.trimEnd() + ' '.repeat(MAX_KEY_FILE_BYTES - Buffer.byteLength(text.trimEnd())), { mode: 0o600 });
    expect((await stat(file)).size).toBe(MAX_KEY_FILE_BYTES);

    await expect(loadKeyFile(file)).resolves.toMatchObject({ keyNamespace: 'lifeboat' });
  });
});
