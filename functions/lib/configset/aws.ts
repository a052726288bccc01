/**
 * Binds the ports of ./apis.ts to the AWS SDK. `@aws-sdk/client-ssm` and `@aws-sdk/client-cloudformation`
 * are loaded when first used, by name, so that this build compiles and runs its Secrets Manager part
 * without them; a config source that reads SSM or CloudFormation fails with a ConfigError naming the
 * package until it is installed (package.json: both at the version of the other 3.11xx clients).
 */
import { ConfigError } from '../errors.ts';
import type { CloudFormationApi, SsmApi, SsmParameter } from './apis.ts';

type Command = new (input: unknown) => unknown;
interface SdkClient {
  send(command: unknown): Promise<unknown>;
}
type ClientModule = Record<string, unknown>;

async function loadClientModule(name: string): Promise<ClientModule> {
  try {
    return (await import(/* @vite-ignore */ name)) as ClientModule;
  } catch (cause) {
    throw new ConfigError(`Configuration backups of this kind need the npm package ${name}, which this installation lacks`, { cause });
  }
}

function constructor<T>(module: ClientModule, name: string): T {
  const value = module[name];
  if (typeof value !== 'function') throw new ConfigError(`The installed package does not export ${name}`);
  return value as T;
}

const SSM_PACKAGE: string = '@aws-sdk/client-ssm';
const CLOUDFORMATION_PACKAGE: string = '@aws-sdk/client-cloudformation';

/** SSM in `region` through `@aws-sdk/client-ssm` (GetParametersByPath, GetParameter, PutParameter). */
export async function ssmApi(region: string): Promise<SsmApi> {
  const sdk = await loadClientModule(SSM_PACKAGE);
  const client = new (constructor<new (config: { region: string }) => SdkClient>(sdk, 'SSMClient'))({ region });
  const send = (name: string, input: unknown) => client.send(new (constructor<Command>(sdk, name))(input));
  return {
    getParametersByPath: async (input) => (await send('GetParametersByPathCommand', input)) as { Parameters?: SsmParameter[]; NextToken?: string },
    getParameter: async (input) => {
      try {
        return ((await send('GetParameterCommand', input)) as { Parameter?: SsmParameter }).Parameter;
      } catch (error) {
        if ((error as Error).name === 'ParameterNotFound') return undefined;
        throw error;
      }
    },
    putParameter: async (input) => (await send('PutParameterCommand', input)) as { Version?: number },
  };
}

/** CloudFormation in `region` through `@aws-sdk/client-cloudformation` (DescribeStacks, GetTemplate). */
export async function cloudFormationApi(region: string): Promise<CloudFormationApi> {
  const sdk = await loadClientModule(CLOUDFORMATION_PACKAGE);
  const client = new (constructor<new (config: { region: string }) => SdkClient>(sdk, 'CloudFormationClient'))({ region });
  const send = (name: string, input: unknown) => client.send(new (constructor<Command>(sdk, name))(input));
  return {
    describeStacks: async (input) => (await send('DescribeStacksCommand', input)) as Awaited<ReturnType<CloudFormationApi['describeStacks']>>,
    getTemplate: async (input) => (await send('GetTemplateCommand', input)) as { TemplateBody?: string },
  };
}
