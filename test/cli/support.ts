/** Runs the CLI in-process with captured streams, as a terminal or a pipe. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../cli/main.ts';
import type { CliDeps } from '../../cli/options.ts';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Added to a minimal environment (no PGPASSWORD/MYSQL_PWD from the machine running the tests). */
  readonly env?: Record<string, string | undefined>;
  /** Whether stderr claims to be a terminal. @default false */
  readonly tty?: boolean;
  readonly deps?: CliDeps;
}

export async function lifeboat(argv: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(
    argv,
    {
      stdout: { write: (text: string) => (stdout += text), isTTY: false },
      stderr: { write: (text: string) => (stderr += text), isTTY: options.tty ?? false },
      env: { PATH: process.env['PATH'], ...options.env },
    },
    options.deps,
  );
  return { code, stdout, stderr };
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(label: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `lifeboat-cli-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** The one error line the CLI prints: `lifeboat: <Name>: <message>`. */
export function errorLine(stderr: string): { name: string; message: string } | undefined {
  const lines = stderr.split('\n').filter((line) => line !== '');
  if (lines.length !== 1) return undefined;
  const match = /^lifeboat: (\w+): (.+)$/.exec(lines[0]!);
  return match ? { name: match[1]!, message: match[2]! } : undefined;
}
