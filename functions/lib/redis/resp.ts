/**
 * A small Redis client speaking RESP2 over a TCP or Unix socket, enough for backup, restore and
 * verification: commands with binary-safe arguments, pipelined replies in order, AUTH and SELECT.
 *
 * Why our own and not `redis`/`ioredis`: neither is a dependency, the commands Lifeboat sends are few
 * (AUTH, INFO, SELECT, SCAN, MULTI/EXEC with DUMP and PTTL, EXISTS, RESTORE, DBSIZE, SAVE), and keys and
 * DUMP payloads are bytes, which this client keeps as Buffers end to end. redis-cli was the other choice;
 * it cannot carry binary DUMP payloads through a pipe safely.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A reply as RESP2 gives it: simple strings as `string`, bulk strings as `Buffer`, nil as `null`. */
export type RespReply = string | number | Buffer | null | RespReply[] | RedisReplyError;

/** An error reply (`-ERR ...`): returned inside arrays (EXEC), thrown by {@link RedisClient.call}. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisReplyError';
  }
  /** The first word of the reply: `ERR`, `BUSYKEY`, `NOAUTH`, `LOADING`, … */
  get code(): string {
    return this.message.split(' ', 1)[0] ?? '';
  }
}

/** The connection failed or closed before every reply came back. */
export class RedisConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisConnectionError';
  }
}

export type RespArg = string | number | Buffer;

/** Encodes one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly RespArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

const NEED_MORE = Symbol('need more');

/**
 * Parses RESP2 replies from a byte stream fed in arbitrary chunks. `parse()` returns every complete
 * reply the buffered bytes hold.
 */
export class RespParser {
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;

  push(chunk: Buffer): RespReply[] {
    this.#buffer = this.#offset === this.#buffer.length ? chunk : Buffer.concat([this.#buffer.subarray(this.#offset), chunk]);
    this.#offset = 0;
    const replies: RespReply[] = [];
    for (;;) {
      const start = this.#offset;
      const reply = this.#read();
      if (reply === NEED_MORE) {
        this.#offset = start;
        return replies;
      }
      replies.push(reply);
    }
  }

