/**
 * The AWS calls a configuration backup makes, as ports. Secrets Manager is called through its SDK client
 * directly. SSM and CloudFormation are described here by the exact request and response fields the
 * engine uses (named as the SDK names them), so that binding them to `@aws-sdk/client-ssm` and
 * `@aws-sdk/client-cloudformation` is one `client.send(new XCommand(input))` per method (see ./aws.ts).
 */
import type { ParameterType } from './items.ts';

export interface SsmParameter {
  readonly Name?: string;
  readonly Type?: string;
  readonly Value?: string;
  readonly Version?: number;
  readonly LastModifiedDate?: Date;
  readonly DataType?: string;
}

export interface GetParametersByPathInput {
  readonly Path: string;
  readonly Recursive: true;
  readonly WithDecryption: true;
  readonly MaxResults: number;
  readonly NextToken?: string;
}

export interface PutParameterInput {
  readonly Name: string;
  readonly Value: string;
  readonly Type: ParameterType;
  readonly Overwrite: boolean;
  readonly DataType?: string;
  /** SecureString only: the target's KMS key; absent means the account's `alias/aws/ssm`. */
  readonly KeyId?: string;
  /** `Advanced` for a value over 4 KB, which the Standard tier refuses. */
  readonly Tier?: 'Standard' | 'Advanced';
}

/** SSM Parameter Store, as the backup (read) and the restore (read the target, write) use it. */
export interface SsmApi {
  getParametersByPath(input: GetParametersByPathInput): Promise<{ Parameters?: SsmParameter[]; NextToken?: string }>;
  /** Resolves to `undefined` for a parameter that does not exist (the binding maps ParameterNotFound). */
  getParameter(input: { readonly Name: string; readonly WithDecryption: true }): Promise<SsmParameter | undefined>;
  putParameter(input: PutParameterInput): Promise<{ Version?: number }>;
}

export interface CloudFormationStack {
  readonly StackName?: string;
  readonly StackId?: string;
  readonly Parameters?: { readonly ParameterKey?: string; readonly ParameterValue?: string }[];
  readonly Capabilities?: string[];
  readonly Tags?: { readonly Key?: string; readonly Value?: string }[];
  readonly LastUpdatedTime?: Date;
  readonly CreationTime?: Date;
}

/** CloudFormation, read only: a stack's description and its original template. */
export interface CloudFormationApi {
  describeStacks(input: { readonly StackName: string }): Promise<{ Stacks?: CloudFormationStack[] }>;
  getTemplate(input: { readonly StackName: string; readonly TemplateStage: 'Original' }): Promise<{ TemplateBody?: string }>;
}
