import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FRESHNESS_METRICS, METRICS_NAMESPACE } from '../../functions/lib/monitoring/metrics.ts';
import { alarmForwarding, forwardedAlarm, freshnessPeriodMinutes, freshnessSchedule } from './monitoring.ts';
import { PipelineFunction } from './pipeline-function.ts';

export interface DrWatchProps {
  /** The deployment's name: prefixes the alarms and the schedule (`<name>-dr-freshness`). */
  readonly name: string;
  readonly sources: readonly { readonly id: string; readonly rpoMinutes: number; readonly kind?: 'fileset' }[];
  /** This region's vault (the DR vault) and the key its objects are encrypted with. */
  readonly vault: s3.IBucket;
  readonly vaultKeyArn: string;
  /** This region's alert topic and its key. */
  readonly alerts: { readonly topic: sns.ITopic; readonly key: kms.IKey };
  readonly logKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  /** @default 5 */
  readonly everyMinutes?: number;
}

/**
 * The DR region's own watch on its copies: the freshness function (FRESHNESS_SCOPE=dr-vault) reads this region's
 * vault alone every few minutes and publishes each source's DR copy lag here, and one alarm per source fires,
 * through this region's alarm forwarder and alert topic, when the newest copy is older than the RPO. The primary
 * region's monitoring measures the same lag, but cannot alarm when that region is the one that is down.
 *
 * @example
 * new DrWatch(this, 'DrWatch', { name: 'lifeboat', sources: [{ id: 'orders-db', rpoMinutes: 270 }], vault, vaultKeyArn, alerts, logKey, deadLetterQueue });
 */
export class DrWatch extends Construct {
  readonly freshness: PipelineFunction;
  readonly alarmTopic: sns.Topic;
  readonly alarmAlert: PipelineFunction;
  readonly schedule: scheduler.Schedule;
  /** Per source: its DR copy lag alarm in this region. */
  readonly copyLagAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: DrWatchProps) {
    super(scope, id);
    const everyMinutes = props.everyMinutes ?? 5;
    ({ topic: this.alarmTopic, forwarder: this.alarmAlert } = alarmForwarding(this, { alerts: props.alerts, logKey: props.logKey, deadLetterQueue: props.deadLetterQueue }));

    const monitored = { sources: props.sources.map((s) => ({ id: s.id, rpoMinutes: s.rpoMinutes, ...(s.kind ? { kind: s.kind } : {}) })), plans: [] };
    const fileSets = props.sources.filter((s) => s.kind === 'fileset').map((s) => s.id);
    this.freshness = new PipelineFunction(this, 'Freshness', {
      handler: 'freshness',
      description: 'Lifeboat: measures every source\'s DR copy lag from the DR vault alone, as CloudWatch metrics in the DR region',
      environment: { FRESHNESS_SCOPE: 'dr-vault', VAULT_BUCKET: props.vault.bucketName, LIFEBOAT_MONITORED: JSON.stringify(monitored) },
      // Reads manifests, which S3 decrypts under the vault key for roles the key policy admits through S3 only.
      keyUse: ['encrypt'],
      timeout: Duration.minutes(2),
      memorySize: 512,
      reservedConcurrentExecutions: 1,
      logKey: props.logKey,
      deadLetterQueue: props.deadLetterQueue,
      outsideVpcReason: 'It reads this region\'s vault through the S3 API; a VPC would need an S3 endpoint and add nothing.',
    });
    this.freshness.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadDrManifests', actions: ['s3:GetObject'], resources: [props.vault.arnForObjects('backups/*/manifest.json')] }),
      'Manifests of every source in the DR vault (`backups/<source>/<backup id>/manifest.json`): the wildcards are the source and backup id; never a payload.',
    );
    if (fileSets.length > 0) {
      this.freshness.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadDrFileSetManifests', actions: ['s3:GetObject'], resources: fileSets.map((id) => props.vault.arnForObjects(`filesets/${id}/snapshots/*/manifest.json`)) }),
        'Snapshot manifests of the file sets in the DR vault (`filesets/<source>/snapshots/<id>/manifest.json`): the wildcard is the snapshot id; never a pack.',
      );
    }
    this.freshness.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ListDrVault', actions: ['s3:ListBucket'], resources: [props.vault.bucketArn], conditions: { StringLike: { 's3:prefix': ['backups/*', ...fileSets.map((id) => `filesets/${id}/*`)] } } }),
    );
    this.freshness.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'DecryptDrManifests', actions: ['kms:Decrypt'], resources: [props.vaultKeyArn], conditions: { StringEquals: { 'kms:ViaService': `s3.${this.freshness.function.stack.region}.amazonaws.com` } } }),
    );
    this.schedule = freshnessSchedule(this, { name: props.name, scheduleName: `${props.name}-dr-freshness`, freshness: this.freshness, everyMinutes, deadLetterQueue: props.deadLetterQueue });

    const alarms = new Map<string, cloudwatch.Alarm>();
    for (const source of props.sources) {
      const alarm = forwardedAlarm(this, `dr-copy-lag-${source.id}`, {
        name: props.name,
        text: {
          subject: source.id,
          headline: 'DR copy older than the RPO (measured in the DR region)',
          summary: `The newest backup of ${source.id} in this region's vault (${props.vault.bucketName}) is {value} minutes old; its RPO is ${source.rpoMinutes} minutes, so losing the primary region now would lose more data than agreed. This alarm is the DR region's own: it fires even when the primary region is down.`,
          nextSteps: [
            `See what this vault holds: lifeboat list --vault s3://${props.vault.bucketName} --source ${source.id}`,
            'Is the primary region up? If so, its copy-lag alarm and the newest backup executions say why copies stopped; if not, this vault is what a DR plan restores from.',
            'Runbook: docs/monitoring.md, "DR copy lag".',
          ],
        },
        metric: new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: FRESHNESS_METRICS.drCopyLag, dimensionsMap: { sourceId: source.id }, statistic: 'Maximum', period: Duration.minutes(freshnessPeriodMinutes(everyMinutes)) }),
        threshold: source.rpoMinutes,
        // No figure: the watch is not running, or the vault has no copy at all; either is a lapse.
        missing: cloudwatch.TreatMissingData.BREACHING,
      }, this.alarmTopic);
      alarms.set(source.id, alarm);
    }
    this.copyLagAlarms = alarms;
  }
}
