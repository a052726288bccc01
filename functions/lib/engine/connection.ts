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

/** A URL (or URL-ish string) with any password replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@');
}

/**
 * `text` with every occurrence of the connection's password (raw and percent-encoded) and any
 * `scheme://user:password@` credentials replaced by `***`. For tool output and errors from drivers.
 */
export function redact(text: string, ...infos: (ConnectionInfo | undefined)[]): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi, '$1:***@');
  for (const info of infos) {
    const password = info?.password;
    if (!password) continue;
    for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('***');
  }
  return out;
}
