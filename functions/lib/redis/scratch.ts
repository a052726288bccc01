/**
 * A throwaway `redis-server` for verification and RDB work: listens on a Unix socket only (no TCP port,
 * so nothing to collide with and nothing reachable from the network), never saves on its own, and lives
 * in a private temporary directory removed on stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onInterrupt, trackChildTool } from '../engine/interrupt.ts';
import { LifeboatError } from '../errors.ts';
import { RedisClient, RedisReplyError, readKeyspace, replyText, type KeyspaceEntry } from './resp.ts';

export class ScratchServerError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScratchServerError';
  }
}

export interface ScratchServerOptions {
  /** An RDB file the server loads at start (copied into the scratch directory; the original is never touched). */
  readonly rdbFile?: string;
  /** @default 16, or more when a backup uses higher database numbers */
  readonly databases?: number;
  /** @default LIFEBOAT_REDIS_SERVER, else `redis-server` on the PATH */
  readonly command?: string;
  /** How long loading may take before giving up. @default 10 minutes */
  readonly startTimeoutMs?: number;
}

export const RDB_NAME = 'dump.rdb';
/** The server the scratch instances run: LIFEBOAT_REDIS_SERVER (e.g. a valkey-server), else redis-server on the PATH. */
const DEFAULT_COMMAND = process.env['LIFEBOAT_REDIS_SERVER'] || 'redis-server';

/** A running scratch server; `stop()` always, in a `finally`. */
export class ScratchRedis {
  readonly dir: string;
  readonly socketPath: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stderr = '';
  #exitCode: number | null | undefined;
  /** An interrupted CLI run (Ctrl-C) stops the server and removes its directory; released by stop(). */
  readonly #releaseInterrupt: () => void;

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.socketPath = join(dir, 'redis.sock');
    this.#child = child;
    trackChildTool(child, 'redis-server');
    this.#releaseInterrupt = onInterrupt('removed', `scratch redis-server directory ${dir}`, () => rm(dir, { recursive: true, force: true }));
    child.stdout?.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-4000)));
    child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-4000)));
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.#exitCode = code;
        resolve();
      });
      child.once('error', (error) => {
        this.#stderr += String(error.message);
        this.#exitCode = -1;
        resolve();
      });
    });
  }

  /** The path of the RDB file `SAVE` writes. */
  get rdbPath(): string {
    return join(this.dir, RDB_NAME);
  }

  static async start(options: ScratchServerOptions = {}): Promise<ScratchRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-redis-'));
    if (options.rdbFile !== undefined) {
      try {
        await copyFile(options.rdbFile, join(dir, RDB_NAME));
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw new ScratchServerError(`Cannot read the RDB file ${options.rdbFile}: ${(error as Error).message}`, { cause: error });
      }
    }
    const args = [
      '--port', '0',
      '--unixsocket', join(dir, 'redis.sock'),
      '--unixsocketperm', '700',
      '--dir', dir,
      '--dbfilename', RDB_NAME,
      '--save', '',
      '--appendonly', 'no',
      '--databases', String(Math.max(16, options.databases ?? 16)),
      '--protected-mode', 'yes',
    ];
    const child = spawn(options.command ?? DEFAULT_COMMAND, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ScratchRedis(dir, child);
    try {
      await server.#waitReady(options.startTimeoutMs ?? 600_000);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** A new connection to the server. */
  connect(): Promise<RedisClient> {
    return RedisClient.connect({ path: this.socketPath });
  }

  /** Keys per database as the server counts them. */
  async keyspace(): Promise<KeyspaceEntry[]> {
    const client = await this.connect();
    try {
      return await readKeyspace(client);
    } finally {
      client.close();
    }
  }

  /**
   * The newest RDB version this server reads: the version of a value it DUMPs itself. Newer values (from
   * a newer Redis or Valkey) would be refused by RESTORE, which says so only as "version or checksum are wrong".
   */
  async rdbVersion(): Promise<{ rdbVersion: number; serverVersion: string }> {
    const client = await this.connect();
    try {
      const probe = 'lifeboat:rdb-version-probe';
      await client.call('SET', probe, '1');
      const value = await client.call('DUMP', probe);
      await client.call('DEL', probe);
      const info = replyText(await client.call('INFO', 'server'));
      const serverVersion = /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
      if (!Buffer.isBuffer(value) || value.length < 10) throw new ScratchServerError('The scratch redis-server returned no DUMP value for its probe key');
      return { rdbVersion: value.readUInt16LE(value.length - 10), serverVersion };
    } finally {
      client.close();
    }
  }

  /** Writes the dataset to {@link rdbPath} (a foreground SAVE: the server is ours alone). */
  async save(): Promise<string> {
    const client = await this.connect();
    try {
      await client.call('SAVE');
    } finally {
      client.close();
    }
    return this.rdbPath;
  }

  async stop(): Promise<void> {
    this.#releaseInterrupt();
    if (this.#exitCode === undefined) {
      this.#child.kill('SIGKILL');
      await this.#exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#exitCode !== undefined) {
        throw new ScratchServerError(`The scratch redis-server stopped (exit ${String(this.#exitCode)}): ${lastLines(this.#stderr)}`);
      }
      try {
        const client = await RedisClient.connect({ path: this.socketPath, connectTimeoutMs: 1000 });
        try {
          const reply = await client.call('PING');
          if (replyText(reply) === 'PONG') return;
        } finally {
          client.close();
        }
      } catch (error) {
        // Not listening yet, or still loading the RDB (-LOADING): try again.
        if (error instanceof RedisReplyError && error.code !== 'LOADING') throw new ScratchServerError(`The scratch redis-server answered ${error.message}`);
      }
      if (Date.now() > deadline) throw new ScratchServerError(`The scratch redis-server was not ready within ${timeoutMs} ms: ${lastLines(this.#stderr)}`);
      await sleep(50);
    }
  }
}

/** What the server said about why it stopped: its error lines (an RDB check prints them before its tally), else its last lines. */
function lastLines(text: string): string {
  const lines = text.trim().split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const errors = lines.filter((line) => /error|wrong|bad |can't|unable|not supported|# /i.test(line) && !/^\d+:C .*# (oO0O|Redis version|Configuration)/.test(line));
  const chosen = (errors.length > 0 ? errors : lines).slice(-3).join(' | ');
  return chosen === '' ? '(no output)' : chosen;
}

/**
 * Loads an RDB file (a SAVE, a `redis-cli --rdb`, or an ElastiCache snapshot export) into a scratch
 * server and returns its keys per database. An RDB from a newer Redis or Valkey than the scratch server
 * (a higher RDB version) or a damaged one makes the server refuse to start: a `ScratchServerError`
 * carrying the server's own words.
 */
export async function keyspaceOfRdb(rdbFile: string, options: Omit<ScratchServerOptions, 'rdbFile'> = {}): Promise<KeyspaceEntry[]> {
  const server = await ScratchRedis.start({ ...options, rdbFile });
  try {
    return await server.keyspace();
  } finally {
    await server.stop();
  }
}
