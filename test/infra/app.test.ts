/** `cdk synth` runs infra/app.ts as a process: a bad config must end it with the config's own message, not a stack trace. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleConfigJson } from './support.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** infra/app.ts as cdk.json's `app` runs it (tsx), in a clean environment with LIFEBOAT_CONFIG set. */
function synthProcess(configPath: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'infra', 'app.ts')],
      { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', LIFEBOAT_CONFIG: configPath }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-synth-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('infra/app.ts with a bad config', () => {
  it('prints the one-line-per-problem list alone and exits 1: no stack trace, no schema dump', async () => {
    const config = exampleConfigJson();
    config['plans'] = [
      {
        name: 'bad',
        priority: 'urgent',
        objectives: { rtoMinutes: 60, rpoMinutes: 60 },
        contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }],
        steps: [{ id: 'a', kind: 'wait', dependsOn: ['b'], parameters: { minutes: 1 } }],
      },
    ];
    const path = join(dir, 'bad-plan.json');
    await writeFile(path, JSON.stringify(config));

    const result = await synthProcess(path);

    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `Invalid Lifeboat config ${path} (1 problem):\nplans[0].priority: Invalid option: expected one of "critical"|"high"|"medium"|"low"\n`,
    });
  });

  it('reports a plan problem found across the config (an unknown dependency) the same way', async () => {
    const config = exampleConfigJson();
    config['plans'] = [
      {
        name: 'bad',
        priority: 'high',
        objectives: { rtoMinutes: 60, rpoMinutes: 60 },
        contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }],
        steps: [{ id: 'a', kind: 'wait', dependsOn: ['b'], parameters: { minutes: 1 } }],
      },
    ];
    const path = join(dir, 'bad-dependency.json');
    await writeFile(path, JSON.stringify(config));

    const result = await synthProcess(path);

    expect(result).toEqual({ code: 1, stdout: '', stderr: `Invalid Lifeboat config ${path} (1 problem):\nplans[0].steps[0].dependsOn[0]: unknown step 'b'\n` });
  });

  it('says so in one line when the config file does not exist', async () => {
    const path = join(dir, 'missing.json');
    expect(await synthProcess(path)).toEqual({ code: 1, stdout: '', stderr: `Lifeboat config ${path}: file not found\n` });
  });
});
