/**
 * The config backup function's core: one configuration source (SSM paths, Secrets Manager secrets by prefix or tag,
 * CloudFormation stacks) read in the deployment's region and sealed as a `config-jsonl` payload under
 * `backups/<source>/<backupId>/` (functions/lib/configset; docs/configuration.md). The backup state machine calls it
 * where it calls a dump function and gets the same shape back (`kind: "config"`), so verification, the DR copy and
 * retention follow as for every source.
 *
 * Values exist only inside the encrypted payload: the manifest lists names, versions and stages with a salted hash of
 * each item, and nothing this function logs or returns carries a value.
 */
import { z } from 'zod';
import { audited, failureDetails, idsOf } from '../lib/audit/audited.ts';
import type { AuditTrail } from '../lib/audit/writer.ts';
import { runConfigBackup, type ConfigClients } from '../lib/configset/index.ts';
import type { ConfigCounts } from '../lib/vault/configManifest.ts';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import { ConfigError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import type { VaultStore } from '../lib/vault/store.ts';

/** A configuration source as the function is told of it (infra/constructs/config-backup.ts): what it selects, never a value. */
export const ConfigSourceSchema = z.object({
  id: z.string().min(1),
  kind: z.literal('config'),
  selection: z.object({
    ssmPaths: z.array(z.string().min(1)).default([]),
    secretPrefixes: z.array(z.string().min(1)).default([]),
    secretTags: z.array(z.object({ key: z.string().min(1), value: z.string().optional() })).default([]),
    stacks: z.array(z.string().min(1)).default([]),
  }),
});
export type ConfigSource = z.infer<typeof ConfigSourceSchema>;

export const ConfigBackupEventSchema = z.object({
  sourceId: z.string().min(1),
  trigger: z.enum(['schedule', 'manual']).default('manual'),
});

export interface ConfigBackupDeps {
  readonly sources: readonly ConfigSource[];
  /** SSM, Secrets Manager and CloudFormation in `region`. */
  readonly clients: ConfigClients;
  /** The region the configuration is read in (the deployment's primary), recorded in the manifest. */
  readonly region: string;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
  /** Records `backup` events (docs/audit-trail.md). @default none */
  readonly audit?: AuditTrail;
  readonly now?: () => Date;
}

/** What the state machine keeps as `$.backup`: a dump's fields, for a configuration backup. */
export interface ConfigBackupResult {
  readonly sourceId: string;
  readonly backupId: string;
  readonly kind: 'config';
  readonly rawBytes: number;
  readonly storedBytes: number;
  /** SHA-256 of the stored payload, as the manifest records it. */
  readonly sha256: string;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly items: number;
  readonly counts: ConfigCounts;
}

export async function backUpConfig(event: unknown, deps: ConfigBackupDeps): Promise<ConfigBackupResult> {
  return audited(deps.audit, () => backUpConfigNow(event, deps), {
    succeeded: (r) => ({
      type: 'backup', outcome: 'succeeded', ...idsOf(event), sourceId: r.sourceId, backupId: r.backupId,
      details: { kind: r.kind, startedAt: r.startedAt, completedAt: r.completedAt, rawBytes: r.rawBytes, storedBytes: r.storedBytes, sha256: r.sha256, items: r.items },
    }),
    failed: (error) => ({ type: 'backup', outcome: 'failed', ...idsOf(event), details: failureDetails(error) }),
  });
}

async function backUpConfigNow(event: unknown, deps: ConfigBackupDeps): Promise<ConfigBackupResult> {
  const { sourceId } = parseOrConfigError(ConfigBackupEventSchema, event, 'Invalid config backup event');
  const source = deps.sources.find((s) => s.id === sourceId);
  if (!source) throw new ConfigError(`sourceId: unknown source '${sourceId}'; this function backs up ${deps.sources.map((s) => s.id).join(', ')}`);
  const manifest = await runConfigBackup({
    sourceId,
    selection: source.selection,
    region: deps.region,
    clients: deps.clients,
    store: deps.store,
    keyring: deps.keyring,
    ...(deps.now ? { now: deps.now() } : {}),
  });
  return {
    sourceId,
    backupId: manifest.backupId,
    kind: 'config',
    rawBytes: manifest.payload.rawBytes,
    storedBytes: manifest.payload.storedBytes,
    sha256: manifest.payload.sha256,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    items: manifest.content.items.length,
    counts: manifest.content.counts,
  };
}
