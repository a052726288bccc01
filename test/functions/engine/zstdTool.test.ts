/**
 * zstd as a child process (engine/zstdTool.ts) and the stages around it: the real `zstd` command, its summary,
 * the hold-back that keeps a restore tool from finishing before the checks upstream, and how its failures are
 * named.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCompressStream, createDecompressStream } from '../../../functions/lib/codec/zstd.ts';
import { HoldBackTail } from '../../../functions/lib/engine/streams.ts';
import {
  detectZstdRunner,
  parseSummary,
  resolveZstdRunner,
  spawnZstdCompress,
  spawnZstdDecompress,
  supportedVersion,
} from '../../../functions/lib/engine/zstdTool.ts';
import { DecompressionFailedError, DumpFailedError } from '../../../functions/lib/errors.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'lifeboat-zstd-tool-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Text with some repetition, so it compresses, and random words, so it is not trivial. */
function sampleText(bytes: number): Buffer {
  const words = Array.from({ length: 500 }, () => randomBytes(3 + (randomBytes(1)[0]! % 6)).toString('hex'));
  const out: string[] = [];
  let length = 0;
  while (length < bytes) {
    const word = words[randomBytes(2).readUInt16LE(0) % words.length]!;
    out.push(word);
    length += word.length + 1;
  }
  return Buffer.from(out.join(' ')).subarray(0, bytes);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('finding the zstd command', () => {
  it('accepts 1.4.0 and later, refuses older or unreadable versions', () => {
    expect(supportedVersion('*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***')).toBe(true);
    expect(supportedVersion('*** zstd command line interface 64-bits v1.4.0, by Yann Collet ***')).toBe(true);
    expect(supportedVersion('*** zstd command line interface 64-bits v1.3.8, by Yann Collet ***')).toBe(false);
    expect(supportedVersion('v2.0.0')).toBe(true);
    expect(supportedVersion('v1.10.0')).toBe(true);
    expect(supportedVersion('v10.0.0')).toBe(true);
    expect(supportedVersion('v1.4.10')).toBe(true);
    expect(supportedVersion('v1.3.10')).toBe(false);
    expect(supportedVersion('v0.9.9')).toBe(false);
    expect(supportedVersion('zstd, no version here')).toBe(false);
  });

  it('uses the command when it is installed here (CI installs it), and the runner asked for wins', async () => {
    expect(await detectZstdRunner()).toBe('process');
    expect(await resolveZstdRunner(undefined)).toBe('process');
    expect(await resolveZstdRunner('in-process')).toBe('in-process');
  });

  it('reads both sizes from the last summary line, padded or not', () => {
    expect(parseSummary('/*stdin*\\            : 31.76%   (  6241 B =>   1982 B, /*stdout*\\) \n')).toEqual({ raw: 6241, compressed: 1982 });
    expect(parseSummary('x (5 B => 6 B, a)\n/*stdin*\\ :  0.09%   (300588895 B => 259106 B, /*stdout*\\) ')).toEqual({ raw: 300588895, compressed: 259106 });
    // zstd's human-readable sizes (its summary at lower verbosity) are not exact: never read as bytes.
    expect(parseSummary('/*stdin*\\ : 37.33%   (   945 MiB =>    353 MiB, /*stdout*\\)')).toBeUndefined();
    expect(parseSummary('')).toBeUndefined();
  });
});

describe('zstd compressing a dump tool\'s output', () => {
  it('records the exact raw size, and its frames open with the in-process codec', async () => {
    const input = sampleText(3_000_000 + 17);
    const file = path.join(work, 'input.txt');
    await pipeline(Readable.from([input]), (await import('node:fs')).createWriteStream(file));
    const zstd = spawnZstdCompress(1);
    // The producer writes straight into zstd's pipe, as the dump tool does: nothing passes through this process.
    const producer = spawn('cat', [file], { stdio: ['ignore', zstd.input, 'ignore'] });
    const producerClosed = new Promise((resolve) => producer.once('close', resolve));
    zstd.closeInput();
    const compressed = await collect(zstd.output);
    await producerClosed;
    expect((await zstd.tool.exited).code).toBe(0);
    expect(zstd.rawBytes(compressed.length)).toBe(input.length);
    expect(compressed.length).toBeLessThan(input.length);
    expect((await collect(Readable.from([compressed]).pipe(createDecompressStream()))).equals(input)).toBe(true);
  });

  it('fails the backup when the compressed size zstd reports is not what Lifeboat received', async () => {
    const zstd = spawnZstdCompress(1);
    const producer = spawn('printf', ['hello'], { stdio: ['ignore', zstd.input, 'ignore'] });
    const producerClosed = new Promise((resolve) => producer.once('close', resolve));
    zstd.closeInput();
    const compressed = await collect(zstd.output);
    await producerClosed;
    await zstd.tool.exited;
    expect(zstd.rawBytes(compressed.length)).toBe(5);
    expect(() => zstd.rawBytes(compressed.length + 1)).toThrow(DumpFailedError);
    expect(() => zstd.rawBytes(compressed.length + 1)).toThrow(/zstd reported \d+ compressed bytes, but Lifeboat received \d+/);
  });

  it('fails the backup when zstd ends without its summary (it was killed), saying what it printed', async () => {
    const zstd = spawnZstdCompress(1);
    // Its input still open, zstd waits for more: killed there, it never prints its summary.
    zstd.tool.kill();
    zstd.closeInput();
    await collect(zstd.output);
    await zstd.tool.exited;
    expect(() => zstd.rawBytes(0)).toThrow(/^zstd did not report the sizes it compressed \(its output ended: ".*"\)$/s);
  });
});

describe('zstd decompressing into a restore tool', () => {
  /** Decompresses `frame` through HoldBackTail into `cat > out`, writing it all but ending upstream only when told. */
  async function holdBackRun(frame: Buffer) {
    const out = path.join(work, `out-${randomBytes(4).toString('hex')}`);
    const sink = spawn('sh', ['-c', `cat > '${out}'`], { stdio: ['pipe', 'ignore', 'ignore'] });
    const sinkClosed = new Promise((resolve) => sink.once('close', resolve));
    const zstd = spawnZstdDecompress(sink.stdin);
    sink.stdin.destroy();
    const upstream = new PassThrough();
    const done = pipeline(upstream, new HoldBackTail(64 * 1024), zstd.input);
    // Everything but the end: in chunks of 16 KiB, as a store would deliver them.
    for (let offset = 0; offset < frame.length; offset += 16 * 1024) upstream.write(frame.subarray(offset, offset + 16 * 1024));
    return { out, zstd, sinkClosed, upstream, done };
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

  const shapes = [
    ['compressible text', () => sampleText(1_000_000)],
    ['incompressible bytes, stored as raw blocks', () => randomBytes(1_000_000)],
    ['an exact multiple of the 128 KiB block size, ending in an empty last block', () => sampleText(8 * 128 * 1024)],
  ] as const;

  for (const [name, make] of shapes) {
    it(`an upstream that fails after its last byte leaves the restore tool short of the end: ${name}`, async () => {
      const input = make();
      const frame = await collect(Readable.from([input]).pipe(createCompressStream()));
      const run = await holdBackRun(frame);
      await settle();
      // Every byte has been written: only the end-of-stream checks remain, and they fail. zstd then sees its
      // input end without the withheld tail.
      run.upstream.destroy(new Error('checksum mismatch upstream'));
      await expect(run.done).rejects.toThrow(/checksum mismatch upstream/);
      await run.sinkClosed;
      expect((await stat(run.out)).size).toBeLessThan(input.length);
    });

    it(`an upstream that ends cleanly gives the restore tool every byte: ${name}`, async () => {
      const input = make();
      const frame = await collect(Readable.from([input]).pipe(createCompressStream()));
      const run = await holdBackRun(frame);
      run.upstream.end();
      await run.done;
      await run.sinkClosed;
      expect(await run.zstd.failure()).toBeUndefined();
      expect((await readFile(run.out)).equals(input)).toBe(true);
    });
  }

  it('Lifeboat stopping zstd is not a decompression failure', async () => {
    const input = sampleText(1_000_000);
    const frame = await collect(Readable.from([input]).pipe(createCompressStream()));
    const run = await holdBackRun(frame);
    await settle();
    run.zstd.kill();
    run.upstream.destroy(new Error('stopped'));
    await run.done.catch(() => {});
    await run.sinkClosed;
    expect((await stat(run.out)).size).toBeLessThan(input.length);
    expect(await run.zstd.failure()).toBeUndefined();
  });

  it('zstd killed by anyone else (the out-of-memory killer) is a DecompressionFailedError naming the signal', async () => {
    const frame = await collect(Readable.from([sampleText(1_000_000)]).pipe(createCompressStream()));
    const run = await holdBackRun(frame);
    await settle();
    process.kill(run.zstd.tool.child.pid!, 'SIGKILL');
    run.upstream.end();
    await run.done.catch(() => {});
    const failure = await run.zstd.failure();
    expect(failure).toBeInstanceOf(DecompressionFailedError);
    expect(failure!.message).toBe('zstd decompression failed: zstd was killed by SIGKILL');
  });

  it('a damaged frame is a DecompressionFailedError with what zstd said', async () => {
    const sink = spawn('sh', ['-c', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const zstd = spawnZstdDecompress(sink.stdin);
    sink.stdin.destroy();
    await pipeline(Readable.from([Buffer.from('this is not a zstd frame at all')]), zstd.input).catch(() => {});
    const failure = await zstd.failure();
    expect(failure).toBeInstanceOf(DecompressionFailedError);
    expect(failure!.message).toMatch(/^zstd decompression failed: zstd exited with code 1: .*(unknown header|unsupported format|not in zstd format)/i);
  });

  it('HoldBackTail refuses to withhold fewer bytes than a frame may end with', () => {
    expect(() => new HoldBackTail(7)).toThrow(RangeError);
    expect(() => new HoldBackTail(8)).not.toThrow();
  });
});

describe('HoldBackTail', () => {
  it('releases a chunk only while at least the tail stays held, and everything at the end', async () => {
    const stage = new HoldBackTail(100);
    const released: number[] = [];
    stage.on('data', (chunk: Buffer) => released.push(chunk.length));
    const write = (n: number) => new Promise<void>((resolve) => stage.write(Buffer.alloc(n), () => resolve()));
    await write(60);
    await write(60);
    expect(released).toEqual([]); // 120 held, but releasing 60 would leave 60 < 100
    await write(50);
    expect(released).toEqual([60]); // 110 stay held
    await write(200);
    expect(released).toEqual([60, 60, 50]); // the newest 200 cover the tail alone
    await new Promise<void>((resolve) => stage.end(() => resolve()));
    expect(released).toEqual([60, 60, 50, 200]);
  });

  it('never releases the last bytes early, whatever the chunk sizes', async () => {
    for (let trial = 0; trial < 50; trial++) {
      const stage = new HoldBackTail(1000);
      let written = 0;
      let released = 0;
      stage.on('data', (chunk: Buffer) => (released += chunk.length));
      for (let i = 0; i < 40; i++) {
        const n = 1 + (randomBytes(2).readUInt16LE(0) % 700);
        await new Promise<void>((resolve) => stage.write(Buffer.alloc(n), () => resolve()));
        written += n;
        expect(written - released).toBeGreaterThanOrEqual(Math.min(1000, written));
      }
      await new Promise<void>((resolve) => stage.end(() => resolve()));
      expect(released).toBe(written);
    }
  });
});
