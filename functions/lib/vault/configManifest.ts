/**
 * The manifest of a configuration backup: vault format 1.2, `kind: "config"`. It lives here, beside the
 * dump and snapshot manifest, because the catalog, the DR copy, retention and freshness read it (through
 * `readAnyManifest`); writing and reading the payload belong to functions/lib/configset/.
 * It lists what the payload
 * holds (item names, SSM versions, secret versions and their stages, stack parameters' names) and a salted
 * SHA-256 of each item's payload line, never a value. Readers of format 1.0/1.1 refuse it on `kind`
 * (ManifestInvalidError: listed as unreadable, never restored in part, never deleted by retention).
 *
 * ```json
 * { "format": "lifeboat-backup", "formatVersion": "1.2", "kind": "config",
 *   "backupId": "20261202T030000Z-k3x7q2ab", "sourceId": "orders-config",
 *   "startedAt": "…", "completedAt": "…",
 *   "source": { "region": "eu-west-1", "selection": { "ssmPaths": ["/orders/prod/"], "secretPrefixes": ["orders/prod/"], "secretTags": [], "stacks": ["orders-prod"] } },
 *   "tools": { "lifeboat": "0.1.0" },
 *   "payload": { "key": "payload", "format": "config-jsonl", "rawBytes": 5120, "storedBytes": 2330, "sha256": "…" },
 *   "compression": { "codec": "zstd", "level": 1 }, "encryption": { … },
 *   "content": { "items": [{ "type": "ssm-parameter", "name": "/orders/prod/db-host", "parameterType": "String", "version": 3, "sha256": "…" }],
 *                "counts": { "ssmParameters": 1, "secureStrings": 0, "secrets": 0, "secretVersions": 0, "stacks": 0 } } }
 * ```
 */
import { z } from 'zod';
import { ManifestInvalidError, UnsupportedFormatVersionError } from '../errors.ts';
import { BACKUP_ID_PATTERN, isBackupId, SOURCE_ID_PATTERN } from './layout.ts';
import { MANIFEST_FORMAT, SUPPORTED_MAJOR_VERSION } from './manifest.ts';

/** The payload of a configuration backup: a header line, then one JSON line per item (functions/lib/configset/items.ts). */
export const CONFIG_PAYLOAD_FORMAT = 'config-jsonl';

/** The first version with `kind: "config"`. */
export const CONFIG_FORMAT_VERSION = '1.2';

const nonEmpty = z.string().min(1, 'must not be empty');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const count = z.int().nonnegative();

const ItemEntrySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ssm-parameter'), name: nonEmpty, parameterType: z.enum(['String', 'StringList', 'SecureString']), version: count, sha256 }),
  z.object({ type: z.literal('secret'), name: nonEmpty, versions: z.array(z.object({ versionId: nonEmpty, stages: z.array(nonEmpty).min(1) })), sha256 }),
  z.object({ type: z.literal('stack'), name: nonEmpty, parameters: z.array(nonEmpty), noEchoParameters: z.array(nonEmpty), sha256 }),
]);
export type ConfigItemEntry = z.infer<typeof ItemEntrySchema>;

const CountsSchema = z.object({ ssmParameters: count, secureStrings: count, secrets: count, secretVersions: count, stacks: count });
export type ConfigCounts = z.infer<typeof CountsSchema>;

