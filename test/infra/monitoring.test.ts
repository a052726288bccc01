/**
 * Monitoring in the template (infra/constructs/monitoring.ts): per source exactly one RPO alarm and one DR copy
 * lag alarm, alarms on every state machine, dead-letter queue and function, the drill alarm, the alarm topic
 * and the function that gives alarms their severity, the freshness schedule and its exact grants, and a
 * dashboard naming every source and plan. Adding a source adds its two alarms and its row, nothing else.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

type Resource = { Properties: Record<string, any> };

function alarms(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
}

function alarmsOn(template: Template, metricName: string): Resource[] {
  return alarms(template).filter((a) => a.Properties.MetricName === metricName);
}

function dimensionValue(alarm: Resource, name: string): unknown {
  return (alarm.Properties.Dimensions as { Name: string; Value: unknown }[] | undefined)?.find((d) => d.Name === name)?.Value;
}

/** The dashboard body with its tokens joined, as one string: widget titles and metrics are in it verbatim. */
function dashboardBody(template: Template): string {
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
  return joined(dashboard!.Properties.DashboardBody);
}

/** A string or an Fn::Join of strings and tokens, as one string (tokens as JSON). */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  return join ? join[1].map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(join[0]) : JSON.stringify(value);
}

/** Every resource's logical id and type, for comparing two syntheses. */
function inventory(template: Template): Map<string, string> {
  const resources = template.toJSON().Resources as Record<string, { Type: string }>;
  return new Map(Object.entries(resources).map(([id, r]) => [id, r.Type]));
}

