/** A keyspace with every core type, expiries, several databases and a binary key; and a readable picture of one. */
import type { RedisClient, RespReply } from '../../../functions/lib/redis/resp.ts';

export const BINARY_KEY = Buffer.from([0x00, 0xff, 0x10, 0x0d, 0x0a]);

export async function seedKeyspace(client: RedisClient): Promise<void> {
  await client.call('SELECT', 0);
  await client.call('SET', 'user:1:name', 'Ada');
  await client.call('SET', 'counter', 42);
  await client.call('SET', BINARY_KEY, Buffer.from([1, 2, 3, 0, 255]));
  await client.call('SET', 'session:abc', 'token', 'PX', 3_600_000);
  await client.call('HSET', 'user:1', 'name', 'Ada', 'lang', 'en', 'visits', 7);
  await client.call('RPUSH', 'queue', 'a', 'b', 'c', 'b');
  await client.call('SADD', 'tags', 'red', 'green', 'blue');
  await client.call('ZADD', 'scores', 1.5, 'ada', 3, 'bob', -2, 'cy');
  await client.call('XADD', 'events', '1700000000000-0', 'type', 'login', 'user', '1');
  await client.call('XADD', 'events', '1700000000001-0', 'type', 'logout', 'user', '1');
  await client.call('XGROUP', 'CREATE', 'events', 'workers', '0');
  await client.call('PEXPIRE', 'queue', 7_200_000);
  // A big hash: beyond the listpack limit, so DUMP carries the hashtable encoding.
  const fields: (string | number)[] = [];
  for (let i = 0; i < 600; i += 1) fields.push(`f${i}`, `v${i}`.repeat(3));
  await client.call('HSET', 'big', ...fields);
  await client.call('SELECT', 3);
  await client.call('SET', 'db3:only', 'here');
  await client.call('SET', 'rate:1.2.3.4', 5, 'EX', 60);
  for (let i = 0; i < 1200; i += 1) await client.send(['SET', `bulk:${i}`, i]);
  await client.call('PING');
  await client.call('SELECT', 0);
}

/** Type and content of every key in `db`, sorted by key; TTLs as present or absent (their exact value moves). */
export async function describeDatabase(client: RedisClient, db: number): Promise<Record<string, unknown>> {
  await client.call('SELECT', db);
  const keys = ((await client.call('KEYS', '*')) as Buffer[]).map((k) => k.toString('latin1')).sort();
  const picture: Record<string, unknown> = {};
  for (const name of keys) {
    const key = Buffer.from(name, 'latin1');
    const type = String(await client.call('TYPE', key));
    const ttl = (await client.call('PTTL', key)) as number;
    const content = await contentOf(client, key, type);
    picture[key.toString('hex')] = { type, expires: ttl >= 0, content };
  }
  await client.call('SELECT', 0);
  return picture;
}

async function contentOf(client: RedisClient, key: Buffer, type: string): Promise<unknown> {
  const text = (reply: RespReply) => (Buffer.isBuffer(reply) ? reply.toString('hex') : reply);
  switch (type) {
    case 'string':
      return text(await client.call('GET', key));
    case 'hash':
      return pairs(((await client.call('HGETALL', key)) as Buffer[]).map(text)).sort();
    case 'list':
      return ((await client.call('LRANGE', key, 0, -1)) as Buffer[]).map(text);
    case 'set':
      return ((await client.call('SMEMBERS', key)) as Buffer[]).map(text).sort();
    case 'zset':
      return ((await client.call('ZRANGE', key, 0, -1, 'WITHSCORES')) as Buffer[]).map(text);
    case 'stream': {
      const entries = JSON.stringify(await client.call('XRANGE', key, '-', '+'), (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString() : v));
      const groups = ((await client.call('XINFO', 'GROUPS', key)) as RespReply[][]).map((g) => String(g[1]));
      return { entries, groups };
    }
    default:
      throw new Error(`unexpected type ${type}`);
  }
}

function pairs<T>(flat: T[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${String(flat[i])}=${String(flat[i + 1])}`);
  return out;
}
