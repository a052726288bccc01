import { ArnFormat, Duration, Fn, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { repoRoot } from './pipeline-function.ts';
import type { GrantedStatement } from './reviewed-policy.ts';
import { KEY_USE_TAGS } from './vault-key.ts';
import { nagResourceName } from './reviewed-policy.ts';
import { AUDIT_WILDCARD_REASON, auditWriteStatements } from './audit-trail.ts';

/** What a dump function backs up: a database it dumps, or an ElastiCache cache whose snapshot it exports. */
export type DumpSource = DatabaseDumpSource | CacheDumpSource;

/** An ElastiCache (Redis OSS / Valkey) cache: exported through the staging bucket, sealed into the vault. */
export interface CacheDumpSource {
  readonly id: string;
  readonly engine: 'redis';
  readonly elasticache: { readonly replicationGroupId: string } | { readonly cacheClusterId: string };
}

/** A database this function dumps. Only identifiers: credentials stay in Secrets Manager. */
export interface DatabaseDumpSource {
  readonly id: string;
  readonly engine: 'postgresql' | 'mysql';
  readonly database: string;
  /** The RDS-managed (or user-managed) secret holding `username` and `password`. */
  readonly credentialsSecretArn: string;
  /** The DB instance or cluster to describe for its endpoint. */
  readonly rds: { readonly type: 'instance' | 'cluster'; readonly identifier: string };
}

export interface DumpNetwork {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

export interface DumpFunctionProps {
  /** Sources sharing one network placement; the function may write only their prefixes. */
  readonly sources: readonly DumpSource[];
  readonly network: DumpNetwork;
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  /** Failed asynchronous invocations land here. */
  readonly deadLetterQueue: sqs.IQueue;
  /** @default 3008 (more memory buys more CPU for compression) */
  readonly memorySize?: number;
  /** @default Duration.minutes(15), Lambda's maximum */
  readonly timeout?: Duration;
  /** @default 2 */
  readonly reservedConcurrentExecutions?: number;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Encrypts the function's log group. */
  readonly logKey: kms.IKey;
  /** The evidence key: when given, the function records its audit events (docs/audit-trail.md). @default no audit trail */
  readonly evidenceKey?: kms.IKey;
  /**
   * The air-gapped vault's key (another account's): every dump's data key is also wrapped under it (`kms:Encrypt`
   * only), so the air-gapped copy decrypts with that account's key alone. @default not wrapped
   */
  readonly airGapKeyArn?: string;
  /** Where ElastiCache exports the caches' snapshots: required when a source is a cache. */
  readonly staging?: s3.IBucket;
}

export type { GrantedStatement } from './reviewed-policy.ts';

const CACHE_SNAPSHOT_REASON = "Cache snapshots are named lifeboat-<source>-<backup id>, new for every backup (and its export -export): the wildcard is the backup id within this source's own name prefix.";

/** Lambda only needs subnet ids; a placeholder route table keeps CDK from warning about one it never reads. */
const NO_ROUTE_TABLE = 'unused-by-lambda';

/**
 * The image of a function that runs the database client tools (`functions/dump/Dockerfile`): Node.js 22 with
 * the PostgreSQL and MariaDB clients, bundling `functions/<handler>/handler.ts`.
 */
export function toolsImageCode(handler: 'dump' | 'verify' | 'dr-step'): lambda.DockerImageCode {
  return lambda.DockerImageCode.fromImageAsset(repoRoot, {
    file: 'functions/dump/Dockerfile',
    buildArgs: { HANDLER: handler },
    exclude: TOOLS_IMAGE_EXCLUDES,
  });
}

/**
 * What the tools image's build context leaves out (the Lambda and the Fargate task build the same image). The
 * tests' and Stryker's scratch directories in the repository are left out too: a synth running beside a test
 * would otherwise copy a directory that test is removing.
 */
export const TOOLS_IMAGE_EXCLUDES = ['node_modules', 'cdk.out', '.git', '.scratch', '.vitest-tmp*', '.stryker-tmp', 'test', 'bench', '**/*.md'];

/**
 * The dump function: streams `pg_dump` / `mysqldump` through zstd and the Encryption SDK into the vault.
 * A container image, because it needs the PostgreSQL and MariaDB client tools beside Node.js. It runs in
 * the sources' VPC, reads only their secrets, and may write only under their prefixes in the vault.
 *
 * @example
 * new DumpFunction(this, 'DumpOrders', { sources: [orders], network, vault: vault.bucket, vaultKey: key.key, deadLetterQueue, logKey });
 */
export class DumpFunction extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The role's own statements (sources, vault, key), without the Lambda plumbing: what its Fargate task role gets too. */
  readonly grants: GrantedStatement[] = [];
  /** What the function is told (identifiers only): its Fargate task gets the same. */
  readonly environment: Readonly<Record<string, string>>;
  readonly sources: readonly DumpSource[];
  readonly network: DumpNetwork;

  constructor(scope: Construct, id: string, props: DumpFunctionProps) {
    super(scope, id);
    validateDumpProps(id, props);
    this.sources = props.sources;
    this.network = props.network;
    this.environment = {
      VAULT_BUCKET: props.vault.bucketName,
      VAULT_KEY_ARN: props.vaultKey.keyArn,
      // Identifiers only (ids, secret ARNs, database names): never credentials.
      LIFEBOAT_SOURCES: JSON.stringify(props.sources),
      ...(props.evidenceKey ? { EVIDENCE_KEY_ARN: props.evidenceKey.keyArn } : {}),
      ...(props.airGapKeyArn ? { AIR_GAP_KEY_ARN: props.airGapKeyArn } : {}),
      ...(props.staging ? { STAGING_BUCKET: props.staging.bucketName } : {}),
    };

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Lifeboat dump function for ${props.sources.map((s) => s.id).join(', ')}`,
    });
    // The vault key policy lets a role encrypt only when it carries this tag; dumps never decrypt.
    Tags.of(this.role).add(KEY_USE_TAGS.encrypt, 'true');

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const placement = lambdaNetwork(this, props.network);
    this.function = new lambda.DockerImageFunction(this, 'Function', {
      description: 'Lifeboat: streamed, encrypted logical backups (pg_dump / mysqldump) into the vault',
      code: toolsImageCode('dump'),
      architecture: lambda.Architecture.X86_64,
      memorySize: props.memorySize ?? 3008,
      timeout: props.timeout ?? Duration.minutes(15),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? 2,
      role: this.role,
      logGroup: this.logGroup,
      ...placement,
      deadLetterQueue: props.deadLetterQueue,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        ...this.environment,
        POWERTOOLS_SERVICE_NAME: 'lifeboat-dump',
        POWERTOOLS_METRICS_NAMESPACE: 'Lifeboat',
      },
    });

    this.logGroup.grantWrite(this.role);
    props.deadLetterQueue.encryptionMasterKey?.grant(this.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    this.role.addToPolicy(attachToVpcStatement('AttachToSourceVpc'));
    this.grantSourceAccess(props.sources, props.staging);
    this.grantVaultWrites(props);
    // Wrapping the data key for the air-gapped vault: Encrypt only, so this role can never unwrap what it wraps there.
    if (props.airGapKeyArn) this.grant(new iam.PolicyStatement({ sid: 'WrapForAirGappedVault', actions: ['kms:Encrypt'], resources: [props.airGapKeyArn] }));
    if (props.evidenceKey) {
      for (const { statement, wildcardReason } of auditWriteStatements(Stack.of(this), { vault: props.vault, vaultKey: props.vaultKey, evidenceKey: props.evidenceKey })) this.grant(statement, wildcardReason);
    }
    this.acknowledgeFindings(props);
  }

  /** A statement of the role's own (not Lambda plumbing), recorded for the Fargate task role. */
  private grant(statement: iam.PolicyStatement, reason?: string): void {
    this.role.addToPolicy(statement);
    this.grants.push({ statement, wildcardReason: reason ?? (statement.sid === 'WriteOwnSourcePrefixes' ? 'Backups of these sources are new objects under their own prefixes in the vault; the wildcard is the object name within a prefix and nothing wider.' : undefined) });
  }

  private grantSourceAccess(all: readonly DumpSource[], staging: s3.IBucket | undefined): void {
    const stack = Stack.of(this);
    const caches = all.filter((s): s is CacheDumpSource => s.engine === 'redis');
    if (caches.length > 0) this.grantCacheExports(caches, staging!);
    const sources = all.filter((s): s is DatabaseDumpSource => s.engine !== 'redis');
    if (sources.length === 0) return;
    this.grant(
      new iam.PolicyStatement({
        sid: 'ReadSourceCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: sources.map((s) => s.credentialsSecretArn),
      }),
    );
    const instances = sources.filter((s) => s.rds.type === 'instance');
    const clusters = sources.filter((s) => s.rds.type === 'cluster');
    if (instances.length > 0) {
      this.grant(
        new iam.PolicyStatement({
          sid: 'DescribeSourceInstances',
          actions: ['rds:DescribeDBInstances'],
          resources: instances.map((s) => stack.formatArn({ service: 'rds', resource: 'db', resourceName: s.rds.identifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME })),
        }),
      );
    }
    if (clusters.length > 0) {
      this.grant(
        new iam.PolicyStatement({
          sid: 'DescribeSourceClusters',
          actions: ['rds:DescribeDBClusters'],
          resources: clusters.map((s) => stack.formatArn({ service: 'rds', resource: 'cluster', resourceName: s.rds.identifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME })),
        }),
      );
    }
  }

  /**
   * A cache's export (functions/lib/elasticache/export.ts): snapshot the cache under Lifeboat's own snapshot names,
   * export that snapshot to the staging bucket, read and delete the exported files, delete the snapshot. What
   * `CopySnapshot` to a bucket asks of its caller beyond that (`s3:GetBucketLocation`, `s3:ListAllMyBuckets`) takes
   * no narrower resource.
   */
  private grantCacheExports(caches: readonly CacheDumpSource[], staging: s3.IBucket): void {
    const stack = Stack.of(this);
    const arn = (resource: string, resourceName: string) => stack.formatArn({ service: 'elasticache', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const snapshots = caches.map((s) => arn('snapshot', `lifeboat-${s.id}-*`));
    const targets = caches.map((s) => ('replicationGroupId' in s.elasticache ? arn('replicationgroup', s.elasticache.replicationGroupId) : arn('cluster', s.elasticache.cacheClusterId)));
    // Granted with the reason for its wildcard resources, acknowledged at once (the vault prefixes are acknowledged in acknowledgeFindings).
    const grantNamed = (statement: iam.PolicyStatement, reason: string) => {
      this.grant(statement, reason);
      const names = statement.resources.map((resource) => nagResourceName(this.role, resource)).filter((name) => name.includes('*') && name !== '*');
      Validations.of(this.role.node.findChild('DefaultPolicy')).acknowledge(...names.map((name) => ({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${name}]`, reason })));
    };
    grantNamed(
      new iam.PolicyStatement({ sid: 'SnapshotOwnCaches', actions: ['elasticache:CreateSnapshot'], resources: [...targets, ...snapshots] }),
      CACHE_SNAPSHOT_REASON,
    );
    grantNamed(
      new iam.PolicyStatement({
        sid: 'ExportAndRemoveOwnCacheSnapshots',
        // Tags are set at creation (CreateSnapshot's Tags), which ElastiCache authorizes as AddTagsToResource.
        actions: ['elasticache:AddTagsToResource', 'elasticache:DescribeSnapshots', 'elasticache:CopySnapshot', 'elasticache:DeleteSnapshot'],
        resources: snapshots,
      }),
      CACHE_SNAPSHOT_REASON,
    );
    // Before each run: the cache's own snapshots, listed by its group or cluster id, to remove what a stopped run left.
    this.grant(new iam.PolicyStatement({ sid: 'ListOwnCacheSnapshots', actions: ['elasticache:DescribeSnapshots'], resources: targets }));
    this.grant(
      new iam.PolicyStatement({ sid: 'FindStagingBucket', actions: ['s3:GetBucketLocation', 's3:ListAllMyBuckets'], resources: ['*'] }),
      'CopySnapshot to a bucket requires s3:GetBucketLocation and s3:ListAllMyBuckets of its caller (ElastiCache user guide, "Exporting a backup"); ListAllMyBuckets takes no narrower resource.',
    );
    this.grant(new iam.PolicyStatement({ sid: 'ListStagedExports', actions: ['s3:ListBucket'], resources: [staging.bucketArn] }));
    grantNamed(
      new iam.PolicyStatement({
        sid: 'ReadAndRemoveStagedExports',
        actions: ['s3:GetObject', 's3:DeleteObject'],
        resources: caches.map((s) => staging.arnForObjects(`lifeboat-${s.id}-*`)),
      }),
      'Exports are named lifeboat-<source>-<backup id>-export-000N.rdb: the wildcard is the backup id and shard within each source\'s own name prefix.',
    );
  }

  private grantVaultWrites(props: DumpFunctionProps): void {
    for (const { statement, wildcardReason } of backupWriteStatements(Stack.of(this), { vault: props.vault, vaultKey: props.vaultKey, sourceIds: props.sources.map((s) => s.id) })) {
      this.grant(statement, wildcardReason);
    }
  }

  private acknowledgeFindings(props: DumpFunctionProps): void {
    const policy = this.role.node.tryFindChild('DefaultPolicy') ?? this.role;
    // cdk-nag names a resource by the token of the vault bucket's ARN: `<LogicalId.Arn>`.
    const vaultToken = `<${Stack.of(props.vault).getLogicalId(props.vault.node.defaultChild as s3.CfnBucket)}.Arn>`;
    Validations.of(policy).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only statements whose actions support no narrower resource use Resource "*": Lambda attaching the function to the source VPC (ec2 network interface actions), X-Ray trace upload and, for caches, s3:GetBucketLocation and s3:ListAllMyBuckets, which CopySnapshot to a bucket requires of its caller.',
      },
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-IAMNoInlinePolicy',
        reason:
          "The role's policy is generated from grants scoped to this function's own sources, secrets, vault prefixes and keys; a managed policy would be shared between functions and so wider than any one needs.",
      },
      ...props.sources.map((source) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${vaultToken}/backups/${source.id}/*]`,
        reason: `Backups of ${source.id} are new objects under its own prefix in the vault; the wildcard is the object name within that prefix and nothing wider.`,
      })),
      ...(props.evidenceKey ? [{ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${vaultToken}/audit/*]`, reason: AUDIT_WILDCARD_REASON }] : []),
    );
  }
}

/**
 * A function's place in an existing network, by id: the imported VPC carries only its id, so synth needs no
 * lookup (and no AWS credentials), and the subnets and security groups are given explicitly.
 */
export function lambdaNetwork(scope: Construct, network: DumpNetwork): Pick<lambda.FunctionOptions, 'vpc' | 'vpcSubnets' | 'securityGroups'> {
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', { vpcId: network.vpcId, availabilityZones: Fn.getAzs() });
  Validations.of(vpc).acknowledge({
    id: 'Annotation::@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
    reason: 'The function gets its subnets by id; nothing here asks the imported VPC for its subnet lists.',
  });
  return {
    vpc,
    vpcSubnets: { subnets: network.subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetAttributes(scope, `Subnet${i}`, { subnetId, routeTableId: NO_ROUTE_TABLE })) },
    securityGroups: network.securityGroupIds.map((sgId, i) => ec2.SecurityGroup.fromSecurityGroupId(scope, `Sg${i}`, sgId, { mutable: false })),
  };
}

