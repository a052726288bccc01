import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * A KMS HMAC key that authenticates evidence. Two per deployment, separate from the vault key (which writers of
 * backups use) and from the approval key:
 * - `evidence`: audit events, drill evidence and reports. Every function that acts signs its own audit events
 *   with it, the dump functions included.
 * - `verification`: verification results. Only the verifier (the verify function and its Fargate task) may
 *   `GenerateMac` with it, so no role that writes backups can produce a result that authenticates, even with
 *   its own audit rights.
 * - `dr-evidence`: the evidence of DR plan runs and drills (`evidence/<plan>/<execution>.json`). Only the DR step
 *   function (and its Fargate task) may sign with it, so no other role can make a plan look drilled.
 * Producers get `GenerateMac`, readers only `VerifyMac`; the key material never leaves KMS.
 *
 * @example
 * const verification = new EvidenceKey(this, 'VerificationKey', { deployment: 'lifeboat', purpose: 'verification' });
 * verification.grantSign(verifyFunction);
 * verification.grantVerify(pruneFunction);
 */
export interface EvidenceKeyProps {
  /** The deployment's name, for the key's alias and description. */
  readonly deployment: string;
  /** @default 'evidence' */
  readonly purpose?: 'evidence' | 'verification' | 'dr-evidence';
}

const DESCRIPTIONS = {
  evidence: 'HMAC-SHA-256 authentication of evidence (audit events, drill evidence, reports)',
  verification: 'HMAC-SHA-256 authentication of verification results; only the verifier may sign',
  'dr-evidence': 'HMAC-SHA-256 authentication of DR plan evidence; only the DR step function may sign',
} as const;

export class EvidenceKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: EvidenceKeyProps) {
    super(scope, id);
    const purpose = props.purpose ?? 'evidence';
    this.key = new kms.Key(this, 'Key', {
      description: `Lifeboat ${props.deployment}: ${DESCRIPTIONS[purpose]}`,
      alias: `alias/${props.deployment}-${purpose}`,
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      // Evidence outlives a stack update; losing the key would make every stored result unauthenticated.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** A producer of evidence: computes MACs (and checks its own). */
  grantSign(grantee: iam.IGrantable): iam.Grant {
    return this.key.grant(grantee, 'kms:GenerateMac', 'kms:VerifyMac');
  }

  /** A reader of evidence: checks MACs only. */
  grantVerify(grantee: iam.IGrantable): iam.Grant {
    return this.key.grant(grantee, 'kms:VerifyMac');
  }
}