const NEW_SOURCE = {
  kind: 'rds-postgres',
  id: 'ledger-db',
  instanceIdentifier: 'ledger-prod',
  database: 'ledger',
  credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-ledger-AbCdEf',
  // The network of orders-db: the dump function that serves it serves this one too.
  network: { vpcId: 'vpc-0a1b2c3d4e5f60718', subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'], securityGroupIds: ['sg-0a1b2c3d4e5f60003'] },
  schedule: { cron: '0 3 * * ? *' },
  objectives: { rpoMinutes: 1500, rtoMinutes: 60 },
};

describe('monitoring from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig());
  }, SYNTH_TIMEOUT_MS);

  it('has exactly one RPO alarm per source: minutes since the last verified backup above the RPO, missing data breaching, to the alarm topic', () => {
    const rpo = alarmsOn(lifeboat.primary, 'MinutesSinceLastVerifiedBackup');
    expect(rpo.map((a) => [dimensionValue(a, 'sourceId'), a.Properties.Threshold]).sort()).toEqual([
      ['billing-db', 1500],
      ['catalog-docdb', 1500],
      ['orders-config', 90],
      ['orders-db', 270],
      ['sessions-cache', 180],
      ['uploads', 420],
    ]);
    lifeboat.primary.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'lifeboat-rpo-orders-db',
      Namespace: 'Lifeboat',
      MetricName: 'MinutesSinceLastVerifiedBackup',
      Dimensions: [{ Name: 'sourceId', Value: 'orders-db' }],
      Statistic: 'Maximum',
      Period: 600,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 270,
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }],
      OKActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }],
    });
    const orders = rpo.find((a) => dimensionValue(a, 'sourceId') === 'orders-db')!;
    expect(joined(orders.Properties.AlarmDescription)).toMatch(
      /^Lifeboat orders-db: no verified backup within the RPO\nThe newest verified backup of orders-db is \{value\} minutes old; its RPO is 270 minutes.*\n- See its backups and their verification: lifeboat status --vault s3:\/\/\{"Ref":"Vault/s,
    );
  });

  it('has exactly one DR copy lag alarm per source, missing data breaching', () => {
    const lag = alarmsOn(lifeboat.primary, 'DrCopyLagMinutes');
    expect(lag.map((a) => [dimensionValue(a, 'sourceId'), a.Properties.Threshold, a.Properties.TreatMissingData]).sort()).toEqual([
      ['billing-db', 1500, 'breaching'],
      ['catalog-docdb', 1500, 'breaching'],
      ['orders-config', 90, 'breaching'],
      ['orders-db', 270, 'breaching'],
      ['sessions-cache', 180, 'breaching'],
      ['uploads', 420, 'breaching'],
    ]);
  });

  it('alarms on failed, timed-out and aborted executions of every state machine', () => {
    const machines = Object.keys(lifeboat.primary.findResources('AWS::StepFunctions::StateMachine'));
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) {
      const watched = alarmsOn(lifeboat.primary, metric).map((a) => (dimensionValue(a, 'StateMachineArn') as { Ref: string }).Ref);
      expect(watched.sort()).toEqual([...machines].sort());
    }
  });

  it('alarms on any message in every dead-letter queue', () => {
    const queues = Object.keys(lifeboat.primary.findResources('AWS::SQS::Queue'));
    const watched = alarmsOn(lifeboat.primary, 'ApproximateNumberOfMessagesVisible').map((a) => {
      expect(a.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching', Statistic: 'Maximum' });
      return (dimensionValue(a, 'QueueName') as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    });
    expect(watched.sort()).toEqual([...queues].sort());
  });

  it('alarms on errors and throttles of every function, and on the approval endpoint\'s 5xx', () => {
    const functions = Object.keys(lifeboat.primary.findResources('AWS::Lambda::Function')).filter((id) => !/LogRetention|AwsCustomResource|CustomResource|Provider/i.test(id));
    for (const metric of ['Errors', 'Throttles']) {
      const watched = alarmsOn(lifeboat.primary, metric).map((a) => (dimensionValue(a, 'FunctionName') as { Ref: string }).Ref);
      expect(watched.sort()).toEqual([...functions].sort());
    }
    expect(alarmsOn(lifeboat.primary, '5XXError')).toHaveLength(1);
  });

  it('alarms when a plan with drill.everyDays was not drilled in time, and only for such plans', () => {
    const drills = alarmsOn(lifeboat.primary, 'DaysSinceLastDrill');
    expect(drills.map((a) => [dimensionValue(a, 'plan'), a.Properties.Threshold, a.Properties.TreatMissingData])).toEqual([
      ['orders-failover', 90, 'breaching'],
      ['sessions-recovery', 30, 'breaching'],
      ['uploads-recovery', 30, 'breaching'],
      ['config-recovery', 30, 'breaching'],
    ]);
  });

  it('forwards alarms through the alarm-alert function, which alone may publish to the alert topic for them', () => {
    lifeboat.primary.hasResourceProperties('AWS::SNS::Topic', { DisplayName: Match.stringLikeRegexp('^Lifeboat alarms'), KmsMasterKeyId: Match.anyValue() });
    lifeboat.primary.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'lambda', TopicArn: { Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }, Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringAlarmAlertFunction'), 'Arn'] } });
    lifeboat.primary.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmAlertRole') }],
      PolicyDocument: { Statement: Match.arrayWith([{ Sid: 'PublishAlerts', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: Match.stringLikeRegexp('^AlertsTopic') } }]) },
    });
  });

  it('runs the freshness function every 5 minutes from a schedule with a dead-letter queue, with read-only grants', () => {
    lifeboat.primary.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'lifeboat-freshness',
      ScheduleExpression: 'rate(5 minutes)',
      Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringFreshnessFunction'), 'Arn'] }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PipelineScheduleDeadLetters'), 'Arn'] } }, Input: '{"trigger":"schedule"}' },
    });
    const [policy] = Object.values(lifeboat.primary.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^MonitoringFreshnessRole') }] } })) as Resource[];
    const statements = policy!.Properties.PolicyDocument.Statement as { Sid?: string; Action: string | string[] }[];
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    // Beside the Lambda plumbing (its dead-letter queue's key): reads, never a write or a delete.
    expect(actions.filter((a) => /^(s3|rds):/.test(a)).sort()).toEqual(['rds:DescribeDBClusterSnapshots', 'rds:DescribeDBSnapshots', 's3:GetObject', 's3:GetObject', 's3:GetObject', 's3:ListBucket']);
    expect(statements.map((s) => s.Sid).filter(Boolean)).toEqual(expect.arrayContaining(['ReadManifestsAndResults', 'ReadFileSetManifestsAndResults', 'ReadDrillEvidence', 'ListBothVaults', 'ReadPrimaryManifests', 'ReadDrManifests', 'DescribeLifeboatSnapshots']));
    lifeboat.primary.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LIFEBOAT_MONITORED: JSON.stringify({ sources: [{ id: 'orders-db', rpoMinutes: 270 }, { id: 'billing-db', rpoMinutes: 1500 }, { id: 'catalog-docdb', rpoMinutes: 1500 }, { id: 'sessions-cache', rpoMinutes: 180 }, { id: 'uploads', rpoMinutes: 420, kind: 'fileset' }, { id: 'orders-config', rpoMinutes: 90 }], plans: ['orders-failover', 'sessions-recovery', 'uploads-recovery', 'config-recovery', 'billing-db-default', 'catalog-docdb-default'] }) }) },
    });
  });

  it('draws a dashboard whose widgets name every source and plan, with each RPO as a line', () => {
    const body = dashboardBody(lifeboat.primary);
    for (const source of ['orders-db', 'billing-db']) expect(body).toContain(`${source}: backup age (minutes) against its RPO`);
    for (const plan of ['orders-failover', 'billing-db-default']) expect(body).toContain(`${plan}: days since last passed drill`);
    expect(body).toContain('"horizontal":[{"value":270,"label":"RPO 270 min"');
    expect(body).toContain('"horizontal":[{"value":1500,"label":"RPO 1500 min"');
    expect(body).toContain('SourcesOutsideRpo');
  });

});

