import { describe, expect, it } from 'vitest';
import { InvalidIdentifierError, InvalidStoreKeyError } from '../../../functions/lib/errors.ts';
import {
  assertSourceId,
  assertStoreKey,
  assertStorePrefix,
  backupPrefix,
  manifestKey,
  newBackupId,
  parseBackupId,
  parseBackupKey,
  payloadKey,
  evidenceKey,
  isBackupId,
  sourcePrefix,
  stepRecordKey,
  verificationKey,
} from '../../../functions/lib/vault/layout.ts';

describe('backup ids', () => {
  it('encode the UTC start time to the second plus 8 lowercase base32 characters', () => {
    const id = newBackupId(new Date('2026-11-22T05:33:27.987Z'));

    expect(id).toMatch(/^20261122T053327Z-[a-z2-7]{8}$/);
    expect(parseBackupId(id).time.toISOString()).toBe('2026-11-22T05:33:27.000Z');
  });

  it('differ within one second and sort by time', () => {
    const second = new Date('2026-11-22T05:33:27Z');
    const ids = new Set(Array.from({ length: 200 }, () => newBackupId(second)));
    const earlier = newBackupId(new Date('2026-11-22T05:33:26.999Z'));
    const later = newBackupId(new Date('2026-11-22T05:33:28Z'));
    const nextYear = newBackupId(new Date('2027-01-01T00:00:00Z'));

    expect(ids.size).toBe(200);
    expect([nextYear, later, ...ids, earlier].sort()).toEqual([earlier, ...[...ids].sort(), later, nextYear]);
  });

  it.each([
    ['no random part', '20261122T053327Z'],
    ['upper-case random part', '20261122T053327Z-ABCDEFGH'],
    ['base32 has no 0, 1, 8 or 9', '20261122T053327Z-abcdefg1'],
    ['seven random characters', '20261122T053327Z-abcdefg'],
    ['local time instead of UTC', '20261122T053327-abcdefgh'],
    ['February 30th', '20260230T053327Z-abcdefgh'],
    ['hour 24', '20261122T243327Z-abcdefgh'],
    ['empty', ''],
  ])('refuses %s with a message showing the expected form', (_case, id) => {
    expect(() => parseBackupId(id)).toThrow(InvalidIdentifierError);
    expect(() => parseBackupId(id)).toThrow(/backup id/);
  });

  it('refuses to make an id from an invalid date', () => {
    expect(() => newBackupId(new Date('not a date'))).toThrow(new InvalidIdentifierError('Cannot make an id from an invalid Date'));
  });

  it.each([
    ['Nov 31st', '20261131T000000Z-abcdefgh'],
    ['month 13', '20261301T000000Z-abcdefgh'],
    ['month 00', '20260001T000000Z-abcdefgh'],
    ['day 00', '20261100T000000Z-abcdefgh'],
    ['minute 60', '20261122T056000Z-abcdefgh'],
    ['second 60', '20261122T053360Z-abcdefgh'],
    ['year 0099 (Date.UTC reads 1999)', '00991122T053327Z-abcdefgh'],
  ])('refuses a timestamp that is not a real UTC time (%s), saying so', (_case, id) => {
    expect(() => parseBackupId(id)).toThrow(new InvalidIdentifierError(`"${id}" is not a backup id: its timestamp is not a real UTC date and time`));
    expect(isBackupId(id)).toBe(false);
  });

  it('refuses anything before or after the id with the form, not the timestamp message', () => {
    for (const id of ['x20261122T053327Z-abcdefgh', '20261122T053327Z-abcdefghx']) {
      expect(() => parseBackupId(id)).toThrow(`"${id}" is not a backup id: expected <yyyymmdd>T<hhmmss>Z-<8 base32 characters>, e.g. 20261122T053327Z-k3x7q2ab`);
    }
  });

  it('accepts the last second of a leap day and of a year', () => {
    expect(parseBackupId('20280229T235959Z-abcdefgh').time.toISOString()).toBe('2028-02-29T23:59:59.000Z');
    expect(parseBackupId('20261231T235959Z-abcdefgh').time.toISOString()).toBe('2026-12-31T23:59:59.000Z');
    expect(isBackupId('20261231T235959Z-abcdefgh')).toBe(true);
  });
});

describe('source ids', () => {
  it.each(['a', 'orders-db', 'db2', `a${'b'.repeat(39)}`])('accepts %s', (id) => {
    expect(() => assertSourceId(id)).not.toThrow();
  });

  it.each(['', 'Orders', '2db', '-db', 'orders_db', 'orders/db', `a${'b'.repeat(40)}`])('refuses "%s"', (id) => {
    expect(() => assertSourceId(id)).toThrow(new InvalidIdentifierError(`"${id}" is not a source id: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter`));
  });

  it('quotes a long bad value cut to 80 characters, and one of 80 whole', () => {
    expect(() => assertSourceId('X'.repeat(81))).toThrow(`"${'X'.repeat(77)}..." is not a source id`);
    expect(() => assertSourceId('X'.repeat(80))).toThrow(`"${'X'.repeat(80)}" is not a source id`);
  });
});

