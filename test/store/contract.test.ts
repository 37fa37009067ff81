// The store contract, written once and run against every dialect on a real database: what the Store
// interface promises (DESIGN.md) must hold the same on SQLite and on PostgreSQL, under concurrency too.
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import type { Command } from '../../src/core/types.ts';
import { customerUnits, customerUnitsQuery } from '../../src/store/customer-units.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import type { CommandEnvelope, CommandResult, Outcome } from '../../src/store/store.ts';
import { expectConservation } from '../support/invariants.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const HOLD_SECONDS = 60;

const createSku = (sku: string, available: number, max_per_customer: number | null = null): Command => ({
  kind: 'create_sku',
  sku,
  name: sku,
  available,
  max_per_customer,
});
const checkout = (
  order_id: string,
  lines: { sku: string; quantity: number }[],
  customer_id = `customer-${order_id}`,
  hold_seconds = HOLD_SECONDS,
): Command => ({ kind: 'checkout', order_id, customer_id, lines, hold_seconds });
const pay = (order_id: string, payment_id = `pay-${order_id}`): Command => ({
  kind: 'pay',
  order_id,
  payment_id,
});
const cancel = (order_id: string): Command => ({ kind: 'cancel', order_id });
const adjust = (sku: string, delta: number, expected_available: number | null = null): Command => ({
  kind: 'adjust',
  sku,
  delta,
  reason: 'count',
  expected_available,
});

function ok(outcome: Outcome): Record<string, any> {
  if (!outcome.ok) throw new Error(`expected success, got ${JSON.stringify(outcome.error)}`);
  return outcome.value as unknown as Record<string, any>;
}
function refused(outcome: Outcome): { code: string; details?: any } {
  if (outcome.ok) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as { code: string; details?: any };
}

/** A failure inside the database, part-way through a write: orders of customers `fail-*` are refused. */
async function failOrdersOfCustomersNamedFail(store: KyselyStore): Promise<void> {
  const db = rawDatabase(store);
  if (store.dialect === 'postgres') {
    await sql`create or replace function refuse_fail_customers() returns trigger language plpgsql as $$
      begin
        if new.customer_id like 'fail-%' then raise exception 'refused by the test trigger'; end if;
        return new;
      end $$`.execute(db);
    await sql`create or replace trigger refuse_fail_customers before insert on orders
      for each row execute function refuse_fail_customers()`.execute(db);
  } else {
    await sql`create trigger if not exists refuse_fail_customers before insert on orders
      when new.customer_id like 'fail-%' begin select raise(abort, 'refused by the test trigger'); end`.execute(
      db,
    );
  }
}

