import type { ConnectionInfo } from '../../functions/lib/engine/connection.ts';
import { cliAuditTrail } from '../audit.ts';
import { EVIDENCE_KEY_FLAGS } from '../evidence.ts';
import type { VerificationResult } from '../../functions/lib/vault/verification.ts';
import { booleanFlag, requiredFlag, stringFlag, stringListFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { formatTable } from '../format.ts';
import type { Output } from '../io.ts';
import { assertVaultExists, backupIdArgument, connectionFromFlag, keyringFromFlags, openVault, resolveBackup, sourceFilter } from '../options.ts';
import { backupPrefix } from '../../functions/lib/vault/layout.ts';
import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import { createProgressDisplay } from '../progress.ts';
import { originNote } from '../settings.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';
import { describeContent, plural, secondsSince } from '../summary.ts';
import { formatDuration } from '../format.ts';
import { KEY_FLAGS } from './backup.ts';
import { fileSetVerifyCommand, findFileSetSnapshot } from '../fileSets.ts';
import { findConfigBackup, verifyConfig } from '../configCommands.ts';
import type { SourceConfig } from '../../infra/config/index.ts';

/** Checks whose failure means the stored backup is not what its manifest says: the integrity exit code. */
const INTEGRITY_CHECKS: ReadonlySet<string> = new Set(['checksum', 'decrypt', 'structure']);

export const verify: Command = {
  name: 'verify',
  summary: 'Verify a backup: checksum, decryption, structure, and a test restore with row counts and SQL checks.',
  synopsis:
    'lifeboat verify ID --vault LOCATION (--key-file FILE | --kms-key ARN) [--restore-server URL] [--check SQL ...] [--source ID] [--verification-key ARN|FILE] [--json]',
  description:
    'Reads the payload once: its size and SHA-256 against the manifest, decryption end to end, decompression,\n' +
    'and the dump\'s structure (pg_restore --list / mysqldump\'s completion line). With --restore-server it\n' +
    'also restores into a scratch database lb_verify_<source>_<random> on that server, compares every\n' +
    "table's row count with the manifest, runs each --check, and drops the scratch database whatever\n" +
    'happened. The size is compared with the recent verified backups of the source. The result is written\n' +
    'to the vault beside the manifest; it is the status list and show report. Prints the report either way.',
  positionals: [{ name: 'ID', description: 'The backup id as printed by backup and list, a unique prefix of it, or "latest".' }],
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'The source id, when the backup id exists under several sources.' },
    ...KEY_FLAGS,
    ...EVIDENCE_KEY_FLAGS,
    ...VERIFICATION_KEY_FLAGS,
    'restore-server': {
      type: 'string',
      value: 'URL',
      description: "A server of the backup's engine where scratch databases may be created: postgres://USER@HOST:PORT or mysql://…",
    },
    check: {
      type: 'string',
      value: 'SQL',
      multiple: true,
      description: 'A statement run in the restored database; it passes if a row\'s first column is true (needs --restore-server).',
    },
    json: { type: 'boolean', description: 'Print the verification result as JSON (the object written to the vault).' },
    'read-data-subset': {
      type: 'string',
      value: 'N%',
      description: 'File sets: read this share of the packs in full (every chunk decrypted and its hash checked); default 100%.',
    },
  },
  notes:
    'The restore server password comes from the URL or PGPASSWORD / MYSQL_PWD; it is never printed or recorded.\n' +
    'Only the backup\'s own faults are recorded: a wrong key (WrongKeyError), a --check that cannot run\n' +
    '(InvalidSqlCheckError), an unreachable server or a missing client tool record nothing and exit 2 or 1.\n' +
    'Exit codes: 0 verified (warnings are printed), 4 the checksum, decrypt or structure check failed,\n' +
    '5 the restore test failed (restore, row counts or SQL checks); others as for every command.',
  maxPositionals: 1,
  async run({ flags, positionals, origins }, { output, env, deps, settings }) {
    const backupRef = backupIdArgument('verify', positionals);
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const serverUrl = stringFlag(flags, 'restore-server');
    const restoreServer = serverUrl === undefined ? undefined : restoreServerFromFlag(serverUrl, output, env);
    const givenChecks = stringListFlag(flags, 'check');
    if (givenChecks.length > 0 && !restoreServer) throw new UsageError('--check needs --restore-server: checks run in the restored database');
    const keyring = await keyringFromFlags(flags, deps);
    // Signs the result; without it the result is written unsigned, and readers with the key ignore it.
    const verificationKey = await verificationKeyFrom(flags, env);
    const signed = verificationKey ? { signer: verificationKey } : {};
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    const configBackup = await findConfigBackup(store, backupRef, sourceId);
    if (configBackup) return verifyConfig({ manifest: configBackup, store, keyring, flags, output });
    const fileSet = await findFileSetSnapshot(store, backupRef, sourceId);
    if (fileSet) return fileSetVerifyCommand({ manifest: fileSet, store, keyring, flags, output, ...signed });
    if (stringFlag(flags, 'read-data-subset') !== undefined) throw new UsageError('--read-data-subset is for file-set snapshots');
    const manifest = await resolveBackup(store, backupRef, sourceId);
    if (manifest.engine === 'redis') {
      // Restored into a scratch redis-server on this machine: --restore-server and --check do not apply.
      if (restoreServer || givenChecks.length > 0) throw new UsageError('a Redis backup is verified in a scratch redis-server on this machine: leave out --restore-server and --check');
      const { verifyRedisBackup } = await import('../../functions/lib/redis/verify.ts');
      const started = performance.now();
      const { audited, failureDetails } = await import('../../functions/lib/audit/index.ts');
      const trail = await cliAuditTrail(store, flags, env, output);
      const ids = { sourceId: manifest.sourceId, backupId: manifest.backupId };
      const result = await audited(trail, () => verifyRedisBackup({ store, manifest, keyring, ...signed }), {
        succeeded: (r) => ({ type: 'verification', outcome: r.status === 'verified' ? 'succeeded' : 'failed', ...ids, details: { checks: Object.fromEntries(r.checks.map((c) => [c.name, c.status])), verdict: true } }),
        failed: (error) => ({ type: 'verification', outcome: 'failed', ...ids, details: { ...failureDetails(error), verdict: false } }),
      });
      if (booleanFlag(flags, 'json')) output.json(result);
      else output.out(renderResult(result));
      return verdictExit(result, manifest, started, output);
    }
    // The config's checks for the source, unless --check gives others; they need a restore server.
    const sqlChecks = givenChecks.length > 0 || !restoreServer ? givenChecks : sqlChecksOf(await settings.source(manifest.sourceId));

    const { verifyBackup } = await import('../../functions/lib/verify/verify.ts');
    const progress = createProgressDisplay(output, {
      quiet: booleanFlag(flags, 'quiet'),
      total: manifest.payload ? { bytes: manifest.payload.storedBytes, measure: 'stored' } : undefined,
    });
    const started = performance.now();
    const { audited, failureDetails } = await import('../../functions/lib/audit/index.ts');
    const trail = await cliAuditTrail(store, flags, env, output);
    const ids = { sourceId: manifest.sourceId, backupId: manifest.backupId };
    let result: VerificationResult;
    try {
      result = await audited(
        trail,
        () =>
          verifyBackup({
            store: manifest.payload ? progress.trackReads(store, payloadKeys(manifest), 'verify') : store,
            backupId: manifest.backupId,
            keyring,
            sourceId: manifest.sourceId,
            ...(restoreServer ? { restoreServer } : {}),
            sqlChecks,
            ...signed,
          }),
        {
          // A recorded verdict, passed or failed; an operator's error (wrong key, unreachable server) is a failed run, no verdict.
          succeeded: (r) => ({ type: 'verification', outcome: r.status === 'verified' ? 'succeeded' : 'failed', ...ids, details: { checks: Object.fromEntries(r.checks.map((c) => [c.name, c.status])), warnings: r.checks.filter((c) => c.status === 'warning').map((c) => c.reason ?? c.name), verdict: true } }),
          failed: (error) => ({ type: 'verification', outcome: 'failed', ...ids, details: { ...failureDetails(error), verdict: false } }),
        },
      );
    } finally {
      progress.clear();
    }
    if (booleanFlag(flags, 'json')) output.json(result);
    else output.out(renderResult(result));
    return verdictExit(result, manifest, started, output);
  },
};

