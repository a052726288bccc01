/**
 * A generated vault history for the report tests: weeks of daily backups of two sources with the lapses a
 * real deployment has (gaps with failed runs, a failed verification, a missed DR copy, pruned points, a
 * point that vanished although retention keeps it, drills that pass, miss and fail), written through the
 * real audit writer and vault layout. It returns its own ground truth so the test computes the expected
 * lapses independently of the report engine.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auditWriter } from '../../../functions/lib/audit/writer.ts';
import { localHmacSigner, type MacSigner } from '../../../functions/lib/crypto/mac.ts';
import { planRetention, type RetentionPolicy } from '../../../functions/lib/retention/plan.ts';
import { compactUtc, evidenceKey, manifestKey, verificationKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { serializeManifest } from '../../../functions/lib/vault/manifest.ts';
import { sampleManifest, sampleVerification } from '../vault/fixtures.ts';

export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;
export const SINCE = new Date('2026-11-01T00:00:00.000Z');
export const UNTIL = new Date('2026-11-22T00:00:00.000Z');
export const POLICY: RetentionPolicy = { days: 14, keepLast: 3, gfs: { daily: 7, weekly: 4, monthly: 3, yearly: 0 } };
export const RPO_MINUTES = 1500;

export interface TruthBackup {
  readonly sourceId: string;
  readonly backupId: string;
  readonly completedAt: number;
  readonly verification: 'verified' | 'failed';
  copied: boolean;
  present: boolean;
  pruned: boolean;
}

export interface History {
  readonly store: LocalStore;
  readonly signer: MacSigner;
  readonly backups: TruthBackup[];
  readonly failedRuns: { sourceId: string; at: number; executionId: string; reason: string }[];
  readonly vanished: string[];
  readonly drills: { executionId: string; startedAt: string; outcome: 'passed' | 'failed'; met: { rto: boolean; rpo: boolean } }[];
  readonly pruneEvents: number;
}

export const SIGNING_KEY = Buffer.alloc(32, 7);

/** `orders-db` has every kind of lapse; `billing-db` none. */
export async function generateHistory(): Promise<History> {
  const store = new LocalStore(await mkdtemp(path.join(tmpdir(), 'lifeboat-report-')));
  const signer = localHmacSigner(SIGNING_KEY);
  let clock = new Date(0);
  const trail = (name: string) => auditWriter({ store, signer, actor: { kind: 'function', name }, clock: () => clock, onFailure: (error) => { throw error; } });
  const dump = trail('lifeboat-dump');
  const verify = trail('lifeboat-verify');
  const copy = trail('lifeboat-copy');
  const prune = trail('lifeboat-prune');
  const record = async (writer: ReturnType<typeof trail>, at: number, input: Parameters<typeof dump.record>[0]) => {
    clock = new Date(at);
    const result = await writer.record(input);
    if (!result.written) throw result.error;
  };

  const backups: TruthBackup[] = [];
  const failedRuns: History['failedRuns'] = [];
  const skipped = new Set(['2026-11-05', '2026-11-06', '2026-11-15']);
  const failedVerification = '2026-11-10';
  const notCopied = '2026-11-12';
  let serial = 0;
  for (let day = Date.parse('2026-09-20T00:00:00Z'); day < UNTIL.getTime(); day += DAY) {
    const date = new Date(day).toISOString().slice(0, 10);
    for (const sourceId of ['orders-db', 'billing-db']) {
      const started = day + (sourceId === 'orders-db' ? 75 : 135) * MINUTE;
      const completed = started + 7 * MINUTE;
      const executionId = `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:${sourceId}-${date}`;
      if (sourceId === 'orders-db' && skipped.has(date)) {
        const reason = `DumpFailedError: pg_dump exited with code 1 on ${date}`;
        await record(dump, completed, { type: 'backup', outcome: 'failed', sourceId, executionId, details: { reason } });
        failedRuns.push({ sourceId, at: completed, executionId, reason });
        continue;
      }
      const backupId = `${compactUtc(new Date(started), false)}-${'abcdefgh'.slice(0, 4)}${'abcdefghijklmnopqrstuvwxyz234567'[serial++ % 32]!.repeat(4)}`;
      const storedBytes = 18_000_000 + (day / DAY) % 17 * 250_000 + (sourceId === 'billing-db' ? 5_000_000 : 0);
      const manifest = sampleManifest({
        sourceId,
        backupId,
        startedAt: new Date(started).toISOString(),
        completedAt: new Date(completed).toISOString(),
        payload: { ...sampleManifest().payload!, storedBytes, rawBytes: storedBytes * 4 },
        encryption: { ...sampleManifest().encryption!, encryptionContext: { 'lifeboat:source': sourceId, 'lifeboat:backup': backupId } },
      });
      await store.putObject(manifestKey(sourceId, backupId), serializeManifest(manifest));
      await record(dump, completed, {
        type: 'backup', outcome: 'succeeded', sourceId, backupId, executionId,
        details: { completedAt: manifest.completedAt, storedBytes, rawBytes: storedBytes * 4 },
      });
      const verifiedAt = completed + 5 * MINUTE;
      const verification = sourceId === 'orders-db' && date === failedVerification ? 'failed' : 'verified';
      await store.putObject(verificationKey(sourceId, backupId, new Date(verifiedAt)), JSON.stringify(sampleVerification({ sourceId, backupId, status: verification, at: new Date(verifiedAt) })));
      await record(verify, verifiedAt, {
        type: 'verification', outcome: verification === 'verified' ? 'succeeded' : 'failed', sourceId, backupId, executionId,
        details: verification === 'failed' ? { reason: 'row-counts: table public.orders has 119 rows after the restore; the manifest records 120' } : { checks: 5 },
      });
      const copied = !(sourceId === 'orders-db' && date === notCopied);
      if (copied) {
        await record(copy, verifiedAt + 3 * MINUTE, { type: 'copy', outcome: 'succeeded', sourceId, backupId, executionId, details: { destination: 's3://dr-vault' } });
      }
      backups.push({ sourceId, backupId, completedAt: completed, verification, copied, present: true, pruned: false });
    }
  }

  // Weekly retention runs, as the prune function does them: delete what the plan lets go, record each.
  let pruneEvents = 0;
  for (const runAt of [SINCE.getTime() + 4 * 60 * MINUTE, SINCE.getTime() + 7 * DAY + 240 * MINUTE, SINCE.getTime() + 14 * DAY + 240 * MINUTE]) {
    for (const sourceId of ['orders-db', 'billing-db']) {
      const candidates = backups.filter((b) => b.sourceId === sourceId && b.present && b.completedAt <= runAt);
      const decisions = planRetention(
        candidates.map((b) => ({ id: b.backupId, completedAt: new Date(b.completedAt), status: b.verification })),
        POLICY,
        { now: new Date(runAt), timeZone: 'UTC' },
      );
      for (const decision of decisions.filter((d) => d.action === 'delete')) {
        const backup = candidates.find((b) => b.backupId === decision.id)!;
        await store.delete(manifestKey(sourceId, backup.backupId));
        for await (const key of store.list(`backups/${sourceId}/${backup.backupId}/`)) await store.delete(key);
        backup.present = false;
        backup.pruned = true;
        await record(prune, runAt, {
          type: 'prune', outcome: 'succeeded', sourceId, backupId: backup.backupId,
          details: { completedAt: new Date(backup.completedAt).toISOString(), status: backup.verification, rule: decision.reasons[0] },
        });
        pruneEvents++;
      }
    }
  }

  // A point retention keeps, gone without a prune: the monthly September point of orders-db.
  const vanished = backups.filter((b) => b.sourceId === 'orders-db' && b.present && new Date(b.completedAt).toISOString().startsWith('2026-09')).at(-1)!;
  for await (const key of store.list(`backups/orders-db/${vanished.backupId}/`)) await store.delete(key);
  vanished.present = false;

  // Drill evidence of one plan: met, missed its RTO, failed.
  const drills: History['drills'] = [
    { executionId: 'drill-a1', startedAt: '2026-11-03T10:00:00.000Z', outcome: 'passed', met: { rto: true, rpo: true } },
    { executionId: 'drill-b2', startedAt: '2026-11-10T10:00:00.000Z', outcome: 'passed', met: { rto: false, rpo: true } },
    { executionId: 'drill-c3', startedAt: '2026-11-17T10:00:00.000Z', outcome: 'failed', met: { rto: false, rpo: false } },
  ];
  for (const drill of drills) {
    await store.putObject(evidenceKey('orders-restore', drill.executionId), JSON.stringify({
      format: 'lifeboat-dr-evidence', formatVersion: '1.0', plan: 'orders-restore', mode: 'drill',
      executionId: `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:${drill.executionId}`,
      startedAt: drill.startedAt, endedAt: drill.startedAt, outcome: drill.outcome,
      failure: drill.outcome === 'failed' ? { error: 'RestoreFailedError', cause: 'pg_restore exited with 1' } : null,
      steps: [], measured: { rtoMinutes: drill.met.rto ? 41.5 : 75, rpoMinutes: 95.2, restoredDataAt: null, validatedAt: null },
      objectives: { rtoMinutes: 60, rpoMinutes: 1500 }, met: drill.met,
    }));
  }
  return { store, signer, backups, failedRuns, vanished: [vanished.backupId], drills: drills.map((d) => ({ ...d, executionId: `arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:${d.executionId}` })), pruneEvents };
}
