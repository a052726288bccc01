// The DR evidence key (issue 12): only the DR step role (its Lambda and its Fargate task) may sign plan evidence with it;
// the readers that say whether a plan was drilled (freshness and the report) may only check; no other role may use it.
import { beforeAll, describe, expect, it } from 'vitest';
import { ordersRestoreConfig, synthLifeboat, usesOfKey, type SynthesizedLifeboat } from './support.ts';

describe('the DR evidence key', () => {
  let lifeboat: SynthesizedLifeboat;
  let keyId: string;
  beforeAll(() => {
    lifeboat = synthLifeboat(ordersRestoreConfig());
    keyId = lifeboat.stacks.primary.getLogicalId(lifeboat.stacks.primary.drEvidenceKey!.key.node.defaultChild as never);
  });

  it('is an HMAC key of its own, separate from the evidence key every function signs audit events with', () => {
    const key = lifeboat.primary.findResources('AWS::KMS::Key')[keyId]!;
    expect(key.Properties).toMatchObject({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    expect(key.Properties.Description).toMatch(/DR plan evidence; only the DR step function may sign/);
    const others = [lifeboat.stacks.primary.evidenceKey!, lifeboat.stacks.primary.verificationKey!].map((k) => lifeboat.stacks.primary.getLogicalId(k.key.node.defaultChild as never));
    expect(others).not.toContain(keyId);
    // The CLI's --dr-evidence-key is this output.
    expect(lifeboat.primary.findOutputs('DrEvidenceKeyArn')['DrEvidenceKeyArn']?.Value).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
  });

  it('may be signed with by the DR step role alone, and checked by freshness and the report', () => {
    expect(usesOfKey(lifeboat.primary, keyId)).toEqual([
      'Lifeboat DR step function → Allow:kms:GenerateMac Allow:kms:VerifyMac',
      'Lifeboat dr-step task: DR plan steps (restore-dump, validate) allowed longer than a Lambda invocation → Allow:kms:GenerateMac Allow:kms:VerifyMac',
      'Lifeboat freshness function → Allow:kms:VerifyMac',
      'Lifeboat report function → Allow:kms:VerifyMac',
    ]);
  });

  it('is named to the functions that sign or read evidence, and the DR step task has it too', () => {
    const withKey = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function'))
      .filter((fn) => JSON.stringify(fn.Properties.Environment?.Variables?.DR_EVIDENCE_KEY_ARN ?? null).includes(keyId))
      .map((fn) => fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME as string)
      .sort();
    expect(withKey).toEqual(['lifeboat-dr-step', 'lifeboat-freshness', 'lifeboat-report']);
    const tasks = Object.values(lifeboat.primary.findResources('AWS::ECS::TaskDefinition')).filter((t) => /dr-?step/i.test(String(t.Properties.Family)));
    expect(tasks).toHaveLength(1);
    expect(JSON.stringify(tasks[0]!.Properties.ContainerDefinitions[0].Environment)).toContain('DR_EVIDENCE_KEY_ARN');
  });
});
