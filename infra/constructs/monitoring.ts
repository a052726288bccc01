import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { alarmDescription, type AlarmText } from '../../functions/lib/monitoring/alarmText.ts';
import { FRESHNESS_METRICS, METRICS_NAMESPACE } from '../../functions/lib/monitoring/metrics.ts';
import { PipelineFunction } from './pipeline-function.ts';
import { nagResourceName, ReviewedPolicy } from './reviewed-policy.ts';

/** A source as monitoring sees it: its id, its RPO and whether it has RDS snapshots (and of which kind). */
export interface MonitoredSource {
  readonly id: string;
  readonly rpoMinutes: number;
  /** The RDS snapshot kind of a `snapshot` or `both` source. @default - no snapshots */
  readonly snapshotType?: 'instance' | 'cluster';
  /** A file set: its snapshots are under `filesets/<source>/`. @default a source whose backups are under `backups/` */
  readonly kind?: 'fileset';
}

/** A DR plan as monitoring sees it. */
export interface MonitoredPlan {
  readonly name: string;
  readonly objectives: { readonly rtoMinutes: number; readonly rpoMinutes: number };
  /** Alarm when the last passed drill (or real run) is older than this many days. @default - no drill alarm */
  readonly drillEveryDays?: number;
}

export interface MonitoringProps {
  /** The deployment's name: prefixes alarm names, the dashboard (`<name>-protection`) and the schedule. */
  readonly name: string;
  readonly sources: readonly MonitoredSource[];
  /** @default - none */
  readonly plans?: readonly MonitoredPlan[];
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  /** A backup counts as verified only by a result that authenticates with this key (`kms:VerifyMac` only). */
  readonly verificationKey: kms.IKey;
  /** A plan counts as drilled only by evidence that authenticates with this key (`kms:VerifyMac` only). @default none (no plans) */
  readonly drEvidenceKey?: kms.IKey;
  readonly dr: { readonly region: string; readonly bucketName: string; readonly keyArn: string };
  /** The alert topic every alarm ends up on, with a severity, through the alarm-alert function. */
  readonly alerts: { readonly topic: sns.ITopic; readonly key: kms.IKey };
  /** Encrypts the functions' logs. */
  readonly operationsKey: kms.IKey;
  /** The functions' dead-letter queue. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Where the freshness schedule's undeliverable invocations go. */
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** How often the freshness function runs. @default 5 */
  readonly freshnessEveryMinutes?: number;
  /** Failed, timed-out and aborted executions of each raise an alarm. @default - none */
  readonly stateMachines?: readonly { readonly label: string; readonly stateMachine: sfn.IStateMachine }[];
  /** Any message in one raises an alarm (the freshness schedule's and functions' queues are added). @default - none */
  readonly deadLetterQueues?: readonly { readonly label: string; readonly queue: sqs.IQueue }[];
  /** Errors and throttles of each raise an alarm (the monitoring functions are added). @default - none */
  readonly functions?: readonly { readonly label: string; readonly function: lambda.IFunction }[];
  /** The approval endpoint: any 5xx raises an alarm. @default - none */
  readonly approvalApi?: apigw.RestApi;
  /** Shown in the runbook steps of the alarms (`lifeboat status --vault <vault>`). @default the vault bucket as s3:// */
  readonly vaultLocation?: string;
}

/** What the region stack gives monitoring from the config: sources with their RPO, plans, and the run interval. */
export interface MonitoringConfigProps {
  readonly sources: readonly MonitoredSource[];
  readonly plans: readonly MonitoredPlan[];
  /** @default 5 */
  readonly freshnessEveryMinutes?: number;
}

/** The minutes of one freshness alarm period: twice the run interval, so one late run never looks like missing data. */
export function freshnessPeriodMinutes(everyMinutes: number): number {
  return 2 * everyMinutes;
}

