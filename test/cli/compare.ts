/** Table contents as comparable fingerprints, for round-trip tests on both engines. */
import { createHash } from 'node:crypto';

export interface TableFingerprint {
  readonly rows: number;
  readonly sha256: string;
}

type Query = <Row = Record<string, unknown>>(sql: string) => Promise<Row[]>;

/** Every row of `table` ordered by `id`, hashed as JSON with binary values as hex. */
export async function fingerprint(query: Query, table: string, quote: (name: string) => string): Promise<TableFingerprint> {
  const rows = await query(`SELECT * FROM ${quote(table)} ORDER BY id`);
  const hash = createHash('sha256');
  for (const row of rows) {
    hash.update(
      JSON.stringify(row, (_key, value: unknown) => {
        if (Buffer.isBuffer(value)) return `hex:${value.toString('hex')}`;
        if (value instanceof Date) return value.toISOString();
        return value;
      }),
    );
    hash.update('\n');
  }
  return { rows: rows.length, sha256: hash.digest('hex') };
}

export const quotePostgres = (name: string): string => `"${name.replaceAll('"', '""')}"`;
export const quoteMariaDb = (name: string): string => `\`${name.replaceAll('`', '``')}\``;
