import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_WILDCARD_REASON, auditWriteStatements } from './audit-trail.ts';
import { backupWriteStatements } from './dump-function.ts';
import { PipelineFunction } from './pipeline-function.ts';
import type { ConfigSelection } from '../../functions/lib/configset/collect.ts';

/** What one configuration source selects (the config file's `kind: "config"` fields), as the engine reads them. */
export type { ConfigSelection } from '../../functions/lib/configset/collect.ts';

/** A configuration source as the backup function is told of it (LIFEBOAT_SOURCES): what it selects, never a value. */
export interface ConfigBackupSource {
  readonly id: string;
  readonly kind: 'config';
  readonly selection: ConfigSelection;
}

export interface ConfigBackupFunctionProps {
  readonly sources: readonly ConfigBackupSource[];
  readonly vault: s3.IBucket;
  readonly vaultKey: kms.IKey;
  readonly logKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  /** The evidence key: the function records its audit events with it. @default no audit trail */
  readonly evidenceKey?: kms.IKey;
  /** The air-gapped vault's key: each backup's data key is wrapped under it too (Encrypt only), as a dump's is. @default none */
  readonly airGapKeyArn?: string;
}

/** `/orders/prod/` → `orders/prod`: the path as it appears in a parameter ARN (`parameter/orders/prod`). */
export function parameterPath(path: string): string {
  return path.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * The config backup function (`functions/config-backup`): reads each configuration source in the deployment's
 * region and writes a `config-jsonl` backup under `backups/<source>/` in the vault. Its reads are exactly the
 * configured ones:
 * - SSM: `GetParametersByPath` on each path (the path and everything under it) and the SecureString values' KMS
 *   decryption only through SSM and only for parameters under those paths (the `PARAMETER_ARN` encryption context);
 * - Secrets Manager: `ListSecrets` (it has no resource-level permission), `GetSecretValue` on secrets named with a
 *   configured prefix or carrying a configured tag, and their KMS decryption only through Secrets Manager;
 * - CloudFormation: `DescribeStacks` and `GetTemplate` of the named stacks.
 * In the vault it holds a dump function's writer grants (`backupWriteStatements`): new objects under its sources'
 * prefixes, never a verification result, never a completed backup's manifest. It calls only AWS APIs, so it runs
 * outside any VPC.
 *
 * @example
 * new ConfigBackupFunction(this, 'ConfigBackup', { sources: [{ id: 'orders-config', kind: 'config', selection: { ssmPaths: ['/orders/prod/'], secretPrefixes: [], secretTags: [], stacks: [] } }], vault, vaultKey, logKey, deadLetterQueue });
 */
export class ConfigBackupFunction extends Construct {
  readonly function: PipelineFunction;
  readonly sources: readonly ConfigBackupSource[];

  constructor(scope: Construct, id: string, props: ConfigBackupFunctionProps) {
    super(scope, id);
    if (props.sources.length === 0) throw new Error(`ConfigBackupFunction ${id}: at least one source is required`);
    this.sources = props.sources;
    const stack = Stack.of(this);
    const fn = new PipelineFunction(this, 'Backup', {
      handler: 'config-backup',
      serviceName: 'lifeboat-config-backup',
      description: 'Lifeboat: encrypted backups of SSM parameters, Secrets Manager secrets and CloudFormation stacks into the vault',
      environment: {
        VAULT_BUCKET: props.vault.bucketName,
        VAULT_KEY_ARN: props.vaultKey.keyArn,
        LIFEBOAT_SOURCES: JSON.stringify(props.sources),
        ...(props.evidenceKey ? { EVIDENCE_KEY_ARN: props.evidenceKey.keyArn } : {}),
        ...(props.airGapKeyArn ? { AIR_GAP_KEY_ARN: props.airGapKeyArn } : {}),
      },
      keyUse: ['encrypt'],
      logKey: props.logKey,
      deadLetterQueue: props.deadLetterQueue,
      timeout: Duration.minutes(15),
      memorySize: 512,
      reservedConcurrentExecutions: 2,
      outsideVpcReason: 'It calls only AWS APIs (SSM, Secrets Manager, CloudFormation, S3 and KMS); a VPC would need an endpoint for each and add nothing.',
    });
    this.function = fn;
    const selections = props.sources.map((s) => s.selection);

    const paths = [...new Set(selections.flatMap((s) => s.ssmPaths).map(parameterPath))];
    if (paths.length > 0) {
      const parameterArn = (name: string) => stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
      // The root path `/` is every parameter; otherwise the path itself (what GetParametersByPath is authorized on) and everything under it.
      const resources = paths.flatMap((p) => (p === '' ? [stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME })] : [parameterArn(p), parameterArn(`${p}/*`)]));
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadParametersByPath', actions: ['ssm:GetParametersByPath'], resources }),
        'The configured SSM paths: each path and the parameters under it (the wildcard is the rest of a parameter name below a configured path).',
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DecryptSecureStrings',
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com` },
            StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': paths.map((p) => (p === '' ? parameterArn('*') : parameterArn(`${p}/*`))) },
          },
        }),
        'A SecureString may be under any key of the account; decryption is allowed only through SSM and only for parameters under the configured paths (SSM puts the parameter ARN in the encryption context).',
      );
    }

    const prefixes = [...new Set(selections.flatMap((s) => s.secretPrefixes))];
    const tags = selections.flatMap((s) => s.secretTags);
    if (prefixes.length + tags.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ListSecrets', actions: ['secretsmanager:ListSecrets'], resources: ['*'] }),
        'secretsmanager:ListSecrets has no resource-level permission.',
      );
      const secretArn = (name: string) => stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
      if (prefixes.length > 0) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ sid: 'ReadSecretsByPrefix', actions: ['secretsmanager:GetSecretValue'], resources: prefixes.map((p) => secretArn(`${p}*`)) }),
          'Secrets named with a configured prefix: the wildcard is the rest of the name and the random suffix Secrets Manager adds.',
        );
      }
      tags.forEach((tag, i) => {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: `ReadSecretsByTag${i + 1}`,
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretArn('*')],
            conditions: tag.value === undefined ? { Null: { [`secretsmanager:ResourceTag/${tag.key}`]: 'false' } } : { StringEquals: { [`secretsmanager:ResourceTag/${tag.key}`]: tag.value } },
          }),
          `Secrets selected by the tag ${tag.key}: any secret name, only when the secret carries the tag (the condition).`,
        );
      });
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DecryptSecrets',
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } },
        }),
        'A secret may be under any key of the account; decryption is allowed only through Secrets Manager, which asks for it only for a secret the role may read.',
      );
    }

    const stacks = [...new Set(selections.flatMap((s) => s.stacks))];
    if (stacks.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadStacks',
          actions: ['cloudformation:DescribeStacks', 'cloudformation:GetTemplate'],
          resources: stacks.map((name) => stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${name}/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })),
        }),
        'The configured stacks: the wildcard is the stack id CloudFormation appends to the name.',
      );
    }

    for (const { statement, wildcardReason } of backupWriteStatements(stack, { vault: props.vault, vaultKey: props.vaultKey, sourceIds: props.sources.map((s) => s.id) })) {
      fn.addToRolePolicy(statement, wildcardReason);
    }
    // So the copy in the air-gapped vault opens with that account's key alone: Encrypt only, never Decrypt.
    if (props.airGapKeyArn) fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'WrapForAirGappedVault', actions: ['kms:Encrypt'], resources: [props.airGapKeyArn] }));
    if (props.evidenceKey) {
      for (const { statement, wildcardReason } of auditWriteStatements(stack, { vault: props.vault, vaultKey: props.vaultKey, evidenceKey: props.evidenceKey })) {
        fn.addToRolePolicy(statement, wildcardReason ?? AUDIT_WILDCARD_REASON);
      }
    }
  }

  get functionArn(): string {
    return this.function.functionArn;
  }
}
