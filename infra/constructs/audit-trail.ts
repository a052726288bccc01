import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { PipelineFunction } from './pipeline-function.ts';

/** Why `audit/*` is a wildcard: the event's own name, never anything outside the audit prefix. */
export const AUDIT_WILDCARD_REASON =
  'Audit events are new objects under audit/ in the vault (audit/<yyyy>/<mm>/<dd>/<time>-<type>-<id>.json), written create-only; the wildcard is the event\'s name and nothing outside that prefix.';

export interface AuditWritesProps {
  readonly vault: s3.IBucket;
  /** The vault key: the bucket encrypts every object with it (SSE-KMS). */
  readonly vaultKey: kms.IKey;
  /** The evidence key (infra/constructs/evidence-key.ts) that authenticates each event. */
  readonly evidenceKey: kms.IKey;
}

/**
 * What a function that acts needs to record its audit events (docs/audit-trail.md), statement by statement:
 * put new objects under `audit/` only (no read, no delete, no other prefix), have S3 encrypt them under the
 * vault key (only through S3), and sign them with the evidence key (`kms:GenerateMac`, nothing else).
 */
export function auditWriteStatements(scope: { readonly region: string }, props: AuditWritesProps): { statement: iam.PolicyStatement; wildcardReason?: string }[] {
  return [
    {
      statement: new iam.PolicyStatement({ sid: 'WriteAuditEvents', actions: ['s3:PutObject'], resources: [props.vault.arnForObjects('audit/*')] }),
      wildcardReason: AUDIT_WILDCARD_REASON,
    },
    {
      statement: new iam.PolicyStatement({
        sid: 'EncryptAuditEvents',
        actions: ['kms:GenerateDataKey'],
        resources: [props.vaultKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${scope.region}.amazonaws.com` } },
      }),
    },
    { statement: new iam.PolicyStatement({ sid: 'SignAuditEvents', actions: ['kms:GenerateMac'], resources: [props.evidenceKey.keyArn] }) },
  ];
}

/** Lets a pipeline function write its audit events and tells it the evidence key (`EVIDENCE_KEY_ARN`). */
export function grantAuditWrites(fn: PipelineFunction, props: AuditWritesProps): void {
  for (const { statement, wildcardReason } of auditWriteStatements(Stack.of(fn), props)) fn.addToRolePolicy(statement, wildcardReason);
  fn.function.addEnvironment('EVIDENCE_KEY_ARN', props.evidenceKey.keyArn);
}
