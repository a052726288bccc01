/**
 * The resolve-source function's core: the backup state machine's first call, which turns a source id into
 * how that source is backed up (dump, snapshot or both), which dump function serves it and, for dumps,
 * where the dump runs: Lambda, or a Fargate task when the source has outgrown Lambda's 15 minutes. One
 * state machine serves every source; this answer is what differs between them.
 *
 * It also reads back the manifest of a dump taken on Fargate (`action: dump-result`): `ecs:runTask.sync`
 * returns the stopped task, not the program's output, so the dump writes its manifest under the backup id
 * chosen here and the state machine reads it from the vault.
 */
import { z } from 'zod';
import { readManifest } from '../lib/vault/catalog.ts';
import { readFileSetManifest } from '../lib/fileset/catalog.ts';
import { fileSetResultOf } from '../fileset-backup/backup.ts';
import { ConfigError } from '../lib/errors.ts';
import { jobsForTaskCpu, threadPoolSizeFor } from '../lib/engine/jobs.ts';
import { isBackupId, MANIFEST_NAME, newBackupId, parseBackupId, parseBackupKey, sourcePrefix } from '../lib/vault/layout.ts';
import type { VaultStore } from '../lib/vault/store.ts';
import { parseOrConfigError } from '../lib/validation.ts';

const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$/;
const ECS_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:[a-z-]+\/[A-Za-z0-9_./:-]+$/;

/** Where a source's dump runs and, for Fargate, in which task definitions, network and size. */
const FargateRouteSchema = z.object({
  cluster: z.string().regex(ECS_ARN, 'must be an ECS cluster ARN'),
  dumpTaskDefinition: z.string().regex(ECS_ARN, 'must be an ECS task definition ARN'),
  verifyTaskDefinition: z.string().regex(ECS_ARN, 'must be an ECS task definition ARN'),
  /** The copy task: a DR copy that one Lambda run cannot finish goes on there, in the same network. @default none: the copy Lambda is run again */
  copyTaskDefinition: z.string().regex(ECS_ARN, 'must be an ECS task definition ARN').optional(),
  subnets: z.array(z.string().startsWith('subnet-')).min(1),
  securityGroups: z.array(z.string().startsWith('sg-')).min(1),
  /** The verification servers' network, or the source's when none is configured. */
  verifySubnets: z.array(z.string().startsWith('subnet-')).min(1),
  verifySecurityGroups: z.array(z.string().startsWith('sg-')).min(1),
  cpu: z.int().positive(),
  memoryMiB: z.int().positive(),
  autoAfterMinutes: z.number().positive(),
  autoAboveRawGiB: z.number().positive(),
});

/** One entry of LIFEBOAT_ROUTES, written by the CDK construct from the config. */
export const SourceRouteSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be a source id (a lowercase letter, then up to 39 lowercase letters, digits or hyphens)'),
    method: z.enum(['dump', 'snapshot', 'both']),
    dumpFunctionArn: z.string().regex(LAMBDA_ARN, 'must be a Lambda function ARN').optional(),
    /** @default 'lambda' (a route without a Fargate task) */
    runner: z.enum(['auto', 'lambda', 'fargate']).optional(),
    fargate: FargateRouteSchema.optional(),
    /** A file set: its backups are snapshots under `filesets/`, read back from there (docs/file-sets.md). @default a backup under `backups/` */
    kind: z.literal('fileset').optional(),
  })
  .refine((route) => route.method === 'snapshot' || route.dumpFunctionArn !== undefined, {
    path: ['dumpFunctionArn'],
    message: 'required unless method is snapshot',
  })
  .refine((route) => route.runner === undefined || route.runner === 'lambda' || route.fargate !== undefined, {
    path: ['fargate'],
    message: 'required when runner is auto or fargate',
  });
export type SourceRoute = z.infer<typeof SourceRouteSchema>;

