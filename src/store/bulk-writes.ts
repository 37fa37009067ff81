// The multi-row writes of a transaction (a group commit or a sweep writes hundreds or thousands of
// rows), as statement texts built once per shape and reused. Building each statement with Kysely's
// query builder, and SQLite preparing each new text afresh, cost more than running them.
// SQLite runs multi-row VALUES lists in blocks of a few fixed sizes (its statement cache keeps
// them prepared). PostgreSQL gets all the rows as one JSON parameter (an array of rows, each an
// array of values): one short statement for thousands of rows. Measured on 5,000 outbox rows here:
// long VALUES lists spent their time being parsed and planned, one typed array per column (unnest)
// took 54-98 ms, mostly escaping and parsing the arrays' text, and jsonb_array_elements 20-23 ms.
import { CompiledQuery, type Kysely } from 'kysely';
import type { DialectName } from './migrations.ts';

/**
 * SQLite's rows per statement. N rows go out as blocks of these sizes (300 = 256 + 16 + 16 + 4 + 4
 * + 4), so each table has at most five statement texts. 256 rows of 12 columns stay far below
 * SQLite's limit of 32,766 parameters.
 */
const SQLITE_BLOCK_SIZES = [256, 64, 16, 4, 1] as const;
/** PostgreSQL's rows per statement (one JSON document). */
const POSTGRES_BLOCK_SIZE = 10_000;

export function* blocks<T>(items: readonly T[], sizes: readonly number[]): Generator<T[]> {
  let start = 0;
  for (const size of sizes) {
    while (items.length - start >= size) {
      yield items.slice(start, start + size);
      start += size;
    }
  }
  if (start < items.length) yield items.slice(start);
}

/** Column types: PostgreSQL's arrays of parameters are typed. */
export type ColumnType = 'text' | 'bigint' | 'integer';
export type Columns = Readonly<Record<string, ColumnType>>;

type Values = readonly unknown[];
type Executor = Pick<Kysely<unknown>, 'executeQuery'>;

export class BulkWrites {
  private readonly texts = new Map<string, string>();
  private readonly block_sizes: readonly number[];

  constructor(private readonly dialect: DialectName) {
    this.block_sizes = dialect === 'postgres' ? [POSTGRES_BLOCK_SIZE] : SQLITE_BLOCK_SIZES;
  }

  /** INSERT of `rows`, each the values of `columns` in their order. */
  async insert(db: Executor, table: string, columns: Columns, rows: readonly Values[]): Promise<void> {
    const names = Object.keys(columns);
    for (const block of blocks(rows, this.block_sizes)) {
      const text = this.text(`insert ${table} ${names} ${this.rowsOf(block)}`, () => {
        const into = `insert into ${quote(table)} (${names.map(quote).join(', ')})`;
        if (this.dialect === 'postgres') return `${into} ${jsonRows(columns)}`;
        return `${into} values ${tuples(block.length, names.length)}`;
      });
      await this.run(db, text, block);
    }
  }

  /** UPDATE of one row per entry, found by the first of `columns` (its key); the others are set. */
  async update(db: Executor, table: string, columns: Columns, rows: readonly Values[]): Promise<void> {
    const names = Object.keys(columns);
    const [key, ...set] = names;
    for (const block of blocks(rows, this.block_sizes)) {
      const text = this.text(`update ${table} ${names} ${this.rowsOf(block)}`, () => {
        if (this.dialect === 'postgres') {
          const assignments = set.map((name) => `${quote(name)} = v.${quote(name)}`).join(', ');
          return `update ${quote(table)} as t set ${assignments} from (${jsonRows(columns)}) as v where t.${quote(key!)} = v.${quote(key!)}`;
        }
        // SQLite names the columns of a VALUES list column1, column2, …
        const assignments = set.map((name, i) => `${quote(name)} = v.column${i + 2}`).join(', ');
        return `update ${quote(table)} set ${assignments} from (values ${tuples(block.length, names.length)}) as v where ${quote(table)}.${quote(key!)} = v.column1`;
      });
      await this.run(db, text, block);
    }
  }

  /** DELETE of the rows whose `column` is one of `values`. */
  async deleteWhereIn(
    db: Executor,
    table: string,
    column: string,
    type: ColumnType,
    values: readonly unknown[],
  ): Promise<void> {
    for (const block of blocks(values, this.block_sizes)) {
      const text = this.text(`delete ${table} ${column} ${this.rowsOf(block)}`, () => {
        if (this.dialect === 'postgres')
          return `delete from ${quote(table)} where ${quote(column)} = any($1::${type}[])`;
        return `delete from ${quote(table)} where ${quote(column)} in (${block.map(() => '?').join(', ')})`;
      });
      await db.executeQuery(CompiledQuery.raw(text, this.dialect === 'postgres' ? [block] : block));
    }
  }

  /** The parameters of a block: every value in row order (SQLite), or the rows as JSON. */
  private run(db: Executor, text: string, block: readonly Values[]) {
    const parameters = this.dialect === 'sqlite' ? block.flat() : [JSON.stringify(block)];
    return db.executeQuery(CompiledQuery.raw(text, parameters));
  }

  /** The statement text depends on the row count on SQLite only. */
  private rowsOf(block: readonly unknown[]): number {
    return this.dialect === 'postgres' ? 0 : block.length;
  }

  private text(shape: string, build: () => string): string {
    let text = this.texts.get(shape);
    if (text === undefined) {
      text = build();
      this.texts.set(shape, text);
    }
    return text;
  }
}

/** `select (r->>0)::text as "a", (r->>1)::bigint as "b" from jsonb_array_elements($1::jsonb) r`. */
function jsonRows(columns: Columns): string {
  const values = Object.entries(columns).map(([name, type], i) => `(r->>${i})::${type} as ${quote(name)}`);
  return `select ${values.join(', ')} from jsonb_array_elements($1::jsonb) as r`;
}

/** `(?, ?), (?, ?)`: SQLite's placeholders for `rows` rows of `width` values. */
function tuples(rows: number, width: number): string {
  const tuple = `(${new Array(width).fill('?').join(', ')})`;
  return new Array(rows).fill(tuple).join(', ');
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}
