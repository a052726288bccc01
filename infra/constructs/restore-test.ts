import { readFileSync } from 'node:fs';
import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { attachToVpcStatement, lambdaNetwork } from './dump-function.ts';
import { nodejsBundle, repoRoot } from './pipeline-function.ts';
import { nagResourceName, ReviewedPolicy } from './reviewed-policy.ts';
import { standardStateMachine, stateMachineLogGroup, stateMachineRole } from './state-machine.ts';

/** A source whose snapshots may be test-restored. Only identifiers: credentials stay in Secrets Manager. */
export interface RestoreTestSource {
  readonly id: string;
  /** `docdb`: a DocumentDB cluster, checked by answering as its master user (functions/validate-restore/docdb.ts). */
  readonly engine: 'postgresql' | 'mysql' | 'docdb';
  /** The source's secret (`username`, `password`): a restored database keeps the snapshot's master user. */
  readonly credentialsSecretArn: string;
  /** `cluster` sources are Aurora or DocumentDB: their restores need the cluster statements. */
  readonly rds: { readonly type: 'instance' | 'cluster'; readonly identifier: string };
  /** The port the source listens on; a restore keeps the snapshot's port. @default 5432 (postgresql), 3306 (mysql), 27017 (docdb) */
  readonly port?: number;
}

/** Where the temporary databases and the validation function live, by id: synth needs no lookup. */
export interface RestoreTestNetwork {
  readonly vpcId: string;
  /** Private subnets: the validation function runs in them, and the created DB subnet group spans them. */
  readonly subnetIds: readonly string[];
  /** More security groups for the validation function, e.g. one a Secrets Manager endpoint admits. @default none */
  readonly securityGroupIds?: readonly string[];
  /** Where the function reaches Secrets Manager on 443: the interface endpoint, or anywhere through a NAT. @default ec2.Peer.anyIpv4() */
  readonly secretsManagerPeer?: ec2.IPeer;
}

export interface RestoreTestProps {
  /** The deployment's name: the state machine is `<name>-restore-test`, and so is the DB subnet group it creates. */
  readonly name: string;
  readonly sources: readonly RestoreTestSource[];
  readonly network: RestoreTestNetwork;
  /** An existing DB subnet group (private subnets) in `network.vpcId`. @default a new group `<name>-restore-test` over `network.subnetIds` */
  readonly dbSubnetGroupName?: string;
  /** Instance class of instance restores; it must be offered for the snapshot's engine version. @default 'db.t4g.micro' */
  readonly instanceClass?: string;
  /** Instance class of the Aurora instance (Aurora's smallest provisioned class is db.t4g.medium). @default 'db.t4g.medium' */
  readonly auroraInstanceClass?: string;
  /** Which snapshots may be restored: names starting with this; '' allows any snapshot. @default 'lifeboat-' (Lifeboat's own) */
  readonly snapshotNamePrefix?: string;
  /** Customer-managed KMS keys (key ARNs) encrypting the sources' snapshots: RDS creates the restore's grant in the role's name. @default none */
  readonly snapshotKeyArns?: readonly string[];
  /** Customer-managed KMS keys (key ARNs) encrypting the sources' secrets. @default none (aws/secretsmanager) */
  readonly secretKeyArns?: readonly string[];
  /** Encrypts the state machine's and the function's log groups. */
  readonly logKey: kms.IKey;
  /** The validation function's dead-letter queue (NIST asks every function for one). */
  readonly deadLetterQueue: sqs.IQueue;
  /** @default 5 */
  readonly reservedConcurrentExecutions?: number;
}

/** The prefix of every temporary identifier the state machine mints (`lb-rt-<sourceId>-<8 hex>`). */
export const TEMPORARY_PREFIX = 'lb-rt-';
/** The tag the state machine puts on everything it creates, and the only tag its deletes accept. */
const PURPOSE_TAG = { 'lifeboat:purpose': 'restore-test' } as const;
/** The MongoDB driver's optional peer dependencies: loaded only for features the DocumentDB check does not use. */
const MONGODB_OPTIONAL_MODULES = ['kerberos', '@mongodb-js/zstd', 'snappy', 'socks', 'mongodb-client-encryption', 'gcp-metadata', '@aws-sdk/credential-providers'];

