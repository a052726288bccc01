/**
 * Counts the rows of every table as they pass through in mysqldump's output, so MySQL row counts are
 * exactly what the dump holds, even when the database is written to during the dump (mysqldump's
 * snapshot is private to its own connection; a COUNT(*) on another connection could disagree).
 *
 * mysqldump writes each table's rows in a section that opens with `-- Dumping data for table `t``
 * and holds only `INSERT INTO `t` VALUES (…),(…);` statements, lock statements and version comments.
 * Rows are the top-level parenthesised tuples after VALUES; quoted strings (with backslash escapes)
 * are skipped, so parentheses or `),(` inside values never count. Nothing outside a data section
 * (trigger, routine and event bodies) is ever counted.
 */
import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 0x0a;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const SEMICOLON = 0x3b;

const DATA_HEADER = Buffer.from('-- Dumping data for table `');
const INSERT_PREFIX = Buffer.from('INSERT INTO `');
const VALUES = Buffer.from(' VALUES');
/** Prefix bytes kept of a line split across chunks: enough for any header or INSERT prefix. */
const MAX_LINE_HEAD = 1024;

export interface DumpedTable {
  readonly name: string;
  rows: number;
}

export class MysqlRowCounter extends Transform {
  /** Tables in dump order, each with the rows seen so far. */
  readonly tables: DumpedTable[] = [];
  #current: DumpedTable | undefined;
  // Line mode: collecting the head of the current line.
  #lineHead: Buffer[] = [];
  #lineHeadBytes = 0;
  #skippingLine = false;
  // Insert mode: inside `INSERT … VALUES …;`.
  #inInsert = false;
  #inString = false;
  #escaped = false;
  #depth = 0;
  // Row-per-line inserts.
  #rowPerLine: boolean | undefined;
  #lineHasBytes = false;
  #lastByte = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#scan(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }

