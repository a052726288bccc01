import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { buildLifeboat } from '../../infra/lifeboat.ts';
import { acknowledgedFindings, exampleConfig, snapshotPlanConfig, synthNagReport, testApp, type NagReport } from './support.ts';

function synthReport(): NagReport {
  const app = testApp({ compliance: true });
  buildLifeboat(app, exampleConfig());
  return synthNagReport(app);
}

describe('cdk-nag: AWS Solutions and NIST 800-53 rev 5 over the whole app', () => {
  const report = synthReport();

  it('runs both packs and finds nothing left unacknowledged', () => {
    // A pack with nothing found and nothing acknowledged is left out of the report.
    expect(report.pluginReports.length).toBeGreaterThan(0);
    for (const plugin of report.pluginReports) expect(['AwsSolutions', 'NIST.800.53.R5']).toContain(plugin.pluginName);
    for (const plugin of report.pluginReports) {
      expect({ plugin: plugin.pluginName, violations: plugin.violations }).toEqual({ plugin: plugin.pluginName, violations: [] });
      expect(plugin.conclusion).toBe('success');
    }
  });

  it('acknowledges only the reviewed findings, each with a written reason', () => {
    const acknowledged = acknowledgedFindings(report, /^lifeboat-(primary|dr)\//, '*/');
    expect([...new Set(acknowledged)].sort()).toEqual([
      'AwsSolutions-APIG4 @ */Plans/ApprovalApi/Api/Default/approvals/{approvalId}/GET/Resource',
      'AwsSolutions-APIG4 @ */Plans/ApprovalApi/Api/Default/approvals/{approvalId}/POST/Resource',
      'AwsSolutions-COG4 @ */Plans/ApprovalApi/Api/Default/approvals/{approvalId}/GET/Resource',
      'AwsSolutions-COG4 @ */Plans/ApprovalApi/Api/Default/approvals/{approvalId}/POST/Resource',
      'AwsSolutions-ECS2 @ */Backup/Runner/CopyTask/Resource',
      'AwsSolutions-ECS2 @ */Backup/Runner/DrStepTask/Resource',
      'AwsSolutions-ECS2 @ */Backup/Runner/Dump1Task/Resource',
      'AwsSolutions-ECS2 @ */Backup/Runner/Dump2Task/Resource',
      'AwsSolutions-ECS2 @ */Backup/Runner/FileSetTask/Resource',
      'AwsSolutions-ECS2 @ */Backup/Runner/VerifyTask/Resource',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs] @ */Plans/ApprovalApi/Api/CloudWatchRole/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/Dump1/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/FileSetBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Backup/Runner/ExecutionRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */DrWatch/AlarmAlert/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */DrWatch/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Monitoring/AlarmAlert/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/ResolveSource/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/StartBackup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/ApprovalEndpoint/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/RequestApproval/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/Role-billing-db-default/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/Role-catalog-docdb-default/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/Role-config-recovery/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/Role-orders-failover/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/Role-sessions-recovery/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Plans/Role-uploads-recovery/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */Report/Function/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */RestoreTest/ValidateRestoreRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] @ */TamperAlarms/Publisher/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<BackupElastiCacheStagingBucketC34F5CF8.Arn>/lifeboat-sessions-cache-*] @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<BackupElastiCacheStagingBucketC34F5CF8.Arn>/lifeboat-sessions-cache-*] @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<DrWatchFreshnessFunction1D66444E.Arn>:*] @ */DrWatch/SchedulerRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<MonitoringFreshnessFunction32567F53.Arn>:*] @ */Monitoring/SchedulerRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<PipelineStartBackupFunction23871E82.Arn>:*] @ */Pipeline/SchedulerRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<ReportFunction54D9E0D4.Arn>:*] @ */Report/SchedulerRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<RestoreTestValidateRestore5D2DBCEC.Arn>:*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Dump1/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/FileSetBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Runner/Dump1TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Runner/FileSetTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Plans/ApprovalEndpoint/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Plans/RequestApproval/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/audit/*] @ */Report/Function/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*/manifest.json] @ */DrWatch/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*/manifest.json] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*/verifications/*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/*] @ */Report/Function/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*/manifest.json] @ */Pipeline/ResolveSource/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*/verifications/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*/verifications/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*] @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*] @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/billing-db/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/catalog-docdb/*] @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-config/*/verifications/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-config/*/verifications/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-config/*] @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-config/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-config/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*/manifest.json] @ */Pipeline/ResolveSource/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*/verifications/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*/verifications/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*] @ */Backup/Dump1/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*] @ */Backup/Runner/Dump1TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*] @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/orders-db/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*/manifest.json] @ */Pipeline/ResolveSource/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*/verifications/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*/verifications/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*] @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*] @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/backups/sessions-cache/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/evidence/*/steps/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/evidence/*/steps/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/evidence/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/evidence/*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/evidence/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/evidence/*] @ */Report/Function/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Backup/FileSetBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Backup/Runner/FileSetTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/snapshots/*/manifest.json] @ */DrWatch/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/snapshots/*/manifest.json] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/snapshots/*/manifest.json] @ */Pipeline/ResolveSource/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/snapshots/*/verifications/*] @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/snapshots/*/verifications/*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/filesets/uploads/snapshots/*/verifications/*] @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<VaultBucket0925C477.Arn>/reports/*] @ */Report/Function/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:eu-west-1:123456789012:stack/orders-app/*] @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:eu-west-1:123456789012:task/lifeboat-runner/*] @ */Pipeline/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:eu-west-1:123456789012:task/lifeboat-runner/*] @ */Plans/Role-billing-db-default/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:eu-west-1:123456789012:task/lifeboat-runner/*] @ */Plans/Role-orders-failover/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticache:eu-west-1:123456789012:snapshot:lifeboat-sessions-cache-*] @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticache:eu-west-1:123456789012:snapshot:lifeboat-sessions-cache-*] @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-pg:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-pg:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:lifeboat-*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:lifeboat-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:lifeboat-*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:lifeboat-*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:lifeboat-*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:lifeboat-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:*-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:*-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:*-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:*-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:og:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:og:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:pg:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:pg:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:lifeboat-*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:lifeboat-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:lifeboat-*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:lifeboat-*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:lifeboat-*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:snapshot:lifeboat-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:subgrp:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:subgrp:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-pg:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-pg:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-pg:*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-catalog-docdb-*] @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:*-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:*-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:cluster:lb-rt-*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:*-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:*-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:catalog-docdb-recovered-drill-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:lb-rt-*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:og:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:og:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:og:*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:pg:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:pg:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:pg:*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-*] @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:snapshot:lifeboat-orders-db-*] @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:subgrp:*] @ */Backup/Runner/DrStepTaskRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:subgrp:*] @ */Plans/DrStepRole/OverflowPolicy1/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/backups/*/manifest.json] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/backups/*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/backups/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/backups/*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/backups/*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/backups/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/filesets/uploads/*] @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/filesets/uploads/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/filesets/uploads/*] @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/filesets/uploads/*] @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/filesets/uploads/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lifeboat-<AWS::AccountId>-eu-central-1/filesets/uploads/snapshots/*/manifest.json] @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::orders-app-uploads-restore/media/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::orders-app-uploads-restore/media/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::orders-app-uploads/media/*] @ */Backup/FileSetBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::orders-app-uploads/media/*] @ */Backup/Runner/FileSetTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:eu-central-1:123456789012:secret:orders/prod/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:eu-central-1:123456789012:secret:orders/prod/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:eu-west-1:123456789012:secret:orders/prod/*] @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:eu-central-1:123456789012:parameter/orders/prod/*] @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:eu-central-1:123456789012:parameter/orders/prod/*] @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:eu-west-1:123456789012:parameter/orders/prod/*] @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:eu-west-1:123456789012:execution:lifeboat-backup:*] @ */Pipeline/StartBackup/Role/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:eu-west-1:123456789012:execution:lifeboat-backup:*] @ */Plans/Role-billing-db-default/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:eu-west-1:123456789012:execution:lifeboat-backup:*] @ */Plans/Role-catalog-docdb-default/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:eu-west-1:123456789012:stateMachine:lifeboat-plan-*] @ */Plans/ApprovalEndpoint/Role/DefaultPolicy/Resource',
      'AwsSolutions-SF1 @ */Plans/Plan-billing-db-default/Resource',
      'AwsSolutions-SF1 @ */Plans/Plan-catalog-docdb-default/Resource',
      'AwsSolutions-SF1 @ */Plans/Plan-config-recovery/Resource',
      'AwsSolutions-SF1 @ */Plans/Plan-orders-failover/Resource',
      'AwsSolutions-SF1 @ */Plans/Plan-sessions-recovery/Resource',
      'AwsSolutions-SF1 @ */Plans/Plan-uploads-recovery/Resource',
      'AwsSolutions-SQS3 @ */Pipeline/ScheduleDeadLetters/Resource',
      'NIST.800.53.R5-APIGWCacheEnabledAndEncrypted @ */Plans/ApprovalApi/Api/DeploymentStage.approve/Resource',
      'NIST.800.53.R5-APIGWSSLEnabled @ */Plans/ApprovalApi/Api/DeploymentStage.approve/Resource',
      'NIST.800.53.R5-DynamoDBInBackupPlan @ */Plans/Approvals/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/ConfigBackup/Backup/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Dump1/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Dump2/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/FileSetBackup/Backup/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/CopyTaskRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/DrStepTaskRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/Dump1TaskRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/Dump2TaskRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/ExecutionRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/FileSetTaskRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Backup/Runner/VerifyTaskRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */DrWatch/AlarmAlert/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */DrWatch/Freshness/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */DrWatch/SchedulerRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Monitoring/AlarmAlert/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Monitoring/Freshness/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Monitoring/SchedulerRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/Copy/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/Prune/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/ResolveSource/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/SchedulerRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/Snapshot/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/StartBackup/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/StateMachineRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Pipeline/VerifyRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/ApprovalEndpoint/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/DrStepRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/RequestApproval/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/Role-billing-db-default/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/Role-catalog-docdb-default/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/Role-config-recovery/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/Role-orders-failover/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/Role-sessions-recovery/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Plans/Role-uploads-recovery/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Report/Function/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */Report/SchedulerRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */RestoreTest/StateMachineRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */RestoreTest/ValidateRestoreRole/DefaultPolicy/Resource',
      'NIST.800.53.R5-IAMNoInlinePolicy @ */TamperAlarms/Publisher/Role/DefaultPolicy/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Backup/ConfigBackup/Backup/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Backup/FileSetBackup/Backup/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */DrWatch/AlarmAlert/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */DrWatch/Freshness/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Monitoring/AlarmAlert/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Monitoring/Freshness/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Pipeline/Copy/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Pipeline/Prune/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Pipeline/ResolveSource/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Pipeline/Snapshot/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Pipeline/StartBackup/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Plans/ApprovalEndpoint/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Plans/RequestApproval/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */Report/Function/Function/Resource',
      'NIST.800.53.R5-LambdaInsideVPC @ */TamperAlarms/Publisher/Function/Resource',
      'NIST.800.53.R5-S3BucketReplicationEnabled @ */Backup/ElastiCacheStaging/Bucket/Resource',
      'NIST.800.53.R5-S3BucketReplicationEnabled @ */Vault/AccessLogs/Resource',
      'NIST.800.53.R5-S3BucketReplicationEnabled @ */Vault/Bucket/Resource',
      'NIST.800.53.R5-S3BucketVersioningEnabled @ */Backup/ElastiCacheStaging/Bucket/Resource',
      'NIST.800.53.R5-S3DefaultEncryptionKMS @ */Backup/ElastiCacheStaging/Bucket/Resource',
      'NIST.800.53.R5-S3DefaultEncryptionKMS @ */Vault/AccessLogs/Resource',
    ].sort());
    for (const violation of report.pluginReports.flatMap((p) => p.suppressedViolations)) {
      expect(violation.reason.length, `${violation.ruleName} needs a real reason`).toBeGreaterThan(60);
    }
  });

  it('fails the synth on a finding nobody acknowledged', () => {
    const app = testApp({ compliance: true });
    const { primary } = buildLifeboat(app, exampleConfig());
    new s3.Bucket(primary, 'CarelessBucket'); // no TLS-only policy, no access logs, no KMS
    new sns.Topic(primary, 'CarelessTopic'); // unencrypted
    let message = '';
    try {
      app.synth();
    } catch (error) {
      message = String(error);
    }
    // Both packs run: each reports the careless resources under its own rule ids.
    expect(message).toMatch(/lifeboat-primary\/CarelessTopic\/Resource[\s\S]*?'NIST\.800\.53\.R5::NIST\.800\.53\.R5-SNSEncryptedKMS'/);
    expect(message).toMatch(/lifeboat-primary\/CarelessBucket\/Resource[\s\S]*?'AwsSolutions::AwsSolutions-S10'/);
    expect(message).not.toMatch(/lifeboat-(primary|dr)\/Vault/);
  });

  it('finds nothing unacknowledged in the air-gapped account with its snapshot copier, and acknowledges there only the reviewed wildcards', () => {
    const app = testApp({ compliance: true });
    buildLifeboat(app, exampleConfig((raw) => {
      raw.account = '111122223333';
      raw.vaultAccount = { accountId: '444455556666', region: 'eu-central-1', keyArn: 'arn:aws:kms:eu-central-1:444455556666:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9' };
    }));
    const report = synthNagReport(app);
    for (const plugin of report.pluginReports) expect({ plugin: plugin.pluginName, violations: plugin.violations }).toEqual({ plugin: plugin.pluginName, violations: [] });
    const acknowledged = [...new Set(acknowledgedFindings(report, /^lifeboat-air-gap\//, '*/'))].filter((f) => f.includes('SnapshotCopier')).sort();
    expect(acknowledged).toEqual(AIR_GAP_COPIER_ACKNOWLEDGED);
  });

  it('keeps the acknowledgements of the statements CDK moves into an overflow policy (a plan with a restore-snapshot step)', () => {
    const app = testApp({ compliance: true });
    const { primary } = buildLifeboat(app, snapshotPlanConfig());
    const report = synthNagReport(app);

    const overflow = primary.node.findAll().filter((c) => /\/Plans\/DrStepRole\/OverflowPolicy\d+$/.test(c.node.path));
    expect(overflow.length, 'the DR step role is large enough for CDK to split its policy').toBeGreaterThan(0);
    for (const plugin of report.pluginReports) expect({ plugin: plugin.pluginName, violations: plugin.violations }).toEqual({ plugin: plugin.pluginName, violations: [] });
    const onOverflow = acknowledgedFindings(report, /^lifeboat-primary\//).filter((finding) => /@ Plans\/DrStepRole\/OverflowPolicy\d+\//.test(finding));
    // The RDS describe statement moved: its wildcard snapshot, instance and cluster resources, in both regions, keep their reasons.
    expect(onOverflow).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:rds:eu-west-1:123456789012:db:\*\] @ Plans\/DrStepRole\/OverflowPolicy\d+\/Resource$/),
        expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:rds:eu-central-1:123456789012:cluster-snapshot:\*\] @ Plans\/DrStepRole\/OverflowPolicy\d+\/Resource$/),
      ]),
    );
    // Only what the moved statements name follows: never the inline-policy acknowledgement.
    expect(onOverflow.filter((finding) => !finding.startsWith('AwsSolutions-IAM5[Resource::'))).toEqual([]);
    const reasons = report.pluginReports.flatMap((p) => p.suppressedViolations).filter((v) => v.violatingConstructs.some((c) => c.constructPath.includes('/OverflowPolicy')));
    for (const violation of reasons) expect(violation.reason.length).toBeGreaterThan(60);
  });
});