for (const dialect of DIALECTS) {
  describe(`store contract on ${dialect}`, () => {
    let subject: TestStore;
    let store: KyselyStore;
    let clock: ManualClock;

    const run = async (command: Command, idempotency?: CommandEnvelope['idempotency']) => {
      const [result] = await store.execute([{ command, idempotency }], clock.now());
      return result!;
    };
    const one = async (command: Command) => (await run(command)).outcome;
    const buckets = async (sku: string) => {
      const state = await store.getSku(sku);
      return state && { available: state.available, on_hold: state.on_hold, sold: state.sold };
    };

    // One database per dialect for the file; every test starts from empty tables.
    beforeAll(async () => {
      subject = await openTestStore(dialect);
      store = subject.store;
    });
    afterAll(async () => {
      await subject?.dispose();
    });
    beforeEach(async () => {
      await subject.reset();
      clock = new ManualClock();
    });

    it('creates a sku once and refuses a second create with sku_exists', async () => {
      expect(ok(await one(createSku('tee', 5)))).toMatchObject({
        sku: 'tee',
        available: 5,
        on_hold: 0,
        sold: 0,
      });
      expect(refused(await one(createSku('tee', 9))).code).toBe('sku_exists');
      expect(await buckets('tee')).toEqual({ available: 5, on_hold: 0, sold: 0 });
      expect((await store.listSkus(10)).map((sku) => sku.sku)).toEqual(['tee']);
      expect(await store.getSku('nope')).toBeNull();
    });

    it('holds every line of a multi-line checkout, or none of them, with details per short line', async () => {
      await store.execute([{ command: createSku('a', 5) }, { command: createSku('b', 1) }], clock.now());
      const short = refused(
        await one(
          checkout('o1', [
            { sku: 'a', quantity: 2 },
            { sku: 'b', quantity: 3 },
          ]),
        ),
      );
      expect(short).toMatchObject({
        code: 'insufficient_stock',
        details: { lines: [{ sku: 'b', requested: 3, available: 1 }] },
      });
      expect(await buckets('a')).toEqual({ available: 5, on_hold: 0, sold: 0 });
      expect(await store.getOrder('o1')).toBeNull();

      const held = ok(
        await one(
          checkout('o2', [
            { sku: 'a', quantity: 2 },
            { sku: 'b', quantity: 1 },
          ]),
        ),
      );
      expect(held).toMatchObject({ id: 'o2', status: 'pending_payment' });
      expect(await buckets('a')).toEqual({ available: 3, on_hold: 2, sold: 0 });
      expect(await buckets('b')).toEqual({ available: 0, on_hold: 1, sold: 0 });
      expect(refused(await one(checkout('o3', [{ sku: 'missing', quantity: 1 }]))).code).toBe(
        'sku_not_found',
      );
      await expectConservation(store);
    });

    it('checks two lines of the same sku against their sum', async () => {
      await one(createSku('bundle', 3));
      const outcome = refused(
        await one(
          checkout('o1', [
            { sku: 'bundle', quantity: 2 },
            { sku: 'bundle', quantity: 2 },
          ]),
        ),
      );
      expect(outcome).toMatchObject({
        code: 'insufficient_stock',
        details: { lines: [{ sku: 'bundle', requested: 4, available: 3 }] },
      });
      expect(await buckets('bundle')).toEqual({ available: 3, on_hold: 0, sold: 0 });
    });

    it('moves a payment before the deadline to sold, replays the same payment_id, refuses another', async () => {
      await one(createSku('tee', 2));
      await one(checkout('o1', [{ sku: 'tee', quantity: 2 }]));
      clock.advance(HOLD_SECONDS * 1000 - 1);
      const paid = ok(await one(pay('o1', 'p1')));
      expect(paid).toMatchObject({ status: 'paid', payment_id: 'p1' });
      expect(paid.late).toBeFalsy();
      expect(await buckets('tee')).toEqual({ available: 0, on_hold: 0, sold: 2 });
      expect(ok(await one(pay('o1', 'p1')))).toEqual(paid);
      expect(refused(await one(pay('o1', 'p2'))).code).toBe('already_paid');
      expect(refused(await one(pay('nope', 'p1'))).code).toBe('order_not_found');
      await expectConservation(store);
    });

    it('expires at the deadline; a late payment re-acquires the stock, or is refused with order_expired', async () => {
      await one(createSku('tee', 2));
      await one(checkout('late-ok', [{ sku: 'tee', quantity: 1 }]));
      await one(checkout('late-refused', [{ sku: 'tee', quantity: 1 }]));
      clock.advance(HOLD_SECONDS * 1000);
      expect(await store.sweepExpired(clock.now(), 10)).toBe(2);
      expect(await buckets('tee')).toEqual({ available: 2, on_hold: 0, sold: 0 });
      // Someone else takes one of the two units back before the late payments arrive.
      await one(checkout('other', [{ sku: 'tee', quantity: 1 }]));
      expect(ok(await one(pay('late-ok')))).toMatchObject({ status: 'paid', late: true });
      expect(refused(await one(pay('late-refused')))).toMatchObject({
        code: 'order_expired',
        details: { order_id: 'late-refused' },
      });
      expect((await store.getOrder('late-refused'))?.status).toBe('expired');
      expect(await buckets('tee')).toEqual({ available: 0, on_hold: 1, sold: 1 });
      await expectConservation(store);
    });

    it('cancels a pending order back to available; a paid or expired order cannot be cancelled', async () => {
      await one(createSku('tee', 3));
      await one(checkout('c1', [{ sku: 'tee', quantity: 1 }]));
      await one(checkout('c2', [{ sku: 'tee', quantity: 1 }]));
      await one(checkout('c3', [{ sku: 'tee', quantity: 1 }], 'x', 1));
      expect(ok(await one(cancel('c1')))).toMatchObject({ status: 'cancelled' });
      expect(ok(await one(cancel('c1')))).toMatchObject({ status: 'cancelled' });
      await one(pay('c2'));
      expect(refused(await one(cancel('c2'))).code).toBe('order_paid');
      clock.advance(1000);
      expect(refused(await one(cancel('c3'))).code).toBe('order_expired');
      expect(refused(await one(pay('c1'))).code).toBe('order_cancelled');
      expect(await buckets('tee')).toEqual({ available: 2, on_hold: 0, sold: 1 });
      await expectConservation(store);
    });

    it('adjusts available with compare-and-set and never below zero', async () => {
      await one(createSku('tee', 5));
      expect(refused(await one(adjust('tee', 1, 4)))).toMatchObject({
        code: 'version_conflict',
        details: { available: 5, expected_available: 4 },
      });
      expect(ok(await one(adjust('tee', 3, 5)))).toMatchObject({ available: 8 });
      expect(refused(await one(adjust('tee', -9))).code).toBe('insufficient_stock');
      expect(ok(await one(adjust('tee', -8)))).toMatchObject({ available: 0 });
      expect(refused(await one(adjust('nope', 1))).code).toBe('sku_not_found');
      await expectConservation(store);
    });

    it('enforces max_per_customer over pending and paid orders, and frees it on cancel', async () => {
      await one(createSku('limited', 100, 2));
      await one(checkout('m1', [{ sku: 'limited', quantity: 1 }], 'alice'));
      await one(pay('m1'));
      await one(checkout('m2', [{ sku: 'limited', quantity: 1 }], 'alice'));
      expect(refused(await one(checkout('m3', [{ sku: 'limited', quantity: 1 }], 'alice')))).toMatchObject({
        code: 'limit_exceeded',
        details: { lines: [{ sku: 'limited', requested: 1, already_ordered: 2, max_per_customer: 2 }] },
      });
      expect(ok(await one(checkout('m4', [{ sku: 'limited', quantity: 2 }], 'bob')))).toMatchObject({
        status: 'pending_payment',
      });
      await one(cancel('m2'));
      expect(ok(await one(checkout('m5', [{ sku: 'limited', quantity: 1 }], 'alice')))).toMatchObject({
        status: 'pending_payment',
      });
      await expectConservation(store);
    });

    it('replays an idempotency key without doing the work again and refuses it for another request', async () => {
      await one(createSku('tee', 5));
      const key = { key: 'k-1', fingerprint: 'checkout-2-tee' };
      const first = await run(checkout('i1', [{ sku: 'tee', quantity: 2 }]), key);
      expect(first.replayed).toBe(false);
      const again = await run(checkout('i2', [{ sku: 'tee', quantity: 2 }]), key);
      expect(again).toEqual({ outcome: first.outcome, replayed: true });
      expect(await store.getOrder('i2')).toBeNull();
      expect(await buckets('tee')).toEqual({ available: 3, on_hold: 2, sold: 0 });
      const reused = await run(checkout('i3', [{ sku: 'tee', quantity: 1 }]), {
        key: 'k-1',
        fingerprint: 'other',
      });
      expect(refused(reused.outcome).code).toBe('idempotency_key_reused');
      // The same key twice in one transaction: decided once, the second gets the first's answer.
      const pair = await store.execute(
        [
          {
            command: checkout('i4', [{ sku: 'tee', quantity: 1 }]),
            idempotency: { key: 'k-2', fingerprint: 'f' },
          },
          {
            command: checkout('i5', [{ sku: 'tee', quantity: 1 }]),
            idempotency: { key: 'k-2', fingerprint: 'f' },
          },
        ],
        clock.now(),
      );
      expect(pair[1]).toEqual({ outcome: pair[0]!.outcome, replayed: true });
      expect(await buckets('tee')).toEqual({ available: 2, on_hold: 3, sold: 0 });
      // A refused request (validation) stores nothing under its key.
      const invalid = await run(checkout('i6', [{ sku: 'tee', quantity: 0 }]), {
        key: 'k-3',
        fingerprint: 'a',
      });
      expect(refused(invalid.outcome).code).toBe('invalid_request');
      const valid = await run(checkout('i7', [{ sku: 'tee', quantity: 1 }]), {
        key: 'k-3',
        fingerprint: 'b',
      });
      expect(valid.outcome.ok).toBe(true);
    });

    it('sweeps expired orders in bounded batches, only those past their deadline', async () => {
      await one(createSku('tee', 10));
      for (let i = 0; i < 7; i++) await one(checkout(`s${i}`, [{ sku: 'tee', quantity: 1 }], 'c', 10));
      await one(checkout('later', [{ sku: 'tee', quantity: 1 }], 'c', 20));
      clock.advance(10_000 - 1);
      expect(await store.sweepExpired(clock.now(), 3)).toBe(0);
      clock.advance(1);
      expect(await store.sweepExpired(clock.now(), 3)).toBe(3);
      expect(await store.sweepExpired(clock.now(), 3)).toBe(3);
      expect(await store.sweepExpired(clock.now(), 3)).toBe(1);
      expect(await store.sweepExpired(clock.now(), 3)).toBe(0);
      expect((await store.getOrder('later'))?.status).toBe('pending_payment');
      expect(await buckets('tee')).toEqual({ available: 9, on_hold: 1, sold: 0 });
      await expectConservation(store);
    });

    it('reclaims expired holds lazily when a checkout finds too little stock, without the sweeper', async () => {
      await one(createSku('hot', 2));
      await one(checkout('old1', [{ sku: 'hot', quantity: 1 }], 'a', 5));
      await one(checkout('old2', [{ sku: 'hot', quantity: 1 }], 'b', 5));
      expect(refused(await one(checkout('early', [{ sku: 'hot', quantity: 1 }]))).code).toBe(
        'insufficient_stock',
      );
      clock.advance(5000);
      expect(ok(await one(checkout('new', [{ sku: 'hot', quantity: 2 }])))).toMatchObject({
        status: 'pending_payment',
      });
      expect((await store.getOrder('old1'))?.status).toBe('expired');
      expect((await store.getOrder('old2'))?.status).toBe('expired');
      expect(await buckets('hot')).toEqual({ available: 0, on_hold: 2, sold: 0 });
      await expectConservation(store);
    });

    it('keeps a ledger that recomputes every bucket, and the audit finds a tampered row', async () => {
      await one(createSku('tee', 4));
      await one(checkout('l1', [{ sku: 'tee', quantity: 2 }]));
      await one(pay('l1'));
      await one(checkout('l2', [{ sku: 'tee', quantity: 1 }]));
      await one(cancel('l2'));
      await one(adjust('tee', 5));
      const ledger = await store.ledger('tee', 100);
      expect(ledger.map((entry) => entry.kind)).toEqual([
        'create',
        'hold',
        'payment',
        'hold',
        'cancel_release',
        'adjustment',
      ]);
      expect(ledger.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      const sum = (key: 'delta_available' | 'delta_on_hold' | 'delta_sold') =>
        ledger.reduce((total, entry) => total + entry[key], 0);
      expect({
        available: sum('delta_available'),
        on_hold: sum('delta_on_hold'),
        sold: sum('delta_sold'),
      }).toEqual(await buckets('tee'));
      expect((await store.ledger('tee', 2, 4)).map((entry) => entry.seq)).toEqual([5, 6]);
      // Newest first, and paging on below a seq.
      expect((await store.ledger('tee', 4, undefined, true)).map((entry) => entry.seq)).toEqual([6, 5, 4, 3]);
      expect((await store.ledger('tee', 4, 3, true)).map((entry) => entry.seq)).toEqual([2, 1]);
      const report = await store.audit();
      expect(report).toMatchObject({
        skus_checked: 1,
        orders_checked: 2,
        ledger_entries_checked: 6,
        problems: [],
      });
      // A write around the store (the lost update of DESIGN.md) is caught by the audit.
      await rawDatabase(store).updateTable('skus').set({ available: 99 }).where('sku', '=', 'tee').execute();
      expect((await store.audit()).problems.join('\n')).toContain(
        'ledger recomputes available 7, row has 99',
      );
    });

    it("reads one order's movements, every SKU of it by sku then seq, as the SKU ledgers hold them", async () => {
      await store.execute([{ command: createSku('a', 5) }, { command: createSku('b', 5) }], clock.now());
      // Two lines of b: one movement of b per step, for their sum.
      await one(
        checkout('paid', [
          { sku: 'b', quantity: 1 },
          { sku: 'a', quantity: 2 },
          { sku: 'b', quantity: 1 },
        ]),
      );
      await one(checkout('pending', [{ sku: 'a', quantity: 1 }]));
      await one(
        checkout('cancelled', [
          { sku: 'a', quantity: 1 },
          { sku: 'b', quantity: 1 },
        ]),
      );
      await one(checkout('expired', [{ sku: 'b', quantity: 1 }], 'eve', 10));
      await one(checkout('late', [{ sku: 'a', quantity: 1 }], 'lou', 10));
      await one(pay('paid'));
      await one(cancel('cancelled'));
      clock.advance(10_000);
      expect(await store.sweepExpired(clock.now(), 10)).toBe(2);
      expect(ok(await one(pay('late')))).toMatchObject({ status: 'paid', late: true });

      const moves = async (order_id: string) =>
        (await store.orderLedger(order_id)).map((entry) => `${entry.sku} ${entry.kind}`);
      expect(await moves('paid')).toEqual(['a hold', 'a payment', 'b hold', 'b payment']);
      expect(await moves('pending')).toEqual(['a hold']);
      expect(await moves('cancelled')).toEqual(['a hold', 'a cancel_release', 'b hold', 'b cancel_release']);
      expect(await moves('expired')).toEqual(['b hold', 'b expiry_release']);
      expect(await moves('late')).toEqual(['a hold', 'a expiry_release', 'a late_payment']);
      expect((await store.orderLedger('paid')).find((entry) => entry.sku === 'b')).toMatchObject({
        delta_available: -2,
        delta_on_hold: 2,
      });
      // Field for field what the SKU ledgers hold for the order: a's entries by seq, then b's.
      const by_sku = [...(await store.ledger('a', 100)), ...(await store.ledger('b', 100))];
      for (const order_id of ['paid', 'pending', 'cancelled', 'expired', 'late']) {
        expect(await store.orderLedger(order_id), order_id).toEqual(
          by_sku.filter((entry) => entry.order_id === order_id),
        );
      }
      expect(await store.orderLedger('nope')).toEqual([]);
      await expectConservation(store);
    });

    it("finds an order's movements through the ledger_by_order index, in its order (no sort)", async () => {
      // Enough rows of many orders that the planner prefers the index, as it would on a real ledger.
      const rows = Array.from({ length: 3000 }, (_, index) => ({
        sku: `sku-${index % 7}`,
        seq: index,
        at_ms: clock.now(),
        kind: 'hold',
        order_id: `order-${Math.floor(index / 3)}`,
        delta_available: -1,
        delta_on_hold: 1,
        delta_sold: 0,
        available_after: 0,
        on_hold_after: 1,
        sold_after: 0,
        reason: null,
      }));
      for (let start = 0; start < rows.length; start += 500) {
        await rawDatabase(store)
          .insertInto('ledger')
          .values(rows.slice(start, start + 500))
          .execute();
      }
      await sql`analyze`.execute(rawDatabase(store));
      // The statement orderLedger sends.
      const statement = 'select * from ledger where order_id = $1 order by sku, seq limit 301';
      if (dialect === 'sqlite') {
        const plan = await sql<{ detail: string }>`explain query plan ${sql.raw(
          statement.replace('$1', "'order-7'"),
        )}`.execute(rawDatabase(store));
        const steps = plan.rows.map((row) => row.detail).join('\n');
        expect(steps).toMatch(/SEARCH ledger USING INDEX ledger_by_order \(order_id=\?\)/);
        expect(steps).not.toContain('TEMP B-TREE');
      } else {
        const plan = await sql<{ 'QUERY PLAN': unknown }>`explain (format json) ${sql.raw(
          statement.replace('$1', "'order-7'"),
        )}`.execute(rawDatabase(store));
        const text = JSON.stringify(plan.rows[0]!['QUERY PLAN']);
        expect(text).toContain('"Index Name":"ledger_by_order"');
        expect(text).not.toContain('"Node Type":"Sort"');
      }
      expect((await store.orderLedger('order-7')).map((entry) => entry.seq)).toEqual([21, 22, 23]);
    });

    it("measures a customer's units of a SKU from their own orders, never from every line of the SKU", async () => {
      const now_ms = clock.now();
      const order = (id: string, customer_id: string, status: string, expires_at_ms: number) => ({
        id,
        customer_id,
        status,
        created_at_ms: now_ms - 1000,
        expires_at_ms,
        late: 0,
      });
      // A hot SKU's many orders, 100 customers, and one customer's orders in every state; that
      // customer's id is one an array literal must quote (PostgreSQL gets the ids as an array).
      const odd = 'x,"{a}" \\ NULL';
      const orders = Array.from({ length: 3000 }, (_, i) => order(`o-${i}`, `c-${i % 100}`, 'paid', now_ms));
      orders.push(
        order('x-paid', odd, 'paid', now_ms - 1),
        order('x-in-time', odd, 'pending_payment', now_ms + 1),
        order('x-overdue', odd, 'pending_payment', now_ms),
        order('x-expired', odd, 'expired', now_ms - 1),
        order('x-cancelled', odd, 'cancelled', now_ms + 1),
      );
      const quantity = { 'x-paid': 1, 'x-in-time': 2, 'x-overdue': 4, 'x-expired': 8, 'x-cancelled': 16 };
      const lines = orders.map(({ id }) => ({
        order_id: id,
        line_no: 0,
        sku: 'hot',
        quantity: quantity[id as keyof typeof quantity] ?? 1,
      }));
      for (let start = 0; start < orders.length; start += 500) {
        await rawDatabase(store)
          .insertInto('orders')
          .values(orders.slice(start, start + 500))
          .execute();
        await rawDatabase(store)
          .insertInto('order_lines')
          .values(lines.slice(start, start + 500))
          .execute();
      }
      const pairs = [
        { customer_id: odd, sku: 'hot' },
        { customer_id: 'c-5', sku: 'hot' },
        { customer_id: 'c-5', sku: 'other' },
        { customer_id: 'nobody', sku: 'hot' },
      ];
      const units = await customerUnits(rawDatabase(store), dialect, pairs, now_ms);
      // Paid, and held before the deadline; not overdue (swept or not), expired or cancelled.
      expect(pairs.map((pair) => units.get(pair))).toEqual([3, 30, 0, 0]);
      // Without statistics (a young database: the store never runs ANALYZE, and PostgreSQL's
      // autovacuum first looks after a minute) and with them, the plan starts from the customers.
      const compiled = customerUnitsQuery(rawDatabase(store), dialect, ['c-5', odd], ['hot'], now_ms);
      const plan = async (): Promise<string> => {
        if (dialect === 'sqlite') {
          const steps = await rawDatabase(store).executeQuery<{ detail: string }>(
            CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]),
          );
          return steps.rows.map((row) => row.detail).join('\n');
        }
        const explained = await rawDatabase(store).executeQuery<{ 'QUERY PLAN': unknown }>(
          CompiledQuery.raw(`explain (format json) ${compiled.sql}`, [...compiled.parameters]),
        );
        return JSON.stringify(explained.rows[0]!['QUERY PLAN']);
      };
      const statistics =
        dialect === 'sqlite'
          ? [sql`drop table if exists sqlite_stat1`, sql`analyze`]
          : [sql`select 1`, sql`analyze orders, order_lines`];
      for (const gather of statistics) {
        await gather.execute(rawDatabase(store));
        const steps = await plan();
        if (dialect === 'sqlite') {
          expect(steps).toMatch(/SEARCH c USING INDEX orders_by_customer \(customer_id=\?\)/);
          expect(steps).toMatch(/SEARCH l USING INDEX order_lines_by_sku \(sku=\? AND order_id=\?\)/);
        } else {
          // A nested loop over the customers: each one's orders by index, then their lines by order.
          expect(steps).toMatch(/"Node Type":"Nested Loop".*"Node Type":"Function Scan"/);
          expect(steps).toContain('"Index Name":"orders_by_customer"');
          expect(steps).toContain('"Index Name":"order_lines_pk"');
          expect(steps).not.toContain('"Node Type":"Seq Scan"');
        }
      }
    });

    it('lists events after an id, oldest first, bounded by the limit', async () => {
      const start = await store.lastEventId();
      await one(createSku('tee', 2));
      await one(checkout('e1', [{ sku: 'tee', quantity: 1 }]));
      await one(pay('e1'));
      const events = await store.eventsAfter(start, 100);
      expect(events.map((event) => event.type)).toEqual(['sku.created', 'order.held', 'order.paid']);
      expect(events.map((event) => event.subject_id)).toEqual(['tee', 'e1', 'e1']);
      expect(await store.lastEventId()).toBe(events[2]!.id);
      expect((await store.eventsAfter(events[0]!.id, 1)).map((event) => event.type)).toEqual(['order.held']);
      expect(await store.eventsAfter(events[2]!.id, 10)).toEqual([]);
    });

    it('forgets idempotency keys created before a time, and only those', async () => {
      await one(createSku('tee', 10));
      const at = (ms: number, key: string) =>
        store.execute(
          [{ command: checkout(key, [{ sku: 'tee', quantity: 1 }]), idempotency: { key, fingerprint: key } }],
          ms,
        );
      const t0 = clock.now();
      await at(t0, 'old-1');
      await at(t0, 'old-2');
      await at(t0 + 10_000, 'new-1');
      expect(await store.purgeIdempotencyKeys(t0 + 1)).toBe(2);
      expect(await store.purgeIdempotencyKeys(t0 + 1)).toBe(0);
      const [replay] = await at(t0 + 20_000, 'new-1');
      expect(replay!.replayed).toBe(true);
    });

    it('lists orders newest first, filtered by status, sku and customer', async () => {
      await store.execute([{ command: createSku('a', 5) }, { command: createSku('b', 5) }], clock.now());
      await one(checkout('o1', [{ sku: 'a', quantity: 1 }], 'ann'));
      await one(checkout('o2', [{ sku: 'b', quantity: 1 }], 'ann'));
      await one(checkout('o3', [{ sku: 'a', quantity: 1 }], 'ben'));
      await one(pay('o3'));
      const ids = async (filter: Parameters<KyselyStore['listOrders']>[0]) =>
        (await store.listOrders(filter)).map((order) => order.id);
      expect(await ids({ limit: 10 })).toEqual(['o3', 'o2', 'o1']);
      expect(await ids({ limit: 10, sku: 'a' })).toEqual(['o3', 'o1']);
      expect(await ids({ limit: 10, status: 'paid' })).toEqual(['o3']);
      expect(await ids({ limit: 10, customer_id: 'ann', before_id: 'o2' })).toEqual(['o1']);
      expect((await store.getOrder('o2'))?.lines).toEqual([{ sku: 'b', quantity: 1 }]);
    });

    it('runs 100 parallel transactions, half failing part-way, and keeps only the whole ones', async () => {
      await failOrdersOfCustomersNamedFail(store);
      await store.execute(
        [{ command: createSku('a', 1000) }, { command: createSku('b', 1000) }],
        clock.now(),
      );
      // The odd ones fail inside the database, after their SKU rows were written (a trigger refuses
      // their order row): the whole transaction must roll back, SKU writes included.
      const attempts = Array.from({ length: 100 }, (_, i) =>
        store
          .execute(
            [
              {
                command: checkout(
                  `p${i}`,
                  [
                    { sku: 'a', quantity: 1 },
                    { sku: 'b', quantity: 2 },
                  ],
                  i % 2 === 0 ? `ok-${i}` : `fail-${i}`,
                ),
              },
            ],
            clock.now(),
          )
          .then(
            (results: CommandResult[]) => results[0]!.outcome.ok,
            () => 'failed' as const,
          ),
      );
      const settled = await Promise.all(attempts);
      expect(settled.filter((result) => result === true)).toHaveLength(50);
      expect(settled.filter((result) => result === 'failed')).toHaveLength(50);
      expect(await buckets('a')).toEqual({ available: 950, on_hold: 50, sold: 0 });
      expect(await buckets('b')).toEqual({ available: 900, on_hold: 100, sold: 0 });
      expect(
        (await store.listOrders({ limit: 500 })).every((order) => order.customer_id.startsWith('ok-')),
      ).toBe(true);
      await expectConservation(store);
    });

    it('lets exactly one of two checkouts racing for the last unit win, from two store instances', async () => {
      const other = await subject.another();
      for (let round = 0; round < 10; round++) {
        await one(createSku(`last-${round}`, 1));
        const [first, second] = await Promise.all([
          store.execute(
            [{ command: checkout(`r${round}-a`, [{ sku: `last-${round}`, quantity: 1 }]) }],
            clock.now(),
          ),
          other.execute(
            [{ command: checkout(`r${round}-b`, [{ sku: `last-${round}`, quantity: 1 }]) }],
            clock.now(),
          ),
        ]);
        const outcomes = [first![0]!.outcome, second![0]!.outcome];
        expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(1);
        expect(refused(outcomes.find((outcome) => !outcome.ok)!).code).toBe('insufficient_stock');
        expect(await buckets(`last-${round}`)).toEqual({ available: 0, on_hold: 1, sold: 0 });
      }
      await expectConservation(store);
    });

    it('lets several sweepers release 1000 expired orders concurrently, each exactly once', async () => {
      const sweepers = [store, await subject.another(), await subject.another(), await subject.another()];
      await store.execute(
        [{ command: createSku('a', 1000) }, { command: createSku('b', 2000) }],
        clock.now(),
      );
      const orders = Array.from({ length: 1000 }, (_, i) => ({
        command: checkout(`x${i}`, [
          { sku: 'a', quantity: 1 },
          { sku: 'b', quantity: 2 },
        ]),
      }));
      for (let start = 0; start < orders.length; start += 250)
        await store.execute(orders.slice(start, start + 250), clock.now());
      expect(await buckets('a')).toEqual({ available: 0, on_hold: 1000, sold: 0 });
      clock.advance(HOLD_SECONDS * 1000);
      const released = await Promise.all(
        sweepers.map(async (sweeper) => {
          let total = 0;
          for (let batch = 0; batch < 100; batch++) {
            const count = await sweeper.sweepExpired(clock.now(), 50);
            total += count;
            if (count === 0) break;
          }
          return total;
        }),
      );
      expect(released.reduce((sum, count) => sum + count, 0)).toBe(1000);
      expect(await buckets('a')).toEqual({ available: 1000, on_hold: 0, sold: 0 });
      expect(await buckets('b')).toEqual({ available: 2000, on_hold: 0, sold: 0 });
      expect((await store.ledger('a', 5000)).filter((entry) => entry.kind === 'expiry_release')).toHaveLength(
        1000,
      );
      await expectConservation(store);
    });

    it('resolves payments racing the sweeper to exactly one outcome per order', async () => {
      const payer = await subject.another();
      await one(createSku('tee', 100));
      await store.execute(
        Array.from({ length: 100 }, (_, i) => ({
          command: checkout(`q${i}`, [{ sku: 'tee', quantity: 1 }]),
        })),
        clock.now(),
      );
      // Two processes whose clocks straddle the deadline: the payer's says 1 ms before it, the
      // sweeper's says it passed. Whichever locks an order first decides it.
      const deadline_ms = clock.now() + HOLD_SECONDS * 1000;
      const [payments] = await Promise.all([
        Promise.all(
          Array.from({ length: 100 }, (_, i) => payer.execute([{ command: pay(`q${i}`) }], deadline_ms - 1)),
        ),
        (async () => {
          while ((await store.sweepExpired(deadline_ms, 7)) > 0) {}
        })(),
      ]);
      const ledger = await store.ledger('tee', 1000);
      for (const [i, [result]] of payments.entries()) {
        const order = await store.getOrder(`q${i}`);
        const kinds = ledger.filter((entry) => entry.order_id === `q${i}`).map((entry) => entry.kind);
        // Paid in time, or expired first and then paid late (its own units came back): never both.
        expect(ok(result!.outcome).status).toBe('paid');
        if (order?.late) expect(kinds).toEqual(['hold', 'expiry_release', 'late_payment']);
        else expect(kinds).toEqual(['hold', 'payment']);
      }
      expect(await buckets('tee')).toEqual({ available: 0, on_hold: 0, sold: 100 });
      await expectConservation(store);
    });
  });
}