export const ConfigManifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    formatVersion: z.string().regex(/^1\.([2-9]|\d{2,})$/, 'must be 1.2 or a later 1.x'),
    backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab'),
    sourceId: z.string().regex(SOURCE_ID_PATTERN, 'must be a source id'),
    kind: z.literal('config'),
    startedAt: z.iso.datetime(),
    completedAt: z.iso.datetime(),
    source: z.object({
      region: nonEmpty,
      selection: z.object({
        ssmPaths: z.array(nonEmpty),
        secretPrefixes: z.array(nonEmpty),
        secretTags: z.array(z.object({ key: nonEmpty, value: z.string().optional() })),
        stacks: z.array(nonEmpty),
      }),
    }),
    tools: z.object({ lifeboat: nonEmpty }),
    payload: z.object({ key: z.literal('payload'), format: z.literal(CONFIG_PAYLOAD_FORMAT), rawBytes: count, storedBytes: count, sha256 }),
    compression: z.object({ codec: z.literal('zstd'), level: z.int() }),
    encryption: z.object({
      scheme: z.literal('aws-encryption-sdk'),
      algorithmSuite: nonEmpty,
      frameLength: z.int().positive(),
      keyring: z.discriminatedUnion('type', [
        z.object({ type: z.literal('raw-aes'), keyNamespace: nonEmpty, keyName: nonEmpty }),
        z.object({ type: z.literal('kms'), keyIds: z.array(nonEmpty).min(1) }),
      ]),
      encryptionContext: z.record(z.string(), z.string()),
    }),
    content: z.object({ items: z.array(ItemEntrySchema), counts: CountsSchema }),
  })
  .superRefine((manifest, ctx) => {
    const problem = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (!isBackupId(manifest.backupId)) problem(['backupId'], 'its timestamp is not a real UTC date and time');
    if (Date.parse(manifest.completedAt) < Date.parse(manifest.startedAt)) problem(['completedAt'], 'must not be before startedAt');
    const expected = countsOf(manifest.content.items);
    for (const [name, value] of Object.entries(expected)) {
      if (manifest.content.counts[name as keyof ConfigCounts] !== value) problem(['content', 'counts', name], `must be ${value}, the number of items listed`);
    }
    const seen = new Set<string>();
    manifest.content.items.forEach((item, index) => {
      const id = `${item.type} ${item.name}`;
      if (seen.has(id)) problem(['content', 'items', index, 'name'], 'must be unique per type');
      seen.add(id);
    });
  });

export type ConfigManifest = z.infer<typeof ConfigManifestSchema>;

export function countsOf(items: readonly ConfigItemEntry[]): ConfigCounts {
  return {
    ssmParameters: items.filter((i) => i.type === 'ssm-parameter').length,
    secureStrings: items.filter((i) => i.type === 'ssm-parameter' && i.parameterType === 'SecureString').length,
    secrets: items.filter((i) => i.type === 'secret').length,
    secretVersions: items.reduce((sum, i) => sum + (i.type === 'secret' ? i.versions.length : 0), 0),
    stacks: items.filter((i) => i.type === 'stack').length,
  };
}

export function serializeConfigManifest(manifest: ConfigManifest): string {
  const result = ConfigManifestSchema.safeParse(manifest);
  if (!result.success) throw new ManifestInvalidError(`Config manifest for ${manifest.sourceId}/${manifest.backupId} is invalid: ${describe(result.error)}`);
  return `${JSON.stringify(result.data, null, 2)}\n`;
}

/** Reads a `kind: "config"` manifest; any other kind or a major other than 1 is refused with a clear error. */
export function parseConfigManifest(bytes: Uint8Array | string, key: string): ConfigManifest {
  let document: unknown;
  try {
    document = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ManifestInvalidError(`Manifest ${key} is not valid UTF-8 JSON: ${(error as Error).message}`, { cause: error });
  }
  const { formatVersion, kind } = (document ?? {}) as Record<string, unknown>;
  const major = typeof formatVersion === 'string' ? Number(formatVersion.split('.')[0]) : NaN;
  if (Number.isInteger(major) && major !== SUPPORTED_MAJOR_VERSION) {
    throw new UnsupportedFormatVersionError(`Manifest ${key} has format version ${String(formatVersion)}; this Lifeboat reads ${SUPPORTED_MAJOR_VERSION}.x`);
  }
  if (kind !== 'config') throw new ManifestInvalidError(`Manifest ${key} is a ${String(kind)} backup, not a configuration backup (kind "config")`);
  const result = ConfigManifestSchema.safeParse(document);
  if (!result.success) throw new ManifestInvalidError(`Manifest ${key} is invalid: ${describe(result.error)}`);
  return result.data;
}

/** Field paths and messages only, never values. */
function describe(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ');
}
