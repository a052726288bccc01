import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BUCKET_EVENTS, KEY_EVENTS, OBJECT_LOCK_EVENTS, TRAIL_EVENTS } from '../../functions/tamper-alert/tamperAlert.ts';
import { PipelineFunction } from './pipeline-function.ts';
import { deadLetterQueue as newDeadLetterQueue, operationsKey } from './function-support.ts';

const CLOUDTRAIL_API_CALL = 'AWS API Call via CloudTrail';

/** The event pattern of the rule on the vault key: the calls that make every backup unreadable or hand the key to someone else. */
export function keyTamperPattern(keyArn: string): events.EventPattern {
  return {
    source: ['aws.kms'],
    detailType: [CLOUDTRAIL_API_CALL],
    // CloudTrail names the key by ARN in `resources`, whatever the caller passed (key id, ARN or alias).
    detail: { eventSource: ['kms.amazonaws.com'], eventName: [...KEY_EVENTS], resources: { ARN: [keyArn] } },
  };
}

/** The event pattern of the rule on the vault bucket's configuration (management events). */
export function bucketTamperPattern(bucketName: string): events.EventPattern {
  return {
    source: ['aws.s3'],
    detailType: [CLOUDTRAIL_API_CALL],
    detail: { eventSource: ['s3.amazonaws.com'], eventName: [...BUCKET_EVENTS], requestParameters: { bucketName: [bucketName] } },
  };
}

/**
 * The event pattern of the rule on Object Lock being bypassed (S3 data events: only with a trail that logs the
 * vault bucket's data events). It matches a delete or retention change that carries the bypass header
 * (`x-amz-bypass-governance-retention`, which S3 data events record among the request parameters), a delete of
 * one specific version (Lifeboat's own retention only adds delete markers; versions expire by lifecycle, which
 * CloudTrail does not log as an API call), and every PutObjectRetention (Lifeboat never calls it).
 */
export function objectLockBypassPattern(bucketName: string): events.EventPattern {
  return {
    source: ['aws.s3'],
    detailType: [CLOUDTRAIL_API_CALL],
    detail: {
      eventSource: ['s3.amazonaws.com'],
      eventName: [...OBJECT_LOCK_EVENTS],
      requestParameters: { bucketName: [bucketName] },
      $or: [
        { requestParameters: { 'x-amz-bypass-governance-retention': [{ exists: true }] } },
        { requestParameters: { versionId: [{ exists: true }] } },
        { eventName: ['PutObjectRetention'] },
      ],
    },
  };
}

/**
 * The event pattern of the rule on the trail the alarms depend on: stopping, deleting or narrowing it blinds every
 * other rule. CloudTrail records these calls before they take effect; the request names the trail by name or ARN.
 */
export function trailTamperPattern(trail: { name: string; arn: string }): events.EventPattern {
  return {
    source: ['aws.cloudtrail'],
    detailType: [CLOUDTRAIL_API_CALL],
    detail: { eventSource: ['cloudtrail.amazonaws.com'], eventName: [...TRAIL_EVENTS], requestParameters: { name: [trail.name, trail.arn] } },
  };
}

export interface TamperAlarmsProps {
  /** The vault bucket's name (its CloudTrail events name the bucket, not its ARN). */
  readonly vaultBucketName: string;
  /** The vault key's ARN: the multi-Region primary, or this region's replica. */
  readonly vaultKeyArn: string;
  /** Where the CRITICAL alerts go: the region's alert topic, and the key it is encrypted with. */
  readonly topic: sns.ITopic;
  readonly topicKey: kms.IKey;
  /** The config's `vault.breakGlassRoleArn`: the alert says when the caller was that role. @default - none */
  readonly breakGlassRoleArn?: string;
  /** Encrypts the publisher's logs and dead letters. @default - a key of its own (the DR region has no backup functions) */
  readonly logKey?: kms.IKey;
  /** Where an event the publisher could not turn into an alert ends up. @default - a queue of its own */
  readonly deadLetterQueue?: sqs.IQueue;
  /** The trail Lifeboat created for these rules (`vault.createTrail`): stopping or changing it alarms too. @default - none */
  readonly trail?: { readonly name: string; readonly arn: string };
}

