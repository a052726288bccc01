/**
 * Builds the compliance report of a vault over a period from the vault alone: manifests and verification
 * results, the audit trail (failures, copies, prunes, each authenticated), and DR plan evidence.
 *
 * - A *good* backup is one whose verification did not fail (verified or not yet verified), present or pruned.
 *   The RPO is met at time t when the newest good backup completed at or before t is at most `rpoMinutes` old.
 * - Retention adherence: the source's policy is planned over every backup ever known (manifests, `backup`
 *   events, `prune` events) as of the period's end; each backup it keeps must still be in the vault.
 * - A copy is missing when a backup completed more than `copyGraceMinutes` before the period's end and no
 *   successful `copy` event names it.
 */
import type { MacSigner } from '../crypto/mac.ts';
import { readAuditTrail, type AuditEntry } from '../audit/reader.ts';
import type { AuditEvent } from '../audit/event.ts';
import { planRetention, type RetentionPolicy } from '../retention/plan.ts';
import { latestVerificationOf, mapConcurrent, READ_CONCURRENCY, readManifests, scanBackupFolders } from '../vault/catalog.ts';
import { authenticateDrEvidence } from '../plans/evidenceMac.ts';
import { EVIDENCE_PREFIX } from '../vault/layout.ts';
import type { BackupManifest } from '../vault/manifest.ts';
import type { VaultStore } from '../vault/store.ts';
import { readVerification } from '../vault/verification.ts';
import {
  REPORT_FORMAT,
  REPORT_FORMAT_VERSION,
  type ComplianceReport,
  type DrillSummary,
  type Lapse,
  type ObjectLockState,
  type PlanLapse,
  type PlanReport,
  type SourceReport,
} from './model.ts';
import { summaryText } from './summary.ts';

const MINUTE = 60_000;

export interface ReportSourceConfig {
  readonly id: string;
  readonly rpoMinutes: number;
  readonly rtoMinutes: number;
  readonly retention: RetentionPolicy;
  /** The schedule's IANA time zone: retention periods are counted in it. */
  readonly timeZone: string;
}

export interface BuildReportOptions {
  readonly store: VaultStore;
  /** Authenticates the audit trail (the evidence key). */
  readonly signer: MacSigner;
  /** The verification key: only authenticated verification results count. @default results as stored */
  readonly verificationKey?: Pick<MacSigner, 'verify'>;
  /** The DR evidence key: only plan runs whose evidence authenticates are reported. @default evidence as stored */
  readonly drEvidenceKey?: Pick<MacSigner, 'verify'>;
  readonly sources: readonly ReportSourceConfig[];
  readonly since: Date;
  readonly until: Date;
  /** Whether the vault's Object Lock is in force. @default unknown (a local directory has none to read) */
  readonly objectLock?: () => Promise<ObjectLockState>;
  /** How long a DR copy may take before it counts as missing. @default 360 (6 hours) */
  readonly copyGraceMinutes?: number;
  /** @default until */
  readonly generatedAt?: Date;
}

interface Point {
  readonly backupId: string;
  completedAt: number;
  status: 'verified' | 'unverified' | 'failed';
  present: boolean;
  storedBytes?: number;
  rawBytes?: number;
  pruned: boolean;
  copied: boolean;
}

