/**
 * The two ends of the payload pipelines (dumpPipeline.ts, restorePipeline.ts) on their own, with small shell
 * commands standing in for pg_dump and pg_restore: which way zstd runs, what each way counts, and how a dump
 * tool's failure is named.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCompressStream, createDecompressStream } from '../../../functions/lib/codec/zstd.ts';
import { startDump } from '../../../functions/lib/engine/dumpPipeline.ts';
import { startRestoreTool } from '../../../functions/lib/engine/restorePipeline.ts';
import { HoldBackTail } from '../../../functions/lib/engine/streams.ts';
import { probeZstdRunner } from '../../../functions/lib/engine/zstdTool.ts';
import { DumpFailedError } from '../../../functions/lib/errors.ts';
import { childPids } from './helpers.ts';

let work: string;
let input: Buffer;
let inputFile: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'lifeboat-pipeline-ends-'));
  // Half random, half repetitive: compresses, and differently at different levels.
  input = Buffer.concat([randomBytes(200_000), Buffer.from('lifeboat '.repeat(100_000))]);
  inputFile = path.join(work, 'dump.bin');
  await writeFile(inputFile, input);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const dumpFailed = (exit: string, stderr: string) => new DumpFailedError(`fake dump failed: ${exit}: ${stderr}`);

/** Runs startDump over `sh -c script` and returns the compressed bytes (or the error) and the front. */
async function dump(script: string, options: { zstd: 'process' | 'in-process'; level?: number; inspector?: Transform }) {
  let ticks = 0;
  const front = await startDump({
    command: 'sh',
    args: ['-c', script],
    env: {},
    level: options.level ?? 1,
    zstd: options.zstd,
    inspector: options.inspector,
    dumpFailed,
    onChunk: () => ticks++,
  });
  const out = new PassThrough();
  const collected = collect(out);
  collected.catch(() => {}); // a failed pipeline destroys `out`: its error is the pipeline's, reported below
  const result: { bytes?: Buffer; error?: Error } = await pipeline([...front.stages, out]).then(
    async () => ({ bytes: await collected }),
    (error: unknown) => ({ error: error as Error }),
  );
  await Promise.all(front.tools.map((tool) => tool.exited));
  return { front, ticks, ...result };
}

describe('the front of a dump pipeline', () => {
  for (const zstd of ['process', 'in-process'] as const) {
    it(`${zstd}: compresses the dump tool's output and counts its raw bytes exactly`, async () => {
      const run = await dump(`cat '${inputFile}'`, { zstd });
      expect(run.front.runner).toBe(zstd);
      // One process (the dump tool), or two (and zstd).
      expect(run.front.tools).toHaveLength(zstd === 'process' ? 2 : 1);
      expect(run.bytes).toBeDefined();
      expect((await collect(Readable.from([run.bytes!]).pipe(createDecompressStream()))).equals(input)).toBe(true);
      expect(run.front.rawBytes()).toBe(input.length);
      // Progress ends on the exact figure, however it was read while the bytes flowed.
      expect(run.front.rawBytesSoFar()).toBe(input.length);
      expect(run.ticks).toBeGreaterThan(0);
    });

    it(`${zstd}: the level asked for is the level used`, async () => {
      const fast = await dump(`cat '${inputFile}'`, { zstd, level: 1 });
      const small = await dump(`cat '${inputFile}'`, { zstd, level: 19 });
      expect(small.bytes!.length).toBeLessThan(fast.bytes!.length);
    });

    it(`${zstd}: a dump tool that fails fails the pipeline with the caller's error, its exit and its stderr`, async () => {
      const run = await dump(`cat '${inputFile}'; echo 'could not dump' >&2; exit 3`, { zstd });
      expect(run.error).toBeInstanceOf(DumpFailedError);
      expect(run.error!.message).toBe('fake dump failed: sh exited with code 3: could not dump');
    });
  }

  it('an inspector that must see the raw dump keeps zstd in this process, and sees every byte', async () => {
    let seen = 0;
    const inspector = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.length;
        callback(null, chunk);
      },
    });
    const run = await dump(`cat '${inputFile}'`, { zstd: 'process', inspector });
    expect(run.front.runner).toBe('in-process');
    expect(run.front.tools).toHaveLength(1);
    expect(seen).toBe(input.length);
    expect(run.front.rawBytes()).toBe(input.length);
  });

  it('reads the raw bytes zstd has taken in while it runs, from /proc, and never goes back', async () => {
    const front = await startDump({ command: 'sh', args: ['-c', `cat '${inputFile}'; sleep 1`], env: {}, level: 1, zstd: 'process', dumpFailed, onChunk: () => {} });
    const out = new PassThrough();
    const collected = collect(out);
    const done = pipeline([...front.stages, out]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const during = front.rawBytesSoFar();
    // zstd has read the whole input (and a few KiB of its own start-up) by now; the dump tool still runs.
    expect(during).toBeGreaterThanOrEqual(input.length);
    expect(during).toBeLessThan(input.length + 1024 * 1024);
    await done;
    await collected;
    expect(front.rawBytesSoFar()).toBeGreaterThanOrEqual(during);
    expect(front.rawBytes()).toBe(input.length);
  });
});

