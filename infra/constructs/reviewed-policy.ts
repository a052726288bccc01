import { type IAspect, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * How cdk-nag names a resource in a finding: tokens as `<LogicalId.Attr>`, references and pseudo parameters
 * as `<LogicalId>` and `<AWS::Partition>`, e.g. `<VaultBucket0925C477.Arn>/backups/orders-db/*`.
 */
export function nagResourceName(scope: iam.IRole, resource: string): string {
  if (!Token.isUnresolved(resource)) return resource;
  return nagName(Stack.of(scope).resolve(resource));
}

/** {@link nagResourceName} of a value already resolved to CloudFormation (a string, `Ref`, `Fn::GetAtt` or `Fn::Join`). */
export function nagName(resolved: unknown): string {
  if (typeof resolved === 'string') return resolved;
  const intrinsic = resolved as Record<string, unknown>;
  if ('Ref' in intrinsic) return `<${String(intrinsic.Ref)}>`;
  if ('Fn::GetAtt' in intrinsic) return `<${(intrinsic['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(nagName).join(separator);
  }
  throw new Error(`nagResourceName: cannot render ${JSON.stringify(resolved)}`);
}

/** A statement of a Lambda role's own, with the reason for its wildcard resource when it has one: its Fargate task role gets the same. */
export interface GrantedStatement {
  readonly statement: iam.PolicyStatement;
  readonly wildcardReason?: string;
}

/**
 * A role's inline policy built statement by statement, where every wildcard resource comes with the reason
 * it is there, recorded at once as a cdk-nag acknowledgement on the role's policy: the reviewed exceptions
 * sit next to the statements they excuse, and a wildcard without a reason fails the synth.
 *
 * @example
 * const policy = new ReviewedPolicy(role, 'Scoped to this function alone; a managed policy would be shared.');
 * policy.add(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects('backups/a/*')] }), 'New objects under its own prefix.');
 */
export class ReviewedPolicy {
  constructor(
    private readonly role: iam.Role,
    /** Why an inline policy (NIST's IAMNoInlinePolicy): acknowledged once the policy exists. */
    private readonly inlineReason: string,
  ) {}

  /** Adds the statement; a statement with a wildcard resource needs the reason it cannot be narrower. */
  add(statement: iam.PolicyStatement, wildcardReason?: string): void {
    this.role.addToPolicy(statement);
    const names = statement.resources.map((resource) => nagResourceName(this.role, resource)).filter((name) => name.includes('*'));
    if (names.length > 0 && !wildcardReason) {
      throw new Error(`ReviewedPolicy ${this.role.node.path}: statement ${statement.sid ?? ''} has wildcard resources (${names.join(', ')}) but no reason`);
    }
    this.acknowledge(names, wildcardReason ?? '');
  }

  /** Acknowledges wildcard resources that statements added elsewhere (by CDK's own grants) put in the policy. */
  acknowledge(names: readonly string[], reason: string): void {
    const policy = this.role.node.findChild('DefaultPolicy');
    Validations.of(policy).acknowledge(
      { id: 'NIST.800.53.R5::NIST.800.53.R5-IAMNoInlinePolicy', reason: this.inlineReason },
      ...names.map((name) => ({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${name}]`, reason })),
    );
  }
}

/**
 * Makes every acknowledgement follow the statement it excuses when CDK splits a role's large inline policy: the
 * statements CDK moves into `OverflowPolicy<n>` managed policies (at synth, in an aspect of the role) keep the
 * acknowledgements the role's `DefaultPolicy` has for their resources and actions, with the same written reasons.
 * Only acknowledgements naming a resource or action of the moved statements follow; the inline-policy one does
 * not, since the overflow policy is a managed policy. Registered by `addComplianceChecks` after CDK's own aspects.
 */
export class OverflowPolicyAcknowledgements implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof iam.ManagedPolicy) || !/^OverflowPolicy\d+$/.test(node.node.id)) return;
    const role = node.node.scope;
    if (!(role instanceof iam.Role)) return;
    const inline = role.node.tryFindChild('DefaultPolicy');
    if (inline === undefined) return;
    const moved = statementSubjects(Stack.of(node).resolve(node.document.toJSON()));
    const follow = [...acknowledgementsOn(inline)].filter(([id]) => {
      const subject = /\[(.+)\]$/.exec(id)?.[1];
      return subject !== undefined && moved.has(subject);
    });
    if (follow.length > 0) Validations.of(node).acknowledge(...follow.map(([id, reason]) => ({ id, reason })));
  }
}

/** `Resource::<name>` and `Action::<action>` for every statement of a resolved policy document, as cdk-nag names findings. */
function statementSubjects(document: unknown): Set<string> {
  const subjects = new Set<string>();
  const list = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
  for (const statement of list((document as { Statement?: unknown } | undefined)?.Statement) as Record<string, unknown>[]) {
    for (const resource of list(statement['Resource'])) subjects.add(`Resource::${nagName(resource)}`);
    for (const action of list(statement['Action'])) subjects.add(`Action::${String(action)}`);
  }
  return subjects;
}

/** The acknowledgements recorded on a construct and its children (rule id → reason), as cdk-nag reads them. */
function acknowledgementsOn(scope: IConstruct): Map<string, string> {
  const found = new Map<string, string>();
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || typeof entry.data !== 'object' || entry.data === null) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) found.set(id, String(reason));
    }
  }
  return found;
}
