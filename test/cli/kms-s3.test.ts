/**
 * The CLI against the AWS-shaped parts: a vault in an S3 bucket (s3rver on loopback, reached through
 * LIFEBOAT_S3_ENDPOINT) and `--kms-key` (a stand-in KMS client, since there is no KMS off AWS).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import type { KmsClientProvider } from '../../functions/lib/crypto/keyring.ts';
import { createPostgresDatabase, type PostgresDatabase } from '../harness/databases.ts';
import { type LocalS3, startLocalS3 } from '../harness/s3.ts';
import { fingerprint, quotePostgres } from './compare.ts';
import { errorLine, lifeboat, S3RVER_CREDENTIALS, tempDir } from './support.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
const REPLICA_ARN = 'arn:aws:kms:eu-central-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';

/**
 * Enough of KMS for the Encryption SDK's keyring: data keys "wrapped" as JSON naming their key and
 * encryption context, so a decrypt under another key or context fails as KMS would.
 */
function fakeKms(calls: { region: string; operation: string; keyId: string }[]): KmsClientProvider {
  return (region) => {
    const wrap = (KeyId: string, Plaintext: Uint8Array, EncryptionContext: unknown) => ({
      KeyId,
      Plaintext,
      CiphertextBlob: Buffer.from(JSON.stringify({ KeyId, key: Buffer.from(Plaintext).toString('base64'), EncryptionContext })),
    });
    return {
      async generateDataKey({ KeyId, NumberOfBytes, EncryptionContext }: { KeyId: string; NumberOfBytes: number; EncryptionContext: unknown }) {
        calls.push({ region, operation: 'GenerateDataKey', keyId: KeyId });
        return wrap(KeyId, randomBytes(NumberOfBytes), EncryptionContext);
      },
      async encrypt({ KeyId, Plaintext, EncryptionContext }: { KeyId: string; Plaintext: Uint8Array; EncryptionContext: unknown }) {
        calls.push({ region, operation: 'Encrypt', keyId: KeyId });
        const { Plaintext: _plain, ...rest } = wrap(KeyId, Plaintext, EncryptionContext);
        return rest;
      },
      async decrypt({ KeyId, CiphertextBlob, EncryptionContext }: { KeyId: string; CiphertextBlob: Uint8Array; EncryptionContext: unknown }) {
        calls.push({ region, operation: 'Decrypt', keyId: KeyId });
        const wrapped = JSON.parse(Buffer.from(CiphertextBlob).toString('utf8')) as { KeyId: string; key: string; EncryptionContext: unknown };
        const keyId = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);
        if (keyId(wrapped.KeyId) !== keyId(KeyId) || canonical(wrapped.EncryptionContext) !== canonical(EncryptionContext)) {
          throw Object.assign(new Error('The ciphertext refers to a customer master key that does not exist'), { name: 'InvalidCiphertextException' });
        }
        return { KeyId, Plaintext: Buffer.from(wrapped.key, 'base64') };
      },
    } as unknown as ReturnType<KmsClientProvider>;
  };
}

function canonical(context: unknown): string {
  return JSON.stringify(Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1)));
}

let source: PostgresDatabase;
const scratch: PostgresDatabase[] = [];
let s3: LocalS3;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  source = await createPostgresDatabase('cli_aws_source');
  await source.query('CREATE TABLE items (id int PRIMARY KEY, label text, blob bytea)');
  await source.query("INSERT INTO items SELECT i, 'item ' || i, decode(md5(i::text), 'hex') FROM generate_series(1, 1000) AS i");
  s3 = await startLocalS3();
  dir = await tempDir('aws');
});

afterAll(async () => {
  await Promise.all([source?.drop(), ...scratch.map((db) => db.drop())]);
  await s3?.stop();
  await dir?.remove();
});

async function freshDatabase(label: string): Promise<PostgresDatabase> {
  const db = await createPostgresDatabase(label);
  scratch.push(db);
  return db;
}

