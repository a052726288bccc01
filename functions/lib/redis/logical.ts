/**
 * A logical backup of a Redis keyspace with SCAN + DUMP, and its restore with RESTORE.
 *
 * Why SCAN + DUMP and not an RDB over the replication protocol (`redis-cli --rdb`): ElastiCache, MemoryDB
 * and most managed Redis and Valkey services refuse SYNC/PSYNC to clients, so the replication route would
 * not work where Lifeboat's users run Redis. DUMP gives each value in the RDB encoding with a CRC64, so
 * RESTORE rebuilds it exactly (any type: strings, hashes, lists, sets, sorted sets, streams, modules'
 * types), and the payload streams key by key. What it gives up: the backup is not one point in time.
 * Each batch of keys is read in one MULTI/EXEC (a value and its TTL agree), and SCAN returns every key
 * that exists for the whole scan; a key written or deleted meanwhile may or may not be in the backup.
 */
import { LifeboatError, RestoreFailedError, TargetNotEmptyError } from '../errors.ts';
import { encodeEnd, encodeKey, encodeSelect, KEYS_MAGIC, type KeysRecord } from './keysFormat.ts';
import { RedisClient, RedisReplyError, readKeyspace, replyText, type KeyspaceEntry, type RespReply } from './resp.ts';

/** Keys per database in the backup, and what the server reported when the backup began. */
export interface DatabaseCount {
  readonly db: number;
  /** Key records written for this database. */
  readonly keys: number;
  /** Of those, keys with an expiry. */
  readonly expiring: number;
  /** INFO keyspace's count when the backup began (differs from `keys` only if the keyspace changed meanwhile). */
  readonly reportedKeys: number;
}

export interface KeyspaceDumpSummary {
  readonly databases: DatabaseCount[];
  readonly keys: number;
  /** `redis_version` (or `valkey_version`) from INFO server. */
  readonly serverVersion: string;
}

export interface DumpKeyspaceOptions {
  /** Keys per SCAN call and per MULTI/EXEC batch. @default 500 */
  readonly batchSize?: number;
  /** The clock expiries are made absolute with. @default Date.now */
  readonly now?: () => number;
}

/**
 * Reads every database INFO keyspace lists and yields the `redis-keys` payload (see keysFormat.ts).
 * `summary` is filled in as it goes and complete once the generator has finished.
 */
export function dumpKeyspace(
  client: RedisClient,
  options: DumpKeyspaceOptions = {},
): { payload: AsyncGenerator<Buffer>; summary: Promise<KeyspaceDumpSummary> } {
  let resolveSummary!: (summary: KeyspaceDumpSummary) => void;
  let rejectSummary!: (error: unknown) => void;
  const summary = new Promise<KeyspaceDumpSummary>((resolve, reject) => {
    resolveSummary = resolve;
    rejectSummary = reject;
  });
  summary.catch(() => {});
  const batchSize = options.batchSize ?? 500;
  const now = options.now ?? Date.now;

  async function* payload(): AsyncGenerator<Buffer> {
    try {
      const serverVersion = await redisServerVersion(client);
      const reported = await readKeyspace(client);
      const databases: DatabaseCount[] = [];
      let total = 0;
      yield KEYS_MAGIC;
      for (const entry of reported) {
        await client.call('SELECT', entry.db);
        yield encodeSelect(entry.db);
        let keys = 0;
        let expiring = 0;
        let cursor = '0';
        do {
          const reply = await client.call('SCAN', cursor, 'COUNT', batchSize);
          const [next, found] = reply as [Buffer, Buffer[]];
          cursor = replyText(next);
          const batch = dedupe(found, seen(entry.db));
          if (batch.length === 0) continue;
          const startedAt = now();
          const replies = await client.pipeline([['MULTI'], ...batch.flatMap((key) => [['DUMP', key], ['PTTL', key]]), ['EXEC']]);
          const exec = replies.at(-1);
          if (exec instanceof RedisReplyError) throw exec;
          if (!Array.isArray(exec)) throw new RestoreFailedError(`MULTI/EXEC of a DUMP batch was aborted (${String(exec)})`);
          for (let i = 0; i < batch.length; i += 1) {
            const value = exec[2 * i];
            const ttl = exec[2 * i + 1];
            if (value instanceof RedisReplyError) throw value;
            if (ttl instanceof RedisReplyError) throw ttl;
            // Gone between SCAN and DUMP (deleted or expired): not in the backup.
            if (value === null || ttl === -2) continue;
            const expireAtMs = typeof ttl === 'number' && ttl >= 0 ? startedAt + ttl : -1;
            if (expireAtMs >= 0) expiring += 1;
            keys += 1;
            yield encodeKey(batch[i]!, expireAtMs, value as Buffer);
          }
        } while (cursor !== '0');
        databases.push({ db: entry.db, keys, expiring, reportedKeys: entry.keys });
        total += keys;
      }
      yield encodeEnd(total);
      resolveSummary({ databases, keys: total, serverVersion });
    } catch (error) {
      rejectSummary(error);
      throw error;
    }
  }

  // SCAN guarantees no key is missed, not that none is returned twice (a rehash mid-scan): remember what each
  // database gave. Memory grows with the key count (the key names), a fraction of what the server holds.
  const seenByDb = new Map<number, Set<string>>();
  function seen(db: number): Set<string> {
    let set = seenByDb.get(db);
    if (!set) seenByDb.set(db, (set = new Set()));
    return set;
  }
  return { payload: payload(), summary };
}

