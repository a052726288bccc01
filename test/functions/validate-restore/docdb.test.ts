/**
 * The DocumentDB check of the snapshot restore test (functions/validate-restore/docdb.ts). No DocumentDB or MongoDB
 * server runs here: the session is a stand-in that answers as one would, with the commands asserted; the real
 * MongoDB driver is run against a closed port, to prove what an unreachable cluster gives.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectDocdb, type DocdbSession, validateDocdb } from '../../../functions/validate-restore/docdb.ts';
import { RestoreTargetLoginFailedError, RestoreTargetUnreachableError } from '../../../functions/lib/errors.ts';

const PASSWORD = 'Secret-Pass-5c1e';
const endpoint = { host: 'lb-rt-catalog.cluster-c0ffee.eu-west-1.docdb.amazonaws.com', port: 27017, user: 'catalogadmin', password: PASSWORD };
const options = { tls: 'verify' as const, ca: '/opt/rds-ca/global-bundle.pem', connectTimeoutMs: 2_000, commandTimeoutMs: 5_000 };

/** A session answering each command with `answers[name]` (a value, or an error to throw). */
function session(answers: Record<string, unknown>): { connect: () => Promise<DocdbSession>; commands: Record<string, unknown>[]; closed: () => number } {
  const commands: Record<string, unknown>[] = [];
  let closed = 0;
  return {
    commands,
    closed: () => closed,
    connect: async () => ({
      command: async (command) => {
        commands.push({ ...command });
        const answer = answers[Object.keys(command)[0]!];
        if (answer instanceof Error) throw answer;
        return answer as Record<string, unknown>;
      },
      close: async () => {
        closed += 1;
      },
    }),
  };
}

describe('the DocumentDB restore check', () => {
  it('passes a cluster that answers ping and lists its databases, sorted, and closes the session', async () => {
    const fake = session({ ping: { ok: 1 }, listDatabases: { ok: 1, databases: [{ name: 'orders' }, { name: 'admin' }, { sizeOnDisk: 1 }] } });
    expect(await validateDocdb(endpoint, options, fake.connect)).toEqual({ passed: true, databases: ['admin', 'orders'] });
    expect(fake.commands).toEqual([{ ping: 1 }, { listDatabases: 1, nameOnly: true }]);
    expect(fake.closed()).toBe(1);
  });

  it.each([
    ['ping answers not ok', { ping: { ok: 0 } }, /did not answer ping \(ok: 0\)/],
    ['ping fails', { ping: new Error(`node is recovering (as ${PASSWORD})`) }, /did not answer ping: node is recovering \(as \*\*\*\)/],
    ['listDatabases fails', { ping: { ok: 1 }, listDatabases: new Error('not authorized') }, /answered ping but not listDatabases: not authorized/],
    ['listDatabases gives no list', { ping: { ok: 1 }, listDatabases: { ok: 1 } }, /returned no database list/],
  ])('fails (a result, not an exception) when %s, closing the session', async (_what, answers, reason) => {
    const fake = session(answers);
    const result = await validateDocdb(endpoint, options, fake.connect);
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(reason);
    expect(result.reason).not.toContain(PASSWORD);
    expect(fake.closed()).toBe(1);
  });

  it('a refused login is RestoreTargetLoginFailedError, saying why a restored cluster may refuse it, never the password', async () => {
    const refused = Object.assign(new Error(`Authentication failed. (${PASSWORD})`), { code: 18 });
    for (const connect of [async () => Promise.reject(refused), session({ ping: refused }).connect]) {
      const error = await validateDocdb(endpoint, options, connect).then(() => new Error('no error'), (e: unknown) => e as Error);
      expect(error).toBeInstanceOf(RestoreTargetLoginFailedError);
      expect(error.message).toMatch(/^Logging in to the restored cluster at lb-rt-catalog\..*:27017 as catalogadmin failed: Authentication failed\. \(\*\*\*\)\. .*rotated since then does not work$/);
    }
  });

  it('with the real MongoDB driver, a cluster nobody answers on is RestoreTargetUnreachableError naming the endpoint', async () => {
    // A port that accepts and closes at once: the driver's server selection fails fast.
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const error = await validateDocdb({ ...endpoint, host: '127.0.0.1', port }, { ...options, tls: 'disable', ca: undefined as never, connectTimeoutMs: 1_000 }, connectDocdb).then(
        () => new Error('no error'),
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(RestoreTargetUnreachableError);
      expect(error.message).toMatch(new RegExp(`^The restored cluster at 127\\.0\\.0\\.1:${port} could not be reached: `));
      expect(error.message).not.toContain(PASSWORD);
    } finally {
      server.close();
    }
  }, 20_000);
});
