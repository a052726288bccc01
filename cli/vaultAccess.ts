/**
 * A local vault directory checked before any work starts, so the error names the real cause: no such
 * directory, a file where the directory should be, permission denied, or a file system that holds no
 * files (proc, sysfs). Directories are created one level at a time: Node's `mkdir({ recursive: true })`
 * loops forever on /proc (mkdir there fails with ENOENT although the parent exists, and libuv takes ENOENT
 * for "parent missing" and retries), which is how a vault under /proc hung at 80 % CPU.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { VaultAccessError, VaultNotFoundError } from './errors.ts';

/** File systems that only show the kernel's state: nothing can be stored there. */
const VIRTUAL_FILE_SYSTEMS: ReadonlySet<string> = new Set(['proc', 'sysfs', 'cgroup', 'cgroup2', 'debugfs', 'tracefs', 'securityfs', 'devpts', 'configfs', 'bpf', 'pstore', 'efivarfs']);

/** A local vault that must already exist and be a readable directory (list, show, restore, verify, prune). */
export async function assertLocalVaultReadable(root: string, origin = ''): Promise<void> {
  const info = await stat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new VaultNotFoundError(`No vault at ${root}${origin}: the directory does not exist`, { cause: error });
    if (error.code === 'ENOTDIR') throw new VaultAccessError(`No vault at ${root}${origin}: ${fileOnTheWay(root)} is a file, not a directory`, { cause: error });
    throw accessError(root, origin, 'read', error);
  });
  if (!info.isDirectory()) throw new VaultAccessError(`No vault at ${root}${origin}: it is a file, not a vault directory`);
  try {
    await readdir(root);
  } catch (error) {
    throw accessError(root, origin, 'read', error as NodeJS.ErrnoException);
  }
}

/**
 * A local vault a backup can write to: created if absent (one level at a time), then proven writable by
 * creating and removing an empty directory in it.
 */
export async function prepareLocalVaultForWriting(root: string, origin = ''): Promise<void> {
  const missing: string[] = [];
  let existing = root;
  for (;;) {
    const info = await stat(existing).catch((error: NodeJS.ErrnoException) => error);
    if (!(info instanceof Error)) {
      if (!info.isDirectory()) {
        throw new VaultAccessError(
          existing === root
            ? `Cannot use ${root}${origin} as a vault: it is a file, not a directory`
            : `Cannot create the vault directory ${root}${origin}: ${existing} is a file, not a directory`,
        );
      }
      break;
    }
    if (info.code === 'ENOTDIR') {
      throw new VaultAccessError(`Cannot create the vault directory ${root}${origin}: ${fileOnTheWay(root)} is a file, not a directory`, { cause: info });
    }
    if (info.code !== 'ENOENT') throw accessError(existing, origin, 'read', info);
    missing.unshift(existing);
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  refuseVirtualFileSystem(root, origin);
  for (const dir of missing) {
    try {
      await mkdir(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      throw accessError(dir, origin, 'create', error as NodeJS.ErrnoException);
    }
  }
  const probe = path.join(root, `.lifeboat-write-test-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(probe);
  } catch (error) {
    throw accessError(root, origin, 'write', error as NodeJS.ErrnoException);
  }
  await rmdir(probe).catch(() => undefined);
}

function accessError(dir: string, origin: string, action: 'read' | 'write' | 'create', error: NodeJS.ErrnoException): VaultAccessError {
  const verb = action === 'create' ? `Cannot create the vault directory ${dir}` : `Cannot ${action} the vault directory ${dir}`;
  const fileSystem = fileSystemAt(dir);
  const reason =
    error.code === 'EACCES' || error.code === 'EPERM'
      ? `permission denied${ownerNote(dir)}`
      : error.code === 'EROFS'
        ? 'the file system is read-only'
        : error.code === 'ENOSPC'
          ? 'no space left on the device'
          : error.code === 'ENOENT' && fileSystem !== undefined
            ? `the ${fileSystem} file system there does not hold files`
            : (error.code ?? error.message);
  return new VaultAccessError(`${verb}${origin}: ${reason}`, { cause: error });
}

function refuseVirtualFileSystem(root: string, origin: string): void {
  const fileSystem = fileSystemAt(root);
  if (fileSystem !== undefined && VIRTUAL_FILE_SYSTEMS.has(fileSystem)) {
    throw new VaultAccessError(`Cannot use ${root}${origin} as a vault: it is on the ${fileSystem} file system, which only shows the kernel's state and holds no files`);
  }
}

/** ` (owned by uid 0, mode 0700)` for the nearest existing directory, to say whose permission is missing. */
function ownerNote(dir: string): string {
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      // Synchronous on purpose: only on the error path, and one stat.
      const info = statSync(current);
      return ` (${current} is owned by uid ${info.uid}, mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}; this process runs as uid ${process.getuid?.() ?? '?'})`;
    } catch {
      if (path.dirname(current) === current) return '';
    }
  }
}

/** The first component of `file`'s path that exists and is not a directory. */
function fileOnTheWay(file: string): string {
  const parts = path.resolve(file).split(path.sep);
  for (let index = 2; index <= parts.length; index++) {
    const prefix = parts.slice(0, index).join(path.sep) || path.sep;
    try {
      if (!statSync(prefix).isDirectory()) return prefix;
    } catch {
      return file;
    }
  }
  return file;
}

/** The type of the file system `file` is on (`proc`, `ext4`, `tmpfs`), from /proc/self/mountinfo; `undefined` off Linux. */
export function fileSystemAt(file: string): string | undefined {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  const target = path.resolve(file);
  let best: { mountPoint: string; type: string } | undefined;
  for (const line of mounts.split('\n')) {
    // <id> <parent> <major:minor> <root> <mount point> <options> [optional...] - <type> <source> <super options>
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0 || fields.length < 5) continue;
    const mountPoint = unescapeMountPath(fields[4]!);
    const type = fields[separator + 1];
    if (type === undefined) continue;
    const inside = target === mountPoint || target.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, type };
  }
  return best?.type;
}

function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
