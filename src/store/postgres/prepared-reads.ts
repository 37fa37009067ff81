// The request path's reads by key on PostgreSQL: named prepared statements, parsed and planned once
// per pooled connection (pg keeps the names it prepared on each), sent without the query builder.
// A read answers the state committed when its statement ran: another process may commit right after,
// so nothing here is kept in memory.
import type pg from 'pg';
import type { OrderLineRow, PreparedReads } from '../dialect.ts';
import type { OrdersTable, SkusTable } from '../schema.ts';

/** The order row and its lines in one statement: one round trip, as of one snapshot. */
const ORDER_TEXT = `select o.*, coalesce((select json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity)
    order by l.line_no) from order_lines l where l.order_id = o.id), '[]') as stockhold_lines
  from orders o where o.id = $1`;

/**
 * PostgreSQL refuses to run a prepared `select *` whose table gained a column since it was prepared
 * (another process migrated: a rolling upgrade); the statements are then prepared again, under new
 * names, on every connection.
 */
const RESULT_TYPE_CHANGED = '0A000';

export function postgresPreparedReads(pool: pg.Pool): PreparedReads {
  let preparation = 0;
  async function first<R>(name: string, text: string, key: string): Promise<R | undefined> {
    const run = () =>
      pool.query<R & pg.QueryResultRow>({ name: `${name}_${preparation}`, text, values: [key] });
    try {
      return (await run()).rows[0];
    } catch (error) {
      if ((error as { code?: unknown }).code !== RESULT_TYPE_CHANGED) throw error;
      preparation += 1;
      return (await run()).rows[0];
    }
  }
  return {
    // `select *`: whole rows, so the store's row mappers see every column, new ones too.
    sku: (sku) => first<SkusTable>('stockhold_sku', 'select * from skus where sku = $1', sku),
    async order(id) {
      const found = await first<OrdersTable & { stockhold_lines: OrderLineRow[] }>(
        'stockhold_order',
        ORDER_TEXT,
        id,
      );
      if (found === undefined) return undefined;
      const { stockhold_lines: lines, ...row } = found;
      return { row, lines };
    },
    async storedFingerprint(key) {
      const text = 'select fingerprint from idempotency_keys where key = $1';
      return (await first<{ fingerprint: string }>('stockhold_fingerprint', text, key))?.fingerprint;
    },
  };
}
