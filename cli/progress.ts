/**
 * Progress on stderr (bytes, rate, elapsed), redrawn in place on each report from the engine. Drawn
 * only when stderr is a terminal and `--quiet` is not given, so pipes and logs never see `\r` noise.
 */
import type { Progress, ProgressListener } from '../functions/lib/engine/progress.ts';
import { formatBytes, formatDuration } from './format.ts';
import type { Output } from './io.ts';

export interface ProgressDisplay {
  /** Pass to the engine as `onProgress`; `undefined` when nothing is drawn. */
  readonly onProgress: ProgressListener | undefined;
  /** Clears a half-drawn line (after a failure), so the error starts on its own line. */
  clear(): void;
}

export function createProgressDisplay(output: Output, options: { readonly quiet: boolean }): ProgressDisplay {
  if (options.quiet || !output.stderrIsTTY) return { onProgress: undefined, clear: () => undefined };
  let drawn = false;
  return {
    onProgress(progress) {
      output.progress(`\r${describeProgress(progress)}\x1b[K${progress.done ? '\n' : ''}`);
      drawn = !progress.done;
    },
    clear() {
      if (drawn) output.progress('\r\x1b[K');
      drawn = false;
    },
  };
}

/** `backup  1.2 GiB raw, 310.4 MiB stored  212.5 MiB/s  5.8s` */
export function describeProgress(progress: Progress): string {
  return [
    progress.phase,
    `${formatBytes(progress.rawBytes)} raw, ${formatBytes(progress.storedBytes)} stored`,
    `${formatBytes(progress.rawBytesPerSecond)}/s`,
    formatDuration(progress.elapsedMs / 1000),
  ].join('  ');
}
