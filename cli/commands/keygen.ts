import { booleanFlag, requiredFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode } from '../errors.ts';

export const keygen: Command = {
  name: 'keygen',
  summary: 'Create a local AES-256 key file for encrypting backups off AWS.',
  synopsis: 'lifeboat keygen --key-file FILE [--json]',
  description:
    'Creates FILE (mode 0600) holding a new random AES-256 wrapping key. Refuses to overwrite an existing\n' +
    'file: every backup made with a key needs that same key to restore. Keep a copy somewhere safe.',
  flags: {
    'key-file': { type: 'string', value: 'FILE', description: 'Where to create the key file.' },
  },
  maxPositionals: 0,
  async run({ flags }, { output }) {
    const path = requiredFlag(flags, 'key-file');
    const { generateKeyFile } = await import('../../functions/lib/crypto/keyFile.ts');
    const key = await generateKeyFile(path);
    if (booleanFlag(flags, 'json')) output.json({ keyFile: path, keyNamespace: key.keyNamespace, keyName: key.keyName, createdAt: key.createdAt });
    output.summary(
      `Created key ${key.keyNamespace}/${key.keyName} in ${path}. Back it up: without it, its backups cannot be restored. ` +
        `Use it with --key-file or export LIFEBOAT_KEY_FILE=${path}`,
    );
    return ExitCode.ok;
  },
};