/** The summary or the failure line, and the exit code of a verification result. */
function verdictExit(result: VerificationResult, manifest: BackupManifest, started: number, output: Output): number {
  if (result.status === 'verified') {
    output.summary(verifySummary(result, manifest, secondsSince(started)));
    return ExitCode.ok;
  }
  const first = result.checks.find((check) => check.status === 'failed');
  output.error(`lifeboat: VerificationFailedError: ${result.reason ?? 'verification failed'}`);
  return first && INTEGRITY_CHECKS.has(first.name) ? ExitCode.integrity : ExitCode.verification;
}

/**
 * `--restore-server`: a server URL; its database, if any, is only where the tools connect to create and
 * drop scratch databases, so without one the engine's maintenance database is used.
 */
export function restoreServerFromFlag(url: string, output: Output, env: Readonly<Record<string, string | undefined>>, flag = '--restore-server'): ConnectionInfo {
  let withDatabase = url;
  const match = /^([a-z]+):\/\/([^/?#]*)(\/?)(\?.*)?$/i.exec(url);
  if (match) {
    const maintenance = /^postgres(ql)?$/i.test(match[1]!) ? 'postgres' : 'mysql';
    withDatabase = `${match[1]}://${match[2]}/${maintenance}${match[4] ?? ''}`;
  }
  return connectionFromFlag(flag, withDatabase, output, env);
}

function renderResult(result: VerificationResult): string {
  const lines = [`Backup ${result.backupId} of ${result.sourceId}: ${result.status === 'verified' ? 'verified' : 'FAILED'}`, ''];
  const rows = result.checks.map((check) => [check.name, check.status, `${check.durationMs} ms`, check.reason ?? '']);
  lines.push(formatTable(['CHECK', 'STATUS', 'TIME', 'DETAIL'], rows, new Set([2])));
  if (result.restoreTarget) {
    lines.push('', `Restore test: scratch database ${result.restoreTarget.database} on ${result.restoreTarget.server} (dropped afterwards)`);
  }
  const differing = (result.tables ?? []).filter((table) => table.status !== 'passed');
  if (differing.length > 0) {
    lines.push(
      '',
      formatTable(
        ['SCHEMA', 'TABLE', 'MANIFEST', 'RESTORED', 'STATUS'],
        differing.map((t) => [t.schema || '-', t.name, String(t.expectedRows), t.actualRows === undefined ? 'missing' : String(t.actualRows), t.status]),
        new Set([2, 3]),
      ),
    );
  }
  if (result.anomaly) {
    const a = result.anomaly;
    lines.push('', `Size: ${a.rawBytes} bytes raw, ${a.ratio}x the median ${a.medianRawBytes} of ${a.compared.length} earlier verified backups (allowed ${a.minRatio}x to ${a.maxRatio}x)`);
  }
  if (result.reason) lines.push('', `Reason: ${result.reason}`);
  return lines.join('\n');
}

/** `Verified orders-db/20261202T…: 7 checks passed (restore test: 21 tables, 46,273 rows), in 4.2s` */
function verifySummary(result: VerificationResult, manifest: BackupManifest, seconds: number): string {
  const passed = result.checks.filter((check) => check.status === 'passed' || check.status === 'warning').length;
  const keys = manifest.content.keyspace?.reduce((sum, db) => sum + db.keys, 0);
  const restored =
    keys !== undefined
      ? ` (restore test in a scratch redis-server: ${plural(keys, 'key')})`
      : result.restoreTarget
        ? ` (restore test: ${describeContent(manifest)})`
        : ' (no restore test: give --restore-server)';
  return `Verified ${result.sourceId}/${result.backupId}: ${plural(passed, 'check')} passed${restored}, in ${formatDuration(seconds)}`;
}

/** The store keys a verify reads the payload from: the one payload object, or each part of a multi-part one. */
export function payloadKeys(manifest: BackupManifest): string[] {
  const prefix = backupPrefix(manifest.sourceId, manifest.backupId);
  if (!manifest.payload) return [];
  return manifest.payload.parts ? manifest.payload.parts.map((part) => `${prefix}${part.key}`) : [`${prefix}${manifest.payload.key}`];
}

/** The SQL checks the config gives a source (a cache has none). */
function sqlChecksOf(source: SourceConfig | undefined): readonly string[] {
  return source !== undefined && 'sqlChecks' in source ? source.sqlChecks : [];
}
