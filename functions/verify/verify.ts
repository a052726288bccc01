import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readDatabaseSecret } from '../lib/aws/databaseSecret.ts';
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { SIZE_ANOMALY, publishAlert } from '../lib/alerts/index.ts';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import type { ConnectionInfo } from '../lib/engine/connection.ts';
import { DEFAULT_DATABASE_TLS, databaseTlsSettings, type DatabaseTls } from '../lib/engine/tls.ts';
import { ConfigError, VerificationFailedError } from '../lib/errors.ts';
import { BACKUP_ID_PATTERN } from '../lib/vault/layout.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import type { CheckName, CheckStatus, VerificationResult } from '../lib/vault/verification.ts';
import { sweepStaleScratch, verifyBackup } from '../lib/verify/index.ts';
import { CacheSourceSchema, DatabaseSourceSchema } from '../dump/dump.ts';
import { FileSetSourceSchema } from '../fileset-backup/backup.ts';
import { verifyFileSetSnapshot } from '../lib/verify/fileSet.ts';
import { verifyConfigSetBackup } from '../lib/verify/configSet.ts';

/**
 * A source as the verify function is told of it: the dump function's entry (same LIFEBOAT_SOURCES JSON)
 * plus the optional verification settings from the source's config.
 */
const AnomalySchema = z
  .object({
    minRatio: z.number().positive().max(1).optional(),
    maxRatio: z.number().min(1).optional(),
    window: z.int().min(2).optional(),
  })
  .optional();

const BackupSourceSchema = z.discriminatedUnion('engine', [
  DatabaseSourceSchema.extend({
    /** Run in the restored database; each passes when it returns a row whose first column is true. */
    sqlChecks: z.array(z.string().trim().min(1)).optional(),
    anomaly: AnomalySchema,
  }),
  // A cache's backup is verified in a scratch redis-server (functions/lib/redis/verify.ts): no server, no SQL.
  CacheSourceSchema.extend({ anomaly: AnomalySchema }),
]);

/** A file set: its snapshots are checked pack by pack and chunk by chunk (functions/lib/verify/fileSet.ts). */
const FileSetVerifySourceSchema = FileSetSourceSchema.extend({
  /** Share of the packs written by earlier snapshots that each verification reads in full (its own are always read). */
  readDataPercent: z.number().min(0).max(100).optional(),
});
export type FileSetVerifySource = z.infer<typeof FileSetVerifySourceSchema>;

/** A configuration source: its backups are read back item by item (functions/lib/verify/configSet.ts). */
const ConfigVerifySourceSchema = z.object({ id: z.string().min(1), kind: z.literal('config') });
export type ConfigVerifySource = z.infer<typeof ConfigVerifySourceSchema>;

export const VerifySourceSchema = z.union([BackupSourceSchema, FileSetVerifySourceSchema, ConfigVerifySourceSchema]);
export type VerifySource = z.infer<typeof VerifySourceSchema>;
type BackupVerifySource = z.infer<typeof BackupSourceSchema>;

export function isFileSetSource(source: VerifySource): source is FileSetVerifySource {
  return 'kind' in source && source.kind === 'fileset';
}

export function isConfigSource(source: VerifySource): source is ConfigVerifySource {
  return 'kind' in source && source.kind === 'config';
}

const VerifyServerSchema = z.object({
  /** Secrets Manager secret with `username` and `password` of a user that may create and drop databases. */
  secretArn: z.string().startsWith('arn:'),
  host: z.string().min(1),
  port: z.int().min(1).max(65_535),
});

/** VERIFY_SERVERS: one verification server per engine; an engine without one gets no restore test. */
export const VerifyServersSchema = z.strictObject({
  postgresql: VerifyServerSchema.optional(),
  mysql: VerifyServerSchema.optional(),
});
export type VerifyServers = z.infer<typeof VerifyServersSchema>;

/** What the backup state machine sends. Extra fields are ignored. */
export const VerifyEventSchema = z.object({
  sourceId: z.string().min(1),
  backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab'),
  /** `$$.Execution.Id`, for the link in the alert. */
  executionArn: z.string().startsWith('arn:').optional(),
});
export type VerifyEvent = z.input<typeof VerifyEventSchema>;


