/**
 * Where the CLI takes a database password from, so it is not in the process list or the shell history for
 * the whole run: `--password-file FILE` (first line), or PGPASSWORD / MYSQL_PWD. A password in the URL still
 * works, with a warning.
 */
import { open } from 'node:fs/promises';
import { type ConnectionInfo, parseConnectionUrl } from '../functions/lib/engine/connection.ts';
import { type FlagValues, stringFlag } from './args.ts';
import { UsageError } from './errors.ts';
import type { Output } from './io.ts';
import { connectionFromFlag } from './options.ts';

/** A password file holds one password: anything longer than this is not one. */
const MAX_PASSWORD_FILE_BYTES = 4_096;

export const PASSWORD_FILE_FLAG = {
  'password-file': {
    type: 'string',
    value: 'FILE',
    description: 'Read the database password from FILE (its first line), so it is in neither `ps` output nor the shell history.',
  },
} as const;

/** The connection `flag` names, with its password from the URL (warned about), --password-file, or PGPASSWORD / MYSQL_PWD. */
export async function connectionWithPassword(flag: string, url: string, flags: FlagValues, output: Output, env: Readonly<Record<string, string | undefined>>): Promise<ConnectionInfo> {
  const info = connectionFromFlag(flag, url, output, env);
  const passwordFile = stringFlag(flags, 'password-file');
  const inUrl = parseConnectionUrl(url).password !== undefined;
  if (inUrl && passwordFile !== undefined) throw new UsageError(`give the password in ${flag} or with --password-file, not both`);
  if (inUrl) {
    output.error(
      `lifeboat: warning: the password in ${flag} is visible to other users in the process list, and stays in your shell history; use --password-file or ${info.engine === 'postgresql' ? 'PGPASSWORD' : 'MYSQL_PWD'} instead`,
    );
    return info;
  }
  if (passwordFile === undefined) return info;
  const password = await readPasswordFile(passwordFile);
  output.addSecret(password);
  return { ...info, password };
}

export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(MAX_PASSWORD_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_PASSWORD_FILE_BYTES) throw new UsageError(`--password-file: ${path} is larger than ${MAX_PASSWORD_FILE_BYTES} bytes; it must hold the password alone`);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--password-file: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  const password = text.split(/\r?\n/, 1)[0]!;
  if (password === '') throw new UsageError(`--password-file: ${path} is empty: its first line must be the password`);
  return password;
}
