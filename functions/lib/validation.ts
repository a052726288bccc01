import type { z } from 'zod';
import { ConfigError } from './errors.ts';

/** One line naming every problem zod found, each with the path of the field it is about. */
export function describeIssues(error: z.ZodError, root = '(event)'): string {
  return error.issues.map((issue) => `${issue.path.join('.') || root}: ${issue.message}`).join('; ');
}

/** Parses `value` with `schema`, or throws a `ConfigError` that starts with `what` and names each bad field. */
export function parseOrConfigError<S extends z.ZodType>(schema: S, value: unknown, what: string, root = '(event)'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${what}: ${describeIssues(parsed.error, root)}`);
  return parsed.data;
}

/** Reads a JSON environment variable with a schema; a value that is not JSON is a `ConfigError` naming the variable. */
export function parseJsonEnv<S extends z.ZodType>(name: string, text: string, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${name}: not valid JSON`);
  }
  return parseOrConfigError(schema, json, name, '(root)');
}
