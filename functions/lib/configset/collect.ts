/**
 * Reads the configured items from their sources of truth, one at a time, so the payload streams: SSM
 * parameters by path (recursive, decrypted), Secrets Manager secrets by name prefix or tag (every
 * labelled version), CloudFormation stacks (original template and parameters).
 */
import { GetSecretValueCommand, ListSecretsCommand, type Filter, type SecretListEntry, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.ts';
import type { CloudFormationApi, SsmApi } from './apis.ts';
import { ConfigReadFailedError, describeAwsError } from './errors.ts';
import type { ConfigItem, ParameterItem, ParameterType, SecretItem, SecretVersion, StackItem, StackParameter } from './items.ts';

/** What one config source backs up (the config file's `kind: "config"` source, or the CLI's flags). */
export interface ConfigSelection {
  /** SSM paths, each read recursively, e.g. `/orders/prod/`. */
  readonly ssmPaths: readonly string[];
  /** Secrets whose name starts with one of these. */
  readonly secretPrefixes: readonly string[];
  /** Secrets carrying this tag (and value, when given). */
  readonly secretTags: readonly { readonly key: string; readonly value?: string }[];
  /** CloudFormation stack names. */
  readonly stacks: readonly string[];
}

export interface ConfigClients {
  readonly ssm?: SsmApi;
  readonly secrets?: SecretsManagerClient;
  readonly cloudFormation?: CloudFormationApi;
}

/** CloudFormation's answer for a NoEcho parameter in DescribeStacks. */
export const NO_ECHO_MASK = '****';
const PARAMETER_TYPES: readonly ParameterType[] = ['String', 'StringList', 'SecureString'];

export function selectionSize(selection: ConfigSelection): number {
  return selection.ssmPaths.length + selection.secretPrefixes.length + selection.secretTags.length + selection.stacks.length;
}

/** Every selected item: parameters by name, then secrets by name, then stacks in the order given. */
export async function* collectConfigItems(selection: ConfigSelection, clients: ConfigClients): AsyncGenerator<ConfigItem> {
  if (selectionSize(selection) === 0) throw new ConfigError('A config source must select something: ssmPaths, secretPrefixes, secretTags or stacks');
  if (selection.ssmPaths.length > 0) yield* collectParameters(selection.ssmPaths, need(clients.ssm, 'SSM'));
  if (selection.secretPrefixes.length + selection.secretTags.length > 0) {
    yield* collectSecrets(selection, need(clients.secrets, 'Secrets Manager'));
  }
  for (const stack of selection.stacks) yield await readStack(stack, need(clients.cloudFormation, 'CloudFormation'));
}

function need<T>(client: T | undefined, what: string): T {
  if (!client) throw new ConfigError(`This config source reads ${what}, but no ${what} client was given`);
  return client;
}

/** GetParametersByPath per path (Recursive, WithDecryption), paged; a parameter under two paths is kept once. */
export async function* collectParameters(paths: readonly string[], ssm: SsmApi): AsyncGenerator<ParameterItem> {
  const seen = new Set<string>();
  for (const given of paths) {
    // `/orders/prod/` and `/orders/prod` name the same hierarchy; SSM's own form has no trailing slash.
    const path = given.length > 1 ? given.replace(/\/+$/, '') : given;
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await ssm.getParametersByPath({ Path: path, Recursive: true, WithDecryption: true, MaxResults: 10, ...(nextToken ? { NextToken: nextToken } : {}) });
      } catch (error) {
        throw new ConfigReadFailedError(`Reading SSM parameters under ${path} failed: ${describeAwsError(error)}`, { cause: error });
      }
      const parameters = [...(page.Parameters ?? [])].sort((a, b) => (a.Name! < b.Name! ? -1 : 1));
      for (const parameter of parameters) {
        if (!parameter.Name || seen.has(parameter.Name)) continue;
        seen.add(parameter.Name);
        const type = parameter.Type as ParameterType;
        if (!PARAMETER_TYPES.includes(type) || parameter.Value === undefined || parameter.Version === undefined) {
          throw new ConfigReadFailedError(`SSM returned parameter ${parameter.Name} without a known Type, a Value and a Version`);
        }
        yield {
          record: 'ssm-parameter',
          name: parameter.Name,
          type,
          value: parameter.Value,
          version: parameter.Version,
          ...(parameter.DataType ? { dataType: parameter.DataType } : {}),
          ...(parameter.LastModifiedDate ? { lastModified: parameter.LastModifiedDate.toISOString() } : {}),
        };
      }
      nextToken = page.NextToken;
    } while (nextToken);
  }
}

/**
 * ListSecrets per prefix (filter `name`) and per tag (filters `tag-key`, `tag-value`; the pair is checked
 * again on the answer, since the service matches key and value independently), then GetSecretValue for
 * every version that carries a staging label. Versions without a label are deprecated and not kept.
 */
