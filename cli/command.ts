import type { FlagSpecs, ParsedCommandLine, PositionalSpec } from './args.ts';
import type { Output } from './io.ts';
import type { CliDeps } from './options.ts';
import type { Settings } from './settings.ts';

export interface CommandContext {
  readonly output: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly deps: CliDeps;
  /** What the deployment's config file says (source ids, retention, checks), read on first use. */
  readonly settings: Settings;
  /** Every command of the CLI (for `completion`, which describes them all). */
  readonly commands: readonly Command[];
}

/** One `lifeboat <name>` command: its flags (which also make its help) and what it does. */
export interface Command {
  readonly name: string;
  /** One line for `lifeboat --help`. */
  readonly summary: string;
  readonly synopsis: string;
  readonly description: string;
  readonly positionals?: readonly PositionalSpec[];
  readonly flags: FlagSpecs;
  readonly notes?: string;
  /** Bare words accepted after the command name. */
  readonly maxPositionals: number;
  /** Does the work; returns the exit code, throws a named error on failure. */
  run(commandLine: ParsedCommandLine, context: CommandContext): Promise<number>;
}
