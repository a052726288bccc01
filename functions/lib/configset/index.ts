/** Configuration backups (`kind: "config"`): SSM parameters, Secrets Manager secrets and CloudFormation stacks. */
export * from './items.ts';
export * from './apis.ts';
export * from './errors.ts';
export { collectConfigItems, selectionSize, NO_ECHO_MASK, type ConfigClients, type ConfigSelection } from './collect.ts';
export * from './manifest.ts';
export { runConfigBackup, type ConfigBackupOptions } from './backup.ts';
export { readConfigItems, readConfigManifest, verifyConfigBackup, type ConfigVerification } from './read.ts';
export * from './restore.ts';
export { ssmApi, cloudFormationApi } from './aws.ts';
