import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLifeboat } from '../../infra/lifeboat.ts';
import type { LifeboatConfig } from '../../infra/config/index.ts';
import { cdkContext, exampleConfig } from './support.ts';

const execFileAsync = promisify(execFile);

const PRIMARY_STACK = 'lifeboat-primary';
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
/** The zip-packaged functions of the primary stack (dump and verify are images, load-tested in test/functions/dump). */
const PIPELINE_HANDLERS = ['alarm-alert', 'approval-endpoint', 'approval-request', 'config-backup', 'copy', 'fileset-backup', 'freshness', 'prune', 'report', 'resolve-source', 'snapshot', 'start-backup', 'tamper-alert', 'validate-restore'];

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** One synthesized pipeline function: where CDK put its bundle and the environment its template gives it. */
interface SynthesizedFunction {
  readonly logicalId: string;
  readonly assetDir: string;
  /** `index.handler` → module `index`, export `handler`. */
  readonly handler: string;
  readonly environment: Record<string, unknown>;
}

/**
 * Renders the intrinsics a function's environment can hold into values of the shape they take once deployed,
 * so the handler's start-up parsing (ARNs, bucket names, JSON with ARNs inside) sees what Lambda would give it.
 */
function deployedValue(value: unknown, resources: Readonly<Record<string, CfnResource>>): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => deployedValue(part, resources)).join(separator);
  }
  if ('Ref' in intrinsic) return deployedRef(intrinsic.Ref as string, resources);
  if ('Fn::GetAtt' in intrinsic) {
    const [logicalId, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    if (attribute === 'Arn' && resources[logicalId]?.Type === 'AWS::ECS::Cluster') return `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${namedOr(resources[logicalId]!, 'ClusterName', logicalId, resources)}`;
    if (attribute === 'Arn') return deployedArn(logicalId, resources);
    if (attribute === 'FunctionUrl' && resources[logicalId]?.Type === 'AWS::Lambda::Url') return `https://${logicalId.toLowerCase()}.lambda-url.${REGION}.on.aws/`;
  }
  throw new Error(`no deployed value for ${JSON.stringify(value)}: teach this test its shape`);
}