describe('a vault in S3', () => {
  it('round-trips backup, list, show and restore through s3://bucket/prefix', async () => {
    const bucket = await s3.createBucket();
    const vault = `s3://${bucket}/team-a/vault`;
    const env = { LIFEBOAT_S3_ENDPOINT: s3.endpoint, ...S3RVER_CREDENTIALS };
    const keyFile = join(dir.path, 's3-key.json');
    await lifeboat(['keygen', '--key-file', keyFile, '-q']);

    const empty = await lifeboat(['list', '--vault', vault], { env });
    expect(empty).toEqual({ code: ExitCode.ok, stdout: `No backups in ${vault}\n`, stderr: '' });

    const backup = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', keyFile, '--source-id', 'items'], { env });
    expect(backup.stderr).toMatch(/^Backed up [^\n]+\n$/);
    expect(backup.code).toBe(ExitCode.ok);
    const backupId = backup.stdout.trim();

    const listed = JSON.parse((await lifeboat(['list', '--vault', vault, '--json'], { env })).stdout) as { vault: string; backups: { backupId: string; sourceId: string }[] };
    expect(listed.vault).toBe(vault);
    expect(listed.backups.map((b) => [b.backupId, b.sourceId])).toEqual([[backupId, 'items']]);
    const shown = await lifeboat(['show', backupId, '--vault', vault], { env });
    expect(shown.stdout).toMatch(/^public\s+items\s+1,000$/m);

    const target = await freshDatabase('cli_aws_s3_restore');
    const restored = await lifeboat(['restore', backupId, '--vault', vault, '--key-file', keyFile, '--target', target.url], { env });
    expect(restored).toMatchObject({ code: ExitCode.ok, stdout: '' });
    expect(restored.stderr).toMatch(/^Restored items\/\S+ into [^\n]+\n$/);
    expect(await fingerprint(target.query, 'items', quotePostgres)).toEqual(await fingerprint(source.query, 'items', quotePostgres));
  });

  it('a bucket that does not exist is not found (exit 3)', async () => {
    const result = await lifeboat(['list', '--vault', 's3://lb-test-no-such-bucket/x'], { env: { LIFEBOAT_S3_ENDPOINT: s3.endpoint, ...S3RVER_CREDENTIALS } });
    expect(result.code).toBe(ExitCode.notFound);
    expect(errorLine(result.stderr)).toEqual({
      name: 'VaultNotFoundError',
      message: 'No vault at s3://lb-test-no-such-bucket/x: the bucket does not exist',
    });
  });
});