  #line(): string | typeof NEED_MORE {
    const end = this.#buffer.indexOf('\r\n', this.#offset, 'latin1');
    if (end < 0) return NEED_MORE;
    const line = this.#buffer.toString('utf8', this.#offset, end);
    this.#offset = end + 2;
    return line;
  }

  #read(): RespReply | typeof NEED_MORE {
    if (this.#offset >= this.#buffer.length) return NEED_MORE;
    const type = String.fromCharCode(this.#buffer[this.#offset]!);
    this.#offset += 1;
    const line = this.#line();
    if (line === NEED_MORE) return NEED_MORE;
    switch (type) {
      case '+':
        return line;
      case '-':
        return new RedisReplyError(line);
      case ':':
        return Number(line);
      case '$': {
        const length = Number(line);
        if (length < 0) return null;
        if (this.#buffer.length - this.#offset < length + 2) return NEED_MORE;
        const value = Buffer.from(this.#buffer.subarray(this.#offset, this.#offset + length));
        this.#offset += length + 2;
        return value;
      }
      case '*': {
        const count = Number(line);
        if (count < 0) return null;
        const items: RespReply[] = [];
        for (let i = 0; i < count; i += 1) {
          const item = this.#read();
          if (item === NEED_MORE) return NEED_MORE;
          items.push(item);
        }
        return items;
      }
      default:
        throw new RedisConnectionError(`Unexpected RESP reply type ${JSON.stringify(type)}: not a Redis server?`);
    }
  }
}

export interface RedisEndpoint {
  /** A host and port, or `path` for a Unix socket. */
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly tls?: boolean;
  /** ACL user (Redis 6+); with a password alone, `AUTH password`. */
  readonly user?: string;
  readonly password?: string;
  /** @default 10 s */
  readonly connectTimeoutMs?: number;
}

interface Pending {
  resolve(reply: RespReply): void;
  reject(error: Error): void;
}

/** One connection; replies come back in the order commands were sent, so pipelining is just not awaiting. */
export class RedisClient {
  readonly #socket: Socket;
  readonly #parser = new RespParser();
  readonly #pending: Pending[] = [];
  #closed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      let replies: RespReply[];
      try {
        replies = this.#parser.push(chunk);
      } catch (error) {
        this.#fail(error as Error);
        socket.destroy();
        return;
      }
      for (const reply of replies) this.#pending.shift()?.resolve(reply);
    });
    socket.on('error', (error) => this.#fail(new RedisConnectionError(`Redis connection failed: ${error.message}`, { cause: error })));
    socket.on('close', () => this.#fail(new RedisConnectionError('Redis closed the connection')));
  }

  /** Connects and authenticates. */
  static async connect(endpoint: RedisEndpoint): Promise<RedisClient> {
    const timeout = endpoint.connectTimeoutMs ?? 10_000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const options = endpoint.path !== undefined ? { path: endpoint.path } : { host: endpoint.host ?? '127.0.0.1', port: endpoint.port ?? 6379 };
      const event = endpoint.tls ? 'secureConnect' : 'connect';
      const s: Socket = endpoint.tls
        ? tlsConnect({ ...options, ...(endpoint.host ? { servername: endpoint.host } : {}) })
        : connect(options);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new RedisConnectionError(`Connecting to Redis at ${describeEndpoint(endpoint)} timed out after ${timeout} ms`));
      }, timeout);
      s.once(event, () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new RedisConnectionError(`Cannot connect to Redis at ${describeEndpoint(endpoint)}: ${error.message}`, { cause: error }));
      });
    });
    socket.setNoDelay(true);
    const client = new RedisClient(socket);
    if (endpoint.password !== undefined) {
      try {
        await client.call(...(endpoint.user !== undefined ? ['AUTH', endpoint.user, endpoint.password] : ['AUTH', endpoint.password]));
      } catch (error) {
        client.close();
        // The server's answer never contains the password.
        throw error;
      }
    }
    return client;
  }

  /** Sends one command; resolves with its reply, rejects with a `RedisReplyError` for an error reply. */
  async call(...args: RespArg[]): Promise<RespReply> {
    const reply = await this.send(args);
    if (reply instanceof RedisReplyError) throw reply;
    return reply;
  }

  /** Sends one command; an error reply is returned, not thrown (for pipelines that look at each). */
  send(args: readonly RespArg[]): Promise<RespReply> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.write(encodeCommand(args));
    });
  }

  /** Sends every command before awaiting any reply; replies in order, errors returned in place. */
  pipeline(commands: readonly (readonly RespArg[])[]): Promise<RespReply[]> {
    return Promise.all(commands.map((command) => this.send(command)));
  }

  close(): void {
    this.#closed ??= new RedisConnectionError('The Redis client was closed');
    this.#socket.destroy();
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const pending of this.#pending.splice(0)) pending.reject(error);
  }
}

/** `host:port` or the socket path, for messages (never credentials). */
export function describeEndpoint(endpoint: RedisEndpoint): string {
  return endpoint.path ?? `${endpoint.host ?? '127.0.0.1'}:${endpoint.port ?? 6379}`;
}

/** Parses an INFO reply (`# Section`, `field:value` lines) into a map. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** Keys per database from INFO keyspace (`db0:keys=3,expires=1,avg_ttl=0`). */
export interface KeyspaceEntry {
  readonly db: number;
  readonly keys: number;
  readonly expires: number;
}

export function parseKeyspace(text: string): KeyspaceEntry[] {
  const entries: KeyspaceEntry[] = [];
  for (const [field, value] of parseInfo(text)) {
    const db = /^db(\d+)$/.exec(field)?.[1];
    if (db === undefined) continue;
    const values = new Map(value.split(',').map((pair) => pair.split('=') as [string, string]));
    entries.push({ db: Number(db), keys: Number(values.get('keys') ?? 0), expires: Number(values.get('expires') ?? 0) });
  }
  return entries.sort((a, b) => a.db - b.db);
}

/** INFO keyspace of the server behind `client`. */
export async function readKeyspace(client: RedisClient): Promise<KeyspaceEntry[]> {
  return parseKeyspace(replyText(await client.call('INFO', 'keyspace')));
}

/** A bulk or simple string reply as text. */
export function replyText(reply: RespReply): string {
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'string') return reply;
  throw new RedisConnectionError(`Expected a string reply from Redis, got ${reply === null ? 'nil' : typeof reply}`);
}
