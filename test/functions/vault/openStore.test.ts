import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { openStore, parseS3Location } from '../../../functions/lib/vault/openStore.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';
import { startLocalS3, type LocalS3 } from '../../harness/s3.ts';

describe('openStore', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3();
  });
  afterAll(() => s3?.stop());

  it('opens s3:// locations on the endpoint named by LIFEBOAT_S3_ENDPOINT', async () => {
    const bucket = await s3.createBucket();

    const store = openStore(`s3://${bucket}/team-a/vault/`, { env: { LIFEBOAT_S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } });
    await store.putObject('backups/hello', 'world');

    expect(store).toBeInstanceOf(S3Store);
    expect(store.location).toBe(`s3://${bucket}/team-a/vault`);
    // Read back through the harness's own client: the object really went to that endpoint and prefix.
    const direct = new S3Store({ client: s3.client, bucket });
    expect((await direct.getObject('team-a/vault/backups/hello')).toString()).toBe('world');
  });

  it('uses a given client for s3:// locations', async () => {
    const bucket = await s3.createBucket();

    const store = openStore(`s3://${bucket}`, { client: s3.client, env: {} });
    await store.putObject('k', 'v');

    expect((await store.getObject('k')).toString()).toBe('v');
    expect(store.location).toBe(`s3://${bucket}`);
  });

  it('opens anything else as a local directory, resolved', () => {
    const relative = openStore('vault-dir');
    const fileUrl = openStore('file:///var/backups/vault');

    expect(relative).toBeInstanceOf(LocalStore);
    expect(relative.location).toBe(path.resolve('vault-dir'));
    expect(fileUrl.location).toBe('/var/backups/vault');
  });

  it.each([
    ['no bucket', 's3://', /bucket name is missing/],
    ['no bucket before the prefix', 's3:///prefix', /bucket name is missing/],
    ['an invalid bucket name', 's3://My_Bucket/x', /not a valid bucket name/],
    ['a query string', 's3://bucket/prefix?versionId=1', /query string/],
    ['a prefix escaping upwards', 's3://bucket/a/../b', /prefix/],
    ['an empty prefix segment', 's3://bucket/a//b', /prefix/],
  ])('refuses an S3 location with %s', (_case, location, reason) => {
    expect(() => openStore(location)).toThrow(ConfigError);
    expect(() => openStore(location)).toThrow(reason);
    expect(() => openStore(location)).toThrow(/expected s3:\/\/<bucket>\[\/<prefix>\]/);
  });

  it('refuses other URL schemes and an empty location rather than making a directory of them', () => {
    expect(() => openStore('https://bucket.s3.amazonaws.com/vault')).toThrow(/unsupported scheme "https:\/\/"/);
    expect(() => openStore('  ')).toThrow(ConfigError);
  });
});

describe('parseS3Location', () => {
  it('splits bucket and prefix, dropping trailing slashes', () => {
    expect(parseS3Location('s3://acme-vault')).toEqual({ bucket: 'acme-vault', prefix: '' });
    expect(parseS3Location('s3://acme-vault/')).toEqual({ bucket: 'acme-vault', prefix: '' });
    expect(parseS3Location('s3://acme.vault/prod/db/')).toEqual({ bucket: 'acme.vault', prefix: 'prod/db' });
  });
});