const DEFAULT_PORTS: Record<RestoreTestSource['engine'], number> = { postgresql: 5432, mysql: 3306, docdb: 27017 };
/** The environment tells the Node.js runtime to trust Lambda's CA bundle, which holds the RDS certificate authorities. */
const RDS_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/**
 * The snapshot restore test (`statemachines/snapshot-restore-test.asl.json`, see docs/snapshot-restore-test.md):
 * restores a source's snapshot into a temporary, private database in an isolated security group, validates it
 * with the ValidateRestore function from inside the VPC, and always deletes it. The state machine may create,
 * tag and delete only `lb-rt-*` databases tagged `lifeboat:purpose=restore-test`.
 *
 * @example
 * new RestoreTest(this, 'RestoreTest', { name: 'lifeboat', sources, network: { vpcId, subnetIds }, logKey, deadLetterQueue });
 */
export class RestoreTest extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly stateMachineRole: iam.Role;
  readonly stateMachineLogGroup: logs.LogGroup;
  readonly validateRestore: nodejs.NodejsFunction;
  readonly validateRestoreRole: iam.Role;
  readonly validateRestoreLogGroup: logs.LogGroup;
  /** The temporary databases' security group: ingress only from the function, no egress. */
  readonly isolatedSecurityGroup: ec2.SecurityGroup;
  /** The validation function's own security group: egress to the isolated group and to Secrets Manager only. */
  readonly functionSecurityGroup: ec2.SecurityGroup;
  /** The DB subnet group it created; undefined when `dbSubnetGroupName` named an existing one. */
  readonly subnetGroup?: rds.SubnetGroup;
  /** The DB subnet group the temporary databases go to. */
  readonly dbSubnetGroupName: string;
  /** The database ports the function may reach, one per distinct source port. */
  readonly ports: readonly number[];

  private readonly props: RestoreTestProps;
  private readonly stack: Stack;

  constructor(scope: Construct, id: string, props: RestoreTestProps) {
    super(scope, id);
    validateRestoreTestProps(id, props);
    this.props = props;
    this.stack = Stack.of(this);
    this.ports = [...new Set(props.sources.map((s) => s.port ?? DEFAULT_PORTS[s.engine]))].sort((a, b) => a - b);

    const placement = lambdaNetwork(this, { vpcId: props.network.vpcId, subnetIds: props.network.subnetIds, securityGroupIds: props.network.securityGroupIds ?? [] });
    const vpc = placement.vpc!;
    this.isolatedSecurityGroup = new ec2.SecurityGroup(this, 'IsolatedSecurityGroup', {
      vpc,
      description: `Lifeboat ${props.name} restore test: temporary databases, reachable only from the validation function`,
      allowAllOutbound: false,
    });
    this.functionSecurityGroup = new ec2.SecurityGroup(this, 'ValidateRestoreSecurityGroup', {
      vpc,
      description: `Lifeboat ${props.name} restore test: the validation function`,
      allowAllOutbound: false,
    });
    for (const port of this.ports) {
      // Adds the function group's egress and the isolated group's ingress, each naming the other group.
      this.functionSecurityGroup.connections.allowTo(this.isolatedSecurityGroup, ec2.Port.tcp(port), `Validate temporary databases on ${port}`);
    }
    this.functionSecurityGroup.addEgressRule(props.network.secretsManagerPeer ?? ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'Read source credentials from Secrets Manager');

    if (props.dbSubnetGroupName === undefined) {
      this.subnetGroup = new rds.SubnetGroup(this, 'SubnetGroup', {
        vpc,
        vpcSubnets: placement.vpcSubnets,
        subnetGroupName: `${props.name}-restore-test`,
        description: `Lifeboat ${props.name} restore test: private subnets of the temporary databases`,
      });
      this.dbSubnetGroupName = this.subnetGroup.subnetGroupName;
    } else {
      this.dbSubnetGroupName = props.dbSubnetGroupName;
    }

    ({ function: this.validateRestore, role: this.validateRestoreRole, logGroup: this.validateRestoreLogGroup } = this.buildValidateRestore(placement));
    ({ stateMachine: this.stateMachine, role: this.stateMachineRole, logGroup: this.stateMachineLogGroup } = this.buildStateMachine());
  }

  // -------------------------------------------------------------------------------------------
  // The validation function: PipelineFunction's conventions, placed in the VPC with its own security group

  private buildValidateRestore(placement: ReturnType<typeof lambdaNetwork>): { function: nodejs.NodejsFunction; role: iam.Role; logGroup: logs.LogGroup } {
    const { props } = this;
    const role = new iam.Role(this, 'ValidateRestoreRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'Lifeboat validate-restore function' });
    const logGroup = new logs.LogGroup(this, 'ValidateRestoreLogs', { retention: logs.RetentionDays.THREE_MONTHS, encryptionKey: props.logKey, removalPolicy: RemovalPolicy.RETAIN });
    // Identifiers only: the function reads the secrets itself.
    const sources = props.sources.map((s) => ({ id: s.id, credentialsSecretArn: s.credentialsSecretArn }));
    const fn = new nodejs.NodejsFunction(this, 'ValidateRestore', {
      // pg, mysql2 and mongodb are pure JavaScript; pg never needs pg-native, and the MongoDB driver's optional
      // native and cloud add-ons (compression, Kerberos, client-side encryption, cloud auth) are never used.
      ...nodejsBundle('validate-restore', { externalModules: ['pg-native', ...MONGODB_OPTIONAL_MODULES] }),
      description: 'Lifeboat: validates a temporary database restored from a snapshot (tables, row counts, SQL checks; a DocumentDB cluster answering)',
      memorySize: 256,
      // The ASL gives the task 900 s: counting rows on a freshly restored, lazily loaded volume is slow.
      timeout: Duration.seconds(900),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? 5,
      role,
      logGroup,
      vpc: placement.vpc,
      vpcSubnets: placement.vpcSubnets,
      securityGroups: [this.functionSecurityGroup, ...(placement.securityGroups ?? [])],
      deadLetterQueue: props.deadLetterQueue,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        LIFEBOAT_SOURCES: this.stack.toJsonString(sources),
        NODE_EXTRA_CA_CERTS: RDS_CA_BUNDLE,
        POWERTOOLS_SERVICE_NAME: 'lifeboat-validate-restore',
        POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    logGroup.grantWrite(role);
    props.deadLetterQueue.encryptionMasterKey?.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');

    const policy = new ReviewedPolicy(role, "The validate-restore function's own statements: the sources' secrets and its VPC attachment; it needs no RDS permission (the state machine passes the endpoint).");
    policy.add(
      attachToVpcStatement('AttachToRestoreTestVpc'),
      'Resource "*" only where the actions support no narrower resource: Lambda attaching the function to the restore-test VPC (network interfaces) and X-Ray trace upload.',
    );
    policy.add(new iam.PolicyStatement({ sid: 'ReadSourceCredentials', actions: ['secretsmanager:GetSecretValue'], resources: props.sources.map((s) => s.credentialsSecretArn) }));
    if (props.secretKeyArns?.length) {
      policy.add(
        new iam.PolicyStatement({
          sid: 'DecryptSourceCredentials',
          actions: ['kms:Decrypt'],
          resources: [...props.secretKeyArns],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${this.stack.region}.amazonaws.com` } },
        }),
      );
    }
    return { function: fn, role, logGroup };
  }

  // -------------------------------------------------------------------------------------------
  // The state machine

  private rdsArn(resource: string, name: string): string {
    return this.stack.formatArn({ service: 'rds', resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  }

  private buildStateMachine(): { stateMachine: sfn.StateMachine; role: iam.Role; logGroup: logs.LogGroup } {
    const { props } = this;
    const stateMachineName = `${props.name}-restore-test`;
    const logGroup = stateMachineLogGroup(this, 'StateMachineLogs', stateMachineName, { encryptionKey: props.logKey, retention: logs.RetentionDays.THREE_MONTHS });
    const role = stateMachineRole(this, 'StateMachineRole', 'Lifeboat snapshot restore test state machine');
    const policy = new ReviewedPolicy(role, "Exactly the calls the restore test's tasks make, on temporary lb-rt-* databases only; a managed policy would be shared and so wider.");

    const aurora = props.sources.some((s) => s.rds.type === 'cluster');
    const prefix = props.snapshotNamePrefix ?? 'lifeboat-';
    const temporary = `${TEMPORARY_PREFIX}*`;
    const instances = this.rdsArn('db', temporary);
    const clusters = this.rdsArn('cluster', temporary);
    const subnetGroup = this.rdsArn('subgrp', this.dbSubnetGroupName);
    const optionGroups = this.rdsArn('og', '*');
    const snapshots = prefix ? `snapshots named ${prefix}*` : 'any snapshot';
    const created = { StringEquals: { [`aws:RequestTag/${Object.keys(PURPOSE_TAG)[0]}`]: PURPOSE_TAG['lifeboat:purpose'] } };
    const owned = { StringEquals: { [`aws:ResourceTag/${Object.keys(PURPOSE_TAG)[0]}`]: PURPOSE_TAG['lifeboat:purpose'] } };
    const perRun = 'Temporary databases are named lb-rt-<source>-<8 hex> afresh in every execution: the wildcard is that per-run suffix';

    policy.add(
      new iam.PolicyStatement({
        sid: 'RestoreTemporaryInstances',
        actions: ['rds:RestoreDBInstanceFromDBSnapshot'],
        resources: [instances, this.rdsArn('snapshot', `${prefix}*`), subnetGroup, optionGroups, this.rdsArn('pg', '*')],
        conditions: created,
      }),
      `${perRun}; restores read ${snapshots}, and attach the snapshot's option group and the engine's default parameter group, whose names vary with engine and version. Only with the restore-test tag.`,
    );
    if (aurora) {
      policy.add(
        new iam.PolicyStatement({
          sid: 'RestoreTemporaryClusters',
          actions: ['rds:RestoreDBClusterFromSnapshot'],
          resources: [clusters, this.rdsArn('cluster-snapshot', `${prefix}*`), subnetGroup, this.rdsArn('cluster-pg', '*'), optionGroups],
          conditions: created,
        }),
        `${perRun}; Aurora restores read ${snapshots}, and attach the engine's default cluster parameter group and option group, whose names vary with engine and version. Only with the restore-test tag.`,
      );
      policy.add(
        new iam.PolicyStatement({
          sid: 'CreateTemporaryClusterInstances',
          actions: ['rds:CreateDBInstance'],
          resources: [instances, clusters, this.rdsArn('pg', '*'), optionGroups, subnetGroup],
          conditions: created,
        }),
        `${perRun}; the Aurora instance joins its temporary cluster with the engine's default parameter and option groups, whose names vary with the engine. Only with the restore-test tag.`,
      );
    }
    policy.add(
      new iam.PolicyStatement({ sid: 'TagTemporaryDatabases', actions: ['rds:AddTagsToResource'], resources: aurora ? [instances, clusters] : [instances], conditions: created }),
      `${perRun}; RDS authorizes tag-on-create as AddTagsToResource, and only with the restore-test tag.`,
    );
    policy.add(new iam.PolicyStatement({ sid: 'DescribeTemporaryInstances', actions: ['rds:DescribeDBInstances'], resources: [instances] }), `${perRun}; describing (polling, endpoint, orphan and deletion checks) is read-only.`);
    if (aurora) {
      policy.add(new iam.PolicyStatement({ sid: 'DescribeTemporaryClusters', actions: ['rds:DescribeDBClusters'], resources: [clusters] }), `${perRun}; describing (Aurora orphan and deletion checks) is read-only.`);
      policy.add(
        new iam.PolicyStatement({ sid: 'DescribeClusterSnapshots', actions: ['rds:DescribeDBClusterSnapshots'], resources: [this.rdsArn('cluster-snapshot', `${prefix}*`)] }),
        `Any cluster snapshot the test may restore (${snapshots}): reading its engine and version is read-only.`,
      );
    }
    policy.add(
      new iam.PolicyStatement({ sid: 'DeleteTemporaryInstances', actions: ['rds:DeleteDBInstance'], resources: [instances], conditions: owned }),
      `${perRun}; the role deletes only databases carrying the restore-test tag it put on them.`,
    );
    if (aurora) {
      policy.add(
        new iam.PolicyStatement({ sid: 'DeleteTemporaryClusters', actions: ['rds:DeleteDBCluster'], resources: [clusters], conditions: owned }),
        `${perRun}; the role deletes only clusters carrying the restore-test tag it put on them.`,
      );
    }
    if (props.snapshotKeyArns?.length) {
      const viaRds = { 'kms:ViaService': `rds.${this.stack.region}.amazonaws.com` };
      // RDS creates the restored database's grant on the snapshot's key with the caller's permissions.
      policy.add(
        new iam.PolicyStatement({
          sid: 'GrantSnapshotKeysToRds',
          actions: ['kms:CreateGrant'],
          resources: [...props.snapshotKeyArns],
          conditions: { StringEquals: viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      );
      policy.add(new iam.PolicyStatement({ sid: 'DescribeSnapshotKeys', actions: ['kms:DescribeKey'], resources: [...props.snapshotKeyArns], conditions: { StringEquals: viaRds } }));
    }
    this.validateRestore.grantInvoke(role);
    policy.acknowledge(
      [`${nagResourceName(role, this.validateRestore.functionArn)}:*`],
      "Added by grantInvoke: the validate-restore function's own versions and aliases, nothing else (the task invokes the unqualified ARN).",
    );
    policy.acknowledge(['*'], 'Resource "*" only in the log delivery and X-Ray statements CDK adds for logging and tracing: their actions support no narrower resource.');

    // Standard: an execution runs up to about two hours. No timeout: a timed-out execution runs no cleanup.
    const stateMachine = standardStateMachine(this, 'StateMachine', {
      stateMachineName,
      definitionBody: sfn.DefinitionBody.fromString(readFileSync(`${repoRoot}statemachines/snapshot-restore-test.asl.json`, 'utf8')),
      definitionSubstitutions: {
        RestoreTestInstanceClass: props.instanceClass ?? 'db.t4g.micro',
        AuroraRestoreTestInstanceClass: props.auroraInstanceClass ?? 'db.t4g.medium',
        DbSubnetGroupName: this.dbSubnetGroupName,
        IsolatedSecurityGroupId: this.isolatedSecurityGroup.securityGroupId,
        ValidateRestoreFunctionArn: this.validateRestore.functionArn,
      },
      role,
      logGroup,
    });
    return { stateMachine, role, logGroup };
  }
}

/** RDS identifiers allow no double or trailing hyphen; `lb-rt-<id>-<8 hex>` must fit in 63 characters. */
const SOURCE_ID = /^[a-z][a-z0-9-]{0,39}$/;
const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

function validateRestoreTestProps(id: string, props: RestoreTestProps): void {
  const problems: string[] = [];
  const resolved = (value: string | undefined): value is string => value !== undefined && !Token.isUnresolved(value);
  if (resolved(props.name) && !/^[a-z][a-z0-9-]{0,49}$/.test(props.name)) problems.push(`name: '${props.name}' must be 1-50 lowercase letters, digits or hyphens, starting with a letter`);
  if (props.sources.length === 0) problems.push('sources: at least one source is required');
  const seen = new Set<string>();
  props.sources.forEach((s, i) => {
    if (resolved(s.id) && (!SOURCE_ID.test(s.id) || s.id.includes('--') || s.id.endsWith('-'))) {
      problems.push(`sources[${i}].id: '${s.id}' must be 1-40 lowercase letters, digits or hyphens, start with a letter, and have no double or trailing hyphen (it becomes part of an RDS identifier)`);
    }
    if (seen.has(s.id)) problems.push(`sources[${i}].id: duplicate source id '${s.id}'`);
    seen.add(s.id);
    if (resolved(s.credentialsSecretArn) && !s.credentialsSecretArn.startsWith('arn:')) problems.push(`sources[${i}].credentialsSecretArn: must be a secret ARN`);
    if (s.port !== undefined && (!Number.isInteger(s.port) || s.port < 1 || s.port > 65_535)) problems.push(`sources[${i}].port: ${s.port} is not a port number 1-65535`);
  });
  if (props.network.subnetIds.length === 0) problems.push('network.subnetIds: at least one subnet is required');
  else if (props.dbSubnetGroupName === undefined && props.network.subnetIds.length < 2) {
    problems.push('network.subnetIds: a DB subnet group needs subnets in at least two availability zones; list two or more, or name an existing dbSubnetGroupName');
  }
  if (resolved(props.dbSubnetGroupName) && !/^[a-z0-9][a-z0-9._ -]{0,254}$/.test(props.dbSubnetGroupName)) {
    problems.push(`dbSubnetGroupName: '${props.dbSubnetGroupName}' must be lowercase letters, digits, periods, underscores, spaces or hyphens (RDS stores the name, and so its ARN, in lowercase)`);
  }
  for (const [field, value] of [['instanceClass', props.instanceClass], ['auroraInstanceClass', props.auroraInstanceClass]] as const) {
    if (resolved(value) && !/^db\.[a-z0-9-]+\.[a-z0-9]+$/.test(value)) problems.push(`${field}: '${value}' is not an RDS instance class (e.g. db.t4g.micro)`);
  }
  if (props.snapshotNamePrefix !== undefined && !/^[a-zA-Z0-9-]*$/.test(props.snapshotNamePrefix)) problems.push(`snapshotNamePrefix: '${props.snapshotNamePrefix}' may hold only letters, digits and hyphens`);
  for (const [field, arns] of [['snapshotKeyArns', props.snapshotKeyArns], ['secretKeyArns', props.secretKeyArns]] as const) {
    (arns ?? []).forEach((arn, i) => {
      if (resolved(arn) && !KEY_ARN.test(arn)) problems.push(`${field}[${i}]: '${arn}' is not a KMS key ARN (an alias does not match the key in IAM)`);
    });
  }
  if (props.reservedConcurrentExecutions !== undefined && (!Number.isInteger(props.reservedConcurrentExecutions) || props.reservedConcurrentExecutions < 1)) {
    problems.push('reservedConcurrentExecutions: must be a positive integer');
  }
  if (problems.length > 0) throw new Error(`RestoreTest ${id}: invalid props:\n- ${problems.join('\n- ')}`);
}