function dedupe(keys: readonly Buffer[], seenKeys: Set<string>): Buffer[] {
  const fresh: Buffer[] = [];
  for (const key of keys) {
    const id = key.toString('latin1');
    if (seenKeys.has(id)) continue;
    seenKeys.add(id);
    fresh.push(key);
  }
  return fresh;
}

/** `redis_version` from INFO server (Valkey reports it too, plus `valkey_version`, which wins). */
export async function redisServerVersion(client: RedisClient): Promise<string> {
  const info = replyText(await client.call('INFO', 'server'));
  const valkey = /^valkey_version:(.+)$/m.exec(info)?.[1]?.trim();
  const redis = /^redis_version:(.+)$/m.exec(info)?.[1]?.trim();
  return valkey ? `valkey ${valkey}` : (redis ?? 'unknown');
}

export interface RestoreKeyspaceOptions {
  /** Replace keys that exist in the target. @default false: any existing key is a `TargetNotEmptyError` before anything is written */
  readonly replace?: boolean;
  /**
   * `keep`: each key gets its backed-up expiry (RESTORE … ABSTTL); keys expired by now are left out.
   * `none`: every key is restored without expiry (verification: the count must match the backup whatever the clock says).
   * @default 'keep'
   */
  readonly ttl?: 'keep' | 'none';
  /** Keys per pipelined batch. @default 500 */
  readonly batchSize?: number;
  readonly now?: () => number;
}

export interface KeyspaceRestoreSummary {
  /** Keys restored per database. */
  readonly databases: { db: number; keys: number; expiredSkipped: number }[];
  readonly keys: number;
  readonly expiredSkipped: number;
}

/** Opens the payload's records afresh; the restore reads them twice when it must check for existing keys first. */
export type OpenKeysRecords = () => AsyncIterable<KeysRecord>;

/**
 * Restores a `redis-keys` payload into the server behind `client`. Without `replace`, a first pass asks
 * the target whether any key of the backup exists and refuses, naming up to 5, before writing any key.
 */
