/** Reading a rejected config's ConfigError the way `cdk synth` prints it: one problem a line, by path. */
import { expect } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { parseConfig } from '../../../infra/config/index.ts';

/** Parses `value` and returns the problem lines of the ConfigError (fails the test if it parses). */
export function problemsOf(value: unknown): string[] {
  try {
    parseConfig(value, 'test.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const [header, ...lines] = (error as Error).message.split('\n');
    expect(header).toMatch(new RegExp(`^Invalid Lifeboat config test\\.json \\(${lines.length} problems?\\):$`));
    return lines;
  }
  throw new Error('expected the config to be rejected');
}

/** The field paths of the problems, in order. */
export function pathsOf(value: unknown): string[] {
  return problemsOf(value).map((line) => line.slice(0, line.indexOf(': ')));
}
