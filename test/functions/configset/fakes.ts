/**
 * Stateful stand-ins for the configuration sources. Secrets Manager is the real SDK client under
 * aws-sdk-client-mock, answering from an in-memory account; SSM and CloudFormation implement the engine's
 * ports (their SDK packages are not installed yet) and record every request exactly as it was made.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  type Filter,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { CloudFormationApi, CloudFormationStack, GetParametersByPathInput, PutParameterInput, SsmApi, SsmParameter } from '../../../functions/lib/configset/apis.ts';

export const REGION = 'eu-west-1';
export const ACCOUNT = '111122223333';

interface StoredParameter {
  type: string;
  value: string;
  version: number;
  dataType: string;
  keyId?: string;
}

/** SSM Parameter Store: paths, versions, SecureString (stored with the key it was put under), pagination by MaxResults. */
export class FakeSsm implements SsmApi {
  readonly parameters = new Map<string, StoredParameter>();
  readonly calls: { name: string; input: unknown }[] = [];

  put(name: string, type: string, value: string, version = 1): this {
    this.parameters.set(name, { type, value, version, dataType: 'text', ...(type === 'SecureString' ? { keyId: 'alias/aws/ssm' } : {}) });
    return this;
  }

  async getParametersByPath(input: GetParametersByPathInput): Promise<{ Parameters?: SsmParameter[]; NextToken?: string }> {
    this.calls.push({ name: 'GetParametersByPath', input });
    const prefix = input.Path.endsWith('/') ? input.Path : `${input.Path}/`;
    const names = [...this.parameters.keys()].filter((n) => n.startsWith(prefix)).sort();
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = names.slice(start, start + input.MaxResults);
    const next = start + input.MaxResults < names.length ? String(start + input.MaxResults) : undefined;
    return {
      Parameters: page.map((name) => this.describe(name, input.WithDecryption)),
      ...(next ? { NextToken: next } : {}),
    };
  }

  async getParameter(input: { Name: string; WithDecryption: true }): Promise<SsmParameter | undefined> {
    this.calls.push({ name: 'GetParameter', input });
    return this.parameters.has(input.Name) ? this.describe(input.Name, input.WithDecryption) : undefined;
  }

  async putParameter(input: PutParameterInput): Promise<{ Version?: number }> {
    this.calls.push({ name: 'PutParameter', input });
    const existing = this.parameters.get(input.Name);
    if (existing && !input.Overwrite) throw Object.assign(new Error('The parameter already exists.'), { name: 'ParameterAlreadyExists' });
    const version = (existing?.version ?? 0) + 1;
    this.parameters.set(input.Name, {
      type: input.Type,
      value: input.Value,
      version,
      dataType: input.DataType ?? 'text',
      ...(input.Type === 'SecureString' ? { keyId: input.KeyId ?? 'alias/aws/ssm' } : {}),
    });
    return { Version: version };
  }

  callsNamed(name: string): unknown[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.input);
  }

  private describe(name: string, decrypt: boolean): SsmParameter {
    const p = this.parameters.get(name)!;
    // Without WithDecryption SSM returns the ciphertext; the fake makes that visible.
    const value = p.type === 'SecureString' && !decrypt ? `AQICAH-ciphertext-of-${name}` : p.value;
    return { Name: name, Type: p.type, Value: value, Version: p.version, DataType: p.dataType, LastModifiedDate: new Date('2026-11-30T10:00:00Z') };
  }
}

/** CloudFormation, read only; NoEcho parameters come back as `****` as the service returns them. */
export class FakeCloudFormation implements CloudFormationApi {
  readonly stacks = new Map<string, { stack: CloudFormationStack; template: string }>();
  readonly calls: { name: string; input: unknown }[] = [];

