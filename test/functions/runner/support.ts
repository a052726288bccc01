/**
 * What the runner's process tests share: the runner bundled as the tools image builds it, the deployed values of
 * a synthesized template's intrinsics, and a stand-in for the JSON-protocol AWS APIs with no local counterpart.
 */
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { RUNNER_NODE_FLAGS } from '../../../infra/constructs/fargate-runner.ts';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

/** Bundles functions/runner/main.ts exactly as the Dockerfile's runner step does. */
export async function bundleRunner(outdir: string): Promise<string> {
  const dockerfile = await readFile(join(repoRoot, 'functions/dump/Dockerfile'), 'utf8');
  const command = /RUN (npx esbuild functions\/runner\/main\.ts[\s\S]*?--outfile=\S+)/.exec(dockerfile)?.[1];
  if (!command) throw new Error('functions/dump/Dockerfile has no esbuild step for the runner');
  const args = command
    .replace(/\\\n\s*/g, ' ')
    .replace(/--outfile=\S+/, `--outfile=${join(outdir, 'runner.mjs')}`)
    .split(/\s+(?=--)|\s+(?=functions\/)/)
    .flatMap((part) => (part.startsWith('npx esbuild') ? ['esbuild'] : [part.replace(/^--banner:js="(.*)"$/, '--banner:js=$1')]));
  await run('npx', args, { cwd: repoRoot });
  return join(outdir, 'runner.mjs');
}

