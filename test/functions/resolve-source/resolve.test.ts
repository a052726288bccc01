import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeManifest } from '../../../functions/lib/vault/catalog.ts';
import { payloadKey } from '../../../functions/lib/vault/layout.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { SourceRoutesSchema, dumpResult, resolveSource, type SourceRoute } from '../../../functions/resolve-source/resolve.ts';
import { sampleManifest } from '../vault/fixtures.ts';
import { useHandlerEnvironment } from '../handlerHarness.ts';

const DUMP = 'arn:aws:lambda:eu-west-1:111122223333:function:lifeboat-primary-Dump1';
const ROUTES: SourceRoute[] = [
  { id: 'orders-db', method: 'both', dumpFunctionArn: DUMP },
  { id: 'billing-db', method: 'snapshot' },
  { id: 'users-db', method: 'dump', dumpFunctionArn: DUMP },
];

describe('resolveSource', () => {
  it('answers the method and, for dumps, the dump function (on Lambda when no Fargate task serves the source)', async () => {
    await expect(resolveSource({ sourceId: 'orders-db' }, ROUTES)).resolves.toEqual({ sourceId: 'orders-db', method: 'both', dumpFunctionArn: DUMP, runner: 'lambda', runnerReason: 'configured: runner lambda' });
    await expect(resolveSource({ sourceId: 'users-db', trigger: 'schedule' }, ROUTES)).resolves.toMatchObject({ sourceId: 'users-db', method: 'dump', dumpFunctionArn: DUMP, runner: 'lambda' });
  });

  it('gives a snapshot-only source no dump function, so the state machine never invokes one', async () => {
    await expect(resolveSource({ sourceId: 'billing-db' }, ROUTES)).resolves.toStrictEqual({ sourceId: 'billing-db', method: 'snapshot' });
  });

  it('refuses an unknown source, naming the ones this deployment backs up', async () => {
    await expect(resolveSource({ sourceId: 'ordres-db' }, ROUTES)).rejects.toThrow(
      expect.objectContaining({ name: 'ConfigError', message: "Unknown source 'ordres-db': this deployment backs up orders-db, billing-db, users-db" }),
    );
  });

  it('names the bad field of a malformed event', async () => {
    await expect(resolveSource({}, ROUTES)).rejects.toThrow(/^Invalid resolve-source event: sourceId: /);
    await expect(resolveSource({ sourceId: '' }, ROUTES)).rejects.toThrow('Invalid resolve-source event: sourceId: must not be empty');
    await expect(resolveSource(null, ROUTES)).rejects.toThrow(/^Invalid resolve-source event: \(event\): /);
  });
});

const FARGATE = {
  cluster: 'arn:aws:ecs:eu-west-1:111122223333:cluster/lifeboat-runner',
  dumpTaskDefinition: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/lifeboat-dump1:3',
  verifyTaskDefinition: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/lifeboat-verify:3',
  subnets: ['subnet-0a1b2c3d'],
  securityGroups: ['sg-0a1b2c3d'],
  verifySubnets: ['subnet-0a1b2c3e'],
  verifySecurityGroups: ['sg-0a1b2c3e'],
  cpu: 4096,
  memoryMiB: 8192,
  autoAfterMinutes: 10,
  autoAboveRawGiB: 40,
};
const NOW = new Date('2026-11-23T05:00:00.000Z');