  #scan(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#inInsert) {
        i = this.#scanInsert(chunk, i);
        continue;
      }
      // Line mode: gather the head of the line (it may have begun in an earlier chunk).
      const end = chunk.indexOf(NEWLINE, i);
      const stop = end === -1 ? n : end;
      const earlier = this.#lineHeadBytes;
      if (!this.#skippingLine && earlier < MAX_LINE_HEAD) {
        const piece = chunk.subarray(i, Math.min(stop, i + MAX_LINE_HEAD - earlier));
        this.#lineHead.push(piece);
        this.#lineHeadBytes += piece.length;
      }
      const head = this.#lineHead.length === 1 ? this.#lineHead[0]! : Buffer.concat(this.#lineHead);
      if (!this.#skippingLine) {
        // An INSERT is entered as soon as its VALUES keyword is seen: its rows may run on for megabytes.
        // VALUES ends in this chunk (the check on the previous chunk found no complete VALUES).
        const rowsAt = this.#rowsOffset(head);
        if (rowsAt >= 0) {
          this.#resetLine();
          this.#inInsert = true;
          this.#inString = false;
          this.#escaped = false;
          this.#depth = 0;
          this.#rowPerLine = undefined;
          this.#lineHasBytes = false;
          i += rowsAt - earlier;
          continue;
        }
      }
      if (end === -1) {
        if (this.#lineHead.length > 1) this.#lineHead = [head];
        return; // the line continues in the next chunk
      }
      if (!this.#skippingLine) this.#onLine(head);
      this.#resetLine();
      i = end + 1;
    }
  }

  #resetLine(): void {
    this.#lineHead = [];
    this.#lineHeadBytes = 0;
    this.#skippingLine = false;
  }

  /** Where the rows of an INSERT into the current table begin within `head`, or -1. */
  #rowsOffset(head: Buffer): number {
    if (this.#current === undefined || !startsWith(head, INSERT_PREFIX)) return -1;
    const name = readQuotedName(head, INSERT_PREFIX.length);
    if (name !== this.#current.name) return -1;
    const at = head.indexOf(VALUES, INSERT_PREFIX.length);
    return at === -1 ? -1 : at + VALUES.length;
  }

  /** A complete line outside an INSERT: opens or closes a data section. */
  #onLine(head: Buffer): void {
    if (startsWith(head, DATA_HEADER)) {
      const name = readQuotedName(head, DATA_HEADER.length);
      if (name !== undefined) {
        this.#current = { name, rows: 0 };
        this.tables.push(this.#current);
      }
      return;
    }
    if (this.#current === undefined) return;
    const insideSection =
      head.length === 0 ||
      (head.length === 2 && head[0] === 0x2d && head[1] === 0x2d) ||
      startsWith(head, LOCK) ||
      startsWith(head, VERSION_COMMENT);
    if (!insideSection) this.#current = undefined;
  }

  /** Scans rows from `start`; returns where it stopped (end of chunk, or just past the statement's `;`). */
  #scanInsert(chunk: Buffer, start: number): number {
    if (this.#rowPerLine === undefined) {
      if (start >= chunk.length) return start;
      // MariaDB ≥ 10.11 writes `VALUES` then one row per line; MySQL and older MariaDB one long line.
      this.#rowPerLine = chunk[start] === NEWLINE;
    }
    return this.#rowPerLine ? this.#scanRowLines(chunk, start) : this.#scanTuples(chunk, start);
  }

  /**
   * One row per line: mysqldump escapes newlines inside strings (`\n`) and writes binary as hex, so a
   * raw newline only ever ends a row. Each row line ends in `),` or, for the last one, `);`.
   * Native newline search per row keeps this far faster than looking at every byte.
   */
  #scanRowLines(chunk: Buffer, start: number): number {
    const n = chunk.length;
    let i = start;
    while (i < n) {
      const newline = chunk.indexOf(NEWLINE, i);
      if (newline === -1) {
        this.#lineHasBytes ||= n > i;
        this.#lastByte = chunk[n - 1]!;
        return n;
      }
      const hasBytes = this.#lineHasBytes || newline > i;
      const last = newline > i ? chunk[newline - 1]! : this.#lastByte;
      this.#lineHasBytes = false;
      i = newline + 1;
      if (!hasBytes) continue; // the line holding VALUES, or a blank one
      this.#current!.rows++;
      if (last === SEMICOLON) {
        this.#inInsert = false;
        return i;
      }
    }
    return i;
  }

  /** Rows on one line: top-level `(` outside quoted strings, until a top-level `;`. */
  #scanTuples(chunk: Buffer, start: number): number {
    const n = chunk.length;
    let i = start;
    let inString = this.#inString;
    let escaped = this.#escaped;
    let depth = this.#depth;
    let rows = 0;
    for (; i < n; i++) {
      const byte = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
        continue;
      }
      if (byte === QUOTE) inString = true;
      else if (byte === OPEN) {
        if (depth === 0) rows++;
        depth++;
      } else if (byte === CLOSE) depth--;
      else if (byte === SEMICOLON && depth === 0) {
        this.#inInsert = false;
        i++;
        // The rest of this line (normally nothing) is no header: skip it in line mode.
        this.#skippingLine = true;
        break;
      }
    }
    this.#inString = inString;
    this.#escaped = escaped;
    this.#depth = depth;
    this.#current!.rows += rows;
    return i;
  }
}

const LOCK = Buffer.from('LOCK TABLES ');
const VERSION_COMMENT = Buffer.from('/*!');

function startsWith(buffer: Buffer, prefix: Buffer): boolean {
  return buffer.length >= prefix.length && buffer.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** Reads a backquoted identifier whose opening backquote precedes `start` (`` doubles a backquote). */
function readQuotedName(buffer: Buffer, start: number): string | undefined {
  let i = start;
  const parts: Buffer[] = [];
  for (;;) {
    const close = buffer.indexOf(0x60, i);
    if (close === -1) return undefined;
    parts.push(buffer.subarray(i, close));
    if (buffer[close + 1] === 0x60) {
      parts.push(buffer.subarray(close, close + 1));
      i = close + 2;
      continue;
    }
    return Buffer.concat(parts).toString('utf8');
  }
}
