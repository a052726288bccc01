// A vault one administrator cannot destroy: with vault.breakGlassRoleArn set, the vault bucket policies and the
// vault key policies of both regions deny everyone else the actions that unlock, erase or disable backups (exact
// statements), and the config refuses anything that is not a role ARN.
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat } from './support.ts';

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/lifeboat-break-glass';

const bucketDeny = (bucketRef: string) => ({
  Sid: 'OnlyBreakGlassMayUnlock',
  Effect: 'Deny',
  Principal: { AWS: '*' },
  // In CloudFormation's (sorted) order.
  Action: [
    's3:BypassGovernanceRetention',
    's3:DeleteBucketPolicy',
    's3:DeleteObjectVersion',
    's3:PutBucketObjectLockConfiguration',
    's3:PutBucketPolicy',
    's3:PutObjectLegalHold',
    's3:PutObjectRetention',
  ],
  Resource: [{ 'Fn::GetAtt': [bucketRef, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketRef, 'Arn'] }, '/*']] }],
  Condition: { ArnNotEquals: { 'aws:PrincipalArn': BREAK_GLASS } },
});

const keyDeny = {
  Sid: 'OnlyBreakGlassMayDestroyKey',
  Effect: 'Deny',
  Principal: { AWS: '*' },
  Action: ['kms:DisableKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
  Resource: '*',
  Condition: { ArnNotEquals: { 'aws:PrincipalArn': BREAK_GLASS } },
};

type Statement = { Sid?: string; Effect: string };

function vaultPolicyStatements(lifeboat: SynthesizedLifeboat, region: 'primary' | 'dr'): { bucketRef: string; statements: Statement[] } {
  const template = lifeboat[region];
  const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')).filter((p) => /^VaultBucket/.test(p.Properties.Bucket.Ref));
  expect(policies).toHaveLength(1);
  return { bucketRef: policies[0]!.Properties.Bucket.Ref, statements: policies[0]!.Properties.PolicyDocument.Statement };
}

function vaultKeyStatements(lifeboat: SynthesizedLifeboat, region: 'primary' | 'dr'): Statement[] {
  const template = lifeboat[region];
  const keys = region === 'primary' ? Object.values(template.findResources('AWS::KMS::Key', { Properties: { MultiRegion: true } })) : Object.values(template.findResources('AWS::KMS::ReplicaKey'));
  expect(keys).toHaveLength(1);
  return keys[0]!.Properties.KeyPolicy.Statement;
}

describe('with vault.breakGlassRoleArn', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(
      exampleConfig((raw) => {
        raw.vault = { ...raw.vault, breakGlassRoleArn: BREAK_GLASS };
      }),
    );
  });

  it.each(['primary', 'dr'] as const)('%s: the vault bucket policy denies everyone but the break-glass role exactly the unlocking actions', (region) => {
    const { bucketRef, statements } = vaultPolicyStatements(lifeboat, region);
    const denies = statements.filter((s) => s.Effect === 'Deny' && s.Sid === 'OnlyBreakGlassMayUnlock');

    expect(denies).toEqual([bucketDeny(bucketRef)]);
  });

  it.each(['primary', 'dr'] as const)('%s: the vault key policy denies everyone but the break-glass role disabling, deleting or re-policying the key', (region) => {
    const statements = vaultKeyStatements(lifeboat, region);

    expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([keyDeny]);
  });
});

describe('without vault.breakGlassRoleArn', () => {
  it('adds no break-glass statement to either region (the README says who can then destroy backups)', () => {
    const lifeboat = synthLifeboat();
    for (const region of ['primary', 'dr'] as const) {
      expect(vaultPolicyStatements(lifeboat, region).statements.map((s) => s.Sid)).not.toContain('OnlyBreakGlassMayUnlock');
      expect(vaultKeyStatements(lifeboat, region).filter((s) => s.Effect === 'Deny')).toEqual([]);
    }
  });
});

describe('the setting', () => {
  it.each(['arn:aws:iam::123456789012:user/admin', 'lifeboat-break-glass', 'arn:aws:iam::12345:role/x'])('refuses %s, naming the field', (value) => {
    expect(() => exampleConfig((raw) => (raw.vault = { ...raw.vault, breakGlassRoleArn: value }))).toThrow(/vault\.breakGlassRoleArn: must be an IAM role ARN/);
  });
});