describe('the back of a restore pipeline', () => {
  for (const zstd of ['process', 'in-process'] as const) {
    it(`${zstd}: decompresses into the restore tool, counting the raw bytes it was given`, async () => {
      const frame = await collect(Readable.from([input]).pipe(createCompressStream()));
      const into = path.join(work, `restored-${zstd}`);
      const before = await childPids('zstd');
      const back = await startRestoreTool({ command: 'sh', args: ['-c', `cat > '${into}'`], env: {}, zstd, onChunk: () => {} });
      const feed = new PassThrough();
      const pumped = pipeline([feed, ...back.stages] as [Readable, ...Writable[]]);
      feed.write(frame);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Progress moves while the bytes flow. With zstd as a process it counts what reached the restore tool: all
      // but the withheld tail. In-process it counts what was decompressed, before the last chunk is held back.
      const during = back.rawBytesSoFar();
      expect(during).toBeGreaterThan(0);
      if (zstd === 'process') expect(during).toBeLessThan(input.length);
      else expect(during).toBe(input.length);
      feed.end();
      await pumped;
      const { exit, decompression } = await back.settled();
      expect(back.runner).toBe(zstd);
      expect(exit.code).toBe(0);
      expect(decompression).toBeUndefined();
      expect((await readFile(into)).equals(input)).toBe(true);
      expect(back.rawBytesSoFar()).toBeGreaterThanOrEqual(during);
      if (zstd === 'in-process') {
        expect(back.rawBytesSoFar()).toBe(input.length);
        expect(await childPids('zstd')).toEqual(before);
      }
    });

    it(`${zstd}: kill() stops the restore tool before it has its input`, async () => {
      const back = await startRestoreTool({ command: 'sh', args: ['-c', 'cat > /dev/null'], env: {}, zstd, onChunk: () => {} });
      const feed = new PassThrough();
      const pumped = pipeline([feed, ...back.stages] as [Readable, ...Writable[]]).catch(() => {});
      feed.write(await collect(Readable.from([input]).pipe(createCompressStream())));
      back.kill();
      const { exit, decompression } = await back.settled();
      feed.destroy();
      await pumped;
      expect(exit.signal).toBe('SIGKILL');
      // Stopping zstd is not a decompression failure.
      expect(decompression).toBeUndefined();
    });
  }
});

describe('finding zstd', () => {
  it('falls back to the in-process codec when the command is missing or too old', async () => {
    expect(await probeZstdRunner('zstd')).toBe('process');
    expect(await probeZstdRunner('lifeboat-no-such-zstd')).toBe('in-process');
    // `true --version` prints nothing a version can be read from.
    expect(await probeZstdRunner('true')).toBe('in-process');
  });

  it('HoldBackTail says what is wrong with a tail too short to hold a frame\'s end', () => {
    expect(() => new HoldBackTail(7)).toThrow('HoldBackTail needs at least 8 bytes to withhold, not 7');
  });
});
