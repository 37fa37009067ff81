// SQLite's shape of the usage statement (customerUnits, src/store/customer-units.ts).
import { sql } from 'kysely';
import type { UsageQuery } from '../dialect.ts';
import { countsTowardLimit } from '../usage-sql.ts';

/** The customers' order ids first, then their lines of the SKUs: SQLite plans the IN subquery so. */
export const sqliteUsageQuery: UsageQuery = (db, customers, skus, now_ms) => {
  const orders = db
    .selectFrom('orders as c')
    .select('c.id')
    .where('c.customer_id', 'in', customers)
    .where(countsTowardLimit(now_ms));
  return db
    .selectFrom('order_lines as l')
    .innerJoin('orders as o', 'o.id', 'l.order_id')
    .select(['o.customer_id', 'l.sku', sql<number>`sum(l.quantity)`.as('quantity')])
    .where('l.sku', 'in', skus)
    .where('l.order_id', 'in', orders)
    .groupBy(['o.customer_id', 'l.sku'])
    .compile();
};
