/**
 * `--verification-key` (issue 12): `lifeboat verify` signs its result, and `list`, `show` and `prune` given the key
 * count only results that authenticate. The attack: a corrupted backup whose genuine result says "failed", and a
 * forged "verified" result planted under a far-future name by someone who can put objects in the vault.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { localHmacSigner } from '../../functions/lib/crypto/mac.ts';
import { payloadKey } from '../../functions/lib/vault/layout.ts';
import { type VerificationResult, verificationMacMessage } from '../../functions/lib/vault/verification.ts';
import { createPostgresDatabase, type PostgresDatabase } from '../harness/databases.ts';
import { lifeboat, tempDir } from './support.ts';

const SOURCE = 'vk-orders';
const FORGED = '99991231T235959.999Z.json';

let dir: Awaited<ReturnType<typeof tempDir>>;
let db: PostgresDatabase;
let vault: string;
let keyFile: string;
let verificationKeyFile: string;
let backupId: string;
let genuineKey: string;

beforeAll(async () => {
  dir = await tempDir('verification-key');
  vault = join(dir.path, 'vault');
  keyFile = join(dir.path, 'vault.key');
  verificationKeyFile = join(dir.path, 'verification.key');
  for (const file of [keyFile, verificationKeyFile]) expect((await lifeboat(['keygen', '--key-file', file])).code).toBe(ExitCode.ok);
  db = await createPostgresDatabase('vk');
  await db.query('CREATE TABLE orders (id serial PRIMARY KEY, total integer NOT NULL)');
  await db.query('INSERT INTO orders (total) SELECT g FROM generate_series(1, 500) g');
  const backup = await lifeboat(['backup', '--source', db.url, '--source-id', SOURCE, '--vault', vault, '--key-file', keyFile, '--jobs', '1']);
  expect(backup.code, backup.stderr).toBe(ExitCode.ok);
  backupId = backup.stdout.trim();

  // The payload is damaged at rest; the verifier finds it and signs a "failed" result.
  const payload = join(vault, ...payloadKey(SOURCE, backupId).split('/'));
  const bytes = await readFile(payload);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  await writeFile(payload, bytes);
  const verified = await lifeboat(['verify', backupId, '--vault', vault, '--key-file', keyFile, '--verification-key', verificationKeyFile, '--json']);
  expect(verified.code, verified.stderr).toBe(4);
  const genuine = JSON.parse(verified.stdout) as VerificationResult;
  expect(genuine.status).toBe('failed');

  // The forgery: the genuine result turned into a pass, signed with a key that is not the verifier's.
  const forged: VerificationResult = {
    ...genuine,
    status: 'verified',
    completedAt: '9999-12-31T23:59:59.999Z',
    checks: genuine.checks.map((check) => ({ name: check.name, status: 'passed', durationMs: check.durationMs })),
  };
  delete (forged as { reason?: string }).reason;
  delete (forged as { mac?: string }).mac;
  const attacker = localHmacSigner(Buffer.alloc(32, 1));
  const signed = { ...forged, mac: await attacker.sign(verificationMacMessage(forged)) };
  const verifications = join(vault, 'backups', SOURCE, backupId, 'verifications');
  await writeFile(join(verifications, FORGED), JSON.stringify(signed));
  genuineKey = `backups/${SOURCE}/${backupId}/verifications/${(await import('node:fs/promises').then((fs) => fs.readdir(verifications))).filter((n) => n !== FORGED)[0]}`;
}, 120_000);

afterAll(async () => {
  await db?.drop();
  await dir?.remove();
});

const statusOf = async (extra: string[]) => {
  const result = await lifeboat(['list', '--vault', vault, '--source', SOURCE, '--json', ...extra]);
  expect(result.code, result.stderr).toBe(ExitCode.ok);
  return (JSON.parse(result.stdout) as { backups: { status: Record<string, unknown> }[] }).backups[0]!.status;
};

describe('lifeboat --verification-key', () => {
  it('verify signs the result it writes', async () => {
    const stored = JSON.parse(await readFile(join(vault, ...genuineKey.split('/')), 'utf8')) as VerificationResult;
    expect(stored.formatVersion).toBe('1.1');
    expect(stored.mac).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await localHmacSigner(Buffer.from((JSON.parse(await readFile(verificationKeyFile, 'utf8')) as { key: string }).key, 'base64')).verify(verificationMacMessage(stored), stored.mac!)).toBe(true);
  });

  it('without the key, the forged newest result wins: what an unauthenticated reader sees', async () => {
    expect(await statusOf([])).toMatchObject({ state: 'verified', verification: `backups/${SOURCE}/${backupId}/verifications/${FORGED}` });
  });

  it('with the key, list and show ignore the forgery, report it, and keep the genuine failure', async () => {
    const status = await statusOf(['--verification-key', verificationKeyFile]);
    expect(status).toMatchObject({ state: 'failed', authenticated: true, verification: genuineKey });
    expect(status['warnings']).toEqual([
      `1 verification result ignored: backups/${SOURCE}/${backupId}/verifications/${FORGED} fails authentication with the verification key (forged or altered)`,
    ]);
    const env = { LIFEBOAT_VERIFICATION_KEY: verificationKeyFile };
    const show = await lifeboat(['show', backupId, '--vault', vault], { env });
    expect(show.stdout).toMatch(/^Status\s+failed/m);
  });

  it('status counts the backup as verified only without the key', async () => {
    const without = await lifeboat(['status', '--vault', vault, '--source', SOURCE, '--json']);
    const withKey = await lifeboat(['status', '--vault', vault, '--source', SOURCE, '--json', '--verification-key', verificationKeyFile]);
    const lastVerified = (r: { stdout: string }) => (JSON.parse(r.stdout) as { sources: { lastVerified: unknown }[] }).sources[0]!.lastVerified;
    expect(lastVerified(without)).toMatchObject({ backupId });
    expect(lastVerified(withKey)).toBeNull();
  });

  it('with the key, prune deletes nothing for the source and says why', async () => {
    const result = await lifeboat(['prune', '--vault', vault, '--source', SOURCE, '--keep-last', '0', '--key-file', keyFile, '--verification-key', verificationKeyFile, '--json']);
    expect(result.code).toBe(ExitCode.failed);
    expect(result.stdout).toContain('fails authentication with the verification key');
  });

  it('names a bad key ARN as a usage error', async () => {
    const result = await lifeboat(['list', '--vault', vault, '--verification-key', 'arn:aws:kms:eu-west-1:nope']);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr).toMatch(/--verification-key must be a KMS key ARN/);
  });
});
