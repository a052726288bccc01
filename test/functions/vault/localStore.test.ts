import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { InvalidStoreKeyError, ObjectNotFoundError, StoreWriteFailedError } from '../../../functions/lib/errors.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { collect, describeStoreContract } from './storeContract.ts';

const roots: string[] = [];
async function freshRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'lifeboat-vault-'));
  roots.push(root);
  return root;
}
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

/** Every file under `dir` whose name marks it as a temporary write. */
async function tempFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile() && entry.name.includes('.tmp-')).map((entry) => entry.name);
}

describeStoreContract('LocalStore', async () => {
  const root = await freshRoot();
  return {
    store: new LocalStore(root),
    // Temp files live beside the final file; any left in that directory is a leak.
    pendingWrites: (key) => tempFilesUnder(path.dirname(path.join(root, key))),
  };
});

describe('LocalStore', () => {
  let root: string;
  let store: LocalStore;
  beforeEach(async () => {
    root = await freshRoot();
    store = new LocalStore(root);
  });

  it('reports its resolved root as its location', () => {
    expect(new LocalStore('relative/vault').location).toBe(path.resolve('relative/vault'));
  });

  it('does not list temporary files of writes in progress, and refuses keys that look like one', async () => {
    await store.putObject('backups/a/kept', 'x');
    await writeFile(path.join(root, 'backups/a/payload.tmp-0123456789abcdef'), 'partial');

    expect(await collect(store.list(''))).toEqual(['backups/a/kept']);
    await expect(store.putObject('backups/a/x.tmp-0123456789abcdef', 'x')).rejects.toBeInstanceOf(InvalidStoreKeyError);
  });

  it('treats a directory as no object', async () => {
    await mkdir(path.join(root, 'backups/dir'), { recursive: true });

    expect(await store.head('backups/dir')).toBeUndefined();
    await expect(store.getObject('backups/dir')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getStream('backups/dir')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await collect(store.list('backups/'))).toEqual([]);
  });

  it('writes only inside its root', async () => {
    const outside = path.join(path.dirname(root), `${path.basename(root)}-sibling`);

    await expect(store.putObject(`../${path.basename(outside)}/x`, 'x')).rejects.toBeInstanceOf(InvalidStoreKeyError);

    await expect(readdir(outside)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('LocalStore write errors name the real cause, and the body sees it', () => {
  it('a file where the vault directory should be: ENOTDIR/EEXIST naming that file, never "Premature close"', async () => {
    const root = await freshRoot();
    const blocker = path.join(root, 'vault');
    await writeFile(blocker, 'not a directory');
    const store = new LocalStore(blocker);
    const body = new PassThrough();
    const seenByProducer = new Promise<Error>((resolve) => body.once('error', resolve));
    body.write('payload bytes');

    const failure = store.putStream('backups/src/20261122T010000Z-aaaaaaaa/payload', body).then(() => expect.fail('the write should fail'), (e: unknown) => e as Error);

    const error = await failure;
    expect(error).toBeInstanceOf(StoreWriteFailedError);
    expect(error.message).toMatch(new RegExp(`^Writing backups/src/20261122T010000Z-aaaaaaaa/payload to ${blocker} failed: ${blocker} is a file, not a directory \\((ENOTDIR|EEXIST)\\): the vault must be a directory$`));
    expect(await seenByProducer).toBe(error);
  });

  it('a file inside the vault where a backup folder should be: names that path', async () => {
    const root = await freshRoot();
    await mkdir(path.join(root, 'backups'), { recursive: true });
    await writeFile(path.join(root, 'backups', 'src'), 'in the way');
    const error = await new LocalStore(root).putObject('backups/src/20261122T010000Z-aaaaaaaa/manifest.json', '{}').then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(new RegExp(`: ${path.join(root, 'backups', 'src')} is a file, not a directory \\((ENOTDIR|EEXIST)\\): the vault path must be a directory$`));
  });

  it('finds temporary files a killed write left, and removes only those', async () => {
    const root = await freshRoot();
    const store = new LocalStore(root);
    await store.putObject('backups/src/20261122T010000Z-aaaaaaaa/payload', 'whole');
    const leftover = path.join(root, 'backups', 'src', '20261122T010000Z-aaaaaaaa', 'payload.tmp-0123456789abcdef');
    await writeFile(leftover, 'partial');

    const found = [];
    for await (const file of store.temporaryFiles()) found.push(file);
    expect(found).toEqual([
      { file: leftover, relative: 'backups/src/20261122T010000Z-aaaaaaaa/payload.tmp-0123456789abcdef', bytes: 7, modifiedAt: expect.any(Date) as unknown },
    ]);
    await expect(store.removeTemporaryFile(path.join(root, 'backups', 'src', '20261122T010000Z-aaaaaaaa', 'payload'))).rejects.toThrow(InvalidStoreKeyError);
    await store.removeTemporaryFile(leftover);
    expect(await tempFilesUnder(root)).toEqual([]);
    expect(await collect(store.list('backups/'))).toEqual(['backups/src/20261122T010000Z-aaaaaaaa/payload']);
  });
});
