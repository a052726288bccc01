/**
 * What the DR and air-gapped copies share about S3 copies: CopyObject's limit, part ranges within S3's part-size and
 * part-count limits, how a copy names its source, and how an S3 error reads in a message.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** CopyObject's limit; larger objects need a multipart copy. */
export const MAX_SINGLE_COPY_BYTES = 5 * GiB;
const MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * GiB;
const MAX_PARTS = 10_000;

/** Inclusive byte ranges of at least `partSize` bytes (the last may be smaller), never more than 10,000. */
export function partRanges(size: number, partSize: number): { start: number; end: number }[] {
  if (!Number.isInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) {
    throw new RangeError(`partSize must be an integer from 5 MiB to 5 GiB, got ${partSize}`);
  }
  // Grown in whole MiB so the ranges stay readable in logs.
  const size_ = Math.max(partSize, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < size; start += size_) ranges.push({ start, end: Math.min(start + size_, size) - 1 });
  return ranges;
}

/** `bucket/key`, each key segment URL-encoded as CopySource requires. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** `Name: message` of an error, for a message that says what S3 answered. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
