/**
 * Binds the ports of ./apis.ts to the AWS SDK: one `client.send(new XCommand(input))` per method, through
 * `@aws-sdk/client-ssm` and `@aws-sdk/client-cloudformation` (imported statically, like every other client).
 */
import { CloudFormationClient, DescribeStacksCommand, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterCommand, GetParametersByPathCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { CloudFormationApi, SsmApi } from './apis.ts';

/** SSM in `region` (GetParametersByPath, GetParameter, PutParameter). */
export function ssmApi(region: string): SsmApi {
  const client = new SSMClient({ region });
  return {
    getParametersByPath: async (input) => {
      const { Parameters, NextToken } = await client.send(new GetParametersByPathCommand(input));
      return { ...(Parameters ? { Parameters } : {}), ...(NextToken ? { NextToken } : {}) };
    },
    getParameter: async (input) => {
      try {
        return (await client.send(new GetParameterCommand(input))).Parameter;
      } catch (error) {
        if ((error as Error).name === 'ParameterNotFound') return undefined;
        throw error;
      }
    },
    putParameter: async (input) => {
      const { Version } = await client.send(new PutParameterCommand(input));
      return Version === undefined ? {} : { Version };
    },
  };
}

/** CloudFormation in `region`, read only (DescribeStacks, GetTemplate). */
export function cloudFormationApi(region: string): CloudFormationApi {
  const client = new CloudFormationClient({ region });
  return {
    describeStacks: async (input) => {
      const { Stacks } = await client.send(new DescribeStacksCommand(input));
      return Stacks ? { Stacks } : {};
    },
    getTemplate: async (input) => {
      const { TemplateBody } = await client.send(new GetTemplateCommand(input));
      return TemplateBody === undefined ? {} : { TemplateBody };
    },
  };
}
