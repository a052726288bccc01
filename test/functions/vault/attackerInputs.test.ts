// The vault's checks that an attacker probes, each with the input that gets past a weakened check (these
// tests kill the mutants StrykerJS found surviving: `npm run mutate -- --mutate functions/lib/vault/layout.ts`).
import { describe, expect, it } from 'vitest';
import { InvalidIdentifierError, InvalidStoreKeyError, ManifestInvalidError } from '../../../functions/lib/errors.ts';
import {
  assertSourceId,
  assertStoreKey,
  assertStorePrefix,
  evidenceKey,
  isBackupId,
  parseBackupId,
  parseBackupKey,
} from '../../../functions/lib/vault/layout.ts';
import { parseManifest, serializeManifest } from '../../../functions/lib/vault/manifest.ts';
import { isVerificationName } from '../../../functions/lib/vault/verification.ts';
import { sampleManifest } from './fixtures.ts';

const ID = '20261122T053327Z-k3x7q2ab';

describe('the backup id pattern is anchored at both ends', () => {
  it.each([
    ['a prefix', `x${ID}`],
    ['dots before it', `..${ID}`],
    ['a suffix', `${ID}x`],
    ['dots after it', `${ID}..`],
    ['a ninth random character', `${ID}a`],
  ])('refuses an id with %s', (_what, id) => {
    expect(isBackupId(id)).toBe(false);
    expect(() => parseBackupId(id)).toThrow(InvalidIdentifierError);
    expect(parseBackupKey(`backups/orders-db/${id}/manifest.json`)).toBeUndefined();
  });

  it('still reads the id itself', () => {
    expect(isBackupId(ID)).toBe(true);
    expect(parseBackupKey(`backups/orders-db/${ID}/manifest.json`)).toEqual({ sourceId: 'orders-db', backupId: ID, name: 'manifest.json' });
  });
});

describe('source ids, plan and execution names are anchored', () => {
  it.each(['-orders', 'orders/', 'Orders', `o${'x'.repeat(40)}`, 'orders\n'])('refuses the source id %j', (id) => {
    expect(() => assertSourceId(id)).toThrow(InvalidIdentifierError);
  });

  it.each([
    ['Plan', 'run-1'],
    ['plan/', 'run-1'],
    ['plan', 'run/1'],
    ['plan', `${'r'.repeat(81)}`],
    ['plan', '..'],
    ['plan', '.'],
  ])('refuses evidence for plan %j, execution %j', (plan, execution) => {
    expect(() => evidenceKey(plan, execution)).toThrow(InvalidIdentifierError);
  });

  it('names the evidence of a real plan and execution', () => {
    expect(evidenceKey('failover', 'drill-2026-11-30')).toBe('evidence/failover/drill-2026-11-30.json');
  });
});

describe('verification object names are anchored', () => {
  it.each(['x20261122T060102.345Z.json', '20261122T060102.345Z.json.tmp', '../20261122T060102.345Z.json', '20261122T060102.345Z.jsonx'])(
    'refuses %j',
    (name) => expect(isVerificationName(name)).toBe(false),
  );

  it('accepts a real one', () => expect(isVerificationName('20261122T060102.345Z.json')).toBe(true));
});

describe('store prefixes cannot climb out of the root', () => {
  it.each(['backups/..', 'backups/.', '..', '.', 'backups/../', 'backups//', 'backups/../x'])('refuses the prefix %j', (prefix) => {
    expect(() => assertStorePrefix(prefix)).toThrow(InvalidStoreKeyError);
  });

  it.each(['', 'backups/', 'backups/orders', 'backups/orders-db/'])('accepts the prefix %j', (prefix) => {
    expect(() => assertStorePrefix(prefix)).not.toThrow();
  });

  it('refuses a key ending in ".." or "/" where a prefix may end in "/"', () => {
    expect(() => assertStoreKey('backups/..')).toThrow(/"\.\." path segment/);
    expect(() => assertStoreKey('backups/')).toThrow(/empty path segment/);
  });
});

describe('manifests as the stores pass them: bytes', () => {
  const key = `backups/orders-db/${ID}/manifest.json`;

  it('parses a manifest from its UTF-8 bytes, unknown fields of a newer minor kept', () => {
    const manifest = sampleManifest({ source: { database: 'bestellungen-ü', serverVersion: '16.4' } });
    const bytes = new TextEncoder().encode(serializeManifest(manifest));

    expect(parseManifest(bytes, key)).toEqual(manifest);
    expect(parseManifest(Buffer.from(bytes), key)).toEqual(manifest);
  });

  it('refuses bytes that are not UTF-8, even inside a string where a lenient decoder would substitute', () => {
    const text = serializeManifest(sampleManifest({ source: { database: 'orders-XX', serverVersion: '16.4' } }));
    const bytes = Buffer.from(text, 'utf8');
    const at = bytes.indexOf('XX');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;

    expect(() => parseManifest(bytes, key)).toThrow(ManifestInvalidError);
    expect(() => parseManifest(bytes, key)).toThrow(/not valid UTF-8 JSON/);
  });

  it('refuses a JSON array or null as the manifest', () => {
    expect(() => parseManifest(Buffer.from('[]'), key)).toThrow(/\(root\): must be a JSON object/);
    expect(() => parseManifest(Buffer.from('null'), key)).toThrow(/\(root\): must be a JSON object/);
  });
});

describe("a payload's object name stays inside its backup folder", () => {
  const key = `backups/orders-db/${ID}/manifest.json`;
  const withPayloadKey = (payloadKey: string) =>
    JSON.stringify({ ...sampleManifest(), payload: { ...sampleManifest().payload, key: payloadKey } });

  it.each(['.', '..', 'manifest.json', '../payload', 'sub/payload', 'payload\n', ' payload', 'payload '])('refuses the payload key %j', (payloadKey) => {
    expect(() => parseManifest(withPayloadKey(payloadKey), key)).toThrow(/payload\.key: must be a file name relative to the backup folder/);
  });

  it.each(['payload', 'payload.1', 'part-data_2'])('accepts the payload key %j', (payloadKey) => {
    expect(parseManifest(withPayloadKey(payloadKey), key).payload).toMatchObject({ key: payloadKey });
  });
});
