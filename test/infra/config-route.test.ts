/**
 * The configuration source of the example config (`orders-config`: /orders/prod/ parameters, orders/prod/ secrets, the
 * orders-app stack) as the templates deploy it: the config backup function and its exact grants, the route
 * DescribeSource gives it, what the verify function is told of it, and the restore-config step's grants in the DR region.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { bySid, statementsOf, VAULT } from './roleStatements.ts';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat } from './support.ts';

const param = (region: string, name: string) => `arn:<token>:ssm:${region}:123456789012:parameter/${name}`;
const secret = (region: string, name: string) => `arn:<token>:secretsmanager:${region}:123456789012:secret:${name}`;
const own = (statements: ReturnType<typeof statementsOf>, skip: RegExp) =>
  statements.filter((s) => s.Sid && !skip.test(s.Sid)).map(({ Sid, Effect, Action, Resource, Condition }) => ({ Sid, Effect, Action, Resource, ...(Condition ? { Condition } : {}) }));

describe('the configuration source of the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig());
  }, 120_000);

  it('gets one config backup function outside any VPC, told what it selects, never a value or a credential', () => {
    const fns = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('SSM parameters, Secrets Manager secrets') } }));
    expect(fns).toHaveLength(1);
    const fn = fns[0]!.Properties;
    expect(fn.VpcConfig).toBeUndefined();
    expect(fn.Timeout).toBe(900);
    expect(JSON.parse(fn.Environment.Variables.LIFEBOAT_SOURCES)).toEqual([
      { id: 'orders-config', kind: 'config', selection: { ssmPaths: ['/orders/prod/'], secretPrefixes: ['orders/prod/'], secretTags: [], stacks: ['orders-app'] } },
    ]);
  });

  it('lets the backup role read exactly what the source selects, decrypt only through SSM and Secrets Manager, and write the vault as a dump function does', () => {
    const statements = statementsOf(lifeboat.primary, 'BackupConfigBackupRole');
    expect(own(statements, /^(WriteAuditEvents|EncryptAuditEvents|SignAuditEvents)$/)).toEqual([
      { Sid: 'ReadParametersByPath', Effect: 'Allow', Action: 'ssm:GetParametersByPath', Resource: [param('eu-west-1', 'orders/prod'), param('eu-west-1', 'orders/prod/*')] },
      {
        Sid: 'DecryptSecureStrings',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': 'ssm.eu-west-1.amazonaws.com' }, StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': [param('eu-west-1', 'orders/prod/*')] } },
      },
      { Sid: 'ListSecrets', Effect: 'Allow', Action: 'secretsmanager:ListSecrets', Resource: '*' },
      { Sid: 'ReadSecretsByPrefix', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secret('eu-west-1', 'orders/prod/*') },
      { Sid: 'DecryptSecrets', Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } },
      { Sid: 'ReadStacks', Effect: 'Allow', Action: ['cloudformation:DescribeStacks', 'cloudformation:GetTemplate'], Resource: 'arn:<token>:cloudformation:eu-west-1:123456789012:stack/orders-app/*' },
      { Sid: 'WriteOwnSourcePrefixes', Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'], Resource: `${VAULT}/backups/orders-config/*` },
      { Sid: 'NeverWriteVerificationResults', Effect: 'Deny', Action: ['s3:DeleteObject', 's3:PutObject'], Resource: `${VAULT}/backups/orders-config/*/verifications/*` },
      { Sid: 'NeverHideCompletedBackups', Effect: 'Deny', Action: 's3:DeleteObject', Resource: `${VAULT}/backups/orders-config/*/manifest.json` },
      { Sid: 'ListVault', Effect: 'Allow', Action: 's3:ListBucket', Resource: VAULT },
      { Sid: 'GenerateBackupDataKeys', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: '<token>' },
      { Sid: 'CompleteSseKmsMultipartUploads', Effect: 'Allow', Action: 'kms:Decrypt', Resource: '<token>', Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } },
    ]);
    // No write of any parameter, secret or stack; no other source's folder.
    const actions = statements.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Action].flat());
    for (const action of actions) expect(action).not.toMatch(/^(ssm:Put|ssm:Delete|secretsmanager:(Put|Create|Update|Delete)|cloudformation:(Create|Update|Delete))/);
    for (const s of statements.filter((st) => st.Effect === 'Allow')) for (const r of [s.Resource].flat()) expect(r).not.toMatch(/\/backups\/(?!orders-config\/)/);
  });

  it('routes the source to its backup function on Lambda, tells the verifier only its id and kind, and keeps resolve-source out of its backups', () => {
    const [resolve] = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Lifeboat: how a source is backed up') } }));
    const routes = resolve!.Properties.Environment.Variables.LIFEBOAT_ROUTES as { 'Fn::Join': [string, unknown[]] };
    const text = routes['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
    expect(text).toMatch(/\{"id":"orders-config","method":"dump","dumpFunctionArn":"\{"Fn::GetAtt":\["BackupConfigBackupFunction[0-9A-F]{8}","Arn"\]\}","runner":"lambda"\}/);
    const resolveRole = statementsOf(lifeboat.primary, 'PipelineResolveSourceRole');
    expect(JSON.stringify(resolveRole)).not.toContain('orders-config');
    const verify = statementsOf(lifeboat.primary, 'PipelineVerifyRole');
    expect(JSON.stringify(bySid(verify, 'WriteVerificationResults'))).toContain(`${VAULT}/backups/orders-config/*/verifications/*`);
  });

  it('lets the DR step write back exactly the selected parameters and secrets, in the DR region its plan restores into, through SSM and Secrets Manager only', () => {
    const statements = statementsOf(lifeboat.primary, 'PlansDrStepRole');
    const restores = statements.filter((s) => /^Restore(?!Archived)|^CreateSecrets/.test(s.Sid ?? '')).map(({ Sid, Action, Resource, Condition }) => ({ Sid, Action, Resource, ...(Condition ? { Condition } : {}) }));
    expect(restores).toEqual([
      { Sid: 'RestoreParameters1', Action: ['ssm:GetParameter', 'ssm:PutParameter'], Resource: param('eu-central-1', 'orders/prod/*') },
      {
        Sid: 'RestoreSecureStrings1',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': 'ssm.eu-central-1.amazonaws.com' }, StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': [param('eu-central-1', 'orders/prod/*')] } },
      },
      {
        Sid: 'RestoreSecretsByPrefix1',
        Action: ['secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource', 'secretsmanager:UpdateSecretVersionStage'],
        Resource: secret('eu-central-1', 'orders/prod/*'),
      },
      { Sid: 'RestoreSecretKeys1', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*', Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-central-1.amazonaws.com' } } },
    ]);
  });
});
