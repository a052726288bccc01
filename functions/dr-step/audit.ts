/**
 * The audit events of the DR step executor (docs/audit-trail.md): a restore started (the RDS kinds, which
 * start and are then polled) and finished (a dump restore, or a polled restore or promotion that completed),
 * and a plan execution's evidence recorded. Validation, notification and clean-up are in the evidence itself.
 * Details name where data went (`into`: host:port/database), never credentials.
 */
import { failureDetails, type AuditDescription, type AuditEventInput } from '../lib/audit/index.ts';
import { BACKUP_ID_PATTERN, evidenceKey, SOURCE_ID_PATTERN } from '../lib/vault/layout.ts';
import type { DrStepResult } from './drStep.ts';

const RESTORE_KINDS = new Set(['restore-dump', 'restore-cache', 'restore-files', 'restore-config', 'restore-snapshot', 'restore-point-in-time', 'promote-replica']);
/** Errors that are the state machine's wait loop, not an outcome. */
const NOT_AN_OUTCOME = new Set(['ArchiveRestoreInProgressError', 'SnapshotNotReadyError']);

type Raw = Record<string, unknown>;

export function drStepAuditEvents(event: unknown): AuditDescription<DrStepResult> {
  const raw = (typeof event === 'object' && event !== null ? event : {}) as Raw;
  const action = raw['action'];
  const polled = (raw['step'] ?? {}) as Raw;
  const about = action === 'describe-step' ? polled : raw;
  const kind = typeof about['kind'] === 'string' ? about['kind'] : undefined;
  const plan = typeof about['plan'] === 'string' ? about['plan'] : undefined;
  const common = (): Pick<AuditEventInput, 'plan' | 'executionId'> => ({
    ...(plan && /^[a-z][a-z0-9-]{0,39}$/.test(plan) ? { plan } : {}),
    ...(typeof raw['executionId'] === 'string' ? { executionId: raw['executionId'] } : {}),
  });
  const stepDetails = () => ({ step: about['stepId'], kind, mode: about['mode'] });

  if (action === 'record-evidence') {
    return {
      succeeded: (result) => {
        if (!('format' in result)) return undefined;
        return {
          type: 'drill-evidence',
          outcome: 'succeeded',
          ...common(),
          executionId: result.executionId,
          details: { evidenceKey: evidenceKey(result.plan, result.executionId.slice(result.executionId.lastIndexOf(':') + 1)), mode: result.mode, outcome: result.outcome, measured: { rtoMinutes: result.measured.rtoMinutes, rpoMinutes: result.measured.rpoMinutes }, objectives: result.objectives, met: result.met },
        };
      },
      failed: (error) => ({ type: 'drill-evidence', outcome: 'failed', ...common(), details: failureDetails(error) }),
    };
  }
  if ((action !== 'run-step' && action !== 'describe-step') || kind === undefined || !RESTORE_KINDS.has(kind)) {
    return { succeeded: () => undefined, failed: () => undefined };
  }
  // A dump or cache restore runs whole in one call; the RDS kinds start here and finish in a later describe-step.
  const starts = action === 'run-step' && kind !== 'restore-dump' && kind !== 'restore-cache' && kind !== 'restore-files' && kind !== 'restore-config';
  return {
    succeeded: (result) => {
      if (!('stepId' in result)) return undefined;
      const done = result.status === 'succeeded';
      if (!starts && !done) return undefined;
      const record = (result.result ?? {}) as Raw;
      return {
        type: done ? 'restore-finished' : 'restore-started',
        outcome: 'succeeded',
        ...common(),
        ...idsOfRecord(record, raw),
        details: { ...stepDetails(), ...intoOf(record), ...(done ? { restoredDataAt: record['restoredDataAt'] ?? null } : {}) },
      };
    },
    failed: (error) => {
      if (NOT_AN_OUTCOME.has(error.name)) return undefined;
      return { type: starts ? 'restore-started' : 'restore-finished', outcome: 'failed', ...common(), ...idsOfRecord({}, raw), details: { ...stepDetails(), ...failureDetails(error) } };
    },
  };
}

/** The source and backup a restore used, from its record, else the step's parameters. */
function idsOfRecord(record: Raw, raw: Raw): Pick<AuditEventInput, 'sourceId' | 'backupId'> {
  const parameters = (raw['parameters'] ?? (raw['step'] as Raw | undefined)?.['restore'] ?? {}) as Raw;
  const sourceId = [record['sourceId'], parameters['source'], parameters['sourceId']].find((v): v is string => typeof v === 'string' && SOURCE_ID_PATTERN.test(v));
  const backupId = [record['backupId'], parameters['backupId']].find((v): v is string => typeof v === 'string' && BACKUP_ID_PATTERN.test(v));
  return { ...(sourceId ? { sourceId } : {}), ...(backupId ? { backupId } : {}) };
}

/** `into`: `host:port/database`, or the restored resource's identifier; never the credentials' secret. */
function intoOf(record: Raw): { into?: string } {
  const target = record['target'] as Raw | undefined;
  if (target && typeof target['host'] === 'string') return { into: `${target['host']}:${String(target['port'])}/${String(target['database'])}` };
  if (typeof record['identifier'] === 'string') return { into: record['identifier'] };
  return {};
}