describe('--kms-key', () => {
  it('wraps the data key with KMS in the Region of the ARN; its multi-Region replica restores', async () => {
    const calls: { region: string; operation: string; keyId: string }[] = [];
    const deps = { kmsClient: fakeKms(calls) };
    const vault = join(dir.path, 'kms-vault');

    // One payload, one data key: a multi-part backup (--jobs > 1) asks KMS once per part.
    const backup = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--kms-key', KEY_ARN, '--jobs', '1'], { deps });
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    const backupId = backup.stdout.trim();
    expect(calls).toEqual([{ region: 'eu-west-2', operation: 'GenerateDataKey', keyId: KEY_ARN }]);
    const shown = await lifeboat(['show', backupId, '--vault', vault]);
    expect(shown.stdout).toMatch(new RegExp(`^Key\\s+KMS ${KEY_ARN}$`, 'm'));

    // The DR Region restores with the replica of the key, calling KMS in its own Region.
    calls.length = 0;
    const target = await freshDatabase('cli_aws_kms_restore');
    const restored = await lifeboat(['restore', backupId, '--vault', vault, '--kms-key', REPLICA_ARN, '--target', target.url], { deps });
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    expect(calls.map((c) => [c.region, c.operation])).toEqual([['eu-central-1', 'Decrypt']]);
    expect(await fingerprint(target.query, 'items', quotePostgres)).toEqual(await fingerprint(source.query, 'items', quotePostgres));

    // A key the backup was not made with does not open it, and the target is not touched.
    const otherKey = 'arn:aws:kms:eu-west-2:111122223333:key/mrk-ffffffffffffffffffffffffffffffff';
    const untouched = await freshDatabase('cli_aws_kms_wrong');
    const wrong = await lifeboat(['restore', backupId, '--vault', vault, '--kms-key', otherKey, '--target', untouched.url], { deps });
    expect(wrong.code).toBe(ExitCode.usage);
    expect(errorLine(wrong.stderr)?.name).toBe('WrongKeyError');
  });

  it('--air-gap-key also wraps each data key under the air-gapped key (Encrypt, in its Region), which alone restores it', async () => {
    const AIR_GAP_ARN = 'arn:aws:kms:eu-west-1:444455556666:key/0a1b2c3d-1111-2222-3333-444455556666';
    const calls: { region: string; operation: string; keyId: string }[] = [];
    const deps = { kmsClient: fakeKms(calls) };
    const vault = join(dir.path, 'kms-air-gap-vault');
    const backup = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--kms-key', KEY_ARN, '--air-gap-key', AIR_GAP_ARN, '--jobs', '1'], { deps });
    expect(backup.code, backup.stderr).toBe(ExitCode.ok);
    expect(calls).toEqual([
      { region: 'eu-west-2', operation: 'GenerateDataKey', keyId: KEY_ARN },
      { region: 'eu-west-1', operation: 'Encrypt', keyId: AIR_GAP_ARN },
    ]);

    calls.length = 0;
    const target = await freshDatabase('cli_aws_kms_air_gap');
    const restored = await lifeboat(['restore', backup.stdout.trim(), '--vault', vault, '--kms-key', AIR_GAP_ARN, '--target', target.url], { deps });
    expect(restored.code, restored.stderr).toBe(ExitCode.ok);
    expect(calls.map((c) => [c.region, c.operation, c.keyId])).toEqual([['eu-west-1', 'Decrypt', AIR_GAP_ARN]]);
    expect(await fingerprint(target.query, 'items', quotePostgres)).toEqual(await fingerprint(source.query, 'items', quotePostgres));

    const alone = await lifeboat(['backup', '--source', source.url, '--vault', vault, '--key-file', join(dir.path, 'none.key'), '--air-gap-key', AIR_GAP_ARN], { deps });
    expect(alone.code).toBe(ExitCode.usage);
    expect(errorLine(alone.stderr)?.message).toBe('--air-gap-key wraps data keys beside --kms-key: give --kms-key too (a local key file has no air-gapped copy) (see lifeboat backup --help)');
  });

  it('KMS refusing to decrypt is the operator\'s error (the key may not be used), reported in one line', async () => {
    const vault = join(dir.path, 'kms-vault');
    const { stdout } = await lifeboat(['list', '--vault', vault, '--json']);
    const backupId = (JSON.parse(stdout) as { backups: { backupId: string }[] }).backups[0]!.backupId;
    // No kms:Decrypt on the key, say. The Encryption SDK then emits its error twice; the second must not escape.
    const denied: KmsClientProvider = () =>
      ({
        decrypt: () => Promise.reject(Object.assign(new Error('User is not authorized to perform: kms:Decrypt'), { name: 'AccessDeniedException' })),
      }) as unknown as ReturnType<KmsClientProvider>;
    const target = await freshDatabase('cli_aws_kms_denied');
    const refused = await lifeboat(['restore', backupId, '--vault', vault, '--kms-key', KEY_ARN, '--target', target.url], { deps: { kmsClient: denied } });
    expect(refused.code).toBe(ExitCode.usage);
    expect(errorLine(refused.stderr)?.name).toBe('WrongKeyError');
    expect(refused.stderr).toContain('kms:Decrypt');
    expect(refused.stderr).not.toMatch(/\bat \S+ \(/);
  });
});