describe('runner auto: where a dump runs, from the last backups in the vault', () => {
  let dir: string;
  let store: LocalStore;
  const route = (runner: 'auto' | 'lambda' | 'fargate'): SourceRoute[] => [{ id: 'orders-db', method: 'dump', dumpFunctionArn: DUMP, runner, fargate: FARGATE }];
  const resolve = (runner: 'auto' | 'lambda' | 'fargate' = 'auto') => resolveSource({ sourceId: 'orders-db' }, route(runner), { store, now: () => NOW });
  /** A complete dump that ran from `startedAt` for `minutes`, `rawBytes` large. */
  const completed = async (backupId: string, minutes: number, rawBytes = 1_000_000) => {
    const started = new Date(`${backupId.slice(0, 4)}-${backupId.slice(4, 6)}-${backupId.slice(6, 8)}T${backupId.slice(9, 11)}:${backupId.slice(11, 13)}:${backupId.slice(13, 15)}Z`);
    const base = sampleManifest();
    await store.putObject(payloadKey('orders-db', backupId), 'payload');
    return writeManifest(
      store,
      sampleManifest({ backupId, startedAt: started.toISOString(), completedAt: new Date(started.getTime() + minutes * 60_000).toISOString(), payload: { ...base.payload!, rawBytes, storedBytes: 7 }, encryption: { ...base.encryption!, encryptionContext: { 'lifeboat:source': 'orders-db', 'lifeboat:backup': backupId } } }),
    );
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-resolve-'));
    store = new LocalStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a source with no backups yet, or a short small last dump, on Lambda, and gives the Fargate target all the same', async () => {
    await expect(resolve()).resolves.toMatchObject({ runner: 'lambda', runnerReason: 'auto: the last dump fits Lambda' });
    await completed('20261122T050000Z-aaaaaaaa', 9.5);
    const resolved = await resolve();
    // One stream per vCPU, and a libuv pool as wide: LIFEBOAT_JOBS and UV_THREADPOOL_SIZE in the RunTask overrides.
    expect(resolved).toMatchObject({ runner: 'lambda', fargate: { cluster: FARGATE.cluster, cpu: '4096', memory: '8192', jobs: '4', threadPoolSize: '4', subnets: ['subnet-0a1b2c3d'], verifySubnets: ['subnet-0a1b2c3e'] } });
    // The id a Fargate dump would write under: minted from the clock, so the manifest can be read back.
    expect(resolved.fargate!.backupId).toMatch(/^20261123T050000Z-[a-z2-7]{8}$/);
  });

  it('moves a source to Fargate when its last completed dump took longer than the threshold', async () => {
    await completed('20261121T050000Z-aaaaaaaa', 3);
    await completed('20261122T050000Z-bbbbbbbb', 10.5);
    await expect(resolve()).resolves.toMatchObject({ runner: 'fargate', runnerReason: 'auto: the last dump (20261122T050000Z-bbbbbbbb) took 10.5 minutes, more than 10' });
  });

  it('judges by the newest dump only, so a source that shrank goes back to Lambda', async () => {
    await completed('20261121T050000Z-aaaaaaaa', 12);
    await completed('20261122T050000Z-bbbbbbbb', 4);
    await expect(resolve()).resolves.toMatchObject({ runner: 'lambda' });
  });

  it('moves a source to Fargate when its last dump was larger than the raw-size threshold', async () => {
    await completed('20261122T050000Z-bbbbbbbb', 2, 41 * 1024 ** 3);
    await expect(resolve()).resolves.toMatchObject({ runner: 'fargate', runnerReason: 'auto: the last dump (20261122T050000Z-bbbbbbbb) was 41.0 GiB raw, more than 40' });
  });

  it('moves a source to Fargate after a dump was cut off (a payload without a manifest), but not for one still running', async () => {
    await completed('20261122T050000Z-aaaaaaaa', 2);
    await store.putObject(payloadKey('orders-db', '20261123T043000Z-cccccccc'), 'partial');
    await expect(resolve()).resolves.toMatchObject({ runner: 'fargate', runnerReason: 'auto: dump 20261123T043000Z-cccccccc was cut off (no manifest 30 minutes after it started)' });
    await rm(join(dir, 'backups/orders-db/20261123T043000Z-cccccccc'), { recursive: true });
    await store.putObject(payloadKey('orders-db', '20261123T045500Z-dddddddd'), 'in flight');
    await expect(resolve()).resolves.toMatchObject({ runner: 'lambda' });
  });

  it('follows a pinned runner without reading the vault', async () => {
    await completed('20261122T050000Z-bbbbbbbb', 14);
    await expect(resolve('lambda')).resolves.toMatchObject({ runner: 'lambda', runnerReason: 'configured: runner lambda' });
    await expect(resolve('fargate')).resolves.toMatchObject({ runner: 'fargate', runnerReason: 'configured: runner fargate' });
  });

  it('reads back a Fargate dump from its manifest, with the fields the Lambda dump returns', async () => {
    await completed('20261122T050000Z-bbbbbbbb', 14, 5_000);
    await expect(dumpResult({ action: 'dump-result', sourceId: 'orders-db', backupId: '20261122T050000Z-bbbbbbbb' }, store)).resolves.toEqual({
      sourceId: 'orders-db',
      backupId: '20261122T050000Z-bbbbbbbb',
      kind: 'dump',
      rawBytes: 5_000,
      storedBytes: 7,
      sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      startedAt: '2026-11-22T05:00:00.000Z',
      completedAt: '2026-11-22T05:14:00.000Z',
    });
    await expect(dumpResult({ action: 'dump-result', sourceId: 'orders-db', backupId: '20261122T060000Z-bbbbbbbb' }, store)).rejects.toThrow(expect.objectContaining({ name: 'BackupNotFoundError' }));
  });
});

describe('LIFEBOAT_ROUTES', () => {
  it('requires a dump function unless the method is snapshot', () => {
    const parsed = SourceRoutesSchema.safeParse([{ id: 'orders-db', method: 'dump' }]);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['0.dumpFunctionArn', 'required unless method is snapshot']]);
  });

  it('refuses duplicate ids and ARNs that are not Lambda functions', () => {
    const parsed = SourceRoutesSchema.safeParse([
      { id: 'orders-db', method: 'dump', dumpFunctionArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:x' },
      { id: 'orders-db', method: 'snapshot' },
    ]);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toEqual(['0.dumpFunctionArn', '1.id']);
  });
});

describe('the resolve-source handler', () => {
  useHandlerEnvironment({ LIFEBOAT_ROUTES: JSON.stringify(ROUTES), VAULT_BUCKET: 'lifeboat-vault', POWERTOOLS_SERVICE_NAME: 'lifeboat-resolve-source' });
  const context = { functionName: 'lifeboat-resolve-source', awsRequestId: 'req-1' } as Context;
  const load = async () => (await import('../../../functions/resolve-source/handler.ts')).handler;

  it('resolves through the deployed routes', async () => {
    const handler = await load();
    await expect(handler({ sourceId: 'billing-db' }, context)).resolves.toStrictEqual({ sourceId: 'billing-db', method: 'snapshot' });
  });

  it('fails at load on routes that are not JSON, naming the variable', async () => {
    vi.stubEnv('LIFEBOAT_ROUTES', '[{');
    await expect(load()).rejects.toThrow('LIFEBOAT_ROUTES: not valid JSON');
  });

  it('fails at load on an invalid route, naming the field', async () => {
    vi.stubEnv('LIFEBOAT_ROUTES', JSON.stringify([{ id: 'Orders', method: 'dump', dumpFunctionArn: DUMP }]));
    await expect(load()).rejects.toThrow(/^LIFEBOAT_ROUTES: 0\.id: must be a source id/);
  });
});
