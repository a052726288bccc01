import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Alerts, type AlertSubscriber } from '../constructs/alerts.ts';
import { BackupFunctions, type BackupFunctionsProps } from '../constructs/backup-functions.ts';
import { Vault, type VaultProps } from '../constructs/vault.ts';
import { VaultKey } from '../constructs/vault-key.ts';

export interface RegionStackProps extends StackProps {
  /** `primary` creates the multi-Region vault key; `dr` replicates it from `primaryKeyArn`. */
  readonly role: 'primary' | 'dr';
  /** Required for the DR stack: the primary vault key's ARN. */
  readonly primaryKeyArn?: string;
  readonly vault: Omit<VaultProps, 'key'>;
  readonly alertSubscribers: readonly AlertSubscriber[];
  /** The sources this region backs up (the primary region). @default - none */
  readonly backup?: Pick<BackupFunctionsProps, 'sources'>;
}

/** One region's share of Lifeboat: its vault key, its vault, its alert topic and, where backups are made, the backup functions. */
export class RegionStack extends Stack {
  readonly vaultKey: VaultKey;
  readonly vault: Vault;
  readonly alerts: Alerts;
  readonly backup?: BackupFunctions;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    super(scope, id, props);
    if (props.role === 'dr' && props.primaryKeyArn === undefined) {
      throw new Error(`RegionStack ${id}: a DR stack needs primaryKeyArn to replicate the vault key`);
    }
    this.vaultKey = new VaultKey(this, 'VaultKey', props.role === 'dr' ? { replicaOf: props.primaryKeyArn } : {});
    this.vault = new Vault(this, 'Vault', { ...props.vault, key: this.vaultKey.key });
    this.alerts = new Alerts(this, 'Alerts', { subscribers: props.alertSubscribers });
    if (props.backup && props.backup.sources.length > 0) {
      this.backup = new BackupFunctions(this, 'Backup', { ...props.backup, vault: this.vault.bucket, vaultKey: this.vaultKey.key });
    }
  }
}