export async function buildReport(options: BuildReportOptions): Promise<ComplianceReport> {
  const { store, since, until } = options;
  if (!(since.getTime() < until.getTime())) throw new RangeError(`The report period must start before it ends (${since.toISOString()} .. ${until.toISOString()})`);
  const graceMs = (options.copyGraceMinutes ?? 360) * MINUTE;

  const trail = await readAuditTrail(store, options.signer, { until });
  const authentic = trail.flatMap((entry) => (entry.authentic ? [entry.event] : []));
  const unauthenticated = trail.filter((entry): entry is Extract<AuditEntry, { authentic: false }> => !entry.authentic);

  const folders = await scanBackupFolders(store);
  const manifests = await readManifests(store, folders.filter((f) => f.hasManifest), { onUnreadable: () => undefined });

  const sources: SourceReport[] = [];
  for (const source of options.sources) {
    const events = authentic.filter((event) => event.sourceId === source.id);
    const points = new Map<string, Point>();
    const point = (backupId: string, completedAt: number): Point => {
      let found = points.get(backupId);
      if (!found) {
        found = { backupId, completedAt, status: 'unverified', present: false, pruned: false, copied: false };
        points.set(backupId, found);
      }
      return found;
    };
    // What the trail says first; the vault's own objects then win for what is still there.
    for (const event of events) {
      if (!event.backupId) continue;
      const completedAt = timeDetail(event, 'completedAt') ?? Date.parse(event.time);
      if (event.type === 'backup' && event.outcome === 'succeeded') point(event.backupId, completedAt);
      if (event.type === 'prune' && event.outcome === 'succeeded') {
        const pruned = point(event.backupId, completedAt);
        pruned.pruned = true;
        const status = event.details['status'];
        if (status === 'verified' || status === 'failed' || status === 'unverified') pruned.status = status;
      }
      // A failed run that was no verdict (the verification server unreachable) says nothing about the backup.
      if (event.type === 'verification' && points.has(event.backupId) && event.details['verdict'] !== false) {
        point(event.backupId, completedAt).status = event.outcome === 'succeeded' ? 'verified' : 'failed';
      }
      if (event.type === 'copy' && event.outcome === 'succeeded') point(event.backupId, completedAt).copied = true;
    }
    const own = manifests.filter((m) => m.manifest.sourceId === source.id);
    const reading = (manifest: BackupManifest) => (options.verificationKey ? { authenticator: options.verificationKey, manifest } : {});
    const verifications = await mapConcurrent(own, READ_CONCURRENCY, (m) => latestVerificationOf(store, m.folder, reading(m.manifest)));
    const restoreTests: NonNullable<SourceReport['lastRestoreTest']>[] = [];
    own.forEach(({ manifest, folder }, index) => {
      const found = point(manifest.backupId, Date.parse(manifest.completedAt));
      found.completedAt = Date.parse(manifest.completedAt);
      found.present = true;
      found.pruned = false;
      found.storedBytes = manifest.payload?.storedBytes ?? 0;
      found.rawBytes = manifest.payload?.rawBytes ?? 0;
      found.status = verifications[index]!.status;
      void folder;
    });
    // Every verification result of the source's backups, for the last restore test (not only the newest per backup).
    for (const { folder, manifest } of own) {
      for (const key of folder.keys.filter((k) => k.includes('/verifications/'))) {
        const read = await readVerification(store, key, folder, reading(manifest));
        const restore = read.result?.checks.find((check) => check.name === 'restore');
        if (!read.result || read.problem !== undefined || !restore || (restore.status !== 'passed' && restore.status !== 'failed')) continue;
        const target = read.result.restoreTarget;
        restoreTests.push({
          backupId: read.result.backupId,
          at: read.result.completedAt,
          status: restore.status,
          target: target ? `${target.server}/${target.database}` : null,
        });
      }
    }

    const all = [...points.values()].filter((p) => p.completedAt <= until.getTime()).sort((a, b) => a.completedAt - b.completedAt);
    const inPeriod = all.filter((p) => p.completedAt >= since.getTime());
    const lapses: Lapse[] = [];

    // RPO: the age of the newest good backup over the period.
    const good = all.filter((p) => p.status !== 'failed').map((p) => p.completedAt);
    const rpoMs = source.rpoMinutes * MINUTE;
    const { series, breaches, worst } = ageOverPeriod(good, since.getTime(), until.getTime(), rpoMs);
    const breachMs = breaches.reduce((sum, [from, to]) => sum + (to - from), 0);
    for (const [from, to] of breaches) {
      lapses.push({ kind: 'rpo-breach', at: iso(from), until: iso(to), minutes: round1((to - from) / MINUTE) });
    }

    // Failures the trail recorded in the period.
    const periodEvents = events.filter((e) => Date.parse(e.time) >= since.getTime() && Date.parse(e.time) < until.getTime());
    const failedVerificationIds = new Set<string>();
    for (const event of periodEvents.filter((e) => e.outcome === 'failed')) {
      const executionId = event.executionId ?? null;
      const reason = reasonOf(event);
      if (event.type === 'backup') lapses.push({ kind: 'backup-failed', at: event.time, executionId, reason });
      else if (event.type === 'verification' && event.backupId) {
        failedVerificationIds.add(event.backupId);
        lapses.push({ kind: 'verification-failed', at: event.time, backupId: event.backupId, executionId, reason });
      } else if (event.type === 'copy') lapses.push({ kind: 'copy-failed', at: event.time, backupId: event.backupId ?? null, executionId, reason });
      else lapses.push({ kind: 'failed-event', at: event.time, type: event.type, backupId: event.backupId ?? null, executionId, reason });
    }
    // A failed verification the vault holds but the trail does not (written before the trail existed, say).
    for (const [index, { manifest }] of own.entries()) {
      const latest = verifications[index]!;
      if (latest.status !== 'failed' || failedVerificationIds.has(manifest.backupId) || !latest.result) continue;
      const at = Date.parse(latest.result.completedAt);
      if (at < since.getTime() || at >= until.getTime()) continue;
      lapses.push({ kind: 'verification-failed', at: latest.result.completedAt, backupId: manifest.backupId, executionId: null, reason: latest.result.reason ?? 'failed' });
    }

    // Copies.
    for (const p of inPeriod) {
      if (!p.copied && p.completedAt + graceMs <= until.getTime() && !hasFailedCopy(periodEvents, p.backupId)) {
        lapses.push({ kind: 'copy-missing', at: iso(p.completedAt), backupId: p.backupId });
      }
    }

    // Retention: what the policy keeps at the period's end must still be there.
    const decisions = planRetention(
      all.map((p) => ({ id: p.backupId, completedAt: new Date(p.completedAt), status: p.status })),
      source.retention,
      { now: until, timeZone: source.timeZone },
    );
    const kept = decisions.filter((d) => d.action === 'keep');
    const missing = kept.filter((d) => !points.get(d.id)!.present);
    for (const decision of missing) {
      lapses.push({ kind: 'retention-missing', at: iso(points.get(decision.id)!.completedAt), backupId: decision.id, rules: [...decision.reasons] });
    }

    lapses.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.kind.localeCompare(b.kind));
    restoreTests.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    sources.push({
      sourceId: source.id,
      objectives: { rpoMinutes: source.rpoMinutes, rtoMinutes: source.rtoMinutes },
      rpo: {
        met: breaches.length === 0,
        metShare: round4(1 - breachMs / (until.getTime() - since.getTime())),
        worstAgeMinutes: worst === undefined ? null : round1(worst / MINUTE),
      },
      backups: {
        taken: inPeriod.length,
        verified: inPeriod.filter((p) => p.status === 'verified').length,
        failedVerification: inPeriod.filter((p) => p.status === 'failed').length,
        copied: inPeriod.filter((p) => p.copied).length,
        failed: periodEvents.filter((e) => e.type === 'backup' && e.outcome === 'failed').length,
        pruned: periodEvents.filter((e) => e.type === 'prune' && e.outcome === 'succeeded').length,
      },
      retention: { adherent: missing.length === 0, expected: kept.length, missing: missing.map((d) => d.id) },
      lastRestoreTest: restoreTests.filter((t) => Date.parse(t.at) < until.getTime()).at(-1) ?? null,
      ageSeries: series.map(([at, age]) => ({ at: iso(at), ageMinutes: age === undefined ? null : round1(age / MINUTE) })),
      sizeSeries: inPeriod
        .filter((p) => p.present)
        .map((p) => ({ at: iso(p.completedAt), backupId: p.backupId, storedBytes: p.storedBytes ?? 0, rawBytes: p.rawBytes ?? 0 })),
      lapses,
    });
  }

  const { plans, unauthenticated: forgedEvidence } = await planReports(store, since, until, options.drEvidenceKey);
  const objectLock: ObjectLockState = options.objectLock
    ? await options.objectLock()
    : { state: 'unknown', mode: null, retentionDays: null, detail: 'not read' };
  const lapseCount = sources.reduce((sum, s) => sum + s.lapses.length, 0) + plans.reduce((sum, p) => sum + p.lapses.length, 0);
  const report: Omit<ComplianceReport, 'summary'> = {
    format: REPORT_FORMAT,
    formatVersion: REPORT_FORMAT_VERSION,
    generatedAt: (options.generatedAt ?? until).toISOString(),
    vault: store.location,
    period: { since: since.toISOString(), until: until.toISOString() },
    objectLock,
    audit: {
      events: authentic.filter((e) => Date.parse(e.time) >= since.getTime()).length,
      // DR evidence that fails to authenticate is listed with the audit events that do not: neither is counted.
      unauthenticated: [...unauthenticated.map((entry) => ({ key: entry.key, problem: entry.problem })), ...forgedEvidence],
    },
    sources,
    plans,
  };
  const ok = lapseCount === 0 && objectLock.state !== 'off' && report.audit.unauthenticated.length === 0;
  return { ...report, summary: { ok, lapses: lapseCount, text: summaryText(report, ok) } };
}

