/** `lifeboat backup file:///…`, list, restore and verify of file sets, in-process over a local vault. */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
let tree: string;
let vault: string;
let keyFile: string;
const key = () => ['--vault', vault, '--key-file', keyFile];

describe('lifeboat with file sets', { timeout: 240_000 }, () => {
  beforeAll(async () => {
    dir = await tempDir('fileset');
    tree = join(dir.path, 'uploads');
    vault = join(dir.path, 'vault');
    keyFile = join(dir.path, 'key.json');
    await mkdir(join(tree, 'a'), { recursive: true });
    await writeFile(join(tree, 'a/one.txt'), 'first version\n');
    // Below the smallest chunk (256 KiB): one chunk whatever the vault's random chunking key makes of its bytes (above
    // it, a cut may or may not fall before the end, so the count of chunks would change from vault to vault).
    await writeFile(join(tree, 'two.bin'), fixedBytes(200_000));
    expect((await lifeboat(['keygen', '--key-file', keyFile])).code).toBe(ExitCode.ok);
  });
  afterAll(() => dir?.remove());

  it('backs up a directory, reruns incrementally, lists, restores one file at an older snapshot, and verifies', async () => {
    const first = await lifeboat(['backup', pathToFileURL(tree).href, ...key()]);
    expect(first.code, first.stderr).toBe(ExitCode.ok);
    const firstId = first.stdout.trim();
    expect(firstId).toMatch(/^\d{8}T\d{6}Z-[a-z2-7]{8}$/);
    expect(first.stderr).toMatch(/^Backed up uploads\/\S+: 2 files, .* \(2 read, 0 unchanged\)/m);

    await writeFile(join(tree, 'a/one.txt'), 'second version\n');
    // Backup ids are named to the second: the second snapshot must be newer by its id too.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
    const second = await lifeboat(['backup', '--source', pathToFileURL(tree).href, '--source-id', 'uploads', ...key(), '--json']);
    expect(second.code, second.stderr).toBe(ExitCode.ok);
    const manifest = (JSON.parse(second.stdout) as { manifest: { totals: { filesRead: number; filesReused: number }; backupId: string } }).manifest;
    expect(manifest.totals).toMatchObject({ filesRead: 1, filesReused: 1 });

    const listed = await lifeboat(['list', '--vault', vault, '--json']);
    const rows = (JSON.parse(listed.stdout) as { fileSets: { backupId: string; files: number }[] }).fileSets;
    expect(rows.map((r) => [r.backupId, r.files])).toEqual([[manifest.backupId, 2], [firstId, 2]]);
    expect((await lifeboat(['list', '--vault', vault])).stdout).toMatch(/^FILE SET +SOURCE/m);

    const out = join(dir.path, 'restored');
    const restored = await lifeboat(['restore', firstId, ...key(), '--target', pathToFileURL(out).href, '--path', 'a/one.txt']);
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    expect(await readFile(join(out, 'a/one.txt'), 'utf8')).toBe('first version\n');
    const refused = await lifeboat(['restore', 'latest', '--source', 'uploads', ...key(), '--target', pathToFileURL(out).href]);
    expect(refused.code).toBe(ExitCode.failed);
    expect(errorLine(refused.stderr)).toMatchObject({ name: 'TargetNotEmptyError' });
    expect(await readFile(join(out, 'a/one.txt'), 'utf8')).toBe('first version\n');
    const replaced = await lifeboat(['restore', 'latest', '--source', 'uploads', ...key(), '--target', pathToFileURL(out).href, '--overwrite']);
    expect(replaced.code, replaced.stderr).toBe(ExitCode.ok);
    expect(await readFile(join(out, 'a/one.txt'), 'utf8')).toBe('second version\n');
    expect(await readFile(join(out, 'two.bin'))).toHaveLength(200_000);

    const verified = await lifeboat(['verify', firstId, ...key(), '--read-data-subset', '100%']);
    expect(verified.code, verified.stderr).toBe(ExitCode.ok);
    expect(verified.stdout).toMatch(/^File set uploads\/\S+: verified \(1 of 1 pack read, 2 chunks checked\)$/m);
  });

  it('with an evidence key, a file-set backup records its event in the audit trail', async () => {
    const evidenceKey = join(dir.path, 'evidence.key');
    expect((await lifeboat(['keygen', '--key-file', evidenceKey])).code).toBe(ExitCode.ok);
    const auditedVault = join(dir.path, 'audited-vault');
    const result = await lifeboat(['backup', pathToFileURL(tree).href, '--source-id', 'uploads', '--vault', auditedVault, '--key-file', keyFile, '--evidence-key-file', evidenceKey]);
    expect(result.code, result.stderr).toBe(ExitCode.ok);
    const listed = JSON.parse((await lifeboat(['audit', '--vault', auditedVault, '--evidence-key-file', evidenceKey, '--json'])).stdout) as { authentic: boolean; event: { type: string; backupId: string; details: Record<string, unknown> } }[];
    expect(listed.map((e) => [e.authentic, e.event.type, e.event.backupId, e.event.details['kind']])).toEqual([[true, 'backup', result.stdout.trim(), 'file-set']]);
  });

  it('prune keeps the newest snapshot and every pack it refers to, and needs the key', async () => {
    const noKey = await lifeboat(['prune', '--vault', vault, '--source', 'uploads', '--keep-last', '1']);
    expect(noKey.code).toBe(ExitCode.usage);
    expect(errorLine(noKey.stderr)?.message).toMatch(/uploads is a file set: .*--key-file/);

    const dry = await lifeboat(['prune', ...key(), '--source', 'uploads', '--keep-last', '1', '--days', '0', '--daily', '0', '--weekly', '0', '--monthly', '0', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(ExitCode.ok);
    const report = JSON.parse(dry.stdout) as { deletedSnapshots: string[]; keptSnapshots: { backupId: string }[]; deletedPacks: string[]; dryRun: boolean };
    expect(report.dryRun).toBe(true);
    expect(report.deletedSnapshots).toHaveLength(1);
    expect(report.keptSnapshots).toHaveLength(1);
    // The old a/one.txt shared its pack with two.bin, which the kept snapshot still needs.
    expect(report.deletedPacks).toEqual([]);
    const listed = JSON.parse((await lifeboat(['list', '--vault', vault, '--json'])).stdout) as { fileSets: unknown[] };
    expect(listed.fileSets).toHaveLength(2);
  });

  it('verify names a corrupted pack and exits with the integrity code; a bad percentage is a usage error', async () => {
    const store = new LocalStore(vault);
    let pack = '';
    for await (const k of store.list('filesets/uploads/packs/')) pack ||= k;
    const handle = await open(join(vault, pack), 'r+');
    await handle.write(Buffer.from('garbage!'), 0, 8, 200);
    await handle.close();
    const name = pack.slice('filesets/uploads/packs/'.length);
    const backupId = name.split('/')[0]!;

    const result = await lifeboat(['verify', backupId, ...key()]);
    expect(result.code).toBe(ExitCode.integrity);
    expect(result.stdout).toContain(name);
    expect(errorLine(result.stderr)).toEqual({ name: 'VerificationFailedError', message: `1 damaged object: ${name}` });

    const bad = await lifeboat(['verify', backupId, ...key(), '--read-data-subset', '150%']);
    expect(bad.code).toBe(ExitCode.usage);
    expect(errorLine(bad.stderr)?.message).toMatch(/^--read-data-subset: expected a percentage/);
  });
});

/** `length` bytes that look random but are the same on every run (SHA-256 in counter mode). */
function fixedBytes(length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) blocks.push(createHash('sha256').update(`lifeboat-fileset-${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}
