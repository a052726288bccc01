import middy from '@middy/core';
import { describe, expect, it, vi } from 'vitest';
import { DumpFailedError } from '../../../functions/lib/errors.ts';
import { conciseErrors } from '../../../functions/lib/middleware/conciseErrors.ts';

describe('conciseErrors middleware', () => {
  it('logs the full error, then leaves Lambda only the name and message to report', async () => {
    const logged: unknown[] = [];
    const logger = { error: vi.fn((_message: string, extra: { error: Error }) => logged.push(extra.error.stack)) };
    const handler = middy(async () => {
      throw new DumpFailedError('pg_dump exited with code 1', { cause: new Error('connection refused') });
    }).use(conciseErrors(logger));

    const error = await handler({}, {} as never).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    expect(error).toBeInstanceOf(DumpFailedError);
    expect(error?.name).toBe('DumpFailedError');
    expect(error?.stack).toBe('DumpFailedError: pg_dump exited with code 1');
    expect(String(logged[0])).toMatch(/\n\s+at /); // the log kept the real stack
  });

  it('passes a non-Error rejection through untouched', async () => {
    const logger = { error: vi.fn() };
    const handler = middy(async () => {
      throw 'plain string';
    }).use(conciseErrors(logger));
    await expect(handler({}, {} as never)).rejects.toBe('plain string');
    expect(logger.error).not.toHaveBeenCalled();
  });
});
