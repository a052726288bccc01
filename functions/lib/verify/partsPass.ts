/**
 * Verification of a multi-part payload (vault format v1.1): every part gets the single payload's pass
 * (payloadPass.ts: size and SHA-256 of the stored bytes, decryption of every frame, the zstd checksum,
 * `pg_restore --list` of its archive), several parts at once; then, when a restore server is given, the
 * restore test is the engine's own parallel restore of all the parts into the scratch database. That reads
 * the stored bytes a second time (the pass cannot feed one pg_restore per part and a parallel index
 * build at once), but checks exactly what a real restore does.
 */
import { performance } from 'node:perf_hooks';
import { backupEncryptionContext } from '../crypto/envelope.ts';
import type { BackupKeyring } from '../crypto/keyring.ts';
import { type ConnectionInfo, redact } from '../engine/connection.ts';
import { messageOf } from '../engine/driver.ts';
import { resolveJobs } from '../engine/jobs.ts';
import { runPartsRestore } from '../engine/parallelRestore.ts';
import { ArchiveRestoreInProgressError, LifeboatError, RestoreTargetUnreachableError, SourceUnreachableError, WrongKeyError } from '../errors.ts';
import { backupPrefix } from '../vault/layout.ts';
import type { DumpManifest, ManifestPart } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import type { CheckName, VerificationCheck } from '../vault/verification.ts';
import { structureCheck } from './consumers.ts';
import { isUnwrapFailure, wrongKeyError } from '../crypto/envelope.ts';
import { type PassOutcome, streamPayload } from './payloadPass.ts';
import { type ScratchDatabase, assertServerReachable, createScratchDatabase, describeDropFailure } from './scratch.ts';

/** What verify.ts's check list offers this pass. */
export interface CheckSink {
  set(name: CheckName, status: VerificationCheck['status'], reason: string | undefined, ms: number): void;
  passed(name: CheckName): boolean;
  skipRest(after: CheckName, reason: string): void;
  dropFailed(reason: string): void;
}

type RestoreTarget = { restoreTarget?: { server: string; database: string } };

export interface PartsPassInput<D extends object> {
  readonly store: VaultStore;
  readonly manifest: DumpManifest;
  readonly keyring: BackupKeyring;
  /** Why the key given cannot be the backup's, found before any byte was read. */
  readonly keyProblem: string | undefined;
  readonly server: ConnectionInfo | undefined;
  readonly checks: CheckSink;
  /** Row counts and SQL checks in the restored database (verify.ts's); returns the details to record. */
  readonly inspect: (target: ConnectionInfo) => Promise<D>;
  /** `host:port` of the server, as the result records it. */
  readonly hostPort: (server: ConnectionInfo) => string;
  /** Parts checked and restored at once. @default the runner's vCPUs */
  readonly jobs?: number;
}

interface PartOutcome {
  readonly part: ManifestPart;
  readonly key: string;
  readonly pass?: PassOutcome;
  readonly structure?: { ok: boolean; reason?: string };
}

