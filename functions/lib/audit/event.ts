/**
 * The audit trail's one event format (docs/audit-trail.md), version 1.0. Every state change Lifeboat makes is
 * one JSON object under `audit/<yyyy>/<mm>/<dd>/<time>-<type>-<eventId>.json`, written create-only by the
 * function (or CLI command) that acted, and authenticated with the evidence key: `mac` is the HMAC-SHA256
 * (base64url) of the event's canonical JSON without `mac` (keys sorted, no spaces). Example:
 *
 * ```json
 * { "format": "lifeboat-audit", "formatVersion": "1.0", "eventId": "k3x7q2abcdef",
 *   "time": "2026-11-22T05:41:02.907Z", "type": "backup", "outcome": "succeeded",
 *   "actor": { "kind": "function", "name": "lifeboat-dump" },
 *   "sourceId": "orders-db", "backupId": "20261122T053327Z-k3x7q2ab",
 *   "executionId": "arn:aws:states:eu-west-1:111122223333:execution:lifeboat-backup:orders-db-20261122T0533",
 *   "details": { "completedAt": "2026-11-22T05:41:02.100Z", "storedBytes": 1048576, "rawBytes": 5242880 },
 *   "mac": "q0z2…43 characters" }
 * ```
 */
import { z } from 'zod';
import { canonicalJson } from '../crypto/canonical.ts';
import { BACKUP_ID_PATTERN, PLAN_NAME_PATTERN, SOURCE_ID_PATTERN, compactUtc } from '../vault/layout.ts';

export const AUDIT_FORMAT = 'lifeboat-audit';
export const AUDIT_FORMAT_VERSION = '1.0';
export const AUDIT_SUPPORTED_MAJOR = 1;
export const AUDIT_PREFIX = 'audit/';

/** What happened. One type per state change; `outcome` says whether it succeeded. */
export const AUDIT_EVENT_TYPES = [
  'backup',
  'verification',
  'copy',
  'prune',
  'snapshot',
  'restore-started',
  'restore-finished',
  'approval-requested',
  'approval-decided',
  'drill-evidence',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export const AUDIT_OUTCOMES = ['succeeded', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** 12 lowercase base32 characters: random, so two events in one millisecond never share a key. */
export const AUDIT_EVENT_ID_PATTERN = /^[a-z2-7]{12}$/;
const TYPE_ALTERNATION = AUDIT_EVENT_TYPES.join('|');
/** `audit/2026/11/22/20261122T054102.907Z-backup-k3x7q2abcdef.json` */
export const AUDIT_KEY_PATTERN = new RegExp(
  `^audit/(\\d{4})/(\\d{2})/(\\d{2})/(\\d{8}T\\d{6}\\.\\d{3}Z)-(${TYPE_ALTERNATION})-([a-z2-7]{12})\\.json$`,
);

const timestamp = z.iso.datetime({ offset: false, precision: 3, error: 'must be an ISO-8601 UTC time with milliseconds' });

export const AuditActorSchema = z.strictObject({
  /** `function`: a Lambda or Fargate task of the deployment; `cli`: a person running the CLI. */
  kind: z.enum(['function', 'cli']),
  /** The function's name, or the CLI user (`user@host`). */
  name: z.string().min(1).max(256),
});
export type AuditActor = z.output<typeof AuditActorSchema>;

/** An event as its producer describes it, before it has an id, a time and a MAC. */
export const AuditEventInputSchema = z.strictObject({
  type: z.enum(AUDIT_EVENT_TYPES),
  outcome: z.enum(AUDIT_OUTCOMES),
  sourceId: z.string().regex(SOURCE_ID_PATTERN, 'must be a source id').optional(),
  backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id').optional(),
  plan: z.string().regex(PLAN_NAME_PATTERN, 'must be a plan name').optional(),
  /** The Step Functions execution (ARN) or CLI run that acted. */
  executionId: z.string().min(1).max(2048).optional(),
  /** What was done, type by type (docs/audit-trail.md); never a secret, a password or an approval link's token. */
  details: z.record(z.string(), z.unknown()).default({}),
});
export type AuditEventInput = z.input<typeof AuditEventInputSchema>;

export const AuditEventSchema = z.strictObject({
  format: z.literal(AUDIT_FORMAT),
  formatVersion: z.string().regex(/^\d+\.\d+$/, 'must be "MAJOR.MINOR"'),
  eventId: z.string().regex(AUDIT_EVENT_ID_PATTERN, 'must be 12 base32 characters'),
  time: timestamp,
  actor: AuditActorSchema,
  ...AuditEventInputSchema.shape,
  mac: z.string().min(1),
});
export type AuditEvent = z.output<typeof AuditEventSchema>;
export type UnsignedAuditEvent = Omit<AuditEvent, 'mac'>;

/** Where an event lives: its day folder, then its time, type and id, so listing a day's folder sorts it by time. */
export function auditKey(event: Pick<AuditEvent, 'time' | 'type' | 'eventId'>): string {
  const at = new Date(event.time);
  const iso = at.toISOString();
  return `${AUDIT_PREFIX}${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${compactUtc(at, true)}-${event.type}-${event.eventId}.json`;
}

/** The listing prefix of one UTC day's events. */
export function auditDayPrefix(day: Date): string {
  const iso = day.toISOString();
  return `${AUDIT_PREFIX}${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/`;
}

/** What the MAC covers: the event without `mac`, as JSON with every object's keys sorted and no whitespace. */
export function canonicalAuditMessage(event: UnsignedAuditEvent | AuditEvent): string {
  const { mac: _mac, ...unsigned } = event as AuditEvent;
  return canonicalJson(unsigned);
}

export { canonicalJson } from '../crypto/canonical.ts';
