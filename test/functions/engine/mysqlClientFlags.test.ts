// Which mysqldump flags go with which client and server: from the `--version` lines the clients really print,
// then against the real local MariaDB with the machine's own client (the round trip is in mysql.test.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqldumpClient, mysqldumpFlavourArgs, parseMysqldumpVersion, prepareMysqlDump } from '../../../functions/lib/engine/mysql.ts';
import { createMariaDbDatabase, type MariaDbDatabase } from '../../harness/index.ts';
import { connectionOf } from './helpers.ts';

const LINES = {
  mysql84: 'mysqldump  Ver 8.4.3 for Linux on x86_64 (MySQL Community Server - GPL)',
  mysql80: 'mysqldump  Ver 8.0.36 for Linux on aarch64 (MySQL Community Server - GPL)',
  mysql91: 'mysqldump  Ver 9.1.0 for Linux on x86_64 (MySQL Community Server - GPL)',
  mysql57: 'mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)',
  mariadb1011: 'mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
  mariadb105: 'mysqldump  Ver 10.19 Distrib 10.5.25-MariaDB, for Linux (x86_64)',
  mariadb114: 'mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)',
};
/** `SELECT VERSION()` on the servers users run on RDS. */
const SERVERS = { rdsMysql84: '8.4.3', rdsMysql80: '8.0.39', auroraMysql3: '8.0.32', rdsMariadb: '10.11.9-MariaDB-log', mysql57: '5.7.44-log' };

describe('the client from its --version line', () => {
  it('tells MySQL from MariaDB and reads the version the client itself has', () => {
    expect(mysqldumpClient(LINES.mysql84)).toEqual({ flavour: 'mysql', version: '8.4.3', major: 8, minor: 4 });
    expect(mysqldumpClient(LINES.mysql80)).toEqual({ flavour: 'mysql', version: '8.0.36', major: 8, minor: 0 });
    expect(mysqldumpClient(LINES.mysql57)).toEqual({ flavour: 'mysql', version: '5.7.44', major: 5, minor: 7 });
    expect(mysqldumpClient(LINES.mariadb1011)).toEqual({ flavour: 'mariadb', version: '10.11.19-MariaDB', major: 10, minor: 11 });
    expect(mysqldumpClient(LINES.mariadb114)).toEqual({ flavour: 'mariadb', version: '11.4.2-MariaDB', major: 11, minor: 4 });
    expect(parseMysqldumpVersion(LINES.mysql91)).toBe('9.1.0');
  });
});

describe('flags per client and server', () => {
  it('MySQL 8.0 and 8.4 clients: no GTID_PURGED and no histogram statements, for every common RDS server', () => {
    for (const line of [LINES.mysql84, LINES.mysql80, LINES.mysql91]) {
      for (const server of Object.values(SERVERS)) {
        expect(mysqldumpFlavourArgs(mysqldumpClient(line), server)).toEqual({ args: ['--set-gtid-purged=OFF', '--column-statistics=0'], warnings: [] });
      }
    }
  });

  it('a MySQL 5.7 client has no --column-statistics, and is called out against a MySQL 8 server', () => {
    const client = mysqldumpClient(LINES.mysql57);
    expect(mysqldumpFlavourArgs(client, SERVERS.mysql57)).toEqual({ args: ['--set-gtid-purged=OFF'], warnings: [] });
    const against8 = mysqldumpFlavourArgs(client, SERVERS.rdsMysql80);
    expect(against8.args).toEqual(['--set-gtid-purged=OFF']);
    expect(against8.warnings).toEqual([expect.stringContaining('older than the MySQL 8.0.39 server')]);
  });

  it("MariaDB's client gets neither MySQL-only option, and is called out against MySQL 8 and Aurora MySQL 3", () => {
    for (const line of [LINES.mariadb1011, LINES.mariadb105, LINES.mariadb114]) {
      const client = mysqldumpClient(line);
      expect(mysqldumpFlavourArgs(client, SERVERS.rdsMariadb)).toEqual({ args: [], warnings: [] });
      expect(mysqldumpFlavourArgs(client, SERVERS.mysql57)).toEqual({ args: [], warnings: [] });
      for (const server of [SERVERS.rdsMysql84, SERVERS.rdsMysql80, SERVERS.auroraMysql3]) {
        const { args, warnings } = mysqldumpFlavourArgs(client, server);
        expect(args).toEqual([]);
        expect(warnings).toEqual([expect.stringMatching(/does not dump MySQL .* faithfully \(invisible columns, caching_sha2_password/)]);
      }
    }
  });
});

describe("this machine's client against the local MariaDB", () => {
  let db: MariaDbDatabase;
  beforeAll(async () => {
    db = await createMariaDbDatabase('flags');
  });
  afterAll(() => db?.drop());

  it('plans exactly the flags its --version line calls for, and that mysqldump accepts them', async () => {
    const line = (await promisify(execFile)('mysqldump', ['--version'])).stdout.trim();
    const plan = await prepareMysqlDump(connectionOf(db));
    try {
      const client = mysqldumpClient(line);
      expect(plan.toolVersion).toBe(client.version);
      const expected = mysqldumpFlavourArgs(client, plan.serverVersion);
      expect(plan.args.slice(-1 - expected.args.length, -1)).toEqual(expected.args);
      expect(plan.warnings).toEqual(expected.warnings);
      if (client.flavour === 'mariadb') expect(plan.args.some((a) => a.startsWith('--set-gtid-purged') || a.startsWith('--column-statistics'))).toBe(false);
      // The planned flags are ones this mysqldump knows: --no-data keeps the run short, the options are parsed all the same.
      const { stdout } = await promisify(execFile)(plan.command, ['--no-data', ...plan.args], { env: { ...process.env, ...plan.env } });
      expect(stdout).toContain('-- Dump completed');
    } finally {
      await plan.close();
    }
  });
});
