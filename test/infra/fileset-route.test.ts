/**
 * The S3 file set of the example config (`uploads`: s3://orders-app-uploads/media/) as the templates deploy it: the
 * file-set backup function and its exact grants, the route DescribeSource gives it, and what the verify, copy, prune
 * and freshness roles may do under `filesets/` — with each role's rights on the file set shown to stop where they should.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat } from './support.ts';
import { bySid, DR_VAULT, statementsOf, VAULT } from './roleStatements.ts';

describe('the S3 file set of the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig());
  }, 120_000);

  it('gets one file-set backup function outside any VPC, told its bucket and prefix, never a credential', () => {
    const fns = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('snapshots of S3 file sets') } }));
    expect(fns).toHaveLength(1);
    const fn = fns[0]!.Properties;
    expect(fn.VpcConfig).toBeUndefined();
    expect(fn.Timeout).toBe(900);
    expect(JSON.parse(fn.Environment.Variables.LIFEBOAT_SOURCES)).toEqual([{ id: 'uploads', kind: 'fileset', s3: { bucket: 'orders-app-uploads', prefix: 'media/' } }]);
  });

  it('lets the backup role read only the source prefix and write only its own vault prefix, decrypt only its own objects, and never delete or write a result', () => {
    const statements = statementsOf(lifeboat.primary, 'BackupFileSetBackupRole');
    const own = statements.filter((s) => s.Sid && !/^(WriteAuditEvents|EncryptAuditEvents|SignAuditEvents)$/.test(s.Sid));
    expect(own.map(({ Sid, Effect, Action, Resource, Condition }) => ({ Sid, Effect, Action, Resource, ...(Condition ? { Condition } : {}) }))).toEqual([
      { Sid: 'ListSource1', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:<token>:s3:::orders-app-uploads', Condition: { StringLike: { 's3:prefix': ['media/*'] } } },
      { Sid: 'ReadSource1', Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: 'arn:<token>:s3:::orders-app-uploads/media/*' },
      { Sid: 'WriteOwnFileSets', Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], Resource: `${VAULT}/filesets/uploads/*` },
      { Sid: 'NeverWriteVerificationResults', Effect: 'Deny', Action: ['s3:DeleteObject', 's3:PutObject'], Resource: `${VAULT}/filesets/uploads/snapshots/*/verifications/*` },
      { Sid: 'ListOwnFileSets', Effect: 'Allow', Action: 's3:ListBucket', Resource: VAULT, Condition: { StringLike: { 's3:prefix': ['filesets/uploads/*'] } } },
      { Sid: 'GenerateFileSetDataKeys', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: '<token>' },
      { Sid: 'ReadOwnFileSetObjects', Effect: 'Allow', Action: 'kms:Decrypt', Resource: '<token>', Condition: { StringEquals: { 'kms:EncryptionContext:lifeboat:source': ['uploads'] } } },
      { Sid: 'SseKmsThroughS3', Effect: 'Allow', Action: 'kms:Decrypt', Resource: '<token>', Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } },
    ]);
    const actions = statements.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Action].flat());
    expect(actions).not.toContain('s3:DeleteObject');
    // No allow reaches a dump's folder or another source's file set.
    for (const s of statements.filter((st) => st.Effect === 'Allow')) for (const r of [s.Resource].flat()) expect(r).not.toMatch(/\/backups\/|filesets\/\*/);
  });

  it('routes the file set to its backup function on Lambda, with its Fargate task (in its network) for a run that runs out of time', () => {
    const [resolve] = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Lifeboat: how a source is backed up') } }));
    const routes = resolve!.Properties.Environment.Variables.LIFEBOAT_ROUTES as { 'Fn::Join': [string, unknown[]] };
    const text = routes['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
    expect(text).toMatch(
      /\{"id":"uploads","kind":"fileset","method":"dump","dumpFunctionArn":"\{"Fn::GetAtt":\["BackupFileSetBackupFunction[0-9A-F]{8}","Arn"\]\}","runner":"auto","fargate":\{"cluster":"\{"Fn::GetAtt":\["BackupRunnerCluster[0-9A-F]{8}","Arn"\]\}","dumpTaskDefinition":"\{"Ref":"BackupRunnerFileSetTask[0-9A-F]{8}"\}","verifyTaskDefinition":"\{"Ref":"BackupRunnerVerifyTask[0-9A-F]{8}"\}","copyTaskDefinition":"\{"Ref":"BackupRunnerCopyTask[0-9A-F]{8}"\}","subnets":\["subnet-0a1b2c3d4e5f60001","subnet-0a1b2c3d4e5f60002"\],"securityGroups":\["sg-0a1b2c3d4e5f60003"\]/,
    );
    // The task runs the file-set core with exactly its Lambda's environment.
    const [task] = Object.values(lifeboat.primary.findResources('AWS::ECS::TaskDefinition', { Properties: { Family: 'lifeboat-fileset' } }));
    const env = Object.fromEntries((task!.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({ LIFEBOAT_RUNNER_ROLE: 'fileset-backup', LIFEBOAT_SOURCES: JSON.stringify([{ id: 'uploads', kind: 'fileset', s3: { bucket: 'orders-app-uploads', prefix: 'media/' } }]) });
  });

  it('lets the verifier read the file set and write only results in its snapshots; copy read it and add it to the DR vault; prune delete it in both', () => {
    const verify = statementsOf(lifeboat.primary, 'PipelineVerifyRole');
    expect(bySid(verify, 'ReadFileSets')).toMatchObject({ Action: 's3:GetObject', Resource: `${VAULT}/filesets/uploads/*` });
    expect(bySid(verify, 'WriteFileSetVerificationResults')).toMatchObject({ Action: 's3:PutObject', Resource: `${VAULT}/filesets/uploads/snapshots/*/verifications/*` });
    const copy = statementsOf(lifeboat.primary, 'PipelineCopyRole');
    expect(bySid(copy, 'ReadPrimaryFileSets')).toMatchObject({ Action: 's3:GetObject', Resource: `${VAULT}/filesets/uploads/*` });
    expect(bySid(copy, 'WriteDrFileSets')).toMatchObject({ Action: ['s3:GetObject', 's3:PutObject'], Resource: `${DR_VAULT}/filesets/uploads/*` });
    expect(copy.flatMap((s) => [s.Action].flat())).not.toContain('s3:DeleteObject');
    const prune = statementsOf(lifeboat.primary, 'PipelinePruneRole');
    expect(bySid(prune, 'PruneBothVaults')!.Resource).toEqual(expect.arrayContaining([`${VAULT}/filesets/uploads/*`, `${DR_VAULT}/filesets/uploads/*`]));
    const env = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('applies each source\'s retention') } }))[0]!.Properties.Environment.Variables;
    expect(JSON.parse(env.LIFEBOAT_RETENTION).find((s: { id: string }) => s.id === 'uploads')).toEqual({
      id: 'uploads', timeZone: 'Europe/Berlin', retention: { days: 30, keepLast: 8, gfs: { daily: 14, weekly: 8, monthly: 12, yearly: 0 } }, snapshots: false, kind: 'fileset',
    });
    expect(env).toHaveProperty('VAULT_KEY_ARN');
    expect(env).toHaveProperty('DR_VAULT_KEY_ARN');
  });

  it('lets a plan back the file set up now or restore it with restore-files, and refuses any other step on it naming the source', async () => {
    const { parseConfig } = await import('../../infra/config/load.ts');
    const { exampleConfigJson } = await import('./support.ts');
    const raw = exampleConfigJson() as any;
    raw.plans[1].steps.push({ id: 'files', kind: 'restore-cache', dependsOn: ['announce'], parameters: { source: 'uploads', target: { host: 'cache.example.internal', port: 6379 } } });
    expect(() => parseConfig(raw, 'test.json')).toThrow(/plans\[1\]\.steps\[3\]\.parameters\.source: 'uploads' is an S3 file set: a plan backs it up now \(backup-now\) and restores it with restore-files, not restore-cache/);
  });
});
