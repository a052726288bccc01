/**
 * Local key files: the raw AES-256 wrapping key used off AWS (CLI, tests). The file holds the key
 * itself, so it is created 0600 and refused when anyone but its owner can read it.
 *
 * ```json
 * { "format": "lifeboat-key", "version": 1, "keyNamespace": "lifeboat", "keyName": "k-3f9a…",
 *   "key": "<base64 of 32 bytes>", "createdAt": "2026-11-22T05:33:27.120Z" }
 * ```
 */
import { randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { z } from 'zod';
import { KeyFileError, KeyFileTooLargeError } from '../errors.ts';

export const KEY_FILE_FORMAT = 'lifeboat-key';
export const KEY_FILE_VERSION = 1;
export const DEFAULT_KEY_NAMESPACE = 'lifeboat';
const KEY_BYTES = 32;

/** A loaded key. `keyNamespace` and `keyName` are recorded in manifests; `key` never is. */
export interface LocalKey {
  readonly keyNamespace: string;
  readonly keyName: string;
  readonly key: Buffer;
  readonly createdAt: string;
}

const keyFileSchema = z.object({
  format: z.literal(KEY_FILE_FORMAT),
  version: z.literal(KEY_FILE_VERSION),
  keyNamespace: z.string().min(1),
  keyName: z.string().min(1),
  key: z.base64(),
  createdAt: z.iso.datetime(),
});

/**
 * Creates a new key file at `path` with mode 0600. Refuses to overwrite an existing file: replacing a
 * key would make every backup encrypted under it unrecoverable.
 */
export async function generateKeyFile(path: string, options: { now?: Date } = {}): Promise<LocalKey> {
  const key: LocalKey = {
    keyNamespace: DEFAULT_KEY_NAMESPACE,
    keyName: `k-${randomBytes(8).toString('hex')}`,
    key: randomBytes(KEY_BYTES),
    createdAt: (options.now ?? new Date()).toISOString(),
  };
  const document = {
    format: KEY_FILE_FORMAT,
    version: KEY_FILE_VERSION,
    keyNamespace: key.keyNamespace,
    keyName: key.keyName,
    key: key.key.toString('base64'),
    createdAt: key.createdAt,
  };
  let handle;
  try {
    // 'wx' fails if the file exists; the mode applies at creation, so the key is never world-readable.
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new KeyFileError(`Key file ${path} already exists; refusing to overwrite a key that backups may depend on`, {
        cause: error,
      });
    }
    throw new KeyFileError(`Cannot create key file ${path}: ${code ?? (error as Error).message}`, { cause: error });
  }
  try {
    await handle.chmod(0o600); // a umask cannot widen it, but an inherited ACL-ish default might
    await handle.writeFile(`${JSON.stringify(document, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return key;
}

/** A key file is a few hundred bytes of JSON: anything over this is refused before it is read. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** The file's text, reading at most `limit` bytes; `undefined` if it holds more (it grew after `stat`). */
async function readAtMost(path: string, limit: number): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return length > limit ? undefined : buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Reads and validates a key file. Errors (all `KeyFileError`) name the path and the problem, never the
 * key: missing, not a regular file, readable or writable by group/others (like ssh with private keys:
 * a key others can read protects nothing, so this is an error, not a warning), malformed, wrong size.
 */
export async function loadKeyFile(path: string): Promise<LocalKey> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist (create one with `lifeboat keygen --key-file`)' : `cannot be read (${code})`;
    throw new KeyFileError(`Key file ${path} ${reason}`, { cause: error });
  }
  if (!info.isFile()) throw new KeyFileError(`Key file ${path} is not a regular file`);
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new KeyFileError(
      `Key file ${path} has permissions ${mode}; it must be readable by its owner only (chmod 600 ${path})`,
    );
  }

  if (info.size > MAX_KEY_FILE_BYTES) {
    throw new KeyFileTooLargeError(`Key file ${path} is ${info.size} bytes; a key file is at most ${MAX_KEY_FILE_BYTES} bytes, so this is not one (nothing was read)`);
  }

  let document: unknown;
  const text = await readAtMost(path, MAX_KEY_FILE_BYTES);
  if (text === undefined) throw new KeyFileTooLargeError(`Key file ${path} grew past ${MAX_KEY_FILE_BYTES} bytes while being read; a key file is never that large`);
  try {
    document = JSON.parse(text);
  } catch {
    // The parser's message (and so any cause) may quote file content, i.e. the key: keep both out.
    throw new KeyFileError(`Key file ${path} is not valid JSON`);
  }
  const parsed = keyFileSchema.safeParse(document);
  if (!parsed.success) {
    // Paths and messages only; zod issues can carry the received value, which may be the key.
    const fields = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new KeyFileError(`Key file ${path} is malformed: ${fields.join('; ')}`);
  }
  const key = Buffer.from(parsed.data.key, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new KeyFileError(`Key file ${path} is malformed: key: must be ${KEY_BYTES} bytes (AES-256), got ${key.length}`);
  }
  return {
    keyNamespace: parsed.data.keyNamespace,
    keyName: parsed.data.keyName,
    key,
    createdAt: parsed.data.createdAt,
  };
}
