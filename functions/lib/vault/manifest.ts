/**
 * The backup manifest, vault format v1: the self-description written last beside each payload.
 * Everything needed to restore and verify a backup is here; key material never is.
 *
 * v1.1 adds the multi-part payload of a parallel PostgreSQL dump (`payload.format` `pg_dump-custom-parts`,
 * `payload.parts`); a single-stream payload is still written as v1.0, so older 1.x readers read it.
 *
 * v1.2 adds two kinds (configuration backups, kind `config`, are read by functions/lib/configset/) and Redis: engine `redis`, payload format `redis-keys` (functions/lib/redis/keysFormat.ts), the dump
 * tool `lifeboat-redis` and `content.keyspace` (keys per database). Only Redis backups are written as v1.2.
 *
 * v1.3 adds engine `docdb`: an Amazon DocumentDB cluster snapshot (kind `snapshot` only: there is no DocumentDB
 * dump). Only DocumentDB backups are written as v1.3; a 1.2 reader refuses them by their engine.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ManifestInvalidError, UnsupportedFormatVersionError } from '../errors.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { BACKUP_ID_PATTERN, SOURCE_ID_PATTERN, isBackupId } from './layout.ts';

export const MANIFEST_FORMAT = 'lifeboat-backup';
/** The version this code writes for a single-stream payload (and for snapshots). */
export const MANIFEST_FORMAT_VERSION = '1.0';
/** The version this code writes for a multi-part payload (`payload.parts`). */
export const MULTI_PART_FORMAT_VERSION = '1.1';
/** The version this code writes for a Redis backup (engine `redis`). */
export const REDIS_FORMAT_VERSION = '1.2';
/** The version this code writes for a DocumentDB snapshot backup (engine `docdb`). */
export const DOCDB_FORMAT_VERSION = '1.3';
/** Readers accept every minor version of this major and refuse any other major. */
export const SUPPORTED_MAJOR_VERSION = 1;

const VERSION_PATTERN = /^(\d+)\.(\d+)$/;

/** Engine → the dump tool and the payload formats that go with it. */
export const ENGINE_DUMP = {
  postgresql: { tool: 'pg_dump', payloadFormats: ['pg_dump-custom', 'pg_dump-custom-parts'] },
  mysql: { tool: 'mysqldump', payloadFormats: ['mysqldump-sql'] },
  redis: { tool: 'lifeboat-redis', payloadFormats: ['redis-keys'] },
  /** No dump: DocumentDB backups are cluster snapshots. */
  docdb: { tool: undefined, payloadFormats: [] },
} as const;

/** A multi-part payload's sections, in restore order: schema, table data, then indexes, constraints and triggers. */
export const PART_SECTIONS = ['pre-data', 'data', 'post-data'] as const;
export type PartSection = (typeof PART_SECTIONS)[number];

type ObjectFactory = typeof z.object;

/**
 * One definition, two behaviours for unknown keys: writers strip them (only what v1 defines is ever
 * written), readers keep them (a 1.x minor may add fields this code does not know yet).
 */