export async function restoreKeyspace(open: OpenKeysRecords, client: RedisClient, options: RestoreKeyspaceOptions = {}): Promise<KeyspaceRestoreSummary> {
  const batchSize = options.batchSize ?? 500;
  const now = options.now ?? Date.now;
  const ttl = options.ttl ?? 'keep';
  if (!options.replace) await refuseExisting(open, client, batchSize);

  const counts = new Map<number, { db: number; keys: number; expiredSkipped: number }>();
  let db = 0;
  let written = 0;
  let batch: { key: Buffer; args: (string | number | Buffer)[] }[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const replies = await client.pipeline(batch.map((b) => b.args));
    written += replies.filter((reply) => !(reply instanceof RedisReplyError)).length;
    replies.forEach((reply, i) => failOnError(reply, batch[i]!.key, db));
    batch = [];
  };
  try {
    await restoreRecords();
  } catch (error) {
    // The target held none of the backup's keys before (checked above): what is there now is the backup's own.
    if (written === 0 || options.replace || !(error instanceof Error)) throw error;
    const Named = error instanceof LifeboatError ? (error.constructor as new (message: string, options?: { cause?: unknown }) => Error) : RestoreFailedError;
    throw new Named(
      `${error.message}. ${written} key${written === 1 ? ' was' : 's were'} already restored into the target (it held none of them before): ` +
        'rerun with --overwrite to finish, or delete them',
      { cause: error },
    );
  }
  const databases = [...counts.values()].sort((a, b) => a.db - b.db);
  return {
    databases,
    keys: databases.reduce((sum, d) => sum + d.keys, 0),
    expiredSkipped: databases.reduce((sum, d) => sum + d.expiredSkipped, 0),
  };

  async function restoreRecords(): Promise<void> {
    for await (const record of open()) {
      if (record.type === 'select') {
        await flush();
        db = record.db;
        await client.call('SELECT', db);
        if (!counts.has(db)) counts.set(db, { db, keys: 0, expiredSkipped: 0 });
      } else if (record.type === 'key') {
        const count = counts.get(db) ?? { db, keys: 0, expiredSkipped: 0 };
        counts.set(db, count);
        if (ttl === 'keep' && record.expireAtMs >= 0 && record.expireAtMs <= now()) {
          count.expiredSkipped += 1;
          continue;
        }
        const args: (string | number | Buffer)[] =
          ttl === 'keep' && record.expireAtMs >= 0
            ? ['RESTORE', record.key, record.expireAtMs, record.value, 'ABSTTL']
            : ['RESTORE', record.key, 0, record.value];
        if (options.replace) args.push('REPLACE');
        batch.push({ key: record.key, args });
        count.keys += 1;
        if (batch.length >= batchSize) await flush();
      }
    }
    await flush();
  }
}

async function refuseExisting(open: OpenKeysRecords, client: RedisClient, batchSize: number): Promise<void> {
  const existing: string[] = [];
  let db = 0;
  let batch: Buffer[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const replies = await client.pipeline(batch.map((key) => ['EXISTS', key]));
    replies.forEach((reply, i) => {
      if (reply instanceof RedisReplyError) throw reply;
      if (reply === 1 && existing.length < 5) existing.push(`db${db}:${printable(batch[i]!)}`);
      else if (reply === 1) existing.push('');
    });
    batch = [];
  };
  for await (const record of open()) {
    if (record.type === 'select') {
      await flush();
      db = record.db;
      await client.call('SELECT', db);
    } else if (record.type === 'key') {
      batch.push(record.key);
      if (batch.length >= batchSize) await flush();
    }
  }
  await flush();
  if (existing.length > 0) {
    const named = existing.filter((k) => k !== '');
    const more = existing.length - named.length;
    throw new TargetNotEmptyError(
      `The target already holds ${existing.length} key${existing.length === 1 ? '' : 's'} of this backup (${named.join(', ')}${more > 0 ? `, and ${more} more` : ''}); ` +
        'nothing was restored. Restore into an empty server, or replace them with --overwrite',
    );
  }
}

function failOnError(reply: RespReply, key: Buffer, db: number): void {
  if (!(reply instanceof RedisReplyError)) return;
  if (reply.code === 'BUSYKEY') {
    throw new TargetNotEmptyError(`Key db${db}:${printable(key)} appeared in the target during the restore; rerun with --overwrite to replace it`);
  }
  // "DUMP payload version or checksum are wrong": a damaged value, or one from a newer Redis than the target.
  throw new RestoreFailedError(`RESTORE of key db${db}:${printable(key)} failed: ${reply.message}`);
}

/** A key for messages: as text when it is printable, else hex; at most 80 characters. */
export function printable(key: Buffer): string {
  const text = key.toString('utf8');
  const shown = /^[\x20-\x7e]*$/.test(text) ? text : `0x${key.toString('hex')}`;
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

/** Compares keys per database: every database in either list, with both counts. */
export function compareKeyCounts(
  expected: readonly { db: number; keys: number }[],
  actual: readonly KeyspaceEntry[],
): { db: number; expected: number; actual: number }[] {
  const dbs = new Set([...expected.map((e) => e.db), ...actual.map((a) => a.db)]);
  return [...dbs]
    .sort((a, b) => a - b)
    .map((db) => ({ db, expected: expected.find((e) => e.db === db)?.keys ?? 0, actual: actual.find((a) => a.db === db)?.keys ?? 0 }))
    .filter((row) => row.expected !== 0 || row.actual !== 0);
}
