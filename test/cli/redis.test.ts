/** `lifeboat backup|restore|verify|list|show` with redis:// sources and targets, against real redis-servers. */
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { readKeyspace } from '../../functions/lib/redis/resp.ts';
import { keyspaceOfRdb } from '../../functions/lib/redis/scratch.ts';
import { startTestRedis, type TestRedis } from '../harness/redis.ts';
import { describeDatabase, seedKeyspace } from '../functions/redis/fixture.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const PASSWORD = 'Redis-S3cr3t/pw';
let source: TestRedis;
let target: TestRedis;
let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let keyFile: string;
let passwordFile: string;

beforeAll(async () => {
  [source, target] = await Promise.all([startTestRedis(['--requirepass', PASSWORD], PASSWORD), startTestRedis()]);
  const client = await source.connect();
  await seedKeyspace(client);
  client.close();
  dir = await tempDir('redis');
  vault = join(dir.path, 'vault');
  keyFile = join(dir.path, 'key.json');
  passwordFile = join(dir.path, 'redis-password');
  await writeFile(passwordFile, `${PASSWORD}\n`);
  expect((await lifeboat(['keygen', '--key-file', keyFile])).code).toBe(0);
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  await dir?.remove();
});
beforeEach(async () => {
  await target.flushAll();
});

const sourceUrl = () => `redis://127.0.0.1:${source.port}`;
const targetUrl = () => `redis://127.0.0.1:${target.port}`;

async function backup(): Promise<string> {
  const result = await lifeboat(['backup', '--source', sourceUrl(), '--source-id', 'sessions', '--vault', vault, '--key-file', keyFile, '--password-file', passwordFile]);
  expect(result.stderr).toMatch(/^Backed up \* \(redis\) as sessions\/\S+: 1,212 keys in 2 databases, [\d.]+ \w+ raw, [\d.]+ \w+ stored, in [\d.]+s\n$/);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}

