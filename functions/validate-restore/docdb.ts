/**
 * The restore test's check of a DocumentDB cluster restored from a snapshot: it answers, as the snapshot's master
 * user, over TLS checked against the RDS CA bundle (DocumentDB's certificates are signed by the RDS CAs): `ping`,
 * then `listDatabases` (names only). A DocumentDB manifest records no tables or counts, so there is nothing
 * more to compare; a cluster that answers and lists its databases is one an application can use.
 *
 * An unusable connection throws the restore test's named errors (unreachable, login failed); a cluster that
 * connects but refuses the commands is a failed result, never an exception. The password never appears in a
 * result or an error: every message is scrubbed of it.
 */
import { redact } from '../lib/engine/connection.ts';
import { RestoreTargetLoginFailedError, RestoreTargetUnreachableError } from '../lib/errors.ts';

/** What the check needs of a MongoDB client: run a command on the admin database, and close. */
export interface DocdbSession {
  command(command: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface DocdbEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export interface DocdbConnectOptions {
  /** 'verify': TLS with the certificate checked against `ca`; 'disable' only for a local server without TLS. */
  readonly tls: 'verify' | 'disable';
  /** The CA bundle's path (the RDS CAs). @default Node's CAs */
  readonly ca?: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export type ConnectDocdb = (endpoint: DocdbEndpoint, options: DocdbConnectOptions) => Promise<DocdbSession>;

export interface DocdbValidation {
  readonly passed: boolean;
  /** The restored cluster's databases, by name. */
  readonly databases: string[];
  readonly reason?: string;
}

/** MongoDB's code for a failed authentication. */
const AUTHENTICATION_FAILED = 18;

/** Checks the restored cluster at `endpoint` answers and lists its databases. */
export async function validateDocdb(endpoint: DocdbEndpoint, options: DocdbConnectOptions, connect: ConnectDocdb = connectDocdb): Promise<DocdbValidation> {
  const scrub = (text: string) => redact(text, endpoint);
  const where = `${endpoint.host}:${endpoint.port}`;
  let session: DocdbSession;
  try {
    session = await connect(endpoint, options);
  } catch (error) {
    throw connectionError(error, where, endpoint.user, scrub);
  }
  try {
    try {
      const ping = await session.command({ ping: 1 });
      if (ping['ok'] !== 1) return { passed: false, databases: [], reason: scrub(`the restored cluster at ${where} did not answer ping (ok: ${String(ping['ok'])})`) };
    } catch (error) {
      if (isAuthenticationFailure(error)) throw connectionError(error, where, endpoint.user, scrub);
      return { passed: false, databases: [], reason: scrub(`the restored cluster at ${where} did not answer ping: ${messageOf(error)}`) };
    }
    let listed: Record<string, unknown>;
    try {
      listed = await session.command({ listDatabases: 1, nameOnly: true });
    } catch (error) {
      return { passed: false, databases: [], reason: scrub(`the restored cluster at ${where} answered ping but not listDatabases: ${messageOf(error)}`) };
    }
    const entries = Array.isArray(listed['databases']) ? (listed['databases'] as unknown[]) : undefined;
    if (entries === undefined) return { passed: false, databases: [], reason: scrub(`listDatabases on the restored cluster at ${where} returned no database list`) };
    const databases = entries.flatMap((entry) => (typeof (entry as { name?: unknown })?.name === 'string' ? [(entry as { name: string }).name] : [])).sort();
    return { passed: true, databases: databases.map(scrub) };
  } finally {
    await session.close().catch(() => undefined);
  }
}

function connectionError(error: unknown, where: string, user: string, scrub: (text: string) => string): Error {
  if (error instanceof RestoreTargetUnreachableError || error instanceof RestoreTargetLoginFailedError) return error;
  if (isAuthenticationFailure(error)) {
    return new RestoreTargetLoginFailedError(
      scrub(`Logging in to the restored cluster at ${where} as ${user} failed: ${messageOf(error)}. A restored cluster has the master password the source had when the snapshot was taken: a password rotated since then does not work`),
    );
  }
  return new RestoreTargetUnreachableError(scrub(`The restored cluster at ${where} could not be reached: ${messageOf(error)}`));
}

function isAuthenticationFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === AUTHENTICATION_FAILED || /authentication failed/i.test(messageOf(error));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The MongoDB driver, loaded only for a DocumentDB check; one connection straight to the cluster endpoint. */
export const connectDocdb: ConnectDocdb = async (endpoint, options) => {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(`mongodb://${endpoint.host}:${endpoint.port}/`, {
    auth: { username: endpoint.user, password: endpoint.password },
    authSource: 'admin',
    directConnection: true,
    // DocumentDB supports no retryable writes; this check writes nothing anyway.
    retryWrites: false,
    tls: options.tls !== 'disable',
    ...(options.ca === undefined ? {} : { tlsCAFile: options.ca }),
    connectTimeoutMS: options.connectTimeoutMs,
    serverSelectionTimeoutMS: options.connectTimeoutMs,
    socketTimeoutMS: options.commandTimeoutMs,
  });
  await client.connect();
  const admin = client.db('admin');
  return {
    command: (command) => admin.command({ ...command }, { timeoutMS: options.commandTimeoutMs }) as Promise<Record<string, unknown>>,
    close: () => client.close(),
  };
};