describe('adding a source to the config', () => {
  // Without alert emails no source gets a default plan, so the new source brings no plan of its own either.
  const withoutDefaultPlans = (raw: Record<string, any>) => {
    raw.alerts.emails = [];
  };
  let before: SynthesizedLifeboat;
  let after: SynthesizedLifeboat;
  beforeAll(() => {
    before = synthLifeboat(exampleConfig(withoutDefaultPlans));
    after = synthLifeboat(
      exampleConfig((raw) => {
        withoutDefaultPlans(raw);
        raw.sources.push(NEW_SOURCE);
      }),
    );
  }, 2 * SYNTH_TIMEOUT_MS);

  it('adds exactly its two alarms and its dashboard row (and its backup schedule), nothing else', () => {
    const old = inventory(before.primary);
    const now = inventory(after.primary);
    const added = [...now.keys()].filter((id) => !old.has(id));
    expect([...old.keys()].filter((id) => !now.has(id))).toEqual([]);
    expect(added.map((id) => `${now.get(id)} ${id.replace(/[0-9A-F]{8}$/, '')}`).sort()).toEqual([
      'AWS::CloudWatch::Alarm Monitoringcopylagledgerdb',
      'AWS::CloudWatch::Alarm Monitoringrpoledgerdb',
      'AWS::Scheduler::Schedule PipelineScheduleledgerdb',
    ]);
    expect(dashboardBody(before.primary)).not.toContain('ledger-db');
    expect(dashboardBody(after.primary)).toContain('ledger-db: backup age (minutes) against its RPO');
    expect(alarmsOn(after.primary, 'MinutesSinceLastVerifiedBackup')).toHaveLength(7);
    expect(alarmsOn(after.primary, 'DrCopyLagMinutes')).toHaveLength(7);
  });

  it('adds exactly its DR copy lag alarm in the DR region, nothing else there', () => {
    const old = inventory(before.dr);
    const now = inventory(after.dr);
    expect([...old.keys()].filter((id) => !now.has(id))).toEqual([]);
    expect([...now.keys()].filter((id) => !old.has(id)).map((id) => `${now.get(id)} ${id.replace(/[0-9A-F]{8}$/, '')}`)).toEqual(['AWS::CloudWatch::Alarm DrWatchdrcopylagledgerdb']);
  });
});

