import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../../functions/lib/errors.ts';
import { LifeboatConfigSchema, type LifeboatConfig } from './config.ts';

/**
 * Reads, parses and validates a Lifeboat config file. Throws one `ConfigError` listing every problem,
 * one per line as `<field path>: <message>`, so `cdk synth` fails before anything is deployed.
 *
 * @example
 * const config = loadConfig('config/example.lifeboat.json');
 */
export function loadConfig(path: string): LifeboatConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? String(error)})`;
    throw new ConfigError(`Lifeboat config ${file}: ${reason}`, { cause: error });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const offset = jsonErrorOffset(text);
    const { line, column } = lineAndColumn(text, offset);
    throw new ConfigError(
      `Lifeboat config ${file} is not valid JSON at line ${line}, column ${column}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return parseConfig(value, file);
}

/**
 * Validates an already-parsed config value and fills in defaults. `origin` (a file name) goes into
 * the error's first line.
 */
export function parseConfig(value: unknown, origin?: string): LifeboatConfig {
  const result = LifeboatConfigSchema.safeParse(value, {
    error: (issue) => (issue.input === undefined && issue.code === 'invalid_type' ? 'required' : undefined),
  });
  if (result.success) return result.data;
  const problems = [...new Set(result.error.issues.flatMap(describeIssue))];
  throw new ConfigError(
    `Invalid Lifeboat config${origin ? ` ${origin}` : ''} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.join('\n')}`,
    { cause: result.error },
  );
}

/** Formats a field path as written in the config: `sources[2].schedule.cron`. The root is `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === '' ? '(root)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`);
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/**
 * The offset of the first JSON syntax error in `text`. Node 20's JSON.parse does not always report
 * a position ("Unexpected token ..."), so this small scanner finds it.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (ok: boolean) => {
    if (!ok) throw new SyntaxAt(i);
  };
  const string = () => {
    i++; // the opening quote
    for (let c = text[i]; c !== '"'; c = text[i]) {
      expect(c !== undefined && c.charCodeAt(0) >= 0x20);
      if (c === '\\') {
        i++;
        const escape = text[i] ?? '';
        expect(escape !== '' && '"\\/bfnrtu'.includes(escape));
        if (escape === 'u') {
          i++;
          expect(/^[0-9a-fA-F]{4}$/.test(text.slice(i, i + 4)));
          i += 3;
        }
      }
      i++;
    }
    i++; // the closing quote
  };
  const container = (close: '}' | ']', member: () => void) => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      member();
      ws();
      if (text[i] === close) return void i++;
      expect(text[i] === ',');
      i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      return container('}', () => {
        ws();
        expect(text[i] === '"');
        string();
        ws();
        expect(text[i] === ':');
        i++;
        value();
      });
    }
    if (c === '[') return container(']', value);
    if (c === '"') return string();
    const number = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    number.lastIndex = i;
    if (number.test(text)) return void (i = number.lastIndex);
    const literal = ['true', 'false', 'null'].find((l) => text.startsWith(l, i));
    expect(literal !== undefined);
    i += literal!.length;
  };
  try {
    value();
    ws();
    expect(i === text.length);
  } catch (error) {
    if (error instanceof SyntaxAt) return error.offset;
    throw error;
  }
  return text.length;
}

class SyntaxAt {
  constructor(readonly offset: number) {}
}