/**
 * The age of the newest good backup through [since, until]: a sawtooth of points (rising, then 0 at each good
 * backup), the intervals where it exceeds the RPO, and its maximum (undefined when there never was a backup).
 */
export function ageOverPeriod(good: readonly number[], since: number, until: number, rpoMs: number) {
  const sorted = [...good].sort((a, b) => a - b);
  const series: [number, number | undefined][] = [];
  const breaches: [number, number][] = [];
  let last = sorted.filter((t) => t <= since).at(-1);
  let worst: number | undefined;
  const segment = (from: number, to: number) => {
    // From `from` to `to` the newest good backup is `last`.
    if (last === undefined) {
      breaches.push([from, to]);
      return;
    }
    const dueAt = last + rpoMs;
    if (to > dueAt) breaches.push([Math.max(from, dueAt), to]);
    worst = Math.max(worst ?? 0, to - last);
  };
  series.push([since, last === undefined ? undefined : since - last]);
  let cursor = since;
  for (const completed of sorted.filter((t) => t > since && t <= until)) {
    segment(cursor, completed);
    series.push([completed, last === undefined ? undefined : completed - last]);
    series.push([completed, 0]);
    last = completed;
    cursor = completed;
  }
  if (cursor < until) {
    segment(cursor, until);
    series.push([until, last === undefined ? undefined : until - last]);
  }
  // Adjacent breaches (a backup that itself arrived late) are one lapse.
  const merged: [number, number][] = [];
  for (const breach of breaches) {
    const previous = merged.at(-1);
    if (previous && previous[1] === breach[0]) previous[1] = breach[1];
    else if (breach[1] > breach[0]) merged.push([...breach]);
  }
  return { series, breaches: merged, worst };
}