export const SourceRoutesSchema = z
  .array(SourceRouteSchema)
  .min(1, 'must list at least one source')
  .superRefine((routes, ctx) => {
    routes.forEach((route, i) => {
      if (routes.findIndex((r) => r.id === route.id) !== i) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate source id '${route.id}'` });
    });
  });

const ResolveEventSchema = z.object({ sourceId: z.string().min(1, 'must not be empty') });
const DumpResultEventSchema = z.object({
  action: z.literal('dump-result'),
  sourceId: z.string().min(1, 'must not be empty'),
  backupId: z.string().refine(isBackupId, 'must be a backup id like 20261122T053327Z-k3x7q2ab'),
});

/** What RunTask is given for a Fargate dump or verification (strings, as ECS overrides take them). */
export interface FargateTarget {
  readonly cluster: string;
  readonly dumpTaskDefinition: string;
  readonly verifyTaskDefinition: string;
  /** Where a DR copy that runs out of Lambda's time goes on (in `subnets`). */
  readonly copyTaskDefinition?: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly verifySubnets: readonly string[];
  readonly verifySecurityGroups: readonly string[];
  readonly cpu: string;
  readonly memory: string;
  /** LIFEBOAT_JOBS and UV_THREADPOOL_SIZE for that size: one stream per vCPU. */
  readonly jobs: string;
  readonly threadPoolSize: string;
  /** The id a Fargate dump writes its backup under, so the state machine can read its manifest back. */
  readonly backupId: string;
}

/** What the state machine keeps as `$.source`; `dumpFunctionArn` is present unless the method is `snapshot`. */
export interface ResolvedSource {
  readonly sourceId: string;
  readonly method: SourceRoute['method'];
  readonly dumpFunctionArn?: string;
  /** Where the dump runs first (a Lambda that times out is retried on Fargate when `fargate` is present). */
  readonly runner?: 'lambda' | 'fargate';
  /** Why: the configuration, or what `auto` saw in the vault. */
  readonly runnerReason?: string;
  readonly fargate?: FargateTarget;
}

/** What `auto` reads: the vault (for the last dumps), and the clock. */
export interface ResolveDeps {
  readonly store?: VaultStore;
  readonly now?: () => Date;
}

/** A dump whose folder has no manifest this long after it started was cut off (a Lambda stops at 15 minutes). */
const CUT_OFF_AFTER_MS = 20 * 60_000;
/** How far back a cut-off dump still sends the source to Fargate. */
const CUT_OFF_MEMORY_MS = 7 * 24 * 3_600_000;
const GIB = 1024 ** 3;

export async function resolveSource(event: unknown, routes: readonly SourceRoute[], deps: ResolveDeps = {}): Promise<ResolvedSource> {
  const { sourceId } = parseOrConfigError(ResolveEventSchema, event, 'Invalid resolve-source event');
  const route = routes.find((r) => r.id === sourceId);
  if (!route) {
    throw new ConfigError(`Unknown source '${sourceId}': this deployment backs up ${routes.map((r) => r.id).join(', ')}`);
  }
  if (route.method === 'snapshot') return { sourceId, method: route.method };
  const base = { sourceId, method: route.method, dumpFunctionArn: route.dumpFunctionArn! };
  if (!route.fargate || (route.runner ?? 'lambda') === 'lambda') return { ...base, runner: 'lambda', runnerReason: 'configured: runner lambda' };
  const now = deps.now?.() ?? new Date();
  const { fargate } = route;
  const target: FargateTarget = {
    cluster: fargate.cluster,
    dumpTaskDefinition: fargate.dumpTaskDefinition,
    verifyTaskDefinition: fargate.verifyTaskDefinition,
    ...(fargate.copyTaskDefinition ? { copyTaskDefinition: fargate.copyTaskDefinition } : {}),
    subnets: fargate.subnets,
    securityGroups: fargate.securityGroups,
    verifySubnets: fargate.verifySubnets,
    verifySecurityGroups: fargate.verifySecurityGroups,
    cpu: String(fargate.cpu),
    memory: String(fargate.memoryMiB),
    jobs: String(jobsForTaskCpu(fargate.cpu)),
    threadPoolSize: String(threadPoolSizeFor(jobsForTaskCpu(fargate.cpu))),
    backupId: newBackupId(now),
  };
  if (route.runner === 'fargate') return { ...base, runner: 'fargate', runnerReason: 'configured: runner fargate', fargate: target };
  // A file set's scheduled runs read only what changed: each starts on Lambda, and one that runs out of time (a large
  // first backup) gives up in time and goes on on Fargate in the same execution (the Fargate target below).
  if (route.kind === 'fileset') return { ...base, runner: 'lambda', runnerReason: 'auto: a file set starts on Lambda and moves to Fargate when it runs out of time', fargate: target };
  if (!deps.store) throw new ConfigError(`Source ${sourceId} has runner auto, but this function has no vault to read its last backups from`);
  const reason = await outgrownLambda(deps.store, sourceId, fargate, now);
  return { ...base, runner: reason ? 'fargate' : 'lambda', runnerReason: reason ?? 'auto: the last dump fits Lambda', fargate: target };
}

/**
 * Why a source no longer fits Lambda, or undefined: its last completed dump took longer than
 * `autoAfterMinutes` or was larger than `autoAboveRawGiB`, or a dump of the last 7 days was cut off (a
 * folder without a manifest: a Lambda stopped at its timeout cannot clean up, a failed dump does).
 */
export async function outgrownLambda(
  store: VaultStore,
  sourceId: string,
  thresholds: { readonly autoAfterMinutes: number; readonly autoAboveRawGiB: number },
  now: Date,
): Promise<string | undefined> {
  const folders = new Map<string, boolean>();
  const prefix = sourcePrefix(sourceId);
  for await (const key of store.list(prefix)) {
    const parsed = parseBackupKey(key);
    if (!parsed || parsed.sourceId !== sourceId) continue;
    folders.set(parsed.backupId, (folders.get(parsed.backupId) ?? false) || parsed.name === MANIFEST_NAME);
  }
  // Backup ids start with their UTC start time: sorted descending, newest first.
  const ids = [...folders.keys()].sort().reverse();
  for (const id of ids) {
    if (folders.get(id)) continue;
    const age = now.getTime() - parseBackupId(id).time.getTime();
    if (age > CUT_OFF_AFTER_MS && age < CUT_OFF_MEMORY_MS) return `auto: dump ${id} was cut off (no manifest ${Math.round(age / 60_000)} minutes after it started)`;
  }
  for (const id of ids.filter((i) => folders.get(i))) {
    const manifest = await readManifest(store, sourceId, id);
    if (manifest.kind !== 'dump') continue;
    const minutes = (Date.parse(manifest.completedAt) - Date.parse(manifest.startedAt)) / 60_000;
    if (minutes > thresholds.autoAfterMinutes) return `auto: the last dump (${id}) took ${minutes.toFixed(1)} minutes, more than ${thresholds.autoAfterMinutes}`;
    const raw = manifest.payload?.rawBytes ?? 0;
    if (raw > thresholds.autoAboveRawGiB * GIB) return `auto: the last dump (${id}) was ${(raw / GIB).toFixed(1)} GiB raw, more than ${thresholds.autoAboveRawGiB}`;
    return undefined;
  }
  return undefined;
}

/**
 * The fields of a dump taken on Fargate, as the Lambda dump returns them, from its manifest; for a file set (by its
 * route), the file-set backup function's result from its snapshot's manifest.
 */
export async function dumpResult(event: unknown, store: VaultStore, routes: readonly SourceRoute[] = []) {
  const { sourceId, backupId } = parseOrConfigError(DumpResultEventSchema, event, 'Invalid dump-result event');
  if (routes.find((r) => r.id === sourceId)?.kind === 'fileset') return fileSetResultOf(await readFileSetManifest(store, sourceId, backupId));
  const manifest = await readManifest(store, sourceId, backupId);
  if (manifest.kind !== 'dump' || !manifest.payload) throw new ConfigError(`Backup ${sourceId}/${backupId} is not a dump`);
  return {
    sourceId,
    backupId,
    kind: 'dump' as const,
    rawBytes: manifest.payload.rawBytes,
    storedBytes: manifest.payload.storedBytes,
    sha256: manifest.payload.sha256,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
  };
}
