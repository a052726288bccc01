import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { AirGappedVault, type AirGappedVaultProps } from '../constructs/air-gapped-vault.ts';

export interface AirGapStackProps extends StackProps, AirGappedVaultProps {}

/** The air-gapped copy's account: its vault, its key and the reader role plans assume. Deployed with that account's credentials. */
export class AirGapStack extends Stack {
  readonly airGap: AirGappedVault;

  constructor(scope: Construct, id: string, props: AirGapStackProps) {
    super(scope, id, props);
    const { deployment, workloadAccount, objectLockMode, objectLockRetentionDays, snapshotCopies } = props;
    this.airGap = new AirGappedVault(this, 'AirGap', {
      deployment,
      workloadAccount,
      ...(objectLockMode ? { objectLockMode } : {}),
      ...(objectLockRetentionDays ? { objectLockRetentionDays } : {}),
      ...(snapshotCopies ? { snapshotCopies } : {}),
    });
    // The second deploy's input: the workload config's vaultAccount.keyArn (docs/air-gapped-vault.md).
    new CfnOutput(this, 'AirGapKeyArn', { value: this.airGap.key.keyArn, description: 'Set as vaultAccount.keyArn in the workload config, then deploy the region stacks' });
    new CfnOutput(this, 'AirGapBucketName', { value: this.airGap.vault.bucket.bucketName, description: 'The air-gapped vault: restore with lifeboat --vault s3://<this> under the reader role' });
    new CfnOutput(this, 'AirGapReaderRoleArn', { value: this.airGap.readerRole.roleArn, description: 'Assume it to read the air-gapped vault' });
  }
}
