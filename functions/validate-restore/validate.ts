/**
 * The restore test's verdict on a restored database: every expected table exists with the row count the
 * manifest recorded, and every configured SQL check holds. A failed table or check is a result
 * (`passed: false` with reasons), never an exception; only an unusable connection throws (named errors).
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readDatabaseSecret } from '../lib/aws/databaseSecret.ts';
import { z } from 'zod';
import { type ConnectionInfo, redact } from '../lib/engine/connection.ts';
import { messageOf } from '../lib/engine/driver.ts';
import { ConfigError, RestoreTargetLoginFailedError, RestoreTargetUnreachableError } from '../lib/errors.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import { type ConnectDocdb, validateDocdb } from './docdb.ts';
import { type Connect, type ConnectOptions, DatabaseMissing, connectRestoredDatabase, isTruthy } from '../lib/engine/restoredDatabase.ts';

/** The snapshot restore test's execution input (statemachines/snapshot-restore-test.asl.json); extra fields are ignored. */
export const RestoreTestRequestSchema = z.object({
  sourceId: z.string().min(1),
  /** `docdb`: a DocumentDB cluster, checked by answering (docdb.ts); `database`, tables and checks are not used. */
  engine: z.enum(['postgres', 'mysql', 'docdb']),
  database: z.string().min(1),
  expectedTables: z
    .array(
      z.object({
        schema: z.string().min(1),
        name: z.string().min(1),
        /** From the manifest; without it only the table's existence is checked. */
        rows: z.number().int().nonnegative().optional(),
      }),
    )
    .default([]),
  /** SQL statements; each passes when it returns at least one row whose first column is truthy. */
  checks: z.array(z.string().trim().min(1)).default([]),
});
export type RestoreTestRequest = z.input<typeof RestoreTestRequestSchema>;

/** What the ValidateRestore state sends: the execution input and the restored instance's endpoint. */
export const ValidateRestoreEventSchema = z.object({
  request: RestoreTestRequestSchema,
  endpoint: z.object({ address: z.string().min(1), port: z.number().int().min(1).max(65_535) }),
});
export type ValidateRestoreEvent = z.input<typeof ValidateRestoreEventSchema>;

/** A source as the function is told of it (the same LIFEBOAT_SOURCES entries the dump function reads). */
export const RestoreTestSourceSchema = z.object({
  id: z.string().min(1),
  credentialsSecretArn: z.string().startsWith('arn:'),
});
export type RestoreTestSource = z.infer<typeof RestoreTestSourceSchema>;


export interface ValidateRestoreDeps {
  readonly sources: readonly RestoreTestSource[];
  readonly secrets: Pick<SecretsManagerClient, 'send'>;
  /** @default 'verify' (TLS with the RDS certificate checked); 'disable' only for local servers without TLS */
  readonly tls?: ConnectOptions['tls'];
  /** The CA bundle to check the certificate against. @default Node's CAs and NODE_EXTRA_CA_CERTS */
  readonly ca?: string;
  /** @default 10 seconds */
  readonly connectTimeoutMs?: number;
  /** @default 5 minutes: a count over a lazily loaded restore can be slow */
  readonly statementTimeoutMs?: number;
  /** @default connectRestoredDatabase */
  readonly connect?: Connect;
  /** @default the MongoDB driver (docdb.ts) */
  readonly connectDocdb?: ConnectDocdb;
}

export interface TableResult {
  readonly schema: string;
  readonly name: string;
  readonly passed: boolean;
  readonly expectedRows?: number;
  readonly actualRows?: number;
  readonly reason?: string;
}

export interface CheckResult {
  readonly sql: string;
  readonly passed: boolean;
  readonly reason?: string;
}

export interface RestoreValidation {
  readonly sourceId: string;
  readonly database: string;
  readonly passed: boolean;
  readonly tables: TableResult[];
  readonly checks: CheckResult[];
  /** DocumentDB: the restored cluster's databases, by name. */
  readonly databases?: string[];
  /** Why it failed, one line naming each failed table and check; absent when it passed. */
  readonly reason?: string;
}

const MAX_REASON_LENGTH = 1_000;

