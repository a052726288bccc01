/** The real executable: `cli/bin.js` in a child process, as `npx lifeboat` runs it. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { createPostgresDatabase, type PostgresDatabase } from '../harness/databases.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'cli', 'bin.js');

function spawnLifeboat(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      // Not the test worker's environment: no NODE_OPTIONS or vitest variables leak into the child.
      { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir('bin');
});
afterAll(() => dir?.remove());

describe('cli/bin.js', () => {
  it('is an executable node script', async () => {
    expect((await readFile(bin, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(await spawnLifeboat(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('lists an empty vault, as text and JSON', async () => {
    const vault = join(dir.path, 'empty-vault');
    await mkdir(vault);
    expect(await spawnLifeboat(['list', '--vault', vault])).toEqual({ code: 0, stdout: `No backups in ${vault}\n`, stderr: '' });
    const json = await spawnLifeboat(['list', '--vault', vault, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ vault, backups: [], unreadable: [] });
  });

  it('exits 2 with one line on a usage error, and 3 for a missing vault', async () => {
    const usage = await spawnLifeboat(['list']);
    expect(usage.code).toBe(ExitCode.usage);
    expect(errorLine(usage.stderr)?.message).toMatch(/^--vault is required/);
    const missing = await spawnLifeboat(['list', '--vault', join(dir.path, 'nowhere')]);
    expect(missing.code).toBe(ExitCode.notFound);
    expect(errorLine(missing.stderr)?.name).toBe('VaultNotFoundError');
  });

  describe('with a backup', () => {
    let source: PostgresDatabase;
    let target: PostgresDatabase;
    beforeAll(async () => {
      source = await createPostgresDatabase('cli_bin_source');
      target = await createPostgresDatabase('cli_bin_target');
      await source.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
      await source.query("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) AS i");
    });
    afterAll(() => Promise.all([source?.drop(), target?.drop()]));

    it('a key file with the right name but other key material is an integrity failure, in one line', async () => {
      const vault = join(dir.path, 'vault');
      const keyFile = join(dir.path, 'key.json');
      await lifeboat(['keygen', '--key-file', keyFile, '-q']);
      const backup = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile]);
      expect(backup.code, backup.stderr).toBe(ExitCode.ok);

      // Same namespace and name, so only the Encryption SDK can tell: its data key does not unwrap.
      const impostor = join(dir.path, 'impostor.json');
      const document = JSON.parse(await readFile(keyFile, 'utf8')) as Record<string, string>;
      await writeFile(impostor, JSON.stringify({ ...document, key: randomBytes(32).toString('base64') }), { mode: 0o600 });

      const result = await spawnLifeboat(['restore', backup.stdout.trim(), '--vault', vault, '--key-file', impostor, '--target', target.url]);
      expect(result.code).toBe(ExitCode.usage);
      expect(result.stdout).toBe('');
      expect(errorLine(result.stderr)?.name, result.stderr).toBe('WrongKeyError');
    });
  });
});
