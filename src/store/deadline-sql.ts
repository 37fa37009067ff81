// The expiry rule in SQL: the one expression every query that looks for lapsed holds uses, the twin
// of isPastDeadline in src/core/workspace.ts (same `<=`: a hold whose deadline is now has lapsed).
import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';

/**
 * `<deadline> <= now_ms`: the deadline (a column name such as an orders or holds `expires_at_ms`, or
 * an expression over one) has passed. Kept in this bare shape so the deadline indexes
 * (orders_pending_by_deadline, holds by sku and deadline) still serve it when given a column.
 */
export function pastDeadline(deadline: string | Expression<number>, now_ms: number): RawBuilder<SqlBool> {
  const left = typeof deadline === 'string' ? sql.ref(deadline) : deadline;
  return sql<SqlBool>`${left} <= ${now_ms}`;
}
