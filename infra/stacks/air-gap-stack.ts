import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { AirGappedVault, type AirGappedVaultProps } from '../constructs/air-gapped-vault.ts';

export interface AirGapStackProps extends StackProps, AirGappedVaultProps {}

/** The air-gapped copy's account: its vault, its key and the reader role plans assume. Deployed with that account's credentials. */
export class AirGapStack extends Stack {
  readonly airGap: AirGappedVault;

  constructor(scope: Construct, id: string, props: AirGapStackProps) {
    super(scope, id, props);
    const { deployment, workloadAccount, objectLockMode, objectLockRetentionDays } = props;
    this.airGap = new AirGappedVault(this, 'AirGap', { deployment, workloadAccount, ...(objectLockMode ? { objectLockMode } : {}), ...(objectLockRetentionDays ? { objectLockRetentionDays } : {}) });
  }
}
