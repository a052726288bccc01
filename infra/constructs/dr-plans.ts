import { ArnFormat, Aws, Annotations, CfnOutput, Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { planStateMachineName, restoreSubnetGroupName, type PlanConfig } from '../config/plans.ts';
import { compilePlan, FARGATE_KINDS, LAMBDA_MAX_SECONDS, type FargateNetwork } from '../plans/compile.ts';
import { APPROVAL_LIMITS } from '../../functions/approval/limits.ts';
import { ApprovalApi } from './approval-endpoint.ts';
import { parameterPath, type ConfigSelection } from './config-backup.ts';
import { attachToVpcStatement, lambdaNetwork, toolsImageCode, type DumpNetwork, type GrantedStatement } from './dump-function.ts';
import type { FargateRunner, RunnerTask } from './fargate-runner.ts';
import { auditWriteStatements, grantAuditWrites } from './audit-trail.ts';
import { PipelineFunction } from './pipeline-function.ts';
import { ReviewedPolicy } from './reviewed-policy.ts';
import { standardStateMachine, stateMachineLogGroup, stateMachineRole } from './state-machine.ts';
import { KEY_USE_TAGS } from './vault-key.ts';
import type { AirGapDestination, SourceEngine } from './backup-pipeline.ts';

/** How plan state machines log: errors only, without execution data (a task token is in an approval task's input). */
export const PLAN_LOGGING = { level: sfn.LogLevel.ERROR, includeExecutionData: false } as const;

/** A source as the DR step function knows it: identifiers only. */
export interface DrPlanSource {
  readonly id: string;
  readonly engine: SourceEngine;
  readonly database?: string;
  readonly credentialsSecretArn: string;
  readonly rds: { readonly type: 'instance' | 'cluster'; readonly identifier: string };
  /** The source's network: default plans restore its snapshots into a subnet group made of these subnets. */
  readonly network?: DumpNetwork;
}

export interface DrPlansProps {
  /** The deployment's name: plan `p` becomes the state machine `<name>-plan-p`. */
  readonly name: string;
  /** The plans, default plans included (`plansWithDefaults`), already validated by the config. */
  readonly plans: readonly PlanConfig[];
  readonly sources: readonly DrPlanSource[];
  /** The configuration sources, with what they select: a restore-config step may write exactly that in its target region. @default none */
  readonly configSources?: readonly { readonly id: string; readonly selection: ConfigSelection }[];
  /** The file sets' networks (those that have one): where a restore-files step longer than Lambda runs without a verification network. @default none */
  readonly fileSetNetworks?: Readonly<Record<string, DumpNetwork>>;
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  readonly dr: { readonly region: string; readonly bucketName: string; readonly keyArn: string };
  /** What `backup-now` steps start. */
  readonly backupStateMachine: sfn.IStateMachine;
  /** The verification servers (drill targets of dump restores) and the network that reaches them. */
  readonly verification?: {
    readonly network: DumpNetwork;
    readonly servers: { readonly postgresql?: { readonly host: string; readonly port: number; readonly credentialsSecretArn: string }; readonly mysql?: { readonly host: string; readonly port: number; readonly credentialsSecretArn: string } };
  };
  /** Encrypts the contacts topics (the alert topic's key). */
  readonly topicKey: kms.IKey;
  readonly operationsKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * The deployment's Fargate runner: a restore-dump or validate step allowed more than 15 minutes runs there,
   * as a task of the DR step role. @default none: every step runs in the DR step Lambda (15 minutes at most)
   */
  readonly runner?: FargateRunner;
  /**
   * The evidence key: with it, the DR step function (and its Fargate task) records restores and drill evidence
   * in the audit trail (docs/audit-trail.md). @default none: no audit events
   */
  readonly evidenceKey?: kms.IKey;
  /** The verification key: a restore-dump step restores only a backup whose verification result authenticates. */
  readonly verificationKey: kms.IKey;
  /** The DR evidence key: the DR step function (and its Fargate task) alone signs each run's evidence with it. */
  readonly drEvidenceKey: kms.IKey;
  /** The air-gapped vault a `restore-dump` step with `region: "air-gap"` reads, through its reader role. @default none */
  readonly airGap?: AirGapDestination & { readonly readerRoleArn: string };
}

/**
 * Disaster-recovery plans (docs/dr-plans.md): one state machine per plan, compiled from the config, with a
 * contacts topic each; the DR step function that restores, validates, cleans up after drills and writes the
 * evidence; and the approval flow: a request function that stores the task token and mails a signed link,
 * and a public endpoint (a regional REST API behind a WAF rate limit per client, see ApprovalApi) that shows
 * the request on GET and decides once on POST.
 *
 * @example
 * new DrPlans(this, 'Plans', { name: 'lifeboat', plans: plansWithDefaults(config), ... });
 */
export class DrPlans extends Construct {
  readonly stateMachines: ReadonlyMap<string, sfn.StateMachine>;
  readonly topics: ReadonlyMap<string, sns.Topic>;
  readonly drStep: lambda.DockerImageFunction;
  readonly requestApproval: PipelineFunction;
  readonly approvalEndpoint: PipelineFunction;
  readonly approvalApi: ApprovalApi;
  readonly approvals: dynamodb.Table;
  readonly approvalKey: kms.Key;
  /** The DR step role's Fargate task, when a plan has a step too long for Lambda. */
  readonly drStepTask?: RunnerTask;

  private readonly props: DrPlansProps;
  /** The DR step role's own statements (no Lambda plumbing): its Fargate task's role gets exactly these. */
  private readonly drStepGrants: GrantedStatement[] = [];
  private drStepEnvironment: Record<string, string> = {};
  private readonly stack: Stack;

  constructor(scope: Construct, id: string, props: DrPlansProps) {
    super(scope, id);
    this.props = props;
    this.stack = Stack.of(this);

    this.topics = new Map(props.plans.map((plan) => [plan.name, this.contactsTopic(plan)]));
    const planTopicsJson = this.stack.toJsonString(Object.fromEntries([...this.topics].map(([plan, topic]) => [plan, topic.topicArn])));

    this.approvalKey = new kms.Key(this, 'ApprovalKey', {
      description: 'Lifeboat approval links: HMAC-SHA-256 signatures',
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.approvals = new dynamodb.Table(this, 'Approvals', {
      partitionKey: { name: 'approvalId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.operationsKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.approvals).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-DynamoDBInBackupPlan',
      reason: 'The table holds pending approvals only, each expiring with its step; point-in-time recovery covers it, and a backup plan would keep task tokens past their use.',
    });

    this.approvalEndpoint = this.buildApprovalEndpoint();
    // Only API Gateway invokes it, behind WAF: no function URL, which nothing could rate-limit per client.
    this.approvalApi = new ApprovalApi(this, 'ApprovalApi', { name: props.name, handler: this.approvalEndpoint.function, logKey: props.operationsKey });
    this.requestApproval = this.buildRequestApproval(planTopicsJson);
    // Each request sent and each decision delivered goes into the audit trail, as the other acting functions' work does.
    if (props.evidenceKey) {
      for (const fn of [this.approvalEndpoint, this.requestApproval]) {
        grantAuditWrites(fn, { vault: props.vault, vaultKey: props.vaultKey, evidenceKey: props.evidenceKey });
        fn.function.addEnvironment('VAULT_BUCKET', props.vault.bucketName).addEnvironment('VAULT_KEY_ARN', props.vaultKey.keyArn);
      }
    }
    this.drStep = this.buildDrStep(planTopicsJson);
    this.refuseStepsOutsideVpc();
    if (props.runner && this.hasFargateSteps) this.drStepTask = this.buildDrStepTask(props.runner);
    this.createDefaultSubnetGroups();
    this.stateMachines = new Map(props.plans.map((plan) => [plan.name, this.planStateMachine(plan)]));

    new CfnOutput(this, 'ApprovalEndpointUrl', { value: this.approvalApi.url, description: 'Lifeboat approval links start with this URL' });
  }

  /**
   * Without a `verification` network the DR step Lambda runs outside any VPC: enough for plans that restore
   * snapshots (RDS and S3 API calls), not for a dump restore or a validation, which connect to a database
   * that is private in any real account. Those are refused here, naming the step; the config schema allows
   * them because `lifeboat drill --local` runs the same plans against local servers.
   */

  /**
   * restore-config steps: in the region of the vault each reads, the SSM parameters under its source's paths (read to
   * compare, written with PutParameter) and its secrets (by name prefix, or by tag: read and written only when the secret
   * carries the tag, created only with it), and the KMS calls those services make for them, only through them.
   */
  private grantConfigRestores(props: DrPlansProps, grant: (statement: iam.PolicyStatement, wildcardReason?: string) => void): void {
    const steps = props.plans.flatMap((plan) => plan.steps.flatMap((step) => (step.kind === 'restore-config' ? [step] : [])));
    if (steps.length === 0) return;
    const regionOf = (choice: 'primary' | 'dr') => (choice === 'dr' ? props.dr.region : this.stack.region);
    const targets = new Map<string, { region: string; selection: ConfigSelection }>();
    for (const step of steps) {
      const source = props.configSources?.find((s) => s.id === step.parameters.source);
      if (!source) throw new Error(`DrPlans: step '${step.id}' restores '${step.parameters.source}', which is not a configuration source given to DrPlans`);
      const region = regionOf(step.parameters.region);
      targets.set(`${source.id}@${region}`, { region, selection: source.selection });
    }
    let n = 0;
    for (const { region, selection } of targets.values()) {
      n += 1;
      const arn = (service: string, resource: string, resourceName: string, arnFormat: ArnFormat) => this.stack.formatArn({ service, region, resource, resourceName, arnFormat });
      const paths = [...new Set(selection.ssmPaths.map(parameterPath))];
      if (paths.length > 0) {
        const parameters = paths.map((p) => arn('ssm', 'parameter', p === '' ? '*' : `${p}/*`, ArnFormat.SLASH_RESOURCE_NAME));
        grant(
          new iam.PolicyStatement({ sid: `RestoreParameters${n}`, actions: ['ssm:GetParameter', 'ssm:PutParameter'], resources: parameters }),
          'The parameters under the configuration source\'s SSM paths, in the restore\'s region: the wildcard is the rest of a parameter name below a configured path.',
        );
        grant(
          new iam.PolicyStatement({
            sid: `RestoreSecureStrings${n}`,
            actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
            resources: ['*'],
            conditions: { StringEquals: { 'kms:ViaService': `ssm.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameters } },
          }),
          'A SecureString may be under any key of the target account; only through SSM and only for parameters under the configured paths (SSM puts the parameter ARN in the encryption context).',
        );
      }
      const secretActions = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'];
      const secret = (name: string) => arn('secretsmanager', 'secret', name, ArnFormat.COLON_RESOURCE_NAME);
      if (selection.secretPrefixes.length > 0) {
        grant(
          new iam.PolicyStatement({
            sid: `RestoreSecretsByPrefix${n}`,
            actions: [...secretActions, 'secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
            resources: selection.secretPrefixes.map((p) => secret(`${p}*`)),
          }),
          'Secrets named with the configuration source\'s prefixes, in the restore\'s region: the wildcard is the rest of the name and the suffix Secrets Manager adds.',
        );
      }
      selection.secretTags.forEach((tag, t) => {
        const key = `secretsmanager:ResourceTag/${tag.key}`;
        const requestKey = `aws:RequestTag/${tag.key}`;
        grant(
          new iam.PolicyStatement({
            sid: `RestoreSecretsByTag${n}x${t + 1}`,
            actions: secretActions,
            resources: [secret('*')],
            conditions: tag.value === undefined ? { Null: { [key]: 'false' } } : { StringEquals: { [key]: tag.value } },
          }),
          `Secrets carrying the tag ${tag.key} in the restore's region: any name, only when the secret carries the tag (the condition).`,
        );
        grant(
          new iam.PolicyStatement({
            sid: `CreateSecretsByTag${n}x${t + 1}`,
            actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
            resources: [secret('*')],
            conditions: tag.value === undefined ? { Null: { [requestKey]: 'false' } } : { StringEquals: { [requestKey]: tag.value } },
          }),
          `New secrets with the tag ${tag.key} in the restore's region: any name, only when the request carries the tag (the condition).`,
        );
      });
      if (selection.secretPrefixes.length + selection.secretTags.length > 0) {
        grant(
          new iam.PolicyStatement({
            sid: `RestoreSecretKeys${n}`,
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: ['*'],
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } },
          }),
          'A secret may be under any key of the target account; only through Secrets Manager, which asks for it only for a secret the role may read or write.',
        );
      }
    }
  }
  private refuseStepsOutsideVpc(): void {
    if (this.props.verification) return;
    for (const plan of this.props.plans) {
      for (const step of plan.steps) {
        const connects = FARGATE_KINDS.includes(step.kind) || step.kind === 'restore-cache';
        if (!connects || (this.props.runner !== undefined && runsOnFargate(step))) continue;
        Annotations.of(this).addError(
          `Plan ${plan.name}, step ${step.id} (${step.kind}) would run in the DR step Lambda outside any VPC, as the config has no "verification" section: it connects to a database or cache, which a function outside the VPC cannot reach. Add verification.network (subnets and security groups that reach the restore targets).`,
        );
      }
    }
  }

  /**
   * Default plans of snapshot-only sources restore into `restoreSubnetGroupName(name, source)`: the config
   * names no subnet group, so one is made from the source's own subnets.
   */
  private createDefaultSubnetGroups(): void {
    for (const source of this.props.sources) {
      const name = restoreSubnetGroupName(this.props.name, source.id);
      const used = this.props.plans.some((plan) => plan.steps.some((step) => step.kind === 'restore-snapshot' && step.parameters.subnetGroupName === name));
      if (!used || !source.network) continue;
      const scope = new Construct(this, `Restore-${source.id}`);
      const { vpc, vpcSubnets } = lambdaNetwork(scope, source.network);
      new rds.SubnetGroup(scope, 'SubnetGroup', {
        subnetGroupName: name,
        description: `Lifeboat: where the default DR plan restores ${source.id}`,
        vpc: vpc!,
        vpcSubnets,
        removalPolicy: RemovalPolicy.DESTROY,
      });
    }
  }

  private contactsTopic(plan: PlanConfig): sns.Topic {
    const topic = new sns.Topic(this, `Contacts-${plan.name}`, {
      topicName: `${planStateMachineName(this.props.name, plan.name)}-contacts`,
      displayName: `Lifeboat DR plan ${plan.name}`,
      masterKey: this.props.topicKey,
      enforceSSL: true,
    });
    for (const contact of plan.contacts) topic.addSubscription(new subscriptions.EmailSubscription(contact.email));
    return topic;
  }

  private publishToContacts(add: (statement: iam.PolicyStatement) => void): void {
    add(new iam.PolicyStatement({ sid: 'PublishToContacts', actions: ['sns:Publish'], resources: [...this.topics.values()].map((t) => t.topicArn) }));
    add(new iam.PolicyStatement({ sid: 'EncryptMessages', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.props.topicKey.keyArn] }));
  }

  /** DynamoDB opens the table key with the caller's kms:Decrypt, and only DynamoDB may. */
  private get viaDynamoDb(): Record<string, Record<string, string>> {
    return { StringEquals: { 'kms:ViaService': `dynamodb.${this.stack.region}.amazonaws.com` } };
  }

  /** Every plan state machine, by name pattern: referencing them would make a cycle through the request function's URL. */
  private get planMachinesArn(): string {
    return this.stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: `${this.props.name}-plan-*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  }

  private pipelineFunction(id: string, entryFile: string, serviceName: string, props: { description: string; environment: Record<string, string>; timeout?: Duration; reservedConcurrentExecutions?: number; outsideVpcReason: string }): PipelineFunction {
    return new PipelineFunction(this, id, {
      handler: 'approval',
      entryFile,
      serviceName,
      keyUse: [],
      memorySize: 256,
      logKey: this.props.operationsKey,
      deadLetterQueue: this.props.deadLetterQueue,
      ...props,
    });
  }

  private buildApprovalEndpoint(): PipelineFunction {
    const fn = this.pipelineFunction('ApprovalEndpoint', 'endpoint-handler.ts', 'lifeboat-approval-endpoint', {
      description: 'Lifeboat: the approval page (GET shows, POST decides once) behind the signed links',
      environment: { APPROVAL_TABLE: this.approvals.tableName, APPROVAL_KEY_ID: this.approvalKey.keyArn },
      timeout: Duration.seconds(15),
      // More than the API stage lets through: a flood meets the stage's 429 and WAF, never a throttled function.
      reservedConcurrentExecutions: APPROVAL_LIMITS.reservedConcurrency,
      outsideVpcReason: 'The public approval endpoint calls DynamoDB, KMS and Step Functions only; a VPC would need endpoints for all three and add nothing.',
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadAndDecideApprovals', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [this.approvals.tableArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'TableEncryption', actions: ['kms:Decrypt'], resources: [this.props.operationsKey.keyArn], conditions: this.viaDynamoDb }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'VerifyLinks', actions: ['kms:VerifyMac'], resources: [this.approvalKey.keyArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'AnswerPlanTasks', actions: ['states:SendTaskSuccess'], resources: [this.planMachinesArn] }),
      'The DR plan state machines of this deployment (`<name>-plan-<plan>`), named by pattern because the request function that their tasks call links to this endpoint.',
    );
    return fn;
  }

  private buildRequestApproval(planTopics: string): PipelineFunction {
    const fn = this.pipelineFunction('RequestApproval', 'request-handler.ts', 'lifeboat-approval-request', {
      description: 'Lifeboat: stores an approval task token and mails the contacts a signed, expiring link',
      environment: { APPROVAL_TABLE: this.approvals.tableName, APPROVAL_KEY_ID: this.approvalKey.keyArn, APPROVAL_BASE_URL: this.approvalApi.url, PLAN_TOPICS: planTopics },
      timeout: Duration.seconds(30),
      outsideVpcReason: 'It calls DynamoDB, KMS and SNS only; a VPC would need endpoints for all three and add nothing.',
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StoreApprovals', actions: ['dynamodb:PutItem'], resources: [this.approvals.tableArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'TableEncryption', actions: ['kms:Decrypt'], resources: [this.props.operationsKey.keyArn], conditions: this.viaDynamoDb }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'SignLinks', actions: ['kms:GenerateMac'], resources: [this.approvalKey.keyArn] }));
    this.publishToContacts((statement) => fn.policy.add(statement));
    return fn;
  }

  private buildDrStep(planTopics: string): lambda.DockerImageFunction {
    const { props } = this;
    const region = this.stack.region;
    const role = new iam.Role(this, 'DrStepRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'Lifeboat DR step function' });
    // It decrypts backups to restore them, and writes the evidence under SSE-KMS.
    for (const tag of Object.values(KEY_USE_TAGS)) Tags.of(role).add(tag, 'true');
    // Only a deployment whose plans restore from the air-gapped vault gets to read it.
    const restoresFromAirGap = props.plans.some((plan) => plan.steps.some((step) => (step.kind === 'restore-dump' || step.kind === 'restore-cache' || step.kind === 'restore-files') && step.parameters.region === 'air-gap'));
    if (restoresFromAirGap && !props.airGap) throw new Error('DrPlans: a restore step reads the air-gapped vault, but no airGap was given');
    const readsAirGap = restoresFromAirGap ? props.airGap : undefined;
    const logGroup = new logs.LogGroup(this, 'DrStepLogs', { retention: logs.RetentionDays.ONE_YEAR, encryptionKey: props.operationsKey, removalPolicy: RemovalPolicy.RETAIN });
    const servers = Object.fromEntries(
      Object.entries(props.verification?.servers ?? {}).map(([engine, server]) => [engine, { host: server.host, port: server.port, secretArn: server.credentialsSecretArn }]),
    );
    const fn = new lambda.DockerImageFunction(this, 'DrStep', {
      description: 'Lifeboat: runs DR plan steps (restores, validation, drill clean-up, evidence)',
      code: toolsImageCode('dr-step'),
      architecture: lambda.Architecture.X86_64,
      memorySize: 2048,
      timeout: Duration.minutes(15),
      reservedConcurrentExecutions: 10,
      role,
      logGroup,
      ...(props.verification ? lambdaNetwork(this, props.verification.network) : {}),
      deadLetterQueue: props.deadLetterQueue,
      tracing: lambda.Tracing.ACTIVE,
      environment: (this.drStepEnvironment = {
        PRIMARY_VAULT_BUCKET: props.vault.bucketName,
        PRIMARY_VAULT_KEY_ARN: props.vaultKey.keyArn,
        DR_REGION: props.dr.region,
        DR_VAULT_BUCKET: props.dr.bucketName,
        DR_VAULT_KEY_ARN: props.dr.keyArn,
        LIFEBOAT_SOURCES: JSON.stringify(props.sources),
        VERIFY_SERVERS: JSON.stringify(servers),
        PLAN_TOPICS: planTopics,
        VERIFICATION_KEY_ARN: props.verificationKey.keyArn,
        DR_EVIDENCE_KEY_ARN: props.drEvidenceKey.keyArn,
        ...(props.evidenceKey ? { EVIDENCE_KEY_ARN: props.evidenceKey.keyArn } : {}),
        ...(readsAirGap
          ? { AIR_GAP_BUCKET: readsAirGap.bucketName, AIR_GAP_REGION: readsAirGap.region, AIR_GAP_KEY_ARN: readsAirGap.keyArn, AIR_GAP_READER_ROLE_ARN: readsAirGap.readerRoleArn }
          : {}),
        POWERTOOLS_SERVICE_NAME: 'lifeboat-dr-step',
        POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
      }),
    });
    logGroup.grantWrite(role);
    props.deadLetterQueue.encryptionMasterKey?.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
    const policy = new ReviewedPolicy(role, "The DR step function's own statements: the vaults, the restores it makes and only those, the plan topics and the secrets it connects with.");
    policy.acknowledge(
      ['*'],
      props.verification
        ? 'Resource "*" only where the actions support no narrower resource: Lambda attaching the function to the verification VPC (network interfaces) and X-Ray trace upload.'
        : 'The one statement with Resource "*" is X-Ray trace upload (added by active tracing): its actions support no narrower resource.',
    );
    if (props.verification) policy.add(attachToVpcStatement('AttachToVerificationVpc'), 'Lambda manages the function\'s network interfaces in the verification VPC; these actions take no narrower resource.');
    else {
      Validations.of(fn).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC',
        reason: 'Without a verification network its plans only restore snapshots (RDS and S3 API calls, no database connection); a step that connects to a database is refused at synth.',
      });
    }
    // Every statement below is the role's own; its Fargate task's role gets exactly these.
    const grant = (statement: iam.PolicyStatement, wildcardReason?: string): void => {
      policy.add(statement, wildcardReason);
      this.drStepGrants.push({ statement, wildcardReason });
    };

    const drBucketArn = `arn:${Aws.PARTITION}:s3:::${props.dr.bucketName}`;
    grant(
      new iam.PolicyStatement({ sid: 'ReadBackups', actions: ['s3:GetObject'], resources: [props.vault.arnForObjects('backups/*'), `${drBucketArn}/backups/*`] }),
      'A plan may restore any source from either vault: the wildcard is any backup under backups/, read only.',
    );
    // A payload lifecycle moved to Deep Archive is restored from archive when a plan reads it; the plan retries until it is readable.
    grant(
      new iam.PolicyStatement({ sid: 'RestoreArchivedBackups', actions: ['s3:RestoreObject'], resources: [props.vault.arnForObjects('backups/*'), `${drBucketArn}/backups/*`] }),
      'Restores from archive of backups in either vault, the objects a plan may read: the wildcard is any backup under backups/.',
    );
    const fileSetRestores = props.plans.flatMap((plan) => plan.steps.flatMap((step) => (step.kind === 'restore-files' ? [step] : [])));
    if (fileSetRestores.length > 0) {
      const fileSets = [...new Set(fileSetRestores.map((step) => step.parameters.source))];
      grant(
        new iam.PolicyStatement({ sid: 'ReadFileSets', actions: ['s3:GetObject'], resources: fileSets.flatMap((id) => [props.vault.arnForObjects(`filesets/${id}/*`), `${drBucketArn}/filesets/${id}/*`]) }),
        'The file sets the plans restore, in either vault: the wildcard is the object within each file set\'s own prefix, read only.',
      );
      // Each target: whether an object is there already (HeadObject needs GetObject; a 404 needs ListBucket), then new objects under the prefix.
      fileSetRestores.forEach((step, i) => {
        const { bucket, prefix } = step.parameters.target;
        const bucketArn = `arn:${Aws.PARTITION}:s3:::${bucket}`;
        grant(new iam.PolicyStatement({ sid: `ListFileTarget${i + 1}`, actions: ['s3:ListBucket'], resources: [bucketArn], conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } }));
        grant(
          new iam.PolicyStatement({ sid: `WriteFileTarget${i + 1}`, actions: ['s3:GetObject', 's3:PutObject'], resources: [`${bucketArn}/${prefix}*`] }),
          `The restore target of step ${step.id}: the wildcard is the object key under its configured prefix.`,
        );
      });
    }
    this.grantConfigRestores(props, grant);
    grant(
      new iam.PolicyStatement({ sid: 'WriteEvidence', actions: ['s3:PutObject'], resources: [props.vault.arnForObjects('evidence/*')] }),
      'Evidence objects are new per execution (`evidence/<plan>/<execution>.json`); nothing outside that prefix.',
    );
    if (this.hasFargateSteps) {
      grant(
        new iam.PolicyStatement({ sid: 'ReadStepRecords', actions: ['s3:GetObject'], resources: [props.vault.arnForObjects('evidence/*/steps/*')] }),
        'The records steps on Fargate leave (`evidence/<plan>/<execution>/steps/<step>.json`), read back by the plan: the wildcards are the plan, execution and step.',
      );
    }
    grant(new iam.PolicyStatement({ sid: 'ListVaults', actions: ['s3:ListBucket'], resources: [props.vault.bucketArn, drBucketArn] }));
    // Restores and drill evidence go into the audit trail: new objects under audit/ only, signed with the evidence key.
    if (props.evidenceKey) {
      for (const { statement, wildcardReason } of auditWriteStatements(this.stack, { vault: props.vault, vaultKey: props.vaultKey, evidenceKey: props.evidenceKey })) grant(statement, wildcardReason);
    }
    grant(new iam.PolicyStatement({ sid: 'DecryptBackups', actions: ['kms:Decrypt'], resources: [props.vaultKey.keyArn, props.dr.keyArn] }));
    grant(new iam.PolicyStatement({ sid: 'EncryptEvidence', actions: ['kms:GenerateDataKey'], resources: [props.vaultKey.keyArn] }));
    // Which backup a restore-dump picks is decided by verification results the verifier signed.
    grant(new iam.PolicyStatement({ sid: 'AuthenticateVerificationResults', actions: ['kms:VerifyMac'], resources: [props.verificationKey.keyArn] }));
    // The evidence of each run is signed with a key no other role may sign with: only runs that happened count as drilled.
    grant(new iam.PolicyStatement({ sid: 'SignDrEvidence', actions: ['kms:GenerateMac', 'kms:VerifyMac'], resources: [props.drEvidenceKey.keyArn] }));
    // A plan restoring from the air-gapped vault reads it as the vault account's reader role, which grants the rest.
    if (readsAirGap) grant(new iam.PolicyStatement({ sid: 'ReadAirGappedVault', actions: ['sts:AssumeRole'], resources: [readsAirGap.readerRoleArn] }));
    this.publishToContacts(grant);

    const secrets = [
      ...props.sources.map((s) => s.credentialsSecretArn),
      ...Object.values(props.verification?.servers ?? {}).map((s) => s.credentialsSecretArn),
      ...props.plans.flatMap((plan) => plan.steps.flatMap((step) => (step.kind === 'restore-dump' ? [step.parameters.target.credentialsSecretArn] : []))),
      // A cache target's AUTH token.
      ...props.plans.flatMap((plan) => plan.steps.flatMap((step) => (step.kind === 'restore-cache' && step.parameters.target.authSecretArn ? [step.parameters.target.authSecretArn] : []))),
    ];
    grant(new iam.PolicyStatement({ sid: 'ReadCredentials', actions: ['secretsmanager:GetSecretValue'], resources: [...new Set(secrets)] }));

    const regions = [region, props.dr.region];
    const rds = (r: string, resource: string, name: string) => this.stack.formatArn({ service: 'rds', region: r, resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const inBoth = (resource: string, name: string) => regions.map((r) => rds(r, resource, name));
    const restoreSteps = props.plans.flatMap((plan) => plan.steps.flatMap((step) => (step.kind === 'restore-snapshot' || step.kind === 'restore-point-in-time' ? [step] : [])));
    if (restoreSteps.length > 0) {
      // Only the databases the plans name (and their drill variants) can be created or tagged; never an existing one.
      const created = [...new Set(restoreSteps.map((step) => step.parameters.targetIdentifier))].flatMap((target) => [
        ...inBoth('db', target),
        ...inBoth('db', `${target}-drill-*`),
        ...inBoth('cluster', target),
        ...inBoth('cluster', `${target}-drill-*`),
      ]);
      // The sources a point-in-time restore reads from: an RDS instance, or an Aurora or DocumentDB cluster.
      const pitrSources = new Map(
        restoreSteps
          .flatMap((step) => (step.kind === 'restore-point-in-time' ? [props.sources.find((s) => s.id === step.parameters.source)!.rds] : []))
          .map((rds) => [`${rds.type}:${rds.identifier}`, rds] as const),
      );
      const tagged = { StringLike: { 'aws:RequestTag/lifeboat:plan': '*' }, 'ForAllValues:StringLike': { 'aws:TagKeys': ['lifeboat:*'] } };
      grant(
        new iam.PolicyStatement({
          sid: 'RestoreNamedDatabases',
          actions: ['rds:RestoreDBInstanceFromDBSnapshot', 'rds:RestoreDBClusterFromSnapshot', 'rds:RestoreDBInstanceToPointInTime', 'rds:RestoreDBClusterToPointInTime', 'rds:CreateDBInstance'],
          resources: [
            ...created,
            ...inBoth('snapshot', 'lifeboat-*'),
            ...inBoth('cluster-snapshot', 'lifeboat-*'),
            ...[...pitrSources.values()].flatMap((rds) => inBoth(rds.type === 'instance' ? 'db' : 'cluster', rds.identifier)),
            ...inBoth('subgrp', '*'),
            ...inBoth('og', '*'),
            ...inBoth('pg', '*'),
            ...inBoth('cluster-pg', '*'),
          ],
          conditions: tagged,
        }),
        "The plans' restores: new databases named by the plans (a drill adds `-drill-<suffix>`), from Lifeboat's snapshots or the named point-in-time sources, tagged lifeboat:plan, in whatever subnet, option and parameter groups RDS uses.",
      );
      grant(
        new iam.PolicyStatement({ sid: 'TagNamedDatabases', actions: ['rds:AddTagsToResource'], resources: created, conditions: tagged }),
        'Tags set when the plans\' own databases are created (and their drill variants); no other database can be tagged.',
      );
      // RDS encrypts a restore of a DR snapshot copy under the DR vault key, with a grant in the caller's name.
      const viaRds = { StringEquals: { 'kms:ViaService': `rds.${props.dr.region}.amazonaws.com` } };
      grant(new iam.PolicyStatement({ sid: 'GrantRdsTheDrKey', actions: ['kms:CreateGrant'], resources: [props.dr.keyArn], conditions: { ...viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } } }));
      grant(new iam.PolicyStatement({ sid: 'DescribeDrKeyForRds', actions: ['kms:DescribeKey'], resources: [props.dr.keyArn], conditions: viaRds }));
    }
    grant(
      new iam.PolicyStatement({
        sid: 'DescribeDatabases',
        actions: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters', 'rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'],
        resources: [...inBoth('db', '*'), ...inBoth('cluster', '*'), ...inBoth('snapshot', '*'), ...inBoth('cluster-snapshot', '*')],
      }),
      'Following a restore until it is available, and finding what a drill created (by its lifeboat:drill tag), lists databases in both regions; describing is read-only.',
    );
    grant(
      new iam.PolicyStatement({
        sid: 'DeleteDrillDatabases',
        actions: ['rds:DeleteDBInstance', 'rds:DeleteDBCluster'],
        resources: [...inBoth('db', '*-drill-*'), ...inBoth('cluster', '*-drill-*')],
        conditions: { Null: { 'aws:ResourceTag/lifeboat:drill': 'false' } },
      }),
      'Drill clean-up deletes only instances and clusters named `<target>-drill-<suffix>` that carry the lifeboat:drill tag, which only a drill restore sets.',
    );
    const promotions = props.plans.flatMap((plan) => plan.steps.flatMap((step) => (step.kind === 'promote-replica' ? [step.parameters] : [])));
    // A replica is named by identifier (either region) or by ARN.
    const replicas = promotions.flatMap((p) =>
      'replicaIdentifier' in p && p.replicaIdentifier ? (p.replicaIdentifier.startsWith('arn:') ? [p.replicaIdentifier] : inBoth('db', p.replicaIdentifier)) : [],
    );
    const globals = promotions.flatMap((p) => ('globalClusterIdentifier' in p && p.globalClusterIdentifier ? [this.stack.formatArn({ service: 'rds', region: '', resource: 'global-cluster', resourceName: p.globalClusterIdentifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME }), p.targetClusterArn] : []));
    if (replicas.length > 0) grant(new iam.PolicyStatement({ sid: 'PromoteNamedReplicas', actions: ['rds:PromoteReadReplica'], resources: replicas }));
    if (globals.length > 0) {
      grant(new iam.PolicyStatement({ sid: 'FailOverNamedGlobalClusters', actions: ['rds:FailoverGlobalCluster', 'rds:DescribeGlobalClusters'], resources: globals }));
    }
    return fn;
  }

  /** Whether a plan has a step that runs on Fargate (a long restore-dump or validate), given a runner. */
  private get hasFargateSteps(): boolean {
    return this.props.runner !== undefined && this.props.plans.some((plan) => plan.steps.some(runsOnFargate));
  }

  /**
   * The DR step role as a Fargate task: the Lambda's environment and exactly its role's statements, placed
   * per step by the plan (the verification network, where the Lambda runs; without one, the restored
   * source's network).
   */
  private buildDrStepTask(runner: FargateRunner): RunnerTask {
    const { POWERTOOLS_SERVICE_NAME: _service, POWERTOOLS_METRICS_NAMESPACE: _namespace, ...environment } = this.drStepEnvironment;
    return runner.addTask('DrStep', {
      role: 'dr-step',
      image: 'dr-step',
      description: 'DR plan steps (restore-dump, validate) allowed longer than a Lambda invocation',
      environment,
      statements: this.drStepGrants,
      // Like its Lambda: it decrypts backups to restore them and writes evidence under SSE-KMS.
      tags: Object.fromEntries(Object.values(KEY_USE_TAGS).map((tag) => [tag, 'true'])),
    });
  }

  /** Where a plan's Fargate steps run, per source: the DR step Lambda's network, else the source's own. */
  private get fargateNetworks(): Record<string, FargateNetwork> {
    const networks: Record<string, FargateNetwork> = {};
    const sources = [...this.props.sources, ...Object.entries(this.props.fileSetNetworks ?? {}).map(([id, network]) => ({ id, network }))];
    for (const source of sources) {
      const network = this.props.verification?.network ?? source.network;
      if (network) networks[source.id] = { subnets: network.subnetIds, securityGroups: network.securityGroupIds };
    }
    return networks;
  }

  /**
   * What `ecs:runTask.sync` needs for the DR step task: RunTask of that task definition only, in the runner's
   * cluster; PassRole of exactly its task role and the execution role, to ECS only; StopTask and DescribeTasks
   * of the cluster's tasks (Step Functions stops a task at the step's timeout); and the managed EventBridge
   * rule through which Step Functions learns that the task stopped.
   */
  private grantRunDrStepTask(policy: ReviewedPolicy, runner: FargateRunner, task: RunnerTask): void {
    policy.add(new iam.PolicyStatement({ sid: 'RunDrStepTask', actions: ['ecs:RunTask'], resources: [task.taskDefinition.taskDefinitionArn], conditions: { ArnEquals: { 'ecs:cluster': runner.clusterArn } } }));
    policy.add(
      new iam.PolicyStatement({
        sid: 'PassDrStepTaskRoles',
        actions: ['iam:PassRole'],
        resources: [task.taskRole.roleArn, runner.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    policy.add(
      new iam.PolicyStatement({
        sid: 'WatchDrStepTasks',
        actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
        resources: [this.stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.props.name}-runner/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
      }),
      'Tasks of the runner\'s own cluster: the wildcard is the task id, new for every task.',
    );
    policy.add(
      new iam.PolicyStatement({
        sid: 'ManagedRuleForTaskEvents',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [this.stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForECSTaskRule' })],
      }),
    );
  }

  private planStateMachine(plan: PlanConfig): sfn.StateMachine {
    const { props } = this;
    const name = planStateMachineName(props.name, plan.name);
    const logGroup = stateMachineLogGroup(this, `Logs-${plan.name}`, name, { encryptionKey: props.operationsKey, retention: logs.RetentionDays.ONE_YEAR });
    const role = stateMachineRole(this, `Role-${plan.name}`, `Lifeboat DR plan ${plan.name}`);
    const policy = new ReviewedPolicy(role, `Exactly the calls the ${plan.name} plan's tasks make; a managed policy would be shared between plans and so wider.`);
    const asksApproval = plan.steps.some((step) => step.kind === 'approval' || step.approval !== undefined);
    policy.add(
      new iam.PolicyStatement({
        sid: 'InvokePlanFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: [this.drStep.functionArn, ...(asksApproval ? [this.requestApproval.functionArn] : [])],
      }),
    );
    if (plan.steps.some((step) => step.kind === 'backup-now')) {
      policy.add(new iam.PolicyStatement({ sid: 'StartBackups', actions: ['states:StartExecution'], resources: [props.backupStateMachine.stateMachineArn] }));
      policy.add(
        new iam.PolicyStatement({
          sid: 'FollowBackups',
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [this.stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${props.name}-backup:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        }),
        'Executions of the backup state machine only, which a backup-now step starts and follows (.sync): the wildcard is the execution name.',
      );
      policy.add(
        new iam.PolicyStatement({
          sid: 'SyncExecutionEvents',
          actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
          resources: [this.stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule', arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
        }),
      );
    }
    const onFargate = this.props.runner !== undefined && this.drStepTask !== undefined && plan.steps.some(runsOnFargate);
    if (onFargate) this.grantRunDrStepTask(policy, this.props.runner!, this.drStepTask!);
    policy.acknowledge(['*'], 'Resource "*" only in the log delivery and X-Ray statements CDK adds for logging and tracing: their actions take no narrower resource.');
    const machine = standardStateMachine(this, `Plan-${plan.name}`, {
      stateMachineName: name,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(compilePlan(plan, { name: props.name, ...(props.runner ? { fargate: { networks: this.fargateNetworks } } : {}) }))),
      definitionSubstitutions: {
        DrStepFunctionArn: this.drStep.functionArn,
        RequestApprovalFunctionArn: this.requestApproval.functionArn,
        BackupStateMachineArn: props.backupStateMachine.stateMachineArn,
        Region: this.stack.region,
        ...(onFargate ? { RunnerClusterArn: this.props.runner!.clusterArn, DrStepTaskDefinitionArn: this.drStepTask!.taskDefinition.taskDefinitionArn } : {}),
      },
      role,
      logGroup,
      // An approval task's input carries its task token: execution data never goes to the logs.
      logging: PLAN_LOGGING,
    });
    Validations.of(machine).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SF1',
      reason: "A plan's approval task carries its task token in its input, and ALL-event logs would hold it: plans log errors only, without execution data; the execution history and each step's evidence record what ran.",
    });
    new CfnOutput(this, `PlanOutput-${plan.name}`, {
      value: machine.stateMachineArn,
      description: `DR plan ${plan.name}: start with {"mode":"drill"} for a drill, {"mode":"real"} for a real recovery`,
    });
    return machine;
  }
}

/** A restore-dump or validate step allowed longer than a Lambda invocation: it runs on Fargate (infra/plans/compile.ts). */
function runsOnFargate(step: PlanConfig['steps'][number]): boolean {
  return FARGATE_KINDS.includes(step.kind) && step.timeoutMinutes * 60 > LAMBDA_MAX_SECONDS;
}
