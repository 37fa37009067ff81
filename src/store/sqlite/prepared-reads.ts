// The request path's reads by key on SQLite: better-sqlite3 statements prepared once, on a read-only
// connection of their own. Each read is one synchronous call, so it never lands inside a transaction
// (the audit's snapshot holds the store's reader for its whole length) and an order and its lines
// are read as of one moment.
import type BetterSqlite3 from 'better-sqlite3';
import type { OrderLineRow, PreparedReads } from '../dialect.ts';
import type { OrdersTable, SkusTable } from '../schema.ts';

/** A prepared statement of the connection by its text (the connection's statement cache). */
export type Prepare = (text: string) => BetterSqlite3.Statement;

export function sqlitePreparedReads(prepare: Prepare): PreparedReads {
  // Prepared on first use (the tables may not exist before the migrations), then taken from the
  // connection's statement cache. `select *`: whole rows, so the store's row mappers see every
  // column, new ones too.
  return {
    sku: async (id) => prepare('select * from skus where sku = ?').get(id) as SkusTable | undefined,
    async order(id) {
      const row = prepare('select * from orders where id = ?').get(id) as OrdersTable | undefined;
      if (row === undefined) return undefined;
      const lines = prepare('select sku, quantity from order_lines where order_id = ? order by line_no');
      return { row, lines: lines.all(id) as OrderLineRow[] };
    },
    storedFingerprint: async (key) =>
      (
        prepare('select fingerprint from idempotency_keys where key = ?').get(key) as
          | { fingerprint: string }
          | undefined
      )?.fingerprint,
  };
}