function defineManifestSchema(object: ObjectFactory) {
  const nonEmpty = z.string().min(1, 'must not be empty');
  const count = z.int().nonnegative();
  const timestamp = z.iso.datetime({ message: 'must be an ISO 8601 UTC timestamp ending in "Z"' });

  const source = object({
    database: nonEmpty,
    serverVersion: nonEmpty,
    host: z
      .string()
      .min(1)
      .regex(/^[^\s/@:]+(:\d+)?$/, 'must be a bare host name (optionally :port), never a URL or credentials')
      .optional(),
  });

  const tools = object({
    lifeboat: nonEmpty,
    dump: object({ name: z.enum(['pg_dump', 'mysqldump', 'lifeboat-redis']), version: nonEmpty }).optional(),
  });

  const objectName = z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be a file name relative to the backup folder')
    .refine((key) => key !== '.' && key !== '..' && key !== 'manifest.json', 'must be a file name relative to the backup folder');
  const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters (SHA-256 of the stored bytes)');

  // One stored object of a multi-part payload: a pg_dump custom archive of one section (v1.1).
  const part = object({
    key: objectName,
    section: z.enum(PART_SECTIONS),
    rawBytes: count,
    storedBytes: count,
    sha256,
    /** Data parts: the tables whose rows this part holds. */
    tables: z.array(object({ schema: z.string(), name: nonEmpty })).optional(),
  });

  const payload = object({
    key: objectName,
    format: z.enum(['pg_dump-custom', 'pg_dump-custom-parts', 'mysqldump-sql', 'redis-keys']),
    rawBytes: count,
    storedBytes: count,
    sha256,
    parts: z.array(part).optional(),
  });

  const compression = object({ codec: z.literal('zstd'), level: z.int() });

  const keyring = z.discriminatedUnion('type', [
    object({ type: z.literal('raw-aes'), keyNamespace: nonEmpty, keyName: nonEmpty }),
    object({ type: z.literal('kms'), keyIds: z.array(nonEmpty).min(1, 'must name at least one key') }),
  ]);

  const encryption = object({
    scheme: z.literal('aws-encryption-sdk'),
    algorithmSuite: nonEmpty,
    frameLength: z.int().positive(),
    keyring,
    encryptionContext: z.record(z.string(), z.string()),
  });

  const table = object({ schema: z.string(), name: nonEmpty, rows: count, rowsExact: z.boolean() });

  const snapshot = object({ arn: nonEmpty, identifier: nonEmpty, region: nonEmpty });

  // Redis (v1.2): keys per database in the payload; `reportedKeys` is what INFO keyspace said when the backup began.
  const keyspaceEntry = object({ db: count, keys: count, expiring: count, reportedKeys: count });

  return object({
    format: z.literal(MANIFEST_FORMAT),
    formatVersion: z.string().regex(VERSION_PATTERN, 'must be "MAJOR.MINOR"'),
    backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261122T053327Z-k3x7q2ab'),
    sourceId: z.string().regex(SOURCE_ID_PATTERN, 'must be a source id (a-z, 0-9, "-", starting with a letter)'),
    kind: z.enum(['dump', 'snapshot']),
    engine: z.enum(['postgresql', 'mysql', 'redis', 'docdb']),
    startedAt: timestamp,
    completedAt: timestamp,
    source,
    tools,
    payload: payload.optional(),
    compression: compression.optional(),
    encryption: encryption.optional(),
    content: object({ tables: z.array(table), keyspace: z.array(keyspaceEntry).optional() }),
    snapshot: snapshot.optional(),
  }).superRefine((manifest, ctx) => {
    const problem = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

    if (!isBackupId(manifest.backupId)) problem(['backupId'], 'its timestamp is not a real UTC date and time');
    if (Date.parse(manifest.completedAt) < Date.parse(manifest.startedAt)) {
      problem(['completedAt'], 'must not be before startedAt');
    }

    const expected = ENGINE_DUMP[manifest.engine];
    if (manifest.kind === 'dump') {
      // A dump is only restorable with all of these; a snapshot lives in RDS and needs none of them.
      if (!manifest.tools.dump) problem(['tools', 'dump'], 'is required for kind "dump"');
      if (!manifest.payload) problem(['payload'], 'is required for kind "dump"');
      if (!manifest.compression) problem(['compression'], 'is required for kind "dump"');
      if (!manifest.encryption) problem(['encryption'], 'is required for kind "dump"');
    } else if (!manifest.snapshot) {
      problem(['snapshot'], 'is required for kind "snapshot"');
    }
    if (manifest.tools.dump && manifest.tools.dump.name !== expected.tool) {
      problem(['tools', 'dump', 'name'], `must be "${expected.tool}" for engine "${manifest.engine}"`);
    }
    if (manifest.payload && !(expected.payloadFormats as readonly string[]).includes(manifest.payload.format)) {
      problem(['payload', 'format'], `must be ${expected.payloadFormats.map((f) => `"${f}"`).join(' or ')} for engine "${manifest.engine}"`);
    }
    if (manifest.payload) checkParts(manifest.payload, manifest.formatVersion, problem);
    if (manifest.engine === 'redis' && Number(VERSION_PATTERN.exec(manifest.formatVersion)?.[2] ?? 0) < 2) {
      problem(['formatVersion'], 'must be 1.2 or later for engine "redis"');
    }
    if (manifest.engine === 'docdb') {
      if (Number(VERSION_PATTERN.exec(manifest.formatVersion)?.[2] ?? 0) < 3) problem(['formatVersion'], 'must be 1.3 or later for engine "docdb"');
      if (manifest.kind !== 'snapshot') problem(['kind'], 'must be "snapshot" for engine "docdb": DocumentDB backups are cluster snapshots');
    }
    if ((manifest.engine === 'redis') !== (manifest.content.keyspace !== undefined)) {
      problem(['content', 'keyspace'], manifest.engine === 'redis' ? 'is required for engine "redis"' : 'is only allowed for engine "redis"');
    }
  });
}

