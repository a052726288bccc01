import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { SourceRoutesSchema, resolveSource, type SourceRoute } from '../../../functions/resolve-source/resolve.ts';
import { useHandlerEnvironment } from '../handlerHarness.ts';

const DUMP = 'arn:aws:lambda:eu-west-1:111122223333:function:lifeboat-primary-Dump1';
const ROUTES: SourceRoute[] = [
  { id: 'orders-db', method: 'both', dumpFunctionArn: DUMP },
  { id: 'billing-db', method: 'snapshot' },
  { id: 'users-db', method: 'dump', dumpFunctionArn: DUMP },
];

describe('resolveSource', () => {
  it('answers the method and, for dumps, the dump function', () => {
    expect(resolveSource({ sourceId: 'orders-db' }, ROUTES)).toEqual({ sourceId: 'orders-db', method: 'both', dumpFunctionArn: DUMP });
    expect(resolveSource({ sourceId: 'users-db', trigger: 'schedule' }, ROUTES)).toEqual({ sourceId: 'users-db', method: 'dump', dumpFunctionArn: DUMP });
  });

  it('gives a snapshot-only source no dump function, so the state machine never invokes one', () => {
    expect(resolveSource({ sourceId: 'billing-db' }, ROUTES)).toStrictEqual({ sourceId: 'billing-db', method: 'snapshot' });
  });

  it('refuses an unknown source, naming the ones this deployment backs up', () => {
    expect(() => resolveSource({ sourceId: 'ordres-db' }, ROUTES)).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: "Unknown source 'ordres-db': this deployment backs up orders-db, billing-db, users-db" }),
    );
  });

  it('names the bad field of a malformed event', () => {
    expect(() => resolveSource({}, ROUTES)).toThrow(/^Invalid resolve-source event: sourceId: /);
    expect(() => resolveSource({ sourceId: '' }, ROUTES)).toThrow('Invalid resolve-source event: sourceId: must not be empty');
    expect(() => resolveSource(null, ROUTES)).toThrow(/^Invalid resolve-source event: \(event\): /);
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
  useHandlerEnvironment({ LIFEBOAT_ROUTES: JSON.stringify(ROUTES), POWERTOOLS_SERVICE_NAME: 'lifeboat-resolve-source' });
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
