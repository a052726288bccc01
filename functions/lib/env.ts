import { ConfigError } from './errors.ts';

/**
 * Reads named environment variables once, at start-up: a missing or empty one fails fast with a message
 * naming every variable that is missing, instead of an `undefined` deep inside a handler.
 */
export function requireEnv<const Name extends string>(
  names: readonly Name[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<Name, string> {
  const missing = names.filter((name) => !env[name]);
  if (missing.length > 0) throw new ConfigError(`Missing environment variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
  return Object.fromEntries(names.map((name) => [name, env[name]!])) as Record<Name, string>;
}
