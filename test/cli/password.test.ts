// Database passwords on the command line: --password-file and the environment keep them out of the process
// list; a URL password still works, with a warning that never shows it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Output } from '../../cli/io.ts';
import { connectionWithPassword } from '../../cli/password.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-pw-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(env: Record<string, string> = {}) {
  const lines: string[] = [];
  const output = new Output({ stdout: { write: () => true }, stderr: { write: (text: string) => lines.push(text) }, env });
  return { output, env, stderr: () => lines.join('') };
}

describe('connectionWithPassword', () => {
  it('--password-file: the first line is the password, no warning, and it is scrubbed from anything printed later', async () => {
    const file = path.join(dir, 'pw');
    await writeFile(file, 'pa/ss#wo?rd\nignored\n', { mode: 0o600 });
    const { output, env, stderr } = capture();

    const info = await connectionWithPassword('--source', 'postgres://app@db/orders', { 'password-file': file }, output, env);
    output.error('driver said: pa/ss#wo?rd rejected');

    expect(info.password).toBe('pa/ss#wo?rd');
    expect(stderr()).toBe('driver said: *** rejected\n');
  });

  it('PGPASSWORD / MYSQL_PWD when neither the URL nor a file gives one', async () => {
    const { output, env, stderr } = capture({ MYSQL_PWD: 'from-env' });

    const info = await connectionWithPassword('--target', 'mysql://root@db/shop', {}, output, env);

    expect(info.password).toBe('from-env');
    expect(stderr()).toBe('');
  });

  it('a password in the URL works, with a warning that does not show it', async () => {
    const { output, env, stderr } = capture();

    const info = await connectionWithPassword('--source', 'postgres://app:hunter2@db/orders', {}, output, env);

    expect(info.password).toBe('hunter2');
    expect(stderr()).toBe(
      'lifeboat: warning: the password in --source is visible to other users in the process list, and stays in your shell history; use --password-file or PGPASSWORD instead\n',
    );
  });

  it.each([
    ['both a URL password and a file', 'postgres://app:hunter2@db/orders', 'pw-both', 'x\n', /give the password in --source or with --password-file, not both/],
    ['an empty file', 'postgres://app@db/orders', 'pw-empty', '\n', /is empty: its first line must be the password/],
    ['a file that is not a password', 'postgres://app@db/orders', 'pw-big', 'x'.repeat(5_000), /is larger than 4096 bytes/],
  ])('%s: a UsageError naming the flag', async (_label, url, name, content, expected) => {
    const file = path.join(dir, name);
    await writeFile(file, content, { mode: 0o600 });
    const { output, env } = capture();

    await expect(connectionWithPassword('--source', url, { 'password-file': file }, output, env)).rejects.toMatchObject({ name: 'UsageError', message: expect.stringMatching(expected) });
  });

  it('a missing file: a UsageError', async () => {
    const { output, env } = capture();
    await expect(connectionWithPassword('--source', 'postgres://app@db/orders', { 'password-file': path.join(dir, 'nope') }, output, env)).rejects.toMatchObject({
      name: 'UsageError',
      message: expect.stringMatching(/^--password-file: cannot read .*nope \(ENOENT\)$/),
    });
  });
});
