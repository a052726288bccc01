/**
 * Single-table restore on the real servers, with a Pagila-like PostgreSQL database (serial, identity and
 * standalone sequences, an enum and a domain, foreign keys, indexes, triggers, payment partitioned by range)
 * and a Chinook-like MariaDB one: each table comes back alone into an existing database with its
 * sequences, keys, indexes and triggers; replacing a table leaves every other object alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DumpManifest, runBackup } from '../../../functions/lib/engine/backup.ts';
import { runRestore } from '../../../functions/lib/engine/restore.ts';
import { TargetNotEmptyError } from '../../../functions/lib/errors.ts';
import {
  type MariaDbDatabase,
  type PostgresDatabase,
  createMariaDbDatabase,
  createPostgresDatabase,
} from '../../harness/index.ts';
import { connectionOf, loadMysqlFixture, loadPostgresFixture, tempVault, testKeyring } from './helpers.ts';

const keyring = testKeyring();

// jobs 1 writes one archive; jobs 2 a multi-part backup (v1.1) whose table is spread over schema, data and post-data parts.
describe.each([1, 2])('single-table restore, PostgreSQL (Pagila-like), backed up with %i job(s)', (jobs) => {
  let source: PostgresDatabase;
  let target: PostgresDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let manifest: DumpManifest;

  beforeAll(async () => {
    source = await createPostgresDatabase(`table_src_${jobs}`);
    await loadPostgresFixture(source, 'pagila-like.sql');
    vault = await tempVault();
    manifest = (await runBackup({ source: connectionOf(source), sourceId: 'pagila', store: vault.store, keyring, jobs })).manifest;
    expect(manifest.payload.parts === undefined).toBe(jobs === 1);
    // An existing database: the tables the foreign keys point at, and one of its own that must survive.
    target = await createPostgresDatabase(`table_dst_${jobs}`);
    await target.query('CREATE TABLE language (language_id serial PRIMARY KEY, name text NOT NULL)');
    await target.query(`INSERT INTO language (name) VALUES ('English'), ('Italian'), ('Japanese')`);
    await target.query('CREATE TABLE customer (customer_id serial PRIMARY KEY, name text NOT NULL)');
    await target.query(`INSERT INTO customer (name) SELECT 'Customer ' || g FROM generate_series(1, 20) g`);
    await target.query(`CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'keep me')`);
  }, 120_000);
  afterAll(async () => {
    await source?.drop();
    await target?.drop();
    await vault?.remove();
  });

  const restoreTable = (table: string, replaceTable = false) =>
    runRestore({ store: vault.store, sourceId: 'pagila', backupId: manifest.backupId, keyring, target: connectionOf(target), table, replaceTable });

  async function describeTable(db: PostgresDatabase, table: string) {
    const constraints = await db.query<{ conname: string; contype: string }>(
      `SELECT conname, contype FROM pg_constraint WHERE conrelid = $1::regclass ORDER BY conname`, [table]);
    const indexes = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [table]);
    const triggers = await db.query<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY 1`, [table]);
    const rows = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    const defaults = await db.query<{ column_name: string; column_default: string | null; is_identity: string }>(
      `SELECT column_name, column_default, is_identity FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [table]);
    return { constraints, indexes: indexes.map((i) => i.indexname), triggers: triggers.map((t) => t.tgname), rows: Number(rows[0]!.n), defaults };
  }

  it('restores actor, film and payment singly into an existing database, each with its sequences, keys, indexes and triggers', async () => {
    for (const table of ['actor', 'film', 'payment']) {
      const result = await restoreTable(table);
      expect(result.createdDatabase).toBe(false);
      expect(result.warnings).toEqual([]);
      expect(await describeTable(target, table)).toEqual(await describeTable(source, table));
    }
    // payment: the partitions with their rows, attached.
    const partitions = await target.query<{ child: string }>(
      `SELECT inhrelid::regclass::text AS child FROM pg_inherits WHERE inhparent = 'payment'::regclass ORDER BY 1`);
    expect(partitions.map((p) => p.child)).toEqual(['payment_p2022_01', 'payment_p2022_02']);
    // The sequences carry on after the restored rows, whether serial, identity or standalone.
    const [actor] = await target.query<{ actor_id: number }>(`INSERT INTO actor (first_name, last_name) VALUES ('New', 'Actor') RETURNING actor_id`);
    expect(actor!.actor_id).toBe(201);
    const [film] = await target.query<{ film_id: number }>(`INSERT INTO film (title, language_id) VALUES ('New', 1) RETURNING film_id`);
    expect(film!.film_id).toBe(101);
    const [payment] = await target.query<{ payment_id: number }>(
      `INSERT INTO payment (customer_id, amount, payment_date) VALUES (1, 1, '2022-01-15') RETURNING payment_id`);
    expect(payment!.payment_id).toBe(601);
    // Keys hold: a film in no language is refused, and the trigger runs.
    await expect(target.query(`INSERT INTO film (title, language_id) VALUES ('Orphan', 99)`)).rejects.toThrow(/film_language_id_fkey/);
    expect(await target.query(`SELECT body FROM notes`)).toEqual([{ body: 'keep me' }]);
  }, 180_000);

  it('refuses a table the target already has, and --replace-table replaces it alone', async () => {
    await expect(restoreTable('actor')).rejects.toThrow(TargetNotEmptyError);
    await expect(restoreTable('actor')).rejects.toThrow(/^Table public\.actor already exists in .*replace that table alone with replaceTable \(--replace-table\)/);

    // Another table of the target points at actor: its key is dropped and re-created around the replacement.
    await target.query('CREATE TABLE film_actor (actor_id int NOT NULL REFERENCES actor (actor_id), film_id int NOT NULL REFERENCES film (film_id), PRIMARY KEY (actor_id, film_id))');
    await target.query('INSERT INTO film_actor VALUES (5, 7), (6, 7)');
    await target.query(`UPDATE actor SET first_name = 'Changed' WHERE actor_id = 5`);
    await target.query(`DELETE FROM actor WHERE actor_id > 100 AND actor_id NOT IN (5, 6)`);
    const before = { film: await describeTable(target, 'film'), payment: await describeTable(target, 'payment'), notes: await target.query('SELECT * FROM notes') };

    const result = await restoreTable('actor', true);

    expect(result.createdDatabase).toBe(false);
    expect(await describeTable(target, 'actor')).toMatchObject({ rows: 200 });
    expect(await target.query(`SELECT first_name FROM actor WHERE actor_id = 5`)).toEqual([{ first_name: 'First5' }]);
    expect(await target.query(`SELECT actor_id, film_id FROM film_actor ORDER BY 1`)).toEqual([{ actor_id: 5, film_id: 7 }, { actor_id: 6, film_id: 7 }]);
    const fks = await target.query<{ conname: string }>(`SELECT conname FROM pg_constraint WHERE conrelid = 'film_actor'::regclass AND contype = 'f' ORDER BY 1`);
    expect(fks.map((f) => f.conname)).toEqual(['film_actor_actor_id_fkey', 'film_actor_film_id_fkey']);
    expect({ film: await describeTable(target, 'film'), payment: await describeTable(target, 'payment'), notes: await target.query('SELECT * FROM notes') }).toEqual(before);
  }, 180_000);

  it('restores a table into a new database, leaving out a foreign key to a table it lacks (and saying so)', async () => {
    const fresh = connectionOf(target);
    const name = `${target.name}_new`;
    try {
      const result = await runRestore({ store: vault.store, sourceId: 'pagila', backupId: manifest.backupId, keyring, target: { ...fresh, database: name }, table: 'film' });
      expect(result.createdDatabase).toBe(true);
      expect(result.warnings).toEqual(['foreign key film_language_id_fkey left out: it references public.language, which the target does not have']);
    } finally {
      await target.query(`DROP DATABASE IF EXISTS ${name}`).catch(async () => {
        const admin = await createPostgresDatabase('table_admin');
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.drop();
      });
    }
  }, 120_000);
});

describe('single-table restore, MariaDB (Chinook-like)', () => {
  let source: MariaDbDatabase;
  let target: MariaDbDatabase;
  let vault: Awaited<ReturnType<typeof tempVault>>;
  let manifest: DumpManifest;

  beforeAll(async () => {
    source = await createMariaDbDatabase('table_src');
    await loadMysqlFixture(source, 'chinook-like.sql');
    vault = await tempVault();
    manifest = (await runBackup({ source: connectionOf(source), sourceId: 'chinook', store: vault.store, keyring, jobs: 1 })).manifest;
    target = await createMariaDbDatabase('table_dst');
    await target.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
    await target.query(`INSERT INTO notes VALUES (1, 'keep me')`);
  }, 120_000);
  afterAll(async () => {
    await source?.drop();
    await target?.drop();
    await vault?.remove();
  });

  const restoreTable = (table: string, replaceTable = false) =>
    runRestore({ store: vault.store, sourceId: 'chinook', backupId: manifest.backupId, keyring, target: connectionOf(target), table, replaceTable });
  const shape = async (db: MariaDbDatabase, table: string) => ({
    create: ((await db.query<Record<string, string>>(`SHOW CREATE TABLE ${table}`))[0]!['Create Table'] ?? '').replace(/ AUTO_INCREMENT=\d+/, ''),
    rows: await db.query(`SELECT * FROM ${table} ORDER BY 1`),
    triggers: (await db.query<{ Trigger: string }>(`SHOW TRIGGERS WHERE \`Table\` = '${table}'`)).map((t) => t.Trigger),
  });

  it('restores artist, album and track singly into an existing database with keys, indexes and triggers, and nothing else', async () => {
    for (const table of ['artist', 'album', 'track']) {
      const result = await restoreTable(table);
      expect(result.createdDatabase).toBe(false);
      expect(await shape(target, table)).toEqual(await shape(source, table));
    }
    const tables = await target.query<{ n: string }>(`SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`);
    expect(tables.map((t) => t.n)).toEqual(['album', 'artist', 'notes', 'track']);
    expect(await target.query(`SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()`)).toEqual([]);
    // The auto-increment counter carries on where the source's did.
    const counter = (db: MariaDbDatabase) => db.query(`SELECT AUTO_INCREMENT AS id FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'track'`);
    expect(await counter(target)).toEqual(await counter(source));
  }, 180_000);

  it('refuses a table the target has, and --replace-table replaces it alone', async () => {
    await expect(restoreTable('album')).rejects.toThrow(TargetNotEmptyError);
    await target.query(`DELETE FROM track WHERE AlbumId = 3`);
    await target.query(`UPDATE album SET Title = 'Changed' WHERE AlbumId = 3`);
    const tracks = await target.query('SELECT * FROM track ORDER BY 1');

    await restoreTable('album', true);

    expect(await shape(target, 'album')).toEqual(await shape(source, 'album'));
    expect(await target.query('SELECT * FROM track ORDER BY 1')).toEqual(tracks);
    expect(await target.query(`SELECT body FROM notes`)).toEqual([{ body: 'keep me' }]);
  }, 180_000);
});
