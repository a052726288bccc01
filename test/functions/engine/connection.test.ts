import { describe, expect, it } from 'vitest';
import {
  describeConnection,
  parseConnectionUrl,
  redact,
  redactUrl,
} from '../../../functions/lib/engine/connection.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';

describe('connection URLs', () => {
  it('parses both engines, with defaults and percent-decoding', () => {
    expect(parseConnectionUrl('postgres://app:p%40ss%3Aw%2Frd@db.example.com:6543/orders?sslmode=require')).toEqual({
      engine: 'postgresql',
      host: 'db.example.com',
      port: 6543,
      user: 'app',
      password: 'p@ss:w/rd',
      database: 'orders',
      sslMode: 'require',
    });
    expect(parseConnectionUrl('postgresql://h/db')).toEqual({ engine: 'postgresql', host: 'h', port: 5432, user: 'postgres', database: 'db' });
    expect(parseConnectionUrl('mysql://root@127.0.0.1/shop')).toEqual({ engine: 'mysql', host: '127.0.0.1', port: 3306, user: 'root', database: 'shop' });
    expect(parseConnectionUrl('mariadb://u:p@[::1]:3307/my%20db')).toMatchObject({ engine: 'mysql', host: '::1', port: 3307, database: 'my db' });
  });

  it('rejects what it cannot use, without echoing the password', () => {
    const bad = [
      'redis://u:hunter2@h/0',
      'postgres://u:hunter2@h',
      'postgres://u:hunter2@h/a/b',
      'postgres://u:hunter2@h/db?application_name=x',
      'postgres://u:hunter2%ZZ@h/db',
      'not a url hunter2',
    ];
    for (const url of bad) {
      let error: unknown;
      try {
        parseConnectionUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(ConfigError);
      if (url.includes('://')) expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('describes and redacts without the password', () => {
    const info = parseConnectionUrl('postgres://app:s3cr3t-pw@db:5432/orders');
    expect(describeConnection(info)).toBe('postgres://app@db:5432/orders');
    expect(redactUrl('mysql://root:s3cr3t-pw@h:3306/db')).toBe('mysql://root:***@h:3306/db');
    expect(redact('FATAL: auth failed for s3cr3t-pw at postgres://x:other@h/db', info)).toBe(
      'FATAL: auth failed for *** at postgres://x:***@h/db',
    );
    const encoded = parseConnectionUrl('postgres://app:a%2Fb%40c@db/orders');
    expect(redact('seen a/b@c and a%2Fb%40c', encoded)).toBe('seen *** and ***');
  });
});