/** Lambda creates and removes a VPC function's network interfaces; these actions take no narrower resource. */
export function attachToVpcStatement(sid: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
    resources: ['*'],
  });
}

function validateDumpProps(id: string, props: DumpFunctionProps): void {
  const problems: string[] = [];
  if (props.sources.length === 0) problems.push('sources: at least one source is required');
  if (props.staging === undefined && props.sources.some((s) => s.engine === 'redis')) problems.push('staging: required when a source is an ElastiCache cache (its snapshot is exported there)');
  if (props.network.subnetIds.length === 0) problems.push('network.subnetIds: at least one subnet is required');
  if (props.network.securityGroupIds.length === 0) problems.push('network.securityGroupIds: at least one security group is required');
  const seen = new Set<string>();
  props.sources.forEach((s, i) => {
    if (seen.has(s.id)) problems.push(`sources[${i}].id: duplicate source id '${s.id}'`);
    seen.add(s.id);
  });
  if (problems.length > 0) throw new Error(`DumpFunction ${id}: invalid props:\n- ${problems.join('\n- ')}`);
}

/**
 * What a writer of backups under `backups/<source>/` may do in the vault, and what it may never do there: new objects
 * under its sources' prefixes (and removing its own failed, unlisted payload), never a verification result and never a
 * completed backup's manifest. The dump functions and the config backup function hold exactly these.
 */