/** Fills `checks` from checksum to sql-checks for a multi-part payload; returns the run details. */
export async function verifyPartsPayload<D extends object>(input: PartsPassInput<D>): Promise<RestoreTarget | (RestoreTarget & D)> {
  const { store, manifest, keyring, keyProblem, server, checks } = input;
  const parts = manifest.payload.parts ?? [];
  const prefix = backupPrefix(manifest.sourceId, manifest.backupId);
  const context = backupEncryptionContext(manifest.sourceId, manifest.backupId);
  const since = performance.now();
  const jobs = resolveJobs(input.jobs);

  const missing: string[] = [];
  for (const part of parts) if ((await store.head(`${prefix}${part.key}`)) === undefined) missing.push(`${prefix}${part.key}`);
  if (missing.length > 0) {
    checks.set('checksum', 'failed', `part(s) ${missing.join(', ')} missing from ${store.location}`, 0);
    checks.skipRest('checksum', 'not checked: part of the payload is missing');
    return {};
  }

  const outcomes: PartOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < parts.length) {
      const part = parts[next++]!;
      const key = `${prefix}${part.key}`;
      const structure = keyProblem ? undefined : structureCheck('postgresql', since);
      try {
        const pass = await streamPayload({
          source: await store.getStream(key),
          ...(keyProblem ? {} : { decrypt: { keyring, encryptionContext: context } }),
          consumers: structure ? [structure] : [],
        });
        outcomes.push({ part, key, pass, ...(structure ? { structure: await structure.verdict() } : {}) });
      } finally {
        structure?.abort();
        await structure?.verdict().catch(() => {});
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, parts.length) }, worker));
  outcomes.sort((a, b) => parts.indexOf(a.part) - parts.indexOf(b.part));
  const elapsed = () => performance.now() - since;
  const storedMs = Math.max(...outcomes.map((o) => o.pass?.storedMs ?? 0));

  const checksumFailures = outcomes.flatMap(({ part, key, pass }) => {
    if (!pass) return [];
    if (pass.storedBytes !== part.storedBytes) {
      return [`part ${key} holds ${pass.storedBytes} bytes; the manifest records ${part.storedBytes} (${pass.storedBytes < part.storedBytes ? 'truncated' : 'longer than recorded'})`];
    }
    if (pass.sha256 !== part.sha256) return [`part ${key} has SHA-256 ${pass.sha256}; the manifest records ${part.sha256} (altered or replaced)`];
    return [];
  });
  checks.set('checksum', checksumFailures.length === 0 ? 'passed' : 'failed', checksumFailures.join('; ') || undefined, storedMs);
  // Intact stored bytes whose data key will not unwrap: the key is wrong, not the backup; nothing is recorded.
  const unwrapped = outcomes.find(({ pass }) => isUnwrapFailure(pass?.opened?.error));
  if (checksumFailures.length === 0 && unwrapped) {
    throw wrongKeyError(manifest.backupId, unwrapped.pass?.opened?.error, 'nothing was recorded');
  }

  if (keyProblem) {
    checks.set('decrypt', 'failed', keyProblem, 0);
  } else {
    const decryptFailures = outcomes.flatMap(({ part, key, pass }) => {
      const opened = pass?.opened;
      if (!opened) return [`part ${key} was not decrypted`];
      if (opened.error !== undefined) {
        const message = messageOf(opened.error);
        if (/unencryptedDataKey has not been set/.test(message)) {
          return [`part ${key}: the key given cannot unwrap this backup's data key: it is not the key the backup was encrypted with (${message})`];
        }
        return [`part ${key}: ${message}`];
      }
      if (opened.rawBytes !== part.rawBytes) return [`part ${key} decompresses to ${opened.rawBytes} bytes; the manifest records ${part.rawBytes}`];
      return [];
    });
    checks.set('decrypt', decryptFailures.length === 0 ? 'passed' : 'failed', decryptFailures.join('; ') || undefined, elapsed());
  }

  if (!checks.passed('decrypt')) {
    checks.set('structure', 'skipped', 'not checked: the payload did not decrypt and decompress', 0);
  } else {
    const structureFailures = outcomes.flatMap(({ key, structure }) => (structure && !structure.ok ? [`part ${key}: ${structure.reason ?? 'failed'}`] : []));
    checks.set('structure', structureFailures.length === 0 ? 'passed' : 'failed', structureFailures.join('; ') || undefined, elapsed());
  }

  const integrityFailure = (['checksum', 'decrypt'] as const).find((name) => !checks.passed(name));
  if (!server) {
    checks.skipRest('structure', 'no restore server given: the restore test did not run');
    return {};
  }
  if (integrityFailure) {
    checks.skipRest('structure', `not run: the payload failed the ${integrityFailure} check`);
    return {};
  }

  let scratch: ScratchDatabase | undefined;
  let details: RestoreTarget = {};
  try {
    scratch = await createScratchDatabase(server, manifest.sourceId);
    details = { restoreTarget: { server: input.hostPort(server), database: scratch.target.database } };
    const restoreStarted = performance.now();
    let failure: unknown;
    try {
      await runPartsRestore({ store, manifest, keyring, target: scratch.target, dropExisting: false, jobs, preverified: true });
    } catch (error) {
      failure = error;
    }
    const restoreMs = performance.now() - restoreStarted;
    if (failure !== undefined) {
      // A restore cut off because the server went away says nothing about the backup: that throws instead.
      if (failure instanceof SourceUnreachableError || failure instanceof RestoreTargetUnreachableError || failure instanceof ArchiveRestoreInProgressError) throw failure;
      await assertServerReachable(server);
      if (!(failure instanceof LifeboatError)) throw failure;
      checks.set('restore', 'failed', redact(failure.message, server), restoreMs);
      checks.skipRest('restore', 'not checked: the restore failed');
      return details;
    }
    checks.set('restore', 'passed', undefined, restoreMs);
    return { ...details, ...(await input.inspect(scratch.target)) };
  } finally {
    if (scratch) {
      try {
        await scratch.drop();
      } catch (error) {
        checks.dropFailed(describeDropFailure(scratch, error));
      }
    }
  }
}
