/**
 * Single-table restore: which parts of a dump make up one table. Pure functions over what the tools print,
 * so every restore path (the streamed restore, a multi-part restore) selects a table the same way.
 *
 * PostgreSQL: from the archive's table of contents (`pg_restore -l`) and its schema-only SQL
 * (`pg_restore --schema-only -f -`, which names each entry and holds its statement), the list file for
 * `pg_restore -L`: the table and, for a partitioned table, its partitions; their data; the sequences
 * their defaults and identity columns use (definition, OWNED BY, current value); defaults, constraints,
 * indexes (and their partition attachments), triggers, rules, policies and comments; the types, domains
 * and trigger functions they need that the target lacks; foreign keys whose referenced table the target
 * has (the others are left out and reported). Replacing a table also takes the other tables' foreign keys
 * that point at it, so `--clean` can drop and re-create them around it.
 *
 * MySQL: {@link MysqlTableFilter} passes mysqldump's session settings and the sections of one table
 * (structure, data, triggers) and drops every other table's, view's, routine's and event's.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { TableSelector } from './driver.ts';

/** One entry of the archive's schema-only SQL: its header and the statements under it. */
export interface ArchiveEntry {
  readonly desc: string;
  readonly schema: string;
  readonly tag: string;
  readonly sql: string;
}

/** What the target database holds, as far as a table restore depends on it. Qualified names as pg_dump writes them (`public.actor`). */
export interface PostgresTargetFacts {
  readonly tables: ReadonlySet<string>;
  readonly types: ReadonlySet<string>;
  /** `schema.name` of functions (any arguments). */
  readonly functions: ReadonlySet<string>;
}

export interface TableRestoreList {
  /** The lines of `pg_restore -l` to keep, in archive order: write them to the file given to `-L`. */
  readonly lines: readonly string[];
  /** The tables restored (the table and its partitions), qualified. */
  readonly tables: readonly string[];
  /** What was left out and why (a foreign key to a table the target does not have). */
  readonly warnings: readonly string[];
}

/** `-- Name: actor actor_pkey; Type: CONSTRAINT; Schema: public; Owner: -` */
const ENTRY_HEADER = /^-- Name: (.*); Type: (.*); Schema: (.*); Owner: .*$/;

/** Splits `pg_restore --schema-only -f -` output into its entries. */
export function parseArchiveEntries(schemaSql: string): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  let current: { desc: string; schema: string; tag: string; sql: string[] } | undefined;
  const flush = () => {
    if (current) entries.push({ desc: current.desc, schema: current.schema, tag: current.tag, sql: current.sql.join('\n').trim() });
  };
  for (const line of schemaSql.split('\n')) {
    const header = ENTRY_HEADER.exec(line);
    if (header) {
      flush();
      current = { tag: header[1]!, desc: header[2]!, schema: header[3]!, sql: [] };
    } else if (current && !line.startsWith('--')) {
      current.sql.push(line);
    }
  }
  flush();
  return entries;
}

/** `actor` → `actor`, `Order Items` → `"Order Items"`: an identifier as pg_dump prints it. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** Whether `sql` names `name` (qualified) as a whole word: not a prefix of a longer identifier. */
function mentions(sql: string, name: string): boolean {
  let from = 0;
  for (;;) {
    const at = sql.indexOf(name, from);
    if (at === -1) return false;
    const after = sql[at + name.length];
    const before = sql[at - 1];
    if ((after === undefined || !/[\w$"]/.test(after)) && (before === undefined || !/[\w$".]/.test(before))) return true;
    from = at + 1;
  }
}

/**
 * The `pg_restore -L` list for one table. `toc` is `pg_restore -l` output, `entries` the parsed schema-only
 * SQL, `facts` the target's current contents; `replace` adds the other tables' foreign keys to the table.
 */
