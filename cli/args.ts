/**
 * Flags for every command, parsed strictly with `node:util` parseArgs. Every usage error names the
 * flag it is about and never repeats a flag's value (a value may be a URL with a password in it).
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** A string flag that may be given several times (`--check A --check B`); its value is a list. */
  readonly multiple?: boolean;
  /** Placeholder in help, e.g. `URL`. */
  readonly value?: string;
  readonly description: string;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** What every command accepts besides its own flags. */
export const COMMON_FLAGS: FlagSpecs = {
  config: {
    type: 'string',
    value: 'FILE',
    description: "The deployment's Lifeboat config: vault, source ids, retention, checks, names. Default: $LIFEBOAT_CONFIG.",
  },
  json: { type: 'boolean', description: 'Print one JSON document on stdout instead of text.' },
  quiet: { type: 'boolean', short: 'q', description: 'No progress and no closing summary line on stderr.' },
  help: { type: 'boolean', short: 'h', description: 'Show this help.' },
};

/** Flags a variable of the environment can give once for every command (the flag wins). */
export const FLAG_ENV: Readonly<Record<string, string>> = {
  vault: 'LIFEBOAT_VAULT',
  'key-file': 'LIFEBOAT_KEY_FILE',
  'kms-key': 'LIFEBOAT_KMS_KEY',
  config: 'LIFEBOAT_CONFIG',
};

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedCommandLine {
  readonly flags: FlagValues;
  readonly positionals: string[];
  /** Where a flag's value came from when it was not typed: `LIFEBOAT_VAULT`, `config <file>`. */
  readonly origins?: Readonly<Record<string, string>>;
}

/** Parses `argv` (the words after the command name) against `flags`; at most `maxPositionals` bare words. */
export function parseCommandLine(
  command: string,
  flags: FlagSpecs,
  argv: readonly string[],
  maxPositionals: number,
): ParsedCommandLine {
  const options: FlagSpecs = { ...COMMON_FLAGS, ...flags };
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    }) as { values: FlagValues; positionals: string[] };
  } catch (error) {
    throw usageFromParseArgs(command, error);
  }
  if (parsed.values['help'] !== true && parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals[maxPositionals] ?? '';
    throw new UsageError(`unexpected argument "${abbreviate(extra)}" for "lifeboat ${command}"`);
  }
  return { flags: parsed.values, positionals: parsed.positionals };
}

/** parseArgs' messages quote the command line; rebuild them from the error code and the flag name alone. */
function usageFromParseArgs(command: string, error: unknown): Error {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-{1,2}[^' =<]+)/.exec(message)?.[1] ?? 'a flag';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown flag ${flag} for "lifeboat ${command}" (see lifeboat ${command} --help)`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(message)
        ? new UsageError(`${flag} takes no value`)
        : new UsageError(`${flag} needs a value (write ${flag}=VALUE if the value starts with "-")`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument for "lifeboat ${command}"`);
    default:
      return new UsageError(`cannot parse the flags of "lifeboat ${command}"`, { cause: error });
  }
}

/** The one value of a string flag, or `undefined`. */
export function stringFlag(flags: FlagValues, name: string): string | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new UsageError(`--${name} needs a value`);
  if (value === '') throw new UsageError(`--${name} must not be empty`);
  return value;
}

/** Every value of a repeatable string flag, in order; empty when it is not given. */
export function stringListFlag(flags: FlagValues, name: string): string[] {
  const value = flags[name];
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  for (const item of values) {
    if (typeof item !== 'string') throw new UsageError(`--${name} needs a value`);
    if (item.trim() === '') throw new UsageError(`--${name} must not be empty`);
  }
  return values as string[];
}

export function requiredFlag(flags: FlagValues, name: string): string {
  const value = stringFlag(flags, name);
  if (value === undefined) {
    const env = FLAG_ENV[name];
    throw new UsageError(`--${name} is required${env ? ` (or set ${env} once)` : ''}`);
  }
  return value;
}

export function booleanFlag(flags: FlagValues, name: string): boolean {
  return flags[name] === true;
}

/** `lifeboat <command> …` help text built from the same specs the parser uses. */
export function renderHelp(options: {
  readonly command: string;
  readonly synopsis: string;
  readonly description: string;
  readonly positionals?: readonly PositionalSpec[];
  readonly flags: FlagSpecs;
  readonly notes?: string;
}): string {
  const rows: [string, string][] = [];
  for (const positional of options.positionals ?? []) rows.push([positional.name, positional.description]);
  // A command's own wording of a common flag (what its --json prints) wins; the rest follow its flags.
  const all: FlagSpecs = { ...options.flags, ...Object.fromEntries(Object.entries(COMMON_FLAGS).filter(([name]) => !(name in options.flags))) };
  for (const [name, spec] of Object.entries(all)) {
    const short = spec.short ? `-${spec.short}, ` : '    ';
    const value = spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : '';
    const env = FLAG_ENV[name] && name !== 'config' ? ` Default: $${FLAG_ENV[name]}.` : '';
    rows.push([`${short}--${name}${value}`, `${spec.description}${spec.multiple ? ' Repeatable.' : ''}${env}`]);
  }
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = [
    `Usage: ${options.synopsis}`,
    '',
    options.description,
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
  ];
  if (options.notes) lines.push('', options.notes);
  return `${lines.join('\n')}\n`;
}

function abbreviate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}...` : value;
}
