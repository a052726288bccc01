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

describe('passwords holding URL delimiters (an unencoded "/", "#" or "?")', () => {
  const PASSWORD = 'pa/ss#wo?rd';
  const urls = [
    `postgres://app:${PASSWORD}@db.example.com:5432/orders`,
    `mysql://root:${PASSWORD}@db.example.com/shop`,
    `postgres://app:1/${PASSWORD}@db/orders`,
    `postgres://app:123?${PASSWORD}@db/orders?sslmode=require`,
    `mariadb://u:#${PASSWORD}@[::1]:3307/db`,
  ];

  it.each(urls)('%s: refused with a ConfigError that shows no part of the password', (url) => {
    let error: unknown;
    try {
      parseConnectionUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(':***@');
    expect(message).toMatch(/unencoded "\/", "\?" or "#"/);
    for (const part of ['pa/ss', 'ss#wo', 'wo?rd', PASSWORD]) expect(message).not.toContain(part);
  });

  it.each(urls)('%s: redactUrl and redact leave none of it', (url) => {
    for (const text of [redactUrl(url), redact(`pg_dump: error: connection to ${url} failed`)]) {
      expect(text).toContain(':***@');
      for (const part of ['pa/ss', 'ss#wo', 'wo?rd']) expect(text).not.toContain(part);
    }
  });

  it('redact still scrubs a given connection’s password wherever it appears, and keeps the text around a URL', () => {
    const info = parseConnectionUrl(`postgres://app:${encodeURIComponent(PASSWORD)}@db/orders`);
    expect(info.password).toBe(PASSWORD);
    expect(redact(`password ${PASSWORD} and ${encodeURIComponent(PASSWORD)} in postgres://app:${PASSWORD}@db/orders then more`, info)).toBe(
      'password *** and *** in postgres://app:***@db/orders then more',
    );
    expect(redactUrl('postgres://db.example.com/orders')).toBe('postgres://db.example.com/orders');
    expect(redactUrl('postgres://app@db/orders')).toBe('postgres://app@db/orders');
  });
});