describe('lifeboat with a redis:// source', () => {
  it('backs up, lists, verifies, and restores into an empty server every key as it was', async () => {
    const id = await backup();

    const listed = await lifeboat(['list', '--vault', vault]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(id);
    const shown = await lifeboat(['show', id, '--vault', vault]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^Kind\s+dump \(redis\)$/m);
    expect(shown.stdout).toMatch(/^Payload\s+payload \(redis-keys\)$/m);
    expect(shown.stdout).toContain('Keyspace: 1,212 keys in 2 databases');
    expect(shown.stdout).toMatch(/^db3\s+1,202\s+1\s+1,202$/m);

    const verified = await lifeboat(['verify', id, '--vault', vault, '--key-file', keyFile]);
    expect(verified.code).toBe(ExitCode.ok);
    for (const check of ['checksum', 'decrypt', 'structure', 'restore', 'row-counts']) expect(verified.stdout).toMatch(new RegExp(`^${check}\\s+passed\\s+\\d+ ms$`, 'm'));
    expect(verified.stderr).toMatch(new RegExp(`^Verified sessions/${id}: 5 checks passed \\(restore test in a scratch redis-server: 1,212 keys\\), in [\\d.]+s\\n$`));

    const restored = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--target', targetUrl()]);
    expect(restored.stderr).toMatch(new RegExp(`^Restored sessions/${id} into Redis at 127.0.0.1:${target.port}: 1,212 keys in 2 databases, in [\\d.]+s\\n$`));
    expect(restored.code).toBe(0);
    const src = await source.connect();
    const dst = await target.connect();
    try {
      expect(await describeDatabase(dst, 0)).toEqual(await describeDatabase(src, 0));
      expect(await describeDatabase(dst, 3)).toEqual(await describeDatabase(src, 3));
      expect(await readKeyspace(dst)).toEqual(await readKeyspace(src));
    } finally {
      src.close();
      dst.close();
    }
  });

  it('with an evidence key, backup, verify and restore record their events in the vault\'s audit trail', async () => {
    const evidenceKey = join(dir.path, 'evidence.key');
    expect((await lifeboat(['keygen', '--key-file', evidenceKey])).code).toBe(0);
    const auditedVault = join(dir.path, 'audited');
    const env = { LIFEBOAT_EVIDENCE_KEY_FILE: evidenceKey };
    const backedUp = await lifeboat(['backup', '--source', sourceUrl(), '--source-id', 'sessions', '--vault', auditedVault, '--key-file', keyFile, '--password-file', passwordFile], { env });
    expect(backedUp.code, backedUp.stderr).toBe(0);
    const id = backedUp.stdout.trim();
    expect((await lifeboat(['verify', id, '--vault', auditedVault, '--key-file', keyFile], { env })).code).toBe(ExitCode.ok);
    expect((await lifeboat(['restore', id, '--vault', auditedVault, '--key-file', keyFile, '--target', targetUrl()], { env })).code).toBe(0);
    const listed = JSON.parse((await lifeboat(['audit', '--vault', auditedVault, '--json'], { env })).stdout) as { authentic: boolean; event: { type: string; outcome: string; backupId: string; details: Record<string, unknown> } }[];
    expect(listed.map((e) => [e.authentic, e.event.type, e.event.outcome, e.event.backupId])).toEqual([
      [true, 'backup', 'succeeded', id],
      [true, 'verification', 'succeeded', id],
      [true, 'restore-finished', 'succeeded', id],
    ]);
    expect(listed[2]!.event.details).toMatchObject({ into: `127.0.0.1:${target.port}`, keys: 1212 });
    expect(JSON.stringify(listed)).not.toContain(PASSWORD);
  });

  it('refuses a target holding a key of the backup (exit non-zero, nothing written); --overwrite replaces it', async () => {
    const id = await backup();
    const dst = await target.connect();
    await dst.call('SET', 'counter', 'keep-me');
    const refused = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--target', targetUrl()]);
    expect(refused.code).not.toBe(0);
    expect(errorLine(refused.stderr)).toEqual({
      name: 'TargetNotEmptyError',
      message: 'The target already holds 1 key of this backup (db0:counter); nothing was restored. Restore into an empty server, or replace them with --overwrite',
    });
    expect(await dst.call('DBSIZE')).toBe(1);
    const replaced = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--target', targetUrl(), '--overwrite']);
    expect(replaced.code).toBe(0);
    expect(String(await dst.call('GET', 'counter'))).toBe('42');
    dst.close();
  });

  it('restores into an RDB file that a redis-server loads with the keys per database of the backup', async () => {
    const id = await backup();
    const rdb = join(dir.path, `${id}.rdb`);
    const result = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--rdb', rdb]);
    expect(result.code).toBe(0);
    expect((await keyspaceOfRdb(rdb)).map(({ db, keys }) => [db, keys])).toEqual([
      [0, 10],
      [3, 1202],
    ]);
    const again = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--rdb', rdb]);
    expect(errorLine(again.stderr)?.message).toBe(`${rdb} exists; give --overwrite to replace it`);
  });

  it('never prints the password, from the URL (with a warning) or REDISCLI_AUTH', async () => {
    const inUrl = await lifeboat(['backup', '--source', `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${source.port}`, '--source-id', 'sessions', '--vault', vault, '--key-file', keyFile, '--json']);
    expect(inUrl.code).toBe(0);
    expect(inUrl.stderr).toContain('lifeboat: warning: the password in --source is visible to other users in the process list');
    const fromEnv = await lifeboat(['backup', '--source', sourceUrl(), '--source-id', 'sessions', '--vault', vault, '--key-file', keyFile], { env: { REDISCLI_AUTH: PASSWORD } });
    expect(fromEnv.code).toBe(0);
    const wrong = await lifeboat(['backup', '--source', sourceUrl(), '--source-id', 'sessions', '--vault', vault, '--key-file', keyFile], { env: { REDISCLI_AUTH: `${PASSWORD}-wrong` } });
    expect(wrong.code).not.toBe(0);
    expect(errorLine(wrong.stderr)?.name).toBe('DumpFailedError');
    for (const text of [inUrl.stdout, inUrl.stderr, fromEnv.stdout, fromEnv.stderr, wrong.stdout, wrong.stderr]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
    }
  });

  it('names what is wrong: no --source-id, a database flag on a Redis backup, a Redis target for a database backup', async () => {
    const noId = await lifeboat(['backup', '--source', sourceUrl(), '--vault', vault, '--key-file', keyFile, '--password-file', passwordFile]);
    expect(errorLine(noId.stderr)).toEqual({ name: 'UsageError', message: '--source-id is required for a Redis source (there is no database name to derive it from) (see lifeboat backup --help)' });
    const id = await backup();
    const withTable = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--target', targetUrl(), '--table', 'x']);
    expect(errorLine(withTable.stderr)?.message).toBe('--table does not apply to a Redis backup (see lifeboat restore --help)');
    const sqlTarget = await lifeboat(['restore', id, '--vault', vault, '--key-file', keyFile, '--target', 'postgres://u@127.0.0.1:5432/x']);
    expect(errorLine(sqlTarget.stderr)?.message).toBe(`--target: backup ${id} is a Redis backup; give a redis:// URL (see lifeboat restore --help)`);
  });
});