type PayloadShape = {
  key: string;
  format: string;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
  parts?: { key: string; section: PartSection; rawBytes: number; storedBytes: number; sha256: string }[] | undefined;
};

/** A multi-part payload is whole: one schema part, at least one data part, one post-data part, totals and digest that add up. */
function checkParts(payload: PayloadShape, formatVersion: string, problem: (path: (string | number)[], message: string) => void): void {
  const multi = payload.format === 'pg_dump-custom-parts';
  if (!multi) {
    if (payload.parts !== undefined) problem(['payload', 'parts'], `is only allowed with format "pg_dump-custom-parts"`);
    return;
  }
  const minor = Number(VERSION_PATTERN.exec(formatVersion)?.[2] ?? 0);
  if (minor < 1) problem(['formatVersion'], 'must be 1.1 or later for a multi-part payload');
  const parts = payload.parts;
  if (!parts) {
    problem(['payload', 'parts'], 'is required for format "pg_dump-custom-parts"');
    return;
  }
  const count = (section: PartSection) => parts.filter((p) => p.section === section).length;
  if (count('pre-data') !== 1) problem(['payload', 'parts'], 'must hold exactly one "pre-data" part');
  if (count('data') < 1) problem(['payload', 'parts'], 'must hold at least one "data" part');
  if (count('post-data') !== 1) problem(['payload', 'parts'], 'must hold exactly one "post-data" part');
  const keys = new Set<string>();
  parts.forEach((p, index) => {
    if (keys.has(p.key)) problem(['payload', 'parts', index, 'key'], 'must be unique');
    keys.add(p.key);
  });
  if (parts.reduce((sum, p) => sum + p.rawBytes, 0) !== payload.rawBytes) problem(['payload', 'rawBytes'], 'must be the sum of the parts\' rawBytes');
  if (parts.reduce((sum, p) => sum + p.storedBytes, 0) !== payload.storedBytes) {
    problem(['payload', 'storedBytes'], 'must be the sum of the parts\' storedBytes');
  }
  if (payloadPartsDigest(parts) !== payload.sha256) problem(['payload', 'sha256'], 'must be the digest of the parts list (see payloadPartsDigest)');
}

/**
 * `payload.sha256` of a multi-part payload: SHA-256 of one line `<key> <storedBytes> <sha256>\n` per part,
 * in manifest order. It names the payload as a whole (the dump function reports it) and binds the list of
 * parts; each part's own `sha256` covers its stored bytes.
 */
