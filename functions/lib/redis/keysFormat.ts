/**
 * The `redis-keys` payload: a Redis keyspace as the records DUMP gives, before zstd and encryption.
 *
 *   header   "LBRK" 0x01                                    (magic, format version 1)
 *   select   0x01  db:u32                                   (the keys after it belong to database db)
 *   key      0x02  keyLength:u32 key  expireAtMs:i64  valueLength:u32 value
 *                                                          (value: the DUMP payload, RDB-encoded with its
 *                                                           RDB version and CRC64; expireAtMs -1 = no expiry)
 *   end      0xFF  keys:u64                                (how many key records came before: a payload
 *                                                           cut short has no end record and is refused)
 *
 * All integers big-endian. Expiries are absolute Unix milliseconds, so RESTORE … ABSTTL gives every key
 * the expiry it had, and a key already expired at restore time is left out.
 */
import { LifeboatError } from '../errors.ts';

export const KEYS_MAGIC = Buffer.from('LBRK\u0001', 'latin1');
const SELECT = 0x01;
const KEY = 0x02;
const END = 0xff;

export type KeysRecord =
  | { readonly type: 'select'; readonly db: number }
  | { readonly type: 'key'; readonly key: Buffer; readonly expireAtMs: number; readonly value: Buffer }
  | { readonly type: 'end'; readonly keys: number };

/**
 * The RDB version a DUMP value was written with: its footer is the RDB version (2 bytes, little-endian)
 * then a CRC64 (8 bytes). A server refuses to RESTORE a value of a newer RDB version than its own.
 */
export function dumpRdbVersion(value: Buffer): number | undefined {
  return value.length >= 10 ? value.readUInt16LE(value.length - 10) : undefined;
}

/** A payload that is not a whole `redis-keys` stream. */
export class KeysFormatError extends LifeboatError {
  constructor(message: string) {
    super(message);
    this.name = 'KeysFormatError';
  }
}

export function encodeSelect(db: number): Buffer {
  const out = Buffer.alloc(5);
  out[0] = SELECT;
  out.writeUInt32BE(db, 1);
  return out;
}

export function encodeKey(key: Buffer, expireAtMs: number, value: Buffer): Buffer {
  const out = Buffer.alloc(1 + 4 + key.length + 8 + 4 + value.length);
  let at = 0;
  out[at] = KEY;
  at = out.writeUInt32BE(key.length, at + 1);
  at += key.copy(out, at);
  at = out.writeBigInt64BE(BigInt(expireAtMs), at);
  at = out.writeUInt32BE(value.length, at);
  value.copy(out, at);
  return out;
}

export function encodeEnd(keys: number): Buffer {
  const out = Buffer.alloc(9);
  out[0] = END;
  out.writeBigUInt64BE(BigInt(keys), 1);
  return out;
}

/** Reads records from a `redis-keys` byte stream; a missing header, unknown record, trailing bytes or a missing end record is a `KeysFormatError`. */
export async function* readKeysRecords(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<KeysRecord> {
  let buffer = Buffer.alloc(0);
  let offset = 0;
  let headerSeen = false;
  let ended = false;
  let keys = 0;
  for await (const chunk of source) {
    buffer = offset === buffer.length ? Buffer.from(chunk) : Buffer.concat([buffer.subarray(offset), chunk]);
    offset = 0;
    if (!headerSeen) {
      if (buffer.length < KEYS_MAGIC.length) continue;
      if (!buffer.subarray(0, KEYS_MAGIC.length).equals(KEYS_MAGIC)) throw new KeysFormatError('Not a redis-keys payload (bad header)');
      offset = KEYS_MAGIC.length;
      headerSeen = true;
    }
    for (;;) {
      if (offset >= buffer.length) break;
      if (ended) throw new KeysFormatError('The redis-keys payload has bytes after its end record');
      const type = buffer[offset]!;
      const available = buffer.length - offset;
      if (type === SELECT) {
        if (available < 5) break;
        yield { type: 'select', db: buffer.readUInt32BE(offset + 1) };
        offset += 5;
      } else if (type === KEY) {
        if (available < 5) break;
        const keyLength = buffer.readUInt32BE(offset + 1);
        const headLength = 1 + 4 + keyLength + 8 + 4;
        if (available < headLength) break;
        const valueLength = buffer.readUInt32BE(offset + headLength - 4);
        if (available < headLength + valueLength) break;
        const keyStart = offset + 5;
        const key = Buffer.from(buffer.subarray(keyStart, keyStart + keyLength));
        const expireAtMs = Number(buffer.readBigInt64BE(keyStart + keyLength));
        const value = Buffer.from(buffer.subarray(offset + headLength, offset + headLength + valueLength));
        offset += headLength + valueLength;
        keys += 1;
        yield { type: 'key', key, expireAtMs, value };
      } else if (type === END) {
        if (available < 9) break;
        const declared = Number(buffer.readBigUInt64BE(offset + 1));
        if (declared !== keys) throw new KeysFormatError(`The redis-keys payload ends declaring ${declared} keys but holds ${keys}`);
        offset += 9;
        ended = true;
        yield { type: 'end', keys: declared };
      } else {
        throw new KeysFormatError(`Unknown record type 0x${type.toString(16)} in the redis-keys payload after ${keys} keys`);
      }
    }
  }
  if (!headerSeen) throw new KeysFormatError('Not a redis-keys payload (empty or shorter than its header)');
  if (offset < buffer.length) throw new KeysFormatError(`The redis-keys payload is cut short inside a record after ${keys} keys`);
  if (!ended) throw new KeysFormatError(`The redis-keys payload is cut short: no end record after ${keys} keys`);
}
