/**
 * SIGINT and SIGTERM sent to the real `cli/bin.js` at several points of backup, verify and restore: the
 * child tools stop, no temporary payload, scratch database or half-restored database remains, the vault's
 * listing is what it was, the message says what was cleaned, and the exit code is 130 / 143.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresDatabase, createPostgresDatabase, listPostgresDatabases, postgresSettings } from '../harness/databases.ts';
import { lifeboat, tempDir } from './support.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'cli', 'bin.js');
const SOURCE = 'sig-src';

interface Interrupted {
  readonly code: number | null;
  readonly stderr: string;
}

/** Starts the CLI, waits until `ready()` holds (polled), sends `signal`, and resolves once it exited. */
async function interrupt(args: readonly string[], ready: (pid: number) => Promise<boolean>, signal: 'SIGINT' | 'SIGTERM'): Promise<Interrupted> {
  const child: ChildProcess = spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  for (;;) {
    if (done) throw new Error(`the command finished before it could be interrupted: ${stderr}`);
    if (await ready(child.pid!)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill(signal);
  return { code: await exited, stderr };
}

/** Every file under `root`, relative, with its size: to see that an interrupted run left nothing. */
async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name))).sort();
}

async function tempPayloads(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of await files(root)) {
    if (/\.tmp-[0-9a-f]{16}$/.test(file) && ((await stat(join(root, file)).catch(() => undefined))?.size ?? 0) > 0) found.push(file);
  }
  return found;
}

/** Whether the CLI process `parent` has a child tool `command` running (other tests' tools do not count). */
function toolRunning(parent: number, command: string): Promise<boolean> {
  return new Promise((resolve) => execFile('pgrep', ['-P', String(parent), '-x', command], (_error, stdout) => resolve(stdout.trim() !== '')));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('an interrupted lifeboat leaves nothing behind and says what it cleaned', () => {
  let source: PostgresDatabase;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let vault: string;
  let keyFile: string;
  let backupId: string;
  const server = (() => {
    const settings = postgresSettings();
    return `postgres://${settings.user}@${settings.host}:${settings.port}`;
  })();

  beforeAll(async () => {
    source = await createPostgresDatabase('signals');
    // Large enough that every step runs for a few seconds: a poll catches it mid-way.
    await source.query(`CREATE TABLE events (id bigserial PRIMARY KEY, body text NOT NULL)`);
    await source.query(`INSERT INTO events (body) SELECT md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 500000) g`);
    dir = await tempDir('signals');
    vault = join(dir.path, 'vault');
    keyFile = join(dir.path, 'key.json');
    expect((await lifeboat(['keygen', '--key-file', keyFile, '-q'])).code).toBe(0);
    const made = await lifeboat(['backup', '--source', source.url, '--source-id', SOURCE, '--vault', vault, '--key-file', keyFile, '-q']);
    expect(made.code, made.stderr).toBe(0);
    backupId = made.stdout.trim();
  }, 300_000);
  afterAll(async () => {
    await source?.drop();
    await dir?.remove();
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('backup, %s while the payload is being written: pg_dump stopped, the temporary payload removed', async (signal, code) => {
    const before = await files(vault);
    const result = await interrupt(
      ['backup', '--source', source.url, '--source-id', SOURCE, '--vault', vault, '--key-file', keyFile, '--jobs', '1', '-q'],
      async () => (await tempPayloads(vault)).length > 0,
      signal,
    );

    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(new RegExp(`^lifeboat: ${signal}: stopping and cleaning up$`, 'm'));
    const pid = Number(/^lifeboat: stopped pg_dump \(pid (\d+)\)$/m.exec(result.stderr)?.[1]);
    expect(alive(pid)).toBe(false);
    expect(result.stderr).toMatch(/^lifeboat: removed temporary file \S+\/payload\.tmp-[0-9a-f]{16}$/m);
    expect(await files(vault)).toEqual(before);
  }, 120_000);

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('verify, %s during the restore test: the scratch database dropped, nothing recorded', async (signal, code) => {
    const before = await files(vault);
    const scratch = () => listPostgresDatabases(`lb_verify_${SOURCE.replace('-', '_')}_`);
    const result = await interrupt(
      ['verify', backupId, '--vault', vault, '--key-file', keyFile, '--restore-server', server],
      async (pid) => (await toolRunning(pid, 'pg_restore')) && (await scratch()).length > 0,
      signal,
    );

    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(/^lifeboat: dropped scratch database postgres:\/\/\S+\/lb_verify_sig_src_\d{14}_[0-9a-f]{8}$/m);
    expect(await scratch()).toEqual([]);
    expect(await files(vault)).toEqual(before);
  }, 120_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('restore into a new database, %s while pg_restore runs: the half-restored database this run created is dropped', async (signal, code) => {
    const name = `lb_test_sig_restore_${signal.toLowerCase()}_${Date.now()}`;
    const exists = async () => (await listPostgresDatabases(name)).includes(name);
    const result = await interrupt(
      ['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', `${server}/${name}`, '-q'],
      async (pid) => (await toolRunning(pid, 'pg_restore')) && (await exists()),
      signal,
    );

    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(new RegExp(`^lifeboat: dropped half-restored database postgres://\\S+/${name} \\(created by this run\\)$`, 'm'));
    expect(await exists()).toBe(false);
  }, 120_000);
});
