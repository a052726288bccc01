/**
 * Progress on stderr (bytes, rate, elapsed; percentage and ETA when the size is known), redrawn in place
 * on each report. Drawn only when stderr is a terminal and `--quiet` is not given, so pipes and logs never
 * see `\r` noise. The size comes from the manifest (restore, verify: exact) or from the source's last
 * backup (backup: an estimate, shown with `~`).
 */
import { Transform } from 'node:stream';
import type { Progress, ProgressListener } from '../functions/lib/engine/progress.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import { formatBytes, formatDuration } from './format.ts';
import type { Output } from './io.ts';

/** The size a run is heading for, and which of its byte counts it is measured in. */
export interface ProgressTotal {
  readonly bytes: number;
  readonly measure: 'raw' | 'stored';
  /** An estimate (the last backup's size): shown with `~`, and never past 99 % until done. */
  readonly estimated?: boolean;
}

/** One report: the engine's {@link Progress}, or a count of stored bytes read (verify). */
export interface ProgressReport {
  readonly phase: string;
  readonly rawBytes?: number;
  readonly storedBytes: number;
  readonly elapsedMs: number;
  readonly done: boolean;
}

export interface ProgressDisplay {
  /** Pass to the engine as `onProgress`; `undefined` when nothing is drawn. */
  readonly onProgress: ProgressListener | undefined;
  /**
   * `store` with the reads of `key` counted and drawn as `phase` (for an engine call that takes no
   * `onProgress`, such as verification); `store` itself when nothing is drawn.
   */
  trackReads(store: VaultStore, key: string | readonly string[], phase: string): VaultStore;
  /** Clears a half-drawn line (after a failure, or before the summary), so the next line starts clean. */
  clear(): void;
}

const REDRAW_MS = 200;

export function createProgressDisplay(
  output: Output,
  options: { readonly quiet: boolean; readonly total?: ProgressTotal | undefined },
): ProgressDisplay {
  if (options.quiet || !output.stderrIsTTY) {
    return { onProgress: undefined, trackReads: (store) => store, clear: () => undefined };
  }
  let drawn = false;
  const draw = (progress: ProgressReport) => {
    output.progress(`\r${describeProgress(progress, options.total)}\x1b[K${progress.done ? '\n' : ''}`);
    drawn = !progress.done;
  };
  return {
    onProgress: draw,
    trackReads: (store, key, phase) => countingReads(store, key, phase, draw),
    clear() {
      if (drawn) output.progress('\r\x1b[K');
      drawn = false;
    },
  };
}

/**
 * `restore  42%  120.0 MiB of 285.3 MiB stored  50.1 MiB/s  ETA 3s  elapsed 2.4s`; without a total,
 * `backup  1.2 GiB raw, 310.4 MiB stored  212.5 MiB/s  5.8s`.
 */
export function describeProgress(progress: ProgressReport | Progress, total?: ProgressTotal): string {
  const seconds = progress.elapsedMs / 1000;
  const raw = progress.rawBytes ?? 0;
  if (total === undefined || total.bytes <= 0) {
    const rate = seconds > 0 ? (progress.rawBytes === undefined ? progress.storedBytes : raw) / seconds : 0;
    const sizes = progress.rawBytes === undefined ? `${formatBytes(progress.storedBytes)} read` : `${formatBytes(raw)} raw, ${formatBytes(progress.storedBytes)} stored`;
    return [progress.phase, sizes, `${formatBytes(rate)}/s`, formatDuration(seconds)].join('  ');
  }
  const done = total.measure === 'raw' ? raw : progress.storedBytes;
  const tilde = total.estimated ? '~' : '';
  const rate = seconds > 0 ? done / seconds : 0;
  let fraction = Math.min(done / total.bytes, 1);
  if (total.estimated && !progress.done) fraction = Math.min(fraction, 0.99);
  if (progress.done) fraction = 1;
  const percent = `${tilde}${Math.floor(fraction * 100)}%`;
  const of = `${formatBytes(done)} of ${tilde}${formatBytes(total.bytes)} ${total.measure}`;
  const remaining = total.bytes - done;
  const eta = progress.done ? 'done' : rate > 0 && remaining > 0 ? `ETA ${tilde}${formatDuration(remaining / rate)}` : 'ETA ?';
  return [progress.phase, percent.padStart(4), of, `${formatBytes(rate)}/s`, eta, `elapsed ${formatDuration(seconds)}`].join('  ');
}

/** A store whose streams of `key` count their bytes into `listener`, at most every {@link REDRAW_MS}. */
function countingReads(store: VaultStore, key: string | readonly string[], phase: string, listener: (progress: ProgressReport) => void): VaultStore {
  // A multi-part payload (vault format 1.1) is read as several objects, some at once: their bytes add up.
  const keys = new Set(typeof key === 'string' ? [key] : key);
  let started: number | undefined;
  let bytes = 0;
  let last = 0;
  const getStream: VaultStore['getStream'] = async (asked) => {
    const stream = await store.getStream(asked);
    if (!keys.has(asked)) return stream;
    started ??= Date.now();
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        const now = Date.now();
        if (now - last >= REDRAW_MS) {
          last = now;
          listener({ phase, storedBytes: bytes, elapsedMs: now - started!, done: false });
        }
        callback(null, chunk);
      },
    });
    stream.once('error', (error) => counter.destroy(error));
    counter.once('close', () => {
      if (!stream.destroyed) stream.destroy();
    });
    return stream.pipe(counter);
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'getStream') return getStream;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
