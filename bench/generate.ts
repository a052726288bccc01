/**
 * The bench database: an online shop's data, generated server-side with SQL so that 1 GB takes about a
 * minute on two cores. Shares of `pg_database_size` (indexes included):
 *
 * | table       | share | what makes it up                                                                  |
 * | ----------- | ----- | --------------------------------------------------------------------------------- |
 * | customers   |  5 %  | short text, country codes, timestamps, numeric; unique index on email             |
 * | orders      | 30 %  | free-text notes and addresses from a word list, numeric totals, timestamps; 3 indexes |
 * | events      | 47 %  | jsonb payloads (items, amounts, session hashes) and descriptions; 3 indexes       |
 * | attachments | 18 %  | random bytes (2–12 KiB, TOASTed, incompressible) and file metadata                |
 *
 * Text is words drawn at random from a vocabulary (compressible like real notes, not like repeated
 * strings), mixed with numbers and hex hashes. A database is reused when its comment says it was
 * completed by this generator version for the same target size; `--regenerate` forces a new one.
 */
import type pg from 'pg';
import { sizeLabel } from './options.ts';
import { createDatabase, dropDatabase, quoteIdent, type ServerSettings, withClient } from './server.ts';

/** Bump when the schema or the data changes, so older bench databases are regenerated. */
const GENERATOR_VERSION = 1;
/** Helper functions (and pgcrypto) live here during generation and are dropped before any dump. */
const GEN_SCHEMA = 'lb_bench_gen';
/** Stop filling a table once it is within this fraction of its target. */
const TOLERANCE = 0.015;

export interface BenchDatabase {
  readonly name: string;
  readonly targetBytes: number;
  /** `pg_database_size` after generation. */
  readonly bytes: number;
  readonly rows: Record<string, number>;
  /** Seconds spent generating; 0 when an existing database was reused. */
  readonly generatedSeconds: number;
  readonly reused: boolean;
  /** How random bytes were made: pgcrypto's `gen_random_bytes` or concatenated md5 of random(). */
  readonly randomSource: 'pgcrypto' | 'md5';
}

interface TableSpec {
  readonly name: string;
  readonly share: number;
  /** A first guess of bytes per row (heap, TOAST and indexes), refined after the first batch. */
  readonly guessBytesPerRow: number;
  /** INSERT … SELECT for ids $1..$2; $3 is the number of customers, $4 of orders (for references). */
  readonly insert: string;
}

const VOCABULARY = [
  'order', 'shipped', 'customer', 'delivery', 'package', 'warehouse', 'return', 'refund', 'invoice', 'payment',
  'card', 'express', 'standard', 'address', 'street', 'city', 'north', 'south', 'the', 'a', 'of', 'and', 'to',
  'in', 'for', 'with', 'on', 'was', 'is', 'be', 'by', 'please', 'call', 'before', 'after', 'door', 'left',
  'front', 'back', 'fragile', 'handle', 'care', 'gift', 'wrap', 'note', 'birthday', 'thanks', 'item', 'items',
  'blue', 'red', 'green', 'large', 'small', 'medium', 'size', 'color', 'cotton', 'shirt', 'shoes', 'jacket',
  'lamp', 'chair', 'table', 'phone', 'case', 'charger', 'cable', 'book', 'coffee', 'tea', 'mug', 'kitchen',
  'garden', 'tool', 'set', 'pack', 'box', 'bag', 'premium', 'basic', 'discount', 'coupon', 'code', 'applied',
  'late', 'early', 'morning', 'evening', 'monday', 'friday', 'weekend', 'signature', 'required', 'neighbour',
  'reception', 'office', 'apartment', 'floor', 'building', 'gate', 'parking', 'service', 'ticket', 'issue',
  'resolved', 'pending', 'damaged', 'missing', 'replacement', 'sent', 'received', 'confirmed', 'cancelled',
  'updated', 'changed', 'requested', 'tracking', 'number', 'carrier', 'label', 'printed', 'picked', 'packed',
  'stock', 'backorder', 'supplier', 'batch', 'quality', 'check', 'passed', 'failed', 'retry', 'agent',
  'chat', 'email', 'phone', 'store', 'pickup', 'locker', 'weight', 'kg', 'dimensions', 'cm', 'insurance',
];