export interface VerifyDeps {
  /** Records `verification` events (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
  readonly sources: readonly VerifySource[];
  readonly servers: VerifyServers;
  readonly secrets: Pick<SecretsManagerClient, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
  readonly alertTopicArn: string;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  /** The verification key: every result is signed with it (see `vault/verification.ts`). @default unsigned */
  readonly verificationKey?: MacSigner;
  readonly now?: () => Date;
  /**
   * TLS to the verification server: `verify-full` checks the certificate against the RDS CAs and the host name; `require`
   * encrypts without checking; `disable` is for local servers without TLS (tests, a laptop).
   * @default 'verify-full'
   */
  readonly tls?: DatabaseTls;
  /** The RDS CA bundle's path, which `verify-full` needs (LIFEBOAT_RDS_CA_BUNDLE in the tools image). @default - none */
  readonly caBundle?: string;
  /** A multi-part backup: parts checked and restored at once. @default the runner's vCPUs */
  readonly jobs?: number;
  /**
   * A scratch database older than this with no session connected was left by a run that was killed
   * (a timeout ends a Lambda before its `finally`), and the next verification drops it.
   * @default 30 minutes (twice the longest Lambda timeout)
   */
  readonly staleScratchAfterMs?: number;
}

export const DEFAULT_STALE_SCRATCH_MS = 30 * 60 * 1000;

/** What the state machine gets back from a backup that verified (a failure throws instead). */
export interface VerifyOutput {
  readonly sourceId: string;
  readonly backupId: string;
  readonly status: 'verified';
  readonly checks: Readonly<Partial<Record<CheckName, CheckStatus>>>;
  /** Checks that passed with a warning, with their reasons (a size anomaly, an estimated row count that differs). */
  readonly warnings: readonly string[];
  /** Whether a WARNING alert was published (a size anomaly). */
  readonly alerted: boolean;
  /** Scratch databases of killed earlier runs dropped before this one (see `staleScratchAfterMs`). */
  readonly sweptScratch: readonly string[];
}

/**
 * Verifies the backup named in the event and records the result in the vault. A failed verification
 * publishes an ERROR alert and then throws `VerificationFailedError`, so the execution fails and its
 * Catch sees the name (and must not alert again); a size anomaly publishes a WARNING and returns.
 * Errors that are not a verdict (unknown source or backup, vault or verification server unreachable,
 * the alert not published) propagate with their own names for the state machine's Retry/Catch.
 */
export async function verifySourceBackup(event: unknown, deps: VerifyDeps): Promise<VerifyOutput> {
  return audited(deps.audit, () => verifySourceBackupNow(event, deps), {
    succeeded: (r) => ({ type: 'verification', outcome: 'succeeded', ...idsOf(event), sourceId: r.sourceId, backupId: r.backupId, details: { checks: r.checks, warnings: r.warnings } }),
    // Only a verdict is a failed verification; an operator's or the environment's error is a failed run of it.
    failed: (error) => ({ type: 'verification', outcome: 'failed', ...idsOf(event), details: { ...failureDetails(error), verdict: error.name === 'VerificationFailedError' } }),
  });
}

async function verifySourceBackupNow(event: unknown, deps: VerifyDeps): Promise<VerifyOutput> {
  const { sourceId, backupId, executionArn } = parseOrConfigError(VerifyEventSchema, event, 'Invalid verify event');
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) {
    throw new ConfigError(`sourceId: unknown source '${sourceId}'; this function verifies ${deps.sources.map((s) => s.id).join(', ')}`);
  }
  if (isFileSetSource(source)) return verifyFileSetNow(source, backupId, executionArn, deps);
  if (isConfigSource(source)) return verifyConfigNow(source, backupId, executionArn, deps);
  const restoreServer = await resolveVerifyServer(source, deps);
  const sweptScratch = restoreServer
    ? await sweepStaleScratch(restoreServer, {
        olderThanMs: deps.staleScratchAfterMs ?? DEFAULT_STALE_SCRATCH_MS,
        ...(deps.now ? { now: deps.now() } : {}),
      })
    : [];
  const result = await verifyBackup({
    store: deps.store,
    sourceId,
    backupId,
    keyring: deps.keyring,
    ...(restoreServer ? { restoreServer } : {}),
    ...('sqlChecks' in source && source.sqlChecks ? { sqlChecks: source.sqlChecks } : {}),
    ...(source.anomaly ? { anomaly: source.anomaly } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.jobs === undefined ? {} : { jobs: deps.jobs }),
    ...(deps.verificationKey ? { signer: deps.verificationKey } : {}),
  });

  const alertBase = await alertOnFailure(result, executionArn, deps);
  const anomaly = result.checks.find((check) => check.name === 'size-anomaly' && check.status === 'warning');
  if (anomaly) {
    await publishAlert(deps.sns, deps.alertTopicArn, { ...alertBase, severity: 'WARNING', errorName: SIZE_ANOMALY, reason: anomaly.reason ?? 'size anomaly' });
  }
  return { ...summarize(result, anomaly !== undefined), sweptScratch };
}