/**
 * EventBridge rules that raise a CRITICAL alert when someone disables, schedules for deletion or re-policies the
 * vault key, changes or deletes the vault bucket policy or its Object Lock configuration, or bypasses Object
 * Lock on the vault's objects. They need CloudTrail: a trail in this region logging management events, and
 * for the bypass rule the vault bucket's S3 data events (README, "Security"). A small function formats each
 * event for the person on call and publishes it with the `severity` attribute (EventBridge cannot set one).
 *
 * @example
 * new TamperAlarms(this, 'TamperAlarms', { vaultBucketName: vault.bucket.bucketName, vaultKeyArn: key.keyArn, topic: alerts.topic, topicKey: alerts.key });
 */
export class TamperAlarms extends Construct {
  readonly keyRule: events.Rule;
  readonly bucketRule: events.Rule;
  readonly objectLockRule: events.Rule;
  readonly trailRule?: events.Rule;
  readonly publisher: PipelineFunction;
  /** The key of its logs and dead letters (its own in the DR region, which the DR watch shares). */
  readonly logKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, props: TamperAlarmsProps) {
    super(scope, id);
    const logKey = (this.logKey = props.logKey ?? operationsKey(this, 'LogKey', 'Lifeboat tamper alarm logs and dead letters'));
    const deadLetterQueue = (this.deadLetterQueue = props.deadLetterQueue ?? newDeadLetterQueue(this, 'DeadLetters', logKey, 'the tamper alert publisher'));

    this.publisher = new PipelineFunction(this, 'Publisher', {
      handler: 'tamper-alert',
      description: 'Lifeboat: turns CloudTrail events that weaken the vault into CRITICAL alerts',
      environment: { ALERT_TOPIC_ARN: props.topic.topicArn, ...(props.breakGlassRoleArn === undefined ? {} : { BREAK_GLASS_ROLE_ARN: props.breakGlassRoleArn }) },
      keyUse: [],
      logKey,
      deadLetterQueue,
      timeout: Duration.seconds(30),
      memorySize: 256,
      reservedConcurrentExecutions: 2,
      outsideVpcReason: 'It only turns CloudTrail events into alerts published to SNS (an AWS API); it reaches no resource inside a VPC.',
    });
    this.publisher.addToRolePolicy(new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [props.topic.topicArn] }));
    this.publisher.addToRolePolicy(new iam.PolicyStatement({ sid: 'EncryptAlerts', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.topicKey.keyArn] }));

    // An alert that fails is retried by EventBridge for a day, then by Lambda, then kept in the dead-letter queue.
    const target = new targets.LambdaFunction(this.publisher.function, { retryAttempts: 185, maxEventAge: Duration.hours(24) });
    const rule = (ruleId: string, description: string, eventPattern: events.EventPattern) => new events.Rule(this, ruleId, { description, eventPattern, targets: [target] });
    this.keyRule = rule('VaultKeyRule', 'Lifeboat: CRITICAL when the vault key is disabled, scheduled for deletion or re-policied', keyTamperPattern(props.vaultKeyArn));
    this.bucketRule = rule('VaultBucketRule', 'Lifeboat: CRITICAL when the vault bucket policy or Object Lock configuration changes', bucketTamperPattern(props.vaultBucketName));
    this.objectLockRule = rule('ObjectLockBypassRule', 'Lifeboat: CRITICAL when Object Lock on the vault is bypassed (needs S3 data events)', objectLockBypassPattern(props.vaultBucketName));
    if (props.trail) this.trailRule = rule('VaultTrailRule', 'Lifeboat: CRITICAL when the trail these alarms need is stopped, deleted or changed', trailTamperPattern(props.trail));
  }
}
