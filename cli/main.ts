/**
 * `lifeboat`: the backup engine off AWS. {@link run} is the whole CLI as a function of its arguments,
 * output streams and environment, so tests call it in-process; `bin.js` calls {@link main}.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine, renderHelp, stringFlag } from './args.ts';
import type { Command, CommandContext } from './command.ts';
import { approve } from './commands/approve.ts';
import { audit } from './commands/audit.ts';
import { backup } from './commands/backup.ts';
import { completion } from './commands/completion.ts';
import { doctor } from './commands/doctor.ts';
import { drill } from './commands/drill.ts';
import { keygen } from './commands/keygen.ts';
import { list } from './commands/list.ts';
import { plan } from './commands/plan.ts';
import { prune } from './commands/prune.ts';
import { report } from './commands/report.ts';
import { restore } from './commands/restore.ts';
import { runCommand } from './commands/run.ts';
import { show } from './commands/show.ts';
import { status } from './commands/status.ts';
import { verify } from './commands/verify.ts';
import { ExitCode, exitCodeFor, UsageError } from './errors.ts';
import { type CliIo, Output } from './io.ts';
import { installSignalHandlers } from './signals.ts';
import type { CliDeps } from './options.ts';
import { applySettings, Settings } from './settings.ts';

export const COMMANDS: readonly Command[] = [keygen, backup, list, show, status, restore, verify, prune, doctor, runCommand, drill, plan, approve, report, audit, completion];

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Runs one command line (`argv` without `node` and the script) and returns the process exit code. */
export async function run(argv: readonly string[], io: CliIo, deps: CliDeps = {}, output = new Output(io)): Promise<number> {
  const [first, ...rest] = argv;
  let command: Command | undefined;
  try {
    if (first === undefined) {
      io.stderr.write(generalHelp());
      return ExitCode.usage;
    }
    if (first === '--help' || first === '-h') {
      output.out(generalHelp());
      return ExitCode.ok;
    }
    if (first === '--version') {
      output.out(VERSION);
      return ExitCode.ok;
    }
    if (first === 'help') {
      const topic = rest[0] === undefined ? undefined : findCommand(rest[0]);
      output.out(topic ? commandHelp(topic) : generalHelp());
      return ExitCode.ok;
    }
    if (first.startsWith('-')) throw new UsageError(`expected a command before ${first.split('=')[0]}`);
    command = findCommand(first);
    const commandLine = parseCommandLine(command.name, command.flags, rest, command.maxPositionals);
    if (commandLine.flags['help'] === true) {
      output.out(commandHelp(command));
      return ExitCode.ok;
    }
    output.quiet = commandLine.flags['quiet'] === true;
    const settings = new Settings(io.env, stringFlag(commandLine.flags, 'config'));
    const applied = await applySettings(command, commandLine, io.env, settings);
    const context: CommandContext = { output, env: applied.env, deps, settings, commands: COMMANDS };
    return await command.run(applied.commandLine, context);
  } catch (error) {
    reportError(output, error, command, io.env);
    return exitCodeFor(error);
  }
}

/**
 * The process entry: real streams and environment; sets `process.exitCode` rather than exiting, so output
 * drains. An error that escapes every handler (a library emitting `error` twice, say) must neither print a
 * stack nor let a failed run exit 0: it is kept, the run's own outcome decides, and it is reported in the
 * usual one line only if the run did not report anything itself.
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  // Shared with the run, so stray errors are scrubbed of the passwords the run has seen.
  const output = new Output(io);
  const debug = io.env['LIFEBOAT_DEBUG'] === '1';
  // The AWS SDK's eight-line notice that it will want Node 22 in 2027 is not this command's business.
  if (!debug) process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  let code: number | undefined;
  let firstStray: unknown;
  let reported = false;
  const reportOnce = (error: unknown) => {
    if (reported) return;
    reported = true;
    reportError(output, error, undefined, io.env);
    process.exitCode = exitCodeFor(error);
  };
  const onStray = (error: unknown) => {
    firstStray ??= error;
    if (debug) reportError(output, error, undefined, io.env);
    if (code === ExitCode.ok) reportOnce(error);
  };
  const signals = installSignalHandlers(output);
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);
  // A run whose promise never settles (lost to a stray error) must not end the process with 0.
  process.once('exit', () => {
    // An interrupted run exits 130/143 from its signal handler, having said what it cleaned.
    if (code === undefined && !signals.interrupted()) reportOnce(firstStray ?? new Error('lifeboat stopped before the command finished'));
  });

  code = await run(argv, io, {}, output);
  process.exitCode = code;
  // A failed run has printed its own line; a successful one with a stray error is not a success.
  if (code !== ExitCode.ok) reported = true;
  else if (firstStray !== undefined) reportOnce(firstStray);
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    throw new UsageError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
  }
  return command;
}

/** One line, `lifeboat: <ErrorName>: <message>`; the stack and causes only with LIFEBOAT_DEBUG=1. */
function reportError(output: Output, error: unknown, command: Command | undefined, env: CliIo['env']): void {
  const name = error instanceof Error ? error.name : 'Error';
  let message = oneLine(error instanceof Error ? error.message : String(error));
  if (name === 'UsageError' && !message.includes('--help')) {
    message += command ? ` (see lifeboat ${command.name} --help)` : ' (see lifeboat --help)';
  }
  output.error(`lifeboat: ${name}: ${message}`);
  if (env['LIFEBOAT_DEBUG'] === '1') {
    for (let current: unknown = error; current !== undefined; current = (current as { cause?: unknown }).cause) {
      output.error(current instanceof Error ? (current.stack ?? String(current)) : String(current));
      if (!(current instanceof Error)) break;
    }
  }
}

/** Several lines (a tool's stderr, an SDK's nested errors) joined with ` | `; stack frames left out. */
function oneLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^at \S/.test(line));
  return lines.join(' | ') || 'failed without a message';
}

function commandHelp(command: Command): string {
  return renderHelp({
    command: command.name,
    synopsis: command.synopsis,
    description: command.description,
    flags: command.flags,
    ...(command.positionals ? { positionals: command.positionals } : {}),
    ...(command.notes ? { notes: command.notes } : {}),
  });
}

function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `lifeboat ${VERSION}: encrypted, self-describing database backups, off AWS or in it.`,
    '',
    'Usage: lifeboat <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `lifeboat <command> --help` for its flags. `lifeboat --version` prints the version.',
    'Configure once: LIFEBOAT_VAULT, LIFEBOAT_KEY_FILE or LIFEBOAT_KMS_KEY, LIFEBOAT_CONFIG (flags win over them).',
    'A backup id may be `latest` or any unique prefix of an id.',
    'Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 not found, 4 integrity failure, 5 restore test failed (docs/cli.md).',
    '',
  ].join('\n');
}