const SCHEMA_SQL = `
CREATE TABLE customers (
  id bigint PRIMARY KEY,
  email text NOT NULL,
  full_name text NOT NULL,
  country char(2) NOT NULL,
  created_at timestamptz NOT NULL,
  marketing_opt_in boolean NOT NULL,
  lifetime_value numeric(12,2) NOT NULL
);
CREATE UNIQUE INDEX customers_email ON customers (email);

CREATE TABLE orders (
  id bigint PRIMARY KEY,
  customer_id bigint NOT NULL,
  created_at timestamptz NOT NULL,
  status text NOT NULL,
  total numeric(12,2) NOT NULL,
  currency char(3) NOT NULL,
  item_count integer NOT NULL,
  shipping_address text NOT NULL,
  notes text
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE events (
  id bigint PRIMARY KEY,
  order_id bigint NOT NULL,
  occurred_at timestamptz NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL,
  description text
);
CREATE INDEX events_order ON events (order_id);
CREATE INDEX events_kind_time ON events (kind, occurred_at);

CREATE TABLE attachments (
  id bigint PRIMARY KEY,
  order_id bigint NOT NULL,
  filename text NOT NULL,
  content_type text NOT NULL,
  created_at timestamptz NOT NULL,
  content bytea NOT NULL
);
CREATE INDEX attachments_order ON attachments (order_id);
`;

function helperSql(randomSource: 'pgcrypto' | 'md5'): string {
  const vocabulary = `'{${VOCABULARY.join(',')}}'::text[]`;
  const randomBytes =
    randomSource === 'pgcrypto'
      ? `SELECT substring(string_agg(${GEN_SCHEMA}.gen_random_bytes(1024), ''::bytea) FROM 1 FOR n)
         FROM generate_series(1, (n + 1023) / 1024)`
      : `SELECT substring(decode(string_agg(md5(random()::text || i::text), ''), 'hex') FROM 1 FOR n)
         FROM generate_series(1, (n + 15) / 16) AS i`;
  return `
CREATE FUNCTION ${GEN_SCHEMA}.words(n integer) RETURNS text LANGUAGE sql VOLATILE AS $f$
  SELECT string_agg(w[1 + floor(random() * cardinality(w))::int], ' ')
  FROM (SELECT ${vocabulary} AS w) AS v, generate_series(1, n)
$f$;
CREATE FUNCTION ${GEN_SCHEMA}.pick(options text[]) RETURNS text LANGUAGE sql VOLATILE AS $f$
  SELECT options[1 + floor(random() * cardinality(options))::int]
$f$;
CREATE FUNCTION ${GEN_SCHEMA}.line_items(n integer) RETURNS jsonb LANGUAGE sql VOLATILE AS $f$
  SELECT jsonb_agg(jsonb_build_object(
    'sku', 'SKU-' || lpad(floor(random() * 1000000)::text, 6, '0'),
    'name', initcap(${GEN_SCHEMA}.words(3)),
    'qty', 1 + floor(random() * 4)::int,
    'unit_price', round((random() * 200)::numeric, 2)))
  FROM generate_series(1, n)
$f$;
CREATE FUNCTION ${GEN_SCHEMA}.random_bytes(n integer) RETURNS bytea LANGUAGE sql VOLATILE AS $f$
  ${randomBytes}
$f$;`;
}