async function planReports(
  store: VaultStore,
  since: Date,
  until: Date,
  authenticator: Pick<MacSigner, 'verify'> | undefined,
): Promise<{ plans: PlanReport[]; unauthenticated: { key: string; problem: string }[] }> {
  const byPlan = new Map<string, DrillSummary[]>();
  const unauthenticated: { key: string; problem: string }[] = [];
  for await (const key of store.list(EVIDENCE_PREFIX)) {
    const plan = key.slice(EVIDENCE_PREFIX.length).split('/')[0];
    if (!plan || !key.endsWith('.json')) continue;
    let evidence: Record<string, unknown>;
    try {
      evidence = JSON.parse((await store.getObject(key)).toString('utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (evidence['format'] !== 'lifeboat-dr-evidence') continue;
    if (authenticator) {
      const authenticity = await authenticateDrEvidence(evidence, key, authenticator);
      if (!authenticity.authentic) {
        if (!authenticity.unsigned) unauthenticated.push({ key, problem: authenticity.problem });
        continue;
      }
    }
    const measured = (evidence['measured'] ?? {}) as Record<string, number | null>;
    const drill: DrillSummary = {
      executionId: String(evidence['executionId']),
      mode: evidence['mode'] === 'real' ? 'real' : 'drill',
      startedAt: String(evidence['startedAt']),
      outcome: evidence['outcome'] === 'passed' ? 'passed' : 'failed',
      rtoMinutes: measured['rtoMinutes'] ?? null,
      rpoMinutes: measured['rpoMinutes'] ?? null,
      objectives: evidence['objectives'] as DrillSummary['objectives'],
      met: evidence['met'] as DrillSummary['met'],
    };
    if (Date.parse(drill.startedAt) >= until.getTime()) continue;
    byPlan.set(plan, [...(byPlan.get(plan) ?? []), drill]);
  }
  const plans = [...byPlan.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([plan, runs]) => {
      runs.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      const inPeriod = runs.filter((run) => Date.parse(run.startedAt) >= since.getTime());
      const lapses: PlanLapse[] = [];
      for (const run of inPeriod) {
        if (run.outcome === 'failed') lapses.push({ kind: 'drill-failed', at: run.startedAt, executionId: run.executionId, reason: 'the plan execution failed' });
        else if (!run.met.rto || !run.met.rpo) {
          lapses.push({ kind: 'drill-objective-missed', at: run.startedAt, executionId: run.executionId, missed: [...(run.met.rto ? [] : ['rto' as const]), ...(run.met.rpo ? [] : ['rpo' as const])] });
        }
      }
      return {
        plan,
        lastDrill: runs.filter((r) => r.mode === 'drill').at(-1) ?? null,
        lastReal: runs.filter((r) => r.mode === 'real').at(-1) ?? null,
        drillsInPeriod: inPeriod.filter((r) => r.mode === 'drill').length,
        lapses,
      };
    });
  return { plans, unauthenticated };
}

function hasFailedCopy(events: readonly AuditEvent[], backupId: string): boolean {
  return events.some((e) => e.type === 'copy' && e.outcome === 'failed' && e.backupId === backupId);
}

function timeDetail(event: AuditEvent, name: string): number | undefined {
  const value = event.details[name];
  const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(parsed) ? undefined : parsed;
}

function reasonOf(event: AuditEvent): string {
  const reason = event.details['reason'] ?? event.details['error'];
  return typeof reason === 'string' && reason !== '' ? reason : `${event.type} ${event.outcome}`;
}

const iso = (ms: number) => new Date(ms).toISOString();
const round1 = (n: number) => Math.round(n * 10) / 10;
const round4 = (n: number) => Math.round(n * 10_000) / 10_000;
