import { ArnFormat, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { jobsForTaskCpu, threadPoolSizeFor } from '../../functions/lib/engine/jobs.ts';
import type { RunnerRole } from '../../functions/runner/roles.ts';
import { repoRoot } from './pipeline-function.ts';
import { ReviewedPolicy } from './reviewed-policy.ts';
import { TOOLS_IMAGE_EXCLUDES, type GrantedStatement } from './dump-function.ts';

/** The container's name in every runner task definition: the state machine's container overrides name it. */
export const RUNNER_CONTAINER = 'runner';

/** Where the Lambda base image keeps Node.js and the bundles (`${LAMBDA_TASK_ROOT}`). */
/**
 * V8 flags of every task: one GC thread, and a young generation of 16–32 MiB. A dump streams hundreds of MiB
 * through short-lived buffers; with V8's default parallel GC, a second stream cost 24–64 % more client CPU in a
 * fresh process, almost all of it in GC helper threads competing with the streams for the cores. With these
 * flags it cost 0–10 % (`npm run bench:jobs`, 1 GiB database, docs/benchmarks.md). Lambda's runtime cannot
 * take them: NODE_OPTIONS refuses both.
 */
export const RUNNER_NODE_FLAGS = ['--single-threaded-gc', '--min-semi-space-size=16', '--max-semi-space-size=32'];
const RUNNER_ENTRYPOINT = ['/var/lang/bin/node', ...RUNNER_NODE_FLAGS, '/var/task/runner.mjs'];

/** Default task size: 4 vCPU and 8 GiB (the per-source `fargate.cpu` / `fargate.memoryMiB` override it per run). */
export const DEFAULT_TASK_CPU = 4096;
export const DEFAULT_TASK_MEMORY_MIB = 8192;

export interface FargateRunnerProps {
  /** The deployment's name: the cluster is `<name>-runner`, task families `<name>-<role>-<n>`. */
  readonly name: string;
  /** Encrypts the tasks' log group. */
  readonly logKey: kms.IKey;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

export type { GrantedStatement } from './dump-function.ts';

export interface RunnerTaskProps {
  /** Which core the task runs (LIFEBOAT_RUNNER_ROLE). */
  readonly role: RunnerRole;
  /** The tools image the matching Lambda runs (`functions/dump/Dockerfile` with this HANDLER). */
  readonly image: 'dump' | 'verify' | 'dr-step';
  /** What the task is for, in the task role's description. */
  readonly description: string;
  /** The matching Lambda's environment: identifiers only, never credentials. */
  readonly environment: Readonly<Record<string, string>>;
  /** Exactly the matching Lambda role's own statements (not its Lambda plumbing: logs, network interfaces, X-Ray, dead letters). */
  readonly statements: readonly GrantedStatement[];
  /** Vault-key use tags of the matching Lambda role (the key policy admits tagged roles only). */
  readonly tags: Readonly<Record<string, string>>;
  /** @default DEFAULT_TASK_CPU */
  readonly cpu?: number;
  /** @default DEFAULT_TASK_MEMORY_MIB */
  readonly memoryMiB?: number;
}

/** One task definition of the runner, with its role. */
export interface RunnerTask {
  readonly role: RunnerRole;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly taskRole: iam.Role;
}

/**
 * The long-job runner: one ECS cluster per deployment (Container Insights on) and one Fargate task
 * definition per tools role, each running the same image as its Lambda with `functions/runner/main.ts` as
 * the entrypoint. A task role holds exactly the grants of its Lambda's role; the one execution role may
 * only pull the tools image and write the tasks' encrypted log group. Tasks are placed by the state
 * machine's RunTask (subnets and security groups of the source, never a public IP).
 *
 * @example
 * const runner = new FargateRunner(this, 'Runner', { name: 'lifeboat', logKey });
 * runner.addTask('Dump1', { role: 'dump', image: 'dump', environment, statements, tags, description: 'dumps of orders-db' });
 */
export class FargateRunner extends Construct {
  readonly cluster: ecs.CfnCluster;
  readonly logGroup: logs.LogGroup;
  readonly executionRole: iam.Role;
  private readonly tasks: RunnerTask[] = [];
  private readonly props: FargateRunnerProps;
  private readonly executionPolicy: ReviewedPolicy;

  constructor(scope: Construct, id: string, props: FargateRunnerProps) {
    super(scope, id);
    this.props = props;
    // An L1 cluster: the L2 would create a VPC of its own; tasks join the sources' networks instead.
    this.cluster = new ecs.CfnCluster(this, 'Cluster', {
      clusterName: `${props.name}-runner`,
      clusterSettings: [{ name: 'containerInsights', value: 'enabled' }],
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } } }),
      description: 'Lifeboat runner tasks: pull the tools image and write the tasks\' logs, nothing else',
    });
    this.executionPolicy = new ReviewedPolicy(this.executionRole, 'The runner\'s execution role: the image pull and log writes ECS performs for the tasks; a managed policy (AmazonECSTaskExecutionRolePolicy) would allow every repository and log group.');
  }

  get clusterArn(): string {
    return this.cluster.attrArn;
  }

  get runnerTasks(): readonly RunnerTask[] {
    return this.tasks;
  }

  /** Adds a task definition for one tools role; its role gets exactly `statements`. */
  addTask(id: string, props: RunnerTaskProps): RunnerTask {
    const taskRole = new iam.Role(this, `${id}TaskRole`, {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: { ArnLike: { 'aws:SourceArn': Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.props.name}-runner/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }) } },
      }),
      description: `Lifeboat ${props.role} task: ${props.description}`,
    });
    for (const [key, value] of Object.entries(props.tags)) Tags.of(taskRole).add(key, value);
    const policy = new ReviewedPolicy(taskRole, `The ${props.role} task's statements, exactly those of its Lambda's role; a managed policy would be shared and so wider.`);
    for (const { statement, wildcardReason } of props.statements) policy.add(statement.copy(), wildcardReason);

    const cpu = props.cpu ?? DEFAULT_TASK_CPU;
    const jobs = jobsForTaskCpu(cpu);
    const taskDefinition = new ecs.FargateTaskDefinition(this, `${id}Task`, {
      family: `${this.props.name}-${id.toLowerCase()}`,
      cpu,
      memoryLimitMiB: props.memoryMiB ?? DEFAULT_TASK_MEMORY_MIB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole,
      executionRole: this.executionRole,
    });
    taskDefinition.addContainer(RUNNER_CONTAINER, {
      image: ecs.ContainerImage.fromAsset(repoRoot, { file: 'functions/dump/Dockerfile', buildArgs: { HANDLER: props.image }, exclude: TOOLS_IMAGE_EXCLUDES }),
      entryPoint: RUNNER_ENTRYPOINT,
      essential: true,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: id.toLowerCase() }),
      environment: {
        ...props.environment,
        LIFEBOAT_RUNNER_ROLE: props.role,
        POWERTOOLS_SERVICE_NAME: `lifeboat-${props.role}`,
        POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
        NODE_OPTIONS: '--enable-source-maps',
        // Parallel dumps and restores use every vCPU (a RunTask that changes the size overrides both).
        LIFEBOAT_JOBS: String(jobs),
        UV_THREADPOOL_SIZE: String(threadPoolSizeFor(jobs)),
      },
    });
    // The image pull and log grants CDK adds to the execution role exist now.
    if (this.tasks.length === 0) this.executionPolicy.acknowledge(['*'], 'ecr:GetAuthorizationToken takes no resource; the layer pulls are limited to the tools image\'s repository.');
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions::AwsSolutions-ECS2',
      reason: 'The environment holds identifiers only (bucket name, key ARN, source ids, secret ARNs), the same as its Lambda\'s; credentials are read from Secrets Manager at run time.',
    });
    const task = { role: props.role, taskDefinition, taskRole };
    this.tasks.push(task);
    return task;
  }
}
