/**
 * Writes audit events: validated, stamped with an id, the time and the actor, authenticated with the evidence
 * key, and stored create-only. Writing an event is never the work itself: a failure to write one is reported
 * through `onFailure` (the functions log it and publish a WARNING alert) and `record` resolves either way, so a
 * good backup never becomes a failed one because its audit event could not be stored.
 */
import { publishAlert } from '../alerts/index.ts';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { MacSigner } from '../crypto/mac.ts';
import { ConfigError } from '../errors.ts';
import { randomBase32 } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';
import {
  AUDIT_FORMAT,
  AUDIT_FORMAT_VERSION,
  AuditEventInputSchema,
  auditKey,
  canonicalAuditMessage,
  type AuditActor,
  type AuditEvent,
  type AuditEventInput,
  type UnsignedAuditEvent,
} from './event.ts';

export type AuditRecordResult =
  | { readonly written: true; readonly key: string; readonly event: AuditEvent }
  | { readonly written: false; readonly error: Error; readonly input: AuditEventInput };

export interface AuditWriterOptions {
  readonly store: VaultStore;
  readonly signer: MacSigner;
  readonly actor: AuditActor;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Told about every event that could not be written (never throws into the caller). @default nothing */
  readonly onFailure?: (error: Error, input: AuditEventInput) => void | Promise<void>;
}

/** Records events of one actor. */
export interface AuditTrail {
  record(input: AuditEventInput): Promise<AuditRecordResult>;
}

export function auditWriter(options: AuditWriterOptions): AuditTrail {
  const clock = options.clock ?? (() => new Date());
  return {
    async record(input) {
      try {
        const parsed = AuditEventInputSchema.safeParse(input);
        if (!parsed.success) {
          throw new ConfigError(`Invalid audit event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`);
        }
        const unsigned: UnsignedAuditEvent = {
          format: AUDIT_FORMAT,
          formatVersion: AUDIT_FORMAT_VERSION,
          eventId: randomBase32(12),
          time: clock().toISOString(),
          actor: options.actor,
          ...parsed.data,
          // JSON round trip: what is signed is exactly what a reader parses (no undefined, no Dates).
          details: JSON.parse(JSON.stringify(parsed.data.details)) as Record<string, unknown>,
        };
        const event: AuditEvent = { ...unsigned, mac: await options.signer.sign(canonicalAuditMessage(unsigned)) };
        const key = auditKey(event);
        if (!options.store.createObject) throw new ConfigError(`The vault ${options.store.location} cannot write create-only objects`);
        await options.store.createObject(key, `${JSON.stringify(event, null, 2)}\n`);
        return { written: true, key, event };
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        try {
          await options.onFailure?.(failure, input);
        } catch {
          // The failure handler's own failure (SNS down) must not reach the work either; it was logged by it.
        }
        return { written: false, error: failure, input };
      }
    },
  };
}

/**
 * The `onFailure` of a deployed function: one log line and a WARNING alert naming the event that is missing
 * from the trail (its type, source and backup), never the event's details.
 */
export function alertOnAuditFailure(deps: {
  readonly sns: Pick<SNSClient, 'send'>;
  readonly topicArn: string;
  readonly log: (message: string, fields: Record<string, unknown>) => void;
  readonly step: string;
}): (error: Error, input: AuditEventInput) => Promise<void> {
  return async (error, input) => {
    deps.log('audit event not written', { type: input.type, sourceId: input.sourceId, backupId: input.backupId, error: error.name, reason: error.message });
    await publishAlert(deps.sns, deps.topicArn, {
      severity: 'WARNING',
      sourceId: input.sourceId ?? input.plan ?? 'lifeboat',
      ...(input.backupId ? { backupId: input.backupId } : {}),
      step: deps.step,
      errorName: 'AuditWriteFailedError',
      reason: `The ${input.type} audit event (${input.outcome}) could not be written to the vault: ${error.name}: ${error.message}. The work itself is unaffected.`,
      nextSteps: [
        "Check the function's permission to write audit/* in the vault and to use the evidence key (kms:GenerateMac).",
        'The trail now lacks this event; the function log has its type, source and backup.',
      ],
    }).catch((publishError: unknown) => deps.log('audit failure alert not published', { error: String(publishError) }));
  };
}
