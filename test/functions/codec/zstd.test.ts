import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  createCompressStream,
  createDecompressStream,
  DEFAULT_ZSTD_LEVEL,
  zstdImplementation,
} from '../../../functions/lib/codec/zstd.ts';
import { DecompressionFailedError } from '../../../functions/lib/errors.ts';

// Buffers are compared with .equals(): vitest's deep equality walks megabytes byte by byte.
async function run(input: Buffer | Buffer[], ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline([
    Readable.from(Array.isArray(input) ? input : [input]),
    ...stages,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  ] as never);
  return Buffer.concat(chunks);
}

function hasZstdTool(): boolean {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Text that compresses like a dump: repetitive rows with some variety. */
function dumpLike(rows: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(`${i}\tcustomer ${i % 97}\t${(i * 7919) % 100003}.25\t2026-11-22 05:33:27+00\t{"sku":"S-${i % 9000}"}`);
  return Buffer.from(lines.join('\n'));
}

describe('zstd codec', () => {
  it('uses the built-in zstd when Node has it, else zstd-napi', () => {
    const builtIn = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';
    expect(zstdImplementation()).toBe(builtIn ? 'node:zlib' : 'zstd-napi');
    expect(DEFAULT_ZSTD_LEVEL).toBe(1);
  });

  it('round-trips text and incompressible bytes, whatever the chunking', async () => {
    const text = dumpLike(50_000);
    const noise = randomBytes(3_000_000);
    for (const input of [text, noise, Buffer.alloc(0)]) {
      const compressed = await run(input, createCompressStream());
      expect((await run(compressed, createDecompressStream())).equals(input)).toBe(true);
      // Compressed bytes fed back in tiny pieces.
      const pieces: Buffer[] = [];
      for (let i = 0; i < compressed.length; i += 777) pieces.push(compressed.subarray(i, i + 777));
      expect((await run(pieces, createDecompressStream())).equals(input)).toBe(true);
    }
    expect((await run(text, createCompressStream())).length).toBeLessThan(text.length / 3);
  });

  it('writes standard zstd frames with a checksum (the zstd tool reads them)', async () => {
    const input = dumpLike(10_000);
    const compressed = await run(input, createCompressStream({ level: 3 }));
    expect(compressed.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    // Frame header descriptor: bit 2 is the content checksum flag.
    expect(compressed[4]! & 0x04).toBe(0x04);
    // Read back by the zstd tool when the machine has it, else by the addon's one-shot decoder (another code path).
    const decoded = hasZstdTool()
      ? execFileSync('zstd', ['-d', '-c'], { input: compressed })
      : (createRequire(import.meta.url)('zstd-napi') as { decompress(b: Buffer): Buffer }).decompress(compressed);
    expect(decoded.equals(input)).toBe(true);
  });

  it('fails corrupted, truncated or foreign input with DecompressionFailedError', async () => {
    const input = dumpLike(20_000);
    const compressed = await run(input, createCompressStream());
    const flipped = Buffer.from(compressed);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x10;
    const cases = [flipped, compressed.subarray(0, compressed.length - 10), Buffer.from('definitely not zstd at all')];
    for (const bad of cases) {
      const error = await run(bad, createDecompressStream()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DecompressionFailedError);
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
  });
});