/**
 * A failed result: an ERROR alert, then `VerificationFailedError` (the execution fails on it). Otherwise what an
 * alert about this result would carry.
 */
async function alertOnFailure(result: VerificationResult, executionArn: string | undefined, deps: VerifyDeps) {
  const { sourceId, backupId } = result;
  const executionUrl = executionArn === undefined ? undefined : consoleUrl(executionArn);
  const alertBase = { sourceId, backupId, step: 'verify', ...(executionUrl ? { executionUrl } : {}), ...(deps.now ? { at: deps.now() } : {}) };
  if (result.status === 'failed') {
    const reason = result.reason ?? 'verification failed';
    await publishAlert(deps.sns, deps.alertTopicArn, { ...alertBase, severity: 'ERROR', errorName: 'VerificationFailedError', reason });
    throw new VerificationFailedError(`Backup ${backupId} of ${sourceId} failed verification: ${reason}`);
  }
  return alertBase;
}

/** A file-set snapshot: every pack it wrote read in full, a sample of the older ones, the result signed in its folder. */
async function verifyFileSetNow(source: FileSetVerifySource, backupId: string, executionArn: string | undefined, deps: VerifyDeps): Promise<VerifyOutput> {
  const { result } = await verifyFileSetSnapshot({
    store: deps.store,
    keyring: deps.keyring,
    sourceId: source.id,
    backupId,
    ...(source.readDataPercent === undefined ? {} : { readDataPercent: source.readDataPercent }),
    ...(deps.verificationKey ? { signer: deps.verificationKey } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  await alertOnFailure(result, executionArn, deps);
  return { ...summarize(result, false), sweptScratch: [] };
}

/** A configuration backup: every item read back against its manifest entry, the result signed beside the manifest. */
async function verifyConfigNow(source: ConfigVerifySource, backupId: string, executionArn: string | undefined, deps: VerifyDeps): Promise<VerifyOutput> {
  const result = await verifyConfigSetBackup({
    store: deps.store,
    keyring: deps.keyring,
    sourceId: source.id,
    backupId,
    ...(deps.verificationKey ? { signer: deps.verificationKey } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  await alertOnFailure(result, executionArn, deps);
  return { ...summarize(result, false), sweptScratch: [] };
}

/** The engine's verification server with credentials from Secrets Manager, or undefined when none is configured. */
async function resolveVerifyServer(source: BackupVerifySource, deps: Pick<VerifyDeps, 'servers' | 'secrets' | 'tls' | 'caBundle'>): Promise<ConnectionInfo | undefined> {
  if (source.engine === 'redis') return undefined;
  const server = deps.servers[source.engine];
  if (!server) return undefined;
  const secret = await readDatabaseSecret(deps.secrets, server.secretArn, `the ${source.engine} verification server`);
  return {
    engine: source.engine,
    host: server.host,
    port: server.port,
    user: secret.username,
    password: secret.password,
    // The maintenance database scratch databases are created from; verification never writes to it.
    database: source.engine === 'postgresql' ? 'postgres' : 'mysql',
    ...databaseTlsSettings(source.engine, deps.tls ?? DEFAULT_DATABASE_TLS, deps.caBundle),
  };
}

function summarize(result: VerificationResult, alerted: boolean): Omit<VerifyOutput, 'sweptScratch'> {
  return {
    sourceId: result.sourceId,
    backupId: result.backupId,
    status: 'verified',
    checks: Object.fromEntries(result.checks.map((check) => [check.name, check.status])),
    warnings: result.checks.filter((c) => c.status === 'warning').map((c) => `${c.name}: ${c.reason ?? 'warning'}`),
    alerted,
  };
}

/** The Step Functions console page of an execution, for the alert's link; undefined outside the `aws` partition. */
export function consoleUrl(executionArn: string): string | undefined {
  const match = /^arn:aws:states:([a-z0-9-]+):\d{12}:execution:[^:]+:[^:]+$/.exec(executionArn);
  if (!match) return undefined;
  const region = match[1]!;
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}