/** Renders the intrinsics a task definition's environment holds into their deployed values. */
export function deployed(value: unknown, resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => deployed(p, resources)).join(separator);
  }
  if ('Ref' in intrinsic) {
    const ref = intrinsic.Ref as string;
    const pseudo: Record<string, string> = { 'AWS::AccountId': ACCOUNT, 'AWS::Partition': 'aws', 'AWS::Region': REGION };
    if (ref in pseudo) return pseudo[ref]!;
    const resource = resources[ref];
    // A bucket without a name (the ElastiCache staging bucket) gets one from CloudFormation at deploy.
    if (resource?.Type === 'AWS::S3::Bucket') return resource.Properties?.['BucketName'] === undefined ? `lifeboat-${ref.toLowerCase()}` : deployed(resource.Properties['BucketName'], resources);
    if (resource?.Type === 'AWS::SNS::Topic') return `arn:aws:sns:${REGION}:${ACCOUNT}:${ref}`;
    if (resource?.Type === 'AWS::KMS::Key') return 'mrk-0123456789abcdef0123456789abcdef';
    if (resource?.Type === 'AWS::ECS::TaskDefinition') return `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${String(resource.Properties!.Family)}:1`;
    if (resource?.Type === 'AWS::StepFunctions::StateMachine') return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${String(resource.Properties!.StateMachineName)}`;
  }
  if ('Fn::GetAtt' in intrinsic) {
    const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    if (resources[id]?.Type === 'AWS::KMS::Key' && attribute === 'Arn') return `arn:aws:kms:${REGION}:${ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef`;
    if (resources[id]?.Type === 'AWS::ECS::Cluster' && attribute === 'Arn') return `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${String(resources[id]!.Properties!.ClusterName)}`;
    if (resources[id]?.Type === 'AWS::Lambda::Function' && attribute === 'Arn') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
  }
  throw new Error(`no deployed value for ${JSON.stringify(value)}`);
}

export interface AwsCall {
  readonly target: string;
  readonly body: Record<string, unknown>;
}

/**
 * A stand-in for the two JSON-protocol AWS APIs the cores call with no local counterpart: KMS (GenerateDataKey,
 * Decrypt: data keys "wrapped" by a table kept here; GenerateMac, VerifyMac) and Secrets Manager (GetSecretValue of one secret).
 */
export async function startFakeAws(secrets: Record<string, string>): Promise<{ endpoint: string; calls: AwsCall[]; server: Server }> {
  const calls: AwsCall[] = [];
  const wrapped = new Map<string, { plaintext: string; keyId: string; context: unknown }>();
  const macKeys = new Map<string, Buffer>();
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target']);
      const body = JSON.parse(text || '{}') as Record<string, unknown>;
      calls.push({ target, body });
      const reply = (status: number, payload: unknown) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(payload));
      };
      if (target === 'TrentService.GenerateDataKey') {
        const plaintext = randomBytes(Number(body.NumberOfBytes ?? 32)).toString('base64');
        const blob = randomBytes(48).toString('base64');
        wrapped.set(blob, { plaintext, keyId: String(body.KeyId), context: body.EncryptionContext });
        return reply(200, { KeyId: body.KeyId, Plaintext: plaintext, CiphertextBlob: blob });
      }
      if (target === 'TrentService.Decrypt') {
        const entry = wrapped.get(String(body.CiphertextBlob));
        const canonical = (context: unknown) => JSON.stringify(Object.entries((context ?? {}) as Record<string, string>).sort());
        if (!entry || canonical(entry.context) !== canonical(body.EncryptionContext)) return reply(400, { __type: 'InvalidCiphertextException', message: 'not a data key of this key' });
        return reply(200, { KeyId: entry.keyId, Plaintext: entry.plaintext });
      }
      // HMAC keys (the verification and evidence keys): a secret per key id, kept here as KMS keeps it.
      if (target === 'TrentService.GenerateMac' || target === 'TrentService.VerifyMac') {
        const keyId = String(body.KeyId);
        if (!macKeys.has(keyId)) macKeys.set(keyId, randomBytes(32));
        const mac = createHmac('sha256', macKeys.get(keyId)!).update(Buffer.from(String(body.Message), 'base64')).digest('base64');
        if (target === 'TrentService.GenerateMac') return reply(200, { KeyId: keyId, Mac: mac, MacAlgorithm: body.MacAlgorithm });
        if (mac !== body.Mac) return reply(400, { __type: 'KMSInvalidMacException', message: 'the MAC does not match' });
        return reply(200, { KeyId: keyId, MacValid: true, MacAlgorithm: body.MacAlgorithm });
      }
      if (target === 'secretsmanager.GetSecretValue' && secrets[String(body.SecretId)]) {
        return reply(200, { ARN: body.SecretId, Name: 'test', SecretString: secrets[String(body.SecretId)] });
      }
      return reply(400, { __type: 'UnknownOperationException', message: `${target} is not served here` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

export type TemplateResources = Record<string, { Type: string; Properties: Record<string, any> }>;

/** Each task definition's container environment as deployed, by family. */
export function taskEnvironments(resources: TemplateResources): Map<string, Record<string, string>> {
  const environments = new Map<string, Record<string, string>>();
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::ECS::TaskDefinition') continue;
    const [container] = resource.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[];
    environments.set(resource.Properties.Family as string, Object.fromEntries(container!.Environment.map((e) => [e.Name, deployed(e.Value, resources)])));
  }
  return environments;
}

/** What Fargate adds to every container and the local stand-ins for AWS (endpoints, TLS off): never in a task definition. */
export function localTaskAdditions(s3Endpoint: string, awsEndpoint: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret',
    LIFEBOAT_S3_ENDPOINT: s3Endpoint,
    AWS_ENDPOINT_URL_KMS: awsEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: awsEndpoint,
    LIFEBOAT_DATABASE_TLS: 'disable',
  };
}

/** Runs the bundled entrypoint with exactly `env`; resolves with its exit code, output and structured log lines. */
export async function runEntrypoint(runner: string, env: Record<string, string>, args: string[] = []) {
  // With the V8 flags the task definitions give the entrypoint.
  const result = await run(process.execPath, [...RUNNER_NODE_FLAGS, runner, ...args], { cwd: repoRoot, env, timeout: 300_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (failure: { code: number; stdout: string; stderr: string }) => ({ code: failure.code, stdout: failure.stdout, stderr: failure.stderr }),
  );
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
  return { ...result, lines };
}

/**
 * A stand-in for ElastiCache's Query API (form-encoded requests, XML answers): a snapshot is `available` at once,
 * and `CopySnapshot` to a bucket writes `rdb` there as `<target name>-0001.rdb` through `putExport`, as the service
 * exports a single-shard snapshot. Each call is recorded as its action and parameters.
 */
export async function startFakeElastiCache(rdb: Buffer, putExport: (bucket: string, key: string, body: Buffer) => Promise<void>): Promise<{ endpoint: string; calls: Record<string, string>[]; server: Server }> {
  const calls: Record<string, string>[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(text));
      calls.push(params);
      const action = params['Action']!;
      const snapshot = (name: string) =>
        `<Snapshot><SnapshotName>${name}</SnapshotName><SnapshotStatus>available</SnapshotStatus><Engine>valkey</Engine><EngineVersion>8.0.1</EngineVersion>` +
        '<NumNodeGroups>1</NumNodeGroups><NodeSnapshots><NodeSnapshot><NodeGroupId>0001</NodeGroupId></NodeSnapshot></NodeSnapshots></Snapshot>';
      const answer = (result: string) => {
        response.writeHead(200, { 'content-type': 'text/xml' });
        response.end(
          `<${action}Response xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><${action}Result>${result}</${action}Result>` +
            `<ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></${action}Response>`,
        );
      };
      const name = params['SnapshotName'] ?? params['SourceSnapshotName'] ?? '';
      if (action === 'CreateSnapshot' || action === 'DeleteSnapshot') return answer(snapshot(name));
      if (action === 'DescribeSnapshots') return answer(`<Snapshots>${snapshot(name)}</Snapshots>`);
      if (action === 'CopySnapshot') {
        void putExport(params['TargetBucket']!, `${params['TargetSnapshotName']}-0001.rdb`, rdb).then(() => answer(snapshot(params['TargetSnapshotName']!)));
        return;
      }
      response.writeHead(400, { 'content-type': 'text/xml' });
      response.end(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>${action} is not served here</Message></Error></ErrorResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}
