/** What backup.ts and restore.ts need from an engine (postgres.ts, mysql.ts), and helpers they share. */
import type { Transform } from 'node:stream';
import type { ManifestTable } from '../vault/manifest.ts';
import { type ConnectionInfo, redact } from './connection.ts';

export interface DumpPlan {
  readonly command: string;
  /** Never holds a password (it goes in `env`). */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly payloadFormat: 'pg_dump-custom' | 'mysqldump-sql';
  readonly toolName: 'pg_dump' | 'mysqldump';
  readonly toolVersion: string;
  readonly serverVersion: string;
  /** Things left out of the dump and why (e.g. events without the EVENT privilege). */
  readonly warnings: readonly string[];
  /** Watches the raw dump on its way to the compressor (MySQL counts rows here). */
  readonly inspector?: Transform;
  /** Per-table row counts; call once the dump tool has exited successfully. */
  tables(): Promise<ManifestTable[]>;
  /** Releases connections and snapshots; safe to call more than once, after success or failure. */
  close(): Promise<void>;
}

export interface RestorePlan {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** One table to restore on its own. */
export interface TableSelector {
  readonly schema: string;
  readonly name: string;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A driver error as a cause, its message scrubbed of the password (drivers do not echo it, but be sure). */
export function scrubbed(error: unknown, info: ConnectionInfo): Error {
  if (!(error instanceof Error)) return new Error(redact(String(error), info));
  const copy = new Error(redact(error.message, info));
  copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}
