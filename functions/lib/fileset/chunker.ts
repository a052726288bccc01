/**
 * Content-defined chunking (FastCDC with normalized chunking): a cut falls where a rolling gear hash of
 * the last 32 bytes hits a mask, so an insertion moves only the chunks around it and the rest dedupe.
 * The gear table is derived from the vault's chunk-id key (as restic keys its chunker per repository),
 * so chunk boundaries do not reveal which well-known files a vault holds.
 */
import { createHmac } from 'node:crypto';

export interface ChunkerParameters {
  readonly minBytes: number;
  readonly avgBytes: number;
  readonly maxBytes: number;
}

/** ~1 MiB chunks: big enough to keep the index small, small enough that one changed byte stores ~1 MiB. */
export const DEFAULT_CHUNKING: ChunkerParameters = { minBytes: 256 * 1024, avgBytes: 1024 * 1024, maxBytes: 4 * 1024 * 1024 };

/** 256 pseudo-random 32-bit values from the chunk-id key. */
export function gearTable(chunkIdKey: Uint8Array): Uint32Array {
  const table = new Uint32Array(256);
  // One HMAC per 8 entries: 32 bytes each.
  for (let block = 0; block < 32; block++) {
    const bytes = createHmac('sha256', chunkIdKey).update(`lifeboat-fileset-gear-${block}`).digest();
    for (let i = 0; i < 8; i++) table[block * 8 + i] = bytes.readUInt32BE(i * 4);
  }
  return table;
}

/** A mask of the `bits` highest bits: with a left-shifting gear hash, those bits depend on the most bytes. */
function highBits(bits: number): number {
  return (0xffffffff << (32 - bits)) | 0;
}

/**
 * A streaming chunker: `push` data as it arrives, take the chunks it completes, `finish` for the last one.
 * It holds at most `maxBytes` of data; every chunk it returns is its own copy.
 */
export class Chunker {
  readonly #gear: Uint32Array;
  readonly #min: number;
  readonly #avg: number;
  readonly #max: number;
  readonly #maskSmall: number;
  readonly #maskLarge: number;
  readonly #buffer: Buffer;
  #length = 0;
  #scanned = 0;
  #hash = 0;

  constructor(gear: Uint32Array, parameters: ChunkerParameters = DEFAULT_CHUNKING) {
    const { minBytes, avgBytes, maxBytes } = parameters;
    if (!(minBytes > 0 && minBytes <= avgBytes && avgBytes <= maxBytes)) {
      throw new RangeError(`chunker: expected 0 < minBytes <= avgBytes <= maxBytes, got ${minBytes}/${avgBytes}/${maxBytes}`);
    }
    this.#gear = gear;
    this.#min = minBytes;
    this.#avg = avgBytes;
    this.#max = maxBytes;
    const bits = Math.round(Math.log2(avgBytes));
    // Normalized chunking (FastCDC level 2): harder to cut before the average, easier after it.
    this.#maskSmall = highBits(Math.min(31, bits + 2));
    this.#maskLarge = highBits(Math.max(1, bits - 2));
    this.#buffer = Buffer.allocUnsafe(maxBytes);
  }

  /** Adds `data`; returns the chunks it completed (possibly none). */
  push(data: Uint8Array): Buffer[] {
    const chunks: Buffer[] = [];
    let offset = 0;
    while (offset < data.byteLength) {
      const take = Math.min(this.#max - this.#length, data.byteLength - offset);
      this.#buffer.set(data.subarray(offset, offset + take), this.#length);
      this.#length += take;
      offset += take;
      for (let cut = this.#findCut(); cut > 0; cut = this.#findCut()) chunks.push(this.#emit(cut));
    }
    return chunks;
  }

  /** Forgets any data held, for the next file; the buffer is kept (one 4 MiB allocation per backup, not per file). */
  reset(): void {
    this.#length = 0;
    this.#scanned = 0;
    this.#hash = 0;
  }

  /** The last chunk (whatever is left, shorter than a cut would make), or none for an empty remainder. */
  finish(): Buffer[] {
    if (this.#length === 0) return [];
    return [this.#emit(this.#length)];
  }

  /** A cut position in the buffer, or 0 when more data is needed. */
  #findCut(): number {
    const end = this.#length;
    if (end >= this.#max) {
      const cut = this.#scanTo(this.#max);
      return cut > 0 ? cut : this.#max;
    }
    return this.#scanTo(end);
  }

  #scanTo(end: number): number {
    const gear = this.#gear;
    const buffer = this.#buffer;
    let hash = this.#hash;
    let i = Math.max(this.#scanned, this.#min);
    const normalEnd = Math.min(end, this.#avg);
    const small = this.#maskSmall;
    for (; i < normalEnd; i++) {
      hash = ((hash << 1) + gear[buffer[i]!]!) | 0;
      if ((hash & small) === 0) return i + 1;
    }
    const large = this.#maskLarge;
    for (; i < end; i++) {
      hash = ((hash << 1) + gear[buffer[i]!]!) | 0;
      if ((hash & large) === 0) return i + 1;
    }
    this.#hash = hash;
    this.#scanned = Math.max(i, this.#scanned);
    return 0;
  }

  #emit(cut: number): Buffer {
    const chunk = Buffer.from(this.#buffer.subarray(0, cut));
    this.#buffer.copy(this.#buffer, 0, cut, this.#length);
    this.#length -= cut;
    this.#scanned = 0;
    this.#hash = 0;
    return chunk;
  }
}
