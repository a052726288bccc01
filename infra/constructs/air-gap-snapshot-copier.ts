import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { AlarmText } from '../../functions/lib/monitoring/alarmText.ts';
import { Alerts, type AlertSubscriber } from './alerts.ts';
import { deadLetterQueue, operationsKey } from './function-support.ts';
import { alarmForwarding, forwardedAlarm } from './monitoring.ts';
import { PipelineFunction } from './pipeline-function.ts';

export interface AirGapSnapshotCopierProps {
  /** The account whose shared snapshots are copied. */
  readonly workloadAccount: string;
  /** The air-gapped key: every copy is encrypted under it. */
  readonly key: kms.IKey;
  /** This account's retention for the copies (the newest of each source is always kept). */
  readonly retentionDays: number;
  /** @default 60 */
  readonly everyMinutes?: number;
  /** Who hears of it (the deployment's alert subscribers, in this account's own alert topic). @default nobody subscribed */
  readonly alertSubscribers?: readonly AlertSubscriber[];
  /** The deployment's name: prefixes the alarms. @default 'lifeboat' */
  readonly name?: string;
}

/**
 * The vault account's snapshot copier (functions/air-gap-snapshots): every hour it copies the Lifeboat snapshots the
 * workload account has shared with this account into snapshots of its own under the air-gapped key, and applies this
 * account's retention to them. It lives in the vault account, so nobody in the workload account can stop it, change
 * it or delete what it copied. Its role may copy only Lifeboat-named snapshots of the workload account, into and
 * delete only Lifeboat-named snapshots of this one, and use the keys only through RDS here.
 */
export class AirGapSnapshotCopier extends Construct {
  readonly function: PipelineFunction;
  readonly rule: events.Rule;
  readonly logKey: kms.Key;
  readonly deadLetterQueue: sqs.Queue;
  /** This account's alerts: its own topic (the workload account's cannot be trusted to hear of this one). */
  readonly alerts: Alerts;
  /** ERROR when a run failed (a snapshot not copied or not tidied), and when no run happened for 3 hours. */
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: AirGapSnapshotCopierProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.logKey = operationsKey(this, 'LogKey', 'Lifeboat air-gapped snapshot copier logs and dead letters');
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetters', this.logKey, 'the air-gapped snapshot copier');
    this.function = new PipelineFunction(this, 'Copier', {
      handler: 'air-gap-snapshots',
      description: 'Lifeboat: copies the snapshot backups shared by the workload account under the air-gapped key, and applies this account\'s retention to them',
      environment: { WORKLOAD_ACCOUNT: props.workloadAccount, AIR_GAP_KEY_ARN: props.key.keyArn, SNAPSHOT_RETENTION_DAYS: String(props.retentionDays) },
      keyUse: [],
      logKey: this.logKey,
      deadLetterQueue: this.deadLetterQueue,
      timeout: Duration.minutes(5),
      reservedConcurrentExecutions: 1,
      outsideVpcReason: 'It calls only the RDS API; no data passes through it.',
    });
    const rds = (account: string, type: 'snapshot' | 'cluster-snapshot', name: string) =>
      stack.formatArn({ service: 'rds', account, resource: type, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const types = ['snapshot', 'cluster-snapshot'] as const;
    const own = (name: string) => types.map((t) => rds(stack.account, t, name));
    const workloads = types.map((t) => rds(props.workloadAccount, t, 'lifeboat-*'));
    const named = 'Only snapshots Lifeboat names (`lifeboat-<source>-<backup id>`): the wildcard is the source and backup id.';
    const fn = this.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ListSnapshots', actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'], resources: [...own('*'), ...workloads] }),
      'Listing the snapshots shared with this account and its own (RDS lists before it filters); describing is read-only.',
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'CopySharedSnapshots', actions: ['rds:CopyDBSnapshot', 'rds:CopyDBClusterSnapshot'], resources: [...workloads, ...own('lifeboat-*')] }), named);
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'TagCopies', actions: ['rds:AddTagsToResource'], resources: own('lifeboat-*') }), named);
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'DeleteExpiredCopies', actions: ['rds:DeleteDBSnapshot', 'rds:DeleteDBClusterSnapshot'], resources: own('lifeboat-*') }), named);
    // RDS encrypts each copy under the air-gapped key and reads the shared one under the workload's key, with grants it
    // creates in the caller's name: both keys only through RDS in this region.
    const viaRds = { StringEquals: { 'kms:ViaService': `rds.${stack.region}.amazonaws.com` } };
    const workloadKeys = stack.formatArn({ service: 'kms', account: props.workloadAccount, resource: 'key', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'UseKeysThroughRds', actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: [props.key.keyArn, workloadKeys], conditions: viaRds }), 'The workload account\'s key id is not known here (its stacks are deployed after this one): any of its keys, only through RDS, and its key policy admits this account for the vault key alone.');
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'GrantRdsTheKeys', actions: ['kms:CreateGrant'], resources: [props.key.keyArn, workloadKeys], conditions: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
      'The workload account\'s key id is not known here (its stacks are deployed after this one): any of its keys, grants for RDS only.',
    );
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Lifeboat: copy the snapshot backups shared with the air-gapped account',
      schedule: events.Schedule.rate(Duration.minutes(props.everyMinutes ?? 60)),
      // A missed run is made up by the next one: each run copies everything still missing.
      targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 2, maxEventAge: Duration.minutes(30) })],
    });

    // A lapse here is silent everywhere else: the workload account cannot see this one. So this account alerts itself.
    this.alerts = new Alerts(this, 'Alerts', { subscribers: props.alertSubscribers ?? [], displayName: 'Lifeboat air-gapped vault alerts' });
    const { topic } = alarmForwarding(this, { alerts: { topic: this.alerts.topic, key: this.alerts.key }, logKey: this.logKey, deadLetterQueue: this.deadLetterQueue });
    const name = props.name ?? 'lifeboat';
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, operator: cloudwatch.ComparisonOperator, missing: cloudwatch.TreatMissingData, text: AlarmText) =>
      forwardedAlarm(this, id, { name, metric, threshold, operator, missing, text }, topic);
    const runbook = 'Runbook: docs/air-gapped-vault.md, "Snapshot backups".';
    this.alarms = [
      alarm('air-gap-snapshot-copies-failed', fn.function.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }), 0, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, cloudwatch.TreatMissingData.NOT_BREACHING, {
        subject: 'air-gap-snapshots',
        headline: 'snapshot backups not copied into the air-gapped account',
        summary: 'The air-gapped account\'s snapshot copier failed {value} time(s) in the last hour: a shared snapshot was not copied (or a copy not tidied); each is named in its log.',
        nextSteps: ['Read the copier\'s log group in the vault account: AirGapSnapshotCopyError names each snapshot and RDS\'s reason.', 'KMSKeyNotAccessible: the DR key replica\'s policy must admit this account through RDS (deploy the workload stacks with vaultAccount set).', runbook],
      }),
      alarm('air-gap-snapshot-copier-idle', fn.function.metricInvocations({ period: Duration.hours(3), statistic: 'Sum' }), 1, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, cloudwatch.TreatMissingData.BREACHING, {
        subject: 'air-gap-snapshots',
        headline: 'the air-gapped snapshot copier has not run for 3 hours',
        summary: 'The copier runs every hour; it was invoked {value} time(s) in the last 3 hours, so shared snapshots are not being copied into this account.',
        nextSteps: ['Check the copier\'s EventBridge schedule rule is enabled and the function is not throttled or deleted.', runbook],
      }),
    ];
  }
}
