// The writes of one transaction (a group commit or a sweep writes hundreds or thousands of rows), as
// statement texts built once per shape and reused: building each statement with Kysely's query
// builder, and SQLite preparing each new text afresh, cost more than running them.
//
// SQLite runs each write as multi-row statements in blocks of a few fixed sizes, which its statement
// cache keeps prepared. PostgreSQL gets all the writes of the transaction as ONE statement (each a
// data-modifying WITH part reading its rows from one JSON parameter), sent with COMMIT
// (postgres/pipelined-pool.ts): a group commit then costs two round trips, BEGIN with the locking
// read and this statement with COMMIT, where one statement per table waited once more each for the
// server and for the busy event loop. Measured on 5,000 outbox rows here: long
// VALUES lists spent their time being parsed and planned; one typed array per column (unnest) took
// 54-98 ms, mostly escaping and parsing the arrays' text; jsonb_array_elements took 20-23 ms.
import { CompiledQuery, type Kysely } from 'kysely';
import type { DialectName } from './migrations.ts';
import { type Columns, type ColumnType, sqlTypeOf } from './schema.ts';
import { ANSWER_AT_COMMIT } from './postgres/pipelined-pool.ts';

/**
 * SQLite's rows per statement. N rows go out as blocks of these sizes (300 = 256 + 16 + 16 + 4 + 4
 * + 4), so each table has at most five statement texts. 256 rows of 12 columns stay far below
 * SQLite's limit of 32,766 parameters.
 */
const SQLITE_BLOCK_SIZES = [256, 64, 16, 4, 1] as const;

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

type Values = readonly unknown[];

export type BulkWrite =
  | {
      kind: 'insert';
      table: string;
      /** Each row holds the values of these columns, in this order. */
      columns: Columns;
      rows: readonly Values[];
      /**
       * PostgreSQL only: an advisory lock (held to commit) taken before any row of this insert gets
       * its identity value, so that ids of this table are handed out in commit order.
       */
      advisory_lock?: number;
    }
  | {
      kind: 'update';
      table: string;
      /** The first column is the key that finds the row; the others are set. */
      columns: Columns;
      rows: readonly Values[];
    }
  | { kind: 'delete'; table: string; column: string; type: ColumnType; values: readonly unknown[] };

type Executor = Pick<Kysely<unknown>, 'executeQuery'>;

export class BulkWrites {
  private readonly texts = new Map<string, string>();

  constructor(private readonly dialect: DialectName) {}

  /**
   * Runs the writes; writes without rows are skipped. They must touch different rows: PostgreSQL
   * runs them as one statement, whose parts all see the rows as they were before it.
   */
  async run(db: Executor, writes: readonly BulkWrite[]): Promise<void> {
    const present = writes.filter(
      (write) => (write.kind === 'delete' ? write.values : write.rows).length > 0,
    );
    if (present.length === 0) return;
    if (this.dialect === 'postgres') return this.runPostgres(db, present);
    for (const write of present) await this.runSqlite(db, write);
  }

  private async runSqlite(db: Executor, write: BulkWrite): Promise<void> {
    if (write.kind === 'delete') {
      for (const block of blocks(write.values, SQLITE_BLOCK_SIZES)) {
        const text = this.text(`delete ${write.table} ${write.column} ${block.length}`, () => {
          const list = block.map(() => '?').join(', ');
          return `delete from ${quote(write.table)} where ${quote(write.column)} in (${list})`;
        });
        await db.executeQuery(CompiledQuery.raw(text, block));
      }
      return;
    }
    const names = Object.keys(write.columns);
    for (const block of blocks(write.rows, SQLITE_BLOCK_SIZES)) {
      const text = this.text(`${write.kind} ${write.table} ${names} ${block.length}`, () => {
        const values = `values ${placeholders(block.length, names.length)}`;
        if (write.kind === 'insert') {
          return `insert into ${quote(write.table)} (${names.map(quote).join(', ')}) ${values}`;
        }
        // SQLite names the columns of a VALUES list column1, column2, …
        const [key, ...set] = names;
        const assignments = set.map((name, i) => `${quote(name)} = v.column${i + 2}`).join(', ');
        return `update ${quote(write.table)} set ${assignments} from (${values}) as v where ${quote(write.table)}.${quote(key!)} = v.column1`;
      });
      await db.executeQuery(CompiledQuery.raw(text, block.flat()));
    }
  }

  private async runPostgres(db: Executor, writes: readonly BulkWrite[]): Promise<void> {
    const shape = writes
      .map((write) =>
        write.kind === 'delete'
          ? `delete ${write.table} ${write.column} ${write.type}`
          : `${write.kind} ${write.table} ${Object.entries(write.columns)} ${write.kind === 'insert' ? write.advisory_lock : ''}`,
      )
      .join(';');
    const text = this.text(shape, () => {
      const parts = writes.map((write, i) => `w${i} as (${postgresWrite(write, i)})`);
      return `${ANSWER_AT_COMMIT}with ${parts.join(', ')} select 1`;
    });
    const parameters = writes.map((write) =>
      JSON.stringify(write.kind === 'delete' ? write.values : write.rows),
    );
    await db.executeQuery(CompiledQuery.raw(text, parameters));
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

/**
 * The write at `index` of the statement, as the WITH part `w<index>`: it reads its rows from the JSON
 * parameter $<index + 1> and returns one row per row written.
 */
function postgresWrite(write: BulkWrite, index: number): string {
  const parameter = index + 1;
  const table = quote(write.table);
  if (write.kind === 'delete') {
    const values = `select value::${write.type} from jsonb_array_elements_text($${parameter}::jsonb)`;
    return `delete from ${table} where ${quote(write.column)} in (${values}) returning 1`;
  }
  const names = Object.keys(write.columns);
  const values = Object.entries(write.columns)
    .map(([name, spec], i) => `(r->>${i})::${sqlTypeOf(spec)} as ${quote(name)}`)
    .join(', ');
  const rows = `select ${values} from jsonb_array_elements($${parameter}::jsonb) as r`;
  if (write.kind === 'update') {
    const [key, ...set] = names;
    const assignments = set.map((name) => `${quote(name)} = v.${quote(name)}`).join(', ');
    return `update ${table} as t set ${assignments} from (${rows}) as v where t.${quote(key!)} = v.${quote(key!)} returning 1`;
  }
  const into = `insert into ${table} (${names.map(quote).join(', ')})`;
  if (write.advisory_lock === undefined) return `${into} ${rows} returning 1`;
  // The parts of a WITH run in no promised order. The lock's one row is made only after every
  // earlier part has written all its rows (it counts them): the lock is still taken after every
  // other lock of the transaction (a unique-key wait included), so it cannot join a deadlock. And
  // no row reaches this insert, to take an identity value, before the lock's row exists.
  const earlier = Array.from({ length: index }, (_, j) => `(select count(*) from w${j}) as c${j}`);
  const lock = `select pg_advisory_xact_lock(${Number(write.advisory_lock)}) as locked${earlier.length > 0 ? ` from ${earlier.join(', ')}` : ''}`;
  const columns = names.map((name) => `v.${quote(name)}`).join(', ');
  return `${into} select ${columns} from (${lock}) as lock, (${rows}) as v returning 1`;
}

/** `(?, ?), (?, ?)`: SQLite's placeholders for `rows` rows of `width` values. */
function placeholders(rows: number, width: number): string {
  const tuple = `(${new Array(width).fill('?').join(', ')})`;
  return new Array(rows).fill(tuple).join(', ');
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}
