// PostgreSQL lock order: a checkout's lazy reclaim locks SKUs after the ones it already holds, so it
// must never wait for a SKU that sorts before them (that wait is how two checkouts deadlock).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import type { Command } from '../../src/core/types.ts';
import { expectConservation } from '../support/invariants.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';

const checkout = (
  order_id: string,
  lines: { sku: string; quantity: number }[],
  hold_seconds = 60,
): Command => ({
  kind: 'checkout',
  order_id,
  customer_id: `customer-${order_id}`,
  lines,
  hold_seconds,
});

describe('lazy reclaim on PostgreSQL', () => {
  let subject: TestStore;
  beforeAll(async () => {
    subject = await openTestStore('postgres');
  });
  afterAll(async () => {
    await subject?.dispose();
  });

  it('does not wait for a SKU another transaction holds out of lock order; the sweeper gets that order later', async () => {
    const { store } = subject;
    const clock = new ManualClock();
    const create = (sku: string, available: number): Command => ({
      kind: 'create_sku',
      sku,
      name: sku,
      available,
      max_per_customer: null,
    });
    await store.execute([{ command: create('a', 1) }, { command: create('b', 2) }], clock.now());
    await store.execute(
      [
        // 'both' also holds 'a', which sorts before 'b': reclaiming it from a checkout of 'b' is out of order.
        {
          command: checkout(
            'both',
            [
              { sku: 'b', quantity: 1 },
              { sku: 'a', quantity: 1 },
            ],
            5,
          ),
        },
        { command: checkout('b-only', [{ sku: 'b', quantity: 1 }], 5) },
      ],
      clock.now(),
    );
    clock.advance(5000);

    // Another session (another process's transaction) holds 'a' and keeps it.
    const other = new pg.Client({ connectionString: subject.url });
    await other.connect();
    await other.query('begin');
    await other.query("select * from skus where sku = 'a' for update");
    try {
      const still_waiting = Symbol('still waiting');
      const settled = await Promise.race([
        store.execute([{ command: checkout('new', [{ sku: 'b', quantity: 1 }]) }], clock.now()),
        new Promise<typeof still_waiting>((resolve) => setTimeout(() => resolve(still_waiting), 15_000)),
      ]);
      expect(settled).not.toBe(still_waiting);
      const [result] = settled as Awaited<ReturnType<typeof store.execute>>;
      expect(result!.outcome.ok).toBe(true);
      expect((await store.getOrder('b-only'))?.status).toBe('expired');
      expect((await store.getOrder('both'))?.status).toBe('pending_payment');
    } finally {
      await other.query('rollback');
      await other.end();
    }
    expect(await store.sweepExpired(clock.now(), 10)).toBe(1);
    expect((await store.getOrder('both'))?.status).toBe('expired');
    expect(await store.getSku('a')).toMatchObject({ available: 1, on_hold: 0 });
    expect(await store.getSku('b')).toMatchObject({ available: 1, on_hold: 1 });
    await expectConservation(store);
  });
});