const g = GEN_SCHEMA;
const TABLES: readonly TableSpec[] = [
  {
    name: 'events',
    share: 0.47,
    guessBytesPerRow: 1100,
    insert: `INSERT INTO events
      SELECT i, 1 + floor(random() * $4)::bigint,
        timestamptz '2020-01-01' + (i * 7 + floor(random() * 7)) * interval '1 second',
        ${g}.pick('{order.created,payment.authorized,payment.captured,shipment.created,shipment.delivered,email.sent,refund.requested,ticket.opened}'),
        jsonb_build_object(
          'channel', ${g}.pick('{web,ios,android,api,pos}'),
          'ip', '10.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int,
          'session', md5(random()::text),
          'user_agent', 'Mozilla/5.0 (' || ${g}.pick('{X11; Linux x86_64,Windows NT 10.0; Win64; x64,Macintosh; Intel Mac OS X 14_2,iPhone; CPU iPhone OS 17_1 like Mac OS X}') || ') Version/' || floor(random() * 30)::int,
          'amount', round((random() * 900)::numeric, 2),
          'currency', ${g}.pick('{EUR,USD,GBP,JPY}'),
          'items', ${g}.line_items(1 + floor(random() * 4)::int),
          'tags', to_jsonb(string_to_array(${g}.words(3), ' '))),
        ${g}.words(10 + floor(random() * 30)::int)
      FROM generate_series($1::bigint, $2::bigint) AS i`,
  },
  {
    name: 'orders',
    share: 0.3,
    guessBytesPerRow: 700,
    insert: `INSERT INTO orders
      SELECT i, 1 + floor(random() * $3)::bigint,
        timestamptz '2020-01-01' + (i * 30 + floor(random() * 30)) * interval '1 second',
        ${g}.pick('{pending,paid,shipped,delivered,cancelled,refunded}'),
        round((5 + random() * 900)::numeric, 2),
        ${g}.pick('{EUR,USD,GBP,JPY}'),
        1 + floor(random() * 8)::int,
        (1 + floor(random() * 9999))::int || ' ' || initcap(${g}.words(2)) || ' Street, ' || initcap(${g}.words(1)) || ' ' ||
          lpad(floor(random() * 100000)::text, 5, '0') || ', ' || ${g}.pick('{US,DE,FR,GB,JP,BR,IN,CA}'),
        CASE WHEN random() < 0.9 THEN ${g}.words(30 + floor(random() * 60)::int) || ' ref ' || upper(substr(md5(random()::text), 1, 12)) END
      FROM generate_series($1::bigint, $2::bigint) AS i`,
  },
  {
    name: 'attachments',
    share: 0.18,
    guessBytesPerRow: 9000,
    insert: `INSERT INTO attachments
      SELECT i, 1 + floor(random() * $4)::bigint,
        ${g}.pick('{invoice,receipt,label,photo,scan,contract}') || '-' || i || ${g}.pick('{.pdf,.jpg,.png,.zip}'),
        ${g}.pick('{application/pdf,image/jpeg,image/png,application/zip}'),
        timestamptz '2020-01-01' + i * interval '2 minutes',
        ${g}.random_bytes(2048 + floor(random() * 10240)::int)
      FROM generate_series($1::bigint, $2::bigint) AS i`,
  },
  {
    name: 'customers',
    share: 0.05,
    guessBytesPerRow: 200,
    insert: `INSERT INTO customers
      SELECT i, 'customer' || i || '@' || ${g}.pick('{example.com,mail.example,corp.example,shop.test}'),
        initcap(${g}.words(2)),
        ${g}.pick('{US,DE,FR,GB,JP,BR,IN,CA}'),
        timestamptz '2018-01-01' + random() * interval '6 years',
        random() < 0.4,
        round((random() * 5000)::numeric, 2)
      FROM generate_series($1::bigint, $2::bigint) AS i`,
  },
];

function marker(targetBytes: number, randomSource: 'pgcrypto' | 'md5'): string {
  return `lifeboat-bench generator=${GENERATOR_VERSION} target=${targetBytes} random=${randomSource} complete`;
}

/** The random source recorded by a complete database of this generator and size, if the comment is one. */
function parseMarker(comment: string | undefined, targetBytes: number): 'pgcrypto' | 'md5' | undefined {
  for (const source of ['pgcrypto', 'md5'] as const) if (comment === marker(targetBytes, source)) return source;
  return undefined;
}

export function benchDatabaseName(targetBytes: number): string {
  return `lb_bench_${sizeLabel(targetBytes)}`;
}

/**
 * The bench database for `targetBytes`: reused when a complete one exists, generated otherwise.
 * `log` gets one line per step (generation takes a while).
 */