/**
 * Protection you can see: the freshness function (every few minutes: backup age, verified age, DR copy lag per
 * source, days since each plan's last drill), the alarms on it and on every state machine, dead-letter queue,
 * function and the approval endpoint, and a dashboard with a row per source and per plan.
 *
 * Alarms publish to an alarm topic of their own; the alarm-alert function turns each notification into an
 * alert on the alert topic with a `severity` attribute (ERROR when an alarm fires, INFO when it clears),
 * because an alarm action publishes a fixed JSON without message attributes, which no severity-filtered
 * subscription of the alert topic would receive. Adding a source adds its two alarms and its dashboard row.
 *
 * @example
 * new Monitoring(this, 'Monitoring', { name: 'lifeboat', sources: [{ id: 'orders-db', rpoMinutes: 240 }], ... });
 */
export class Monitoring extends Construct {
  readonly freshness: PipelineFunction;
  readonly alarmAlert: PipelineFunction;
  readonly alarmTopic: sns.Topic;
  readonly schedule: scheduler.Schedule;
  readonly dashboard: cloudwatch.Dashboard;
  /** Per source: its RPO alarm (minutes since the last verified backup) and its DR copy lag alarm. */
  readonly sourceAlarms: ReadonlyMap<string, { readonly rpo: cloudwatch.Alarm; readonly copyLag: cloudwatch.Alarm }>;
  /** Per plan with `drillEveryDays`: its drill alarm. */
  readonly drillAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Every alarm this construct made. */
  readonly alarms: readonly cloudwatch.Alarm[];

  private readonly props: MonitoringProps;
  private readonly stack: Stack;
  private readonly everyMinutes: number;
  private readonly allAlarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    validateMonitoringProps(id, props);
    this.props = props;
    this.stack = Stack.of(this);
    this.everyMinutes = props.freshnessEveryMinutes ?? 5;

    ({ topic: this.alarmTopic, forwarder: this.alarmAlert } = alarmForwarding(this, { alerts: props.alerts, logKey: props.operationsKey, deadLetterQueue: props.deadLetterQueue }));
    this.freshness = this.buildFreshness();
    this.schedule = freshnessSchedule(this, { name: props.name, freshness: this.freshness, everyMinutes: this.everyMinutes, deadLetterQueue: props.scheduleDeadLetterQueue });

