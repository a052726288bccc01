import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { SEVERITIES, type Severity, severitiesAtOrAbove } from '../../functions/lib/severity.ts';

export interface AlertSubscriber {
  /** An email address, or an `https://` webhook URL. */
  readonly endpoint: string;
  readonly protocol: 'email' | 'https';
  /** The lowest severity this subscriber receives. */
  readonly minSeverity: Severity;
}

export interface AlertsProps {
  /** @default - no subscribers; alerts are still published and can be subscribed to later */
  readonly subscribers?: readonly AlertSubscriber[];
  /** @default 'Lifeboat alerts' */
  readonly displayName?: string;
}

/**
 * The alert topic of one region: KMS-encrypted with a key of its own, TLS-only, and each subscriber
 * filtered on the `severity` message attribute so it receives only its minimum severity and above.
 *
 * @example
 * new Alerts(this, 'Alerts', { subscribers: [{ protocol: 'email', endpoint: 'ops@example.com', minSeverity: 'ERROR' }] });
 */
export class Alerts extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlertsProps = {}) {
    super(scope, id);
    const subscribers = props.subscribers ?? [];
    validateSubscribers(id, subscribers);
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      description: 'Lifeboat alert topic key',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the topic as the CloudWatch service, which needs the key too.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: props.displayName ?? 'Lifeboat alerts',
      masterKey: this.key,
      enforceSSL: true,
    });

    for (const subscriber of subscribers) {
      const filterPolicy = {
        severity: sns.SubscriptionFilter.stringFilter({ allowlist: severitiesAtOrAbove(subscriber.minSeverity) }),
      };
      this.topic.addSubscription(
        subscriber.protocol === 'email'
          ? new subscriptions.EmailSubscription(subscriber.endpoint, { filterPolicy })
          : new subscriptions.UrlSubscription(subscriber.endpoint, { protocol: sns.SubscriptionProtocol.HTTPS, filterPolicy }),
      );
    }
  }
}

function validateSubscribers(id: string, subscribers: readonly AlertSubscriber[]): void {
  const problems: string[] = [];
  subscribers.forEach((s, i) => {
    if (!SEVERITIES.includes(s.minSeverity)) problems.push(`subscribers[${i}].minSeverity: unknown severity '${s.minSeverity}'`);
    if (s.protocol === 'https' && !/^https:\/\/[^\s/]+/.test(s.endpoint)) {
      problems.push(`subscribers[${i}].endpoint: a webhook must be an https:// URL`);
    }
    if (s.protocol === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s.endpoint)) {
      problems.push(`subscribers[${i}].endpoint: not an email address`);
    }
  });
  if (problems.length > 0) throw new Error(`Alerts ${id}: invalid props:\n- ${problems.join('\n- ')}`);
}