describe('the DR region\'s own watch on its copies', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat();
  }, SYNTH_TIMEOUT_MS);

  it('has exactly one DR copy lag alarm per source in the DR region, on the metric its freshness function publishes there, missing data breaching, to its own alarm topic', () => {
    const dr = lifeboat.dr;
    const lag = alarmsOn(dr, 'DrCopyLagMinutes');
    expect(lag.map((a) => [dimensionValue(a, 'sourceId'), a.Properties.Threshold, a.Properties.TreatMissingData, a.Properties.Namespace, a.Properties.Statistic, a.Properties.Period]).sort()).toEqual([
      ['billing-db', 1500, 'breaching', 'Lifeboat', 'Maximum', 600],
      ['catalog-docdb', 1500, 'breaching', 'Lifeboat', 'Maximum', 600],
      ['orders-config', 90, 'breaching', 'Lifeboat', 'Maximum', 600],
      ['orders-db', 270, 'breaching', 'Lifeboat', 'Maximum', 600],
      ['sessions-cache', 180, 'breaching', 'Lifeboat', 'Maximum', 600],
      ['uploads', 420, 'breaching', 'Lifeboat', 'Maximum', 600],
    ]);
    const topics = Object.entries(dr.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Lifeboat alarms (forwarded to the alert topic with a severity)' } }));
    expect(topics).toHaveLength(1);
    for (const alarm of lag) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topics[0]![0] }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topics[0]![0] }]);
      expect(joined(alarm.Properties.AlarmDescription)).toMatch(/DR copy older than the RPO \(measured in the DR region\)/);
    }
    // The primary region's alarms are unchanged, and no DR watch runs there.
    expect(alarmsOn(lifeboat.primary, 'DrCopyLagMinutes')).toHaveLength(6);
    expect(Object.keys(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ FRESHNESS_SCOPE: 'dr-vault' }) } } }))).toEqual([]);
  });

  it('runs the freshness function over the DR vault alone, every 5 minutes, reading only manifests there', () => {
    const dr = lifeboat.dr;
    const stack = lifeboat.stacks.dr;
    const watch = stack.drWatch!;
    const fn = dr.toJSON().Resources[stack.getLogicalId(watch.freshness.function.node.defaultChild as never)];
    const bucket = stack.getLogicalId(stack.vault.bucket.node.defaultChild as never);
    expect(fn.Properties.Environment.Variables).toMatchObject({ FRESHNESS_SCOPE: 'dr-vault', VAULT_BUCKET: { Ref: bucket } });
    expect(JSON.parse(fn.Properties.Environment.Variables.LIFEBOAT_MONITORED)).toEqual({ sources: [{ id: 'orders-db', rpoMinutes: 270 }, { id: 'billing-db', rpoMinutes: 1500 }, { id: 'catalog-docdb', rpoMinutes: 1500 }, { id: 'sessions-cache', rpoMinutes: 180 }, { id: 'uploads', rpoMinutes: 420, kind: 'fileset' }, { id: 'orders-config', rpoMinutes: 90 }], plans: [] });
    const role = stack.getLogicalId(watch.freshness.role.node.defaultChild as never);
    const statements = Object.values(dr.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Sid?: string }[])
      .filter((st) => st.Sid !== undefined);
    expect(statements).toEqual([
      { Sid: 'ReadDrManifests', Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/backups/*/manifest.json']] } },
      // The file set's snapshot manifests, never a pack.
      { Sid: 'ReadDrFileSetManifests', Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/filesets/uploads/snapshots/*/manifest.json']] } },
      { Sid: 'ListDrVault', Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [bucket, 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['backups/*', 'filesets/uploads/*'] } } },
      { Sid: 'DecryptDrManifests', Effect: 'Allow', Action: 'kms:Decrypt', Resource: expect.anything(), Condition: { StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' } } },
    ]);
    dr.hasResourceProperties('AWS::Scheduler::Schedule', { Name: 'lifeboat-dr-freshness', ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
  });
});
