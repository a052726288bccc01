import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Tags, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ReviewedPolicy, type GrantedStatement } from './reviewed-policy.ts';
import { KEY_USE_TAGS } from './vault-key.ts';

/** The repository root: handlers live in `functions/<name>/handler.ts`, bundled against its package-lock.json. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * ESM bundles still meet CommonJS dependencies that call `require`; the banner gives them one. The name is
 * unusual on purpose: a bundled module that declares its own `createRequire` must not collide with it.
 */
export const ESM_REQUIRE_BANNER = "import { createRequire as lifeboatCreateRequire } from 'node:module'; const require = lifeboatCreateRequire(import.meta.url);";

/**
 * How a Node.js function's code is packaged: `functions/<handler>/<entryFile>` bundled by esbuild as ESM for
 * Node.js 24 on arm64, with source maps and its own AWS SDK (the functions pin their versions rather than
 * take the runtime's). `externalModules` are left out of the bundle.
 */
export function nodejsBundle(
  handler: string,
  options: { readonly entryFile?: string; readonly externalModules: readonly string[] },
): Pick<nodejs.NodejsFunctionProps, 'entry' | 'handler' | 'projectRoot' | 'depsLockFilePath' | 'runtime' | 'architecture' | 'bundling'> {
  return {
    entry: `${repoRoot}functions/${handler}/${options.entryFile ?? 'handler.ts'}`,
    handler: 'handler',
    projectRoot: repoRoot,
    depsLockFilePath: `${repoRoot}package-lock.json`,
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    bundling: {
      format: nodejs.OutputFormat.ESM,
      target: 'node24',
      mainFields: ['module', 'main'],
      banner: ESM_REQUIRE_BANNER,
      sourceMap: true,
      externalModules: [...options.externalModules],
      bundleAwsSDK: true,
    },
  };
}

export interface PipelineFunctionProps {
  /** The directory under `functions/` whose `handler.ts` exports `handler`. */
  readonly handler: string;
  /** Another file of that directory to bundle instead of `handler.ts`. @default 'handler.ts' */
  readonly entryFile?: string;
  /** The service name in logs and metrics. @default `lifeboat-<handler>` */
  readonly serviceName?: string;
  readonly description: string;
  readonly environment: Readonly<Record<string, string>>;
  /** Which vault-key uses the key policy lets this role attempt (the IAM grants still decide what it may do). */
  readonly keyUse: readonly ('encrypt' | 'decrypt')[];
  readonly logKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  /** @default Duration.minutes(1) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default 5 */
  readonly reservedConcurrentExecutions?: number;
  /** Why this function runs outside a VPC (it calls AWS APIs only), for the NIST finding it answers. */
  readonly outsideVpcReason: string;
}

/**
 * One of the small pipeline functions (resolve-source, snapshot, copy, prune, start-backup): Node.js 24 on
 * arm64, bundled by esbuild from `functions/<handler>/handler.ts`, with its own role (no managed policies),
 * an encrypted log group, X-Ray tracing, a reserved concurrency and a dead-letter queue. Callers add the
 * role's statements with `addToRolePolicy`, each scoped to what the handler calls.
 *
 * @example
 * const snapshot = new PipelineFunction(this, 'Snapshot', { handler: 'snapshot', ... });
 * snapshot.addToRolePolicy(new iam.PolicyStatement({ actions: ['rds:CreateDBSnapshot'], resources: [...] }));
 */
export class PipelineFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly policy: ReviewedPolicy;
  /** The environment given (without the service name and Node options): a runner task of the same core takes it as is. */
  readonly environment: Readonly<Record<string, string>>;
  /** The role's own statements, as added (no Lambda plumbing): a runner task of the same core gets exactly these. */
  readonly grants: GrantedStatement[] = [];

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.environment = props.environment;
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `Lifeboat ${props.serviceName?.replace(/^lifeboat-/, "") ?? props.handler} function` });
    for (const use of props.keyUse) Tags.of(this.role).add(KEY_USE_TAGS[use], 'true');
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      // Node 24 has zstd built in (the native fallback is for Node 20), and pg never needs pg-native.
      ...nodejsBundle(props.handler, { entryFile: props.entryFile, externalModules: ['zstd-napi', 'pg-native'] }),
      description: props.description,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.minutes(1),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? 5,
      role: this.role,
      logGroup: this.logGroup,
      deadLetterQueue: props.deadLetterQueue,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...props.environment, POWERTOOLS_SERVICE_NAME: props.serviceName ?? `lifeboat-${props.handler}`, POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat', NODE_OPTIONS: '--enable-source-maps' },
    });
    this.logGroup.grantWrite(this.role);
    props.deadLetterQueue.encryptionMasterKey?.grant(this.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    Validations.of(this.function).acknowledge({ id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC', reason: props.outsideVpcReason });
    this.policy = new ReviewedPolicy(
      this.role,
      `The ${props.serviceName ?? props.handler} function's own statements, each scoped to what its handler calls; a managed policy would be shared between functions and so wider than any one needs.`,
    );
    this.policy.acknowledge(['*'], 'The one statement with Resource "*" is X-Ray trace upload (added by active tracing): its actions support no narrower resource.');
  }

  /** Adds a statement to the role; one with a wildcard resource needs the reason it cannot be narrower. */
  addToRolePolicy(statement: iam.PolicyStatement, wildcardReason?: string): void {
    this.policy.add(statement, wildcardReason);
    this.grants.push({ statement, ...(wildcardReason === undefined ? {} : { wildcardReason }) });
  }

  get functionArn(): string {
    return this.function.functionArn;
  }
}
