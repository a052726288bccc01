import { booleanFlag, requiredFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, AuditEventUnauthenticatedError } from '../errors.ts';
import { evidenceSigner, EVIDENCE_KEY_FLAGS, parseDateFlag } from '../evidence.ts';
import { formatTable, formatTimestamp } from '../format.ts';
import { assertVaultExists, openVault, sourceFilter } from '../options.ts';
import { originNote } from '../settings.ts';

export const audit: Command = {
  name: 'audit',
  summary: "List the vault's audit trail, each event authenticated with the evidence key.",
  synopsis: 'lifeboat audit [--vault LOCATION] [--source ID] [--since DATE] [--until DATE] (--evidence-key-file FILE | --evidence-key ARN) [--json]',
  description:
    'Lists the audit events under audit/ in the vault, oldest first: what happened (backup, verification,\n' +
    'copy, prune, restore, approval, drill evidence), when, to which source and backup, who acted and whether\n' +
    'it succeeded (docs/audit-trail.md). Every event is checked against the evidence key; one that does not\n' +
    'authenticate (forged, altered, or moved to another key) is listed as UNAUTHENTICATED with the reason.',
  flags: {
    vault: { type: 'string', value: 'LOCATION', description: 'The vault: a directory, or s3://BUCKET[/PREFIX].' },
    source: { type: 'string', value: 'ID', description: 'Only events about this source.' },
    since: { type: 'string', value: 'DATE', description: 'Only events at or after DATE (2026-11-21 or an ISO time, UTC).' },
    until: { type: 'string', value: 'DATE', description: 'Only events before DATE.' },
    ...EVIDENCE_KEY_FLAGS,
    json: { type: 'boolean', description: 'Print the events as JSON: [{ key, authentic, problem?, event? }].' },
  },
  notes: 'Exit codes: 0 every event listed authenticated, 4 some did not (listed), 2 bad flags or key, 3 no vault.',
  maxPositionals: 0,
  async run({ flags, origins }, { output, env }) {
    const store = await openVault(requiredFlag(flags, 'vault'), env);
    const sourceId = sourceFilter(flags);
    const since = stringFlag(flags, 'since') === undefined ? undefined : parseDateFlag('since', stringFlag(flags, 'since')!);
    const until = stringFlag(flags, 'until') === undefined ? undefined : parseDateFlag('until', stringFlag(flags, 'until')!);
    const signer = await evidenceSigner(flags, env);
    await assertVaultExists(store, originNote({ origins }, 'vault'));
    const { readAuditTrail } = await import('../../functions/lib/audit/reader.ts');
    const entries = await readAuditTrail(store, signer, { ...(sourceId ? { sourceId } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}) });
    const bad = entries.filter((entry) => !entry.authentic);
    if (booleanFlag(flags, 'json')) {
      output.json(entries);
    } else if (entries.length === 0) {
      output.out('No audit events.');
    } else {
      const rows = entries.map((entry) => {
        const e = entry.event;
        return [
          e ? formatTimestamp(e.time) : '?',
          e?.type ?? '?',
          e?.outcome ?? '?',
          e?.sourceId ?? e?.plan ?? '',
          e?.backupId ?? '',
          e ? `${e.actor.kind === 'cli' ? 'cli ' : ''}${e.actor.name}` : '',
          entry.authentic ? 'ok' : `UNAUTHENTICATED: ${entry.problem} (${entry.key})`,
        ];
      });
      output.out(formatTable(['TIME', 'TYPE', 'OUTCOME', 'SOURCE/PLAN', 'BACKUP', 'ACTOR', 'AUTH'], rows));
    }
    output.summary(`${entries.length} audit event${entries.length === 1 ? '' : 's'}, ${bad.length} failed to authenticate.`);
    if (bad.length > 0) {
      throw new AuditEventUnauthenticatedError(`${bad.length} audit event${bad.length === 1 ? '' : 's'} in ${store.location} failed to authenticate with the evidence key (listed above)`);
    }
    return ExitCode.ok;
  },
};
