import { Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

describe('audit trail grants from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  let ids: { vault: string; vaultKey: string; evidenceKey: string };
  beforeAll(() => {
    lifeboat = synthLifeboat();
    const stack = lifeboat.stacks.primary;
    const logical = (construct: { node: { defaultChild?: unknown } }) => Stack.of(stack).getLogicalId(construct.node.defaultChild as never);
    ids = { vault: logical(stack.vault.bucket), vaultKey: logical(stack.vaultKey.key), evidenceKey: logical(stack.evidenceKey!.key) };
  }, SYNTH_TIMEOUT_MS);

  function roleStatements(roleId: string): Statement[] {
    return Object.values(lifeboat.primary.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  }

  function functionOf(construct: { function: { node: { defaultChild?: unknown } }; role: { node: { defaultChild?: unknown } } }) {
    const stack = lifeboat.stacks.primary;
    return { fn: stack.getLogicalId(construct.function.node.defaultChild as never), role: stack.getLogicalId(construct.role.node.defaultChild as never) };
  }

  it('lets snapshot, copy, prune and both approval functions put audit/* only, encrypt through S3 with the vault key, and sign with the evidence key', () => {
    const pipeline = lifeboat.stacks.primary.pipeline!;
    const plans = lifeboat.stacks.primary.plans!;
    for (const construct of [pipeline.snapshot, pipeline.copy, pipeline.prune, plans.approvalEndpoint, plans.requestApproval]) {
      const { fn, role } = functionOf(construct);
      const audit = roleStatements(role).filter((s) => ['WriteAuditEvents', 'EncryptAuditEvents', 'SignAuditEvents'].includes(s.Sid ?? ''));
      expect(audit).toEqual([
        { Sid: 'WriteAuditEvents', Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.vault, 'Arn'] }, '/audit/*']] } },
        { Sid: 'EncryptAuditEvents', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: { 'Fn::GetAtt': [ids.vaultKey, 'Arn'] }, Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } },
        { Sid: 'SignAuditEvents', Effect: 'Allow', Action: 'kms:GenerateMac', Resource: { 'Fn::GetAtt': [ids.evidenceKey, 'Arn'] } },
      ]);
      const variables = lifeboat.primary.toJSON().Resources[fn].Properties.Environment.Variables as Record<string, unknown>;
      expect(variables['EVIDENCE_KEY_ARN']).toEqual({ 'Fn::GetAtt': [ids.evidenceKey, 'Arn'] });
    }
  });

  it('lets the DR step function and its Fargate task record restores and drill evidence with the same three statements, and tells it the evidence key', () => {
    const plans = lifeboat.stacks.primary.plans!;
    const stack = lifeboat.stacks.primary;
    const roles = [plans.drStep.role!, plans.drStepTask!.taskRole];
    for (const role of roles) {
      const audit = roleStatements(stack.getLogicalId(role.node.defaultChild as never)).filter((s) => ['WriteAuditEvents', 'EncryptAuditEvents', 'SignAuditEvents'].includes(s.Sid ?? ''));
      expect(audit).toEqual([
        { Sid: 'WriteAuditEvents', Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.vault, 'Arn'] }, '/audit/*']] } },
        { Sid: 'EncryptAuditEvents', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: { 'Fn::GetAtt': [ids.vaultKey, 'Arn'] }, Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } },
        { Sid: 'SignAuditEvents', Effect: 'Allow', Action: 'kms:GenerateMac', Resource: { 'Fn::GetAtt': [ids.evidenceKey, 'Arn'] } },
      ]);
    }
    const fn = stack.getLogicalId(plans.drStep.node.defaultChild as never);
    const variables = lifeboat.primary.toJSON().Resources[fn].Properties.Environment.Variables as Record<string, unknown>;
    expect(variables['EVIDENCE_KEY_ARN']).toEqual({ 'Fn::GetAtt': [ids.evidenceKey, 'Arn'] });
  });

  it('gives the dump and verify functions, and their Fargate task roles, exactly the same three statements', () => {
    const stack = lifeboat.stacks.primary;
    const roles = [
      ...stack.backup!.dumpFunctions.map((fn) => fn.role),
      ...[...new Set(stack.backup!.dumpTaskFor.values())].map((task) => task.taskRole),
      stack.pipeline!.verifyRole,
      stack.pipeline!.verifyTask.taskRole,
    ];
    expect(roles.length).toBeGreaterThanOrEqual(4);
    for (const role of roles) {
      const audit = roleStatements(stack.getLogicalId(role.node.defaultChild as never)).filter((s) => ['WriteAuditEvents', 'EncryptAuditEvents', 'SignAuditEvents'].includes(s.Sid ?? ''));
      expect(audit.map((s) => [s.Sid, s.Action])).toEqual([
        ['WriteAuditEvents', 's3:PutObject'],
        ['EncryptAuditEvents', 'kms:GenerateDataKey'],
        ['SignAuditEvents', 'kms:GenerateMac'],
      ]);
      expect(audit[0]!.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.vault, 'Arn'] }, '/audit/*']] });
      expect(audit[2]!.Resource).toEqual({ 'Fn::GetAtt': [ids.evidenceKey, 'Arn'] });
    }
    const dump = lifeboat.primary.toJSON().Resources[stack.getLogicalId(stack.backup!.dumpFunctions[0]!.function.node.defaultChild as never)];
    expect(dump.Properties.Environment.Variables.EVIDENCE_KEY_ARN).toEqual({ 'Fn::GetAtt': [ids.evidenceKey, 'Arn'] });
  });

  it('gives the writers only PutObject on audit/*, the report function only GetObject, and no other role any right there', () => {
    const stack = lifeboat.stacks.primary;
    const pipeline = stack.pipeline!;
    const writers = new Set([
      ...[pipeline.snapshot, pipeline.copy, pipeline.prune, stack.backup!.fileSetBackup!.function, stack.backup!.configBackup!.function, stack.plans!.approvalEndpoint, stack.plans!.requestApproval].map((c) => functionOf(c).role),
      ...[...stack.backup!.dumpFunctions.map((fn) => fn.role), ...[...stack.backup!.dumpTaskFor.values()].map((t) => t.taskRole), pipeline.verifyRole, pipeline.verifyTask.taskRole, pipeline.copyTask.taskRole, stack.plans!.drStep.role!, stack.plans!.drStepTask!.taskRole].map((role) => stack.getLogicalId(role.node.defaultChild as never)),
    ]);
    const reader = stack.getLogicalId(stack.report!.function.function.role!.node.defaultChild as never);
    const policies = Object.values(lifeboat.primary.findResources('AWS::IAM::Policy'));
    for (const policy of policies) {
      const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
      for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
        const text = JSON.stringify(statement.Resource);
        if (!text.includes('/audit/')) continue;
        if (roles.every((r) => r === reader)) {
          // The compliance report reads the trail; it writes nothing there.
          expect(statement.Action).toBe('s3:GetObject');
        } else {
          expect(statement.Action).toBe('s3:PutObject');
          expect(roles.every((r) => writers.has(r))).toBe(true);
        }
      }
    }
  });
});
