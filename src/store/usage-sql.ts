// The one rule of what counts toward max_per_customer, in SQL, for the usage statement of each
// database (sqlite/usage-query.ts, postgres/usage-query.ts): the order `c` is paid, or held before
// the deadline.
import { type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import { ORDER_STATUS } from '../core/types.ts';
import { pastDeadline } from './deadline-sql.ts';

/**
 * Paid, or held before the deadline (`now_ms`). Written so that no index applies (`|| ''`, `+ 0`):
 * with statistics SQLite otherwise read every paid order through the status index.
 */
export function countsTowardLimit(now_ms: number) {
  return <DB, TB extends keyof DB>(order: ExpressionBuilder<DB, TB>) => {
    const status = sql<string>`${sql.ref('c.status')} || ''`;
    return order.or([
      order(status, '=', ORDER_STATUS.paid),
      order.and([
        order(status, '=', ORDER_STATUS.pending_payment),
        // Not past the deadline; `+ 0` keeps the deadline index out of this one.
        sql<SqlBool>`not (${pastDeadline(sql<number>`${sql.ref('c.expires_at_ms')} + 0`, now_ms)})`,
      ]),
    ]);
  };
}
