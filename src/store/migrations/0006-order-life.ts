// Migration 0006_order_life (issue 23): an order's extensions and changes, what a payment sold per
// SKU (a partial capture sells part of the lines), and the returns of paid orders.
import { type Kysely, type Migration, sql } from 'kysely';

export const orderLifeMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('orders')
      .addColumn('extensions', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('orders')
      .addColumn('changes', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    // Written once, when the order is paid: the units sold per SKU (a SKU it sold none of has no row).
    await db.schema
      .createTable('order_sold_lines')
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('sku', 'text', (c) => c.notNull())
      .addColumn('quantity', 'bigint', (c) => c.notNull().check(sql`quantity > 0`))
      .addPrimaryKeyConstraint('order_sold_lines_pk', ['order_id', 'sku'])
      .execute();
    // Orders paid before this migration sold every line.
    await sql`insert into order_sold_lines (order_id, sku, quantity)
      select l.order_id, l.sku, sum(l.quantity) from order_lines l
      join orders o on o.id = l.order_id where o.status = 'paid'
      group by l.order_id, l.sku`.execute(db);
    // Append-only, one row per line of each return; return_no numbers an order's returns from 0, so
    // two returns of one order racing each other cannot both take the same number.
    await db.schema
      .createTable('order_returns')
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('return_no', 'integer', (c) => c.notNull())
      .addColumn('line_no', 'integer', (c) => c.notNull())
      .addColumn('sku', 'text', (c) => c.notNull())
      .addColumn('quantity', 'bigint', (c) => c.notNull().check(sql`quantity > 0`))
      .addColumn('restock', 'integer', (c) => c.notNull())
      .addColumn('at_ms', 'bigint', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addPrimaryKeyConstraint('order_returns_pk', ['order_id', 'return_no', 'line_no'])
      .execute();
  },
};
