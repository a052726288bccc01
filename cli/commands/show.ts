import type { BackupManifest } from '../../functions/lib/vault/manifest.ts';
import type { VaultStore } from '../../functions/lib/vault/store.ts';
import { booleanFlag, requiredFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { findConfigBackup, renderConfigManifest } from '../configCommands.ts';
import { ExitCode } from '../errors.ts';
import { formatBytes, formatCount, formatDuration, formatTable, formatTimestamp } from '../format.ts';
import { assertVaultExists, backupIdArgument, openVault, resolveBackup, sourceFilter } from '../options.ts';
import { originNote } from '../settings.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';
import { type BackupStatus, backupStatuses, statusKey } from '../status.ts';

export const show: Command = {
  name: 'show',
  summary: "Show one backup's manifest: sizes, checksum, encryption, tables and row counts.",
  synopsis: 'lifeboat show ID|latest [--vault LOCATION] [--source ID] [--verification-key ARN|FILE] [--json]',
  description: "Prints the manifest of backup ID and its verification status; --json prints { manifest, status }.",
  positionals: [{ name: 'ID', description: 'The backup id as printed by backup and list, a unique prefix of it, or "latest".' }],
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'The source id, when the backup id exists under several sources.' },
    json: { type: 'boolean', description: 'Print JSON instead of text.' },
    ...VERIFICATION_KEY_FLAGS,
  },
  maxPositionals: 1,
  async run({ flags, positionals, origins }, { output, env }) {
    const backupId = backupIdArgument('show', positionals);
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    const config = await findConfigBackup(store, backupId, sourceId);
    if (config) {
      const status = (await backupStatuses(store, [config])).get(statusKey(config)) ?? { state: 'unverified' };
      if (booleanFlag(flags, 'json')) output.json({ manifest: config, status });
      else output.out(renderConfigManifest(config, status));
      return ExitCode.ok;
    }
    const manifest = await locateBackup(store, backupId, sourceId);
    const authenticator = await verificationKeyFrom(flags, env);
    const status = (await backupStatuses(store, [manifest], authenticator ? { authenticator } : {})).get(statusKey(manifest)) ?? { state: 'unverified' };
    if (booleanFlag(flags, 'json')) output.json({ manifest, status });
    else output.out(renderManifest(manifest, status));
    return ExitCode.ok;
  },
};

/** The manifest of the backup `ref` names (`latest`, an id or a unique prefix), in `sourceId` when given. */
export async function locateBackup(store: VaultStore, ref: string, sourceId: string | undefined): Promise<BackupManifest> {
  return resolveBackup(store, ref, sourceId);
}

function renderManifest(manifest: BackupManifest, status: BackupStatus): string {
  const seconds = (Date.parse(manifest.completedAt) - Date.parse(manifest.startedAt)) / 1000;
  const fields: [string, string][] = [
    ['Backup', manifest.backupId],
    ['Source', manifest.sourceId],
    ['Kind', `${manifest.kind} (${manifest.engine})`],
    [
      'Database',
      [
        manifest.source.database,
        manifest.source.host ? `on ${manifest.source.host}` : undefined,
        `server ${manifest.source.serverVersion}`,
      ]
        .filter(Boolean)
        .join(', '),
    ],
    ['Status', status.reason ? `${status.state} (${status.reason})` : status.state],
    ...(status.warnings ?? []).map((warning): [string, string] => ['Warning', warning]),
    ['Started', formatTimestamp(manifest.startedAt)],
    ['Completed', `${formatTimestamp(manifest.completedAt)} (took ${formatDuration(seconds)})`],
    [
      'Tools',
      [`lifeboat ${manifest.tools.lifeboat}`, manifest.tools.dump ? `${manifest.tools.dump.name} ${manifest.tools.dump.version}` : undefined]
        .filter(Boolean)
        .join(', '),
    ],
  ];
  const { payload, compression, encryption, snapshot } = manifest;
  if (payload) {
    const ratio = payload.rawBytes === 0 ? '' : `, ${((payload.storedBytes / payload.rawBytes) * 100).toFixed(1)}% of raw`;
    const parts = payload.parts;
    fields.push(
      ['Payload', parts ? `${parts.length} parts (${payload.format}): ${parts.map((p) => p.key).join(', ')}` : `${payload.key} (${payload.format})`],
      ['Size', `${formatBytes(payload.rawBytes)} raw, ${formatBytes(payload.storedBytes)} stored${ratio}`],
      [parts ? 'SHA-256 (parts list)' : 'SHA-256', payload.sha256],
    );
  }
  if (compression) fields.push(['Compression', `${compression.codec} level ${compression.level}`]);
  if (encryption) {
    const keyring =
      encryption.keyring.type === 'kms'
        ? `KMS ${encryption.keyring.keyIds.join(', ')}`
        : `local key ${encryption.keyring.keyNamespace}/${encryption.keyring.keyName}`;
    fields.push(
      ['Encryption', `${encryption.scheme}, ${encryption.algorithmSuite}, ${formatBytes(encryption.frameLength)} frames`],
      ['Key', keyring],
      ['Context', Object.entries(encryption.encryptionContext).map(([k, v]) => `${k}=${v}`).join(', ')],
    );
  }
  if (snapshot) fields.push(['Snapshot', `${snapshot.identifier} (${snapshot.region}) ${snapshot.arn}`]);

  const width = Math.max(...fields.map(([label]) => label.length));
  const lines = fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`);

  const keyspace = manifest.content.keyspace;
  if (keyspace) {
    // A Redis backup: keys per database, beside what INFO keyspace reported when the backup began.
    lines.push('', `Keyspace: ${formatCount(keyspace.reduce((sum, db) => sum + db.keys, 0))} keys in ${formatCount(keyspace.length)} databases`);
    const rows = keyspace.map((db) => [`db${db.db}`, formatCount(db.keys), formatCount(db.expiring), formatCount(db.reportedKeys)]);
    if (rows.length > 0) lines.push(formatTable(['DATABASE', 'KEYS', 'EXPIRING', 'REPORTED AT START'], rows, new Set([1, 2, 3])));
    return lines.join('\n');
  }
  const tables = manifest.content.tables;
  const totalRows = tables.reduce((sum, table) => sum + table.rows, 0);
  lines.push('', `Tables: ${formatCount(tables.length)}, ${formatCount(totalRows)} rows`);
  if (tables.length > 0) {
    const rows = tables.map((table) => [table.schema || '-', table.name, `${table.rowsExact ? '' : '~'}${formatCount(table.rows)}`]);
    lines.push(formatTable(['SCHEMA', 'TABLE', 'ROWS'], rows, new Set([2])));
    if (tables.some((table) => !table.rowsExact)) lines.push('(~ marks an estimated row count)');
  }
  return lines.join('\n');
}
