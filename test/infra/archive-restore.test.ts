// Restores from archive: exactly the roles that read backups for verification or a DR plan (the verify function,
// the verify task, the DR step function) may s3:RestoreObject, and only on what they may read; writers may not.
import { beforeAll, describe, expect, it } from 'vitest';
import { snapshotPlanConfig, synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };

/** Every statement that grants s3:RestoreObject, by the role's logical id. */
function restoreGrants(lifeboat: SynthesizedLifeboat): Map<string, Statement[]> {
  const grants = new Map<string, Statement[]>();
  for (const policy of Object.values(lifeboat.primary.findResources('AWS::IAM::Policy'))) {
    const statements = (policy.Properties.PolicyDocument.Statement as Statement[]).filter((s) => [s.Action].flat().some((a) => a === 's3:RestoreObject' || a === 's3:*' || a === 's3:Restore*'));
    if (statements.length === 0) continue;
    for (const role of policy.Properties.Roles as { Ref: string }[]) grants.set(role.Ref, [...(grants.get(role.Ref) ?? []), ...statements]);
  }
  return grants;
}

function roleOfFunction(lifeboat: SynthesizedLifeboat, serviceName: string): string {
  const functions = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: serviceName } } } }));
  expect(functions).toHaveLength(1);
  return functions[0]!.Properties.Role['Fn::GetAtt'][0];
}

describe('s3:RestoreObject', () => {
  let lifeboat: SynthesizedLifeboat;
  let vaultRef: string;
  beforeAll(() => {
    lifeboat = synthLifeboat(snapshotPlanConfig());
    vaultRef = lifeboat.stacks.primary.resolve(lifeboat.stacks.primary.vault.bucket.bucketArn)['Fn::GetAtt'][0];
  }, SYNTH_TIMEOUT_MS);

  const objects = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [vaultRef, 'Arn'] }, `/${prefix}`]] });

  it('the verify function may restore the dump sources\' backups from archive, and only those', () => {
    const role = roleOfFunction(lifeboat, 'lifeboat-verify');

    expect(restoreGrants(lifeboat).get(role)).toEqual([
      { Sid: 'RestoreArchivedDumps', Effect: 'Allow', Action: 's3:RestoreObject', Resource: [objects('backups/billing-db/*'), objects('backups/orders-config/*'), objects('backups/orders-db/*'), objects('backups/sessions-cache/*')] },
    ]);
  });

  it('the DR step function may restore backups from archive in either vault, as far as it may read them', () => {
    const role = roleOfFunction(lifeboat, 'lifeboat-dr-step');

    expect(restoreGrants(lifeboat).get(role)).toEqual([
      {
        Sid: 'RestoreArchivedBackups',
        Effect: 'Allow',
        Action: 's3:RestoreObject',
        // CloudFormation's order: the DR vault (named, in eu-central-1) first.
        Resource: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::lifeboat-', { Ref: 'AWS::AccountId' }, '-eu-central-1/backups/*']] }, objects('backups/*')],
      },
    ]);
  });

  it('no other role may: the verify and DR-step tasks have their functions\' grants, and writers (dump, snapshot, copy, prune) have none', () => {
    const grants = restoreGrants(lifeboat);
    const verifyRole = roleOfFunction(lifeboat, 'lifeboat-verify');
    const drStepRole = roleOfFunction(lifeboat, 'lifeboat-dr-step');
    const others = [...grants.keys()].filter((role) => role !== verifyRole && role !== drStepRole).sort();

    expect(others).toHaveLength(2);
    const [drStepTask, verifyTask] = others as [string, string];
    expect(drStepTask).toMatch(/DrStepTask/);
    expect(grants.get(drStepTask)).toEqual(grants.get(drStepRole));
    expect(verifyTask).toMatch(/VerifyTask/);
    expect(grants.get(verifyTask)).toEqual(grants.get(verifyRole));
  });
});