/** The snapshot copier's reviewed findings (its role's wildcards have their reasons in infra/constructs/air-gap-snapshot-copier.ts). */
const AIR_GAP_COPIER_ACKNOWLEDGED: string[] = [
  'AwsSolutions-IAM5[Resource::*] @ */AirGap/SnapshotCopier/AlarmAlert/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:eu-central-1:111122223333:key/*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:111122223333:cluster-snapshot:lifeboat-*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:111122223333:snapshot:lifeboat-*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:444455556666:cluster-snapshot:*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:444455556666:cluster-snapshot:lifeboat-*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:444455556666:snapshot:*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:eu-central-1:444455556666:snapshot:lifeboat-*] @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'NIST.800.53.R5-IAMNoInlinePolicy @ */AirGap/SnapshotCopier/AlarmAlert/Role/DefaultPolicy/Resource',
  'NIST.800.53.R5-IAMNoInlinePolicy @ */AirGap/SnapshotCopier/Copier/Role/DefaultPolicy/Resource',
  'NIST.800.53.R5-LambdaInsideVPC @ */AirGap/SnapshotCopier/AlarmAlert/Function/Resource',
  'NIST.800.53.R5-LambdaInsideVPC @ */AirGap/SnapshotCopier/Copier/Function/Resource',
];
