import { Aws, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PipelineFunction } from './pipeline-function.ts';
import { nagResourceName, ReviewedPolicy } from './reviewed-policy.ts';

/** What the report holds each source to (ids, objectives, retention): never credentials. */
export interface ReportSource {
  readonly id: string;
  readonly rpoMinutes: number;
  readonly rtoMinutes: number;
  readonly timeZone: string;
  readonly retention: { readonly days: number; readonly keepLast: number; readonly gfs: { readonly daily: number; readonly weekly: number; readonly monthly: number; readonly yearly: number } };
}

export interface ComplianceReportProps {
  /** The deployment's name: the schedule is `<name>-compliance-report`. */
  readonly name: string;
  readonly sources: readonly ReportSource[];
  /** Six cron fields (without `cron(...)`) and an IANA time zone. */
  readonly schedule: { readonly cron: string; readonly timeZone: string };
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  /** Authenticates the audit trail the report reads (`kms:VerifyMac` only). */
  readonly evidenceKey: kms.IKey;
  /** Authenticates the verification results the report counts (`kms:VerifyMac` only). */
  readonly verificationKey: kms.IKey;
  /** The DR evidence key: only plan runs whose evidence authenticates are reported. @default none (no plans) */
  readonly drEvidenceKey?: kms.IKey;
  readonly alerts: { readonly topic: sns.ITopic; readonly key: kms.IKey };
  readonly logKey: kms.IKey;
  /** The function's and the schedule's dead letters. */
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * The daily compliance report (docs/audit-trail.md): a function that reads the vault (backups, audit trail,
 * DR evidence, the bucket's Object Lock configuration), writes `reports/<date>.json` and `.html`, and sends
 * its paragraph to the alert topic; run by an EventBridge Scheduler schedule from the config's `reports`.
 *
 * @example
 * new ComplianceReport(this, 'Report', { name, sources, schedule: config.reports.schedule, vault, vaultKey, evidenceKey, alerts, logKey, deadLetterQueue });
 */
export class ComplianceReport extends Construct {
  readonly function: PipelineFunction;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ComplianceReportProps) {
    super(scope, id);
    if (props.sources.length === 0) throw new Error(`ComplianceReport ${id}: invalid props:\n- sources: at least one source is required`);
    const fn = new PipelineFunction(this, 'Function', {
      handler: 'report',
      serviceName: 'lifeboat-report',
      description: 'Lifeboat: the daily compliance report (RPO, verification, copies, retention, drills) into reports/ and the alert topic',
      environment: {
        VAULT_BUCKET: props.vault.bucketName,
        VAULT_KEY_ARN: props.vaultKey.keyArn,
        EVIDENCE_KEY_ARN: props.evidenceKey.keyArn,
        VERIFICATION_KEY_ARN: props.verificationKey.keyArn,
        ...(props.drEvidenceKey ? { DR_EVIDENCE_KEY_ARN: props.drEvidenceKey.keyArn } : {}),
        ALERT_TOPIC_ARN: props.alerts.topic.topicArn,
        LIFEBOAT_REPORT_SOURCES: JSON.stringify(props.sources),
      },
      keyUse: ['encrypt', 'decrypt'],
      logKey: props.logKey,
      deadLetterQueue: props.deadLetterQueue,
      timeout: Duration.minutes(10),
      memorySize: 1024,
      reservedConcurrentExecutions: 1,
      outsideVpcReason: 'It calls only the S3, KMS and SNS APIs; a VPC would need endpoints for all three and add nothing.',
    });
    const region = `s3.${Stack.of(this).region}.amazonaws.com`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadVault', actions: ['s3:GetObject'], resources: ['backups/*', 'audit/*', 'evidence/*'].map((p) => props.vault.arnForObjects(p)) }),
      'The report reads every backup\'s manifest and verification results, every audit event and every DR evidence record: the wildcards are the names within those three prefixes.',
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListVault', actions: ['s3:ListBucket'], resources: [props.vault.bucketArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadObjectLockConfiguration', actions: ['s3:GetBucketObjectLockConfiguration'], resources: [props.vault.bucketArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'WriteReports', actions: ['s3:PutObject'], resources: [props.vault.arnForObjects('reports/*')] }),
      'Reports are new objects under reports/ (reports/<date>.json and .html), written create-only: the wildcard is the report\'s name.',
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadVaultObjects', actions: ['kms:Decrypt'], resources: [props.vaultKey.keyArn], conditions: { StringEquals: { 'kms:ViaService': region } } }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'EncryptReports', actions: ['kms:GenerateDataKey'], resources: [props.vaultKey.keyArn], conditions: { StringEquals: { 'kms:ViaService': region } } }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'AuthenticateEvidence', actions: ['kms:VerifyMac'], resources: [props.evidenceKey.keyArn, props.verificationKey.keyArn, ...(props.drEvidenceKey ? [props.drEvidenceKey.keyArn] : [])] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'PublishSummary', actions: ['sns:Publish'], resources: [props.alerts.topic.topicArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'EncryptSummary', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.alerts.key.keyArn] }));
    this.function = fn;

    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: 'Lifeboat compliance report schedule: invoke the report function',
    });
    const policy = new ReviewedPolicy(role, "The report schedule's own role: invoke the report function and write its dead letters, nothing else.");
    const deadLetterKey = props.deadLetterQueue.encryptionMasterKey;
    if (deadLetterKey) policy.add(new iam.PolicyStatement({ sid: 'DeadLetterEncryption', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [deadLetterKey.keyArn] }));
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName: `${props.name}-compliance-report`,
      description: 'Lifeboat: the compliance report of the previous day',
      schedule: scheduler.ScheduleExpression.expression(`cron(${props.schedule.cron})`, TimeZone.of(props.schedule.timeZone)),
      timeWindow: scheduler.TimeWindow.off(),
      target: new targets.LambdaInvoke(fn.function, {
        role,
        deadLetterQueue: props.deadLetterQueue,
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        maxEventAge: Duration.hours(6),
        retryAttempts: 10,
      }),
    });
    policy.acknowledge([`${nagResourceName(role, fn.functionArn)}:*`], "Added by the schedule target's grant: the report function's own versions and aliases, nothing else.");
  }
}
