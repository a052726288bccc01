import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import {
  effectiveFlexibleWindowMinutes,
  formatPath,
  loadConfig,
  longestGapMinutes,
  parseConfig,
  parseCron,
  severitiesAtOrAbove,
  type LifeboatConfig,
  type Severity,
  type SourceConfig,
} from '../../../infra/config/index.ts';
import { pathsOf, problemsOf } from './support.ts';

const EXAMPLE_PATH = fileURLToPath(new URL('../../../config/example.lifeboat.json', import.meta.url));

/** A fresh, mutable copy of the example config as a user would write it (`any`: tests break it on purpose). */
function example(): any {
  return JSON.parse(readFileSync(EXAMPLE_PATH, 'utf8'));
}

function minimalSource(overrides: Record<string, unknown> = {}) {
  return {
    kind: 'rds-mysql',
    id: 'shop-db',
    instanceIdentifier: 'shop',
    database: 'shop',
    credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-AbCdEf',
    network: { vpcId: 'vpc-0a1b2c3d', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    schedule: { cron: '0 1 * * ? *' },
    objectives: { rpoMinutes: 1500, rtoMinutes: 60 },
    ...overrides,
  };
}

describe('the example config', () => {
  it('parses, normalises the cron wrapper and fills in defaults', () => {
    const config = loadConfig(EXAMPLE_PATH);

    expect(config.regions).toEqual({ primary: 'eu-west-1', dr: 'eu-central-1' });
    expect(config.sources.map((s) => [s.kind, s.id])).toEqual([
      ['rds-postgres', 'orders-db'],
      ['aurora-mysql', 'billing-db'],
      ['docdb', 'catalog-docdb'],
      ['elasticache-redis', 'sessions-cache'],
      ['s3', 'uploads'],
      ['config', 'orders-config'],
    ]);
    expect(config.sources[2]!.backup).toEqual({ method: 'snapshot' });
    const sessions = config.sources[3]!;
    expect(sessions.backup).toEqual({ method: 'dump' });
    expect(sessions.kind === 'elasticache-redis' && [sessions.replicationGroupId, sessions.cacheClusterId]).toEqual(['sessions-prod', undefined]);
    const billing = config.sources[1]!;
    expect(billing.schedule).toEqual({ cron: '30 2 * * ? *', timeZone: 'Europe/Berlin' });
    expect(billing.backup).toEqual({ method: 'dump' });
    expect(billing.retention).toEqual({ days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } });
    expect(billing.kind === 'aurora-mysql' && billing.clusterIdentifier).toBe('billing-prod');
    expect(config.alerts.webhooks).toEqual([{ url: 'https://hooks.example.com/lifeboat', minSeverity: 'ERROR' }]);
  });

  it('is what parseConfig returns for the same JSON', () => {
    expect(loadConfig(EXAMPLE_PATH)).toEqual(parseConfig(example()));
  });
});

describe('defaults', () => {
  it('fill every optional block of a minimal config', () => {
    const config: LifeboatConfig = parseConfig({
      version: 1,
      regions: { primary: 'us-east-1', dr: 'us-west-2' },
      sources: [minimalSource()],
    });

    expect(config.name).toBe('lifeboat');
    expect(config.account).toBeUndefined();
    expect(config.vault).toEqual({
      objectLock: { mode: 'GOVERNANCE', retentionDays: 35 },
      lifecycle: { glacierInstantRetrievalAfterDays: 30, deepArchiveAfterDays: 180, noncurrentVersionExpiryDays: 90 },
      createTrail: false,
    });
    expect(config.alerts).toEqual({ emails: [], webhooks: [] });
    const source: SourceConfig = config.sources[0]!;
    expect(source.schedule.timeZone).toBe('UTC');
    expect(source.backup.method).toBe('dump');
    expect(source.retention.gfs).toEqual({ daily: 7, weekly: 4, monthly: 12, yearly: 0 });
  });

  it('fill minSeverity with WARNING and type it as a Severity', () => {
    const config = parseConfig({ ...example(), alerts: { emails: [{ address: 'dba@example.org' }] } });

    expect(config.alerts.emails).toEqual([{ address: 'dba@example.org', minSeverity: 'WARNING' }]);
    expectTypeOf(config.alerts.emails[0]!.minSeverity).toEqualTypeOf<Severity>();
    expect(severitiesAtOrAbove('ERROR')).toEqual(['ERROR', 'CRITICAL']);
  });

  it('let either lifecycle transition be disabled with null', () => {
    const config = example();
    config.vault.lifecycle = { glacierInstantRetrievalAfterDays: null, deepArchiveAfterDays: 10 };

    expect(parseConfig(config).vault.lifecycle).toEqual({
      glacierInstantRetrievalAfterDays: null,
      deepArchiveAfterDays: 10,
      noncurrentVersionExpiryDays: 90,
    });
  });

  it('do not require a database for snapshot-only sources', () => {
    const config = example();
    config.sources[1].backup = { method: 'snapshot' };
    delete config.sources[1].database;

    expect(parseConfig(config).sources[1]).not.toHaveProperty('database');
  });
});

