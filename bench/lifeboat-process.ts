/**
 * One Lifeboat backup or restore in a process of its own, so the bench reads Lifeboat's own peak RSS
 * (`process.resourceUsage().maxRSS` covers this process only, not pg_dump or the bench driver).
 * The job arrives as JSON on stdin (it may hold a connection URL with a password); the result leaves as
 * one JSON line on stdout. Run by run.ts; not meant to be run by hand.
 */
import path from 'node:path';
import { keyringFromKeyFile } from '../functions/lib/crypto/keyring.ts';
import { parseConnectionUrl } from '../functions/lib/engine/connection.ts';
import { payloadKey } from '../functions/lib/vault/layout.ts';
import { LocalStore } from '../functions/lib/vault/localStore.ts';

/** `jobs`: streams of a parallel PostgreSQL backup or restore (1: the single-stream pipeline). */
export type LifeboatJob =
  | { kind: 'backup'; sourceUrl: string; sourceId: string; vaultDir: string; keyFile: string; jobs: number }
  | { kind: 'restore'; targetUrl: string; sourceId: string; backupId: string; vaultDir: string; keyFile: string; jobs: number };

export interface LifeboatJobResult {
  /** Time inside runBackup / runRestore (process start-up and module loading excluded). */
  readonly seconds: number;
  /** Peak resident set of this process over its whole life. */
  readonly maxRssBytes: number;
  /** Resident set just before the job started: modules loaded, nothing streamed yet. */
  readonly startRssBytes: number;
  /** CPU this process used during the job (all its threads). */
  readonly cpuSeconds: number;
  readonly backupId?: string;
  readonly rawBytes?: number;
  readonly storedBytes?: number;
  /** The stored payload as a file in the local vault, and the context it was encrypted under. */
  readonly payloadFile?: string;
  readonly encryptionContext?: Record<string, string>;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

type Measured = Omit<LifeboatJobResult, 'seconds' | 'maxRssBytes' | 'startRssBytes' | 'cpuSeconds'>;

// Each job imports only its own side of the engine, as the dump Lambda never loads the restore code.
async function backup(job: Extract<LifeboatJob, { kind: 'backup' }>, measure: Measure): Promise<Measured> {
  const { runBackup } = await import('../functions/lib/engine/backup.ts');
  const keyring = await keyringFromKeyFile(job.keyFile);
  const store = new LocalStore(job.vaultDir);
  const source = parseConnectionUrl(job.sourceUrl);
  const { manifest } = await measure(() => runBackup({ source, sourceId: job.sourceId, store, keyring, jobs: job.jobs }));
  return {
    backupId: manifest.backupId,
    rawBytes: manifest.payload.rawBytes,
    storedBytes: manifest.payload.storedBytes,
    // The per-stage table reads a single-stream payload; a multi-part one has no one file.
    ...(manifest.payload.parts
      ? {}
      : {
          payloadFile: path.join(job.vaultDir, ...payloadKey(job.sourceId, manifest.backupId).split('/')),
          encryptionContext: manifest.encryption.encryptionContext,
        }),
  };
}

async function restore(job: Extract<LifeboatJob, { kind: 'restore' }>, measure: Measure): Promise<Measured> {
  const { runRestore } = await import('../functions/lib/engine/restore.ts');
  const keyring = await keyringFromKeyFile(job.keyFile);
  const store = new LocalStore(job.vaultDir);
  const target = parseConnectionUrl(job.targetUrl);
  await measure(() => runRestore({ store, sourceId: job.sourceId, backupId: job.backupId, keyring, target, jobs: job.jobs }));
  return {};
}

type Measure = <T>(work: () => Promise<T>) => Promise<T>;

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as LifeboatJob;
  let timing: Pick<LifeboatJobResult, 'seconds' | 'startRssBytes' | 'cpuSeconds'> | undefined;
  const measure: Measure = async (work) => {
    const startRssBytes = process.memoryUsage().rss;
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    const value = await work();
    const cpu = process.cpuUsage(cpuBefore);
    timing = {
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
      startRssBytes,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
    return value;
  };
  const measured = job.kind === 'backup' ? await backup(job, measure) : await restore(job, measure);
  if (!timing) throw new Error('the job ran nothing');
  // resourceUsage().maxRSS is in KiB on Linux: the peak over this process's whole life.
  const output: LifeboatJobResult = { ...measured, ...timing, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exitCode = 1;
});
