import { describe, expect, it } from 'vitest';
import { ManifestInvalidError, UnsupportedFormatVersionError } from '../../../functions/lib/errors.ts';
import {
  MANIFEST_FORMAT_VERSION,
  MULTI_PART_FORMAT_VERSION,
  parseManifest,
  payloadObjects,
  payloadPartsDigest,
  serializeManifest,
  type BackupManifest,
  type ManifestPart,
} from '../../../functions/lib/vault/manifest.ts';
import { sampleManifest } from './fixtures.ts';

const KEY = 'backups/orders-db/20261122T053327Z-k3x7q2ab/manifest.json';

/** The sample as a plain JSON object, for tests that write what a future or broken writer might. */
function sampleDocument(): Record<string, any> {
  return JSON.parse(serializeManifest(sampleManifest()));
}

function parseDocument(document: unknown): BackupManifest {
  return parseManifest(Buffer.from(JSON.stringify(document)), KEY);
}

function failureOf(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('manifest', () => {
  it('round-trips through serializeManifest and parseManifest', () => {
    const manifest = sampleManifest();

    const bytes = Buffer.from(serializeManifest(manifest));

    expect(parseManifest(bytes, KEY)).toEqual(manifest);
    expect(parseManifest(bytes.toString('utf8'), KEY)).toEqual(manifest);
    expect(MANIFEST_FORMAT_VERSION).toBe('1.0');
  });

  it('round-trips a raw-AES keyring and a MySQL dump without a host', () => {
    const { host: _host, ...source } = sampleManifest().source;
    const manifest = sampleManifest({
      engine: 'mysql',
      source,
      tools: { lifeboat: '0.1.0', dump: { name: 'mysqldump', version: '10.11.6-MariaDB' } },
      payload: { ...sampleManifest().payload!, format: 'mysqldump-sql' },
      encryption: {
        ...sampleManifest().encryption!,
        keyring: { type: 'raw-aes', keyNamespace: 'lifeboat-local', keyName: 'vault-key-1' },
      },
    });

    expect(parseManifest(serializeManifest(manifest), KEY)).toEqual(manifest);
  });

  it('accepts a snapshot manifest without payload, compression or encryption', () => {
    const { payload: _p, compression: _c, encryption: _e, ...rest } = sampleManifest();
    const manifest: BackupManifest = {
      ...rest,
      kind: 'snapshot',
      tools: { lifeboat: '0.1.0' },
      content: { tables: [] },
      snapshot: {
        arn: 'arn:aws:rds:eu-west-1:111122223333:snapshot:lifeboat-orders-db-20261122t053327z',
        identifier: 'lifeboat-orders-db-20261122t053327z',
        region: 'eu-west-1',
      },
    };

    expect(parseManifest(serializeManifest(manifest), KEY)).toEqual(manifest);
  });

  it('takes a DocumentDB cluster snapshot as format 1.3, engine docdb, and only as a snapshot', () => {
    const { payload: _p, compression: _c, encryption: _e, ...rest } = sampleManifest();
    const manifest: BackupManifest = {
      ...rest,
      formatVersion: '1.3',
      kind: 'snapshot',
      engine: 'docdb',
      source: { database: '*', serverVersion: '5.0.0' },
      tools: { lifeboat: '0.1.0' },
      content: { tables: [] },
      snapshot: {
        arn: 'arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:lifeboat-catalog-20261122t053327z',
        identifier: 'lifeboat-catalog-20261122t053327z',
        region: 'eu-west-1',
      },
    };
    expect(parseManifest(serializeManifest(manifest), KEY)).toEqual(manifest);
    // A 1.2 writer never wrote one: refused as not what it claims to be.
    expect(() => parseManifest(JSON.stringify({ ...manifest, formatVersion: '1.2' }), KEY)).toThrow(/formatVersion: must be 1\.3 or later for engine "docdb"/);
    expect(() => parseManifest(JSON.stringify({ ...sampleManifest(), formatVersion: '1.3', engine: 'docdb' }), KEY)).toThrow(/kind: must be "snapshot" for engine "docdb"/);
    expect(() => serializeManifest({ ...manifest, formatVersion: '1.0' })).toThrow(/1\.3/);
  });

  it('writes fields in a stable order, ending with a newline', () => {
    const text = serializeManifest(sampleManifest());

    expect(Object.keys(JSON.parse(text)).slice(0, 4)).toEqual(['format', 'formatVersion', 'backupId', 'sourceId']);
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('writes only the fields v1.0 defines', () => {
    const manifest = { ...sampleManifest(), dataKey: 'c2VjcmV0' } as BackupManifest;

    expect(JSON.parse(serializeManifest(manifest))).not.toHaveProperty('dataKey');
  });

  it('refuses to write another version or an invalid manifest', () => {
    expect(() => serializeManifest(sampleManifest({ formatVersion: '1.1' }))).toThrow(ManifestInvalidError);
    expect(() => serializeManifest(sampleManifest({ completedAt: 'yesterday' }))).toThrow(/completedAt/);
  });

  describe('versions', () => {
    it('refuses a newer major version, naming the version found and the highest supported', () => {
      const document = { ...sampleDocument(), formatVersion: '2.0', payload: 'restructured in 2.0' };

      const failure = failureOf(() => parseDocument(document));

      expect(failure).toBeInstanceOf(UnsupportedFormatVersionError);
      expect(failure.name).toBe('UnsupportedFormatVersionError');
      expect(failure.message).toContain('2.0');
      expect(failure.message).toContain('highest supported: 1.x');
      expect(failure.message).toContain(KEY);
    });

    it('refuses major version 0', () => {
      expect(() => parseDocument({ ...sampleDocument(), formatVersion: '0.9' })).toThrow(UnsupportedFormatVersionError);
    });

    it('accepts a newer minor version and keeps the fields it does not know', () => {
      const document = sampleDocument();
      document.formatVersion = '1.7';
      document.retention = { legalHold: true };
      document.payload.chunking = 3;
      document.content.tables[0].sizeBytes = 1024;

      const manifest = parseDocument(document);

      expect(manifest.formatVersion).toBe('1.7');
      expect(manifest.payload?.sha256).toBe(sampleManifest().payload?.sha256);
      expect(manifest).toMatchObject({ retention: { legalHold: true }, payload: { chunking: 3 } });
      expect(manifest.content.tables[0]).toMatchObject({ sizeBytes: 1024 });
    });

    it.each([undefined, '1', 'v1.0', '1.0.0', 1.0])('reports formatVersion %s as invalid', (formatVersion) => {
      expect(() => parseDocument({ ...sampleDocument(), formatVersion })).toThrow(/formatVersion: must be "MAJOR.MINOR"/);
    });

    it('refuses a document of another format', () => {
      expect(() => parseDocument({ ...sampleDocument(), format: 'something-else' })).toThrow(/format: must be "lifeboat-backup"/);
    });
  });

  describe('invalid manifests', () => {
    it('reports an invalid field by its path and the key, without the offending value', () => {
      const document = sampleDocument();
      document.payload.sha256 = 'NOT-A-HASH';
      document.content.tables[1].rows = -5;

      const failure = failureOf(() => parseDocument(document));

      expect(failure).toBeInstanceOf(ManifestInvalidError);
      expect(failure.message).toContain(KEY);
      expect(failure.message).toContain('payload.sha256: must be 64 lowercase hex characters');
      expect(failure.message).toContain('content.tables[1].rows:');
      expect(failure.message).not.toContain('NOT-A-HASH');
    });

    it('reports a missing required field', () => {
      const document = sampleDocument();
      delete document.source.database;

      expect(() => parseDocument(document)).toThrow(/source\.database:/);
    });

    it('reports bytes that are not JSON', () => {
      const failure = failureOf(() => parseManifest(Buffer.from('{"format": "lifeboat-backup",'), KEY));

      expect(failure).toBeInstanceOf(ManifestInvalidError);
      expect(failure.message).toContain(KEY);
    });

    it('reports invalid UTF-8 and a JSON array', () => {
      expect(() => parseManifest(Buffer.from([0xff, 0xfe, 0x7b]), KEY)).toThrow(ManifestInvalidError);
      expect(() => parseManifest('[]', KEY)).toThrow(/\(root\): must be a JSON object/);
    });

    it('requires what a dump needs to be restored', () => {
      const document = sampleDocument();
      delete document.payload;
      delete document.encryption;
      delete document.tools.dump;

      const failure = failureOf(() => parseDocument(document));

      expect(failure.message).toContain('payload: is required for kind "dump"');
      expect(failure.message).toContain('encryption: is required for kind "dump"');
      expect(failure.message).toContain('tools.dump: is required for kind "dump"');
    });

    it('requires the snapshot of a snapshot backup', () => {
      expect(() => parseDocument({ ...sampleDocument(), kind: 'snapshot' })).toThrow(/snapshot: is required for kind "snapshot"/);
    });

    it('requires the dump tool and payload format to match the engine', () => {
      const document = { ...sampleDocument(), engine: 'mysql' };

      const failure = failureOf(() => parseDocument(document));

      expect(failure.message).toContain('tools.dump.name: must be "mysqldump" for engine "mysql"');
      expect(failure.message).toContain('payload.format: must be "mysqldump-sql" for engine "mysql"');
    });

    it.each([
      ['a URL', 'postgres://admin:hunter2@db.internal:5432/orders'],
      ['credentials', 'admin:hunter2@db.internal'],
      ['a path', 'db.internal/orders'],
    ])('refuses %s as source.host without echoing it', (_case, host) => {
      const document = sampleDocument();
      document.source.host = host;

      const failure = failureOf(() => parseDocument(document));

      expect(failure.message).toContain('source.host: must be a bare host name');
      expect(failure.message).not.toContain('hunter2');
    });

    it('accepts a host with a port', () => {
      const document = sampleDocument();
      document.source.host = 'db.internal:5432';

      expect(parseDocument(document).source.host).toBe('db.internal:5432');
    });

    it.each([
      ['a local offset', '2026-11-22T06:33:27+01:00'],
      ['no time zone', '2026-11-22T05:33:27'],
      ['a date only', '2026-11-22'],
    ])('refuses timestamps with %s', (_case, startedAt) => {
      expect(() => parseDocument({ ...sampleDocument(), startedAt })).toThrow(/startedAt: must be an ISO 8601 UTC timestamp/);
    });

    it('refuses a completion before the start', () => {
      const document = { ...sampleDocument(), completedAt: '2026-11-22T05:00:00Z' };

      expect(() => parseDocument(document)).toThrow(/completedAt: must not be before startedAt/);
    });

    it('refuses a payload key that leaves the backup folder', () => {
      const document = sampleDocument();
      document.payload.key = '../other/payload';

      expect(() => parseDocument(document)).toThrow(/payload\.key:/);
    });

    it('refuses an unknown keyring type', () => {
      const document = sampleDocument();
      document.encryption.keyring = { type: 'plaintext', key: 'c2VjcmV0' };

      expect(() => parseDocument(document)).toThrow(/encryption\.keyring\.type:/);
    });
  });

  describe('v1.1: multi-part payloads', () => {
    const sha = (c: string) => c.repeat(64);
    const parts: ManifestPart[] = [
      { key: 'payload.pre-data', section: 'pre-data', rawBytes: 10, storedBytes: 5, sha256: sha('a') },
      { key: 'payload.data-1', section: 'data', rawBytes: 1000, storedBytes: 300, sha256: sha('b'), tables: [{ schema: 'public', name: 'orders' }] },
      { key: 'payload.data-2', section: 'data', rawBytes: 500, storedBytes: 200, sha256: sha('c'), tables: [{ schema: 'public', name: 'customers' }] },
      { key: 'payload.post-data', section: 'post-data', rawBytes: 20, storedBytes: 8, sha256: sha('d') },
    ];
    const multiPart = (overrides: Partial<NonNullable<BackupManifest['payload']>> = {}, version = MULTI_PART_FORMAT_VERSION): BackupManifest =>
      sampleManifest({
        formatVersion: version,
        payload: { key: 'payload', format: 'pg_dump-custom-parts', rawBytes: 1530, storedBytes: 513, sha256: payloadPartsDigest(parts), parts, ...overrides },
      });

    it('round-trips as 1.1, and payloadObjects lists every part in restore order', () => {
      const manifest = multiPart();

      expect(parseManifest(serializeManifest(manifest), KEY)).toEqual(manifest);
      expect(payloadObjects(manifest)).toEqual(parts.map(({ key, storedBytes, sha256, rawBytes, section }) => ({ key, storedBytes, sha256, rawBytes, section })));
      expect(payloadObjects(sampleManifest())).toEqual([{ key: 'payload', storedBytes: 18_874_368, sha256: sampleManifest().payload!.sha256, rawBytes: 73_400_320 }]);
    });

    it('binds the list of parts in payload.sha256', () => {
      const swapped = [parts[0]!, parts[2]!, parts[1]!, parts[3]!];
      expect(payloadPartsDigest(swapped)).not.toBe(payloadPartsDigest(parts));
      expect(() => parseDocument({ ...JSON.parse(serializeManifest(multiPart())), payload: { ...multiPart().payload, parts: swapped } })).toThrow(
        /payload\.sha256: must be the digest of the parts list/,
      );
    });

    it('writes 1.1 only for parts, and 1.0 otherwise', () => {
      expect(() => serializeManifest(multiPart({}, '1.0'))).toThrow(/this code writes "1\.1"/);
      expect(() => parseDocument({ ...JSON.parse(serializeManifest(multiPart())), formatVersion: '1.0' })).toThrow(/formatVersion: must be 1\.1 or later/);
      expect(() => serializeManifest(sampleManifest({ formatVersion: '1.1' }))).toThrow(/this code writes "1\.0"/);
    });

    it('refuses a multi-part payload that is not whole, naming each problem', () => {
      const onlyData = parts.filter((p) => p.section === 'data');
      const failure = failureOf(() =>
        serializeManifest(multiPart({ parts: onlyData, rawBytes: 1, storedBytes: 1, sha256: payloadPartsDigest(onlyData) })),
      );
      expect(failure).toBeInstanceOf(ManifestInvalidError);
      expect(failure.message).toContain('payload.parts: must hold exactly one "pre-data" part');
      expect(failure.message).toContain('payload.parts: must hold exactly one "post-data" part');
      expect(failure.message).toContain("payload.rawBytes: must be the sum of the parts' rawBytes");
      expect(failure.message).toContain("payload.storedBytes: must be the sum of the parts' storedBytes");

      const duplicate = [...parts.slice(0, 3), { ...parts[3]!, key: 'payload.data-1' }];
      expect(() => serializeManifest(multiPart({ parts: duplicate, sha256: payloadPartsDigest(duplicate) }))).toThrow(/payload\.parts\[3\]\.key: must be unique/);
      const { parts: _parts, ...withoutParts } = multiPart().payload!;
      expect(() => parseDocument({ ...JSON.parse(serializeManifest(multiPart())), payload: withoutParts })).toThrow(
        /payload\.parts: is required for format "pg_dump-custom-parts"/,
      );
      expect(() => serializeManifest(sampleManifest({ formatVersion: '1.1', payload: { ...multiPart().payload!, format: 'pg_dump-custom' } }))).toThrow(
        /payload\.parts: is only allowed with format "pg_dump-custom-parts"/,
      );
      expect(() => serializeManifest(multiPart({ parts: [{ ...parts[0]!, key: 'manifest.json' }, ...parts.slice(1)] }))).toThrow(/payload\.parts\[0\]\.key/);
    });

    it('is refused for MySQL', () => {
      const manifest = { ...multiPart(), engine: 'mysql', tools: { lifeboat: '0.1.0', dump: { name: 'mysqldump', version: '8.0' } } } as BackupManifest;
      expect(() => serializeManifest(manifest)).toThrow(/payload\.format: must be "mysqldump-sql" for engine "mysql"/);
    });
  });
});