    const sourceAlarms = new Map<string, { rpo: cloudwatch.Alarm; copyLag: cloudwatch.Alarm }>();
    for (const source of props.sources) sourceAlarms.set(source.id, this.sourceFreshnessAlarms(source));
    this.sourceAlarms = sourceAlarms;
    const drillAlarms = new Map<string, cloudwatch.Alarm>();
    for (const plan of props.plans ?? []) if (plan.drillEveryDays !== undefined) drillAlarms.set(plan.name, this.drillAlarm(plan, plan.drillEveryDays));
    this.drillAlarms = drillAlarms;
    this.operationalAlarms();
    this.alarms = this.allAlarms;
    this.dashboard = this.buildDashboard();
  }

  private get vaultLocation(): string {
    return this.props.vaultLocation ?? `s3://${this.props.vault.bucketName}`;
  }

  // -------------------------------------------------------------------------------------------
  // Functions and the schedule

  private buildFreshness(): PipelineFunction {
    const { vault, vaultKey, dr } = this.props;
    const region = this.stack.region;
    const monitored = {
      sources: this.props.sources.map((s) => ({ id: s.id, rpoMinutes: s.rpoMinutes, ...(s.kind ? { kind: s.kind } : {}) })),
      plans: (this.props.plans ?? []).map((p) => p.name),
    };
    const fileSets = this.props.sources.filter((s) => s.kind === 'fileset').map((s) => s.id);
    const fn = new PipelineFunction(this, 'Freshness', {
      handler: 'freshness',
      description: 'Lifeboat: measures every source\'s backup age, verified age and DR copy lag, and each plan\'s last drill, as CloudWatch metrics',
      environment: {
        VAULT_BUCKET: vault.bucketName,
        DR_VAULT_BUCKET: dr.bucketName,
        DR_REGION: dr.region,
        LIFEBOAT_MONITORED: JSON.stringify(monitored),
        VERIFICATION_KEY_ARN: this.props.verificationKey.keyArn,
        ...(this.props.drEvidenceKey ? { DR_EVIDENCE_KEY_ARN: this.props.drEvidenceKey.keyArn } : {}),
      },
      // Reads manifests and results, which S3 decrypts under the vault keys for roles the key policy admits through S3 only.
      keyUse: ['encrypt'],
      timeout: Duration.minutes(2),
      memorySize: 512,
      reservedConcurrentExecutions: 1,
      logKey: this.props.operationsKey,
      deadLetterQueue: this.props.deadLetterQueue,
      outsideVpcReason: 'It reads the vaults through the S3 API and describes snapshots through the RDS API; a VPC would need endpoints for both and add nothing.',
    });
    const drBucketArn = `arn:${this.stack.partition}:s3:::${dr.bucketName}`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadManifestsAndResults',
        actions: ['s3:GetObject'],
        resources: [vault.arnForObjects('backups/*/manifest.json'), vault.arnForObjects('backups/*/verifications/*'), `${drBucketArn}/backups/*/manifest.json`],
      }),
      'Manifests and verification results of every source (`backups/<source>/<backup id>/...`): the wildcards are the source and backup id; never a payload.',
    );
    if (fileSets.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadFileSetManifestsAndResults',
          actions: ['s3:GetObject'],
          resources: fileSets.flatMap((id) => [
            vault.arnForObjects(`filesets/${id}/snapshots/*/manifest.json`),
            vault.arnForObjects(`filesets/${id}/snapshots/*/verifications/*`),
            `${drBucketArn}/filesets/${id}/snapshots/*/manifest.json`,
          ]),
        }),
        'Snapshot manifests and verification results of the file sets (`filesets/<source>/snapshots/<id>/...`): the wildcard is the snapshot id; never a pack.',
      );
    }
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadDrillEvidence', actions: ['s3:GetObject'], resources: [vault.arnForObjects('evidence/*')] }),
      'DR plan evidence (`evidence/<plan>/<execution>.json`): the wildcard is the plan and execution name.',
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ListBothVaults',
        actions: ['s3:ListBucket'],
        resources: [vault.bucketArn, drBucketArn],
        conditions: { StringLike: { 's3:prefix': ['backups/*', 'evidence/*', ...fileSets.map((id) => `filesets/${id}/*`)] } },
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadPrimaryManifests', actions: ['kms:Decrypt'], resources: [vaultKey.keyArn], conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` } } }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadDrManifests', actions: ['kms:Decrypt'], resources: [dr.keyArn], conditions: { StringEquals: { 'kms:ViaService': `s3.${dr.region}.amazonaws.com` } } }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'AuthenticateVerificationResults', actions: ['kms:VerifyMac'], resources: [this.props.verificationKey.keyArn] }));
    if (this.props.drEvidenceKey) {
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'AuthenticateDrEvidence', actions: ['kms:VerifyMac'], resources: [this.props.drEvidenceKey.keyArn] }));
    }
    const types = [...new Set(this.props.sources.flatMap((s) => (s.snapshotType ? [s.snapshotType] : [])))].sort();
    if (types.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DescribeLifeboatSnapshots',
          actions: types.map((t) => (t === 'instance' ? 'rds:DescribeDBSnapshots' : 'rds:DescribeDBClusterSnapshots')),
          resources: types.flatMap((t) =>
            [region, dr.region].map((r) => this.stack.formatArn({ service: 'rds', region: r, resource: t === 'instance' ? 'snapshot' : 'cluster-snapshot', resourceName: 'lifeboat-*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })),
          ),
        }),
        'Only snapshots Lifeboat names (`lifeboat-<source>-<backup id>`), in the primary and DR regions; describing is read-only.',
      );
    }
    return fn;
  }

  // -------------------------------------------------------------------------------------------
  // Alarms

  private alarm(id: string, props: Omit<ForwardedAlarmProps, 'name'>): cloudwatch.Alarm {
    const alarm = forwardedAlarm(this, id, { ...props, name: this.props.name }, this.alarmTopic);
    this.allAlarms.push(alarm);
    return alarm;
  }

  /** A freshness metric; `label` only on the dashboard (a labelled metric makes an alarm a metric-math alarm). */
  private freshnessMetric(name: string, dimensions: Record<string, string>, label?: string): cloudwatch.Metric {
    return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: name, dimensionsMap: dimensions, statistic: 'Maximum', period: Duration.minutes(freshnessPeriodMinutes(this.everyMinutes)), ...(label ? { label } : {}) });
  }

  private sourceFreshnessAlarms(source: MonitoredSource): { rpo: cloudwatch.Alarm; copyLag: cloudwatch.Alarm } {
    const dimensions = { sourceId: source.id };
    const rpo = this.alarm(`rpo-${source.id}`, {
      metric: this.freshnessMetric(FRESHNESS_METRICS.minutesSinceLastVerified, dimensions),
      threshold: source.rpoMinutes,
      missing: cloudwatch.TreatMissingData.BREACHING,
      text: {
        subject: source.id,
        headline: 'no verified backup within the RPO',
        summary: `The newest verified backup of ${source.id} is {value} minutes old; its RPO is ${source.rpoMinutes} minutes, so a loss now would lose more data than agreed.`,
        nextSteps: [
          `See its backups and their verification: lifeboat status --vault ${this.vaultLocation}`,
          `Open the newest ${this.props.name}-backup execution for ${source.id} in the Step Functions console (a failure alert may already say why).`,
          `No recent execution: check the schedule ${this.props.name}-backups/${source.id} and the schedule dead-letter queue.`,
          'Runbook: docs/monitoring.md, "RPO: no verified backup".',
        ],
      },
    });
    const copyLag = this.alarm(`copy-lag-${source.id}`, {
      metric: this.freshnessMetric(FRESHNESS_METRICS.drCopyLag, dimensions),
      threshold: source.rpoMinutes,
      missing: cloudwatch.TreatMissingData.BREACHING,
      text: {
        subject: source.id,
        headline: 'DR copy older than the RPO',
        summary: `The newest backup of ${source.id} in the DR vault (${this.props.dr.bucketName}, ${this.props.dr.region}) is {value} minutes old; its RPO is ${source.rpoMinutes} minutes, so losing the primary region now would lose more data than agreed.`,
        nextSteps: [
          `Compare the two vaults: lifeboat status --vault ${this.vaultLocation}`,
          `Look for a CopyToDr or CopySnapshotToDr failure in the newest ${this.props.name}-backup executions for ${source.id}.`,
          'Runbook: docs/monitoring.md, "DR copy lag".',
        ],
      },
    });
    return { rpo, copyLag };
  }

  private drillAlarm(plan: MonitoredPlan, everyDays: number): cloudwatch.Alarm {
    return this.alarm(`drill-${plan.name}`, {
      metric: this.freshnessMetric(FRESHNESS_METRICS.daysSinceLastDrill, { plan: plan.name }),
      threshold: everyDays,
      missing: cloudwatch.TreatMissingData.BREACHING,
      text: {
        subject: plan.name,
        headline: 'DR plan not drilled in time',
        summary: `DR plan ${plan.name} last passed a drill {value} days ago (no figure: never); it must be drilled every ${everyDays} days.`,
        nextSteps: [`Run a drill: lifeboat drill ${plan.name} (or start ${this.props.name}-plan-${plan.name} in mode drill).`, 'Runbook: docs/monitoring.md, "Drill overdue".'],
      },
    });
  }

  private countAlarm(id: string, metric: cloudwatch.IMetric, text: AlarmText): cloudwatch.Alarm {
    return this.alarm(id, { metric, threshold: 0, missing: cloudwatch.TreatMissingData.NOT_BREACHING, text });
  }

  private operationalAlarms(): void {
    const period = Duration.minutes(5);
    for (const { label, stateMachine } of this.props.stateMachines ?? []) {
      const kinds = [
        ['failed', stateMachine.metricFailed({ period, statistic: 'Sum' }), 'failed'],
        ['timed-out', stateMachine.metricTimedOut({ period, statistic: 'Sum' }), 'timed out'],
        ['aborted', stateMachine.metricAborted({ period, statistic: 'Sum' }), 'was aborted'],
      ] as const;
      for (const [kind, metric, what] of kinds) {
        this.countAlarm(`${label}-${kind}`, metric, {
          subject: label,
          headline: `an execution ${what}`,
          summary: `{value} execution(s) of the ${label} state machine ${what} in the last 5 minutes.`,
          nextSteps: [`Open the state machine ${label} in the Step Functions console and read the failed execution's last event.`, 'Runbook: docs/monitoring.md, "State machine executions failed, timed out or aborted".'],
        });
      }
    }
    const queues = [...(this.props.deadLetterQueues ?? [])];
    for (const { label, queue } of queues) {
      this.countAlarm(`${label}-dead-letters`, queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }), {
        subject: label,
        headline: 'dead letters waiting',
        summary: `{value} message(s) wait in the dead-letter queue ${label}: a scheduled run or an asynchronous invocation was given up.`,
        nextSteps: ['Read the messages in the SQS console (they name the schedule or function and the error), fix the cause, then purge the queue.', 'Runbook: docs/monitoring.md, "Dead letters".'],
      });
    }
    const functions = [...(this.props.functions ?? []), { label: 'freshness', function: this.freshness.function }, { label: 'alarm-alert', function: this.alarmAlert.function }];
    for (const { label, function: fn } of functions) {
      this.countAlarm(`${label}-errors`, fn.metricErrors({ period, statistic: 'Sum' }), {
        subject: label,
        headline: 'function errors',
        summary: `The ${label} function failed {value} time(s) in the last 5 minutes.`,
        nextSteps: [`Read the ${label} function's log group in CloudWatch Logs (errors are logged with their name and reason).`, 'Runbook: docs/monitoring.md, "Function errors or throttles".'],
      });
      this.countAlarm(`${label}-throttles`, fn.metricThrottles({ period, statistic: 'Sum' }), {
        subject: label,
        headline: 'function throttled',
        summary: `The ${label} function was throttled {value} time(s) in the last 5 minutes: it ran out of reserved concurrency.`,
        nextSteps: ['Check for a burst of runs (many schedules at one minute, a retry storm) before raising the reserved concurrency.', 'Runbook: docs/monitoring.md, "Function errors or throttles".'],
      });
    }
    if (this.props.approvalApi) {
      this.countAlarm('approval-endpoint-5xx', this.props.approvalApi.metricServerError({ period, statistic: 'Sum' }), {
        subject: 'approval-endpoint',
        headline: 'approval links failing (5xx)',
        summary: 'The approval endpoint answered {value} request(s) with a server error in the last 5 minutes: an approver may not be able to decide.',
        nextSteps: ['Read the approval-endpoint function\'s log group and the API\'s access logs.', 'A pending step can still be decided with lifeboat approve.', 'Runbook: docs/monitoring.md, "Approval endpoint 5xx".'],
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // The dashboard

  private search(metricName: string, dimension: string, value: string, statistic: string, label: string): cloudwatch.MathExpression {
    // Powertools adds a `service` dimension to the pipeline's own metrics: a search matches whatever else they carry.
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${METRICS_NAMESPACE},${dimension},service} MetricName="${metricName}" ${dimension}="${value}"', '${statistic}', 3600)`,
      label,
      period: Duration.hours(1),
    });
  }

  private buildDashboard(): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `${this.props.name}-protection`, defaultInterval: Duration.days(7) });
    const fleet = (name: string, label: string) => new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: name, statistic: 'Maximum', period: Duration.minutes(freshnessPeriodMinutes(this.everyMinutes)), label });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: `# ${this.props.name}: is everything protected?\nOne row per source (backup age against its RPO), one per DR plan, then the fleet. Runbooks: docs/monitoring.md.`, width: 24, height: 2 }),
      new cloudwatch.SingleValueWidget({
        title: 'Fleet',
        metrics: [fleet(FRESHNESS_METRICS.sources, 'sources'), fleet(FRESHNESS_METRICS.sourcesOutsideRpo, 'outside RPO'), fleet(FRESHNESS_METRICS.sourcesDrCopyOutsideRpo, 'DR copy outside RPO')],
        width: 12,
        height: 4,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.allAlarms, width: 12, height: 4 }),
    );
    for (const source of this.props.sources) {
      const dimensions = { sourceId: source.id };
      const age = (name: string, label: string) => this.freshnessMetric(name, dimensions, label);
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${source.id}: backup age (minutes) against its RPO`,
          left: [age(FRESHNESS_METRICS.minutesSinceLastBackup, 'last backup'), age(FRESHNESS_METRICS.minutesSinceLastVerified, 'last verified'), age(FRESHNESS_METRICS.drCopyLag, 'DR copy lag')],
          leftAnnotations: [{ value: source.rpoMinutes, label: `RPO ${source.rpoMinutes} min`, color: cloudwatch.Color.RED }],
          width: 9,
          height: 6,
        }),
        new cloudwatch.SingleValueWidget({ title: `${source.id}: newest backup verified (1 yes, 0 no)`, metrics: [age(FRESHNESS_METRICS.lastBackupVerified, 'verified')], width: 3, height: 6 }),
        new cloudwatch.GraphWidget({
          title: `${source.id}: size (bytes)`,
          left: [this.search('BackupStoredBytes', 'sourceId', source.id, 'Maximum', 'stored'), this.search('BackupRawBytes', 'sourceId', source.id, 'Maximum', 'raw')],
          width: 6,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${source.id}: duration (seconds)`,
          left: [this.search('BackupDurationSeconds', 'sourceId', source.id, 'Maximum', 'backup'), this.search('VerificationDurationSeconds', 'sourceId', source.id, 'Maximum', 'verification')],
          width: 6,
          height: 6,
        }),
      );
    }
    for (const plan of this.props.plans ?? []) {
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${plan.name}: days since last passed drill`,
          left: [this.freshnessMetric(FRESHNESS_METRICS.daysSinceLastDrill, { plan: plan.name }, 'days')],
          leftAnnotations: plan.drillEveryDays === undefined ? [] : [{ value: plan.drillEveryDays, label: `every ${plan.drillEveryDays} days`, color: cloudwatch.Color.RED }],
          width: 8,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${plan.name}: measured RTO and RPO (seconds) against objectives`,
          left: [this.search('DrPlanRtoSeconds', 'plan', plan.name, 'Maximum', 'RTO'), this.search('DrPlanRpoSeconds', 'plan', plan.name, 'Maximum', 'RPO')],
          leftAnnotations: [
            { value: plan.objectives.rtoMinutes * 60, label: `RTO objective ${plan.objectives.rtoMinutes} min`, color: cloudwatch.Color.ORANGE },
            { value: plan.objectives.rpoMinutes * 60, label: `RPO objective ${plan.objectives.rpoMinutes} min`, color: cloudwatch.Color.RED },
          ],
          width: 16,
          height: 6,
        }),
      );
    }
    return dashboard;
  }
}

