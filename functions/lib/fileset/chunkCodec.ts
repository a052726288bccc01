/**
 * One chunk compressed as its own zstd frame (with a content checksum), so a restore can decompress any
 * chunk of a pack without the ones before it. Node ≥ 22.15 has zstd in node:zlib; older Node uses the
 * zstd-napi addon, as the stream codec does.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { DecompressionFailedError } from '../errors.ts';

interface ZlibZstdSync {
  zstdCompressSync(data: Uint8Array, options: { params: Record<number, number> }): Buffer;
  zstdDecompressSync(data: Uint8Array): Buffer;
  constants: Record<string, number>;
}
interface ZstdNapiSimple {
  compress(data: Uint8Array, parameters: { compressionLevel?: number; checksumFlag?: boolean }): Buffer;
  decompress(data: Uint8Array): Buffer;
}

const builtIn: ZlibZstdSync | undefined =
  typeof (zlib as Partial<ZlibZstdSync>).zstdCompressSync === 'function' ? (zlib as unknown as ZlibZstdSync) : undefined;
let napi: ZstdNapiSimple | undefined;
function addon(): ZstdNapiSimple {
  napi ??= createRequire(import.meta.url)('zstd-napi') as ZstdNapiSimple;
  return napi;
}

/** Level 1, as for dumps: fast enough to stay off the critical path. */
export const CHUNK_ZSTD_LEVEL = 1;

export function compressChunk(data: Uint8Array, level = CHUNK_ZSTD_LEVEL): Buffer {
  if (builtIn) {
    const c = builtIn.constants;
    return builtIn.zstdCompressSync(data, { params: { [c['ZSTD_c_compressionLevel']!]: level, [c['ZSTD_c_checksumFlag']!]: 1 } });
  }
  return addon().compress(data, { compressionLevel: level, checksumFlag: true });
}

/** Throws `DecompressionFailedError` for a damaged frame; `label` names the chunk in the message. */
export function decompressChunk(data: Uint8Array, label: string): Buffer {
  try {
    return builtIn ? builtIn.zstdDecompressSync(data) : addon().decompress(data);
  } catch (cause) {
    throw new DecompressionFailedError(`${label}: zstd decompression failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
