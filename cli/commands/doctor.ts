import { describeConnection } from '../../functions/lib/engine/connection.ts';
import { booleanFlag, requiredFlag, stringFlag, stringListFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { assertVaultExists, openVault } from '../options.ts';
import { restoreServerFromFlag } from './verify.ts';

const DEFAULT_GRACE_HOURS = 24;

/** One thing found: what it is, where, and what `--repair` did about it. */
interface Finding {
  readonly kind: 'temporary-file' | 'incomplete-upload' | 'payload-without-manifest' | 'manifest-without-payload' | 'leftover-database';
  readonly what: string;
  /** Older than the grace period: safe to remove (nothing still writing it). */
  readonly stale: boolean;
  repaired?: boolean;
  repairError?: string;
}

export const doctor: Command = {
  name: 'doctor',
  summary: 'Find (and with --repair remove) what interrupted runs left in a vault, and leftover databases on a server.',
  synopsis: 'lifeboat doctor --vault LOCATION [--repair] [--grace-hours N] [--server URL ...] [--json]',
  description:
    'Looks for temporary payload files a killed backup left (payload.tmp-*, directory vaults), multipart uploads\n' +
    'it left unfinished (S3 vaults: stored and billed, never listed; --repair aborts them), backup folders\n' +
    'with a payload but no manifest (never restorable, never listed), and manifests whose payload is missing.\n' +
    'Only what is older than the grace period counts as stale: a backup may be writing the rest. With\n' +
    '--repair the stale ones are removed. With --server it lists scratch (lb_verify_*) and drill (*_drill_*)\n' +
    'databases left on that server, with their age and sessions; it never drops them.',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    repair: { type: 'boolean', description: 'Remove the stale findings in the vault.' },
    'grace-hours': { type: 'string', value: 'N', description: `Younger findings may be work in progress and are left alone (default ${DEFAULT_GRACE_HOURS}).` },
    server: { type: 'string', value: 'URL', multiple: true, description: 'A database server to list leftover scratch and drill databases on: postgres://… or mysql://…' },
    json: { type: 'boolean', description: 'Print the findings as JSON.' },
  },
  notes: 'Exit codes: 0 nothing stale is left (none found, or all repaired), 1 stale findings remain; others as for every command.',
  maxPositionals: 0,
  async run({ flags }, { output, env }) {
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const graceText = stringFlag(flags, 'grace-hours');
    const graceHours = graceText === undefined ? DEFAULT_GRACE_HOURS : Number(graceText);
    if (!Number.isFinite(graceHours) || graceHours < 0) throw new UsageError('--grace-hours must be a number of hours >= 0');
    const servers = stringListFlag(flags, 'server').map((url) => restoreServerFromFlag(url, output, env, '--server'));
    await assertVaultExists(store);
    const repair = booleanFlag(flags, 'repair');
    const cutoff = Date.now() - graceHours * 3_600_000;
    const findings: Finding[] = [];

    const { LocalStore } = await import('../../functions/lib/vault/localStore.ts');
    if (store instanceof LocalStore) {
      for await (const temp of store.temporaryFiles()) {
        const finding: Finding = { kind: 'temporary-file', what: `${temp.relative} (${temp.bytes} bytes, ${temp.modifiedAt.toISOString()})`, stale: temp.modifiedAt.getTime() < cutoff };
        findings.push(finding);
        if (repair && finding.stale) await attempt(finding, () => store.removeTemporaryFile(temp.file));
      }
    }

    const { S3Store } = await import('../../functions/lib/vault/s3Store.ts');
    if (store instanceof S3Store) {
      for await (const upload of store.incompleteUploads()) {
        const finding: Finding = {
          kind: 'incomplete-upload',
          what: `${upload.key} (multipart upload ${upload.uploadId.slice(0, 16)}…, started ${upload.initiatedAt.toISOString()})`,
          stale: upload.initiatedAt.getTime() < cutoff,
        };
        findings.push(finding);
        if (repair && finding.stale) await attempt(finding, () => store.abortUpload(upload));
      }
    }

    const { BACKUPS_PREFIX, MANIFEST_NAME, backupPrefix, parseBackupId, parseBackupKey } = await import('../../functions/lib/vault/layout.ts');
    const { readManifest } = await import('../../functions/lib/vault/catalog.ts');
    const { payloadObjects } = await import('../../functions/lib/vault/manifest.ts');
    const folders = new Map<string, { sourceId: string; backupId: string; keys: string[]; manifest: boolean }>();
    for await (const key of store.list(BACKUPS_PREFIX)) {
      const parsed = parseBackupKey(key);
      if (!parsed) continue;
      const id = `${parsed.sourceId}/${parsed.backupId}`;
      const folder = folders.get(id) ?? { sourceId: parsed.sourceId, backupId: parsed.backupId, keys: [], manifest: false };
      folder.keys.push(key);
      if (parsed.name === MANIFEST_NAME) folder.manifest = true;
      folders.set(id, folder);
    }
    for (const folder of folders.values()) {
      const stale = parseBackupId(folder.backupId).time.getTime() < cutoff;
      const removeFolder = async () => {
        for (const key of folder.keys) await store.delete(key);
      };
      if (!folder.manifest) {
        const finding: Finding = { kind: 'payload-without-manifest', what: `${backupPrefix(folder.sourceId, folder.backupId)} (${folder.keys.length} object(s), no manifest)`, stale };
        findings.push(finding);
        if (repair && stale) await attempt(finding, removeFolder);
        continue;
      }
      const manifest = await readManifest(store, folder.sourceId, folder.backupId).catch(() => undefined);
      if (!manifest) continue; // an unreadable manifest is for list/show to report, not for doctor to remove
      const missing: string[] = [];
      for (const object of payloadObjects(manifest)) {
        const key = `${backupPrefix(folder.sourceId, folder.backupId)}${object.key}`;
        if ((await store.head(key)) === undefined) missing.push(key);
      }
      if (missing.length > 0) {
        const finding: Finding = { kind: 'manifest-without-payload', what: `${backupPrefix(folder.sourceId, folder.backupId)}${MANIFEST_NAME} (missing ${missing.join(', ')})`, stale };
        findings.push(finding);
        if (repair && stale) await attempt(finding, removeFolder);
      }
    }

    if (servers.length > 0) {
      const { listDatabases, scratchCreatedAt, SCRATCH_PREFIX } = await import('../../functions/lib/verify/scratch.ts');
      for (const server of servers) {
        const found = await listDatabases(server, (name) => name.startsWith(SCRATCH_PREFIX) || /_drill_/.test(name));
        for (const db of found) {
          const created = scratchCreatedAt(db.database);
          findings.push({
            kind: 'leftover-database',
            what: `${describeConnection({ ...server, database: db.database })} (${created ? `created ${created.toISOString()}, ` : ''}${db.sessions} session(s))`,
            stale: db.sessions === 0 && (created === undefined || created.getTime() < cutoff),
          });
        }
      }
    }

    if (booleanFlag(flags, 'json')) {
      output.out(JSON.stringify({ vault: store.location, graceHours, repair, findings }, null, 2));
    } else if (findings.length === 0) {
      output.out(`Nothing left behind in ${store.location}${servers.length > 0 ? ' or on the servers given' : ''}`);
    } else {
      for (const finding of findings) {
        const state = finding.repaired ? 'removed' : finding.repairError ? `NOT removed: ${finding.repairError}` : finding.stale ? 'stale' : 'recent, left alone';
        output.out(`${finding.kind}  ${finding.what}  [${state}]`);
      }
    }
    const remaining = findings.filter((f) => f.stale && !f.repaired && f.kind !== 'leftover-database').length;
    const databases = findings.filter((f) => f.kind === 'leftover-database').length;
    if (remaining > 0) {
      output.error(`lifeboat: ${remaining} stale finding(s) in the vault${repair ? ' could not be removed' : '; run again with --repair to remove them'}`);
      return ExitCode.failed;
    }
    if (databases > 0) output.error(`lifeboat: ${databases} leftover database(s) listed; drop them on the server once nothing uses them`);
    return ExitCode.ok;
  },
};

async function attempt(finding: Finding, remove: () => Promise<void>): Promise<void> {
  try {
    await remove();
    finding.repaired = true;
  } catch (error) {
    finding.repairError = error instanceof Error ? error.message : String(error);
  }
}
