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

/**
 * Variables an optional feature needs together: `undefined` when none is set, every value when all are, and a
 * `ConfigError` naming the missing ones when only some are (`what` names the feature in it).
 */
export function optionalEnvGroup<const Name extends string>(
  what: string,
  names: readonly Name[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<Name, string> | undefined {
  const missing = names.filter((name) => !env[name]);
  if (missing.length === names.length) return undefined;
  if (missing.length > 0) throw new ConfigError(`${what} needs ${names.join(', ')}; missing ${missing.join(', ')}`);
  return Object.fromEntries(names.map((name) => [name, env[name]!])) as Record<Name, string>;
}