function validateMonitoringProps(id: string, props: MonitoringProps): void {
  const problems: string[] = [];
  if (props.sources.length === 0) problems.push('sources: at least one source is required');
  const every = props.freshnessEveryMinutes;
  if (every !== undefined && (!Number.isInteger(every) || every < 1 || every > 60)) problems.push('freshnessEveryMinutes: must be a whole number of minutes from 1 to 60');
  for (const s of props.sources) if (!Number.isInteger(s.rpoMinutes) || s.rpoMinutes < 1) problems.push(`sources '${s.id}': rpoMinutes must be a whole number >= 1`);
  for (const p of props.plans ?? []) {
    if (p.drillEveryDays !== undefined && (!Number.isInteger(p.drillEveryDays) || p.drillEveryDays < 1)) problems.push(`plans '${p.name}': drillEveryDays must be a whole number >= 1`);
  }
  if (problems.length > 0) throw new Error(`Monitoring ${id}: invalid props:\n- ${problems.join('\n- ')}`);
}

/**
 * The alarm topic and the function that forwards each alarm to the alert topic with a severity (ERROR when it
 * fires, INFO when it clears): an alarm action publishes a fixed JSON without message attributes, which no
 * severity-filtered subscription would receive. Used by `Monitoring` and the DR region's `DrWatch`.
 */
