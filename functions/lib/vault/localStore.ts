import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidStoreKeyError, LifeboatError, ObjectNotFoundError, StoreWriteFailedError } from '../errors.ts';
import { assertStoreKey, assertStorePrefix } from './layout.ts';
import type { VaultStore } from './store.ts';

/** `<final>.tmp-<16 hex>`: written, fsynced, then renamed over `<final>`. Never listed. */
const TEMP_SUFFIX = /\.tmp-[0-9a-f]{16}$/;

/** A vault in a local directory. Writes are atomic (temp file in the same directory, fsync, rename). */
export class LocalStore implements VaultStore {
  readonly location: string;
  readonly #root: string;

  constructor(rootDir: string) {
    this.#root = path.resolve(rootDir);
    this.location = this.#root;
  }

  async putStream(key: string, body: Readable): Promise<{ bytes: number }> {
    return this.#writeAtomically(key, body, async (file) => {
      // One chunk at a time: memory stays at one chunk however large the payload.
      for await (const chunk of body) {
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        for (let offset = 0; offset < buffer.byteLength; ) {
          offset += (await file.write(buffer, offset, buffer.byteLength - offset)).bytesWritten;
        }
      }
    });
  }

  async putObject(key: string, data: Uint8Array | string): Promise<void> {
    await this.#writeAtomically(key, undefined, (file) => file.writeFile(data));
  }

  async getStream(key: string): Promise<Readable> {
    const file = this.#pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      throw this.#notFoundOr(error, key);
    }
    try {
      // open() succeeds on a directory; in a vault a directory is not an object.
      if (!(await handle.stat()).isFile()) throw this.#notFound(key);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle.createReadStream();
  }

  async getObject(key: string): Promise<Buffer> {
    try {
      return await readFile(this.#pathOf(key));
    } catch (error) {
      throw this.#notFoundOr(error, key);
    }
  }

  async head(key: string): Promise<{ bytes: number } | undefined> {
    try {
      const info = await stat(this.#pathOf(key));
      return info.isFile() ? { bytes: info.size } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    assertStorePrefix(prefix);
    // Start at the deepest directory the prefix names in full; everything else cannot match.
    const dir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    yield* this.#walk(dir, prefix);
  }

  async delete(key: string): Promise<void> {
    const file = this.#pathOf(key);
    try {
      if ((await stat(file)).isFile()) await rm(file);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** Keys in lexicographic order: a directory `d` sorts as `d/`, which is where its keys fall among its siblings. */
  async *#walk(relativeDir: string, prefix: string): AsyncGenerator<string> {
    let entries: Dirent[];
    try {
      entries = await readdir(relativeDir === '' ? this.#root : path.join(this.#root, relativeDir), {
        withFileTypes: true,
      });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const named = entries
      .filter((entry) => entry.isDirectory() || (entry.isFile() && !TEMP_SUFFIX.test(entry.name)))
      .map((entry) => {
        const key = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
        return { key, sortKey: entry.isDirectory() ? `${key}/` : key, isDirectory: entry.isDirectory() };
      })
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const entry of named) {
      if (entry.isDirectory) {
        if (entry.sortKey.startsWith(prefix) || prefix.startsWith(entry.sortKey)) yield* this.#walk(entry.key, prefix);
      } else if (entry.key.startsWith(prefix)) {
        yield entry.key;
      }
    }
  }

  async #writeAtomically(
    key: string,
    body: Readable | undefined,
    write: (file: FileHandle) => Promise<void>,
  ): Promise<{ bytes: number }> {
    let final: string;
    try {
      final = this.#pathOf(key);
      if (TEMP_SUFFIX.test(key)) throw new InvalidStoreKeyError(`Invalid store key "${key}": it looks like a temporary file`);
    } catch (error) {
      body?.destroy();
      throw error;
    }
    const temp = `${final}.tmp-${randomBytes(8).toString('hex')}`;
    let file: FileHandle | undefined;
    try {
      await mkdir(path.dirname(final), { recursive: true });
      file = await open(temp, 'wx');
      await write(file);
      await file.sync();
      const { size } = await file.stat();
      await file.close();
      file = undefined;
      await rename(temp, final);
      await syncDirectory(path.dirname(final));
      return { bytes: size };
    } catch (error) {
      body?.destroy();
      await file?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      if (error instanceof LifeboatError) throw error;
      throw new StoreWriteFailedError(`Writing ${key} to ${this.location} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** The file for `key`; validated so no key can name anything outside the root. */
  #pathOf(key: string): string {
    assertStoreKey(key);
    const file = path.resolve(this.#root, ...key.split('/'));
    const inside = path.relative(this.#root, file);
    if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) {
      throw new InvalidStoreKeyError(`Invalid store key "${key}": it resolves outside ${this.#root}`);
    }
    return file;
  }

  #notFound(key: string): ObjectNotFoundError {
    return new ObjectNotFoundError(`No object ${key} in ${this.location}`);
  }

  #notFoundOr(error: unknown, key: string): unknown {
    if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') {
      return new ObjectNotFoundError(`No object ${key} in ${this.location}`, { cause: error });
    }
    return error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Makes the rename itself durable: without it a crash can lose the directory entry. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
