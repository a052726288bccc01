import type { BackupManifest } from '../../../functions/lib/vault/manifest.ts';
import { type VerificationResult, verificationBinding } from '../../../functions/lib/vault/verification.ts';

/** A complete, valid v1.0 manifest of a PostgreSQL dump; override what a test is about. */
export function sampleManifest(overrides: Partial<BackupManifest> = {}): BackupManifest {
  return {
    format: 'lifeboat-backup',
    formatVersion: '1.0',
    backupId: '20261122T053327Z-k3x7q2ab',
    sourceId: 'orders-db',
    kind: 'dump',
    engine: 'postgresql',
    startedAt: '2026-11-22T05:33:27.120Z',
    completedAt: '2026-11-22T05:41:02.907Z',
    source: { database: 'orders', serverVersion: '16.4', host: 'orders.cluster-abc.eu-west-1.rds.amazonaws.com' },
    tools: { lifeboat: '0.1.0', dump: { name: 'pg_dump', version: '16.4' } },
    payload: {
      key: 'payload',
      format: 'pg_dump-custom',
      rawBytes: 73_400_320,
      storedBytes: 18_874_368,
      sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    },
    compression: { codec: 'zstd', level: 3 },
    encryption: {
      scheme: 'aws-encryption-sdk',
      algorithmSuite: 'AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384',
      frameLength: 4096,
      keyring: { type: 'kms', keyIds: ['arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd'] },
      encryptionContext: { 'lifeboat:source': 'orders-db', 'lifeboat:backup': '20261122T053327Z-k3x7q2ab' },
    },
    content: {
      tables: [
        { schema: 'public', name: 'orders', rows: 120_433, rowsExact: true },
        { schema: 'public', name: 'customers', rows: 8_812, rowsExact: false },
      ],
    },
    ...overrides,
  };
}

/**
 * A valid v1.0 verification result of `sourceId/backupId`, completed at `at`: every check passed when
 * verified, the restore's row counts failed (with `reason`) when failed.
 */
export function sampleVerification(options: {
  sourceId: string;
  backupId: string;
  status: 'verified' | 'failed';
  at: Date;
  reason?: string;
  /** The manifest the result is bound to. @default a placeholder digest (readers given no manifest do not check it) */
  manifest?: BackupManifest;
}): VerificationResult {
  const { sourceId, backupId, status, at } = options;
  const reason = options.reason ?? 'table public.orders has 119 rows after the restore; the manifest records 120';
  const passed = (name: VerificationResult['checks'][number]['name']) => ({ name, status: 'passed' as const, durationMs: 5 });
  return {
    format: 'lifeboat-verification',
    formatVersion: '1.1',
    sourceId,
    backupId,
    status,
    startedAt: new Date(at.getTime() - 1_000).toISOString(),
    completedAt: at.toISOString(),
    checks: [
      passed('checksum'),
      passed('decrypt'),
      passed('structure'),
      passed('restore'),
      status === 'failed' ? { name: 'row-counts', status: 'failed', reason, durationMs: 5 } : passed('row-counts'),
    ],
    ...(status === 'failed' ? { reason } : {}),
    ...(options.manifest ? verificationBinding(options.manifest) : { manifestSha256: PLACEHOLDER_DIGEST }),
  };
}

/** The binding of a sample result written without its manifest. */
export const PLACEHOLDER_DIGEST = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
