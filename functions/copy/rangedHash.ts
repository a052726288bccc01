/**
 * SHA-256 of a stored object from concurrent ranged GETs. SHA-256 is sequential, so the ranges are hashed
 * strictly in order while up to `concurrency` later ones are fetched ahead: throughput of several
 * connections, memory bounded at about `(concurrency + 1) × rangeBytes` however large the object.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SizeMismatchError } from '../lib/errors.ts';

export interface RangedHashOptions {
  /** Bytes per GET (the last range may be shorter). */
  readonly rangeBytes: number;
  /** GETs in flight at once. */
  readonly concurrency: number;
  /** Every range must come from this version of the object (`If-Match`). */
  readonly etag?: string;
  /** Asked before each new GET; `true` stops the hash with `onStop()`'s error (a runner about to time out). */
  readonly shouldStop?: () => boolean;
  readonly onStop?: (hashedBytes: number) => Error;
  /**
   * Byte ranges (inclusive, contiguous from 0 to the end) to hash separately as well, in the same pass: the parts of
   * a multipart copy, whose SHA-256 S3 reports per part. Their digests come back as `partSha256`.
   */
  readonly parts?: readonly { readonly start: number; readonly end: number }[];
}

/** Hashes `size` bytes of `bucket/key`; fails if any range comes back shorter or longer than asked. */
export async function sha256OfRanges(
  client: Pick<S3Client, 'send'>,
  bucket: string,
  key: string,
  size: number,
  options: RangedHashOptions,
): Promise<{ bytes: number; sha256: string; partSha256?: string[] }> {
  const { rangeBytes, concurrency } = options;
  const parts = options.parts;
  if (parts !== undefined) {
    parts.forEach((part, index) => {
      if (part.start !== (index === 0 ? 0 : parts[index - 1]!.end + 1) || part.end < part.start) throw new RangeError(`parts must be contiguous from byte 0, not ${part.start}-${part.end} at ${index}`);
    });
    if ((parts.at(-1)?.end ?? -1) !== size - 1) throw new RangeError(`parts must end at byte ${size - 1}, the object's last`);
  }
  if (!Number.isInteger(rangeBytes) || rangeBytes < 1) throw new RangeError(`rangeBytes must be a positive integer, got ${rangeBytes}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < size; start += rangeBytes) ranges.push({ start, end: Math.min(start + rangeBytes, size) - 1 });

  // One signal for every GET: the first failure (or a stop) cancels the reads ahead instead of finishing them.
  const controller = new AbortController();
  const fetchRange = async ({ start, end }: { start: number; end: number }): Promise<Uint8Array> => {
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}`, ...(options.etag === undefined ? {} : { IfMatch: options.etag }) }),
      { abortSignal: controller.signal },
    );
    if (!out.Body) throw new TypeError(`GetObject ${key} bytes ${start}-${end} returned no body`);
    const bytes = await out.Body.transformToByteArray();
    if (bytes.byteLength !== end - start + 1) {
      throw new SizeMismatchError(`GetObject ${key} bytes ${start}-${end} returned ${bytes.byteLength} bytes, not ${end - start + 1}`);
    }
    return bytes;
  };

  const ahead: Promise<Uint8Array>[] = [];
  let next = 0;
  const launch = () => {
    const pending = fetchRange(ranges[next++]!);
    // Awaited in order below; until then a rejection must not count as unhandled.
    pending.catch(() => undefined);
    ahead.push(pending);
  };
  const hash = createHash('sha256');
  let bytes = 0;
  const partSha256: string[] = [];
  let partHash = createHash('sha256');
  /** Feeds `chunk` (which starts at `bytes`) to the part hashes, closing each part at its last byte. */
  const hashParts = (chunk: Uint8Array) => {
    let offset = 0;
    while (parts !== undefined && offset < chunk.byteLength) {
      const part = parts[partSha256.length]!;
      const take = Math.min(chunk.byteLength - offset, part.end + 1 - (bytes + offset));
      partHash.update(chunk.subarray(offset, offset + take));
      offset += take;
      if (bytes + offset === part.end + 1) {
        partSha256.push(partHash.digest('hex'));
        partHash = createHash('sha256');
      }
    }
  };
  try {
    while (next < ranges.length && ahead.length < concurrency) launch();
    while (ahead.length > 0) {
      const chunk = await ahead.shift()!;
      if (next < ranges.length) {
        if (options.shouldStop?.()) throw options.onStop?.(bytes) ?? new Error(`Hashing ${key} stopped after ${bytes} bytes`);
        launch();
      }
      hash.update(chunk);
      hashParts(chunk);
      bytes += chunk.byteLength;
    }
  } catch (error) {
    controller.abort();
    throw error;
  }
  return { bytes, sha256: hash.digest('hex'), ...(parts === undefined ? {} : { partSha256 }) };
}