export function postgresTableList(
  toc: string,
  entries: readonly ArchiveEntry[],
  table: TableSelector,
  facts: PostgresTargetFacts,
  options: { readonly replace: boolean },
): TableRestoreList {
  const { schema } = table;
  const tableNames = new Set([table.name]);
  // Partitions (and theirs): `ALTER TABLE ONLY public.payment ATTACH PARTITION public.payment_p2022_01 …`.
  for (let grew = true; grew; ) {
    grew = false;
    for (const entry of entries) {
      if (entry.desc !== 'TABLE ATTACH' || entry.schema !== schema || tableNames.has(entry.tag)) continue;
      if ([...tableNames].some((name) => entry.sql.includes(`ALTER TABLE ONLY ${qualified(schema, name)} ATTACH PARTITION`))) {
        tableNames.add(entry.tag);
        grew = true;
      }
    }
  }
  const tables = [...tableNames].map((name) => qualified(schema, name));
  const ownsTag = (entry: ArchiveEntry) => entry.schema === schema && [...tableNames].some((name) => entry.tag.startsWith(`${name} `));
  const onTable = (sql: string) => tables.some((name) => mentions(sql, name));

  const keep = new Set<string>(); // `${desc}\0${schema}\0${tag}`
  const id = (desc: string, entrySchema: string, tag: string) => `${desc}\0${entrySchema}\0${tag}`;
  const take = (entry: ArchiveEntry) => keep.add(id(entry.desc, entry.schema, entry.tag));
  const warnings: string[] = [];

  for (const name of tableNames) {
    keep.add(id('TABLE', schema, name));
    keep.add(id('TABLE DATA', schema, name));
    keep.add(id('TABLE ATTACH', schema, name));
    keep.add(id('ROW SECURITY', schema, name));
  }
  const indexNames = new Set<string>();
  for (const entry of entries) {
    switch (entry.desc) {
      case 'DEFAULT':
      case 'CONSTRAINT':
      case 'CHECK CONSTRAINT':
      case 'TRIGGER':
      case 'RULE':
      case 'POLICY':
        if (ownsTag(entry)) {
          take(entry);
          indexNames.add(entry.tag.slice(entry.tag.indexOf(' ') + 1));
        }
        break;
      case 'INDEX':
        if (entry.schema === schema && /\bINDEX\b[^;]*\bON\b/.test(entry.sql) && onTable(entry.sql.slice(entry.sql.indexOf(' ON ')))) {
          take(entry);
          indexNames.add(entry.tag);
        }
        break;
      case 'FK CONSTRAINT': {
        const references = /REFERENCES\s+([^\s(]+)/.exec(entry.sql)?.[1];
        if (ownsTag(entry)) {
          if (references === undefined || tables.includes(references) || facts.tables.has(references)) take(entry);
          else warnings.push(`foreign key ${entry.tag.split(' ')[1]} left out: it references ${references}, which the target does not have`);
        } else if (options.replace && references !== undefined && tables.includes(references)) {
          // Another table's key to this one: dropped before the table and re-created after, if that table is there.
          const owner = /ALTER TABLE ONLY\s+(\S+)/.exec(entry.sql)?.[1];
          if (owner !== undefined && facts.tables.has(owner)) take(entry);
        }
        break;
      }
      default:
        break;
    }
  }
  for (const entry of entries) {
    if (entry.desc === 'INDEX ATTACH' && [...indexNames].some((name) => mentions(entry.sql, `ATTACH PARTITION ${qualified(entry.schema, name)}`))) take(entry);
  }

  const selectedSql = () => entries.filter((entry) => keep.has(id(entry.desc, entry.schema, entry.tag))).map((entry) => entry.sql);
  // Sequences: named by a default or identity of the table, or owned by it.
  for (const entry of entries) {
    if (entry.desc !== 'SEQUENCE') continue;
    const name = qualified(entry.schema, entry.tag);
    const owned = entries.some(
      (other) => other.desc === 'SEQUENCE OWNED BY' && other.schema === entry.schema && other.tag === entry.tag && tables.some((t) => other.sql.includes(`OWNED BY ${t}.`)),
    );
    const identity = tables.some((t) => entry.sql.startsWith(`ALTER TABLE ${t} ALTER COLUMN`));
    if (owned || identity || selectedSql().some((sql) => mentions(sql, name))) {
      for (const desc of ['SEQUENCE', 'SEQUENCE OWNED BY', 'SEQUENCE SET']) keep.add(id(desc, entry.schema, entry.tag));
    }
  }
  // Types, domains and functions the table needs and the target lacks (created with it).
  const needed = selectedSql();
  for (const entry of entries) {
    if (entry.desc === 'TYPE' || entry.desc === 'DOMAIN') {
      const name = qualified(entry.schema, entry.tag);
      if (!facts.types.has(name) && needed.some((sql) => mentions(sql, name))) take(entry);
    } else if (entry.desc === 'FUNCTION') {
      const name = qualified(entry.schema, entry.tag.slice(0, entry.tag.indexOf('(')));
      if (!facts.functions.has(name) && needed.some((sql) => sql.includes(`${name}(`))) take(entry);
    }
  }
  // Comments on what is kept: `COMMENT public TABLE actor`, `COMMENT public COLUMN actor.first_name`.
  for (const entry of entries) {
    if (entry.desc !== 'COMMENT' || entry.schema !== schema) continue;
    const [kind, ...rest] = entry.tag.split(' ');
    const target = rest.join(' ');
    if ((kind === 'TABLE' && tableNames.has(target)) || (kind === 'COLUMN' && [...tableNames].some((n) => target.startsWith(`${n}.`)))) take(entry);
  }

  const lines = toc.split('\n').filter((line) => {
    const match = /^\d+;\s+\d+\s+\d+\s+(.*)$/.exec(line);
    if (!match) return false;
    const rest = match[1]!;
    for (const key of keep) {
      const [desc, entrySchema, tag] = key.split('\0') as [string, string, string];
      if (rest === `${desc} ${entrySchema} ${tag}` || rest.startsWith(`${desc} ${entrySchema} ${tag} `)) return true;
    }
    return false;
  });
  return { lines, tables, warnings };
}

/** `-- Table structure for table \`actor\``, `-- Dumping data for table \`actor\``: a section of mysqldump's output. */
const MYSQL_SECTION = /^-- (?:Table structure|Dumping data|Temporary table structure|Temporary view structure|Final view structure) for (?:table|view) `((?:[^`]|``)+)`/;
/** Sections that belong to no table: routines, events. */
const MYSQL_OTHER_SECTION = /^-- Dumping (?:routines|events) for database /;

/**
 * mysqldump's output cut down to one table: the session settings before the first section, the table's
 * structure, data and triggers (which mysqldump writes at the end of the table's data section), and the
 * settings it restores at the end; every other section is dropped. Streams line by line.
 */
export class MysqlTableFilter extends Transform {
  readonly #table: string;
  #carry = '';
  /** Before the first section (the preamble), in the table's section, or in another one. */
  #state: 'preamble' | 'keep' | 'skip' = 'preamble';
  #sawTable = false;

  constructor(table: string) {
    super();
    this.#table = table;
  }

  /** Whether the dump held a section of the table (false after the end means the table is not in this dump). */
  get sawTable(): boolean {
    return this.#sawTable;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.#carry + chunk.toString('latin1');
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      this.#carry = text;
      callback();
      return;
    }
    this.#carry = text.slice(end + 1);
    const out = this.#lines(text.slice(0, end + 1));
    callback(null, out.length > 0 ? Buffer.from(out, 'latin1') : undefined);
  }

  override _flush(callback: TransformCallback): void {
    const out = this.#carry === '' ? '' : this.#lines(this.#carry);
    this.#carry = '';
    callback(null, out.length > 0 ? Buffer.from(out, 'latin1') : undefined);
  }

  #lines(text: string): string {
    let out = '';
    for (const line of text.split(/(?<=\n)/)) {
      if (line.startsWith('-- ')) {
        const section = MYSQL_SECTION.exec(line);
        if (section) {
          const name = section[1]!.replace(/``/g, '`');
          this.#state = name === this.#table ? 'keep' : 'skip';
          if (this.#state === 'keep') this.#sawTable = true;
        } else if (MYSQL_OTHER_SECTION.test(line)) {
          this.#state = 'skip';
        }
      }
      // Session settings (`/*!40101 SET … */;`) pass everywhere: the ones at the end restore what the preamble set.
      if (this.#state !== 'skip' || /^\/\*!\d+ SET /.test(line) || /^-- Dump completed/.test(line)) out += line;
    }
    return out;
  }
}
