/**
 * Per-stage throughput: each part of Lifeboat's pipeline alone, in this process, over the real dump
 * (so the data is the bench database's own), to find which stage bounds the whole. All rates are in
 * uncompressed dump bytes per second. Chunks are 64 KiB, the size a pipe from pg_dump delivers.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Transform, type TransformCallback, Writable, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressStream, createDecompressStream, zstdImplementation } from '../functions/lib/codec/zstd.ts';
import { backupEncryptionContext, createDecryptStream, createEncryptStream } from '../functions/lib/crypto/envelope.ts';
import type { BackupKeyring } from '../functions/lib/crypto/keyring.ts';
import { sampleCpu } from './server.ts';

const CHUNK = 64 * 1024;

export interface StageResult {
  readonly stage: string;
  readonly seconds: number;
  /** Uncompressed dump bytes per second. */
  readonly rawBytesPerSecond: number;
  readonly outBytes: number;
  /** Machine-wide busy cores while it ran. */
  readonly busyCores: number;
  /** CPU seconds this Node process used (all threads): less disturbed by other load than wall time. */
  readonly nodeCpuSeconds: number;
}

class Sha256Pass extends Transform {
  readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

function countingSink(): { stream: Writable; bytes: () => number } {
  let bytes = 0;
  return {
    stream: new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback();
      },
    }),
    bytes: () => bytes,
  };
}

async function timeStage(
  stage: string,
  rawBytes: number,
  source: () => Readable,
  stages: () => Duplex[],
): Promise<StageResult> {
  const sink = countingSink();
  const cpu = sampleCpu();
  const nodeCpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await pipeline([source(), ...stages(), sink.stream]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(nodeCpu);
  return {
    nodeCpuSeconds: (used.user + used.system) / 1e6,
    stage,
    seconds,
    rawBytesPerSecond: rawBytes / seconds,
    outBytes: sink.bytes(),
    busyCores: cpu.busyCores(),
  };
}

/** Runs `command` and streams its stdout into this process, as the engine does with pg_dump. */
function spawnStdout(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Readable {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
  const out = new PassThrough({ highWaterMark: CHUNK });
  child.stdout.pipe(out, { end: false });
  child.once('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new Error(`${command} exited with ${code}: ${stderr.trim()}`));
  });
  child.once('error', (error) => out.destroy(error));
  return out;
}

export interface StageInputs {
  /** An uncompressed custom-format dump of the bench database. */
  readonly dumpFile: string;
  readonly rawBytes: number;
  readonly keyring: BackupKeyring;
  /** pg_dump arguments for the bench database (as the engine runs it, without the snapshot). */
  readonly pgDumpArgs: readonly string[];
  readonly pgEnv: NodeJS.ProcessEnv;
  /** A payload file from a Lifeboat backup of the same database, for the restore-side stages. */
  readonly storedPayload?: { readonly file: string; readonly encryptionContext: Record<string, string> };
  readonly log: (line: string) => void;
  /** Called before each stage (waits for the machine to be quiet). */
  readonly settle?: () => Promise<void>;
}

export async function measureStages(inputs: StageInputs): Promise<StageResult[]> {
  const { dumpFile, rawBytes, keyring } = inputs;
  const context = backupEncryptionContext('bench', 'bench-stages');
  const fromFile = (): Readable => createReadStream(dumpFile, { highWaterMark: CHUNK });
  const impl = zstdImplementation();
  const results: StageResult[] = [];
  const run = async (...args: Parameters<typeof timeStage>): Promise<StageResult> => {
    inputs.log(`stage: ${args[0]}`);
    await inputs.settle?.();
    const result = await timeStage(...args);
    results.push(result);
    return result;
  };

  await run('read dump file (page cache)', rawBytes, fromFile, () => []);
  await run('sha256', rawBytes, fromFile, () => [new Sha256Pass()]);
  await run(`zstd -1 (${impl})`, rawBytes, fromFile, () => [createCompressStream()]);
  await run('encrypt (AES-256-GCM, 1 MiB frames)', rawBytes, fromFile, () => [createEncryptStream(keyring, context)]);
  await run('zstd -1 → encrypt → sha256 (Node part of backup)', rawBytes, fromFile, () => [
    createCompressStream(),
    createEncryptStream(keyring, context),
    new Sha256Pass(),
  ]);
  await run('pg_dump → pipe into Node (no processing)', rawBytes, () => spawnStdout('pg_dump', inputs.pgDumpArgs, inputs.pgEnv), () => []);
  await run(
    'pg_dump → zstd → encrypt → sha256 (no store, no row counts)',
    rawBytes,
    () => spawnStdout('pg_dump', inputs.pgDumpArgs, inputs.pgEnv),
    () => [createCompressStream(), createEncryptStream(keyring, context), new Sha256Pass()],
  );
  if (inputs.storedPayload) {
    // Restore side, rated in raw bytes too: a payload Lifeboat stored, read back from the vault.
    const { file, encryptionContext } = inputs.storedPayload;
    const fromVault = (): Readable => createReadStream(file, { highWaterMark: CHUNK });
    await run('vault payload → sha256 → decrypt (restore side)', rawBytes, fromVault, () => [
      new Sha256Pass(),
      createDecryptStream(keyring, encryptionContext),
    ]);
    await run('vault payload → sha256 → decrypt → zstd -d (restore side)', rawBytes, fromVault, () => [
      new Sha256Pass(),
      createDecryptStream(keyring, encryptionContext),
      createDecompressStream(),
    ]);
  }
  return results;
}