function deployedRef(logicalId: string, resources: Readonly<Record<string, CfnResource>>): string {
  const pseudo: Record<string, string> = { 'AWS::AccountId': ACCOUNT, 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::URLSuffix': 'amazonaws.com' };
  if (logicalId in pseudo) return pseudo[logicalId]!;
  const resource = resources[logicalId];
  switch (resource?.Type) {
    case 'AWS::S3::Bucket':
      return namedOr(resource, 'BucketName', `${logicalId.toLowerCase()}-${ACCOUNT}`, resources);
    case 'AWS::KMS::Key':
      return resource.Properties?.MultiRegion === true ? 'mrk-0123456789abcdef0123456789abcdef' : '1234abcd-12ab-34cd-56ef-1234567890ab';
    case 'AWS::Lambda::Function':
      return namedOr(resource, 'FunctionName', logicalId, resources);
    case 'AWS::StepFunctions::StateMachine':
    case 'AWS::SNS::Topic':
      return deployedArn(logicalId, resources);
    case 'AWS::ECS::TaskDefinition':
      return `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${namedOr(resource, 'Family', logicalId, resources)}:1`;
    case 'AWS::DynamoDB::Table':
      return namedOr(resource, 'TableName', logicalId, resources);
    case 'AWS::ApiGateway::RestApi':
      return 'a1b2c3d4e5';
    case 'AWS::ApiGateway::Stage':
      return namedOr(resource, 'StageName', logicalId, resources);
    default:
      throw new Error(`no deployed value for Ref ${logicalId} (${resource?.Type ?? 'not in the template'})`);
  }
}

function deployedArn(logicalId: string, resources: Readonly<Record<string, CfnResource>>): string {
  const resource = resources[logicalId];
  switch (resource?.Type) {
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${deployedRef(logicalId, resources)}`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${namedOr(resource, 'StateMachineName', 'lifeboat-backup', resources)}`;
    case 'AWS::KMS::Key':
      return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${deployedRef(logicalId, resources)}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${REGION}:${ACCOUNT}:${namedOr(resource, 'TopicName', logicalId, resources)}`;
    default:
      throw new Error(`no deployed ARN for ${logicalId} (${resource?.Type ?? 'not in the template'})`);
  }
}

/** The physical name the template sets, rendered, or the one CloudFormation would generate. */
function namedOr(resource: CfnResource, property: string, generated: string, resources: Readonly<Record<string, CfnResource>>): string {
  const name = resource.Properties?.[property];
  return name === undefined ? generated : deployedValue(name, resources);
}

/** Imports a bundle in a fresh Node process with only `env` (and PATH), as the Lambda runtime's loader would. */
async function importInChild(fn: SynthesizedFunction, env: Record<string, string>, cwd: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [moduleName, exportName] = fn.handler.split('.');
  const file = join(fn.assetDir, `${moduleName}.mjs`);
  const script = `import(${JSON.stringify(file)}).then((m) => console.log('handler:' + typeof m[${JSON.stringify(exportName)}]))`;
  return execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd, env: { PATH: process.env.PATH ?? '', ...env } }).then(
    ({ stdout, stderr }) => ({ exitCode: 0, stdout, stderr }),
    (failure: { code: number; stdout: string; stderr: string }) => ({ exitCode: failure.code, stdout: failure.stdout, stderr: failure.stderr }),
  );
}

/**
 * Synthesizes `config`, bundling `stackName` only (both outside the repository: a bare import in a bundle must
 * resolve from the bundle itself or fail, never from the repository's node_modules), and collects its Node
 * functions by service name.
 */
function synthesizeBundles(outdir: string, stackName: string, config: LifeboatConfig, functions: Map<string, SynthesizedFunction>): { resources: Record<string, CfnResource> } {
  const app = new App({ outdir, context: { ...cdkContext, 'aws:cdk:bundling-stacks': [stackName] }, builtinCloudFormationValidation: false });
  buildLifeboat(app, config);
  const assembly = app.synth();
  const stack = assembly.getStackByName(stackName);
  const assetManifest = stack.dependencies.find(AssetManifestArtifact.isAssetManifestArtifact);
  if (!assetManifest) throw new Error(`${stackName} has no asset manifest`);
  const fileAssets = assetManifest.contents.files ?? {};
  const resources = stack.template.Resources as Record<string, CfnResource>;
  for (const [logicalId, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    const ours = resource.Type === 'AWS::Lambda::Function' && String(props.Runtime).startsWith('nodejs') && String(props.Description).startsWith('Lifeboat:');
    if (!ours) continue;
    const variables = (props.Environment as { Variables: Record<string, unknown> }).Variables;
    // The asset's hash is its S3 key; the asset manifest says where in the assembly CDK staged it.
    const hash = String((props.Code as { S3Key: unknown }).S3Key).replace(/\.zip$/, '');
    const source = fileAssets[hash]?.source.path;
    if (!source) throw new Error(`${logicalId}: no staged asset ${hash} in ${assetManifest.file}`);
    const name = String(variables.POWERTOOLS_SERVICE_NAME).replace(/^lifeboat-/, '');
    functions.set(name, { logicalId, assetDir: join(assembly.directory, source), handler: String(props.Handler), environment: variables });
  }
  return { resources };
}

describe('the pipeline function bundles CDK synthesizes', () => {
  let workDir: string;
  let loadDir: string;
  let resources: Record<string, CfnResource>;
  const functions = new Map<string, SynthesizedFunction>();

  beforeAll(async () => {
    // Both outside the repository: a bare import in a bundle must resolve from the bundle itself or fail,
    // never from the repository's node_modules (Node resolves from the importing file, so the outdir matters most).
    workDir = await mkdtemp(join(tmpdir(), 'lifeboat-bundles-'));
    loadDir = await mkdtemp(join(tmpdir(), 'lifeboat-bundles-cwd-'));
    ({ resources } = synthesizeBundles(join(workDir, 'cdk.out'), PRIMARY_STACK, exampleConfig(), functions));
  }, 300_000); // fourteen esbuild bundles and a synth: well over a minute on a busy machine

  afterAll(async () => {
    for (const dir of [workDir, loadDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  function lambdaEnvironment(fn: SynthesizedFunction): Record<string, string> {
    const env: Record<string, string> = { AWS_REGION: REGION };
    for (const [name, value] of Object.entries(fn.environment)) env[name] = deployedValue(value, resources);
    return env;
  }

  it('bundles exactly the fourteen zip-packaged handlers, each as an ESM index.mjs', () => {
    expect([...functions.keys()].sort()).toEqual(PIPELINE_HANDLERS);
    for (const fn of functions.values()) {
      expect(fn.handler).toBe('index.handler');
      expect(existsSync(join(fn.assetDir, 'index.mjs'))).toBe(true);
    }
  });

  // Run from outside the repository even on Node 20: only fileset-backup's bundle holds a zstd codec (its chunks'; node:zlib's on Node 22+, zstd-napi required lazily), as do dump
  // and verify do), and functions/lib/codec/zstd.ts requires zstd-napi lazily anyway, never at load.
  it.each(PIPELINE_HANDLERS)('%s loads from its asset with the environment its template gives it', async (name) => {
    const fn = functions.get(name);
    expect(fn, `${name} was not synthesized`).toBeDefined();

    const result = await importInChild(fn!, lambdaEnvironment(fn!), loadDir);

    expect(result.stderr).not.toMatch(/Error/);
    expect(result.stdout.trim()).toBe('handler:function');
    expect(result.exitCode).toBe(0);
  });

  it('fails at start-up when resolve-source lacks LIFEBOAT_ROUTES, naming it', async () => {
    const fn = functions.get('resolve-source');
    expect(fn, 'resolve-source was not synthesized').toBeDefined();
    const { LIFEBOAT_ROUTES: dropped, ...env } = lambdaEnvironment(fn!);
    expect(dropped).toMatch(/arn:aws:lambda:/);

    const result = await importInChild(fn!, env, loadDir);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/ConfigError: Missing environment variable: LIFEBOAT_ROUTES/);
  });
});

describe('the air-gapped account\'s snapshot copier bundle', () => {
  let workDir: string;
  let resources: Record<string, CfnResource>;
  const functions = new Map<string, SynthesizedFunction>();

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lifeboat-bundles-air-gap-'));
    const config = exampleConfig((raw) => {
      raw.account = ACCOUNT;
      raw.vaultAccount = { accountId: '444455556666', region: 'eu-central-1', keyArn: 'arn:aws:kms:eu-central-1:444455556666:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9' };
    });
    ({ resources } = synthesizeBundles(join(workDir, 'cdk.out'), 'lifeboat-air-gap', config, functions));
  }, 300_000);

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('is there with its alarm forwarder, and loads from its asset with the environment its template gives it', async () => {
    expect([...functions.keys()].sort()).toEqual(['air-gap-snapshots', 'alarm-alert']);
    const fn = functions.get('air-gap-snapshots')!;
    const env: Record<string, string> = { AWS_REGION: 'eu-central-1' };
    for (const [name, value] of Object.entries(fn.environment)) env[name] = deployedValue(value, resources);
    expect(env).toMatchObject({ WORKLOAD_ACCOUNT: ACCOUNT, SNAPSHOT_RETENTION_DAYS: '90', AIR_GAP_KEY_ARN: expect.stringMatching(/^arn:aws:kms:/) });

    const loaded = await importInChild(fn, env, tmpdir());
    expect(loaded.stderr).not.toMatch(/Error/);
    expect(loaded.stdout.trim()).toBe('handler:function');

    const { WORKLOAD_ACCOUNT: _dropped, ...missing } = env;
    const refused = await importInChild(fn, missing, tmpdir());
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/Missing environment variable: WORKLOAD_ACCOUNT/);
  });
});