export async function* collectSecrets(selection: Pick<ConfigSelection, 'secretPrefixes' | 'secretTags'>, client: SecretsManagerClient): AsyncGenerator<SecretItem> {
  const found = new Map<string, SecretListEntry>();
  const list = async (filters: Filter[], what: string, keep: (entry: SecretListEntry) => boolean) => {
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new ListSecretsCommand({ Filters: filters, MaxResults: 100, ...(nextToken ? { NextToken: nextToken } : {}) }));
      } catch (error) {
        throw new ConfigReadFailedError(`Listing secrets ${what} failed: ${describeAwsError(error)}`, { cause: error });
      }
      for (const entry of page.SecretList ?? []) if (entry.ARN && entry.Name && keep(entry)) found.set(entry.ARN, entry);
      nextToken = page.NextToken;
    } while (nextToken);
  };
  for (const prefix of selection.secretPrefixes) {
    await list([{ Key: 'name', Values: [prefix] }], `named ${prefix}*`, (entry) => entry.Name!.startsWith(prefix));
  }
  for (const tag of selection.secretTags) {
    const filters: Filter[] = [{ Key: 'tag-key', Values: [tag.key] }, ...(tag.value === undefined ? [] : [{ Key: 'tag-value' as const, Values: [tag.value] }])];
    const what = `tagged ${tag.key}${tag.value === undefined ? '' : `=${tag.value}`}`;
    await list(filters, what, (entry) => (entry.Tags ?? []).some((t) => t.Key === tag.key && (tag.value === undefined || t.Value === tag.value)));
  }
  const entries = [...found.values()].sort((a, b) => (a.Name! < b.Name! ? -1 : 1));
  for (const entry of entries) yield await readSecret(entry, client);
}

async function readSecret(entry: SecretListEntry, client: SecretsManagerClient): Promise<SecretItem> {
  const labelled = Object.entries(entry.SecretVersionsToStages ?? {})
    .filter(([, stages]) => stages.length > 0)
    // AWSCURRENT first: a restore writes it first, then moves the other labels onto the older versions.
    .sort(([, a], [, b]) => Number(b.includes('AWSCURRENT')) - Number(a.includes('AWSCURRENT')));
  const versions: SecretVersion[] = [];
  for (const [versionId, stages] of labelled) {
    let value;
    try {
      value = await client.send(new GetSecretValueCommand({ SecretId: entry.ARN, VersionId: versionId }));
    } catch (error) {
      throw new ConfigReadFailedError(`Reading secret ${entry.Name} (version ${versionId}) failed: ${describeAwsError(error)}`, { cause: error });
    }
    versions.push({
      versionId,
      stages: [...stages].sort(),
      ...(value.SecretString !== undefined ? { secretString: value.SecretString } : {}),
      ...(value.SecretBinary !== undefined ? { secretBinary: Buffer.from(value.SecretBinary).toString('base64') } : {}),
      ...(value.CreatedDate ? { createdDate: value.CreatedDate.toISOString() } : {}),
    });
  }
  return {
    record: 'secret',
    name: entry.Name!,
    ...(entry.Description ? { description: entry.Description } : {}),
    ...(entry.Tags?.length ? { tags: entry.Tags.map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' })) } : {}),
    versions,
  };
}

/** DescribeStacks and GetTemplate (TemplateStage Original: the template as submitted, before transforms). */
export async function readStack(stackName: string, cloudFormation: CloudFormationApi): Promise<StackItem> {
  let stack;
  let template;
  try {
    stack = (await cloudFormation.describeStacks({ StackName: stackName })).Stacks?.[0];
    template = await cloudFormation.getTemplate({ StackName: stackName, TemplateStage: 'Original' });
  } catch (error) {
    throw new ConfigReadFailedError(`Reading CloudFormation stack ${stackName} failed: ${describeAwsError(error)}`, { cause: error });
  }
  if (!stack?.StackId || template.TemplateBody === undefined) {
    throw new ConfigReadFailedError(`CloudFormation stack ${stackName} was not found, or has no template`);
  }
  const parameters: StackParameter[] = (stack.Parameters ?? []).map((p) =>
    p.ParameterValue === NO_ECHO_MASK ? { key: p.ParameterKey ?? '', noEcho: true } : { key: p.ParameterKey ?? '', value: p.ParameterValue ?? '' },
  );
  const updated = stack.LastUpdatedTime ?? stack.CreationTime;
  return {
    record: 'stack',
    name: stackName,
    stackId: stack.StackId,
    templateBody: template.TemplateBody,
    parameters,
    capabilities: stack.Capabilities ?? [],
    tags: (stack.Tags ?? []).map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' })),
    ...(updated ? { lastUpdated: updated.toISOString() } : {}),
  };
}
