/** `lifeboat prune` over a local vault written directly (no database needed). */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { manifestKey, verificationKey } from '../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../functions/lib/vault/localStore.ts';
import { allKeys, storeBackup } from '../functions/retention/vault.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const SOURCE = 'orders-db';
// Years before the test runs, so the days rule keeps none of them and the outcome does not depend on today.
const B1 = '20200101T010000Z-aaaaaaaa';
const B2 = '20200102T010000Z-bbbbbbbb';
const B3 = '20200103T010000Z-cccccccc';
const B4 = '20200104T010000Z-dddddddd';
const POLICY = ['--keep-last', '1', '--days', '1', '--daily', '0', '--weekly', '0', '--monthly', '0', '--time-zone', 'Europe/Berlin'];

let dir: Awaited<ReturnType<typeof tempDir>>;
let vault: string;
let store: LocalStore;

beforeEach(async () => {
  dir = await tempDir('prune');
  vault = join(dir.path, 'vault');
  store = new LocalStore(vault);
  await storeBackup(store, SOURCE, B1, ['verified']);
  await storeBackup(store, SOURCE, B2, ['failed']);
  await storeBackup(store, SOURCE, B3, ['verified']);
  await storeBackup(store, SOURCE, B4); // unverified, newest
  await storeBackup(store, 'other-db', B1, []);
});
afterEach(() => dir.remove());

describe('lifeboat prune', () => {
  it('--dry-run prints what would go and why each kept backup stays, and deletes nothing', async () => {
    const before = await allKeys(store);

    const result = await lifeboat(['prune', '--vault', vault, '--source', SOURCE, '--dry-run', ...POLICY]);

    expect(result.code).toBe(ExitCode.ok);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(new RegExp(`^Retention of vault backups of ${SOURCE} in ${vault.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(dry run: nothing was deleted\\)$`, 'm'));
    expect(result.stdout).toMatch(/^Policy: keep-last 1, 1 days, daily 0, weekly 0, monthly 0, yearly 0; time zone Europe\/Berlin; now /m);
    expect(result.stdout).toContain('Would delete (2):');
    expect(result.stdout).toMatch(new RegExp(`^  ${B2}  2020-01-02 02:10 \\+01:00  failed      failed verification, older than 1 day$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^  ${B1}  2020-01-01 02:10 \\+01:00  verified    no rule keeps it$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^  ${B4}  .*unverified  keep-last 1/1$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^  ${B3}  .*verified    newest verified$`, 'm'));
    expect(result.stdout).toMatch(/^Summary: 2 would be deleted, 2 kept, 0 protected, 0 errors$/m);
    expect(await allKeys(store)).toEqual(before);
  });

  it('deletes what the policy does not keep, only for the source named, and --json reports it', async () => {
    const result = await lifeboat(['prune', '--vault', vault, '--source', SOURCE, ...POLICY, '--json']);

    expect(result.code).toBe(ExitCode.ok);
    const report = JSON.parse(result.stdout) as { dryRun: boolean; deleted: { id: string }[]; kept: { id: string; reasons: string[] }[] };
    expect(report.dryRun).toBe(false);
    expect(report.deleted.map((e) => e.id)).toEqual([B2, B1]);
    expect(report.kept.map((e) => [e.id, e.reasons])).toEqual([
      [B4, ['keep-last 1/1']],
      [B3, ['newest verified']],
    ]);
    const keys = await allKeys(store);
    expect(keys.filter((key) => key.includes(B1) || key.includes(B2))).toEqual([
      // Another source's backup with the same id is not this source's to prune.
      manifestKey('other-db', B1),
      `backups/other-db/${B1}/payload`,
    ]);
    expect(keys).toContain(manifestKey(SOURCE, B3));
  });

  it('with an evidence key, records one prune event per deleted backup with its rule; a dry run records none', async () => {
    const evidenceKey = join(dir.path, 'evidence.key');
    expect((await lifeboat(['keygen', '--key-file', evidenceKey])).code).toBe(ExitCode.ok);
    expect((await lifeboat(['prune', '--vault', vault, '--source', SOURCE, '--dry-run', ...POLICY, '--evidence-key-file', evidenceKey])).code).toBe(ExitCode.ok);
    expect((await allKeys(store)).filter((key) => key.startsWith('audit/'))).toEqual([]);

    expect((await lifeboat(['prune', '--vault', vault, '--source', SOURCE, ...POLICY, '--evidence-key-file', evidenceKey])).code).toBe(ExitCode.ok);
    const listed = await lifeboat(['audit', '--vault', vault, '--evidence-key-file', evidenceKey, '--json']);
    const events = (JSON.parse(listed.stdout) as { authentic: boolean; event: { type: string; backupId: string; actor: { kind: string }; details: { rule: string; status: string } } }[]).map((e) => ({ authentic: e.authentic, ...e.event }));
    expect(events.map((e) => [e.authentic, e.type, e.backupId, e.actor.kind, e.details.status, e.details.rule]).sort()).toEqual([
      [true, 'prune', B1, 'cli', 'verified', 'no rule keeps it'],
      [true, 'prune', B2, 'cli', 'failed', 'failed verification, older than 1 day'],
    ]);
  });

  it('exits 1 after reporting a verification result it cannot read, and deletes no complete backup', async () => {
    await store.putObject(verificationKey(SOURCE, B4, new Date('2020-01-05T00:00:00Z')), '{"status":');
    const before = await allKeys(store);

    const result = await lifeboat(['prune', '--vault', vault, '--source', SOURCE, ...POLICY]);

    expect(result.code).toBe(ExitCode.failed);
    expect(errorLine(result.stderr)).toEqual({
      name: 'PruneIncompleteError',
      message: `1 error while pruning ${SOURCE} (listed in the report); what could not be read or deleted was left in place`,
    });
    expect(result.stdout).toContain(`${B4}  read-verification: UnreadableVerificationResult: the newest verification result`);
    expect(result.stdout).toMatch(/^Summary: 0 deleted, 4 kept, 0 protected, 1 errors$/m);
    expect(await allKeys(store)).toEqual(before);
  });

  it.each([
    [['--vault', 'V'], '--source is required: retention runs per source'],
    [['--vault', 'V', '--source', SOURCE, '--keep-last', 'seven'], '--keep-last must be a whole number >= 0'],
    [['--vault', 'V', '--source', SOURCE, '--days', '-1'], '--days needs a value (write --days=VALUE if the value starts with "-")'],
    [['--vault', 'V', '--source', SOURCE, '--time-zone', 'Mars/Olympus'], /^--time-zone: /],
    [['--vault', 'V', '--source', 'Bad_Id'], /^--source: /],
  ])('exits 2 for bad flags: %j', async (args, message) => {
    const result = await lifeboat(['prune', ...(args as string[]).map((a) => (a === 'V' ? vault : a))]);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(errorLine(result.stderr)?.message).toMatch(message instanceof RegExp ? message : new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('exits 3 when the vault does not exist', async () => {
    const result = await lifeboat(['prune', '--vault', join(dir.path, 'nowhere'), '--source', SOURCE]);
    expect(result.code).toBe(ExitCode.notFound);
    expect(errorLine(result.stderr)?.name).toBe('VaultNotFoundError');
  });
});
