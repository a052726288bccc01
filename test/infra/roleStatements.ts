/** A role's IAM statements from a synthesized template, with the vault buckets' ARNs written as <vault> and <dr-vault>. */
import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';

export const VAULT = '<vault>';
export const DR_VAULT = '<dr-vault>';

export interface Statement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: unknown;
}

/** A role's statements with the vault buckets' ARNs written as <vault> and <dr-vault>, other tokens as <token>. */
export function statementsOf(template: Template, rolePrefix: string): Statement[] {
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const vaultId = Object.keys(resources).find((id) => id.startsWith('VaultBucket') && resources[id]!.Type === 'AWS::S3::Bucket')!;
  const roleId = Object.keys(resources).find((id) => id.startsWith(rolePrefix) && resources[id]!.Type === 'AWS::IAM::Role')!;
  expect(roleId, `no role ${rolePrefix}`).toBeDefined();
  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (v['Fn::Join']) {
      const text = (v['Fn::Join'] as [string, unknown[]])[1].map(resolve).join((v['Fn::Join'] as [string])[0]);
      return text.replace(/^arn:<token>:s3:::lifeboat-<token>-eu-central-1/, DR_VAULT);
    }
    if (v['Fn::GetAtt'] && (v['Fn::GetAtt'] as string[])[0] === vaultId) return VAULT;
    if (v['Ref'] === 'AWS::Partition' || v['Ref'] === 'AWS::AccountId') return '<token>';
    return '<token>';
  };
  const list = (value: unknown) => (Array.isArray(value) ? value.map(resolve) : resolve(value));
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
    .map((st) => ({ ...st, Resource: list(st.Resource) as string | string[], ...(st.Condition ? { Condition: resolveDeep(st.Condition, resolve) } : {}) }));
}

export const bySid = (statements: readonly Statement[], sid: string) => statements.find((s) => s.Sid === sid);

/** A condition's values resolved like resources (an ARN built with the partition reads `arn:<token>:…`). */
function resolveDeep(value: unknown, resolve: (value: unknown) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveDeep(v, resolve));
  if (value && typeof value === 'object') {
    if ('Fn::Join' in value || 'Fn::GetAtt' in value || 'Ref' in value) return resolve(value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveDeep(v, resolve)]));
  }
  return value;
}