describe('a bad config names the field', () => {
  it('rejects an unsupported version, naming the supported one', () => {
    const problems = problemsOf({ ...example(), version: 2 });

    expect(problems).toEqual(['version: unsupported config version 2; this Lifeboat reads version 1']);
  });

  it('rejects an unknown top-level key', () => {
    expect(problemsOf({ ...example(), sorces: [] })).toEqual(['sorces: unknown key']);
  });

  it('rejects an unknown key inside a source', () => {
    const config = example();
    config.sources[0].network.vpcID = 'vpc-0a1b2c3d';

    expect(problemsOf(config)).toEqual(['sources[0].network.vpcID: unknown key']);
  });

  it('rejects the same region as primary and DR', () => {
    const config = example();
    config.regions.dr = 'eu-west-1';

    expect(pathsOf(config)).toEqual(['regions.dr']);
  });

  it('rejects a malformed region name', () => {
    const config = example();
    config.regions.primary = 'Ireland';

    expect(pathsOf(config)).toEqual(['regions.primary']);
  });

  it('rejects a duplicate source id at the second occurrence', () => {
    const config = example();
    config.sources[1].id = 'orders-db';

    expect(problemsOf(config)).toEqual(["sources[1].id: duplicate source id 'orders-db' (already used by sources[0])"]);
  });

  it('rejects a source id that is not lowercase', () => {
    const config = example();
    config.sources[0].id = 'Orders_DB';

    expect(pathsOf(config)).toEqual(['sources[0].id']);
  });

  it('names each problem of an S3 file set: bucket, prefix, key, read-data share, network, a database it does not take', () => {
    const config = example();
    const uploads = config.sources.findIndex((s: { id: string }) => s.id === 'uploads');
    Object.assign(config.sources[uploads], {
      bucket: 'Orders_Uploads',
      prefix: '/media/',
      bucketKeyArn: 'alias/uploads',
      verification: { readDataPercent: 150 },
      network: { vpcId: 'vpc-1', subnetIds: [], securityGroupIds: ['sg-0a1b2c3d'] },
      database: 'uploads',
    });
    expect(problemsOf(config)).toEqual([
      `sources[${uploads}].bucket: must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`,
      `sources[${uploads}].prefix: must not start with "/": S3 keys have no leading slash`,
      `sources[${uploads}].bucketKeyArn: must be a KMS key ARN (the source bucket's SSE-KMS key)`,
      // A network is where a run that outgrows Lambda goes on (on Fargate): a real one; a file set has no database.
      `sources[${uploads}].network.vpcId: must be vpc- followed by 8 or 17 lowercase hex digits`,
      `sources[${uploads}].network.subnetIds: must list at least one subnet`,
      `sources[${uploads}].verification.readDataPercent: must be a percentage from 0 to 100`,
      `sources[${uploads}].database: unknown key`,
    ]);
  });

  it('checks an S3 file set\'s RPO against its schedule like any source\'s', () => {
    const config = example();
    const uploads = config.sources.findIndex((s: { id: string }) => s.id === 'uploads');
    config.sources[uploads].objectives.rpoMinutes = 60;
    expect(problemsOf(config)).toEqual([expect.stringMatching(new RegExp(`^sources\\[${uploads}\\]\\.objectives\\.rpoMinutes: 60 minutes cannot be met: schedule '30 \\*/6 \\* \\* \\? \\*' leaves 360 minutes \\(6h\\) between backups`))]);
  });

  it('rejects an unknown source kind, listing the known ones', () => {
    const config = example();
    config.sources[0].kind = 'mongodb';

    expect(problemsOf(config)).toEqual([
      'sources[0].kind: unknown source kind "mongodb"; expected one of rds-postgres, rds-mysql, aurora-postgres, aurora-mysql, docdb, elasticache-redis, s3, config',
    ]);
  });

  it('rejects a cron expression without the year field', () => {
    const config = example();
    config.sources[0].schedule.cron = '0 */4 * * ?';

    const problems = problemsOf(config);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^sources\[0\]\.schedule\.cron: expected 6 fields .* got 5/);
  });

  it('rejects a cron expression with both day-of-month and day-of-week set', () => {
    const config = example();
    config.sources[1].schedule.cron = 'cron(30 2 * * MON *)';

    expect(problemsOf(config)).toEqual([
      "sources[1].schedule.cron: day-of-month '*' and day-of-week 'MON': exactly one of them must be '?'",
    ]);
  });

  it('rejects a cron field out of range', () => {
    const config = example();
    config.sources[1].schedule.cron = '30 24 * * ? *';

    expect(problemsOf(config)).toEqual(["sources[1].schedule.cron: hours field '24': 24 is out of range 0-23"]);
  });

  it('rejects an unknown time zone', () => {
    const config = example();
    config.sources[0].schedule.timeZone = 'Europe/Atlantis';

    expect(pathsOf(config)).toEqual(['sources[0].schedule.timeZone']);
  });

  it('rejects a webhook that is not https', () => {
    const config = example();
    config.alerts.webhooks[0].url = 'http://hooks.example.com/lifeboat';

    expect(problemsOf(config)).toEqual(['alerts.webhooks[0].url: must be an https:// URL']);
  });

  it('rejects a malformed email address', () => {
    const config = example();
    config.alerts.emails[0].address = 'platform-oncall at example.com';

    expect(problemsOf(config)).toEqual(['alerts.emails[0].address: must be an email address']);
  });

  it('rejects an unknown severity', () => {
    const config = example();
    config.alerts.emails[0].minSeverity = 'FATAL';

    expect(pathsOf(config)).toEqual(['alerts.emails[0].minSeverity']);
  });

  it('rejects a credentials ARN that is not a Secrets Manager secret', () => {
    const config = example();
    config.sources[0].credentialsSecretArn = 'arn:aws:ssm:eu-west-1:123456789012:parameter/orders-db';

    expect(pathsOf(config)).toEqual(['sources[0].credentialsSecretArn']);
  });

  it('rejects a malformed subnet id at its index', () => {
    const config = example();
    config.sources[1].network.subnetIds[1] = 'subnet-XYZ';

    expect(pathsOf(config)).toEqual(['sources[1].network.subnetIds[1]']);
  });

  it('rejects an empty security group list', () => {
    const config = example();
    config.sources[0].network.securityGroupIds = [];

    expect(problemsOf(config)).toEqual(['sources[0].network.securityGroupIds: must list at least one security group']);
  });

  it('rejects RDS identifiers that break the RDS naming rules', () => {
    const config = example();
    config.sources[0].instanceIdentifier = 'orders--prod';
    config.sources[1].clusterIdentifier = 'billing-';

    expect(problemsOf(config)).toEqual([
      'sources[0].instanceIdentifier: must not contain two consecutive hyphens',
      'sources[1].clusterIdentifier: must not end with a hyphen',
    ]);
  });

  it('keeps a cluster snapshot source\'s id short enough for RDS\'s 63-character snapshot names (3 fewer with share copies for the air-gapped vault)', () => {
    const config = example();
    expect(config.sources[2]).toMatchObject({ kind: 'docdb' }); // backed up by cluster snapshot only
    config.sources[2].id = 'c'.repeat(28);
    expect(() => parseConfig(config, 'test.json')).not.toThrow();
    config.sources[2].id = 'c'.repeat(29);
    expect(problemsOf(config)).toEqual([
      'sources[2].id: at most 28 characters for a cluster snapshot source: RDS names a cluster snapshot in at most 63 (lifeboat-<id>-<backup id>)',
    ]);
    // An Aurora source dumped only takes no snapshot: any id.
    config.sources[2].id = 'catalog-docdb';
    config.sources[1].id = 'b'.repeat(29);
    config.sources[1].backup = { method: 'dump' };
    expect(() => parseConfig(config, 'test.json')).not.toThrow();

    // The air-gapped vault in the primary region: share copies are named <snapshot>-ag.
    config.account = '111122223333';
    config.vaultAccount = { accountId: '444455556666' };
    config.sources[2].id = 'c'.repeat(25);
    expect(() => parseConfig(config, 'test.json')).not.toThrow();
    config.sources[2].id = 'c'.repeat(26);
    expect(problemsOf(config)).toEqual([
      'sources[2].id: at most 25 characters for a cluster snapshot source: RDS names a cluster snapshot in at most 63 (lifeboat-<id>-<backup id>, and -ag for the air-gapped share copy)',
    ]);
    config.vaultAccount.region = 'eu-central-1';
    expect(() => parseConfig(config, 'test.json')).not.toThrow();
  });

  it('rejects a dump source without a database', () => {
    const config = example();
    delete config.sources[0].database;

    expect(problemsOf(config)).toEqual(["sources[0].database: required when backup.method is 'both': the database to dump"]);
  });

  it('rejects a source without objectives', () => {
    const config = example();
    delete config.sources[1].objectives;

    expect(problemsOf(config)).toEqual(['sources[1].objectives: required']);
  });

  it('rejects Deep Archive less than 90 days after Glacier Instant Retrieval', () => {
    const config = example();
    config.vault.lifecycle.deepArchiveAfterDays = 100;

    const problems = problemsOf(config);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^vault\.lifecycle\.deepArchiveAfterDays: 100 must be at least 90 days after .*>= 120/);
  });

  it('rejects an RPO shorter than the schedule interval', () => {
    const config = example();
    config.sources[0].objectives.rpoMinutes = 60; // schedule: every 4 hours

    expect(problemsOf(config)).toEqual([
      "sources[0].objectives.rpoMinutes: 60 minutes cannot be met: schedule '0 */4 * * ? *' leaves 240 minutes (4h) between backups, and the next backup is verified up to 30 minutes after it starts (objectives.backupDurationMinutes): the RPO must be at least 270 minutes",
    ]);
  });

  it('counts an explicit flexible window against the RPO, and names it', () => {
    const config = example();
    config.sources[0].schedule.flexibleWindowMinutes = 10; // every 4 hours, 30 minutes to back up and verify, RPO 270: none to spare

    expect(problemsOf(config)).toEqual([
      "sources[0].objectives.rpoMinutes: 270 minutes cannot be met: schedule '0 */4 * * ? *' leaves 240 minutes (4h) between backups, the flexible window may delay a run by 10 more, and the next backup is verified up to 30 minutes after it starts (objectives.backupDurationMinutes): the RPO must be at least 280 minutes",
    ]);
  });

  it('counts the time a backup and its verification take against the RPO: an RPO equal to the schedule gap is refused', () => {
    const config = example();
    config.sources[0].objectives.rpoMinutes = 240; // every 4 hours
    expect(problemsOf(config)).toEqual([
      "sources[0].objectives.rpoMinutes: 240 minutes cannot be met: schedule '0 */4 * * ? *' leaves 240 minutes (4h) between backups, and the next backup is verified up to 30 minutes after it starts (objectives.backupDurationMinutes): the RPO must be at least 270 minutes",
    ]);
    config.sources[0].objectives.rpoMinutes = 270;
    expect(() => parseConfig(config)).not.toThrow();
    config.sources[0].objectives.backupDurationMinutes = 31;
    expect(problemsOf(config)).toEqual([
      "sources[0].objectives.rpoMinutes: 270 minutes cannot be met: schedule '0 */4 * * ? *' leaves 240 minutes (4h) between backups, and the next backup is verified up to 31 minutes after it starts (objectives.backupDurationMinutes): the RPO must be at least 271 minutes",
    ]);
  });

  it('defaults the flexible window to the slack the RPO leaves, at most 15 minutes, and 0 when the gap is not known exactly', () => {
    const window = (cron: string, rpoMinutes: number, flexibleWindowMinutes?: number) =>
      effectiveFlexibleWindowMinutes({ schedule: { cron, timeZone: 'UTC', flexibleWindowMinutes }, objectives: { rpoMinutes, rtoMinutes: 60, backupDurationMinutes: 30 } });
    expect(window('0 */4 * * ? *', 270)).toBe(0);
    expect(window('0 */4 * * ? *', 277)).toBe(7);
    expect(window('30 2 * * ? *', 1500)).toBe(15);
    expect(window('30 2 * * ? *', 1500, 0)).toBe(0);
    expect(window('30 2 * * ? *', 1500, 45)).toBe(45);
    expect(window('0 3 1 * ? *', 50_000)).toBe(0); // monthly: only a lower bound of the gap is known
  });

  it('rejects verification servers without a server, with a bad host or port, or a secret that is not an ARN', () => {
    const config = example();
    const network = config.sources[0].network;
    config.verification = { network, servers: {} };
    expect(problemsOf(config)).toEqual(['verification.servers: name at least one server: postgresql or mysql']);

    config.verification = { network, servers: { postgresql: { host: 'bad host', port: 70000, credentialsSecretArn: 'scratch' } } };
    expect(pathsOf(config).sort()).toEqual(['verification.servers.postgresql.credentialsSecretArn', 'verification.servers.postgresql.host', 'verification.servers.postgresql.port']);

    config.verification = { network, servers: { mysql: { host: 'scratch-mysql.internal', port: 3306, credentialsSecretArn: config.sources[0].credentialsSecretArn } } };
    expect(parseConfig(config, 'test').verification?.servers).toEqual({ mysql: { host: 'scratch-mysql.internal', port: 3306, credentialsSecretArn: config.sources[0].credentialsSecretArn } });
  });

  it('rejects an empty SQL check, and defaults the checks to none', () => {
    const config = example();
    config.sources[0].sqlChecks = ['SELECT true', '  '];
    expect(problemsOf(config)).toEqual(['sources[0].sqlChecks[1]: must not be empty']);
    expect(parseConfig(example(), 'test').sources[1]).toHaveProperty('sqlChecks', []);
  });

  it('rejects a name and an account id of the wrong shape', () => {
    expect(pathsOf({ ...example(), name: 'Lifeboat_Prod', account: '1234' })).toEqual(['name', 'account']);
  });

  it('rejects a document that is not an object', () => {
    expect(problemsOf([])).toEqual(['(root): Invalid input: expected object, received array']);
  });
});

