/**
 * The approval functions' audit trail: with the vault (`VAULT_BUCKET`, `VAULT_KEY_ARN`) and the evidence key
 * (`EVIDENCE_KEY_ARN`), deployed with DR plans, each request sent and each decision delivered is recorded
 * (docs/audit-trail.md); without them, nothing is.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AuditTrail } from '../lib/audit/index.ts';
import { lambdaAuditTrail } from '../lib/audit/lambda.ts';
import { createS3Client } from '../lib/aws/s3Client.ts';
import { S3Store } from '../lib/vault/s3Store.ts';

export function approvalAuditTrail(step: 'approval-endpoint' | 'request-approval', logger: Pick<Logger, 'warn'>, env: Readonly<Record<string, string | undefined>> = process.env): AuditTrail | undefined {
  const bucket = env['VAULT_BUCKET'];
  if (!bucket) return undefined;
  const keyArn = env['VAULT_KEY_ARN'];
  return lambdaAuditTrail({
    store: new S3Store({ client: createS3Client(), bucket, ...(keyArn ? { serverSideEncryption: { kmsKeyId: keyArn } } : {}) }),
    step,
    env,
    log: (message, fields) => logger.warn(message, fields),
  });
}
