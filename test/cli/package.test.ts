/**
 * The package as `npm install -g` lays it out: `npm pack` (whose prepack builds dist/cli.mjs), the tarball
 * unpacked into <prefix>/lib/node_modules/lifeboat with only the production dependencies beside it (no tsx,
 * no TypeScript), and <prefix>/bin/lifeboat linked to cli/bin.js, run from outside the repository.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function exec(file: string, args: readonly string[], options: { cwd: string; env?: Record<string, string> }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(file, [...args], { cwd: options.cwd, env: { PATH: process.env['PATH'] ?? '', HOME: options.cwd, ...options.env }, timeout: 240_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let prefix: string;
beforeAll(async () => {
  dir = await tempDir('package');
  const packed = await exec('npm', ['pack', '--json', '--pack-destination', dir.path], { cwd: repoRoot, env: { npm_config_cache: join(dir.path, 'npm-cache') } });
  expect(packed.code, packed.stderr).toBe(0);
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  prefix = join(dir.path, 'prefix');
  const installed = join(prefix, 'lib', 'node_modules', 'lifeboat');
  await mkdir(installed, { recursive: true });
  expect((await exec('tar', ['-xzf', join(dir.path, filename), '-C', installed, '--strip-components=1'], { cwd: dir.path })).code).toBe(0);
  // Only what `dependencies` names, as npm would install it (the packages' own dependencies resolve from their real paths).
  const manifest = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; optionalDependencies: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies), ...Object.keys(manifest.optionalDependencies)]) {
    const link = join(installed, 'node_modules', name);
    await mkdir(join(link, '..'), { recursive: true });
    await symlink(join(repoRoot, 'node_modules', name), link);
  }
  await mkdir(join(prefix, 'bin'));
  await symlink(join(installed, 'cli', 'bin.js'), join(prefix, 'bin', 'lifeboat'));
}, 300_000);
afterAll(() => dir?.remove());

describe('the installed package', () => {
  it('ships the bundle and bin, not the sources, and leaves no dist/ in the repository', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'lifeboat');
    expect(existsSync(join(installed, 'dist', 'cli.mjs'))).toBe(true);
    expect(existsSync(join(installed, 'cli', 'main.ts'))).toBe(false);
    expect(existsSync(join(installed, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(repoRoot, 'dist'))).toBe(false);
  });

  it('runs as `lifeboat` from outside the repository, without tsx: version, help, keygen, list', async () => {
    const work = join(dir.path, 'elsewhere');
    await mkdir(work);
    const env = { PATH: `${join(prefix, 'bin')}:${process.env['PATH']}` };
    const version = await exec('lifeboat', ['--version'], { cwd: work, env });
    const { version: expected } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(version).toEqual({ code: 0, stdout: `${expected}\n`, stderr: '' });
    expect((await exec('lifeboat', ['--help'], { cwd: work, env })).stdout).toContain('Usage: lifeboat <command> [flags]');
    const keygen = await exec('lifeboat', ['keygen', '--key-file', 'key.json', '--json'], { cwd: work, env });
    expect(keygen.code, keygen.stderr).toBe(0);
    expect(JSON.parse(keygen.stdout)).toMatchObject({ keyFile: 'key.json', keyNamespace: 'lifeboat' });
    await mkdir(join(work, 'vault'));
    const listed = await exec('lifeboat', ['list', '--json'], { cwd: work, env: { ...env, LIFEBOAT_VAULT: 'vault' } });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ vault: join(work, 'vault'), backups: [], unreadable: [] });
  }, 240_000);

  it('shows the config\'s DR plans from the bundle: plan list, plan show --asl (asl-validator is a runtime dependency)', async () => {
    const work = join(dir.path, 'plans');
    await mkdir(work);
    const env = { PATH: `${join(prefix, 'bin')}:${process.env['PATH']}`, LIFEBOAT_CONFIG: join(repoRoot, 'config', 'example.lifeboat.json') };
    const listed = await exec('lifeboat', ['plan', 'list', '--json'], { cwd: work, env });
    expect(listed.code, listed.stderr).toBe(0);
    const plans = JSON.parse(listed.stdout) as { name: string }[] | { plans: { name: string }[] };
    const names = (Array.isArray(plans) ? plans : plans.plans).map((plan) => plan.name);
    expect(names.length).toBeGreaterThan(0);
    const shown = await exec('lifeboat', ['plan', 'show', names[0]!, '--asl'], { cwd: work, env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toHaveProperty('States');
  }, 240_000);
});
