/** Runs the CLI in-process with captured streams, as a terminal or a pipe. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach } from 'vitest';
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
  /** Whether stdout claims to be a terminal. @default false */
  readonly stdoutTty?: boolean;
  readonly deps?: CliDeps;
}

export async function lifeboat(argv: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(
    argv,
    {
      stdout: { write: (text: string) => (stdout += text), isTTY: options.stdoutTty ?? false },
      stderr: { write: (text: string) => (stderr += text), isTTY: options.tty ?? false },
      env: { PATH: process.env['PATH'], ...options.env },
    },
    options.deps,
  );
  return { code, stdout, stderr };
}

/** The key pair s3rver checks signatures against, given to the CLI as an S3-compatible server's credentials are. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } as const;

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(label: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `lifeboat-cli-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** The one error line the CLI prints: `lifeboat: <Name>: <message>`. */
export function errorLine(stderr: string): { name: string; message: string } | undefined {
  // Warnings (e.g. a password given in a URL) are lines of their own; the error is still exactly one line.
  const lines = stderr.split('\n').filter((line) => line !== '' && !line.startsWith('lifeboat: warning: '));
  if (lines.length !== 1) return undefined;
  const match = /^lifeboat: (\w+): (.+)$/.exec(lines[0]!);
  return match ? { name: match[1]!, message: match[2]! } : undefined;
}

/**
 * A mocked Step Functions client for the commands that start executions (`run`, `drill`), injected through
 * `CliDeps`: records the region each client was made for and every sleep of `--wait`, reset before each test.
 */
export function mockedStepFunctions(account: string) {
  const client = new SFNClient({ region: 'eu-west-1' });
  const sfn = mockClient(client);
  const recorded = { regions: [] as (string | undefined)[], sleeps: [] as number[] };
  beforeEach(() => {
    sfn.reset();
    recorded.regions = [];
    recorded.sleeps = [];
  });
  const deps: CliDeps = {
    sfnClient: (region) => {
      recorded.regions.push(region);
      return client;
    },
    sleep: async (milliseconds) => {
      recorded.sleeps.push(milliseconds);
    },
  };
  return {
    sfn,
    deps,
    recorded,
    startInputs: () => sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input),
    stateMachine: (name: string) => ({ name, stateMachineArn: `arn:aws:states:eu-west-1:${account}:stateMachine:${name}`, type: 'STANDARD' as const, creationDate: new Date() }),
  };
}
