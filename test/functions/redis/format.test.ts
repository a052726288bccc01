/** The RESP parser and the redis-keys format on byte streams cut at every possible place. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dumpRdbVersion, encodeEnd, encodeKey, encodeSelect, KEYS_MAGIC, KeysFormatError, readKeysRecords, type KeysRecord } from '../../../functions/lib/redis/keysFormat.ts';
import { encodeCommand, parseKeyspace, RedisReplyError, RespParser, type RespReply } from '../../../functions/lib/redis/resp.ts';

function splitEverywhere(bytes: Buffer): Buffer[][] {
  const splits: Buffer[][] = [];
  for (let i = 0; i <= bytes.length; i += 1) splits.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return splits;
}

describe('RespParser', () => {
  const wire = Buffer.concat([
    Buffer.from('+OK\r\n-ERR wrong number of arguments\r\n:42\r\n$-1\r\n*-1\r\n'),
    Buffer.from('$5\r\n'), Buffer.from([0, 13, 10, 255, 1]), Buffer.from('\r\n'),
    Buffer.from('*3\r\n$1\r\na\r\n*2\r\n:1\r\n$0\r\n\r\n-BUSYKEY Target key name already exists.\r\n'),
  ]);
  const expected: RespReply[] = [
    'OK',
    new RedisReplyError('ERR wrong number of arguments'),
    42,
    null,
    null,
    Buffer.from([0, 13, 10, 255, 1]),
    [Buffer.from('a'), [1, Buffer.alloc(0)], new RedisReplyError('BUSYKEY Target key name already exists.')],
  ];

  it('gives the same replies however the bytes are cut into chunks, binary bulk strings included', () => {
    for (const chunks of splitEverywhere(wire)) {
      const parser = new RespParser();
      const replies = chunks.flatMap((chunk) => parser.push(chunk));
      expect(replies).toEqual(expected);
    }
    const parser = new RespParser();
    expect([...wire].flatMap((byte) => parser.push(Buffer.from([byte])))).toEqual(expected);
  });

  it('names the error code of an error reply, and refuses a stream that is not RESP', () => {
    expect(new RedisReplyError('WRONGPASS invalid username-password pair').code).toBe('WRONGPASS');
    expect(() => new RespParser().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toThrow(/Unexpected RESP reply type "H": not a Redis server\?/);
  });

  it('encodes commands as arrays of bulk strings, binary-safe', () => {
    expect(encodeCommand(['SET', Buffer.from([0, 10]), 5]).toString('latin1')).toBe('*3\r\n$3\r\nSET\r\n$2\r\n\u0000\n\r\n$1\r\n5\r\n');
  });

  it('reads INFO keyspace', () => {
    expect(parseKeyspace('# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb12:keys=1,expires=0,avg_ttl=0\r\n')).toEqual([
      { db: 0, keys: 3, expires: 1 },
      { db: 12, keys: 1, expires: 0 },
    ]);
    expect(parseKeyspace('# Keyspace\r\n')).toEqual([]);
  });
});

describe('the redis-keys format', () => {
  const value = Buffer.concat([Buffer.from([0, 3, 0x41, 0x64, 0x61]), Buffer.from([10, 0]), Buffer.alloc(8, 7)]);
  const payload = Buffer.concat([
    KEYS_MAGIC,
    encodeSelect(0),
    encodeKey(Buffer.from('user:1'), -1, value),
    encodeKey(Buffer.from([0, 255]), 1_800_000_000_123, value),
    encodeSelect(7),
    encodeKey(Buffer.alloc(0), -1, Buffer.alloc(0)),
    encodeEnd(3),
  ]);
  const records: KeysRecord[] = [
    { type: 'select', db: 0 },
    { type: 'key', key: Buffer.from('user:1'), expireAtMs: -1, value },
    { type: 'key', key: Buffer.from([0, 255]), expireAtMs: 1_800_000_000_123, value },
    { type: 'select', db: 7 },
    { type: 'key', key: Buffer.alloc(0), expireAtMs: -1, value: Buffer.alloc(0) },
    { type: 'end', keys: 3 },
  ];
  const read = async (chunks: Buffer[]) => {
    const out: KeysRecord[] = [];
    for await (const record of readKeysRecords(Readable.from(chunks))) out.push(record);
    return out;
  };

  it('reads back what it wrote however the stream is chunked', async () => {
    for (const chunks of splitEverywhere(payload)) expect(await read(chunks)).toEqual(records);
  });

  it('refuses the payload cut at any byte before its end, naming how', async () => {
    for (let length = 0; length < payload.length; length += 1) {
      await expect(read([payload.subarray(0, length)])).rejects.toThrow(KeysFormatError);
    }
    await expect(read([payload.subarray(0, payload.length - 9)])).rejects.toThrow('The redis-keys payload is cut short: no end record after 3 keys');
    await expect(read([payload.subarray(0, payload.length - 4)])).rejects.toThrow('The redis-keys payload is cut short inside a record after 3 keys');
    await expect(read([])).rejects.toThrow('Not a redis-keys payload (empty or shorter than its header)');
  });

  it('refuses a wrong header, an unknown record, a wrong count and bytes after the end', async () => {
    await expect(read([Buffer.from('REDIS0011')])).rejects.toThrow('Not a redis-keys payload (bad header)');
    await expect(read([Buffer.concat([KEYS_MAGIC, Buffer.from([0x09])])])).rejects.toThrow('Unknown record type 0x9 in the redis-keys payload after 0 keys');
    await expect(read([Buffer.concat([KEYS_MAGIC, encodeSelect(0), encodeEnd(1)])])).rejects.toThrow('ends declaring 1 keys but holds 0');
    await expect(read([Buffer.concat([payload, encodeSelect(1)])])).rejects.toThrow('has bytes after its end record');
  });

  it('reads the RDB version from a DUMP value footer', () => {
    expect(dumpRdbVersion(value)).toBe(10);
    expect(dumpRdbVersion(Buffer.alloc(9))).toBeUndefined();
  });
});
