/**
 * Database connection details, parsed from `postgres://` / `mysql://` URLs. The password only ever
 * leaves this object as PGPASSWORD / MYSQL_PWD in a child's environment or a driver's config; every
 * description of a connection (errors, logs, manifests) is built without it, and {@link redact}
 * scrubs it from text that came from elsewhere (a tool's stderr).
 */
import { ConfigError } from '../errors.ts';

export type Engine = 'postgresql' | 'mysql';

export interface ConnectionInfo {
  readonly engine: Engine;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  /** PostgreSQL `sslmode` (e.g. `require`, `verify-full`) or MySQL `ssl-mode`. @default the tools' default */
  readonly sslMode?: string;
  /** The CA bundle (PEM file) that `verify-*` modes check the server certificate against. @default the tools' default */
  readonly sslRootCert?: string;
}

const SCHEMES: Record<string, Engine> = {
  'postgres:': 'postgresql',
  'postgresql:': 'postgresql',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};
const DEFAULT_PORT: Record<Engine, number> = { postgresql: 5432, mysql: 3306 };
const DEFAULT_USER: Record<Engine, string> = { postgresql: 'postgres', mysql: 'root' };

/**
 * `postgres://user:pass@host:5432/db?sslmode=require` or `mysql://user:pass@host:3306/db`; the scheme
 * picks the engine. Percent-encoded user, password and database are decoded. Errors show the URL with
 * its password replaced by `***`.
 */
export function parseConnectionUrl(url: string): ConnectionInfo {
  assertCredentialsEncoded(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`Invalid connection URL ${redactUrl(url)}: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE or mysql://…`);
  }
  const engine = SCHEMES[parsed.protocol];
  if (!engine) {
    throw new ConfigError(
      `Unsupported connection URL scheme "${parsed.protocol}" in ${redactUrl(url)}: use postgres:// or mysql://`,
    );
  }
  const database = decode(parsed.pathname.replace(/^\//, ''), 'database', url);
  if (database === '' || database.includes('/')) {
    throw new ConfigError(`Connection URL ${redactUrl(url)} must name one database in its path (…/DATABASE)`);
  }
  if (parsed.hostname === '') throw new ConfigError(`Connection URL ${redactUrl(url)} has no host`);
  const sslMode = parsed.searchParams.get('sslmode') ?? parsed.searchParams.get('ssl-mode') ?? undefined;
  const unknown = [...parsed.searchParams.keys()].filter((key) => key !== 'sslmode' && key !== 'ssl-mode');
  if (unknown.length > 0) {
    throw new ConfigError(`Connection URL ${redactUrl(url)} has unsupported parameters: ${unknown.join(', ')} (only sslmode)`);
  }
  const password = parsed.password === '' ? undefined : decode(parsed.password, 'password', url);
  return {
    engine,
    // IPv6 literals come back bracketed; the tools want them bare.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? DEFAULT_PORT[engine] : Number(parsed.port),
    user: parsed.username === '' ? DEFAULT_USER[engine] : decode(parsed.username, 'user', url),
    ...(password === undefined ? {} : { password }),
    database,
    ...(sslMode === undefined ? {} : { sslMode }),
  };
}

/**
 * A `/`, `?` or `#` before the last `@` would end the authority early: the parser would take part of the
 * password for the host, port, path or query. Refused with the password redacted, before parsing.
 */
function assertCredentialsEncoded(url: string): void {
  const rest = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/is.exec(url)?.[1];
  if (rest === undefined) return;
  const credentials = rest.slice(0, Math.max(rest.lastIndexOf('@'), 0));
  if (credentials.includes(':') && /[/?#]/.test(credentials)) {
    throw new ConfigError(
      `Connection URL ${redactUrl(url)} has an unencoded "/", "?" or "#" in its user or password (or an "@" after its host): percent-encode them, or give the password in PGPASSWORD / MYSQL_PWD or --password-file instead`,
    );
  }
}

function decode(value: string, field: string, url: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ConfigError(`Connection URL ${redactUrl(url)} has a badly percent-encoded ${field}`);
  }
}

/** `postgres://user@host:5432/db`: safe for logs, errors and manifests. */
export function describeConnection(info: ConnectionInfo): string {
  const scheme = info.engine === 'postgresql' ? 'postgres' : 'mysql';
  const host = info.host.includes(':') ? `[${info.host}]` : info.host;
  return `${scheme}://${encodeURIComponent(info.user)}@${host}:${info.port}/${encodeURIComponent(info.database)}`;
}

/** The same server, another database (the restore target's maintenance database, say). */
export function withDatabase(info: ConnectionInfo, database: string): ConnectionInfo {
  return { ...info, database };
}

const SCHEME_PREFIX = /[a-z][a-z0-9+.-]*:\/\//gi;

/**
 * `url` with the password of its credentials replaced by `***`, whatever characters the password holds.
 * An unencoded `/`, `?` or `#` in a password makes a URL parser end the authority early, so the
 * credentials are taken to run from after `scheme://` to the last `@` (as WHATWG URL parsing does with
 * `@`): a password is never split at a character a parser would treat as a delimiter. Over-redacting a
 * path holding `@` is the safe failure.
 */
export function redactUrl(url: string): string {
  return redactCredentials(url, false);
}

/** Every `scheme://user:password@` in `text` (up to whitespace) with its password replaced by `***`. */
function redactCredentials(text: string, stopAtWhitespace: boolean): string {
  let out = '';
  let from = 0;
  for (const match of text.matchAll(SCHEME_PREFIX)) {
    const start = match.index + match[0].length;
    if (start < from) continue;
    const end = stopAtWhitespace ? nextWhitespace(text, start) : text.length;
    const rest = text.slice(start, end);
    const at = rest.lastIndexOf('@');
    const colon = at < 0 ? -1 : rest.slice(0, at).indexOf(':');
    if (colon < 0) continue;
    out += `${text.slice(from, start)}${rest.slice(0, colon)}:***`;
    from = start + at;
  }
  return out + text.slice(from);
}

function nextWhitespace(text: string, from: number): number {
  const index = text.slice(from).search(/\s/);
  return index < 0 ? text.length : from + index;
}

/**
 * `text` with every occurrence of the connection's password (raw and percent-encoded) and any
 * `scheme://user:password@` credentials replaced by `***`. For tool output and errors from drivers.
 */
export function redact(text: string, ...infos: (Pick<ConnectionInfo, 'password'> | undefined)[]): string {
  let out = text;
  for (const info of infos) {
    const password = info?.password;
    if (!password) continue;
    // Longest first: the encoded form of a password can contain the raw one.
    for (const form of [...new Set([password, encodeURIComponent(password)])].sort((a, b) => b.length - a.length)) out = out.split(form).join('***');
  }
  return redactCredentials(out, true);
}