export function backupWriteStatements(stack: Stack, props: { readonly vault: s3.IBucket; readonly vaultKey: kms.IKey; readonly sourceIds: readonly string[] }): GrantedStatement[] {
  return [
    {
      statement: new iam.PolicyStatement({
        sid: 'WriteOwnSourcePrefixes',
        // GetObject: the manifest is written only after a HeadObject of the payload; DeleteObject: a failed
        // run removes its partial payload (on the versioned, locked vault that adds a delete marker).
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', 's3:DeleteObject'],
        resources: props.sourceIds.map((id) => props.vault.arnForObjects(`backups/${id}/*`)),
      }),
      wildcardReason: 'Backups of these sources are new objects under their own prefixes in the vault; the wildcard is the object name within a prefix and nothing wider.',
    },
    // The prefix grant is wide; these denies take back what a writer must never do there, whatever the allow says:
    // write or remove a verification result (the verify function's evidence: a forged "verified" would make a
    // corrupted backup the one a DR plan restores), or remove a completed backup's manifest (hiding it; deleting
    // completed backups is retention's alone). A failed run deletes only its partial payload, written before any manifest.
    {
      statement: new iam.PolicyStatement({
        sid: 'NeverWriteVerificationResults',
        effect: iam.Effect.DENY,
        actions: ['s3:PutObject', 's3:DeleteObject'],
        resources: props.sourceIds.map((id) => props.vault.arnForObjects(`backups/${id}/*/verifications/*`)),
      }),
      wildcardReason: 'Deny statements: the wildcards are the backup id and result name under each source this role writes; a deny can only take away.',
    },
    {
      statement: new iam.PolicyStatement({
        sid: 'NeverHideCompletedBackups',
        effect: iam.Effect.DENY,
        actions: ['s3:DeleteObject'],
        resources: props.sourceIds.map((id) => props.vault.arnForObjects(`backups/${id}/*/manifest.json`)),
      }),
      wildcardReason: 'Deny statements: the wildcard is the backup id under each source this role writes; a deny can only take away.',
    },
    // Without ListBucket a missing object is a 403, not the 404 the store expects.
    { statement: new iam.PolicyStatement({ sid: 'ListVault', actions: ['s3:ListBucket'], resources: [props.vault.bucketArn] }) },
    { statement: new iam.PolicyStatement({ sid: 'GenerateBackupDataKeys', actions: ['kms:GenerateDataKey'], resources: [props.vaultKey.keyArn] }) },
    {
      statement: new iam.PolicyStatement({
        sid: 'CompleteSseKmsMultipartUploads',
        actions: ['kms:Decrypt'],
        resources: [props.vaultKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    },
  ];
}
