import { booleanFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { completionScript, SHELLS, type Shell } from '../completion.ts';
import { ExitCode, UsageError } from '../errors.ts';

export const completion: Command = {
  name: 'completion',
  summary: 'Print the shell completion script for bash or zsh.',
  synopsis: 'lifeboat completion bash|zsh',
  description:
    'Prints a script that completes lifeboat\'s commands, their flags, file and directory values and, for\n' +
    'the commands that take a backup id, "latest" and the ids in the configured vault (LIFEBOAT_VAULT or --vault).',
  positionals: [{ name: 'SHELL', description: 'bash or zsh.' }],
  flags: {},
  notes:
    'bash:  echo \'source <(lifeboat completion bash)\' >> ~/.bashrc\n' +
    'zsh:   lifeboat completion zsh > "${fpath[1]}/_lifeboat"   (then start a new shell; needs compinit)',
  maxPositionals: 1,
  async run({ flags, positionals }, { output, commands }) {
    const shell = positionals[0];
    if (shell === undefined || !(SHELLS as readonly string[]).includes(shell)) {
      throw new UsageError(`"lifeboat completion" needs a shell: ${SHELLS.join(' or ')}`);
    }
    const script = completionScript(shell as Shell, commands);
    if (booleanFlag(flags, 'json')) output.json({ shell, script });
    else output.out(script);
    return ExitCode.ok;
  },
};
