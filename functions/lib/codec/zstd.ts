/**
 * zstd compression streams for backup payloads.
 *
 * zstd level 1 is the only codec measured here that outruns pg_dump (~270 MB/s per core against
 * gzip -1's ~60 MB/s), so it keeps compression off the critical path. Node ≥ 22.15 (and Lambda's
 * Node 22 runtime) ship zstd in `node:zlib`, which runs on the libuv thread pool; on older Node we
 * fall back to the `zstd-napi` binding (an optional dependency, built by node-gyp on `npm ci`), which
 * compresses on the calling thread.
 */
import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { DecompressionFailedError, LifeboatError } from '../errors.ts';

/** Level used for every backup unless told otherwise; see the module comment for why. */
export const DEFAULT_ZSTD_LEVEL = 1;

/** Which implementation this process uses: Node's own zlib binding, or the zstd-napi addon. */
export type ZstdImplementation = 'node:zlib' | 'zstd-napi';

// The zstd members of node:zlib are absent from @types/node 20; describe only what we call.
interface NodeZlibZstd {
  createZstdCompress(options: { params: Record<number, number> }): Transform;
  createZstdDecompress(): Transform;
  constants: Record<string, number>;
}
interface ZstdNapi {
  CompressStream: new (parameters: { compressionLevel?: number; checksumFlag?: boolean }) => Transform;
  DecompressStream: new () => Transform;
}

const nodeZstd: NodeZlibZstd | undefined =
  typeof (zlib as Partial<NodeZlibZstd>).createZstdCompress === 'function' ? (zlib as unknown as NodeZlibZstd) : undefined;

let napi: ZstdNapi | undefined;
function loadNapi(): ZstdNapi {
  // Loaded lazily, and an optional dependency: a runtime with built-in zstd never needs the native addon.
  if (!napi) {
    try {
      napi = createRequire(import.meta.url)('zstd-napi') as ZstdNapi;
    } catch (cause) {
      throw new Error(
        `zstd needs Node.js ≥ 22.15 (built-in) or the zstd-napi addon, which did not load on Node.js ${process.version}; ` +
          'reinstall with build tools present (npm ci builds it with node-gyp)',
        { cause },
      );
    }
  }
  return napi;
}

/** The implementation used by {@link createCompressStream} and {@link createDecompressStream}. */
export function zstdImplementation(options: { preferNative?: boolean } = {}): ZstdImplementation {
  return nodeZstd && options.preferNative !== false ? 'node:zlib' : 'zstd-napi';
}

export interface CompressOptions {
  /** @default 1 */
  readonly level?: number;
  /** Force an implementation (for measurement and tests). @default the built-in one when present */
  readonly implementation?: ZstdImplementation;
}

/**
 * A Transform that zstd-compresses its input as one frame with a content checksum, so a corrupted
 * payload is detected by the codec itself and not only by the layers around it.
 */
export function createCompressStream(options: CompressOptions = {}): Transform {
  const level = options.level ?? DEFAULT_ZSTD_LEVEL;
  const implementation = options.implementation ?? zstdImplementation();
  if (implementation === 'node:zlib') {
    if (!nodeZstd) throw new Error('node:zlib has no zstd in this Node.js version');
    const c = nodeZstd.constants;
    return nodeZstd.createZstdCompress({
      params: { [c.ZSTD_c_compressionLevel as number]: level, [c.ZSTD_c_checksumFlag as number]: 1 },
    });
  }
  const { CompressStream } = loadNapi();
  return new CompressStream({ compressionLevel: level, checksumFlag: true });
}

/**
 * A Transform that decompresses zstd input; corrupted or truncated input fails the stream with
 * {@link DecompressionFailedError} (the library's own error kept as `cause`).
 */
export function createDecompressStream(options: { implementation?: ZstdImplementation } = {}): Transform {
  const implementation = options.implementation ?? zstdImplementation();
  let stream: Transform;
  if (implementation === 'node:zlib') {
    if (!nodeZstd) throw new Error('node:zlib has no zstd in this Node.js version');
    stream = nodeZstd.createZstdDecompress();
  } else {
    const { DecompressStream } = loadNapi();
    stream = new DecompressStream();
  }
  return renameErrors(stream, (cause) =>
    // A named error arriving here is another stage's, handed over by pipeline teardown: keep it.
    cause instanceof LifeboatError || isAbort(cause)
      ? cause
      : new DecompressionFailedError(`zstd decompression failed: ${messageOf(cause)}`, { cause }),
  );
}

/**
 * Every stream error (from _transform, _flush or the native handle) passes through `_destroy`,
 * so wrapping that one method renames the error whichever way it arose.
 */
function renameErrors(stream: Transform, rename: (error: Error) => Error): Transform {
  const destroyImpl = stream._destroy.bind(stream);
  stream._destroy = (error, callback) => {
    destroyImpl(error, (finalError) => callback(finalError ? rename(finalError) : finalError));
  };
  return stream;
}

function isAbort(error: Error): boolean {
  return error.name === 'AbortError' || (error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