export function alarmForwarding(
  scope: Construct,
  props: { readonly alerts: { readonly topic: sns.ITopic; readonly key: kms.IKey }; readonly logKey: kms.IKey; readonly deadLetterQueue: sqs.IQueue },
): { topic: sns.Topic; forwarder: PipelineFunction } {
  const { alerts } = props;
  const topic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'Lifeboat alarms (forwarded to the alert topic with a severity)',
    masterKey: alerts.key,
    enforceSSL: true,
  });
  const fn = new PipelineFunction(scope, 'AlarmAlert', {
    handler: 'alarm-alert',
    description: 'Lifeboat: forwards CloudWatch alarms to the alert topic as alerts with a severity (ERROR when firing, INFO when cleared)',
    environment: { ALERT_TOPIC_ARN: alerts.topic.topicArn },
    keyUse: [],
    timeout: Duration.seconds(30),
    memorySize: 256,
    logKey: props.logKey,
    deadLetterQueue: props.deadLetterQueue,
    outsideVpcReason: 'It reads SNS notifications and publishes to SNS only; a VPC would need an SNS endpoint and add nothing.',
  });
  fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [alerts.topic.topicArn] }));
  fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'EncryptAlerts', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [alerts.key.keyArn] }));
  topic.addSubscription(new subscriptions.LambdaSubscription(fn.function));
  return { topic, forwarder: fn };
}

