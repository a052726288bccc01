import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { evidenceKey, manifestKey, payloadKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import type { VaultStore } from '../../../functions/lib/vault/store.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { planDrills } from '../../../functions/lib/monitoring/drills.ts';
import { signDrEvidence } from '../../../functions/lib/plans/evidenceMac.ts';
import { sourceFreshness, type SnapshotCheck } from '../../../functions/lib/monitoring/freshness.ts';
import { freshnessData } from '../../../functions/lib/monitoring/metrics.ts';
import { sampleManifest, sampleVerification } from '../vault/fixtures.ts';

const PAYLOAD = Buffer.from('encrypted bytes stand-in');
const MINUTE = 60_000;
const NOW = new Date('2026-12-02T12:00:00.000Z');
const clock = () => NOW;

/** A backup started `minutesAgo` before NOW, as a backup run writes it (payload, manifest, then results). */
async function backup(store: VaultStore, sourceId: string, minutesAgo: number, verification?: 'verified' | 'failed'): Promise<string> {
  const started = new Date(NOW.getTime() - minutesAgo * MINUTE);
  const backupId = `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}-aaaaaaaa`.replace(/(\d{8}T\d{6})Z/, '$1Z');
  await store.putObject(payloadKey(sourceId, backupId), PAYLOAD);
  await writeManifest(
    store,
    sampleManifest({
      sourceId,
      backupId,
      startedAt: started.toISOString(),
      completedAt: new Date(started.getTime() + 5 * MINUTE).toISOString(),
      payload: { ...sampleManifest().payload!, storedBytes: PAYLOAD.length },
    }),
  );
  if (verification) {
    const at = new Date(started.getTime() + 10 * MINUTE);
    await store.putObject(verificationKey(sourceId, backupId, at), JSON.stringify(sampleVerification({ sourceId, backupId, status: verification, at })));
  }
  return backupId;
}

/** A snapshot backup's manifest, started `minutesAgo` before NOW, recording a snapshot in `region`. */
async function snapshotBackup(store: VaultStore, sourceId: string, minutesAgo: number, region: string): Promise<string> {
  const started = new Date(NOW.getTime() - minutesAgo * MINUTE);
  const backupId = `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}-bbbbbbbb`;
  const identifier = `lifeboat-${sourceId}-${backupId.toLowerCase()}`;
  const { payload: _p, compression: _c, encryption: _e, ...base } = sampleManifest();
  await store.putObject(
    manifestKey(sourceId, backupId),
    JSON.stringify({
      ...base,
      sourceId,
      backupId,
      kind: 'snapshot',
      startedAt: started.toISOString(),
      completedAt: new Date(started.getTime() + 5 * MINUTE).toISOString(),
      tools: { lifeboat: '0.1.0' },
      content: { tables: [] },
      snapshot: { arn: `arn:aws:rds:${region}:111122223333:snapshot:${identifier}`, identifier, region },
    }),
  );
  return backupId;
}

describe('freshness of each source, read from the vaults with a clock', () => {
  let dir: string;
  let primary: LocalStore;
  let dr: LocalStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-freshness-'));
    primary = new LocalStore(path.join(dir, 'primary'));
    dr = new LocalStore(path.join(dir, 'dr'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a source verified within its RPO and copied is inside it; one verified too long ago is outside it', async () => {
    // Prepare
    const fresh = await backup(primary, 'orders-db', 90, 'verified');
    await backup(dr, 'orders-db', 90);
    await backup(primary, 'billing-db', 500, 'verified');
    await backup(dr, 'billing-db', 500);

    // Act
    const [orders, billing] = await sourceFreshness(
      [
        { id: 'orders-db', rpoMinutes: 240 },
        { id: 'billing-db', rpoMinutes: 240 },
      ],
      { primary, dr, now: clock },
    );

    // Assess
    expect(orders).toMatchObject({
      sourceId: 'orders-db',
      minutesSinceLastBackup: 90,
      minutesSinceLastVerified: 90,
      drCopyLagMinutes: 90,
      withinRpo: true,
      drWithinRpo: true,
      lastBackup: { backupId: fresh, kind: 'dump', state: 'verified' },
      problems: [],
    });
    expect(billing).toMatchObject({ minutesSinceLastBackup: 500, minutesSinceLastVerified: 500, drCopyLagMinutes: 500, withinRpo: false, drWithinRpo: false });
  });

  it('the newest backup unverified or failed: the age that counts is the last verified one', async () => {
    // Prepare
    const verified = await backup(primary, 'orders-db', 300, 'verified');
    await backup(primary, 'orders-db', 120, 'failed');
    await backup(primary, 'orders-db', 30);

    // Act
    const [orders] = await sourceFreshness([{ id: 'orders-db', rpoMinutes: 240 }], { primary, dr, now: clock });

    // Assess
    expect(orders!.minutesSinceLastBackup).toBe(30);
    expect(orders!.lastBackup!.state).toBe('unverified');
    expect(orders!.minutesSinceLastVerified).toBe(300);
    expect(orders!.lastVerified!.backupId).toBe(verified);
    expect(orders!.withinRpo).toBe(false);
  });

  it('a source that never had a backup has no figures and is breaching', async () => {
    // Prepare
    await backup(primary, 'orders-db', 10, 'verified');

    // Act
    const [never] = await sourceFreshness([{ id: 'new-db', rpoMinutes: 1440 }], { primary, dr, now: clock });

    // Assess
    expect(never).toEqual({
      sourceId: 'new-db',
      rpoMinutes: 1440,
      minutesSinceLastBackup: null,
      minutesSinceLastVerified: null,
      drCopyLagMinutes: null,
      withinRpo: false,
      drWithinRpo: false,
      problems: [],
    });
    // Nothing is published for it, so its alarms (missing data = breaching) fire.
    expect(freshnessData([never!], []).filter((d) => d.dimensions.sourceId === 'new-db')).toEqual([]);
  });

  it('a verified backup not copied to the DR vault shows the copy lag of the older copy there', async () => {
    // Prepare
    await backup(primary, 'orders-db', 400, 'verified');
    await backup(dr, 'orders-db', 400);
    await backup(primary, 'orders-db', 60, 'verified');

    // Act
    const [orders] = await sourceFreshness([{ id: 'orders-db', rpoMinutes: 240 }], { primary, dr, now: clock });

    // Assess
    expect(orders!.minutesSinceLastVerified).toBe(60);
    expect(orders!.withinRpo).toBe(true);
    expect(orders!.drCopyLagMinutes).toBe(400);
    expect(orders!.drWithinRpo).toBe(false);
  });

  it('a verified backup never copied at all has no copy lag figure and is outside the RPO in DR', async () => {
    // Prepare
    await backup(primary, 'orders-db', 60, 'verified');

    // Act
    const [orders] = await sourceFreshness([{ id: 'orders-db', rpoMinutes: 240 }], { primary, dr, now: clock });

    // Assess
    expect(orders!.drCopyLagMinutes).toBeNull();
    expect(orders!.drWithinRpo).toBe(false);
  });

  it('snapshots count as verified while RDS reports them available, and their DR copy only while RDS has it', async () => {
    // Prepare
    await snapshotBackup(primary, 'ledger-db', 200, 'eu-west-1');
    const newest = await snapshotBackup(primary, 'ledger-db', 20, 'eu-west-1');
    await snapshotBackup(dr, 'ledger-db', 200, 'eu-central-1');
    await snapshotBackup(dr, 'ledger-db', 20, 'eu-central-1');
    const asked: string[] = [];
    // The newest primary snapshot was deleted in RDS; the newest DR copy is still copying.
    const snapshots: SnapshotCheck = async (snapshot, where) => {
      asked.push(`${where}:${snapshot.identifier}`);
      return snapshot.identifier.includes(newest.toLowerCase()) ? 'unavailable' : 'available';
    };

    // Act
    const [ledger] = await sourceFreshness([{ id: 'ledger-db', rpoMinutes: 60 }], { primary, dr, snapshots, now: clock });

    // Assess
    expect(ledger!.lastBackup).toMatchObject({ backupId: newest, kind: 'snapshot', state: 'unavailable' });
    expect(ledger!.minutesSinceLastBackup).toBe(20);
    expect(ledger!.minutesSinceLastVerified).toBe(200);
    expect(ledger!.drCopyLagMinutes).toBe(200);
    expect(asked).toHaveLength(4);
  });

  it('without an RDS check a snapshot is a backup but never verified', async () => {
    // Prepare
    await snapshotBackup(primary, 'ledger-db', 20, 'eu-west-1');

    // Act
    const [ledger] = await sourceFreshness([{ id: 'ledger-db', rpoMinutes: 60 }], { primary, now: clock });

    // Assess
    expect(ledger!.minutesSinceLastBackup).toBe(20);
    expect(ledger!.minutesSinceLastVerified).toBeNull();
    expect(ledger!.drCopyLagMinutes).toBeNull();
  });

  it('a damaged manifest is reported as a problem and the backups behind it still count', async () => {
    // Prepare
    await backup(primary, 'orders-db', 100, 'verified');
    const damaged = await backup(primary, 'orders-db', 10, 'verified');
    await primary.putObject(manifestKey('orders-db', damaged), '{"format":"something else"}');

    // Act
    const [orders] = await sourceFreshness([{ id: 'orders-db', rpoMinutes: 240 }], { primary, now: clock });

    // Assess
    expect(orders!.minutesSinceLastVerified).toBe(100);
    expect(orders!.problems).toHaveLength(1);
    expect(orders!.problems[0]).toContain(damaged);
  });
});

describe('days since each plan last passed, from its evidence', () => {
  let dir: string;
  let store: LocalStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-drills-'));
    store = new LocalStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const evidence = (plan: string, endedAt: string, outcome: 'passed' | 'failed', mode: 'drill' | 'real' = 'drill') => ({
    format: 'lifeboat-dr-evidence',
    formatVersion: '1.0',
    plan,
    mode,
    executionId: `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-${plan}:x`,
    startedAt: endedAt,
    endedAt,
    outcome,
    failure: null,
    steps: [],
    measured: { rtoMinutes: 41.5, rpoMinutes: 95.2, restoredDataAt: null, validatedAt: null },
    objectives: { rtoMinutes: 60, rpoMinutes: 240 },
    met: { rto: true, rpo: true },
  });

  it('takes the newest passed run, ignores failed ones, and says a never-drilled plan has no figure', async () => {
    // Prepare
    await store.putObject(evidenceKey('orders-failover', 'drill-a'), JSON.stringify(evidence('orders-failover', '2026-11-01T10:00:00.000Z', 'passed')));
    await store.putObject(evidenceKey('orders-failover', 'drill-b'), JSON.stringify(evidence('orders-failover', '2026-11-30T10:00:00.000Z', 'failed')));
    await store.putObject(evidenceKey('orders-failover', 'real-c'), JSON.stringify(evidence('orders-failover', '2026-11-20T11:00:00.000Z', 'passed', 'real')));
    await store.putObject(evidenceKey('orders-failover', 'junk'), 'not json');

    // Act
    const [orders, billing] = await planDrills(store, ['orders-failover', 'billing-db-default'], NOW);

    // Assess
    expect(orders).toMatchObject({ plan: 'orders-failover', daysSinceLastPassed: 12, lastPassed: { endedAt: '2026-11-20T11:00:00.000Z', mode: 'real', rtoMinutes: 41.5 } });
    expect(orders!.problems).toEqual(['evidence/orders-failover/junk.json is not valid JSON']);
    expect(billing).toEqual({ plan: 'billing-db-default', daysSinceLastPassed: null, problems: [] });
  });

  it('with the DR evidence key, counts only signed evidence: a forged pass is reported, an unsigned one passed over', async () => {
    // Prepare: a genuine drill 12 days ago; a newer pass signed with another key; a newer unsigned pass.
    const drEvidenceKey = localHmacSigner(Buffer.alloc(32, 7));
    const genuine = { ...evidence('orders-failover', '2026-11-20T11:00:00.000Z', 'passed'), executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-failover:drill-a' };
    await store.putObject(evidenceKey('orders-failover', 'drill-a'), JSON.stringify(await signDrEvidence(genuine, drEvidenceKey)));
    const forged = { ...evidence('orders-failover', '2026-12-01T10:00:00.000Z', 'passed'), executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-failover:drill-b' };
    await store.putObject(evidenceKey('orders-failover', 'drill-b'), JSON.stringify(await signDrEvidence(forged, localHmacSigner(Buffer.alloc(32, 1)))));
    const unsigned = { ...evidence('orders-failover', '2026-12-02T10:00:00.000Z', 'passed'), executionId: 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-failover:drill-c' };
    await store.putObject(evidenceKey('orders-failover', 'drill-c'), JSON.stringify(unsigned));

    // Act
    const [keyed] = await planDrills(store, ['orders-failover'], NOW, { authenticator: drEvidenceKey });
    const [asStored] = await planDrills(store, ['orders-failover'], NOW);

    // Assess
    expect(keyed).toMatchObject({ daysSinceLastPassed: 12, lastPassed: { endedAt: '2026-11-20T11:00:00.000Z', key: evidenceKey('orders-failover', 'drill-a') } });
    expect(keyed!.problems).toEqual([`${evidenceKey('orders-failover', 'drill-b')} does not authenticate with the DR evidence key: not counted`]);
    // Without the key the newest pass wins, whoever wrote it: what the key is for.
    expect(asStored).toMatchObject({ daysSinceLastPassed: 0, lastPassed: { key: evidenceKey('orders-failover', 'drill-c') } });
  });
});
