// The verification key (issue 12): only the verifier (the verify function's role and its Fargate task's role) may sign
// with it; the readers that decide with verification results (retention, freshness, the report, the DR step and its
// task) may only check; no other role, and above all no role that writes backups, may use it at all.
import { beforeAll, describe, expect, it } from 'vitest';
import { ordersRestoreConfig, synthLifeboat, usesOfKey, type SynthesizedLifeboat } from './support.ts';

describe('the verification key', () => {
  let lifeboat: SynthesizedLifeboat;
  let keyId: string;
  beforeAll(() => {
    lifeboat = synthLifeboat(ordersRestoreConfig());
    keyId = lifeboat.stacks.primary.getLogicalId(lifeboat.stacks.primary.verificationKey!.key.node.defaultChild as never);
  });

  it('is an HMAC key of its own, separate from the evidence key the dump functions sign audit events with', () => {
    const key = lifeboat.primary.findResources('AWS::KMS::Key')[keyId]!;
    expect(key.Properties).toMatchObject({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    expect(key.Properties.Description).toMatch(/verification results; only the verifier may sign/);
    expect(keyId).not.toBe(lifeboat.stacks.primary.getLogicalId(lifeboat.stacks.primary.evidenceKey!.key.node.defaultChild as never));
    // The CLI's --verification-key is this output.
    expect(lifeboat.primary.findOutputs('VerificationKeyArn')['VerificationKeyArn']?.Value).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
  });

  it('may be signed with by the verifier alone, and checked by the readers that decide with results', () => {
    const uses = usesOfKey(lifeboat.primary, keyId);
    expect(uses).toEqual([
      'Lifeboat DR step function → Allow:kms:VerifyMac',
      'Lifeboat dr-step task: DR plan steps (restore-dump, validate) allowed longer than a Lambda invocation → Allow:kms:VerifyMac',
      'Lifeboat freshness function → Allow:kms:VerifyMac',
      'Lifeboat prune function → Allow:kms:VerifyMac',
      'Lifeboat report function → Allow:kms:VerifyMac',
      'Lifeboat verify function → Allow:kms:GenerateMac Allow:kms:VerifyMac',
      'Lifeboat verify task: verification of backups taken on Fargate → Allow:kms:GenerateMac Allow:kms:VerifyMac',
    ]);
    // The writers of backups (dump functions and tasks, snapshot, copy) are not in the list: they cannot use it at all.
  });

  it('is named to every function that reads or writes results, and to no writer of backups', () => {
    const withKey = Object.values(lifeboat.primary.findResources('AWS::Lambda::Function'))
      .filter((fn) => JSON.stringify(fn.Properties.Environment?.Variables?.VERIFICATION_KEY_ARN ?? null).includes(keyId))
      .map((fn) => fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME as string)
      .sort();
    expect(withKey).toEqual(['lifeboat-dr-step', 'lifeboat-freshness', 'lifeboat-prune', 'lifeboat-report', 'lifeboat-verify']);
  });
});