  add(name: string, template: string, parameters: Record<string, string>, noEcho: string[] = []): this {
    this.stacks.set(name, {
      template,
      stack: {
        StackName: name,
        StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${name}/${randomUUID()}`,
        Parameters: Object.entries(parameters).map(([key, value]) => ({ ParameterKey: key, ParameterValue: noEcho.includes(key) ? '****' : value })),
        Capabilities: ['CAPABILITY_NAMED_IAM'],
        Tags: [{ Key: 'app', Value: 'orders' }],
        CreationTime: new Date('2026-11-01T00:00:00Z'),
      },
    });
    return this;
  }

  async describeStacks(input: { StackName: string }): Promise<{ Stacks?: CloudFormationStack[] }> {
    this.calls.push({ name: 'DescribeStacks', input });
    const found = this.stacks.get(input.StackName);
    if (!found) throw Object.assign(new Error(`Stack with id ${input.StackName} does not exist`), { name: 'ValidationError' });
    return { Stacks: [found.stack] };
  }

  async getTemplate(input: { StackName: string; TemplateStage: 'Original' }): Promise<{ TemplateBody?: string }> {
    this.calls.push({ name: 'GetTemplate', input });
    const found = this.stacks.get(input.StackName);
    if (!found) throw Object.assign(new Error(`Stack with id ${input.StackName} does not exist`), { name: 'ValidationError' });
    return { TemplateBody: found.template };
  }
}

interface StoredSecret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: { Key: string; Value: string }[];
  versions: Map<string, { secretString?: string; secretBinary?: Uint8Array; stages: string[]; created: Date }>;
}

/** One account's Secrets Manager behind a mocked SDK client: versions, staging labels moving as the service moves them. */
export class FakeSecretsManager {
  readonly client = new SecretsManagerClient({ region: REGION });
  readonly mock = mockClient(this.client);
  readonly secrets = new Map<string, StoredSecret>();

  constructor() {
    this.mock.on(ListSecretsCommand).callsFake((input: { Filters?: Filter[]; NextToken?: string; MaxResults?: number }) => {
      const matches = [...this.secrets.values()].filter((s) => (input.Filters ?? []).every((f) => this.matches(s, f)));
      const start = input.NextToken ? Number(input.NextToken) : 0;
      const size = input.MaxResults ?? 100;
      const page = matches.slice(start, start + size);
      return {
        SecretList: page.map((s) => ({
          ARN: s.arn,
          Name: s.name,
          ...(s.description ? { Description: s.description } : {}),
          Tags: s.tags,
          SecretVersionsToStages: Object.fromEntries([...s.versions].map(([id, v]) => [id, [...v.stages]])),
        })),
        ...(start + size < matches.length ? { NextToken: String(start + size) } : {}),
      };
    });
    this.mock.on(GetSecretValueCommand).callsFake((input: { SecretId: string; VersionId?: string; VersionStage?: string }) => {
      const secret = this.find(input.SecretId);
      const entry = input.VersionId
        ? [input.VersionId, secret.versions.get(input.VersionId)] as const
        : [...secret.versions].find(([, v]) => v.stages.includes(input.VersionStage ?? 'AWSCURRENT'));
      if (!entry?.[1]) throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret value", $metadata: {} });
      const [id, v] = entry;
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: v.stages, CreatedDate: v.created, ...(v.secretString !== undefined ? { SecretString: v.secretString } : { SecretBinary: v.secretBinary }) };
    });
    this.mock.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => {
      const secret = this.find(input.SecretId);
      return { ARN: secret.arn, Name: secret.name, KmsKeyId: secret.kmsKeyId };
    });
    this.mock.on(CreateSecretCommand).callsFake((input: { Name: string; Description?: string; KmsKeyId?: string; Tags?: { Key: string; Value: string }[]; SecretString?: string; SecretBinary?: Uint8Array }) => {
      if (this.secrets.has(input.Name)) throw new ResourceExistsException({ message: 'already exists', $metadata: {} });
      const secret: StoredSecret = { arn: this.arnOf(input.Name), name: input.Name, tags: input.Tags ?? [], versions: new Map(), ...(input.Description ? { description: input.Description } : {}), ...(input.KmsKeyId ? { kmsKeyId: input.KmsKeyId } : {}) };
      this.secrets.set(input.Name, secret);
      const versionId = this.putVersion(secret, input, ['AWSCURRENT']);
      return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
    });
    this.mock.on(PutSecretValueCommand).callsFake((input: { SecretId: string; SecretString?: string; SecretBinary?: Uint8Array; VersionStages?: string[] }) => {
      const secret = this.find(input.SecretId);
      const versionId = this.putVersion(secret, input, input.VersionStages ?? ['AWSCURRENT']);
      return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
    });
    this.mock.on(UpdateSecretVersionStageCommand).callsFake((input: { SecretId: string; VersionStage: string; MoveToVersionId: string }) => {
      const secret = this.find(input.SecretId);
      for (const v of secret.versions.values()) v.stages = v.stages.filter((s) => s !== input.VersionStage);
      secret.versions.get(input.MoveToVersionId)!.stages.push(input.VersionStage);
      return { ARN: secret.arn, Name: secret.name };
    });
  }

  /** Adds a secret whose versions are given oldest first, each with its labels. */
  add(name: string, versions: { value: string | Uint8Array; stages: string[]; id?: string }[], tags: Record<string, string> = {}): StoredSecret {
    const secret: StoredSecret = { arn: this.arnOf(name), name, tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), versions: new Map() };
    versions.forEach((v, i) =>
      secret.versions.set(v.id ?? randomUUID(), { ...(typeof v.value === 'string' ? { secretString: v.value } : { secretBinary: v.value }), stages: [...v.stages], created: new Date(Date.UTC(2026, 10, 1 + i)) }),
    );
    this.secrets.set(name, secret);
    return secret;
  }

  /** `stage → value` of one secret (strings, or base64 of binaries). */
  stages(name: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const v of this.find(name).versions.values()) for (const s of v.stages) out[s] = v.secretString ?? `base64:${Buffer.from(v.secretBinary!).toString('base64')}`;
    return out;
  }

  private putVersion(secret: StoredSecret, input: { SecretString?: string; SecretBinary?: Uint8Array }, stages: string[]): string {
    const id = randomUUID();
    for (const stage of stages) {
      for (const v of secret.versions.values()) {
        if (!v.stages.includes(stage)) continue;
        v.stages = v.stages.filter((s) => s !== stage);
        // The service moves AWSPREVIOUS onto the version that loses AWSCURRENT.
        if (stage === 'AWSCURRENT' && !stages.includes('AWSPREVIOUS')) {
          for (const other of secret.versions.values()) other.stages = other.stages.filter((s) => s !== 'AWSPREVIOUS');
          v.stages.push('AWSPREVIOUS');
        }
      }
    }
    secret.versions.set(id, { ...(input.SecretString !== undefined ? { secretString: input.SecretString } : { secretBinary: input.SecretBinary! }), stages: [...stages], created: new Date() });
    return id;
  }

  private find(id: string): StoredSecret {
    const secret = [...this.secrets.values()].find((s) => s.name === id || s.arn === id);
    if (!secret) throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} });
    return secret;
  }

  private arnOf(name: string): string {
    return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${randomUUID().slice(0, 6)}`;
  }

  private matches(secret: StoredSecret, filter: Filter): boolean {
    const values = filter.Values ?? [];
    if (filter.Key === 'name') return values.some((v) => secret.name.startsWith(v));
    if (filter.Key === 'tag-key') return values.some((v) => secret.tags.some((t) => t.Key === v));
    if (filter.Key === 'tag-value') return values.some((v) => secret.tags.some((t) => t.Value === v));
    throw new Error(`the fake does not filter on ${String(filter.Key)}`);
  }
}