export interface ForwardedAlarmProps {
  /** The deployment's name: the alarm is `<name>-<id>`. */
  readonly name: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly text: AlarmText;
  readonly missing: cloudwatch.TreatMissingData;
  /** @default GREATER_THAN_THRESHOLD */
  readonly operator?: cloudwatch.ComparisonOperator;
}

/** One alarm over one period, whose firing and clearing both go to `alarmTopic` (the forwarder of {@link alarmForwarding}). */
export function forwardedAlarm(scope: Construct, id: string, props: ForwardedAlarmProps, alarmTopic: sns.ITopic): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmName: `${props.name}-${id}`,
    alarmDescription: alarmDescription(props.text),
    metric: props.metric,
    threshold: props.threshold,
    evaluationPeriods: 1,
    comparisonOperator: props.operator ?? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: props.missing,
  });
  const action = new actions.SnsAction(alarmTopic);
  alarm.addAlarmAction(action);
  alarm.addOkAction(action);
  return alarm;
}

/** The schedule that runs a freshness function every `everyMinutes`, with a role that may invoke it and nothing else. */
export function freshnessSchedule(
  scope: Construct,
  props: { readonly name: string; readonly freshness: PipelineFunction; readonly everyMinutes: number; readonly deadLetterQueue: sqs.IQueue; readonly scheduleName?: string },
): scheduler.Schedule {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, 'SchedulerRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
    description: 'Lifeboat freshness schedule: invoke the freshness function',
  });
  const policy = new ReviewedPolicy(role, 'The freshness schedule\'s own role: invoke the freshness function and write its dead letters, nothing else.');
  const key = props.deadLetterQueue.encryptionMasterKey;
  if (key) policy.add(new iam.PolicyStatement({ sid: 'DeadLetterEncryption', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }));
  const schedule = new scheduler.Schedule(scope, 'FreshnessSchedule', {
    scheduleName: props.scheduleName ?? `${props.name}-freshness`,
    description: `Lifeboat: measure backup freshness every ${props.everyMinutes} minutes`,
    schedule: scheduler.ScheduleExpression.rate(Duration.minutes(props.everyMinutes)),
    timeWindow: scheduler.TimeWindow.off(),
    target: new targets.LambdaInvoke(props.freshness.function, {
      role,
      deadLetterQueue: props.deadLetterQueue,
      input: scheduler.ScheduleTargetInput.fromObject({ trigger: 'schedule' }),
      // A measurement older than one interval is worth nothing: the next run measures again.
      maxEventAge: Duration.minutes(Math.max(1, props.everyMinutes)),
      retryAttempts: 2,
    }),
  });
  policy.acknowledge([`${nagResourceName(role, props.freshness.functionArn)}:*`], 'Added by the schedule target\'s grant: the freshness function\'s own versions and aliases, nothing else.');
  return schedule;
}
