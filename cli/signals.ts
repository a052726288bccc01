/**
 * SIGINT (Ctrl-C) and SIGTERM: stop the child tools, undo what the run left half-done (a temporary
 * payload, a multipart upload, a scratch database, a database the restore created), say what was
 * cleaned, and exit 130 / 143 as shells expect. A second signal while cleaning exits at once, saying
 * that the cleanup did not finish. See functions/lib/engine/interrupt.ts for what registers.
 */
import { cleanUpAfterInterrupt } from '../functions/lib/engine/interrupt.ts';
import type { Output } from './io.ts';

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** Installs the handlers for the life of the process (the CLI runs one command per process). */
export function installSignalHandlers(output: Output, exit: (code: number) => never = process.exit): { interrupted(): boolean } {
  let cleaning = false;
  for (const signal of Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]) {
    process.on(signal, () => {
      // A command that stops and cleans up on its own (drill --local) has its own listener: it decides.
      if (process.listenerCount(signal) > 1 && !cleaning) return;
      const code = EXIT_CODES[signal];
      if (cleaning) {
        output.error(`lifeboat: ${signal} again: exiting before the cleanup finished; run lifeboat doctor to find what is left`);
        exit(code);
      }
      cleaning = true;
      output.error(`lifeboat: ${signal}: stopping and cleaning up`);
      void cleanUpAfterInterrupt().then((report) => {
        for (const tool of report.stopped) output.error(`lifeboat: stopped ${tool}`);
        for (const done of report.cleaned) output.error(`lifeboat: ${done}`);
        for (const left of report.failed) output.error(`lifeboat: left behind: ${left}`);
        if (report.cleaned.length === 0 && report.failed.length === 0) output.error('lifeboat: nothing was left to clean up');
        exit(code);
      });
    });
  }
  return { interrupted: () => cleaning };
}
