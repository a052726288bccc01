/**
 * A real `redis-server` per test suite, on a random loopback port, saving nothing and writing only into
 * its own temporary directory (Debian's redis-server; the tools image installs the same).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisClient } from '../../functions/lib/redis/resp.ts';

export interface TestRedis {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** A new connection (closed by the caller). */
  connect(): Promise<RedisClient>;
  /** Empties every database. */
  flushAll(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts redis-server; `extraArgs` adds configuration (e.g. `--requirepass`). */
export async function startTestRedis(extraArgs: string[] = [], password?: string): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-test-redis-'));
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      { stdio: 'ignore' },
    );
    let exited = false;
    child.once('exit', () => (exited = true));
    const connect = () => RedisClient.connect({ host: '127.0.0.1', port, ...(password ? { password } : {}) });
    for (let i = 0; i < 200 && !exited; i += 1) {
      try {
        const client = await connect();
        await client.call('PING');
        client.close();
        return {
          host: '127.0.0.1',
          port,
          dir,
          connect,
          async flushAll() {
            const client = await connect();
            await client.call('FLUSHALL');
            client.close();
          },
          async stop() {
            child.kill('SIGKILL');
            if (!exited) await new Promise((resolve) => child.once('exit', resolve));
            await rm(dir, { recursive: true, force: true });
          },
        };
      } catch {
        await sleep(25);
      }
    }
    child.kill('SIGKILL');
    // The port was taken between choosing and binding: try another.
    if (attempt >= 3) throw new Error('redis-server did not start');
  }
}
