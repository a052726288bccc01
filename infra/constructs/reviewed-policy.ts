import { Stack, Token, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';

/**
 * How cdk-nag names a resource in a finding: tokens as `<LogicalId.Attr>`, references and pseudo parameters
 * as `<LogicalId>` and `<AWS::Partition>`, e.g. `<VaultBucket0925C477.Arn>/backups/orders-db/*`.
 */
export function nagResourceName(scope: iam.IRole, resource: string): string {
  if (!Token.isUnresolved(resource)) return resource;
  const render = (part: unknown): string => {
    if (typeof part === 'string') return part;
    const intrinsic = part as Record<string, unknown>;
    if ('Ref' in intrinsic) return `<${String(intrinsic.Ref)}>`;
    if ('Fn::GetAtt' in intrinsic) return `<${(intrinsic['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in intrinsic) {
      const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    throw new Error(`nagResourceName: cannot render ${JSON.stringify(part)}`);
  };
  return render(Stack.of(scope).resolve(resource));
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