describe('a config with several problems', () => {
  it('lists every problem in one ConfigError, one per line', () => {
    const config = example();
    config.version = 2;
    config.regions.dr = config.regions.primary;
    config.vault.lifecycle.deepArchiveAfterDays = 60;
    config.sources[0].network.subnetIds[0] = 'subnet-1';
    config.sources[0].objectives.rpoMinutes = 30;
    config.sources[1].id = 'orders-db';
    config.sources[1].schedule.timeZone = 'Moon/Tranquility';
    config.sources[1].schedule.cron = '0 3 * * * *';
    config.alerts.webhooks[0].url = 'ftp://hooks.example.com';
    config.extra = true;

    expect(pathsOf(config).sort()).toEqual(
      [
        'version',
        'regions.dr',
        'vault.lifecycle.deepArchiveAfterDays',
        'sources[0].network.subnetIds[0]',
        'sources[0].objectives.rpoMinutes',
        'sources[1].id',
        'sources[1].schedule.cron',
        'sources[1].schedule.timeZone',
        'alerts.webhooks[0].url',
        'extra',
      ].sort(),
    );
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-config-'));

  it('names a missing file', () => {
    const missing = join(dir, 'nope.json');

    expect(() => loadConfig(missing)).toThrow(ConfigError);
    expect(() => loadConfig(missing)).toThrow(`Lifeboat config ${missing}: file not found`);
  });

  it('names the file and the line and column of a JSON syntax error', () => {
    const file = join(dir, 'bad.json');
    // Node 20 reports this one ("Unexpected token") without a position.
    writeFileSync(file, '{\n  "version": 1,\n  "name": }\n');

    expect(() => loadConfig(file)).toThrow(ConfigError);
    expect(() => loadConfig(file)).toThrow(new RegExp(`^Lifeboat config ${file} is not valid JSON at line 3, column 11: `));
  });

  it('finds the position of a trailing comma', () => {
    const file = join(dir, 'comma.json');
    writeFileSync(file, '{\n  "version": 1,\n}');

    expect(() => loadConfig(file)).toThrow(/is not valid JSON at line 3, column 1: /);
  });

  it('names the file in schema errors', () => {
    const file = join(dir, 'v2.json');
    writeFileSync(file, JSON.stringify({ ...example(), version: 2 }));

    expect(() => loadConfig(file)).toThrow(`Invalid Lifeboat config ${file} (1 problem):\nversion: `);
  });
});

describe('formatPath', () => {
  it('writes keys with dots and indices in brackets', () => {
    expect(formatPath(['sources', 2, 'schedule', 'cron'])).toBe('sources[2].schedule.cron');
    expect(formatPath(['alerts', 'webhooks', 0, 'url'])).toBe('alerts.webhooks[0].url');
    expect(formatPath(['weird key'])).toBe('["weird key"]');
    expect(formatPath([])).toBe('(root)');
  });
});

describe('schedule intervals', () => {
  const gap = (cron: string) => {
    const parsed = parseCron(cron);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return longestGapMinutes(parsed.cron);
  };

  it.each([
    ['*/15 * * * ? *', 15],
    ['30/20 * * * ? *', 40], // runs at :30 and :50, then waits 40 minutes for the next :30
    ['0 */4 * * ? *', 240],
    ['0 0,12 * * ? *', 720],
    ['0 3 ? * * *', 1440],
    ['0 3 ? * SUN *', 10080],
    ['0 9-17 ? * MON-FRI *', 64 * 60], // Friday 17:00 to Monday 09:00
  ])('knows %s runs at least every %i minutes', (cron, minutes) => {
    expect(gap(cron)).toEqual({ minutes, exact: true });
  });

  it('gives only a lower bound for monthly and L/W/# schedules', () => {
    expect(gap('0 3 1 * ? *')).toEqual({ minutes: 1440, exact: false });
    expect(gap('0 3 ? * 6#3 *')).toEqual({ minutes: 1440, exact: false });
  });

  it('does not flag an RPO the schedule can meet exactly or might meet', () => {
    const config = example();
    config.sources[0].objectives.rpoMinutes = 270; // every 4 hours, and 30 minutes to back up and verify: met exactly
    config.sources[1].schedule.cron = '0 3 1 * ? *'; // monthly: gap unknown beyond one day
    config.sources[1].objectives.rpoMinutes = 2000;

    expect(() => parseConfig(config)).not.toThrow();
  });

  it('flags a monthly schedule against an RPO shorter than a day', () => {
    const config = example();
    config.sources[1].schedule.cron = '0 3 1 * ? *';
    config.sources[1].objectives.rpoMinutes = 120;

    expect(problemsOf(config)).toEqual([
      "sources[1].objectives.rpoMinutes: 120 minutes cannot be met: schedule '0 3 1 * ? *' leaves at least 1440 minutes (1 day) between backups, and the next backup is verified up to 30 minutes after it starts (objectives.backupDurationMinutes): the RPO must be at least 1470 minutes",
    ]);
  });
});

describe('runner and fargate per source', () => {
  it('default to auto on a 4 vCPU, 8 GiB task moved after 10 minutes or 40 GiB', () => {
    const config = parseConfig(example(), 'test.json');
    expect(config.sources[0]).toMatchObject({ runner: 'auto', fargate: { cpu: 4096, memoryMiB: 8192, autoAfterMinutes: 10, autoAboveRawGiB: 40 } });
  });

  it('take lambda, fargate and any size Fargate offers', () => {
    const config = example();
    config.sources[0].runner = 'fargate';
    config.sources[0].fargate = { cpu: 16384, memoryMiB: 122880 };
    config.sources[1].runner = 'lambda';
    const parsed = parseConfig(config, 'test.json');
    expect(parsed.sources[0]).toMatchObject({ runner: 'fargate', fargate: { cpu: 16384, memoryMiB: 122880 } });
    expect((parsed.sources[1] as { runner?: string }).runner).toBe('lambda');
  });

  it('reject an unknown runner, naming the choices', () => {
    const config = example();
    config.sources[1].runner = 'ec2';
    expect(problemsOf(config)).toEqual(['sources[1].runner: must be one of auto, lambda, fargate']);
  });

  it('reject a CPU Fargate does not offer, and memory it does not offer with that CPU, naming the field', () => {
    const badCpu = example();
    badCpu.sources[0].fargate = { cpu: 3000 };
    expect(problemsOf(badCpu)).toEqual(['sources[0].fargate.cpu: Fargate offers 256, 512, 1024, 2048, 4096, 8192 or 16384 CPU units, not 3000']);
    const badMemory = example();
    badMemory.sources[0].fargate = { cpu: 1024, memoryMiB: 16384 };
    expect(problemsOf(badMemory)).toEqual(['sources[0].fargate.memoryMiB: 16384 MiB is not offered with 1024 CPU units: Fargate allows 2048-8192 MiB in steps of 1024']);
  });

  it('reject an auto threshold Lambda could never reach', () => {
    const config = example();
    config.sources[0].fargate = { autoAfterMinutes: 15, autoAboveRawGiB: 0 };
    expect(problemsOf(config)).toEqual([
      'sources[0].fargate.autoAfterMinutes: must be at most 14: Lambda stops at 15 minutes',
      'sources[0].fargate.autoAboveRawGiB: must be a positive number of GiB',
    ]);
  });
});

describe('an ElastiCache cache (kind elasticache-redis)', () => {
  const cache = (overrides: Record<string, unknown> = {}) => ({
    kind: 'elasticache-redis',
    id: 'sessions',
    replicationGroupId: 'sessions-prod',
    network: { vpcId: 'vpc-0a1b2c3d', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    schedule: { cron: '15 * * * ? *' },
    objectives: { rpoMinutes: 180, rtoMinutes: 30 },
    ...overrides,
  });
  const configWith = (source: Record<string, unknown>) => ({ version: 1, regions: { primary: 'eu-west-1', dr: 'eu-central-1' }, sources: [source] });

  it('is exported and sealed like a dump (method dump), with the common runner, retention and objectives', () => {
    const [source] = parseConfig(configWith(cache())).sources;
    expect(source).toMatchObject({ kind: 'elasticache-redis', id: 'sessions', replicationGroupId: 'sessions-prod', backup: { method: 'dump' }, runner: 'auto', retention: { days: 35 } });
    expect(source).not.toHaveProperty('database');
    expect(source).not.toHaveProperty('credentialsSecretArn');
    const [single] = parseConfig(configWith(cache({ replicationGroupId: undefined, cacheClusterId: 'sessions-001' }))).sources;
    expect(single).toMatchObject({ cacheClusterId: 'sessions-001' });
  });

  it('takes exactly one of a replication group or a cache cluster', () => {
    expect(problemsOf(configWith(cache({ cacheClusterId: 'sessions-001' })))).toEqual([
      'sources[0].replicationGroupId: give exactly one of replicationGroupId (a replication group) or cacheClusterId (a single-node cluster outside one)',
    ]);
    expect(problemsOf(configWith(cache({ replicationGroupId: undefined })))).toEqual([
      'sources[0].replicationGroupId: give exactly one of replicationGroupId (a replication group) or cacheClusterId (a single-node cluster outside one)',
    ]);
  });

  it('refuses an id ElastiCache would refuse, a snapshot method, and the fields of a database', () => {
    expect(problemsOf(configWith(cache({ replicationGroupId: 'sessions--prod' })))).toEqual([
      'sources[0].replicationGroupId: must be an ElastiCache id of 1-40 characters: a letter, then letters, digits and single hyphens, not ending in a hyphen',
    ]);
    expect(problemsOf(configWith(cache({ replicationGroupId: `s${'x'.repeat(40)}` })))).toHaveLength(1);
    expect(problemsOf(configWith(cache({ replicationGroupId: 'sessions-' })))).toHaveLength(1);
    expect(problemsOf(configWith(cache({ backup: { method: 'snapshot' } })))).toEqual([
      "sources[0].backup.method: an ElastiCache cache is backed up by exporting its snapshot into the vault: 'dump' (or leave backup out)",
    ]);
    expect(pathsOf(configWith(cache({ database: 'x', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf', sqlChecks: ['SELECT true'] })))).toEqual([
      'sources[0].database',
      'sources[0].credentialsSecretArn',
      'sources[0].sqlChecks',
    ]);
  });

  it('must meet its RPO like any source', () => {
    expect(problemsOf(configWith(cache({ objectives: { rpoMinutes: 60, rtoMinutes: 30 } })))[0]).toMatch(/^sources\[0\]\.objectives\.rpoMinutes: 60 minutes cannot be met/);
  });

  it('can be backed up now by a plan, and is refused as what a restore-dump restores', () => {
    const config = {
      ...configWith(cache()),
      alerts: { emails: [{ address: 'ops@example.com' }] },
      plans: [
        {
          name: 'sessions',
          description: 'x',
          priority: 'high',
          objectives: { rtoMinutes: 30, rpoMinutes: 180 },
          contacts: [{ name: 'Ops', email: 'ops@example.com' }],
          steps: [
            { id: 'backup', kind: 'backup-now', parameters: { source: 'sessions' } },
            {
              id: 'restore',
              kind: 'restore-dump',
              dependsOn: ['backup'],
              parameters: { source: 'sessions', region: 'primary', target: { host: 'redis.example.com', port: 6379, database: 'x', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf' } },
            },
          ],
        },
      ],
    };
    expect(problemsOf(config)).toEqual([
      "plans[0].steps[1].parameters.source: 'sessions' is an ElastiCache cache: a plan backs it up now (backup-now) and restores it with restore-cache, not restore-dump",
    ]);
  });
});

describe('restore-cache: a plan step that refills a cache from its backup', () => {
  const AUTH = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sessions-restore-auth-Zx9Yw8';
  const withSteps = (steps: Record<string, unknown>[]) => {
    const config = example();
    config.plans = [{ ...config.plans[1], steps }];
    return config;
  };
  const restore = (extra: Record<string, unknown> = {}, parameters: Record<string, unknown> = {}) => ({
    id: 'restore',
    kind: 'restore-cache',
    parameters: { source: 'sessions-cache', target: { host: 'master.sessions-restore.abc123.euw1.cache.amazonaws.com', authSecretArn: AUTH }, ...parameters },
    ...extra,
  });

  it('restores a cache into a target that defaults to port 6379 with TLS, from the primary vault, within Lambda\'s 15 minutes', () => {
    const plan = parseConfig(example()).plans.find((p) => p.name === 'sessions-recovery')!;
    expect(plan.steps[1]).toMatchObject({ kind: 'restore-cache', timeoutMinutes: 15, parameters: { source: 'sessions-cache', region: 'primary', target: { port: 6379, tls: true } } });
    expect(parseConfig(withSteps([restore({}, { region: 'dr', pointInTime: '2026-12-03T06:00:00Z' })])).plans[0]!.steps[0]).toMatchObject({ parameters: { region: 'dr' } });
  });

  it('refuses a database as its source, a timeout past 15 minutes, a validate of what it restored, and a bad target', () => {
    expect(problemsOf(withSteps([restore({}, { source: 'orders-db' })]))).toEqual([
      "plans[0].steps[0].parameters.source: 'orders-db' is not an ElastiCache cache: restore-cache restores a cache's backup; restore a database with restore-dump, restore-snapshot or restore-point-in-time",
    ]);
    expect(problemsOf(withSteps([restore({ timeoutMinutes: 30 })]))).toEqual([
      'plans[0].steps[0].timeoutMinutes: 30 minutes is longer than the DR step Lambda that runs restore-cache can run (15); a cache that takes longer to restore is restored from its RDB (lifeboat restore --rdb, docs/redis.md)',
    ]);
    expect(problemsOf(withSteps([restore(), { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore' } }]))).toEqual([
      "plans[0].steps[1].parameters.target: 'restore' restores the ElastiCache cache 'sessions-cache': validate checks PostgreSQL and MySQL tables and SQL, not a cache; leave the step out (restore-cache checks every key it writes)",
    ]);
    expect(pathsOf(withSteps([restore({}, { target: { host: 'x', port: 0, authSecretArn: 'token' } })]))).toEqual([
      'plans[0].steps[0].parameters.target.port',
      'plans[0].steps[0].parameters.target.authSecretArn',
    ]);
  });
});

describe('restore-files longer than Lambda', () => {
  const withTimeout = (minutes: number, change: (config: any) => void = () => {}) => {
    const config = example();
    const plan = config.plans.find((p: { name: string }) => p.name === 'uploads-recovery');
    plan.steps.find((s: { id: string }) => s.id === 'restore').timeoutMinutes = minutes;
    change(config);
    return config;
  };
  const uploadsOf = (config: any) => config.sources.find((s: { id: string }) => s.id === 'uploads');

  it('runs on the DR step task where a network is known (the verification network, else the file set\'s), and is refused without one', () => {
    expect(parseConfig(withTimeout(120)).plans.find((p) => p.name === 'uploads-recovery')!.steps[1]).toMatchObject({ kind: 'restore-files', timeoutMinutes: 120 });
    expect(() => parseConfig(withTimeout(120, (config) => delete config.verification))).not.toThrow();
    const neither = withTimeout(120, (config) => {
      delete config.verification;
      delete uploadsOf(config).network;
    });
    expect(problemsOf(neither)).toContainEqual(
      "plans[2].steps[1].timeoutMinutes: 120 minutes is longer than the DR step Lambda can run (15), and a longer restore-files runs as a Fargate task: give the file set 'uploads' a network (or the deployment verification.network), or restore it with lifeboat restore (docs/file-sets.md)",
    );
    expect(() => parseConfig(withTimeout(15, (config) => {
      delete config.verification;
      delete uploadsOf(config).network;
    }))).not.toThrow();
  });
});

describe('a configuration source (kind config)', () => {
  const configSource = (overrides: Record<string, unknown> = {}) => ({
    kind: 'config',
    id: 'orders-config',
    ssmPaths: ['/orders/prod/'],
    schedule: { cron: '15 * * * ? *' },
    objectives: { rpoMinutes: 90, rtoMinutes: 60 },
    ...overrides,
  });
  const configWith = (source: Record<string, unknown>) => ({ version: 1, regions: { primary: 'eu-west-1', dr: 'eu-central-1' }, sources: [source] });
  const withSteps = (steps: Record<string, unknown>[]) => {
    const config = example();
    config.plans = [{ ...config.plans.find((p: { name: string }) => p.name === 'config-recovery'), steps }];
    return config;
  };

  it('selects SSM paths, secrets by prefix or tag and stacks, backed up as a dump (method dump) with retention and objectives, and nothing of a database', () => {
    const [source] = parseConfig(configWith(configSource({ secretTags: [{ key: 'backup' }] }))).sources;
    expect(source).toEqual({
      kind: 'config',
      id: 'orders-config',
      ssmPaths: ['/orders/prod/'],
      secretPrefixes: [],
      secretTags: [{ key: 'backup' }],
      stacks: [],
      schedule: { cron: '15 * * * ? *', timeZone: 'UTC' },
      backup: { method: 'dump' },
      retention: expect.objectContaining({ days: 35 }),
      objectives: { rpoMinutes: 90, rtoMinutes: 60, backupDurationMinutes: 30 },
    });
    expect(pathsOf(configWith(configSource({ network: {}, database: 'x', runner: 'fargate', sqlChecks: ['SELECT true'] })))).toEqual([
      'sources[0].network',
      'sources[0].database',
      'sources[0].runner',
      'sources[0].sqlChecks',
    ]);
  });

  it('must select something, each selection in the form its service accepts, and meet its RPO', () => {
    expect(problemsOf(configWith(configSource({ ssmPaths: [] })))).toEqual([
      'sources[0].ssmPaths: a config source must select something: ssmPaths, secretPrefixes, secretTags or stacks',
    ]);
    expect(problemsOf(configWith(configSource({ ssmPaths: ['orders/prod'], secretPrefixes: ['orders prod'], stacks: ['1-stack'], secretTags: [{ key: '' }] })))).toEqual([
      'sources[0].ssmPaths[0]: must be an SSM parameter path: "/" then letters, digits, "_", ".", "-" and "/"',
      'sources[0].secretPrefixes[0]: must be the start of a secret name: 1-512 letters, digits and /_+=.@-',
      'sources[0].secretTags[0].key: Too small: expected string to have >=1 characters',
      'sources[0].stacks[0]: must be a CloudFormation stack name: a letter, then letters, digits and hyphens (at most 128)',
    ]);
    expect(problemsOf(configWith(configSource({ backup: { method: 'snapshot' } })))).toEqual([
      "sources[0].backup.method: a config source is backed up by the config backup function: 'dump' (or leave backup out)",
    ]);
    expect(problemsOf(configWith(configSource({ objectives: { rpoMinutes: 30, rtoMinutes: 60 } })))[0]).toMatch(/^sources\[0\]\.objectives\.rpoMinutes: 30 minutes cannot be met/);
  });

  it('restore-config: from the DR vault in the example, within Lambda\'s 15 minutes, keeping changed values unless told to overwrite', () => {
    const plan = parseConfig(example()).plans.find((p) => p.name === 'config-recovery')!;
    expect(plan.steps[1]).toEqual({
      id: 'restore',
      kind: 'restore-config',
      dependsOn: ['announce'],
      timeoutMinutes: 15,
      parameters: { source: 'orders-config', region: 'dr', overwrite: false },
    });
    const keyed = parseConfig(withSteps([{ id: 'restore', kind: 'restore-config', parameters: { source: 'orders-config', overwrite: true, parameterKmsKeyId: 'alias/orders-dr', secretKmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' } }]));
    expect(keyed.plans[0]!.steps[0]).toMatchObject({ parameters: { region: 'primary', overwrite: true, parameterKmsKeyId: 'alias/orders-dr' } });
  });

  it('restore-config refuses another kind of source, another step for a config source, a timeout past 15 minutes, a validate of what it restored and a bad key', () => {
    const restore = (extra: Record<string, unknown> = {}, parameters: Record<string, unknown> = {}) => ({ id: 'restore', kind: 'restore-config', parameters: { source: 'orders-config', ...parameters }, ...extra });
    expect(problemsOf(withSteps([restore({}, { source: 'orders-db' })]))).toEqual([
      "plans[0].steps[0].parameters.source: 'orders-db' is not a configuration source: restore-config restores SSM parameters and secrets",
    ]);
    expect(problemsOf(withSteps([{ id: 'restore', kind: 'restore-files', parameters: { source: 'orders-config', target: { bucket: 'some-bucket' } } }]))).toEqual([
      "plans[0].steps[0].parameters.source: 'orders-config' is a configuration source: a plan backs it up now (backup-now) and restores it with restore-config, not restore-files",
    ]);
    expect(problemsOf(withSteps([restore({ timeoutMinutes: 30 })]))).toEqual([
      'plans[0].steps[0].timeoutMinutes: 30 minutes is longer than the DR step Lambda that runs restore-config can run (15); restore a larger configuration with lifeboat restore (docs/configuration.md)',
    ]);
    expect(problemsOf(withSteps([restore(), { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore' } }]))).toEqual([
      "plans[0].steps[1].parameters.target: 'restore' restores the configuration source 'orders-config': validate checks PostgreSQL and MySQL tables and SQL, not parameters or secrets; leave the step out (restore-config checks every item it writes)",
    ]);
    expect(pathsOf(withSteps([restore({}, { parameterKmsKeyId: 'my-key', overwrite: 'yes' })]))).toEqual(['plans[0].steps[0].parameters.overwrite', 'plans[0].steps[0].parameters.parameterKmsKeyId']);
  });
});

describe('monitoring and drill intervals', () => {
  it('measure freshness every 5 minutes unless told otherwise, and read the drill interval of a plan', () => {
    const config = parseConfig(example());
    expect(config.monitoring).toEqual({ freshnessEveryMinutes: 5 });
    expect(config.plans[0]!.drill).toEqual({ everyDays: 90 });
    expect(parseConfig({ ...example(), monitoring: { freshnessEveryMinutes: 15 } }).monitoring.freshnessEveryMinutes).toBe(15);
  });

  it('reject a freshness interval outside 1-60 minutes and a drill interval that is not a whole number of days, naming the field', () => {
    const config = example();
    config.monitoring = { freshnessEveryMinutes: 0 };
    config.plans[0].drill = { everyDays: 0.5 };
    expect(problemsOf(config)).toEqual([
      'monitoring.freshnessEveryMinutes: must be a whole number of minutes from 1 to 60',
      expect.stringMatching(/^plans\[0\]\.drill\.everyDays: /),
    ]);
    expect(problemsOf({ ...example(), monitoring: { every: 5 } })).toEqual(['monitoring.every: unknown key']);
  });
});