export function payloadPartsDigest(parts: readonly { key: string; storedBytes: number; sha256: string }[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.key} ${part.storedBytes} ${part.sha256}\n`);
  return hash.digest('hex');
}

const writerSchema = defineManifestSchema(z.object);
// looseObject has object's call signature; only the handling of unknown keys differs.
const readerSchema = defineManifestSchema(z.looseObject as unknown as ObjectFactory);

/**
 * What `manifest.json` holds. Example (abridged):
 *
 * ```json
 * {
 *   "format": "lifeboat-backup", "formatVersion": "1.0",
 *   "backupId": "20261122T053327Z-k3x7q2ab", "sourceId": "orders-db",
 *   "kind": "dump", "engine": "postgresql",
 *   "startedAt": "2026-11-22T05:33:27.120Z", "completedAt": "2026-11-22T05:41:02.907Z",
 *   "source": { "database": "orders", "serverVersion": "16.4", "host": "orders.cluster-abc.eu-west-1.rds.amazonaws.com" },
 *   "tools": { "lifeboat": "0.1.0", "dump": { "name": "pg_dump", "version": "16.4" } },
 *   "payload": { "key": "payload", "format": "pg_dump-custom", "rawBytes": 73400320, "storedBytes": 18874368, "sha256": "9f86d0…" },
 *   "compression": { "codec": "zstd", "level": 3 },
 *   "encryption": { "scheme": "aws-encryption-sdk", "algorithmSuite": "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
 *                   "frameLength": 4096, "keyring": { "type": "kms", "keyIds": ["arn:aws:kms:…:key/mrk-…"] },
 *                   "encryptionContext": { "lifeboat:source": "orders-db", "lifeboat:backup": "20261122T053327Z-k3x7q2ab" } },
 *   "content": { "tables": [{ "schema": "public", "name": "orders", "rows": 120433, "rowsExact": true }] }
 * }
 * ```
 */
export type BackupManifest = z.output<typeof writerSchema>;
export type ManifestEncryption = NonNullable<BackupManifest['encryption']>;
export type ManifestKeyring = ManifestEncryption['keyring'];
export type ManifestPayload = NonNullable<BackupManifest['payload']>;
export type ManifestTable = BackupManifest['content']['tables'][number];
export type ManifestPart = NonNullable<ManifestPayload['parts']>[number];
export type BackupKind = BackupManifest['kind'];
export type DatabaseEngine = BackupManifest['engine'];

/** A dump manifest: the parts that are optional for snapshots are always present. */
export type DumpManifest = BackupManifest & {
  kind: 'dump';
  payload: ManifestPayload;
  compression: NonNullable<BackupManifest['compression']>;
  encryption: NonNullable<BackupManifest['encryption']>;
};

/** One stored object of a dump's payload, as every reader that moves or checks stored bytes sees it. */
export interface PayloadObject {
  /** Relative to the backup folder, e.g. `payload` or `payload.data-2`. */
  readonly key: string;
  readonly storedBytes: number;
  /** SHA-256 (lowercase hex) of the stored bytes. */
  readonly sha256: string;
  /** Bytes after decryption and decompression. */
  readonly rawBytes: number;
  /** Multi-part payloads: which section of the dump the object holds. */
  readonly section?: PartSection;
}

/** What `payloadObjects` reads: a dump's or snapshot's manifest, or a configuration backup's (whose payload is one object). */
export interface PayloadCarrier {
  readonly payload?:
    | (Pick<NonNullable<BackupManifest['payload']>, 'key' | 'storedBytes' | 'sha256' | 'rawBytes'> & { readonly parts?: NonNullable<BackupManifest['payload']>['parts'] })
    | undefined;
}

/**
 * Every object a dump's payload is stored in, in manifest order (for parts: schema, data parts, post-data);
 * none for a snapshot. Readers that copy, hash, prune or check stored bytes go through this, so a payload
 * stored in several objects is handled by each of them in one place.
 */
export function payloadObjects(manifest: PayloadCarrier): PayloadObject[] {
  if (!manifest.payload) return [];
  const { key, storedBytes, sha256, rawBytes, parts } = manifest.payload;
  if (parts) return parts.map((p) => ({ key: p.key, storedBytes: p.storedBytes, sha256: p.sha256, rawBytes: p.rawBytes, section: p.section }));
  return [{ key, storedBytes, sha256, rawBytes }];
}

/** The version a manifest must carry: 1.3 for DocumentDB, 1.2 for Redis, 1.1 for a multi-part payload, 1.0 otherwise. */
export function formatVersionFor(manifest: Pick<BackupManifest, 'payload'> & Partial<Pick<BackupManifest, 'engine'>>): string {
  if (manifest.engine === 'docdb') return DOCDB_FORMAT_VERSION;
  if (manifest.engine === 'redis') return REDIS_FORMAT_VERSION;
  return manifest.payload?.parts ? MULTI_PART_FORMAT_VERSION : MANIFEST_FORMAT_VERSION;
}

/** `manifest.json` bytes for a v1.0 (or, with parts, v1.1) manifest; throws `ManifestInvalidError` naming each bad field. */
export function serializeManifest(manifest: BackupManifest): string {
  const label = `for backup ${String(manifest.sourceId)}/${String(manifest.backupId)}`;
  const expected = formatVersionFor(manifest);
  if (manifest.formatVersion !== expected) {
    throw new ManifestInvalidError(
      `Manifest ${label} is invalid: formatVersion: this code writes "${expected}" for this payload, got "${String(manifest.formatVersion)}"`,
    );
  }
  const result = writerSchema.safeParse(manifest);
  if (!result.success) throw new ManifestInvalidError(`Manifest ${label} is invalid: ${describeIssues(result.error.issues)}`);
  return `${JSON.stringify(result.data, null, 2)}\n`;
}

/**
 * Reads `manifest.json`. `key` only labels errors. Accepts every 1.x version (unknown fields of a newer
 * minor are kept, not rejected); refuses any other major with `UnsupportedFormatVersionError`;
 * anything else wrong is a `ManifestInvalidError` naming the key and the field path.
 */
export function parseManifest(bytes: Uint8Array | string, key: string): BackupManifest {
  let document: unknown;
  try {
    const text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    document = JSON.parse(text);
  } catch (error) {
    throw new ManifestInvalidError(`Manifest ${key} is not valid UTF-8 JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ManifestInvalidError(`Manifest ${key} is invalid: (root): must be a JSON object`);
  }

  // Checked before the schema: a newer major may have changed any other field.
  const { format, formatVersion } = document as Record<string, unknown>;
  if (format !== MANIFEST_FORMAT) {
    throw new ManifestInvalidError(`Manifest ${key} is invalid: format: must be "${MANIFEST_FORMAT}"`);
  }
  const version = typeof formatVersion === 'string' ? VERSION_PATTERN.exec(formatVersion) : null;
  if (!version) {
    throw new ManifestInvalidError(`Manifest ${key} is invalid: formatVersion: must be "MAJOR.MINOR"`);
  }
  const major = Number(version[1]);
  if (major !== SUPPORTED_MAJOR_VERSION) {
    const relation = major > SUPPORTED_MAJOR_VERSION ? 'newer than this Lifeboat supports' : 'not one this Lifeboat reads';
    throw new UnsupportedFormatVersionError(
      `Manifest ${key} has format version ${String(formatVersion)}, ${relation} ` +
        `(highest supported: ${SUPPORTED_MAJOR_VERSION}.x). Use a Lifeboat release that reads format ${major}.`,
    );
  }

  if ((document as Record<string, unknown>)['kind'] === 'config') {
    // Its own schema (vault/configManifest.ts): the catalog's readAnyManifest reads both; restoring a database never does.
    throw new ManifestInvalidError(`Manifest ${key} is a configuration backup (kind "config"), not a database backup: lifeboat restore reads it (with --dry-run first), as does a DR plan's restore-config step`);
  }
  const result = readerSchema.safeParse(document);
  if (!result.success) throw new ManifestInvalidError(`Manifest ${key} is invalid: ${describeIssues(result.error.issues)}`);
  return result.data;
}

/** `payload.sha256: must be …; content.tables[2].rows: …` — paths only, never the offending values. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ');
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

/**
 * SHA-256 (hex) of the manifest's canonical JSON: what a verification result is bound to. Computed from the
 * parsed manifest, so the same manifest gives the same digest however its bytes were spaced; any changed,
 * added or removed field changes it.
 */
export function manifestDigest(manifest: BackupManifest): string {
  return createHash('sha256').update(canonicalJson(manifest)).digest('hex');
}
