import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * The KMS HMAC key that authenticates evidence: verification results, audit events, drill evidence and reports.
 * Separate from the vault key (which writers of backups use) and from the approval key, so a role that can write
 * a backup cannot produce evidence about it. Producers get `GenerateMac`, readers only `VerifyMac`; the key
 * material never leaves KMS.
 *
 * @example
 * const evidence = new EvidenceKey(this, 'EvidenceKey', { deployment: 'lifeboat' });
 * evidence.grantSign(verifyFunction);
 * evidence.grantVerify(pruneFunction);
 */
export interface EvidenceKeyProps {
  /** The deployment's name, for the key's alias and description. */
  readonly deployment: string;
}

export class EvidenceKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: EvidenceKeyProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `Lifeboat ${props.deployment}: HMAC-SHA-256 authentication of evidence (verification results, audit events, reports)`,
      alias: `alias/${props.deployment}-evidence`,
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