export async function validateRestore(event: unknown, deps: ValidateRestoreDeps): Promise<RestoreValidation> {
  const { request, endpoint } = parseEvent(event);
  const source = deps.sources.find((s) => s.id === request.sourceId);
  if (!source) {
    throw new ConfigError(
      `request.sourceId: unknown source '${request.sourceId}'; this function knows ${deps.sources.map((s) => s.id).join(', ') || 'no sources'}`,
    );
  }
  const credentials = await readMasterCredentials(source, deps.secrets);
  if (request.engine === 'docdb') {
    const checked = await validateDocdb(
      { host: endpoint.address, port: endpoint.port, user: credentials.username, password: credentials.password },
      { tls: deps.tls ?? 'verify', ...(deps.ca === undefined ? {} : { ca: deps.ca }), connectTimeoutMs: deps.connectTimeoutMs ?? 10_000, commandTimeoutMs: deps.statementTimeoutMs ?? 300_000 },
      deps.connectDocdb,
    );
    return { sourceId: request.sourceId, database: request.database, passed: checked.passed, tables: [], checks: [], databases: checked.databases, ...(checked.reason === undefined ? {} : { reason: checked.reason }) };
  }
  const info: ConnectionInfo = {
    engine: request.engine === 'postgres' ? 'postgresql' : 'mysql',
    host: endpoint.address,
    port: endpoint.port,
    user: credentials.username,
    password: credentials.password,
    database: request.database,
  };
  const connect = deps.connect ?? connectRestoredDatabase;
  const db = await connect(info, {
    tls: deps.tls ?? 'verify',
    ...(deps.ca === undefined ? {} : { ca: deps.ca }),
    connectTimeoutMs: deps.connectTimeoutMs ?? 10_000,
    statementTimeoutMs: deps.statementTimeoutMs ?? 300_000,
  });
  const scrub = (text: string) => redact(text, info);
  if (db instanceof DatabaseMissing) {
    return {
      sourceId: request.sourceId,
      database: request.database,
      passed: false,
      tables: [],
      checks: [],
      reason: scrub(`database ${request.database} does not exist on the restored instance`),
    };
  }

  try {
    const tables: TableResult[] = [];
    for (const table of request.expectedTables) tables.push(await checkTable(db, table, scrub));
    const checks: CheckResult[] = [];
    for (const [index, sql] of request.checks.entries()) checks.push(await runCheck(db, sql, index, scrub));
    return verdict(request, tables, checks);
  } finally {
    await db.close();
  }
}

function parseEvent(event: unknown) {
  return parseOrConfigError(ValidateRestoreEventSchema, event, 'Invalid restore validation event');
}

/** The source's current master credentials: the restored instance has the master user of the snapshot. */
async function readMasterCredentials(source: RestoreTestSource, secrets: ValidateRestoreDeps['secrets']) {
  return readDatabaseSecret(secrets, source.credentialsSecretArn, `source ${source.id}`);
}

type ExpectedTable = z.infer<typeof RestoreTestRequestSchema>['expectedTables'][number];
type Database = Exclude<Awaited<ReturnType<Connect>>, DatabaseMissing>;

async function checkTable(db: Database, table: ExpectedTable, scrub: (text: string) => string): Promise<TableResult> {
  const label = `${table.schema}.${table.name}`;
  const expected = table.rows === undefined ? {} : { expectedRows: table.rows };
  // The names come from config, but echo nothing that could hold the password.
  const names = { schema: scrub(table.schema), name: scrub(table.name) };
  const failed = (reason: string, actual: { actualRows?: number } = {}): TableResult => ({
    ...names,
    passed: false,
    ...expected,
    ...actual,
    reason: scrub(reason),
  });
  try {
    if (!(await db.tableExists(table.schema, table.name))) return failed(`table ${label} does not exist`);
    const actualRows = await db.countRows(table.schema, table.name);
    if (table.rows !== undefined && actualRows !== table.rows) {
      return failed(`table ${label} has ${actualRows} rows, the manifest says ${table.rows}`, { actualRows });
    }
    return { ...names, passed: true, ...expected, actualRows };
  } catch (error) {
    if (isNamedConnectionError(error)) throw error;
    return failed(`table ${label} could not be read: ${messageOf(error)}`);
  }
}

async function runCheck(db: Database, sql: string, index: number, scrub: (text: string) => string): Promise<CheckResult> {
  const label = `check ${index + 1}`;
  const failed = (reason: string): CheckResult => ({ sql: scrub(sql), passed: false, reason: scrub(reason) });
  let values: unknown[];
  try {
    values = await db.firstColumn(sql);
  } catch (error) {
    if (isNamedConnectionError(error)) throw error;
    return failed(`${label} failed: ${messageOf(error)}`);
  }
  if (values.length === 0) return failed(`${label} returned no rows`);
  if (!values.some(isTruthy)) {
    return failed(`${label} returned ${values.length} row(s) and no first column is true (first: ${describeValue(values[0])})`);
  }
  return { sql: scrub(sql), passed: true };
}


function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex')}`;
  const text = typeof value === 'string' ? `'${value}'` : String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function verdict(request: z.infer<typeof RestoreTestRequestSchema>, tables: TableResult[], checks: CheckResult[]): RestoreValidation {
  const failures = [...tables, ...checks].flatMap((result) => (result.passed ? [] : [result.reason ?? 'failed']));
  const base = { sourceId: request.sourceId, database: request.database, tables, checks };
  if (failures.length === 0) return { ...base, passed: true };
  const failedTables = tables.filter((t) => !t.passed).length;
  const failedChecks = checks.filter((c) => !c.passed).length;
  const summary = `${failedTables} of ${tables.length} table(s) and ${failedChecks} of ${checks.length} check(s) failed: ${failures.join('; ')}`;
  return { ...base, passed: false, reason: summary.length > MAX_REASON_LENGTH ? `${summary.slice(0, MAX_REASON_LENGTH - 1)}…` : summary };
}

function isNamedConnectionError(error: unknown): boolean {
  return error instanceof RestoreTargetUnreachableError || error instanceof RestoreTargetLoginFailedError;
}
