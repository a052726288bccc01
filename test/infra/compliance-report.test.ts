import { Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../infra/config/index.ts';
import { exampleConfig, exampleConfigJson, synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

describe('the compliance report from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  const id = (construct: { node: { defaultChild?: unknown } }) => Stack.of(lifeboat.stacks.primary).getLogicalId(construct.node.defaultChild as never);
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig((raw) => {
      raw['reports'] = { schedule: { cron: '15 7 * * ? *', timeZone: 'Europe/Dublin' } };
    }));
  }, SYNTH_TIMEOUT_MS);

  it('runs the report on the configured schedule, with the scheduled time as its event', () => {
    const schedules = Object.values(lifeboat.primary.findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'lifeboat-compliance-report' } }));
    expect(schedules).toHaveLength(1);
    expect(schedules[0]!.Properties).toMatchObject({
      ScheduleExpression: 'cron(15 7 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Dublin',
      Target: { Input: '{"scheduledTime":"<aws.scheduler.scheduled-time>"}', RetryPolicy: { MaximumRetryAttempts: 10 } },
    });
    // Only in the primary region, beside the vault it reports on.
    expect(Object.values(lifeboat.dr.findResources('AWS::Scheduler::Schedule')).map((s) => s.Properties.Name)).toEqual(['lifeboat-dr-freshness']);
  });

  it('holds each source to its objectives and retention, and gives the function exactly its statements', () => {
    const report = lifeboat.stacks.primary.report!;
    const fn = lifeboat.primary.toJSON().Resources[id(report.function.function)];
    const config = exampleConfig();
    expect(JSON.parse(fn.Properties.Environment.Variables.LIFEBOAT_REPORT_SOURCES)).toEqual(
      config.sources.map((s) => ({ id: s.id, rpoMinutes: s.objectives.rpoMinutes, rtoMinutes: s.objectives.rtoMinutes, timeZone: s.schedule.timeZone, retention: s.retention })),
    );
    const roleId = id(report.function.role);
    const statements = Object.values(lifeboat.primary.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => s.Sid !== undefined);
    const stack = lifeboat.stacks.primary;
    const vault = { 'Fn::GetAtt': [id(stack.vault.bucket), 'Arn'] };
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [vault, `/${prefix}/*`]] });
    const viaS3 = { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } };
    expect(statements).toEqual([
      { Sid: 'ReadVault', Effect: 'Allow', Action: 's3:GetObject', Resource: [objects('audit'), objects('backups'), objects('evidence')] },
      { Sid: 'ListVault', Effect: 'Allow', Action: 's3:ListBucket', Resource: vault },
      { Sid: 'ReadObjectLockConfiguration', Effect: 'Allow', Action: 's3:GetBucketObjectLockConfiguration', Resource: vault },
      { Sid: 'WriteReports', Effect: 'Allow', Action: 's3:PutObject', Resource: objects('reports') },
      { Sid: 'ReadVaultObjects', Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [id(stack.vaultKey.key), 'Arn'] }, Condition: viaS3 },
      { Sid: 'EncryptReports', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: { 'Fn::GetAtt': [id(stack.vaultKey.key), 'Arn'] }, Condition: viaS3 },
      {
        Sid: 'AuthenticateEvidence',
        Effect: 'Allow',
        Action: 'kms:VerifyMac',
        // Audit events, verification results and DR plan evidence: each with its own key.
        Resource: [stack.drEvidenceKey!, stack.evidenceKey!, stack.verificationKey!].map((k) => ({ 'Fn::GetAtt': [id(k.key), 'Arn'] })),
      },
      { Sid: 'PublishSummary', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: id(stack.alerts.topic) } },
      { Sid: 'EncryptSummary', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [id(stack.alerts.key), 'Arn'] } },
    ]);
  });
});

describe('the reports section of the config', () => {
  it('defaults to 06:30 UTC daily', () => {
    expect(exampleConfig().reports).toEqual({ schedule: { cron: '30 6 * * ? *', timeZone: 'UTC' } });
  });

  it('names the field of a bad schedule', () => {
    const raw = exampleConfigJson();
    raw['reports'] = { schedule: { cron: 'every day', timeZone: 'Mars/Olympus' } };
    expect(() => parseConfig(raw)).toThrow(/reports\.schedule\.cron[\s\S]*reports\.schedule\.timeZone: unknown time zone 'Mars\/Olympus'/);
  });
});
