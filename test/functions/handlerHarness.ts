import { afterEach, beforeEach, vi } from 'vitest';

/**
 * For tests that load a Lambda handler module: before each test, a fresh module registry, `env` stubbed
 * and stdout captured (Powertools writes logs and embedded metrics there); restored after each.
 * Reset your own SDK mocks in a `beforeEach` of your own.
 */
export function useHandlerEnvironment(env: Readonly<Record<string, string>>): { metrics(): Record<string, unknown>[] } {
  let stdout: string[] = [];
  beforeEach(() => {
    vi.resetModules();
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    stdout = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });
  return {
    /** The CloudWatch embedded-metric documents written to stdout. */
    metrics: () =>
      stdout
        .flatMap((line) => line.split('\n'))
        .filter((l) => l.includes('"_aws"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
