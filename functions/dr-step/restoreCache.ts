/**
 * The `restore-cache` step: the latest verified backup of an ElastiCache cache (at or before a point in time) from
 * the chosen region's vault, restored key by key (RESTORE … ABSTTL) into the plan's Redis OSS / Valkey target, which
 * must hold none of the backup's keys (the engine refuses before writing, naming them). A drill restores into a
 * scratch `redis-server` inside the step's own runner instead, never touching the target, and stops it at once.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import type { KeyspaceRestoreSummary } from '../lib/redis/logical.ts';
import { readKeyspace, type KeyspaceEntry, type RedisEndpoint } from '../lib/redis/resp.ts';
import { ScratchRedis } from '../lib/redis/scratch.ts';
import { asRedisManifest, restoreRedisBackup } from '../lib/redis/vault.ts';
import { type DrStepDeps, regionResources } from './deps.ts';
import type { RestoreCacheParameters, RunStepEvent, StepRecord } from './events.ts';
import { now, succeededRecord } from './records.ts';
import { latestVerifiedDump, restoredBackup } from './restoreDump.ts';

export async function runRestoreCacheStep(event: RunStepEvent, parameters: RestoreCacheParameters, deps: DrStepDeps): Promise<StepRecord> {
  const startedAt = now(deps);
  const region = regionResources(deps, parameters.region);
  const found = await latestVerifiedDump(region, parameters.source, parameters.region, parameters.pointInTime, deps.verificationKey);
  if (found.engine !== 'redis') {
    throw new ConfigError(`Step '${event.stepId}': ${found.sourceId} is a ${found.engine} source, not a cache; restore it with a restore-dump step`);
  }
  const manifest = asRedisManifest(found);
  const drill = event.mode === 'drill';
  const restore = (target: RedisEndpoint) => restoreRedisBackup({ store: region.store, manifest, keyring: region.keyring, target });

  let restored: KeyspaceRestoreSummary;
  let keyspace: KeyspaceEntry[] | undefined;
  if (drill) {
    const scratch = await ScratchRedis.start({ databases: Math.max(16, ...manifest.content.keyspace.map((d) => d.db + 1)) });
    try {
      restored = await restore({ path: scratch.socketPath });
      const client = await scratch.connect();
      try {
        keyspace = await readKeyspace(client);
      } finally {
        client.close();
      }
    } finally {
      await scratch.stop();
    }
    // Each key's RESTORE was answered OK, which is the proof; the count the scratch server then reports goes in the
    // record as it is (keys with an expiry may lapse in between, as a session cache's keys do all the time).
  } else {
    const { host, port, tls, authSecretArn } = parameters.target;
    const auth = authSecretArn === undefined ? {} : await readCacheAuth(deps.secrets, authSecretArn, `the target of step ${event.stepId}`);
    restored = await restore({ host, port, tls, ...auth });
  }

  return succeededRecord(
    event.stepId,
    'restore-cache',
    startedAt.toISOString(),
    {
      ...restoredBackup(manifest, parameters.region),
      // A drill's scratch server is gone when the step ends: it names no target.
      target: drill ? { scratch: true } : { host: parameters.target.host, port: parameters.target.port, tls: parameters.target.tls },
      keys: restored.keys,
      expiredSkipped: restored.expiredSkipped,
      ...(keyspace ? { keyspace: keyspace.map(({ db, keys }) => ({ db, keys })) } : {}),
      drill,
    },
    deps,
  );
}

const CacheAuthSchema = z.object({ password: z.string().min(1), username: z.string().min(1).optional() });

/**
 * The target's AUTH token from Secrets Manager: JSON with `password` (and `username` for an ACL user), or the token
 * as the whole secret string. Errors name the secret's owner, never its contents.
 */
export async function readCacheAuth(secrets: Pick<SecretsManagerClient, 'send'>, secretArn: string, label: string): Promise<{ password: string; user?: string }> {
  const value = (await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString ?? '';
  if (value.trim() === '') throw new ConfigError(`Secret for ${label} is empty: it must hold the AUTH token, or JSON with password (and username)`);
  if (!value.trimStart().startsWith('{')) return { password: value };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new ConfigError(`Secret for ${label} starts like JSON but does not parse: it must hold the AUTH token, or JSON with password (and username)`);
  }
  const parsed = CacheAuthSchema.safeParse(json);
  // JSON that starts with "{" is an object: every issue is one of its fields.
  if (!parsed.success) throw new ConfigError(`Secret for ${label}: ${parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ')}`);
  return { password: parsed.data.password, ...(parsed.data.username ? { user: parsed.data.username } : {}) };
}
