// The expiry rule is written twice, once for memory and once for SQL: isPastDeadline (the core) and
// pastDeadline (src/store/deadline-sql.ts). They must agree at every instant around a deadline, on
// every database, or the sweeper and lazy reclaim would expire what a payment still accepts (or the
// reverse). A change of the expiry policy changes both; this test holds them equal.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDER_STATUS, type OrderState } from '../../src/core/types.ts';
import { isPastDeadline } from '../../src/core/workspace.ts';
import { pastDeadline } from '../../src/store/deadline-sql.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const DEADLINE_MS = 1_780_000_000_000;

function orderDueAt(expires_at_ms: number): OrderState {
  return {
    id: 'o',
    customer_id: 'c',
    status: ORDER_STATUS.pending_payment,
    lines: [],
    created_at_ms: expires_at_ms - 60_000,
    expires_at_ms,
    paid_at_ms: null,
    payment_id: null,
    late: false,
    closed_at_ms: null,
  };
}

describe.each(DIALECTS)('the expiry rule on %s', (dialect) => {
  let test_store: TestStore;
  beforeAll(async () => {
    test_store = await openTestStore(dialect);
  });
  afterAll(async () => {
    await test_store.dispose();
  });

  it('is the same in SQL as in the core, before, at and after the deadline', async () => {
    const db = rawDatabase(test_store.store);
    for (const offset_ms of [-1000, -1, 0, 1, 1000]) {
      const now_ms = DEADLINE_MS + offset_ms;
      const { rows } = await sql<{ past: number | boolean }>`select case when ${pastDeadline(
        sql<number>`${DEADLINE_MS}`,
        now_ms,
      )} then 1 else 0 end as past`.execute(db);
      const in_sql = Number(rows[0]?.past) === 1;
      expect({ offset_ms, past: in_sql }).toEqual({
        offset_ms,
        past: isPastDeadline(orderDueAt(DEADLINE_MS), now_ms),
      });
    }
    // The rule itself: a hold whose deadline is now has lapsed.
    expect(isPastDeadline(orderDueAt(DEADLINE_MS), DEADLINE_MS)).toBe(true);
    expect(isPastDeadline(orderDueAt(DEADLINE_MS), DEADLINE_MS - 1)).toBe(false);
  });
});
