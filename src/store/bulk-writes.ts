// The writes of one transaction (a group commit or a sweep writes hundreds or thousands of rows), as
// statement texts built once per shape and reused: building each statement with Kysely's query
// builder, and SQLite preparing each new text afresh, cost more than running them.
//
// How the writes go out is the database's (its folder's bulk-writes.ts, the adapter's bulk_writer).
// SQLite runs each write as multi-row statements in blocks of a few fixed sizes, which its statement
// cache keeps prepared. PostgreSQL gets all the writes of the transaction as ONE statement (each a
// data-modifying WITH part reading its rows from one JSON parameter), sent with COMMIT
// (postgres/pipelined-pool.ts): a group commit then costs two round trips, BEGIN with the locking
// read and this statement with COMMIT, where one statement per table waited once more each for the
// server and for the busy event loop. Measured on 5,000 outbox rows here: long
// VALUES lists spent their time being parsed and planned; one typed array per column (unnest) took
// 54-98 ms, mostly escaping and parsing the arrays' text; jsonb_array_elements took 20-23 ms.
import type { Kysely } from 'kysely';
import type { Columns, ColumnType } from './schema.ts';

/** `items` cut into blocks of the given sizes, largest first, in order. */
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

export type Executor = Pick<Kysely<unknown>, 'executeQuery'>;

/** Statement texts by shape, each built once per store. */
export class StatementTexts {
  private readonly texts = new Map<string, string>();

  get(shape: string, build: () => string): string {
    let text = this.texts.get(shape);
    if (text === undefined) {
      text = build();
      this.texts.set(shape, text);
    }
    return text;
  }
}

/**
 * Sends the writes of one transaction (each with rows), texts cached in `texts`. They touch
 * different rows: a database may run them as one statement, whose parts all see the rows as before.
 */
export type BulkWriter = (db: Executor, writes: readonly BulkWrite[], texts: StatementTexts) => Promise<void>;

export class BulkWrites {
  private readonly texts = new StatementTexts();

  constructor(private readonly writer: BulkWriter) {}

  /** Runs the writes; writes without rows are skipped. They must touch different rows. */
  async run(db: Executor, writes: readonly BulkWrite[]): Promise<void> {
    const present = writes.filter(
      (write) => (write.kind === 'delete' ? write.values : write.rows).length > 0,
    );
    if (present.length === 0) return;
    await this.writer(db, present, this.texts);
  }
}

export function quote(identifier: string): string {
  return `"${identifier}"`;
}
