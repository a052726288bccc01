import type { SNSClient } from '@aws-sdk/client-sns';
import { KMSClient } from '@aws-sdk/client-kms';
import { kmsHmacSigner } from '../crypto/mac.ts';
import type { VaultStore } from '../vault/store.ts';
import { alertOnAuditFailure, auditWriter, type AuditTrail } from './writer.ts';

/**
 * The audit trail of a deployed function: events signed by the evidence key (`EVIDENCE_KEY_ARN`), the actor
 * being the function's own name, a failure to write logged and (with `ALERT_TOPIC_ARN` and an SNS client)
 * alerted at WARNING. `undefined` when the function is deployed without an evidence key.
 */
export function lambdaAuditTrail(options: {
  readonly store: VaultStore;
  readonly step: string;
  readonly log: (message: string, fields: Record<string, unknown>) => void;
  readonly sns?: Pick<SNSClient, 'send'>;
  readonly env?: Readonly<Record<string, string | undefined>>;
}): AuditTrail | undefined {
  const env = options.env ?? process.env;
  const keyArn = env['EVIDENCE_KEY_ARN'];
  if (!keyArn) return undefined;
  const topicArn = env['ALERT_TOPIC_ARN'];
  const onFailure = options.sns && topicArn
    ? alertOnAuditFailure({ sns: options.sns, topicArn, log: options.log, step: options.step })
    : (error: Error, input: { type: string }) => options.log('audit event not written', { type: input.type, error: error.name, reason: error.message });
  return auditWriter({
    store: options.store,
    signer: kmsHmacSigner(new KMSClient({}), keyArn),
    actor: { kind: 'function', name: env['AWS_LAMBDA_FUNCTION_NAME'] || `lifeboat-${options.step}` },
    onFailure,
  });
}
