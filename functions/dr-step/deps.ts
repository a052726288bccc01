/**
 * What the DR step executor's modules share: the sources it is told of, what it can reach in each region,
 * and its dependencies. One module, so the step modules import it instead of each other.
 */
import type { MacSigner } from '../lib/crypto/mac.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import type { PlanTopics } from '../lib/alerts/planTopics.ts';
import type { RdsSender } from '../lib/aws/rdsSnapshot.ts';
import type { BackupKeyring } from '../lib/crypto/keyring.ts';
import type { Connect } from '../lib/engine/restoredDatabase.ts';
import type { DatabaseTls } from '../lib/engine/tls.ts';
import { ConfigError } from '../lib/errors.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import type { SsmApi } from '../lib/configset/apis.ts';
import type { VerifyServers } from '../verify/verify.ts';

/**
 * A source as the step executor is told of it (LIFEBOAT_SOURCES, the entries the other functions read).
 * Extra fields are ignored.
 */
export const DrSourceSchema = z.object({
  id: z.string().min(1),
  /** `docdb`: an Amazon DocumentDB cluster (snapshots only: restore-snapshot, never restore-dump or validate). */
  engine: z.enum(['postgresql', 'mysql', 'docdb']),
  /** The database a restored RDS instance is validated in. @default the engine's own (`postgres` / `mysql`) */
  database: z.string().min(1).optional(),
  /** The source's (master) credentials: a database restored from its snapshot has the same users. */
  credentialsSecretArn: z.string().startsWith('arn:'),
  rds: z.object({ type: z.enum(['instance', 'cluster']), identifier: z.string().min(1) }),
});
export type DrSource = z.infer<typeof DrSourceSchema>;

/** What the function can reach in one region: RDS, and the vault with the key that reads it there. */
export interface RegionResources {
  /** The AWS region, e.g. `eu-west-1`. */
  readonly name: string;
  readonly rds: RdsSender;
  readonly store: VaultStore;
  readonly keyring: BackupKeyring;
}

export interface DrStepDeps {
  readonly sources: readonly DrSource[];
  /** The primary region (where evidence is written) and the DR region. */
  readonly regions: {
    readonly primary: RegionResources;
    readonly dr?: RegionResources;
    /** The air-gapped vault, read through its reader role (another account's), for restore-dump, restore-cache and restore-files. */
    readonly 'air-gap'?: RegionResources;
  };
  /**
   * The verification key: a restore-dump picks only a backup whose verification result authenticates (in either
   * vault: the DR copies' results are the verifier's, copied unchanged). @default results as stored (local runs)
   */
  readonly verificationKey?: Pick<MacSigner, 'verify'>;
  /** The DR evidence key: the evidence of each run is signed with it (format 1.1). @default unsigned evidence (1.0) */
  readonly drEvidenceKey?: Pick<MacSigner, 'sign'>;
  readonly secrets: Pick<SecretsManagerClient, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
  /** VERIFY_SERVERS: where drills restore dumps. */
  readonly servers: VerifyServers;
  /** PLAN_TOPICS: plan name → contacts topic ARN. */
  readonly planTopics: PlanTopics;
  /** @default the system clock */
  readonly now?: () => Date;
  /**
   * TLS to every database (restore targets, verification servers, restored databases): `verify-full` checks the certificate against the RDS CAs and the host name; `require`
   * encrypts without checking; `disable` is for local servers without TLS (tests, a laptop).
   * @default 'verify-full'
   */
  readonly tls?: DatabaseTls;
  /** The RDS CA bundle's path, which `verify-full` needs (LIFEBOAT_RDS_CA_BUNDLE in the tools image). @default - none */
  readonly caBundle?: string;
  /** How validate connects to a restored database. @default connectRestoredDatabase */
  readonly connect?: Connect;
  /** PostgreSQL: parallel restore streams of a multi-part backup. @default the runner's vCPUs */
  readonly jobs?: number;
  /** S3 in a region (restore-files targets: a bucket in the region of the vault read). @default none: restore-files refuses to run */
  readonly s3?: (region: string) => Pick<S3Client, 'send'>;
  /** SSM and Secrets Manager in a region (restore-config targets: the region of the vault read). @default none: restore-config refuses to run */
  readonly config?: (region: string) => { readonly ssm: SsmApi; readonly secrets: SecretsManagerClient };
  /** The instance class added to a restored Aurora cluster when the step names none. @default db.r6g.large */
  readonly auroraInstanceClass?: string;
}

export function regionResources(deps: Pick<DrStepDeps, 'regions'>, choice: 'primary' | 'dr' | 'air-gap'): RegionResources {
  const region = deps.regions[choice];
  if (!region) throw new ConfigError(choice === 'air-gap' ? 'This function has no air-gapped vault configured (vaultAccount with its keyArn)' : `This function has no ${choice} region configured`);
  return region;
}