export async function ensureBenchDatabase(
  server: ServerSettings,
  targetBytes: number,
  options: { regenerate: boolean; log: (line: string) => void },
): Promise<BenchDatabase> {
  const name = benchDatabaseName(targetBytes);
  const comment = await withClient(server, 'postgres', async (admin) => {
    const result = await admin.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [name],
    );
    return result.rows[0] ? (result.rows[0].comment ?? '') : undefined;
  });
  const reusable = parseMarker(comment, targetBytes);
  if (reusable && !options.regenerate) {
    const facts = await withClient(server, name, (client) => describe(client, name));
    return { name, targetBytes, ...facts, randomSource: reusable, generatedSeconds: 0, reused: true };
  }
  if (comment !== undefined) options.log(`dropping ${name} (${options.regenerate ? '--regenerate' : 'incomplete or from another generator'})`);
  await dropDatabase(server, name);
  await createDatabase(server, name);

  const started = process.hrtime.bigint();
  const randomSource = await withClient(server, name, async (client) => {
    await client.query(`CREATE SCHEMA ${GEN_SCHEMA}`);
    const available = await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'`);
    const source: 'pgcrypto' | 'md5' = available.rowCount ? 'pgcrypto' : 'md5';
    if (source === 'pgcrypto') await client.query(`CREATE EXTENSION pgcrypto SCHEMA ${GEN_SCHEMA}`);
    await client.query(SCHEMA_SQL);
    await client.query(helperSql(source));
    return source;
  });
  const baseBytes = await withClient(server, name, (client) => databaseSize(client, name));
  const tableBudget = targetBytes - baseBytes;
  const customers = Math.max(1000, Math.round((tableBudget * shareOf('customers')) / guessOf('customers')));
  const orders = Math.max(1000, Math.round((tableBudget * shareOf('orders')) / guessOf('orders')));
  options.log(`generating ${name}: ${formatMiB(targetBytes)} target (random bytes from ${randomSource}), two sessions`);

  // Two sessions (this machine's two cores), each taking the next table, largest first.
  const queue = [...TABLES];
  const worker = async (): Promise<void> => {
    await withClient(server, name, async (client) => {
      await client.query('SET synchronous_commit = off');
      for (let table = queue.shift(); table; table = queue.shift()) {
        await fillTable(client, table, tableBudget * table.share, [customers, orders], options);
      }
    });
  };
  await Promise.all([worker(), worker()]);

  await withClient(server, name, async (client) => {
    // Frozen, hinted and analysed now, so the first timed dump does not pay for setting hint bits.
    options.log(`vacuuming ${name}`);
    await client.query('VACUUM (FREEZE, ANALYZE)');
    await client.query(`DROP SCHEMA ${GEN_SCHEMA} CASCADE`);
    await client.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS '${marker(targetBytes, randomSource)}'`);
  });
  const generatedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const facts = await withClient(server, name, (client) => describe(client, name));
  options.log(`generated ${name}: ${formatMiB(facts.bytes)} in ${generatedSeconds.toFixed(0)} s`);
  return { name, targetBytes, ...facts, randomSource, generatedSeconds, reused: false };
}

async function fillTable(
  client: pg.Client,
  table: TableSpec,
  targetBytes: number,
  [customers, orders]: [number, number],
  options: { log: (line: string) => void },
): Promise<void> {
  let nextId = 1;
  let bytesPerRow = table.guessBytesPerRow;
  const emptyBytes = await tableSize(client, table.name);
  for (let batch = 0; ; batch += 1) {
    const current = await tableSize(client, table.name);
    const remaining = targetBytes - current;
    if (remaining <= targetBytes * TOLERANCE) break;
    if (batch > 0) bytesPerRow = (current - emptyBytes) / (nextId - 1);
    // A small first batch calibrates bytes per row; then aim just short of the target and top up.
    const aim = batch === 0 ? Math.min(remaining, targetBytes * 0.05) : remaining * (batch === 1 ? 0.97 : 1);
    const rows = Math.max(1, Math.ceil(aim / bytesPerRow));
    await client.query(table.insert.replaceAll('$3', String(customers)).replaceAll('$4', String(orders)), [
      nextId,
      nextId + rows - 1,
    ]);
    nextId += rows;
  }
  options.log(`  ${table.name}: ${nextId - 1} rows, ${formatMiB(await tableSize(client, table.name))}`);
}

async function describe(client: pg.Client, name: string): Promise<{ bytes: number; rows: Record<string, number> }> {
  const rows: Record<string, number> = {};
  for (const table of TABLES) {
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(table.name)}`);
    rows[table.name] = Number(result.rows[0]?.n ?? 0);
  }
  return { bytes: await databaseSize(client, name), rows };
}

async function databaseSize(client: pg.Client, name: string): Promise<number> {
  const result = await client.query<{ bytes: string }>('SELECT pg_database_size($1) AS bytes', [name]);
  return Number(result.rows[0]?.bytes ?? 0);
}

async function tableSize(client: pg.Client, table: string): Promise<number> {
  const result = await client.query<{ bytes: string }>('SELECT pg_total_relation_size($1::regclass) AS bytes', [table]);
  return Number(result.rows[0]?.bytes ?? 0);
}

function shareOf(name: string): number {
  return TABLES.find((table) => table.name === name)?.share ?? 0;
}
function guessOf(name: string): number {
  return TABLES.find((table) => table.name === name)?.guessBytesPerRow ?? 1;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}
