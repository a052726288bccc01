/**
 * What a command may touch of its process: two output streams and the environment. `main` passes
 * the real ones; tests pass captures. Everything written to stderr goes through {@link Output.error}
 * or {@link Output.progress}, which scrub every password the CLI has seen.
 */
import { redact } from '../functions/lib/engine/connection.ts';

export interface CliStream {
  write(text: string): unknown;
  /** Whether the stream is a terminal: progress is drawn only then. */
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly stdout: CliStream;
  readonly stderr: CliStream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Environment variables that may hold database passwords; their values are scrubbed from stderr. */
export const PASSWORD_ENV = { postgresql: 'PGPASSWORD', mysql: 'MYSQL_PWD' } as const;

export class Output {
  readonly #io: CliIo;
  readonly #secrets = new Set<string>();
  #quiet = false;

  constructor(io: CliIo) {
    this.#io = io;
    for (const name of Object.values(PASSWORD_ENV)) this.addSecret(io.env[name]);
  }

  get stderrIsTTY(): boolean {
    return this.#io.stderr.isTTY === true;
  }

  /** Whether stdout is a terminal and colour is not turned off (`NO_COLOR`): tables may then be coloured. */
  get colour(): boolean {
    return this.#io.stdout.isTTY === true && !this.#io.env['NO_COLOR'];
  }

  /** `--quiet`: no progress, notices or summary line (errors and warnings still go to stderr). */
  set quiet(quiet: boolean) {
    this.#quiet = quiet;
  }

  get quiet(): boolean {
    return this.#quiet;
  }

  /** Whether progress and notices for a person are drawn: stderr is a terminal and not `--quiet`. */
  get interactive(): boolean {
    return !this.#quiet && this.stderrIsTTY;
  }

  /** `--json`: the one JSON document a command prints on stdout. */
  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /**
   * The one line a command ends with, saying what it did (`Restored … into orders_copy: 21 tables, …`):
   * on stderr, so stdout stays data (an id, a report, JSON); left out with `--quiet`.
   */
  summary(text: string): void {
    if (!this.#quiet) this.error(text);
  }

  /** Remembers a password so no later stderr line can carry it (raw or percent-encoded). */
  addSecret(secret: string | undefined): void {
    if (!secret) return;
    this.#secrets.add(secret);
    this.#secrets.add(encodeURIComponent(secret));
  }

  /** Data for the caller (an id, a table, JSON). Never holds secrets: it comes from the vault. */
  out(text: string): void {
    this.#io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A line for the person at the terminal; scrubbed. */
  error(text: string): void {
    this.#io.stderr.write(`${this.scrub(text)}\n`);
  }

  /** Raw stderr bytes (progress redraws with `\r`); scrubbed. */
  progress(text: string): void {
    this.#io.stderr.write(this.scrub(text));
  }

  /** `text` without any known password and without `scheme://user:password@` credentials. */
  scrub(text: string): string {
    let out = redact(text);
    // Longest first, so a password that contains another is replaced whole.
    for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
    return out;
  }
}