describe('keys', () => {
  const backupId = '20261122T053327Z-k3x7q2ab';

  it('place each backup in its own folder under backups/<sourceId>/<backupId>/', () => {
    expect(sourcePrefix()).toBe('backups/');
    expect(sourcePrefix('orders-db')).toBe('backups/orders-db/');
    expect(backupPrefix('orders-db', backupId)).toBe(`backups/orders-db/${backupId}/`);
    expect(payloadKey('orders-db', backupId)).toBe(`backups/orders-db/${backupId}/payload`);
    expect(manifestKey('orders-db', backupId)).toBe(`backups/orders-db/${backupId}/manifest.json`);
    expect(verificationKey('orders-db', backupId, new Date('2026-11-22T06:01:02.345Z'))).toBe(
      `backups/orders-db/${backupId}/verifications/20261122T060102.345Z.json`,
    );
  });

  it('are only built from valid ids', () => {
    expect(() => payloadKey('../etc', backupId)).toThrow(InvalidIdentifierError);
    expect(() => manifestKey('orders-db', '../../x')).toThrow(InvalidIdentifierError);
  });

  it('parse back into source, backup and name; anything outside the layout is undefined', () => {
    expect(parseBackupKey(`backups/orders-db/${backupId}/verifications/x.json`)).toEqual({
      sourceId: 'orders-db',
      backupId,
      name: 'verifications/x.json',
    });
    expect(parseBackupKey(`backups/orders-db/${backupId}`)).toBeUndefined();
    expect(parseBackupKey(`backups/orders-db/${backupId}/payload`)).toEqual({ sourceId: 'orders-db', backupId, name: 'payload' });
    expect(parseBackupKey('backups/orders-db')).toBeUndefined();
    expect(parseBackupKey('backups/')).toBeUndefined();
    expect(parseBackupKey(`backups/Orders/${backupId}/payload`)).toBeUndefined();
    expect(parseBackupKey('backups/orders-db/not-an-id/payload')).toBeUndefined();
    expect(parseBackupKey(`other/orders-db/${backupId}/payload`)).toBeUndefined();
  });
});

describe('evidence keys', () => {
  it('name a plan execution\'s evidence, and a Fargate step\'s record beside it', () => {
    expect(evidenceKey('orders-restore', 'drill-1')).toBe('evidence/orders-restore/drill-1.json');
    expect(stepRecordKey('orders-restore', 'drill-1', 'restore')).toBe('evidence/orders-restore/drill-1/steps/restore.json');
  });

  it.each([
    ['plan', () => evidenceKey('Plan', 'run-1'), '"Plan" is not a plan name: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter'],
    ['execution', () => evidenceKey('plan', 'run/1'), '"run/1" is not a Step Functions execution name'],
    ['execution ..', () => evidenceKey('plan', '..'), '".." is not a Step Functions execution name'],
    ['step', () => stepRecordKey('plan', 'run-1', 'Restore'), '"Restore" is not a step id: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter'],
    ['step ..', () => stepRecordKey('plan', 'run-1', '..'), '".." is not a step id: expected 1-40 characters of a-z, 0-9 and "-", starting with a letter'],
    ['execution of a step', () => stepRecordKey('plan', 'run/1', 'restore'), '"run/1" is not a Step Functions execution name'],
  ])('refuse a bad %s, naming it', (_case, build, message) => {
    expect(build).toThrow(new InvalidIdentifierError(message));
  });
});

describe('store keys', () => {
  it.each(['a', 'backups/x/y.json', 'a.b/c-d_e', 'ünïcode/ok'])('accepts %s', (key) => {
    expect(() => assertStoreKey(key)).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['absolute', '/a'],
    ['parent segment', 'a/../b'],
    ['leading parent', '../a'],
    ['dot segment', 'a/./b'],
    ['backslash', 'a\\b'],
    ['double slash', 'a//b'],
    ['trailing slash', 'a/'],
    ['control character', 'a\nb'],
    ['over 1024 bytes', 'x'.repeat(1025)],
  ])('refuses a key with %s', (_case, key) => {
    expect(() => assertStoreKey(key)).toThrow(InvalidStoreKeyError);
  });

  it('name what is wrong, and take exactly 1024 bytes', () => {
    expect(() => assertStoreKey('')).toThrow(new InvalidStoreKeyError('Invalid store key "": it is empty'));
    expect(() => assertStoreKey('/a')).toThrow(new InvalidStoreKeyError('Invalid store key "/a": it is absolute (starts with "/")'));
    expect(() => assertStoreKey('x'.repeat(1024))).not.toThrow();
    expect(() => assertStoreKey('x'.repeat(1025))).toThrow('it is longer than 1024 bytes');
  });

  it('allow listing prefixes that end in "/" or are partial, but not ones that escape', () => {
    for (const prefix of ['', 'backups/', 'backups/ord']) expect(() => assertStorePrefix(prefix)).not.toThrow();
    for (const prefix of ['../', '/backups', 'a//']) expect(() => assertStorePrefix(prefix)).toThrow(InvalidStoreKeyError);
    expect(() => assertStorePrefix('backups/../')).toThrow(new InvalidStoreKeyError('Invalid store prefix "backups/../": it has a ".." path segment'));
    expect(() => assertStoreKey('a//b')).toThrow(new InvalidStoreKeyError('Invalid store key "a//b": it has an empty path segment ("//" or a trailing "/")'));
  });
});
