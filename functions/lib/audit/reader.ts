/**
 * Reads the audit trail back and authenticates every event: its MAC must be the evidence key's over the
 * event's canonical JSON, and its key must be the one its time, type and id give (an event copied to another
 * key is not authentic there). Nothing is trusted because of where it lies.
 */
import type { MacSigner } from '../crypto/mac.ts';
import { mapConcurrent, READ_CONCURRENCY } from '../vault/catalog.ts';
import type { VaultStore } from '../vault/store.ts';
import {
  AUDIT_KEY_PATTERN,
  AUDIT_PREFIX,
  AUDIT_SUPPORTED_MAJOR,
  AuditEventSchema,
  auditKey,
  canonicalAuditMessage,
  type AuditEvent,
} from './event.ts';

/** Larger than any event a producer writes: a bigger object is not read whole. */
const MAX_EVENT_BYTES = 256 * 1024;

export type AuditEntry =
  | { readonly key: string; readonly authentic: true; readonly event: AuditEvent }
  | {
      readonly key: string;
      readonly authentic: false;
      /** Why it is not authentic: unreadable, not this format, a MAC that does not verify, a key that does not match. */
      readonly problem: string;
      /** The event as stored, when it parsed: shown, never trusted. */
      readonly event?: AuditEvent;
    };

export interface ReadAuditOptions {
  /** Only events at or after this time (whole UTC days are listed; earlier events of that day are dropped). */
  readonly since?: Date;
  /** Only events before this time. */
  readonly until?: Date;
  /** Only events about this source (events that name none, such as approvals, are left out). */
  readonly sourceId?: string;
}

/** Every event of the trail in time order, each authenticated or with its problem. */
export async function readAuditTrail(store: VaultStore, signer: MacSigner, options: ReadAuditOptions = {}): Promise<AuditEntry[]> {
  const keys: string[] = [];
  for await (const key of store.list(AUDIT_PREFIX)) {
    const match = AUDIT_KEY_PATTERN.exec(key);
    if (match && !inRange(match, options)) continue;
    keys.push(key);
  }
  const entries = await mapConcurrent(keys, READ_CONCURRENCY, (key) => readAuditEntry(store, signer, key));
  return entries
    .filter((entry) => {
      const event = entry.event;
      if (!event) return options.sourceId === undefined;
      if (options.sourceId !== undefined && event.sourceId !== options.sourceId) return false;
      const time = Date.parse(event.time);
      return (options.since === undefined || time >= options.since.getTime()) && (options.until === undefined || time < options.until.getTime());
    })
    .sort((a, b) => timeOf(a) - timeOf(b) || (a.key < b.key ? -1 : 1));
}

export async function readAuditEntry(store: VaultStore, signer: MacSigner, key: string): Promise<AuditEntry> {
  if (!AUDIT_KEY_PATTERN.test(key)) return { key, authentic: false, problem: 'not an audit event key (audit/<yyyy>/<mm>/<dd>/<time>-<type>-<id>.json)' };
  const size = await store.head(key);
  if (size && size.bytes > MAX_EVENT_BYTES) return { key, authentic: false, problem: `larger than ${MAX_EVENT_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse((await store.getObject(key)).toString('utf8'));
  } catch (error) {
    return { key, authentic: false, problem: `unreadable: ${(error as Error).message}` };
  }
  const parsed = AuditEventSchema.safeParse(json);
  if (!parsed.success) {
    return { key, authentic: false, problem: `not a ${'lifeboat-audit'} event: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  }
  const event = parsed.data;
  const major = Number(event.formatVersion.split('.')[0]);
  if (major > AUDIT_SUPPORTED_MAJOR) return { key, authentic: false, problem: `format version ${event.formatVersion} is newer than this Lifeboat reads`, event };
  if (!(await signer.verify(canonicalAuditMessage(event), event.mac))) {
    return { key, authentic: false, problem: 'its MAC does not verify with the evidence key (forged or altered)', event };
  }
  if (auditKey(event) !== key) return { key, authentic: false, problem: `stored under ${key}, but its time, type and id give ${auditKey(event)}`, event };
  return { key, authentic: true, event };
}

function inRange(match: RegExpExecArray, options: ReadAuditOptions): boolean {
  const day = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  const DAY = 86_400_000;
  if (options.since && day + DAY <= options.since.getTime()) return false;
  if (options.until && day >= options.until.getTime()) return false;
  return true;
}

function timeOf(entry: AuditEntry): number {
  return entry.event ? Date.parse(entry.event.time) : 0;
}
